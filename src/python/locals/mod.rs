//! `dump --locals`: each frame's arguments and other local variables (cell and free
//! variables included), as short bounded reprs. The frame's slots are named by its code
//! object (`co_varnames`/`co_cellvars`/`co_freevars` ≤3.10, `co_localsplusnames` and
//! kinds 3.11+); the first `co_argcount + co_kwonlyargcount` (+1 for `*args`, +1 for
//! `**kwargs`) are the arguments. Unbound variables are left out, as `locals()` does (so
//! a 3.12+ inlined comprehension's variables show only while it runs, as there).
//! Everything read is charged to a per-frame budget ([`MAX_LOCALS_FRAME_BYTES`]); a value that
//! cannot be read is `<unreadable>`, never an error for the dump.

pub mod layout;
pub mod repr;

use self::layout::{LocalsLayout, Names, Slot};
use self::repr::{Budget, Builtins, Fail, Reprs};
use super::layout::{Era, Layout};
use crate::limits::{MAX_LOCALS, MAX_LOCALS_FRAME_BYTES, MAX_LOCALS_SLOTS, MAX_LOCAL_NAME_CHARS};
use crate::process::{Bytes, Memory};

pub use self::repr::BUILTIN_SYMBOLS;

/// One variable of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    pub name: String,
    pub repr: String,
    pub argument: bool,
}

/// What the reader of locals needs of one interpreter.
pub struct LocalsReader<'a> {
    pub mem: &'a dyn Memory,
    pub layout: &'a Layout,
    pub locals: &'a LocalsLayout,
    pub builtins: &'a Builtins,
}

/// How a slot's variable is kept: in the slot, or in a cell the slot points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VarKind {
    Plain,
    /// A cell or free variable (or, 3.11+, an argument captured by a closure).
    Cell,
}

/// What a slot holds.
enum SlotValue {
    Null,
    Object(u64),
    /// 3.14+: a small int kept in the reference itself.
    Int(i64),
    /// The cell the slot points to could not be read.
    Failed(Fail),
}

impl LocalsReader<'_> {
    /// The variables of the frame at `frame` (a frame object ≤3.10, an interpreter frame
    /// 3.11+), arguments first; an error when its code object cannot be read.
    pub fn read(&self, frame: u64) -> Result<Vec<Local>, String> {
        let mut reprs = Reprs {
            mem: self.mem,
            layout: self.layout,
            locals: self.locals,
            builtins: self.builtins,
            budget: Budget::new(MAX_LOCALS_FRAME_BYTES),
        };
        let fail = |what: &str, e: Fail| format!("{what}: {}", e.repr());
        let code_at = match self.layout.era {
            Era::FrameObjects => self.layout.frame_code,
            _ => self.layout.iframe_executable,
        };
        let code = reprs
            .read_u64(frame + code_at)
            .map_err(|e| fail("frame", e))?
            & !self.layout.executable_tag_mask;
        let l = self.locals;
        let fields = [
            l.code_argcount,
            l.code_kwonlyargcount,
            l.code_flags,
            match l.names {
                Names::Tuples {
                    nlocals,
                    varnames,
                    cellvars,
                    freevars,
                } => nlocals.max(varnames).max(cellvars).max(freevars),
                Names::LocalsPlus {
                    count,
                    names,
                    kinds,
                    ..
                } => count.max(names).max(kinds),
            },
        ];
        let head_len = fields.iter().max().map_or(0, |m| *m as usize + 8);
        let mut head = vec![0u8; head_len];
        reprs
            .read(code, &mut head)
            .map_err(|e| fail("code object", e))?;
        let int_at = |off: u64| head.i32_at(off as usize);
        let flags = int_at(l.code_flags) as u32;
        let nargs = [int_at(l.code_argcount), int_at(l.code_kwonlyargcount)]
            .iter()
            .map(|n| (*n).clamp(0, MAX_LOCALS_SLOTS as i32) as u64)
            .sum::<u64>()
            + u64::from(flags & l.flag_varargs != 0)
            + u64::from(flags & l.flag_varkeywords != 0);
        let slots = self
            .slot_names(&mut reprs, &head)
            .map_err(|e| fail("variable names", e))?;
        let count = slots.len();
        let raw = {
            let mut raw = vec![0u8; count * 8];
            reprs
                .read(frame + l.frame_localsplus, &mut raw)
                .map_err(|e| fail("frame slots", e))?;
            raw
        };
        let arg_names: Vec<&str> = slots
            .iter()
            .take(nargs as usize)
            .map(|(n, _)| n.as_str())
            .collect();
        let mut out = Vec::new();
        for (i, (name, kind)) in slots.iter().enumerate() {
            if out.len() >= MAX_LOCALS {
                break;
            }
            let mut value = self.slot_value(raw.u64_at(i * 8));
            if *kind == VarKind::Cell {
                if let SlotValue::Object(addr) = value {
                    match reprs.cell_contents(addr) {
                        Ok(Some(0)) => value = SlotValue::Null,
                        Ok(Some(inner)) => value = SlotValue::Object(inner),
                        Ok(None) => {}
                        Err(e) => value = SlotValue::Failed(e),
                    }
                }
            }
            let repr = match value {
                SlotValue::Null => continue,
                SlotValue::Failed(e) => e.repr(),
                SlotValue::Int(v) => Reprs::tagged_int(v),
                SlotValue::Object(addr) => reprs.repr(addr),
            };
            // ≤3.10 keeps a captured argument in its cell, after the plain locals: it is
            // shown where its name is among the arguments.
            let position = arg_names.iter().position(|a| *a == name.as_str());
            out.push((
                position.unwrap_or(arg_names.len() + i),
                Local {
                    name: name.clone(),
                    repr,
                    argument: position.is_some(),
                },
            ));
        }
        // Arguments in their order, then the other variables in slot order.
        out.sort_by_key(|(position, _)| *position);
        Ok(out.into_iter().map(|(_, v)| v).collect())
    }

    /// Each slot's name and kind, in slot order.
    fn slot_names(&self, reprs: &mut Reprs, head: &[u8]) -> Result<Vec<(String, VarKind)>, Fail> {
        let mut out = Vec::new();
        match self.locals.names {
            Names::Tuples {
                varnames,
                cellvars,
                freevars,
                ..
            } => {
                for (at, kind) in [
                    (varnames, VarKind::Plain),
                    (cellvars, VarKind::Cell),
                    (freevars, VarKind::Cell),
                ] {
                    for name in self.names_of(reprs, head.u64_at(at as usize))? {
                        out.push((name, kind));
                    }
                }
            }
            Names::LocalsPlus {
                count,
                names,
                kinds,
                kind_cell,
                kind_free,
            } => {
                let count = head.i32_at(count as usize);
                if !(0..=MAX_LOCALS_SLOTS as i32).contains(&count) {
                    return Err(Fail::Unreadable);
                }
                let names = self.names_of(reprs, head.u64_at(names as usize))?;
                let kinds_at = head.u64_at(kinds as usize);
                let mut kinds = vec![0u8; count as usize];
                reprs.read(kinds_at + self.layout.bytes_data, &mut kinds)?;
                if names.len() != count as usize {
                    return Err(Fail::Unreadable);
                }
                for (name, k) in names.into_iter().zip(kinds) {
                    let kind = if k & (kind_cell | kind_free) != 0 {
                        VarKind::Cell
                    } else {
                        VarKind::Plain
                    };
                    out.push((name, kind));
                }
            }
        }
        Ok(out)
    }

    /// The strs of a tuple of names.
    fn names_of(&self, reprs: &mut Reprs, tuple: u64) -> Result<Vec<String>, Fail> {
        let len = reprs.read_u64(tuple + self.layout.tuple_size)?;
        if len > MAX_LOCALS_SLOTS {
            return Err(Fail::Unreadable);
        }
        let mut items = vec![0u8; len as usize * 8];
        reprs.read(tuple + self.layout.tuple_items, &mut items)?;
        (0..len as usize)
            .map(|i| reprs.name(items.u64_at(i * 8), MAX_LOCAL_NAME_CHARS))
            .collect()
    }

    fn slot_value(&self, bits: u64) -> SlotValue {
        match self.locals.slot {
            Slot::Pointer if bits == 0 => SlotValue::Null,
            Slot::Pointer => SlotValue::Object(bits),
            Slot::StackRef {
                tag_mask,
                null,
                int_tag,
                int_shift,
            } => {
                if bits == null {
                    SlotValue::Null
                } else if bits & int_tag == int_tag {
                    SlotValue::Int((bits as i64) >> int_shift)
                } else if bits & !tag_mask == 0 {
                    SlotValue::Null
                } else {
                    SlotValue::Object(bits & !tag_mask)
                }
            }
        }
    }
}
