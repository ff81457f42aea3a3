//! `_Py_DebugOffsets`: the table of struct offsets that CPython 3.13+ keeps as the first
//! member of `_PyRuntime`, for out-of-process tools. framescope reads it from the target,
//! checks it, and lets it override the built-in table — so a CPython newer than any table
//! works as long as its debug offsets keep a shape we know.
//!
//! The struct is a sequence of `uint64_t` after an 8-byte cookie. Its shape (the order of
//! the fields) differs between versions; each known shape is listed below as data, and the
//! newest one is assumed for versions newer than it.

use std::collections::HashMap;

use super::layout::{GilLocation, Layout};
use super::version::Version;
use crate::process::Memory;

pub const COOKIE: &[u8; 8] = b"xdebugpy";

/// Field names in order after `cookie`, for 3.13. A name `section.size` is the size of
/// that structure; the others are offsets within it.
const SHAPE_3_13: &[&str] = &[
    "version",
    "free_threaded",
    "runtime_state.size",
    "runtime_state.finalizing",
    "runtime_state.interpreters_head",
    "interpreter_state.size",
    "interpreter_state.id",
    "interpreter_state.next",
    "interpreter_state.threads_head",
    "interpreter_state.gc",
    "interpreter_state.imports_modules",
    "interpreter_state.sysdict",
    "interpreter_state.builtins",
    "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked",
    "interpreter_state.gil_runtime_state_holder",
    "thread_state.size",
    "thread_state.prev",
    "thread_state.next",
    "thread_state.interp",
    "thread_state.current_frame",
    "thread_state.thread_id",
    "thread_state.native_thread_id",
    "thread_state.datastack_chunk",
    "thread_state.status",
    "interpreter_frame.size",
    "interpreter_frame.previous",
    "interpreter_frame.executable",
    "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus",
    "interpreter_frame.owner",
    "code_object.size",
    "code_object.filename",
    "code_object.name",
    "code_object.qualname",
    "code_object.linetable",
    "code_object.firstlineno",
    "code_object.argcount",
    "code_object.localsplusnames",
    "code_object.localspluskinds",
    "code_object.co_code_adaptive",
    "pyobject.size",
    "pyobject.ob_type",
    "type_object.size",
    "type_object.tp_name",
    "type_object.tp_repr",
    "type_object.tp_flags",
    "tuple_object.size",
    "tuple_object.ob_item",
    "tuple_object.ob_size",
    "list_object.size",
    "list_object.ob_item",
    "list_object.ob_size",
    "dict_object.size",
    "dict_object.ma_keys",
    "dict_object.ma_values",
    "float_object.size",
    "float_object.ob_fval",
    "long_object.size",
    "long_object.lv_tag",
    "long_object.ob_digit",
    "bytes_object.size",
    "bytes_object.ob_size",
    "bytes_object.ob_sval",
    "unicode_object.size",
    "unicode_object.state",
    "unicode_object.length",
    "unicode_object.asciiobject_size",
    "gc.size",
    "gc.collecting",
];

/// 3.14: adds the main thread, code generations, frame stack pointer and TLBC fields,
/// sets, generators, and the remote-debugging support block.
const SHAPE_3_14: &[&str] = &[
    "version",
    "free_threaded",
    "runtime_state.size",
    "runtime_state.finalizing",
    "runtime_state.interpreters_head",
    "interpreter_state.size",
    "interpreter_state.id",
    "interpreter_state.next",
    "interpreter_state.threads_head",
    "interpreter_state.threads_main",
    "interpreter_state.gc",
    "interpreter_state.imports_modules",
    "interpreter_state.sysdict",
    "interpreter_state.builtins",
    "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked",
    "interpreter_state.gil_runtime_state_holder",
    "interpreter_state.code_object_generation",
    "interpreter_state.tlbc_generation",
    "thread_state.size",
    "thread_state.prev",
    "thread_state.next",
    "thread_state.interp",
    "thread_state.current_frame",
    "thread_state.thread_id",
    "thread_state.native_thread_id",
    "thread_state.datastack_chunk",
    "thread_state.status",
    "interpreter_frame.size",
    "interpreter_frame.previous",
    "interpreter_frame.executable",
    "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus",
    "interpreter_frame.owner",
    "interpreter_frame.stackpointer",
    "interpreter_frame.tlbc_index",
    "code_object.size",
    "code_object.filename",
    "code_object.name",
    "code_object.qualname",
    "code_object.linetable",
    "code_object.firstlineno",
    "code_object.argcount",
    "code_object.localsplusnames",
    "code_object.localspluskinds",
    "code_object.co_code_adaptive",
    "code_object.co_tlbc",
    "pyobject.size",
    "pyobject.ob_type",
    "type_object.size",
    "type_object.tp_name",
    "type_object.tp_repr",
    "type_object.tp_flags",
    "tuple_object.size",
    "tuple_object.ob_item",
    "tuple_object.ob_size",
    "list_object.size",
    "list_object.ob_item",
    "list_object.ob_size",
    "set_object.size",
    "set_object.used",
    "set_object.table",
    "set_object.mask",
    "dict_object.size",
    "dict_object.ma_keys",
    "dict_object.ma_values",
    "float_object.size",
    "float_object.ob_fval",
    "long_object.size",
    "long_object.lv_tag",
    "long_object.ob_digit",
    "bytes_object.size",
    "bytes_object.ob_size",
    "bytes_object.ob_sval",
    "unicode_object.size",
    "unicode_object.state",
    "unicode_object.length",
    "unicode_object.asciiobject_size",
    "gc.size",
    "gc.collecting",
    "gen_object.size",
    "gen_object.gi_name",
    "gen_object.gi_iframe",
    "gen_object.gi_frame_state",
    "llist_node.next",
    "llist_node.prev",
    "debugger_support.eval_breaker",
    "debugger_support.remote_debugger_support",
    "debugger_support.remote_debugging_enabled",
    "debugger_support.debugger_pending_call",
    "debugger_support.debugger_script_path",
    "debugger_support.debugger_script_path_size",
];

/// 3.15: the thread state grows profiling and exception fields, types and unicode gain
/// sizes, heap types and GC statistics appear.
const SHAPE_3_15: &[&str] = &[
    "version",
    "free_threaded",
    "runtime_state.size",
    "runtime_state.finalizing",
    "runtime_state.interpreters_head",
    "interpreter_state.size",
    "interpreter_state.id",
    "interpreter_state.next",
    "interpreter_state.threads_head",
    "interpreter_state.threads_main",
    "interpreter_state.gc",
    "interpreter_state.imports_modules",
    "interpreter_state.sysdict",
    "interpreter_state.builtins",
    "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked",
    "interpreter_state.gil_runtime_state_holder",
    "interpreter_state.code_object_generation",
    "interpreter_state.tlbc_generation",
    "thread_state.size",
    "thread_state.prev",
    "thread_state.next",
    "thread_state.interp",
    "thread_state.current_frame",
    "thread_state.base_frame",
    "thread_state.last_profiled_frame",
    "thread_state.last_profiled_frame_seq",
    "thread_state.thread_id",
    "thread_state.native_thread_id",
    "thread_state.datastack_chunk",
    "thread_state.status",
    "thread_state.holds_gil",
    "thread_state.gil_requested",
    "thread_state.current_exception",
    "thread_state.exc_state",
    "err_stackitem.exc_value",
    "interpreter_frame.size",
    "interpreter_frame.previous",
    "interpreter_frame.executable",
    "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus",
    "interpreter_frame.owner",
    "interpreter_frame.stackpointer",
    "interpreter_frame.tlbc_index",
    "code_object.size",
    "code_object.filename",
    "code_object.name",
    "code_object.qualname",
    "code_object.linetable",
    "code_object.firstlineno",
    "code_object.argcount",
    "code_object.localsplusnames",
    "code_object.localspluskinds",
    "code_object.co_code_adaptive",
    "code_object.co_tlbc",
    "pyobject.size",
    "pyobject.ob_type",
    "type_object.size",
    "type_object.tp_name",
    "type_object.tp_repr",
    "type_object.tp_flags",
    "type_object.tp_basicsize",
    "type_object.tp_dictoffset",
    "heap_type_object.size",
    "heap_type_object.ht_cached_keys",
    "tuple_object.size",
    "tuple_object.ob_item",
    "tuple_object.ob_size",
    "list_object.size",
    "list_object.ob_item",
    "list_object.ob_size",
    "set_object.size",
    "set_object.used",
    "set_object.table",
    "set_object.mask",
    "dict_object.size",
    "dict_object.ma_keys",
    "dict_object.ma_values",
    "float_object.size",
    "float_object.ob_fval",
    "long_object.size",
    "long_object.lv_tag",
    "long_object.ob_digit",
    "bytes_object.size",
    "bytes_object.ob_size",
    "bytes_object.ob_sval",
    "unicode_object.size",
    "unicode_object.state",
    "unicode_object.length",
    "unicode_object.asciiobject_size",
    "unicode_object.compactunicodeobject_size",
    "gc.size",
    "gc.collecting",
    "gc.frame",
    "gc.generation_stats_size",
    "gc.generation_stats",
    "gen_object.size",
    "gen_object.gi_name",
    "gen_object.gi_iframe",
    "gen_object.gi_frame_state",
    "llist_node.next",
    "llist_node.prev",
    "debugger_support.eval_breaker",
    "debugger_support.remote_debugger_support",
    "debugger_support.remote_debugging_enabled",
    "debugger_support.debugger_pending_call",
    "debugger_support.debugger_script_path",
    "debugger_support.debugger_script_path_size",
];

/// The offsets [`DebugOffsets::apply`] takes; each must lie inside its structure.
const USED_FIELDS: &[&str] = &[
    "runtime_state.interpreters_head",
    "interpreter_state.next",
    "interpreter_state.threads_head",
    "thread_state.next",
    "thread_state.interp",
    "thread_state.current_frame",
    "thread_state.thread_id",
    "thread_state.native_thread_id",
    "thread_state.datastack_chunk",
    "interpreter_frame.previous",
    "interpreter_frame.executable",
    "interpreter_frame.instr_ptr",
    "interpreter_frame.owner",
    "code_object.filename",
    "code_object.name",
    "code_object.qualname",
    "code_object.linetable",
    "code_object.firstlineno",
    "code_object.co_code_adaptive",
    "pyobject.ob_type",
    "bytes_object.ob_size",
    "bytes_object.ob_sval",
    "unicode_object.state",
    "unicode_object.length",
];

/// The shape to use for a minor version (the newest known for anything newer).
fn shape_for(minor: u32) -> &'static [&'static str] {
    match minor {
        13 => SHAPE_3_13,
        14 => SHAPE_3_14,
        _ => SHAPE_3_15,
    }
}

/// The debug offsets read from one target.
#[derive(Debug, Clone)]
pub struct DebugOffsets {
    pub version: Version,
    pub free_threaded: bool,
    fields: HashMap<&'static str, u64>,
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
        let shape = shape_for(version.minor);
        let mut raw = vec![0u8; shape.len() * 8];
        mem.read(runtime + 8, &mut raw).map_err(|e| {
            (
                Some(version.clone()),
                format!("cannot read _Py_DebugOffsets: {e}"),
            )
        })?;
        let fields: HashMap<&'static str, u64> = shape
            .iter()
            .zip(raw.chunks_exact(8))
            .map(|(name, b)| (*name, u64::from_le_bytes(b.try_into().unwrap_or_default())))
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

    pub fn get(&self, name: &str) -> Option<u64> {
        self.fields.get(name).copied()
    }

    /// Every offset framescope uses must lie inside its structure, and structures must be
    /// of sane size; otherwise the shape we assumed is not the shape the target has.
    fn check(&self) -> Result<(), String> {
        const MAX_STRUCT: u64 = 16 << 20;
        for name in USED_FIELDS {
            let Some(value) = self.get(name) else {
                return Err(format!(
                    "_Py_DebugOffsets of CPython {} lacks {name}",
                    self.version
                ));
            };
            let Some((section, _)) = name.split_once('.') else {
                continue;
            };
            let size = self.get(&format!("{section}.size")).unwrap_or(0);
            if size == 0 || size > MAX_STRUCT || value >= size {
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
        let mut differences = Vec::new();
        let mut set = |target: &mut u64, name: &str| {
            if let Some(v) = self.get(name) {
                if *target != v {
                    differences.push(format!("{name}: table {} / target {v}", *target));
                    *target = v;
                }
            }
        };
        set(
            &mut layout.runtime_interpreters_head,
            "runtime_state.interpreters_head",
        );
        set(&mut layout.interp_next, "interpreter_state.next");
        set(
            &mut layout.interp_threads_head,
            "interpreter_state.threads_head",
        );
        set(
            &mut layout.interp_modules,
            "interpreter_state.imports_modules",
        );
        set(&mut layout.thread_next, "thread_state.next");
        set(&mut layout.thread_interp, "thread_state.interp");
        set(&mut layout.thread_frame, "thread_state.current_frame");
        set(&mut layout.thread_id, "thread_state.thread_id");
        set(&mut layout.iframe_previous, "interpreter_frame.previous");
        set(
            &mut layout.iframe_executable,
            "interpreter_frame.executable",
        );
        set(&mut layout.iframe_instr_ptr, "interpreter_frame.instr_ptr");
        set(&mut layout.iframe_owner, "interpreter_frame.owner");
        set(&mut layout.code_filename, "code_object.filename");
        set(&mut layout.code_name, "code_object.name");
        set(&mut layout.code_linetable, "code_object.linetable");
        set(&mut layout.code_firstlineno, "code_object.firstlineno");
        set(&mut layout.ob_type, "pyobject.ob_type");
        set(&mut layout.type_flags, "type_object.tp_flags");
        set(&mut layout.type_dictoffset, "type_object.tp_dictoffset");
        set(&mut layout.tuple_items, "tuple_object.ob_item");
        set(&mut layout.tuple_size, "tuple_object.ob_size");
        set(&mut layout.dict_keys, "dict_object.ma_keys");
        set(&mut layout.dict_values, "dict_object.ma_values");
        set(&mut layout.long_size_or_tag, "long_object.lv_tag");
        set(&mut layout.long_digits, "long_object.ob_digit");
        set(&mut layout.bytes_size, "bytes_object.ob_size");
        set(&mut layout.bytes_data, "bytes_object.ob_sval");
        set(&mut layout.unicode_state, "unicode_object.state");
        set(&mut layout.unicode_length, "unicode_object.length");
        set(
            &mut layout.unicode_ascii_size,
            "unicode_object.asciiobject_size",
        );
        set(
            &mut layout.unicode_compact_size,
            "unicode_object.compactunicodeobject_size",
        );
        let mut set_opt = |target: &mut Option<u64>, name: &str| {
            if let Some(v) = self.get(name) {
                if *target != Some(v) {
                    differences.push(format!("{name}: table {target:?} / target {v}"));
                    *target = Some(v);
                }
            }
        };
        set_opt(
            &mut layout.thread_native_id,
            "thread_state.native_thread_id",
        );
        set_opt(
            &mut layout.thread_datastack_chunk,
            "thread_state.datastack_chunk",
        );
        set_opt(&mut layout.code_qualname, "code_object.qualname");
        set_opt(&mut layout.code_adaptive, "code_object.co_code_adaptive");
        if let (Some(pointer), Some(base), Some(holder), Some(locked)) = (
            self.get("interpreter_state.ceval_gil"),
            self.get("interpreter_state.gil_runtime_state"),
            self.get("interpreter_state.gil_runtime_state_holder"),
            self.get("interpreter_state.gil_runtime_state_locked"),
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
