//! Where a frame keeps its locals and how its code object names them, for one CPython
//! version: the `[locals]` section of `python-offsets/3.X.toml` (written by the probe), with
//! the target's `_Py_DebugOffsets` winning where they cover a field (3.13+). Version
//! differences are data here; `frame.rs` has one path per frame era.

use serde::Deserialize;

use crate::python::debug_offsets::DebugOffsets;
use crate::python::layout::{Era, TABLES};
use crate::python::version::Version;

/// How the code object lists a frame's variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// ≤3.10: `co_varnames` (the `co_nlocals` plain locals, arguments first), then
    /// `co_cellvars` and `co_freevars`, each a tuple of str; the frame's slots follow that
    /// order.
    Tuples {
        nlocals: u64,
        varnames: u64,
        cellvars: u64,
        freevars: u64,
    },
    /// 3.11+: `co_localsplusnames` (a tuple) and `co_localspluskinds` (a bytes, one kind
    /// byte per slot), `co_nlocalsplus` slots.
    LocalsPlus {
        count: u64,
        names: u64,
        kinds: u64,
        kind_cell: u8,
        kind_free: u8,
    },
}

/// How a localsplus slot holds its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// ≤3.13: a plain `PyObject *` (null: unbound).
    Pointer,
    /// 3.14+: a `_PyStackRef`: `null` bits for no object, an int tagged with `int_tag` in
    /// its low bits (`value << int_shift`), else a pointer with `tag_mask` bits of flags.
    StackRef {
        tag_mask: u64,
        null: u64,
        int_tag: u64,
        int_shift: u32,
    },
}

/// Everything `dump --locals` needs beyond the walker's [`crate::python::layout::Layout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalsLayout {
    /// Offset of the first slot in the frame (`f_localsplus` / `localsplus`).
    pub frame_localsplus: u64,
    pub names: Names,
    pub slot: Slot,
    /// Offsets of the code object's `int` fields.
    pub code_argcount: u64,
    pub code_kwonlyargcount: u64,
    pub code_flags: u64,
    pub flag_varargs: u32,
    pub flag_varkeywords: u32,
    pub float_value: u64,
    pub list_size: u64,
    pub list_items: u64,
    pub cell_ref: u64,
    pub dict_used: u64,
    pub heaptype_flag: u64,
    /// Offset of `tp_name` in a type object (from the table's `[type]` section).
    pub type_name: u64,
}

/// The `[locals]` section as the probe writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    frame_localsplus: u64,
    code_nlocals: Option<u64>,
    code_varnames: Option<u64>,
    code_cellvars: Option<u64>,
    code_freevars: Option<u64>,
    code_nlocalsplus: Option<u64>,
    code_localsplusnames: Option<u64>,
    code_localspluskinds: Option<u64>,
    kind_cell: Option<u8>,
    kind_free: Option<u8>,
    code_argcount: u64,
    code_kwonlyargcount: u64,
    code_flags: u64,
    flag_varargs: u32,
    flag_varkeywords: u32,
    stackref_tag_bits: Option<u64>,
    stackref_null: Option<u64>,
    stackref_int_tag: Option<u64>,
    stackref_int_shift: Option<u32>,
    float_value: u64,
    list_size: u64,
    list_items: u64,
    cell_ref: u64,
    dict_used: u64,
    heaptype_flag: u64,
}

#[derive(Debug, Deserialize)]
struct TypeName {
    name: u64,
}

#[derive(Debug, Deserialize)]
struct Table {
    locals: Option<Section>,
    #[serde(rename = "type")]
    type_: TypeName,
}

impl LocalsLayout {
    /// The layout for `version`: its own table, or the newest table for a newer version
    /// (whose debug offsets then supply what they know); the debug offsets win. An error
    /// says why locals cannot be read on this version.
    pub fn for_version(
        version: &Version,
        debug: Option<&DebugOffsets>,
    ) -> Result<LocalsLayout, String> {
        let newest = TABLES.iter().map(|(m, _)| *m).max().unwrap_or(0);
        let minor = version.minor.min(newest);
        let (_, text) = TABLES
            .iter()
            .find(|(m, _)| *m == minor)
            .ok_or_else(|| format!("no offsets table for CPython {version}"))?;
        let table: Table = toml::from_str(text)
            .map_err(|e| format!("python-offsets/3.{minor}.toml is malformed: {e}"))?;
        let s = table
            .locals
            .ok_or_else(|| format!("python-offsets/3.{minor}.toml has no [locals] section"))?;
        let era = crate::python::layout::era_of(&Version::new(3, minor, 0));
        let mut layout = Self::from_section(&s, era, table.type_.name)
            .ok_or_else(|| format!("python-offsets/3.{minor}.toml: [locals] is incomplete"))?;
        if let Some(d) = debug {
            layout.apply_debug_offsets(d);
        }
        Ok(layout)
    }

    fn from_section(s: &Section, era: Era, type_name: u64) -> Option<LocalsLayout> {
        let names = match era {
            Era::FrameObjects => Names::Tuples {
                nlocals: s.code_nlocals?,
                varnames: s.code_varnames?,
                cellvars: s.code_cellvars?,
                freevars: s.code_freevars?,
            },
            Era::CFrame | Era::CurrentFrame => Names::LocalsPlus {
                count: s.code_nlocalsplus?,
                names: s.code_localsplusnames?,
                kinds: s.code_localspluskinds?,
                kind_cell: s.kind_cell?,
                kind_free: s.kind_free?,
            },
        };
        let slot = match (
            s.stackref_tag_bits,
            s.stackref_null,
            s.stackref_int_tag,
            s.stackref_int_shift,
        ) {
            (Some(tag_mask), Some(null), Some(int_tag), Some(int_shift)) => Slot::StackRef {
                tag_mask,
                null,
                int_tag,
                int_shift,
            },
            _ => Slot::Pointer,
        };
        Some(LocalsLayout {
            frame_localsplus: s.frame_localsplus,
            names,
            slot,
            code_argcount: s.code_argcount,
            code_kwonlyargcount: s.code_kwonlyargcount,
            code_flags: s.code_flags,
            flag_varargs: s.flag_varargs,
            flag_varkeywords: s.flag_varkeywords,
            float_value: s.float_value,
            list_size: s.list_size,
            list_items: s.list_items,
            cell_ref: s.cell_ref,
            dict_used: s.dict_used,
            heaptype_flag: s.heaptype_flag,
            type_name,
        })
    }

    /// The fields `_Py_DebugOffsets` carries (3.13+) replace the table's.
    fn apply_debug_offsets(&mut self, d: &DebugOffsets) {
        if let Some(v) = d.get("interpreter_frame.localsplus") {
            self.frame_localsplus = v;
        }
        if let Some(v) = d.get("code_object.argcount") {
            self.code_argcount = v;
        }
        if let Some(v) = d.get("list_object.ob_item") {
            self.list_items = v;
        }
        if let Some(v) = d.get("list_object.ob_size") {
            self.list_size = v;
        }
        if let Some(v) = d.get("type_object.tp_name") {
            self.type_name = v;
        }
        if let Some(v) = d.get("float_object.ob_fval") {
            self.float_value = v;
        }
        if let Names::LocalsPlus { names, kinds, .. } = &mut self.names {
            if let Some(v) = d.get("code_object.localsplusnames") {
                *names = v;
            }
            if let Some(v) = d.get("code_object.localspluskinds") {
                *kinds = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_table_has_a_locals_layout_of_its_era() {
        for (minor, _) in TABLES {
            let v = Version::new(3, *minor, 0);
            let l = LocalsLayout::for_version(&v, None).unwrap();
            assert_eq!(
                matches!(l.names, Names::Tuples { .. }),
                *minor <= 10,
                "3.{minor}"
            );
            assert_eq!(
                matches!(l.slot, Slot::StackRef { .. }),
                *minor >= 14,
                "3.{minor}"
            );
        }
        // A version newer than every table starts from the newest.
        let next = LocalsLayout::for_version(&Version::new(3, 99, 0), None).unwrap();
        assert!(matches!(next.slot, Slot::StackRef { .. }));
    }
}
