//! The code-object cache: each code object the walker meets is decoded once (names, file,
//! first line, line table) and kept by address. Because a freed code object's address can
//! be reused by another, every hit is validated each sample by re-reading the fields that
//! identify it. The walker reads the fingerprints of the recently used code objects in the
//! same syscall as the stacks ([`CodeCache::planned`], [`CodeCache::check_fingerprint`]);
//! whatever that did not cover is validated in one more batched read.

use super::callsites::{CallSites, OpcodeKind, Standing};
use super::layout::Layout;
use super::linetable::LineTable;
use super::objects::{read_bytes, read_str};
use super::stack::{CodeId, CodeInfo, CodeTable, RawFrame};
use crate::limits::{MAX_CODE_UNITS, MAX_FIRST_TRACEABLE};
use crate::process::{Bytes, Gather, Memory, ReadError, RegionId};
use rustc_hash::FxHashMap;

/// Why a code object could not be decoded or validated: the frame naming it was torn or
/// garbage, or the target's memory could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeError {
    /// The code object's header could not be read.
    Unreadable { addr: u64, cause: ReadError },
    /// The object at `addr` has another type than code objects.
    NotCode { addr: u64 },
    /// One of its names or its line table could not be read (what the reader said).
    Field(String),
    /// The batched read of recent code objects' fingerprints failed.
    Fingerprints(ReadError),
}

impl std::fmt::Display for CodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodeError::Unreadable { addr, cause } => write!(f, "code object at {addr:#x}: {cause}"),
            CodeError::NotCode { addr } => write!(f, "object at {addr:#x} is not a code object"),
            CodeError::Field(why) => f.write_str(why),
            CodeError::Fingerprints(cause) => write!(f, "{cause}"),
        }
    }
}

impl std::error::Error for CodeError {}

/// The fields that identify a code object; a change means the address was reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    ob_type: u64,
    filename: u64,
    name: u64,
    qualname: u64,
    linetable: u64,
    first_line: u32,
}

impl Fingerprint {
    fn from_header(layout: &Layout, h: &[u8]) -> Fingerprint {
        Fingerprint {
            ob_type: h.u64_at(layout.ob_type as usize),
            filename: h.u64_at(layout.code_filename as usize),
            name: h.u64_at(layout.code_name as usize),
            qualname: layout.code_qualname.map_or(0, |o| h.u64_at(o as usize)),
            linetable: h.u64_at(layout.code_linetable as usize),
            first_line: h.u32_at(layout.code_firstlineno as usize),
        }
    }
}

struct CachedCode {
    id: CodeId,
    fingerprint: Fingerprint,
    lines: LineTable,
    /// Byte offset a frame's instruction pointer must have reached for the frame to have
    /// started (0 when unknown).
    first_traceable_byte: i64,
    /// The instructions a caller may stand on (`None`: not checked).
    call_sites: Option<CallSites>,
    /// The sample (generation) in which the fingerprint was last found unchanged.
    checked: u64,
    /// The sample in which a frame last used this code object.
    used: u64,
}

/// How many samples a code object stays in the planned set after its last use: a program
/// that alternates between a few functions then validates them all in the stacks' read.
const RECENT_SAMPLES: u64 = 100;
/// Most code objects planned: each is one more region of the sample's gathered read (an
/// iovec, unless it
/// lies close to another).
const MAX_RECENT: usize = 64;
/// Every how many samples the planned set is pruned and sorted (or sooner when too big).
const PRUNE_EVERY: u64 = 16;

/// A frame found by the walker whose code is still to be resolved: the code object's
/// address and the current instruction's byte offset into its bytecode. Two pending
/// frames are equal when they would resolve alike (same code, offset and flags), wherever
/// the frames themselves live.
#[derive(Debug, Clone, Copy)]
pub struct PendingFrame {
    /// Address of the frame itself (the frame object ≤3.10, the interpreter frame 3.11+),
    /// for reading its locals.
    pub frame: u64,
    pub code: u64,
    pub byte_offset: i64,
    /// 3.11+, not a generator's frame: it is left out while its instruction pointer is
    /// before the code's first traceable instruction, as CPython does (such a frame has
    /// been pushed but not started, like the shim 3.13+ runs a specialized `__init__`
    /// call from).
    pub may_be_unstarted: bool,
    /// The frame was entered from C (a shim under it, 3.11's `is_entry`, every frame
    /// before 3.11) or is a generator's: its caller may stand on any instruction.
    pub called_from_c: bool,
}

impl PartialEq for PendingFrame {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.byte_offset == other.byte_offset
            && self.may_be_unstarted == other.may_be_unstarted
            && self.called_from_c == other.called_from_c
    }
}

impl Eq for PendingFrame {}

/// Decoded code objects by address, plus the table of everything decoded so far.
pub struct CodeCache {
    entries: FxHashMap<u64, CachedCode>,
    pub table: CodeTable,
    /// `&PyCode_Type` in the target, when known: anything else is not a code object.
    code_type: Option<u64>,
    header_len: usize,
    /// Counts samples; stamps `checked` and `used`.
    generation: u64,
    /// The code objects used by the last [`RECENT_SAMPLES`] samples (at most
    /// [`MAX_RECENT`]): the ones whose fingerprints the next sample reads with the stacks.
    recent: Vec<u64>,
    /// Something was added to `recent` since it was last sorted.
    recent_grew: bool,
    // Scratch space reused across samples (no allocation once warmed up).
    unchecked: Vec<u64>,
    fingerprints: Gather,
    fingerprint_ids: Vec<RegionId>,
}

impl CodeCache {
    pub fn new(layout: &Layout, code_type: Option<u64>) -> CodeCache {
        CodeCache {
            entries: FxHashMap::default(),
            table: CodeTable::default(),
            code_type,
            header_len: layout.code_header_len(),
            generation: 0,
            recent: Vec::new(),
            recent_grew: false,
            unchecked: Vec::new(),
            fingerprints: Gather::new(),
            fingerprint_ids: Vec::new(),
        }
    }

    /// Starts a sample: fingerprints checked before now must be checked again.
    pub fn begin_sample(&mut self) {
        self.generation += 1;
        if self.generation % PRUNE_EVERY != 0 && self.recent.len() <= MAX_RECENT {
            if self.recent_grew {
                self.recent_grew = false;
                self.recent.sort_unstable();
                self.recent.dedup();
            }
            return;
        }
        self.recent_grew = false;
        // Keep the recently used ones that are still cached, the most recent if too many;
        // by address, so that neighbours share an iovec of the gathered read.
        let generation = self.generation;
        let entries = &self.entries;
        let last_use = |addr: &u64| entries.get(addr).map_or(0, |e| e.used);
        self.recent
            .retain(|a| last_use(a) + RECENT_SAMPLES >= generation);
        if self.recent.len() > MAX_RECENT {
            self.recent
                .sort_unstable_by_key(|a| std::cmp::Reverse(last_use(a)));
            self.recent.truncate(MAX_RECENT);
        }
        self.recent.sort_unstable();
        self.recent.dedup();
    }

    /// The code objects recent samples used: the ones whose fingerprints the next sample
    /// should read together with the stacks.
    pub fn planned(&self) -> &[u64] {
        &self.recent
    }

    /// Bytes of a fingerprint read (what [`CodeCache::check_fingerprint`] wants).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Takes a fingerprint of the cached code object at `addr` read during this sample
    /// (`None`: the read failed). Unchanged, it counts as validated for this sample;
    /// changed or unreadable, the entry is forgotten and will be decoded again if used.
    pub fn check_fingerprint(&mut self, layout: &Layout, addr: u64, header: Option<&[u8]>) {
        let generation = self.generation;
        let same = match (self.entries.get_mut(&addr), header) {
            (Some(entry), Some(h)) => {
                let same = entry.fingerprint == Fingerprint::from_header(layout, h);
                if same {
                    entry.checked = generation;
                }
                same
            }
            (Some(_), None) => false,
            (None, _) => true,
        };
        if !same {
            self.entries.remove(&addr);
        }
    }

    /// Turns pending frames into frames with code ids and lines, decoding code objects
    /// not cached (or forgotten by [`CodeCache::validate`], which the caller runs first
    /// over the whole sample). A frame whose code cannot be read is an error for the
    /// whole stack (it is torn or garbage).
    pub fn resolve_validated(
        &mut self,
        mem: &dyn Memory,
        layout: &Layout,
        pending: &[PendingFrame],
        out: &mut Vec<RawFrame>,
        addresses: &mut Vec<u64>,
    ) -> Result<(), CodeError> {
        // Consecutive frames often share a code object and an offset (recursion): the
        // last one looked up is kept at hand (`None`: a frame left out).
        let mut last: Option<(PendingFrame, Option<RawFrame>)> = None;
        for p in pending {
            if let Some((lp, lf)) = last {
                if lp == *p {
                    if let Some(f) = lf {
                        out.push(f);
                        addresses.push(p.frame);
                    }
                    continue;
                }
            }
            self.decode_into_cache(mem, layout, p.code)?;
            let Some(entry) = self.entries.get(&p.code) else {
                continue;
            };
            if p.may_be_unstarted && p.byte_offset < entry.first_traceable_byte {
                last = Some((*p, None));
                continue;
            }
            let frame = RawFrame {
                code: entry.id,
                line: entry.lines.line_at(p.byte_offset),
            };
            out.push(frame);
            addresses.push(p.frame);
            last = Some((*p, Some(frame)));
        }
        Ok(())
    }

    /// Makes sure every cached code object of `pending` is validated for this sample:
    /// those whose fingerprint did not come with the stacks are re-read in one syscall;
    /// the ones that changed are forgotten. Also notes which code objects this sample
    /// used, for [`CodeCache::planned`].
    pub fn validate(
        &mut self,
        mem: &dyn Memory,
        layout: &Layout,
        pending: &[PendingFrame],
    ) -> Result<(), CodeError> {
        let generation = self.generation;
        self.unchecked.clear();
        let mut previous = 0;
        for p in pending {
            // Runs of one code object (recursion) need one lookup.
            if p.code == previous {
                continue;
            }
            previous = p.code;
            if let Some(entry) = self.entries.get_mut(&p.code) {
                if entry.used != generation {
                    if entry.used + RECENT_SAMPLES < generation || entry.used == 0 {
                        self.recent.push(p.code);
                        self.recent_grew = true;
                    }
                    entry.used = generation;
                    if entry.checked != generation {
                        self.unchecked.push(p.code);
                    }
                }
            }
        }
        if self.unchecked.is_empty() {
            return Ok(());
        }
        // One syscall for all of them, by address so that neighbours share an iovec.
        self.unchecked.sort_unstable();
        let mut fingerprints = std::mem::take(&mut self.fingerprints);
        fingerprints.clear();
        self.fingerprint_ids.clear();
        for &addr in &self.unchecked {
            self.fingerprint_ids
                .push(fingerprints.push(addr, self.header_len));
        }
        let read = mem
            .gather(&mut fingerprints)
            .map_err(CodeError::Fingerprints);
        if read.is_ok() {
            for i in 0..self.unchecked.len() {
                let header = fingerprints.get(self.fingerprint_ids[i]);
                self.check_fingerprint(layout, self.unchecked[i], header);
            }
        }
        self.fingerprints = fingerprints;
        read.map(|_| ())
    }

    /// Decodes the code object at `addr` unless it is cached (an error: it is not one, or
    /// not readable, so the frame naming it was torn or garbage).
    pub fn decode_into_cache(
        &mut self,
        mem: &dyn Memory,
        layout: &Layout,
        addr: u64,
    ) -> Result<(), CodeError> {
        if self.entries.contains_key(&addr) {
            return Ok(());
        }
        let mut cached = self.decode(mem, layout, addr)?;
        cached.checked = self.generation;
        cached.used = self.generation;
        self.recent.push(addr);
        self.recent_grew = true;
        self.entries.insert(addr, cached);
        Ok(())
    }

    /// Whether `caller` can stand where it does with `callee` (which it called, the
    /// interpreter pushing it) running: on an instruction that pushes frames. A caller
    /// whose code is not cached or not checkable passes, as does one not started yet; an
    /// instruction that may have been specialized since its code was scanned is looked
    /// at again in the target (one small read).
    pub fn caller_is_plausible(
        &mut self,
        mem: &dyn Memory,
        layout: &Layout,
        callee: &PendingFrame,
        caller: &PendingFrame,
    ) -> bool {
        if callee.called_from_c {
            return true;
        }
        let Some(entry) = self.entries.get_mut(&caller.code) else {
            return true;
        };
        if caller.may_be_unstarted && caller.byte_offset < entry.first_traceable_byte {
            return true;
        }
        let (Some(sites), Some(facts), Some(adaptive)) = (
            entry.call_sites.as_mut(),
            layout.bytecode.as_ref(),
            layout.code_adaptive,
        ) else {
            return true;
        };
        match sites.standing(caller.byte_offset.div_euclid(2)) {
            Standing::AtCall => true,
            Standing::Elsewhere => false,
            Standing::Recheck { opcode_unit } => {
                let at = caller.code + adaptive + 2 * u64::from(opcode_unit);
                let mut opcode = [0u8; 1];
                if mem.read(at, &mut opcode).is_err() {
                    return true;
                }
                match facts.kind(opcode[0]) {
                    // Specialized into a frame-pushing one, or instrumented (its true
                    // opcode is elsewhere): taken as a call from now on.
                    OpcodeKind::Pushing | OpcodeKind::Hidden => {
                        sites.stop_rechecking(opcode_unit);
                        true
                    }
                    OpcodeKind::Other | OpcodeKind::MayBecomePushing => false,
                }
            }
        }
    }

    /// Reads and scans the bytecode of the code object at `addr` (3.11+, when the
    /// version's opcode facts are known).
    fn call_sites_of(
        &self,
        mem: &dyn Memory,
        layout: &Layout,
        addr: u64,
        header: &[u8],
    ) -> Option<CallSites> {
        let facts = layout.bytecode.as_ref()?;
        let adaptive = layout.code_adaptive?;
        let units = usize::try_from(header.u64_at(layout.var_size as usize)).ok()?;
        if units == 0 || units > MAX_CODE_UNITS {
            return None;
        }
        let mut code = vec![0u8; 2 * units];
        mem.read(addr + adaptive, &mut code).ok()?;
        CallSites::scan(facts, &code)
    }

    fn decode(
        &mut self,
        mem: &dyn Memory,
        layout: &Layout,
        addr: u64,
    ) -> Result<CachedCode, CodeError> {
        let mut header = vec![0u8; self.header_len];
        mem.read(addr, &mut header)
            .map_err(|cause| CodeError::Unreadable { addr, cause })?;
        let fp = Fingerprint::from_header(layout, &header);
        if let Some(code_type) = self.code_type {
            if fp.ob_type != code_type {
                return Err(CodeError::NotCode { addr });
            }
        }
        let name = read_str(mem, layout, fp.name).map_err(CodeError::Field)?;
        let qualname = match layout.code_qualname {
            Some(_) => read_str(mem, layout, fp.qualname).map_err(CodeError::Field)?,
            None => name.clone(),
        };
        let filename = read_str(mem, layout, fp.filename).map_err(CodeError::Field)?;
        let table = read_bytes(mem, layout, fp.linetable).map_err(CodeError::Field)?;
        let lines = LineTable::decode(layout.line_table, &table, fp.first_line);
        let first_traceable_byte = layout
            .code_first_traceable
            .map(|at| i64::from(header.i32_at(at as usize)))
            .filter(|units| (0..=MAX_FIRST_TRACEABLE).contains(units))
            .map_or(0, |units| units * 2);
        let id = self.table.push(CodeInfo {
            name,
            qualname,
            filename,
            first_line: fp.first_line,
        });
        Ok(CachedCode {
            id,
            fingerprint: fp,
            lines,
            first_traceable_byte,
            call_sites: self.call_sites_of(mem, layout, addr, &header),
            checked: 0,
            used: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_errors_read_as_they_did_when_they_were_strings() {
        let cases = [
            (
                CodeError::Unreadable {
                    addr: 0x7f00,
                    cause: ReadError::BadAddress(0x7f00),
                },
                "code object at 0x7f00: address 0x7f00 is not readable",
            ),
            (
                CodeError::NotCode { addr: 0x10 },
                "object at 0x10 is not a code object",
            ),
            (
                CodeError::Field("null string pointer".into()),
                "null string pointer",
            ),
            (
                CodeError::Fingerprints(ReadError::Gone),
                "the process exited",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
