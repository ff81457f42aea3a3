//! Where in a code object a caller can stand (3.11+). While a frame the interpreter pushed
//! itself runs, its caller's instruction pointer rests on the instruction that pushed it:
//! a call, a `send` to a generator, a specialized subscript or attribute load. A stack read
//! without pausing whose caller stands anywhere else was copied while it changed (the
//! caller's slot was copied before it made the call). This module finds those
//! instructions in a code object's bytecode, from the version's opcode facts
//! ([`BytecodeFacts`], generated from each CPython's own opcode tables).

use crate::limits::MAX_CODE_UNITS;
use serde::Deserialize;

/// What an opcode says about the frame above a caller standing on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpcodeKind {
    /// Cannot have pushed a Python frame.
    Other,
    /// Pushes a Python frame itself.
    Pushing,
    /// Does not now, but may be specialized into an instruction that does.
    MayBecomePushing,
    /// Stands in for an instruction kept elsewhere: its length is not known.
    Hidden,
}

/// One version's opcode facts: how long each instruction is, and what kind it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BytecodeFacts {
    caches: [u8; 256],
    kinds: [OpcodeKind; 256],
    /// Which opcodes are a `RESUME` (generic, specialized or instrumented).
    resume: [bool; 256],
    cache_opcode: u8,
    extended_arg: u8,
}

/// The `[bytecode]` section of a `python-offsets/3.X.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BytecodeSection {
    caches: Vec<u8>,
    kinds: Vec<u8>,
    resumes: Vec<u8>,
    cache_opcode: u8,
    extended_arg: u8,
}

impl BytecodeFacts {
    pub fn from_section(s: &BytecodeSection) -> Result<BytecodeFacts, String> {
        if s.caches.len() != 256 || s.kinds.len() != 256 {
            return Err(format!(
                "[bytecode] needs 256 caches and kinds, has {} and {}",
                s.caches.len(),
                s.kinds.len()
            ));
        }
        let mut facts = BytecodeFacts {
            caches: [0; 256],
            kinds: [OpcodeKind::Other; 256],
            resume: [false; 256],
            cache_opcode: s.cache_opcode,
            extended_arg: s.extended_arg,
        };
        facts.caches.copy_from_slice(&s.caches);
        for (kind, &k) in facts.kinds.iter_mut().zip(&s.kinds) {
            *kind = match k {
                0 => OpcodeKind::Other,
                1 => OpcodeKind::Pushing,
                2 => OpcodeKind::MayBecomePushing,
                3 => OpcodeKind::Hidden,
                other => return Err(format!("[bytecode] has an unknown kind {other}")),
            };
        }
        for &op in &s.resumes {
            facts.resume[op as usize] = true;
        }
        Ok(facts)
    }

    pub fn kind(&self, opcode: u8) -> OpcodeKind {
        self.kinds[opcode as usize]
    }

    /// The opcode is a `RESUME`: what a coroutine parked in an `await` stands before.
    pub fn is_resume(&self, opcode: u8) -> bool {
        self.resume[opcode as usize]
    }
}

/// One instruction a caller may stand on: code units `[start, end)`, its `EXTENDED_ARG`
/// prefixes and inline caches included, with the unit holding its opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
    opcode_unit: u32,
    /// It does not push a frame yet, but it may be specialized into one that does: the
    /// opcode in the target must be looked at again.
    maybe: bool,
}

/// The instructions of one code object a caller may stand on, by position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallSites {
    spans: Vec<Span>,
}

/// Where a caller's instruction pointer lies, as far as the bytecode copy says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// On an instruction that pushes a frame.
    AtCall,
    /// On one that may have been specialized into one since: look at the opcode now in
    /// the target, at this code unit.
    Recheck { opcode_unit: u32 },
    /// Anywhere else.
    Elsewhere,
}

impl CallSites {
    /// Scans `code` (the code units as bytes: opcode, argument). `None` when it cannot be
    /// checked: it holds an instruction of unknown length, or the walk does not land on
    /// its end (facts of another version).
    pub fn scan(facts: &BytecodeFacts, code: &[u8]) -> Option<CallSites> {
        let units = code.len() / 2;
        if units > MAX_CODE_UNITS {
            return None;
        }
        let mut spans = Vec::new();
        let mut at = 0usize;
        let mut prefix_start = None;
        while at < units {
            let opcode = code[2 * at];
            if opcode == facts.cache_opcode {
                return None;
            }
            let kind = facts.kind(opcode);
            if kind == OpcodeKind::Hidden {
                return None;
            }
            let end = at + 1 + facts.caches[opcode as usize] as usize;
            if opcode == facts.extended_arg {
                prefix_start.get_or_insert(at);
                at = end;
                continue;
            }
            if matches!(kind, OpcodeKind::Pushing | OpcodeKind::MayBecomePushing) {
                spans.push(Span {
                    start: prefix_start.unwrap_or(at) as u32,
                    end: end as u32,
                    opcode_unit: at as u32,
                    maybe: kind == OpcodeKind::MayBecomePushing,
                });
            }
            prefix_start = None;
            at = end;
        }
        (at == units).then_some(CallSites { spans })
    }

    /// Where code unit `unit` stands.
    pub fn standing(&self, unit: i64) -> Standing {
        let Ok(unit) = u32::try_from(unit) else {
            return Standing::Elsewhere;
        };
        let i = self.spans.partition_point(|s| s.end <= unit);
        match self.spans.get(i) {
            Some(s) if s.start <= unit && !s.maybe => Standing::AtCall,
            Some(s) if s.start <= unit => Standing::Recheck {
                opcode_unit: s.opcode_unit,
            },
            _ => Standing::Elsewhere,
        }
    }

    /// The instruction at `opcode_unit` was found specialized into one that pushes frames
    /// (or instrumented): it counts as a call from now on, without looking again.
    pub fn stop_rechecking(&mut self, opcode_unit: u32) {
        if let Some(s) = self.spans.iter_mut().find(|s| s.opcode_unit == opcode_unit) {
            s.maybe = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up instruction set: 0 CACHE, 1 plain, 2 a call with two caches, 3 a load
    /// with one cache that may become a call, 4 hidden, 9 EXTENDED_ARG.
    fn facts() -> BytecodeFacts {
        let mut caches = vec![0u8; 256];
        let mut kinds = vec![0u8; 256];
        caches[2] = 2;
        kinds[2] = 1;
        caches[3] = 1;
        kinds[3] = 2;
        kinds[4] = 3;
        BytecodeFacts::from_section(&BytecodeSection {
            caches,
            kinds,
            resumes: vec![7, 8],
            cache_opcode: 0,
            extended_arg: 9,
        })
        .unwrap()
    }

    fn code(ops: &[u8]) -> Vec<u8> {
        ops.iter().flat_map(|&op| [op, 0x55]).collect()
    }

    #[test]
    fn calls_are_found_with_their_caches_and_prefixes() {
        // units: 0 plain, 1 ext, 2 call, 3-4 caches, 5 load, 6 cache, 7 plain
        let sites = CallSites::scan(&facts(), &code(&[1, 9, 2, 0, 0, 3, 0, 1])).unwrap();
        let at: Vec<Standing> = (0..8).map(|u| sites.standing(u)).collect();
        use Standing::*;
        let recheck = Recheck { opcode_unit: 5 };
        assert_eq!(
            at,
            [Elsewhere, AtCall, AtCall, AtCall, AtCall, recheck, recheck, Elsewhere]
        );
        assert_eq!(sites.standing(-2), Elsewhere);
        assert_eq!(sites.standing(100), Elsewhere);
    }

    #[test]
    fn resumes_are_the_listed_opcodes() {
        let f = facts();
        assert!(f.is_resume(7) && f.is_resume(8));
        assert!(!f.is_resume(2) && !f.is_resume(255));
    }

    #[test]
    fn a_specialized_load_stops_being_rechecked() {
        let mut sites = CallSites::scan(&facts(), &code(&[3, 0, 1])).unwrap();
        assert_eq!(sites.standing(1), Standing::Recheck { opcode_unit: 0 });
        sites.stop_rechecking(0);
        assert_eq!(sites.standing(1), Standing::AtCall);
    }

    #[test]
    fn code_that_cannot_be_walked_is_not_checked() {
        // Hidden instruction; an instruction starting on a cache unit; caches past the end.
        assert_eq!(CallSites::scan(&facts(), &code(&[1, 4, 2, 0, 0])), None);
        assert_eq!(CallSites::scan(&facts(), &code(&[1, 0])), None);
        assert_eq!(CallSites::scan(&facts(), &code(&[1, 2, 0])), None);
        assert!(BytecodeFacts::from_section(&BytecodeSection {
            caches: vec![0; 255],
            kinds: vec![0; 256],
            resumes: Vec::new(),
            cache_opcode: 0,
            extended_arg: 9,
        })
        .is_err());
    }
}
