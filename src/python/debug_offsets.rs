//! `_Py_DebugOffsets`: the table of struct offsets that CPython 3.13+ keeps as the first
//! member of `_PyRuntime`, for out-of-process tools. framescope reads it from the target,
//! checks it, and lets it override the built-in table — so a CPython newer than any table
//! works as long as its debug offsets keep a shape we know.
//!
//! The struct is a sequence of `uint64_t` after an 8-byte cookie. Its shape (the order of
//! the fields) differs between versions; the probe reads each version's shape from its
//! headers into the `[debug_offsets]` section of `python-offsets/3.X.toml`, and the newest
//! one is assumed for versions newer than it. The fields used are those the layout table
//! (`layout.rs`) names, the GIL's, and the few other modules read.

use std::collections::HashMap;

use super::layout::{debug_offsets_shape, GilLocation, Layout, FROM_DEBUG_OFFSETS};
use super::layout_fields::Need;
use super::version::Version;
use crate::limits::MAX_DEBUG_OFFSETS_STRUCT;
use crate::process::Memory;

pub const COOKIE: &[u8; 8] = b"xdebugpy";

/// Where the GIL is (3.12+ layout): the pointer to it in the interpreter, the start of the
/// interpreter's own GIL struct, and its holder and lock flag inside the interpreter.
const GIL_FIELDS: [&str; 4] = [
    "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_holder",
    "interpreter_state.gil_runtime_state_locked",
];

/// Fields read by other modules with [`DebugOffsets::get`]: `dump --locals`
/// (`locals/layout.rs`) and the asyncio reader.
const READ_ELSEWHERE: &[&str] = &[
    "interpreter_frame.localsplus",
    "code_object.argcount",
    "code_object.localsplusnames",
    "code_object.localspluskinds",
    "list_object.ob_item",
    "list_object.ob_size",
    "type_object.tp_name",
    "float_object.ob_fval",
    "gen_object.gi_iframe",
    "gen_object.gi_frame_state",
    "interpreter_frame.stackpointer",
];

/// Every field framescope takes from `_Py_DebugOffsets`, and whether each version's shape
/// must have it: what `check` bounds-checks, and all that `get` hands out.
fn used_fields() -> impl Iterator<Item = (&'static str, Need)> {
    FROM_DEBUG_OFFSETS
        .iter()
        .map(|f| (f.name, f.need))
        .chain(GIL_FIELDS.iter().map(|n| (*n, Need::Always)))
        .chain(READ_ELSEWHERE.iter().map(|n| (*n, Need::IfPresent)))
}

/// The debug offsets read from one target.
#[derive(Debug, Clone)]
pub struct DebugOffsets {
    pub version: Version,
    pub free_threaded: bool,
    fields: HashMap<String, u64>,
}

impl DebugOffsets {
    /// Reads and checks the debug offsets at `runtime` (the address of `_PyRuntime`).
    /// `Ok(None)` when there is no cookie (a CPython before 3.13).
    pub fn read(mem: &dyn Memory, runtime: u64) -> Result<Option<DebugOffsets>, (String, String)> {
        Self::read_inner(mem, runtime).map_err(|(v, why)| {
            (
                v.map_or_else(|| "3.13+".to_string(), |v| v.to_string()),
                why,
            )
        })
    }

    fn read_inner(
        mem: &dyn Memory,
        runtime: u64,
    ) -> Result<Option<DebugOffsets>, (Option<Version>, String)> {
        let mut head = [0u8; 16];
        mem.read(runtime, &mut head)
            .map_err(|e| (None, format!("cannot read _PyRuntime: {e}")))?;
        if &head[..8] != COOKIE {
            return Ok(None);
        }
        let hex = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
        let version = Version::from_hex(hex).ok_or_else(|| {
            (
                None,
                format!("_Py_DebugOffsets carries an unknown version number {hex:#x}"),
            )
        })?;
        let shape =
            debug_offsets_shape(version.minor).map_err(|why| (Some(version.clone()), why))?;
        let mut raw = vec![0u8; shape.len() * 8];
        mem.read(runtime + 8, &mut raw).map_err(|e| {
            (
                Some(version.clone()),
                format!("cannot read _Py_DebugOffsets: {e}"),
            )
        })?;
        let fields: HashMap<String, u64> = shape
            .into_iter()
            .zip(raw.chunks_exact(8))
            .map(|(name, b)| (name, u64::from_le_bytes(b.try_into().unwrap_or_default())))
            .collect();
        let offsets = DebugOffsets {
            free_threaded: fields.get("free_threaded").is_some_and(|v| *v != 0),
            version,
            fields,
        };
        offsets
            .check()
            .map_err(|why| (Some(offsets.version.clone()), why))?;
        Ok(Some(offsets))
    }

    /// The value of a field framescope uses (and `check` therefore checked); `None` for a
    /// field this version lacks, or one no list in this module names.
    pub fn get(&self, name: &str) -> Option<u64> {
        if !used_fields().any(|(used, _)| used == name) {
            return None;
        }
        self.raw(name)
    }

    fn raw(&self, name: &str) -> Option<u64> {
        self.fields.get(name).copied()
    }

    /// Every offset framescope uses must lie inside its structure, and structures must be
    /// of sane size; otherwise the shape we assumed is not the shape the target has.
    fn check(&self) -> Result<(), String> {
        for (name, need) in used_fields() {
            let Some(value) = self.raw(name) else {
                if need == Need::IfPresent {
                    continue;
                }
                return Err(format!(
                    "_Py_DebugOffsets of CPython {} lacks {name}",
                    self.version
                ));
            };
            let Some((section, _)) = name.split_once('.') else {
                continue;
            };
            let size = self.raw(&format!("{section}.size")).unwrap_or(0);
            if size == 0 || size > MAX_DEBUG_OFFSETS_STRUCT || value >= size {
                return Err(format!(
                    "_Py_DebugOffsets of CPython {} does not have the expected shape ({name} = {value}, {section}.size = {size})",
                    self.version
                ));
            }
        }
        Ok(())
    }

    /// Writes every offset the debug offsets know into `layout`, returning the names of
    /// fields whose value differed from what the layout had (the built-in table).
    pub fn apply(&self, layout: &mut Layout) -> Vec<String> {
        let mut differences = layout.apply_debug_offsets(|name| self.get(name));
        if let (Some(pointer), Some(base), Some(holder), Some(locked)) = (
            self.get(GIL_FIELDS[0]),
            self.get(GIL_FIELDS[1]),
            self.get(GIL_FIELDS[2]),
            self.get(GIL_FIELDS[3]),
        ) {
            let gil = GilLocation::Interpreter {
                pointer,
                last_holder: holder.wrapping_sub(base),
                locked: locked.wrapping_sub(base),
            };
            if layout.gil != gil {
                differences.push(format!(
                    "GIL location: table {:?} / target {gil:?}",
                    layout.gil
                ));
                layout.gil = gil;
            }
        }
        // datastack_top is not in the debug offsets: the table's value is only trusted
        // when the table is of this very minor version and agreed on the chunk pointer.
        if differences.iter().any(|d| d.starts_with("thread_state.")) {
            layout.thread_datastack_top = None;
        }
        differences
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::layout::{table_for, NEWEST_TABLE_MINOR};
    use crate::python::locals::layout::LocalsLayout;

    /// Debug offsets of the shape of 3.`minor`: every structure 4 KiB, every offset 8, and
    /// `poison` (if any) far outside its structure.
    fn offsets(minor: u32, poison: Option<&str>) -> DebugOffsets {
        let fields = debug_offsets_shape(minor)
            .expect("shape")
            .into_iter()
            .map(|name| {
                let value = if Some(name.as_str()) == poison {
                    1 << 30
                } else if name.ends_with(".size") {
                    4096
                } else {
                    8
                };
                (name, value)
            })
            .collect();
        DebugOffsets {
            version: Version::new(3, minor, 0),
            free_threaded: false,
            fields,
        }
    }

    /// Poisons each field in turn: whatever reaches the walker's or `dump --locals`'
    /// layout must have been refused by `check`, so nothing is applied unchecked.
    #[test]
    fn every_field_that_is_applied_is_bounds_checked() {
        for minor in 13..=NEWEST_TABLE_MINOR {
            let version = Version::new(3, minor, 0);
            let table = table_for(&version).expect("table").expect("parses");
            let layout = Layout::from_table(&version, &table).expect("layout");
            let applied = |d: &DebugOffsets| {
                let mut l = layout.clone();
                d.apply(&mut l);
                (l, LocalsLayout::for_version(&version, Some(d)))
            };
            let clean = offsets(minor, None);
            clean.check().expect("clean offsets pass");
            let baseline = applied(&clean);
            let mut refused = 0;
            for name in debug_offsets_shape(minor).expect("shape") {
                if name == "version" || name == "free_threaded" {
                    continue;
                }
                let poisoned = offsets(minor, Some(&name));
                if poisoned.check().is_err() {
                    refused += 1;
                    continue;
                }
                assert_eq!(
                    applied(&poisoned),
                    baseline,
                    "3.{minor}: {name} is applied but not checked"
                );
            }
            let expected = used_fields()
                .filter(|(n, _)| clean.raw(n).is_some())
                .count();
            assert!(refused >= expected, "3.{minor}: {refused} < {expected}");
        }
    }

    /// A name in the lists that no shape has would be silently skipped.
    #[test]
    fn every_used_name_is_in_the_shapes() {
        for minor in 13..=NEWEST_TABLE_MINOR {
            let shape = debug_offsets_shape(minor).expect("shape");
            for (name, need) in used_fields() {
                let present = shape.iter().any(|n| n == name);
                assert!(present || need == Need::IfPresent, "3.{minor} lacks {name}");
                assert!(present || minor < NEWEST_TABLE_MINOR, "no shape has {name}");
            }
        }
    }
}
