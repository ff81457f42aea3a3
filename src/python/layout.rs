//! Where things are inside one CPython version's structures: a [`Layout`] of byte offsets
//! and a few era flags. It comes from the `python-offsets/X.Y.toml` table of the minor
//! version (built into the binary), and on 3.13+ from the `_Py_DebugOffsets` the target
//! carries, which wins (see `debug_offsets.rs`). Version differences live here as data;
//! the walker has one code path per frame era, not per version.
//!
//! Each field is declared once, in the `layout_fields!` table below: its table section
//! and key, its `Layout` field, and its `_Py_DebugOffsets` name. The struct, the table's
//! serde shape, the copy and the debug-offset list all come from it (`layout_fields.rs`).

use serde::Deserialize;

use super::callsites::{BytecodeFacts, BytecodeSection};
use super::layout_fields::layout_fields;
use super::version::Version;

/// How a version links its frames, which decides the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 3.8–3.10: heap `PyFrameObject`s linked by `f_back`, reached by `tstate->frame`.
    FrameObjects,
    /// 3.11–3.12: `_PyInterpreterFrame`s on the thread's data stack, reached by
    /// `tstate->cframe->current_frame`.
    CFrame,
    /// 3.13+: the same frames, reached by `tstate->current_frame`.
    CurrentFrame,
}

/// Which line-table encoding the code objects carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineTableFormat {
    /// `co_lnotab` (≤3.9); instruction offsets in bytes.
    Lnotab,
    /// 3.10's `co_linetable`; `f_lasti` counts code units.
    Linetable310,
    /// 3.11+ location table.
    Locations,
}

/// Where the GIL's holder and lock flag are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GilLocation {
    /// ≤3.11: inside `_PyRuntime` at these offsets.
    Runtime {
        last_holder: u64,
        locked: u64,
    },
    /// 3.12+: the interpreter holds a pointer (at `pointer`) to a GIL struct.
    Interpreter {
        pointer: u64,
        last_holder: u64,
        locked: u64,
    },
    Unknown,
}

/// How a dict's keys object (`PyDictKeysObject`) is laid out; read by `dicts.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DictKeysLayout {
    /// Where the size of the hash table is kept.
    pub size: KeysSize,
    /// `dk_kind` (3.11+); before, every table has entries with a hash.
    pub kind: Option<KeysKind>,
    /// Offset of `dk_nentries`: entries used so far, live or deleted.
    pub nentries: u64,
    /// Offset of `dk_indices`; the entries follow the indices.
    pub indices: u64,
    pub entry: EntryLayout,
    pub unicode_entry: Option<EntryLayout>,
    /// Offset of the first value in a split table's values block (`ma_values`).
    pub values_items: u64,
    /// Offsets of the `capacity` and `valid` bytes of a values block (3.13+).
    pub values_capacity: Option<u64>,
    pub values_valid: Option<u64>,
}

/// Where a keys object (3.11+) says what its entries hold, and the values that says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysKind {
    pub offset: u64,
    /// Any keys, in entries with a hash (`entry`).
    pub general: u8,
    /// Only str keys, in entries without a hash (`unicode_entry`).
    pub unicode: u8,
    /// Str keys shared by the instances of a type, values kept elsewhere; `unicode_entry`.
    pub split: u8,
}

/// How a keys object records the size of its hash table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysSize {
    /// ≤3.10: `dk_size` itself (a `Py_ssize_t`); the width of an index follows from it.
    Size { offset: u64 },
    /// 3.11+: log2 of the size, and log2 of the byte length of all indices (`u8`s).
    Log2 {
        log2_size: u64,
        log2_index_bytes: u64,
    },
}

/// One entry of a keys object: `PyDictKeyEntry` or `PyDictUnicodeEntry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryLayout {
    pub size: u64,
    pub key: u64,
    pub value: u64,
}

/// Where instances of types with `Py_TPFLAGS_MANAGED_DICT` keep their attributes (3.11+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedDictLayout {
    /// `Py_TPFLAGS_MANAGED_DICT`.
    pub flag: u64,
    /// Offset, from the object (negative: before it), of the word holding the dict.
    pub dict_offset: i64,
    pub values: ManagedValues,
}

/// Where the attribute values of an instance without a materialised dict are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedValues {
    /// 3.11: a word of its own, at this offset from the object, points at them.
    Pointer { offset: i64 },
    /// 3.12: the dict word holds the values pointer plus `tag` instead, which makes it odd.
    Tagged { tag: i64 },
    /// 3.13+: inline after `tp_basicsize`, for types with this flag
    /// (`Py_TPFLAGS_INLINE_VALUES`).
    Inline { flag: u64 },
}

/// How an int (`PyLongObject`) records its sign and digit count, from 3.12 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongTag {
    /// `lv_tag >> size_shift` is the number of digits.
    pub size_shift: u32,
    pub sign_mask: u64,
    /// Values of `lv_tag & sign_mask` for negative numbers and zero.
    pub negative: u64,
    pub zero: u64,
}

layout_fields! {
    /// Byte offsets into the interpreter's structures, for one version.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Layout;

    /// One `python-offsets/X.Y.toml` as written by the generator. Every section refuses
    /// keys it does not know, so a stray or misspelt key is an error naming it.
    pub struct OffsetsTable {
        /// Checked to be there and a string; the file's name says the version.
        #[serde(rename = "version")]
        _version: String,
        bytecode: Option<BytecodeSection>,
        debug_offsets: Option<DebugOffsetsShape>,
        /// Read by `locals/layout.rs` from the same file; only accepted here.
        #[serde(rename = "locals")]
        _locals: Option<toml::Table>,
    }

    [runtime] RuntimeSection required
    fields {
        interpreters_head: u64 => runtime_interpreters_head: u64,
            Always "runtime_state.interpreters_head";
    }
    raw {
        gil_last_holder: Option<u64>;
        gil_locked: Option<u64>;
    }

    [interpreter] InterpreterSection required
    fields {
        next: u64 => interp_next: u64, Always "interpreter_state.next";
        threads_head: u64 => interp_threads_head: u64, Always "interpreter_state.threads_head";
        modules: u64 => interp_modules: u64, Always "interpreter_state.imports_modules";
    }
    raw {
        gil_pointer: Option<u64>;
    }

    [gil] GilSection optional
    fields {}
    raw {
        last_holder: u64;
        locked: u64;
    }

    [thread] ThreadSection required
    fields {
        next: u64 => thread_next: u64, Always "thread_state.next";
        interp: u64 => thread_interp: u64, Always "thread_state.interp";
        thread_id: u64 => thread_id: u64, Always "thread_state.thread_id";
        native_thread_id: Option<u64> => thread_native_id: Option<u64>,
            Always "thread_state.native_thread_id";
        datastack_chunk: Option<u64> => thread_datastack_chunk: Option<u64>,
            Always "thread_state.datastack_chunk";
        // Not in the debug offsets: `apply` drops it when they moved the thread state.
        datastack_top: Option<u64> => thread_datastack_top: Option<u64>;
    }
    raw {
        frame: Option<u64>;
        cframe: Option<u64>;
        current_frame: Option<u64>;
    }

    [cframe] CFrameSection optional
    fields {
        current_frame: u64 => cframe_current_frame: u64;
    }
    raw {}

    [frame_object] FrameObjectSection optional
    fields {
        /// ≤3.10 frame objects.
        back: u64 => frame_back: u64;
        code: u64 => frame_code: u64;
        lasti: u64 => frame_lasti: u64;
    }
    raw {}

    [interpreter_frame] InterpreterFrameSection optional
    fields {
        /// 3.11+ interpreter frames.
        previous: u64 => iframe_previous: u64, Always "interpreter_frame.previous";
        executable: u64 => iframe_executable: u64, Always "interpreter_frame.executable";
        instr_ptr: u64 => iframe_instr_ptr: u64, Always "interpreter_frame.instr_ptr";
        owner: u64 => iframe_owner: u64, Always "interpreter_frame.owner";
        /// Frames whose owner is at least this are interpreter or C-stack entries, not Python.
        first_shim_owner: Option<u8> => iframe_first_shim_owner: Option<u8>;
        /// The owner value of a generator's (or coroutine's) frame (3.11+).
        generator_owner: Option<u8> => iframe_generator_owner: Option<u8>;
        /// 3.11: the flag of a frame the interpreter was entered with from C.
        is_entry: Option<u64> => iframe_is_entry: Option<u64>;
        /// Low bits of `f_executable` that are tags, not pointer (3.14+).
        executable_tag_bits: Option<u64> => executable_tag_mask: u64;
    }
    raw {}

    [stack_chunk] StackChunkSection optional
    fields {
        previous: u64 => chunk_previous: u64;
        size: u64 => chunk_size: u64;
    }
    raw {}

    [code] CodeSection required
    fields {
        filename: u64 => code_filename: u64, Always "code_object.filename";
        name: u64 => code_name: u64, Always "code_object.name";
        qualname: Option<u64> => code_qualname: Option<u64>, Always "code_object.qualname";
        firstlineno: u64 => code_firstlineno: u64, Always "code_object.firstlineno";
        linetable: u64 => code_linetable: u64, Always "code_object.linetable";
        /// Offset of the first instruction inside the code object (3.11+).
        code_adaptive: Option<u64> => code_adaptive: Option<u64>,
            Always "code_object.co_code_adaptive";
        /// Offset of `_co_firsttraceable` (3.11+): the code unit a frame must have reached to
        /// count as started (CPython leaves frames before it out of every stack it shows).
        first_traceable: Option<u64> => code_first_traceable: Option<u64>;
    }
    raw {}

    [object] ObjectSection required
    fields {
        ob_type: u64 => ob_type: u64, Always "pyobject.ob_type";
        var_size: u64 => var_size: u64;
    }
    raw {}

    [type_ as "type"] TypeSection required
    fields {
        flags: u64 => type_flags: u64, Always "type_object.tp_flags";
        dictoffset: u64 => type_dictoffset: u64, IfPresent "type_object.tp_dictoffset";
        /// Offset of `tp_basicsize` in a type.
        basicsize: Option<u64> => type_basicsize: Option<u64>,
            IfPresent "type_object.tp_basicsize";
    }
    raw {
        /// `tp_name`: read by `locals/layout.rs` from its own view of the table; only
        /// accepted here.
        #[serde(rename = "name")]
        _name: u64;
    }

    [unicode] UnicodeSection required
    fields {
        ascii_size: u64 => unicode_ascii_size: u64, Always "unicode_object.asciiobject_size";
        compact_size: u64 => unicode_compact_size: u64,
            IfPresent "unicode_object.compactunicodeobject_size";
        length: u64 => unicode_length: u64, Always "unicode_object.length";
        state: u64 => unicode_state: u64, Always "unicode_object.state";
        state_kind_shift: u32 => unicode_kind_shift: u32;
        state_compact_shift: u32 => unicode_compact_shift: u32;
        state_ascii_shift: u32 => unicode_ascii_shift: u32;
    }
    raw {}

    [bytes] BytesSection required
    fields {
        size: u64 => bytes_size: u64, Always "bytes_object.ob_size";
        data: u64 => bytes_data: u64, Always "bytes_object.ob_sval";
    }
    raw {}

    [tuple] TupleSection required
    fields {
        size: u64 => tuple_size: u64, Always "tuple_object.ob_size";
        items: u64 => tuple_items: u64, Always "tuple_object.ob_item";
    }
    raw {}

    [long] LongSection required
    fields {
        digits: u64 => long_digits: u64, Always "long_object.ob_digit";
        /// Bits used in each digit of an int (`PyLong_SHIFT`), and the bytes a digit takes.
        digit_bits: u32 => long_digit_bits: u32;
        digit_size: u64 => long_digit_size: u64;
    }
    raw {
        size: Option<u64>;
        tag: Option<u64>;
        tag_size_shift: Option<u32>;
        tag_sign_mask: Option<u64>;
        tag_negative: Option<u64>;
        tag_zero: Option<u64>;
    }

    [dict] DictSection required
    fields {
        keys: u64 => dict_keys: u64, Always "dict_object.ma_keys";
        values: u64 => dict_values: u64, Always "dict_object.ma_values";
    }
    raw {}

    [dict_keys] DictKeysSection optional
    fields {}
    raw {
        size: Option<u64>;
        log2_size: Option<u64>;
        log2_index_bytes: Option<u64>;
        kind: Option<u64>;
        kind_general: Option<u8>;
        kind_unicode: Option<u8>;
        kind_split: Option<u8>;
        nentries: u64;
        indices: u64;
        entry_size: u64;
        entry_key: u64;
        entry_value: u64;
        unicode_entry_size: Option<u64>;
        unicode_entry_key: Option<u64>;
        unicode_entry_value: Option<u64>;
    }

    [dict_values] DictValuesSection optional
    fields {}
    raw {
        items: u64;
        capacity: Option<u64>;
        valid: Option<u64>;
    }

    [module] ModuleSection optional
    fields {
        /// Offset of `md_dict` in a module object.
        dict: u64 => module_dict: Option<u64>;
    }
    raw {}

    [heap_type] HeapTypeSection optional
    fields {
        /// Offset of `ht_cached_keys` in a heap type: the keys shared by its instances.
        cached_keys: u64 => heap_type_cached_keys: Option<u64>,
            IfPresent "heap_type_object.ht_cached_keys";
    }
    raw {}

    [instance] InstanceSection optional
    fields {}
    raw {
        managed_dict_flag: u64;
        managed_dict_offset: i64;
        managed_values_offset: Option<i64>;
        dict_or_values_tag: Option<i64>;
        inline_values_flag: Option<u64>;
    }

    derived {
        era: Era;
        line_table: LineTableFormat;
        gil: GilLocation;
        /// `frame` (≤3.10), `cframe` (3.11/3.12) or `current_frame` (3.13+).
        thread_frame: u64, Always "thread_state.current_frame";
        long_size_or_tag: u64, Always "long_object.lv_tag";
        /// 3.12+: `long_size_or_tag` is an `lv_tag`; before, a signed digit count.
        long_tag: Option<LongTag>;
        dict_table: Option<DictKeysLayout>;
        /// 3.11+.
        managed_dict: Option<ManagedDictLayout>;
        /// 3.11+: the version's instruction lengths and kinds, for checking where callers
        /// stand (`None`: not checked).
        bytecode: Option<BytecodeFacts>;
    }
}

/// The `[debug_offsets]` section (3.13+): the names of `_Py_DebugOffsets`' fields in order
/// after its cookie, as the probe found them in the version's headers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugOffsetsShape {
    pub fields: Vec<String>,
}
impl OffsetsTable {
    /// The keys layout, when the table describes one completely.
    fn dict_table(&self) -> Option<DictKeysLayout> {
        let k = self.dict_keys.as_ref()?;
        let v = self.dict_values.as_ref()?;
        let size = match (k.size, k.log2_size, k.log2_index_bytes) {
            (Some(offset), None, None) => KeysSize::Size { offset },
            (None, Some(log2_size), Some(log2_index_bytes)) => KeysSize::Log2 {
                log2_size,
                log2_index_bytes,
            },
            _ => return None,
        };
        let unicode_entry = match (
            k.unicode_entry_size,
            k.unicode_entry_key,
            k.unicode_entry_value,
        ) {
            (Some(size), Some(key), Some(value)) => Some(EntryLayout { size, key, value }),
            _ => None,
        };
        let kind = match (k.kind, k.kind_general, k.kind_unicode, k.kind_split) {
            (Some(offset), Some(general), Some(unicode), Some(split))
                if unicode_entry.is_some() =>
            {
                Some(KeysKind {
                    offset,
                    general,
                    unicode,
                    split,
                })
            }
            (None, None, None, None) => None,
            _ => return None,
        };
        Some(DictKeysLayout {
            size,
            kind,
            nentries: k.nentries,
            indices: k.indices,
            entry: EntryLayout {
                size: k.entry_size,
                key: k.entry_key,
                value: k.entry_value,
            },
            unicode_entry,
            values_items: v.items,
            values_capacity: v.capacity,
            values_valid: v.valid,
        })
    }

    /// The managed-dict layout (3.11+), when the table describes one unambiguously.
    fn managed_dict(&self) -> Option<ManagedDictLayout> {
        let i = self.instance.as_ref()?;
        let values = match (
            i.managed_values_offset,
            i.dict_or_values_tag,
            i.inline_values_flag,
        ) {
            (Some(offset), None, None) => ManagedValues::Pointer { offset },
            (None, Some(tag), None) => ManagedValues::Tagged { tag },
            (None, None, Some(flag)) => ManagedValues::Inline { flag },
            _ => return None,
        };
        Some(ManagedDictLayout {
            flag: i.managed_dict_flag,
            dict_offset: i.managed_dict_offset,
            values,
        })
    }

    fn long_tag(&self) -> Option<LongTag> {
        let l = &self.long;
        l.tag?;
        Some(LongTag {
            size_shift: l.tag_size_shift?,
            sign_mask: l.tag_sign_mask?,
            negative: l.tag_negative?,
            zero: l.tag_zero?,
        })
    }
}

/// The tables built into the binary, by minor version.
pub(crate) const TABLES: &[(u32, &str)] = &[
    (8, include_str!("../../python-offsets/3.8.toml")),
    (9, include_str!("../../python-offsets/3.9.toml")),
    (10, include_str!("../../python-offsets/3.10.toml")),
    (11, include_str!("../../python-offsets/3.11.toml")),
    (12, include_str!("../../python-offsets/3.12.toml")),
    (13, include_str!("../../python-offsets/3.13.toml")),
    (14, include_str!("../../python-offsets/3.14.toml")),
    (15, include_str!("../../python-offsets/3.15.toml")),
];

/// The newest minor version with a table.
pub const NEWEST_TABLE_MINOR: u32 = 15;

/// The table of a 3.x minor version, if framescope ships one.
pub fn table_for(version: &Version) -> Option<Result<OffsetsTable, String>> {
    if version.major != 3 {
        return None;
    }
    let (_, text) = TABLES.iter().find(|(minor, _)| *minor == version.minor)?;
    Some(
        toml::from_str(text)
            .map_err(|e| format!("python-offsets/3.{}.toml is malformed: {e}", version.minor)),
    )
}

/// The `_Py_DebugOffsets` shape of a 3.x minor version (3.13+): its own table's, or the
/// newest table's for a version newer than every table.
pub fn debug_offsets_shape(minor: u32) -> Result<Vec<String>, String> {
    let minor = minor.min(NEWEST_TABLE_MINOR);
    let table = table_for(&Version::new(3, minor, 0))
        .ok_or_else(|| format!("no offsets table for CPython 3.{minor}"))??;
    table
        .debug_offsets
        .map(|shape| shape.fields)
        .ok_or_else(|| format!("python-offsets/3.{minor}.toml has no [debug_offsets] shape"))
}

pub fn era_of(version: &Version) -> Era {
    match version.minor {
        ..=10 => Era::FrameObjects,
        11 | 12 => Era::CFrame,
        _ => Era::CurrentFrame,
    }
}

pub fn line_table_of(version: &Version) -> LineTableFormat {
    match version.minor {
        ..=9 => LineTableFormat::Lnotab,
        10 => LineTableFormat::Linetable310,
        _ => LineTableFormat::Locations,
    }
}

impl Layout {
    /// Builds the layout of `version` from its table.
    pub fn from_table(version: &Version, t: &OffsetsTable) -> Result<Layout, String> {
        let era = era_of(version);
        let missing = |what: &str| format!("python-offsets/3.{}.toml lacks {what}", version.minor);
        let thread_frame = match era {
            Era::FrameObjects => t.thread.frame,
            Era::CFrame => t.thread.cframe,
            Era::CurrentFrame => t.thread.current_frame,
        }
        .ok_or_else(|| missing("the thread's frame pointer"))?;
        let gil = match (&t.runtime, &t.interpreter.gil_pointer, &t.gil) {
            (
                RuntimeSection {
                    gil_last_holder: Some(h),
                    gil_locked: Some(l),
                    ..
                },
                _,
                _,
            ) => GilLocation::Runtime {
                last_holder: *h,
                locked: *l,
            },
            (_, Some(p), Some(g)) => GilLocation::Interpreter {
                pointer: *p,
                last_holder: g.last_holder,
                locked: g.locked,
            },
            _ => GilLocation::Unknown,
        };
        if era == Era::FrameObjects && t.frame_object.is_none() {
            return Err(missing("[frame_object]"));
        }
        if era != Era::FrameObjects && (t.interpreter_frame.is_none() || t.stack_chunk.is_none()) {
            return Err(missing("[interpreter_frame] or [stack_chunk]"));
        }
        let derived = Derived {
            era,
            line_table: line_table_of(version),
            gil,
            thread_frame,
            long_size_or_tag: t
                .long
                .tag
                .or(t.long.size)
                .ok_or_else(|| missing("[long] size or tag"))?,
            long_tag: t.long_tag(),
            dict_table: t.dict_table(),
            managed_dict: t.managed_dict(),
            bytecode: t
                .bytecode
                .as_ref()
                .map(BytecodeFacts::from_section)
                .transpose()?,
        };
        Ok(Layout::assemble(t, derived))
    }

    /// Writes every offset the target's `_Py_DebugOffsets` know (`get` by name) into the
    /// layout: the fields listed in [`FROM_DEBUG_OFFSETS`]. Returns one line per field
    /// whose value differed from the layout's.
    pub fn apply_debug_offsets(&mut self, get: impl Fn(&str) -> Option<u64>) -> Vec<String> {
        self.apply_each(get)
    }

    /// Offset of `ob_refcnt`: the word before `ob_type` in every object header of the
    /// builds read here (the free-threaded layout, which differs, is refused at attach).
    pub fn ob_refcnt(&self) -> u64 {
        self.ob_type.saturating_sub(8)
    }

    /// Bytes to read from a code object to see every field we use.
    pub fn code_header_len(&self) -> usize {
        let fields = [
            self.ob_type,
            self.code_filename,
            self.code_name,
            self.code_qualname.unwrap_or(0),
            self.code_linetable,
            self.code_firstlineno,
            self.code_first_traceable.unwrap_or(0),
            self.var_size,
        ];
        fields.iter().max().map_or(0, |m| *m as usize + 8)
    }

    /// Bytes to read from a ≤3.10 frame object, or a 3.11+ interpreter frame.
    pub fn frame_header_len(&self) -> usize {
        let fields = match self.era {
            Era::FrameObjects => [self.frame_back, self.frame_code, self.frame_lasti, 0],
            _ => [
                self.iframe_previous,
                self.iframe_executable,
                self.iframe_instr_ptr,
                self.iframe_owner.max(self.iframe_is_entry.unwrap_or(0)),
            ],
        };
        fields.iter().max().map_or(0, |m| *m as usize + 8)
    }

    /// Bytes to read from a thread state to see every field we use.
    pub fn thread_header_len(&self) -> usize {
        let fields = [
            self.thread_next,
            self.thread_interp,
            self.thread_frame,
            self.thread_id,
            self.thread_native_id.unwrap_or(0),
            self.thread_datastack_chunk.unwrap_or(0),
            self.thread_datastack_top.unwrap_or(0),
        ];
        fields.iter().max().map_or(0, |m| *m as usize + 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_table_parses_into_a_layout() {
        for (minor, _) in TABLES {
            let version = Version::new(3, *minor, 0);
            let table = table_for(&version).expect("table").expect("parses");
            let layout = Layout::from_table(&version, &table).expect("layout");
            assert_eq!(layout.era, era_of(&version));
            assert!(layout.code_header_len() > 0 && layout.frame_header_len() > 0);
            // What thread names need: every table describes dicts, modules and types.
            let keys = layout.dict_table.expect("dict keys layout");
            assert!(layout.module_dict.is_some() && layout.heap_type_cached_keys.is_some());
            assert_eq!(layout.long_tag.is_some(), *minor >= 12);
            match (*minor, keys.size, layout.managed_dict.map(|m| m.values)) {
                (..=10, KeysSize::Size { .. }, None) => {}
                (11, KeysSize::Log2 { .. }, Some(ManagedValues::Pointer { .. })) => {}
                (12, KeysSize::Log2 { .. }, Some(ManagedValues::Tagged { .. })) => {}
                (13.., KeysSize::Log2 { .. }, Some(ManagedValues::Inline { .. })) => {}
                other => panic!("3.{minor}: unexpected dict shape {other:?}"),
            }
        }
    }

    /// A misspelt or stray key, or a section nobody reads, is an error naming it.
    #[test]
    fn a_table_with_an_unknown_key_is_refused_naming_it() {
        let (_, text) = TABLES.iter().find(|(m, _)| *m == 13).expect("3.13");
        let refused = |bad: String, name: &str| {
            let err = toml::from_str::<OffsetsTable>(&bad)
                .expect_err(name)
                .to_string();
            assert!(err.contains(&format!("unknown field `{name}`")), "{err}");
        };
        refused(
            text.replacen("interpreters_head =", "interpreter_head =", 1),
            "interpreter_head",
        );
        refused(
            text.replacen("[stack_chunk]\n", "[stack_chunk]\ndata = 24\n", 1),
            "data",
        );
        refused(format!("[frames]\nback = 24\n{text}"), "frames");
        refused(
            text.replacen("[debug_offsets]\n", "[debug_offsets]\nsize = 8\n", 1),
            "size",
        );
        refused(
            text.replacen("[bytecode]\n", "[bytecode]\nopcodes = 1\n", 1),
            "opcodes",
        );
        toml::from_str::<OffsetsTable>(text).expect("the table itself parses");
    }
}
