//! Which asyncio Task each thread is running now (the `_asyncio` C tasks).
//!
//! CPython 3.11-3.13: `sys.modules["asyncio.tasks"].__dict__["_current_tasks"]` maps each
//! running event loop to the task it is stepping (the C module's own dict, which the
//! Python module re-exports), and the loop's `_thread_id` attribute says which thread runs
//! it; each task is read through the `TaskObj` layout of its version. 3.14+: each thread
//! state holds its running task, at the offset the `_asyncio` module publishes
//! ([`super::published`]), and the coroutine's name comes from its frame's code object.
//! Either way: the task's name (`Task-12`, or the `name=` given) and its coroutine's
//! qualified name.
//!
//! A task object whose type is too small to be a `TaskObj` (the pure-Python `_PyTask`),
//! a version without a table, or a program without asyncio gives no tasks; the caller
//! says so once. Everything read is bounded (at most [`MAX_LOOPS`] loops).

use super::layout::AsyncioLayout;
use super::published::PublishedOffsets;
use crate::process::{Bytes, ReadError};
use crate::python::attrs::attr_many;
use crate::python::debug_offsets::DebugOffsets;
use crate::python::dicts::{
    decode_keys_header, decode_unsigned_long, long_read_len, read_dict_heads, read_items, ValuesAt,
};
use crate::python::interpreter::Interpreter;
use crate::python::many_reads::{read_strs, ManyReads as Batch};

pub(crate) use crate::limits::MAX_RUNNING_LOOPS as MAX_LOOPS;

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
    /// No table for this version (before 3.11).
    Version(String),
    /// `asyncio` is not imported (yet).
    NotImported,
    /// The running tasks are not `_asyncio` C tasks (pure-Python tasks).
    NotCTasks,
    /// 3.14+: the `_asyncio` module's published offsets cannot be used.
    Unpublished(String),
}

impl std::fmt::Display for NoTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoTasks::Version(v) => write!(
                f,
                "asyncio tasks are not read on CPython {v} (3.11 and newer only): plain stacks"
            ),
            NoTasks::NotImported => write!(f, "the program has not imported asyncio"),
            NoTasks::Unpublished(why) => {
                write!(f, "asyncio tasks cannot be read: {why}: plain stacks")
            }
            NoTasks::NotCTasks => write!(
                f,
                "the running tasks are not the _asyncio module's C tasks (pure-Python \
                 tasks cannot be read): plain stacks"
            ),
        }
    }
}

use crate::limits::{
    MAX_ASYNC_REMEMBERED as MAX_REMEMBERED, MAX_CURRENT_TASKS_KEYS_READ as MAX_KEYS_READ,
};

/// What is remembered of one task between samples: the pointers its strings came from, so
/// that a task freed and another allocated at its address (or renamed) is read again.
struct KnownTask {
    name_ptr: u64,
    coro_ptr: u64,
    name: String,
    coroutine: String,
}

/// Reads the running tasks again and again (`record --async`), remembering what does not
/// change: where `_current_tasks` is, each loop's thread and each task's strings. A sample
/// then costs reading the dict (two syscalls) and the tasks' heads (one).
pub struct TaskReader {
    /// Where a task's fields are; for 3.14+ known once `_asyncio` is loaded.
    fields: Option<TaskFields>,
    source: Source,
    /// The main interpreter's state (3.14+; it stays where it is).
    interp_addr: Option<u64>,
    current: Option<u64>,
    /// Bytes read from the keys object, header included: enough for the last table seen.
    keys_read: usize,
    loops: rustc_hash::FxHashMap<u64, Option<u64>>,
    tasks: rustc_hash::FxHashMap<u64, KnownTask>,
}

/// Where a task's coroutine's qualified name is.
#[derive(Debug, Clone, Copy)]
enum QualnameAt {
    /// At this offset of the coroutine object (the generated layouts, 3.11-3.13).
    Coroutine(u64),
    /// In the code object of the coroutine's frame, embedded at `gi_iframe` (3.14+).
    Frame { gi_iframe: u64 },
}

/// The task fields read, whichever version's tables they come from.
#[derive(Debug, Clone, Copy)]
struct TaskFields {
    name: u64,
    coro: u64,
    qualname: QualnameAt,
}

/// Where the running tasks are found.
enum Source {
    /// `asyncio.tasks._current_tasks` (3.11-3.13).
    CurrentTasks,
    /// Each thread state's `asyncio_running_task`, at the offset `_asyncio` publishes
    /// (3.14+).
    ThreadStates {
        gi_iframe: u64,
        offsets: Option<PublishedOffsets>,
        /// The CPython binary was looked at and has no `.AsyncioDebug` (so `_asyncio` is
        /// an extension module, looked for again while it is not loaded).
        binary_checked: bool,
        /// Why the published offsets cannot be used, once that is known.
        failed: Option<String>,
    },
}

impl TaskReader {
    /// A reader for `interp`'s version, or why its tasks cannot be read.
    pub fn new(interp: &Interpreter) -> Result<TaskReader, NoTasks> {
        let minor = interp.version.minor;
        let no = || NoTasks::Version(format!("3.{minor}"));
        let (fields, source) = if minor >= 14 {
            let debug = DebugOffsets::read(&*interp.mem, interp.runtime)
                .ok()
                .flatten()
                .ok_or_else(no)?;
            let gi_iframe = debug.get("gen_object.gi_iframe").ok_or_else(no)?;
            if interp.layout.code_qualname.is_none() {
                return Err(no());
            }
            (
                None,
                Source::ThreadStates {
                    gi_iframe,
                    offsets: None,
                    binary_checked: false,
                    failed: None,
                },
            )
        } else {
            let alayout = AsyncioLayout::for_minor(minor).ok_or_else(no)?;
            interp.layout.module_dict.ok_or_else(no)?;
            (
                Some(TaskFields {
                    name: alayout.task.name,
                    coro: alayout.task.coro,
                    qualname: QualnameAt::Coroutine(alayout.coroutine.qualname),
                }),
                Source::CurrentTasks,
            )
        };
        Ok(TaskReader {
            fields,
            source,
            interp_addr: None,
            current: None,
            keys_read: 512,
            loops: Default::default(),
            tasks: Default::default(),
        })
    }

    /// 3.14+: each thread's running task, as (thread state, task) pairs, the thread
    /// states' Python thread ids remembered as their "loops". `None` while `_asyncio` is
    /// not loaded.
    fn thread_tasks(&mut self, interp: &Interpreter) -> Result<Option<Vec<(u64, u64)>>, ReadError> {
        let Source::ThreadStates {
            gi_iframe,
            offsets,
            binary_checked,
            failed,
        } = &mut self.source
        else {
            return Ok(None);
        };
        if failed.is_some() {
            return Ok(None);
        }
        if offsets.is_none() {
            let binary = (!*binary_checked).then_some(interp.binary.as_str());
            match PublishedOffsets::find(interp.pid, binary) {
                Ok(Some(found)) => {
                    *offsets = Some(found);
                    self.fields = Some(TaskFields {
                        name: found.task_name,
                        coro: found.task_coro,
                        qualname: QualnameAt::Frame {
                            gi_iframe: *gi_iframe,
                        },
                    });
                }
                Ok(None) => {
                    *binary_checked = true;
                    return Ok(None);
                }
                Err(why) => {
                    *failed = Some(why);
                    return Ok(None);
                }
            }
        }
        let Some(offsets) = *offsets else {
            return Ok(None);
        };
        let layout = &interp.layout;
        let mem = &*interp.mem;
        let interp_addr = match self.interp_addr {
            Some(a) => a,
            None => {
                let a = mem.read_u64(interp.runtime + layout.runtime_interpreters_head)?;
                self.interp_addr = Some(a);
                a
            }
        };
        let mut tstate = mem.read_u64(interp_addr + layout.interp_threads_head)?;
        let len = [offsets.running_task, layout.thread_next, layout.thread_id]
            .iter()
            .max()
            .map_or(8, |m| *m as usize + 8);
        let mut pairs = Vec::new();
        let mut seen = 0;
        while tstate != 0 && seen < MAX_LOOPS {
            seen += 1;
            let mut block = vec![0u8; len];
            mem.read(tstate, &mut block)?;
            let task = block.u64_at(offsets.running_task as usize);
            if task != 0 {
                let thread = block.u64_at(layout.thread_id as usize);
                self.loops.insert(tstate, Some(thread));
                pairs.push((tstate, task));
            }
            tstate = block.u64_at(layout.thread_next as usize);
        }
        Ok(Some(pairs))
    }

    /// `asyncio.tasks._current_tasks`, found through `sys.modules` (once found, kept).
    fn current_tasks(&mut self, interp: &Interpreter) -> Result<Option<u64>, ReadError> {
        if self.current.is_some() {
            return Ok(self.current);
        }
        // The same lookup all_tasks makes for its sets; a missing module or name is None.
        self.current = super::all_tasks::find_globals(interp, &[], &["_current_tasks"])?
            .and_then(|found| found.first().map(|(addr, _)| *addr));
        Ok(self.current)
    }

    /// The (loop, task) pairs of `_current_tasks`, in two syscalls when its keys object is
    /// no larger than the last one (the dict's header, then the keys object's header and
    /// entries at once), else through [`read_items`].
    fn current_items(
        &mut self,
        interp: &Interpreter,
        current: u64,
    ) -> Result<Option<Vec<(u64, u64)>>, ReadError> {
        let layout = &interp.layout;
        let mem = &*interp.mem;
        let Some(t) = layout.dict_table.as_ref() else {
            return Ok(None);
        };
        let Some(head) = read_dict_heads(mem, layout, &[current])?
            .into_iter()
            .next()
            .flatten()
        else {
            return Ok(None);
        };
        if head.mapping.values == ValuesAt::Entries {
            let mut batch = Batch::new();
            batch.push(head.mapping.keys, self.keys_read);
            batch.run(mem)?;
            if let Some(bytes) = batch.get(0) {
                if let Ok(h) = decode_keys_header(t, bytes) {
                    let end = h.entries as usize + h.entries_len();
                    if end <= bytes.len() {
                        let size = h.entry.size as usize;
                        let pairs = (0..h.nentries as usize)
                            .map(|i| {
                                let at = h.entries as usize + i * size;
                                (
                                    bytes.u64_at(at + h.entry.key as usize),
                                    bytes.u64_at(at + h.entry.value as usize),
                                )
                            })
                            .filter(|(k, v)| *k != 0 && *v != 0)
                            .take(MAX_LOOPS)
                            .collect();
                        return Ok(Some(pairs));
                    }
                    self.keys_read = end.min(MAX_KEYS_READ);
                }
            }
        }
        Ok(read_items(mem, layout, current)?
            .map(|items| items.items.into_iter().take(MAX_LOOPS).collect()))
    }

    /// The tasks the target's threads are running now, one per thread at most.
    pub fn read(
        &mut self,
        interp: &Interpreter,
    ) -> Result<Result<Vec<RunningTask>, NoTasks>, ReadError> {
        let layout = &interp.layout;
        let mem = &*interp.mem;
        let pairs = match self.source {
            Source::ThreadStates { .. } => self.thread_tasks(interp)?,
            Source::CurrentTasks => match self.current_tasks(interp)? {
                Some(current) => self.current_items(interp, current)?,
                None => None,
            },
        };
        if let Source::ThreadStates {
            failed: Some(why), ..
        } = &self.source
        {
            return Ok(Err(NoTasks::Unpublished(why.clone())));
        }
        let (Some(pairs), Some(fields)) = (pairs, self.fields) else {
            return Ok(Err(NoTasks::NotImported));
        };
        if pairs.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        if self.loops.len() > MAX_REMEMBERED {
            self.loops.clear();
        }
        if self.tasks.len() > MAX_REMEMBERED {
            self.tasks.clear();
        }
        let task_end = fields.name.max(fields.coro) as usize + 8;

        // The tasks' heads (name and coroutine pointers), and the types of loops not seen
        // before, in one read.
        let new_loops: Vec<u64> = pairs
            .iter()
            .map(|(l, _)| *l)
            .filter(|l| !self.loops.contains_key(l))
            .collect();
        let mut batch = Batch::new();
        for (_, task) in &pairs {
            batch.push(*task, task_end);
        }
        for l in &new_loops {
            batch.push(l + layout.ob_type, 8);
        }
        batch.run(mem)?;
        if !new_loops.is_empty() {
            let loops: Vec<(u64, u64)> = new_loops
                .iter()
                .enumerate()
                .map(|(i, l)| (*l, batch.get(pairs.len() + i).map_or(0, |b| b.u64_at(0))))
                .collect();
            let thread_ids = attr_many(mem, layout, &loops, "_thread_id")?.values;
            let mut ints = Batch::new();
            for id in &thread_ids {
                ints.push(id.unwrap_or(0), long_read_len(layout));
            }
            ints.run(mem)?;
            for (i, l) in new_loops.iter().enumerate() {
                let thread = ints.get(i).and_then(|b| decode_unsigned_long(layout, b));
                // A loop not running yet has no thread: ask again next time.
                if thread.is_some() {
                    self.loops.insert(*l, thread);
                }
            }
        }

        // Tasks not known (or changed): check they are C tasks and read their strings.
        let mut fresh: Vec<(u64, u64, u64, u64)> = Vec::new(); // task, type, name, coro
        for (i, (_, task)) in pairs.iter().enumerate() {
            let Some(head) = batch.get(i) else { continue };
            let name_ptr = head.u64_at(fields.name as usize);
            let coro_ptr = head.u64_at(fields.coro as usize);
            let known = self
                .tasks
                .get(task)
                .is_some_and(|k| k.name_ptr == name_ptr && k.coro_ptr == coro_ptr);
            if !known {
                fresh.push((
                    *task,
                    head.u64_at(layout.ob_type as usize),
                    name_ptr,
                    coro_ptr,
                ));
            }
        }
        let mut not_c = false;
        if !fresh.is_empty() {
            let basicsize = layout.type_basicsize.unwrap_or(0);
            let mut more = Batch::new();
            for (_, ty, _, coro) in &fresh {
                more.push(if basicsize == 0 { 0 } else { ty + basicsize }, 8);
                let at = match fields.qualname {
                    QualnameAt::Coroutine(off) => off,
                    QualnameAt::Frame { gi_iframe } => gi_iframe + layout.iframe_executable,
                };
                more.push(if *coro == 0 { 0 } else { coro + at }, 8);
            }
            more.run(mem)?;
            let mut kept = Vec::new();
            for (i, f) in fresh.iter().enumerate() {
                let size = more.get(2 * i).map_or(0, |b| b.u64_at(0));
                // A C task's type is at least as large as a TaskObj.
                if basicsize != 0 && size < task_end as u64 {
                    not_c = true;
                    continue;
                }
                kept.push((*f, more.get(2 * i + 1).map_or(0, |b| b.u64_at(0))));
            }
            let name_addrs: Vec<u64> = kept.iter().map(|(f, _)| f.2).collect();
            let mut qual_addrs: Vec<u64> = kept.iter().map(|(_, q)| *q).collect();
            if let (QualnameAt::Frame { .. }, Some(co_qualname)) =
                (fields.qualname, layout.code_qualname)
            {
                // The coroutine's frame's code object, then its co_qualname.
                let mut codes = Batch::new();
                for q in &qual_addrs {
                    let code = q & !layout.executable_tag_mask;
                    codes.push(if code == 0 { 0 } else { code + co_qualname }, 8);
                }
                codes.run(mem)?;
                qual_addrs = (0..qual_addrs.len())
                    .map(|i| codes.get(i).map_or(0, |b| b.u64_at(0)))
                    .collect();
            }
            let mut names: Vec<Option<String>> = read_strs(mem, layout, &name_addrs, None)?
                .into_iter()
                .map(|n| n.map(|s| s.text))
                .collect();
            // 3.12+ keep a default name as the int N of `Task-N` until asked for it.
            if interp.version.minor >= 12 {
                let mut ints = Batch::new();
                let unnamed: Vec<usize> =
                    (0..names.len()).filter(|i| names[*i].is_none()).collect();
                for i in &unnamed {
                    ints.push(name_addrs[*i], long_read_len(layout));
                }
                ints.run(mem)?;
                for (slot, i) in unnamed.iter().enumerate() {
                    if let Some(n) = ints.get(slot).and_then(|b| decode_unsigned_long(layout, b)) {
                        names[*i] = Some(format!("Task-{n}"));
                    }
                }
            }
            let coros = read_strs(mem, layout, &qual_addrs, None)?;
            for (((task, _, name_ptr, coro_ptr), _), (name, coro)) in
                kept.into_iter().zip(names.into_iter().zip(coros))
            {
                self.tasks.insert(
                    task,
                    KnownTask {
                        name_ptr,
                        coro_ptr,
                        name: name.unwrap_or_else(|| "?".to_string()),
                        coroutine: coro.map_or_else(|| "?".to_string(), |s| s.text),
                    },
                );
            }
        }

        let mut running = Vec::with_capacity(pairs.len());
        for (l, task) in &pairs {
            let (Some(Some(thread)), Some(known)) = (self.loops.get(l), self.tasks.get(task))
            else {
                continue;
            };
            running.push(RunningTask {
                python_thread_id: *thread,
                id: *task,
                name: known.name.clone(),
                coroutine: known.coroutine.clone(),
            });
        }
        if running.is_empty() && not_c {
            return Ok(Err(NoTasks::NotCTasks));
        }
        Ok(Ok(running))
    }
}

/// The tasks the target's threads are running now, one per thread at most (one look).
pub fn running_tasks(interp: &Interpreter) -> Result<Result<Vec<RunningTask>, NoTasks>, ReadError> {
    match TaskReader::new(interp) {
        Ok(mut reader) => reader.read(interp),
        Err(why) => Ok(Err(why)),
    }
}
