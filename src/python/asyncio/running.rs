//! Which asyncio Task each thread is running now (CPython 3.11-3.13, the `_asyncio` C
//! tasks): `sys.modules["asyncio.tasks"].__dict__["_current_tasks"]` maps each running
//! event loop to the task it is stepping (the C module's own dict, which the Python module
//! re-exports), and the loop's `_thread_id` attribute says which thread runs it. Each task
//! is read through the `TaskObj` layout of its version: its name (`Task-12`, or the
//! `name=` given) and its coroutine's qualified name.
//!
//! A task object whose type is too small to be a `TaskObj` (the pure-Python `_PyTask`),
//! a version without a table, or a program without asyncio gives no tasks; the caller
//! says so once. Everything read is bounded (at most [`MAX_LOOPS`] loops).

use super::layout::AsyncioLayout;
use crate::process::{Bytes, ReadError};
use crate::python::attrs::attr_many;
use crate::python::batch::{read_strs, Batch};
use crate::python::dicts::{
    decode_unsigned_long, long_read_len, lookup_str, read_dict_heads, read_items,
};
use crate::python::interpreter::Interpreter;

/// Most running loops (one per thread at most) looked at.
pub const MAX_LOOPS: usize = 1024;

/// The task one thread is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningTask {
    /// `threading.get_ident()` of the thread running the task's loop.
    pub python_thread_id: u64,
    /// The task object's address (what `id(task)` says).
    pub id: u64,
    /// `task.get_name()`.
    pub name: String,
    /// The coroutine's `__qualname__`.
    pub coroutine: String,
}

/// Why no task could be read, said once to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoTasks {
    /// No table for this version (before 3.11, or 3.14+ until their own reader).
    Version(String),
    /// `asyncio` is not imported (yet).
    NotImported,
    /// The running tasks are not `_asyncio` C tasks (pure-Python tasks).
    NotCTasks,
}

impl std::fmt::Display for NoTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoTasks::Version(v) => write!(
                f,
                "asyncio tasks are not read on CPython {v} (3.11 to 3.13 only): plain stacks"
            ),
            NoTasks::NotImported => write!(f, "the program has not imported asyncio"),
            NoTasks::NotCTasks => write!(
                f,
                "the running tasks are not the _asyncio module's C tasks (pure-Python \
                 tasks cannot be read): plain stacks"
            ),
        }
    }
}

/// The tasks the target's threads are running now, one per thread at most.
pub fn running_tasks(interp: &Interpreter) -> Result<Result<Vec<RunningTask>, NoTasks>, ReadError> {
    let minor = interp.version.minor;
    let Some(alayout) = AsyncioLayout::for_minor(minor) else {
        return Ok(Err(NoTasks::Version(format!("3.{minor}"))));
    };
    let layout = &interp.layout;
    let mem = &*interp.mem;
    let Some(module_dict) = layout.module_dict else {
        return Ok(Err(NoTasks::Version(format!("3.{minor}"))));
    };
    // sys.modules of the main interpreter → asyncio.tasks → its globals → _current_tasks.
    let interp_addr = mem.read_u64(interp.runtime + layout.runtime_interpreters_head)?;
    let modules = mem.read_u64(interp_addr + layout.interp_modules)?;
    let lookup = |dict: u64, key: &str| -> Result<Option<u64>, ReadError> {
        let heads = read_dict_heads(mem, layout, &[dict])?;
        let mappings: Vec<_> = heads.iter().map(|h| h.map(|h| h.mapping)).collect();
        Ok(lookup_str(mem, layout, &mappings, key)?.values[0])
    };
    let Some(tasks_module) = lookup(modules, "asyncio.tasks")? else {
        return Ok(Err(NoTasks::NotImported));
    };
    let globals = mem.read_u64(tasks_module + module_dict)?;
    let Some(current) = lookup(globals, "_current_tasks")? else {
        return Ok(Err(NoTasks::NotImported));
    };
    let Some(items) = read_items(mem, layout, current)? else {
        return Ok(Err(NoTasks::NotImported));
    };
    let pairs: Vec<(u64, u64)> = items.items.into_iter().take(MAX_LOOPS).collect();
    if pairs.is_empty() {
        return Ok(Ok(Vec::new()));
    }

    // The loops' types and the tasks' types, names and coroutines, in one read.
    let task_end = alayout.task.name.max(alayout.task.coro) as usize + 8;
    let mut batch = Batch::new();
    for (loop_obj, task) in &pairs {
        batch.push(loop_obj + layout.ob_type, 8);
        batch.push(*task, task_end);
    }
    batch.run(mem)?;
    let mut loops = Vec::with_capacity(pairs.len());
    let mut tasks = Vec::with_capacity(pairs.len());
    for (i, (loop_obj, task)) in pairs.iter().enumerate() {
        loops.push((*loop_obj, batch.get(2 * i).map_or(0, |b| b.u64_at(0))));
        tasks.push((*task, batch.get(2 * i + 1)));
    }
    // A C task's type is at least as large as a TaskObj.
    let mut types = Batch::new();
    let basicsize = layout.type_basicsize.unwrap_or(0);
    for (_, head) in &tasks {
        let ty = head.map_or(0, |h| h.u64_at(layout.ob_type as usize));
        types.push(if basicsize == 0 { 0 } else { ty + basicsize }, 8);
    }
    types.run(mem)?;

    let thread_ids = attr_many(mem, layout, &loops, "_thread_id")?.values;
    let mut ints = Batch::new();
    for id in &thread_ids {
        ints.push(id.unwrap_or(0), long_read_len(layout));
    }
    ints.run(mem)?;

    let mut name_addrs = Vec::new();
    let mut coro_addrs = Vec::new();
    let mut kept = Vec::new();
    let mut not_c = false;
    for (i, (task, head)) in tasks.iter().enumerate() {
        let Some(head) = head else { continue };
        let size = types.get(i).map_or(0, |b| b.u64_at(0));
        if basicsize != 0 && size < task_end as u64 {
            not_c = true;
            continue;
        }
        let Some(thread) = ints.get(i).and_then(|b| decode_unsigned_long(layout, b)) else {
            continue;
        };
        name_addrs.push(head.u64_at(alayout.task.name as usize));
        coro_addrs.push(head.u64_at(alayout.task.coro as usize));
        kept.push((thread, *task));
    }
    if kept.is_empty() && not_c {
        return Ok(Err(NoTasks::NotCTasks));
    }
    let mut quals = Batch::new();
    for coro in &coro_addrs {
        quals.push(
            if *coro == 0 {
                0
            } else {
                coro + alayout.coroutine.qualname
            },
            8,
        );
    }
    quals.run(mem)?;
    let qual_addrs: Vec<u64> = (0..coro_addrs.len())
        .map(|i| quals.get(i).map_or(0, |b| b.u64_at(0)))
        .collect();
    let names = read_strs(mem, layout, &name_addrs, None)?;
    let coros = read_strs(mem, layout, &qual_addrs, None)?;
    Ok(Ok(kept
        .into_iter()
        .zip(names.into_iter().zip(coros))
        .map(|((python_thread_id, id), (name, coro))| RunningTask {
            python_thread_id,
            id,
            name: name.map_or_else(|| "?".to_string(), |s| s.text),
            coroutine: coro.map_or_else(|| "?".to_string(), |s| s.text),
        })
        .collect()))
}
