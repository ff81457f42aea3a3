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
    decode_keys_header, decode_unsigned_long, long_read_len, read_dict_heads, read_items, Mapping,
    ValuesAt,
};
use crate::python::interpreter::Interpreter;
use crate::python::layout::{DictKeysLayout, Layout};
use crate::python::many_reads::{read_strs, ManyReads as Batch};
use crate::python::walker::Riders;
use crate::python::StackReader;

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
/// change: where `_current_tasks` is, each loop's thread and each task's strings. Read on
/// its own, a sample costs reading the dict (two syscalls) and the tasks' heads (one).
/// Read with the stacks ([`TaskReader::read_with_sample`]), what the last sample found —
/// the dict and its keys object, or 3.14+'s thread states, and the heads of the tasks
/// that ran lately — rides along in the stacks' gathered read, so a sample whose task ran
/// lately costs no syscall of its own and names the task running at the stacks' instant.
pub struct TaskReader {
    /// Where a task's fields are; for 3.14+ known once `_asyncio` is loaded.
    fields: Option<TaskFields>,
    source: Source,
    /// The main interpreter's state (3.14+; it stays where it is).
    interp_addr: Option<u64>,
    current: Option<u64>,
    /// Where the keys object of `_current_tasks` was at the last reads of it, the
    /// latest first (a dict whose entries come and go is resized every few task steps,
    /// and its keys objects take turns at a few addresses).
    recent_keys: Vec<u64>,
    /// Bytes read from the keys object, header included: enough for the last table seen.
    keys_read: usize,
    loops: rustc_hash::FxHashMap<u64, Option<u64>>,
    tasks: rustc_hash::FxHashMap<u64, KnownTask>,
    /// 3.14+: the thread states found by the last walk of the thread list, in order.
    tstates: Vec<u64>,
    /// The tasks that ran lately, the latest first (at most [`MAX_RIDING_TASKS`]).
    recent_tasks: Vec<u64>,
    /// What the stack reader was asked to read with the next sample.
    riding: Riding,
}

/// How many recently running tasks' heads ride along with each sample: an event loop
/// steps many tasks in turn, and each head is a few hundred bytes, mostly in pages that
/// hold others.
const MAX_RIDING_TASKS: usize = 32;

/// What the riders of a sample gave.
enum Ridden {
    /// The (loop, task) pairs.
    Pairs(Vec<(u64, u64)>),
    /// 3.11-3.13: `_current_tasks`'s keys object, which has moved since it was planned.
    Keys(u64),
}

/// How many of the addresses `_current_tasks`'s keys object had lately ride along.
const MAX_RIDING_KEYS: usize = 4;

/// The regions the last plan asked to be read with the sample, by rider index (kept and
/// refilled from sample to sample, so planning allocates nothing once warmed up).
#[derive(Debug, Clone, Default)]
struct Riding {
    /// Whether the plan holds (else nothing was asked for).
    planned: bool,
    /// 3.11-3.13: `_current_tasks`'s header.
    dict_head: Option<usize>,
    /// 3.11-3.13: its keys object at each address it had lately, as (address, rider).
    keys: Vec<(u64, usize)>,
    /// 3.14+: the interpreter's thread-list head.
    thread_head: Option<usize>,
    /// 3.14+: each thread state of `tstates`.
    blocks: Vec<usize>,
    /// The heads of `recent_tasks`, by address, as (task, rider).
    heads: Vec<(u64, usize)>,
}

impl Riding {
    fn clear(&mut self) {
        self.planned = false;
        self.dict_head = None;
        self.keys.clear();
        self.thread_head = None;
        self.blocks.clear();
        self.heads.clear();
    }
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
            recent_keys: Vec::new(),
            keys_read: 512,
            loops: Default::default(),
            tasks: Default::default(),
            tstates: Vec::new(),
            recent_tasks: Vec::new(),
            riding: Riding::default(),
        })
    }

    /// Bytes of a thread state read for its running task, next and thread id (3.14+).
    fn thread_block_len(layout: &Layout, o: &PublishedOffsets) -> usize {
        [o.running_task, layout.thread_next, layout.thread_id]
            .iter()
            .max()
            .map_or(8, |m| *m as usize + 8)
    }

    /// Bytes of a dict's header read: its type, keys and values pointers.
    fn dict_head_len(layout: &Layout) -> usize {
        [layout.ob_type, layout.dict_keys, layout.dict_values]
            .iter()
            .max()
            .map_or(0, |m| *m as usize + 8)
    }

    /// The running tasks as of `reader`'s last sample: from what rode along with it where
    /// that is enough, else read now; then asks `reader` to bring what the next sample
    /// needs.
    pub fn read_with_sample(
        &mut self,
        interp: &Interpreter,
        reader: &mut StackReader,
    ) -> Result<Result<Vec<RunningTask>, NoTasks>, ReadError> {
        let result = self.read_from(interp, Some(reader));
        self.forget_unreadable(reader);
        self.plan_riders(interp, reader.riders());
        result
    }

    /// Forgets the recent tasks and keys objects whose riders could not be read (freed
    /// and unmapped since), so that they are not asked for again.
    fn forget_unreadable(&mut self, reader: &StackReader) {
        let riding = &self.riding;
        if !riding.planned {
            return;
        }
        for (task, id) in &riding.heads {
            if reader.rider(*id).is_none() {
                self.recent_tasks.retain(|t| t != task);
            }
        }
        for (keys, id) in &riding.keys {
            if reader.rider(*id).is_none() {
                self.recent_keys.retain(|k| k != keys);
            }
        }
    }

    /// Asks for the next sample's riders: where the running tasks are listed, and the
    /// heads of the tasks that ran lately.
    fn plan_riders(&mut self, interp: &Interpreter, riders: &mut Riders) {
        riders.clear();
        let riding = &mut self.riding;
        riding.clear();
        let layout = &interp.layout;
        match &self.source {
            Source::CurrentTasks => {
                let Some(current) = self.current else { return };
                if self.recent_keys.is_empty() {
                    return;
                }
                riding.dict_head = Some(riders.push(current, Self::dict_head_len(layout)));
                for k in &self.recent_keys {
                    riding.keys.push((*k, riders.push(*k, self.keys_read)));
                }
            }
            Source::ThreadStates {
                offsets: Some(o), ..
            } => {
                let (Some(interp_addr), false) = (self.interp_addr, self.tstates.is_empty()) else {
                    return;
                };
                riding.thread_head = Some(riders.push(interp_addr + layout.interp_threads_head, 8));
                let len = Self::thread_block_len(layout, o);
                for t in &self.tstates {
                    riding.blocks.push(riders.push(*t, len));
                }
            }
            Source::ThreadStates { .. } => return,
        }
        if let Some(fields) = self.fields {
            let task_end = fields.name.max(fields.coro) as usize + 8;
            // By address: tasks allocated together share pages, and neighbours in the
            // push order share an iovec.
            riding
                .heads
                .extend(self.recent_tasks.iter().map(|t| (*t, 0)));
            riding.heads.sort_unstable();
            for (task, id) in riding.heads.iter_mut() {
                *id = riders.push(*task, task_end);
            }
        }
        riding.planned = true;
    }

    /// The (loop, task) pairs from what rode along with the last sample, when the plan
    /// still holds (the same keys object, or the same thread list); or just the dict's
    /// keys when they moved (a dict whose entries come and go is resized now and then).
    fn pairs_from_riders(&mut self, interp: &Interpreter, reader: &StackReader) -> Option<Ridden> {
        let layout = &interp.layout;
        let riding = &self.riding;
        if !riding.planned {
            return None;
        }
        if let Some(head) = riding.dict_head {
            let t = layout.dict_table.as_ref()?;
            let h = reader.rider(head)?;
            let now = h.u64_at(layout.dict_keys as usize);
            if h.u64_at(layout.dict_values as usize) != 0 || now == 0 {
                return None;
            }
            let Some((_, entries)) = riding.keys.iter().find(|(k, _)| *k == now) else {
                return Some(Ridden::Keys(now));
            };
            let pairs = pairs_in_keys(t, reader.rider(*entries)?).ok()?;
            self.note_keys(now);
            return Some(Ridden::Pairs(pairs));
        }
        let head = riding.thread_head?;
        let Source::ThreadStates {
            offsets: Some(o), ..
        } = &self.source
        else {
            return None;
        };
        let mut expected = reader.rider(head)?.u64_at(0);
        let mut pairs = Vec::new();
        for (tstate, id) in self.tstates.iter().zip(&riding.blocks) {
            let block = reader.rider(*id)?;
            if expected != *tstate {
                return None;
            }
            let task = block.u64_at(o.running_task as usize);
            if task != 0 {
                let thread = block.u64_at(layout.thread_id as usize);
                self.loops.insert(*tstate, Some(thread));
                pairs.push((*tstate, task));
            }
            expected = block.u64_at(layout.thread_next as usize);
        }
        (expected == 0).then_some(Ridden::Pairs(pairs))
    }

    /// The head of `task` as it rode along with the last sample, if it did.
    fn riding_head<'r>(&self, reader: Option<&'r StackReader>, task: u64) -> Option<&'r [u8]> {
        let reader = reader?;
        if !self.riding.planned {
            return None;
        }
        let (_, id) = self.riding.heads.iter().find(|(t, _)| *t == task)?;
        reader.rider(*id)
    }

    /// Puts the keys object read now first among the recent ones.
    fn note_keys(&mut self, keys: u64) {
        self.recent_keys.retain(|k| *k != keys);
        self.recent_keys.insert(0, keys);
        self.recent_keys.truncate(MAX_RIDING_KEYS);
    }

    /// Puts the tasks running now first among the recent ones.
    fn note_recent(&mut self, pairs: &[(u64, u64)]) {
        for (_, task) in pairs.iter().rev() {
            if let Some(i) = self.recent_tasks.iter().position(|t| t == task) {
                self.recent_tasks.remove(i);
            }
            self.recent_tasks.insert(0, *task);
        }
        self.recent_tasks.truncate(MAX_RIDING_TASKS);
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
        let len = Self::thread_block_len(layout, &offsets);
        let mut pairs = Vec::new();
        let mut seen = 0;
        self.tstates.clear();
        while tstate != 0 && seen < MAX_LOOPS {
            seen += 1;
            self.tstates.push(tstate);
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
        if tstate != 0 {
            // More threads than are read: no plan to ride on.
            self.tstates.clear();
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
    /// entries at once), one when the header has been read (`keys`: where it says the
    /// keys object is), else through [`read_items`].
    fn current_items(
        &mut self,
        interp: &Interpreter,
        current: u64,
        keys: Option<u64>,
    ) -> Result<Option<Vec<(u64, u64)>>, ReadError> {
        let layout = &interp.layout;
        let mem = &*interp.mem;
        let Some(t) = layout.dict_table.as_ref() else {
            return Ok(None);
        };
        let mapping = match keys {
            Some(keys) => Mapping {
                keys,
                values: ValuesAt::Entries,
            },
            None => match read_dict_heads(mem, layout, &[current])?
                .into_iter()
                .next()
                .flatten()
            {
                Some(head) => head.mapping,
                None => return Ok(None),
            },
        };
        if mapping.values == ValuesAt::Entries {
            let mut batch = Batch::new();
            batch.push(mapping.keys, self.keys_read);
            batch.run(mem)?;
            if let Some(bytes) = batch.get(0) {
                match pairs_in_keys(t, bytes) {
                    Ok(pairs) => {
                        self.note_keys(mapping.keys);
                        return Ok(Some(pairs));
                    }
                    Err(Some(end)) => self.keys_read = end.min(MAX_KEYS_READ),
                    Err(None) => {}
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
        self.read_from(interp, None)
    }

    /// [`TaskReader::read`], taking what rode along with `reader`'s last sample first.
    fn read_from(
        &mut self,
        interp: &Interpreter,
        reader: Option<&StackReader>,
    ) -> Result<Result<Vec<RunningTask>, NoTasks>, ReadError> {
        let ridden = reader.and_then(|r| self.pairs_from_riders(interp, r));
        let moved_keys = match ridden {
            Some(Ridden::Pairs(pairs)) => return self.name_tasks(interp, Some(pairs), reader),
            Some(Ridden::Keys(keys)) => Some(keys),
            None => None,
        };
        let pairs = match &self.source {
            Source::ThreadStates { .. } => self.thread_tasks(interp)?,
            Source::CurrentTasks => match self.current_tasks(interp)? {
                Some(current) => self.current_items(interp, current, moved_keys)?,
                None => None,
            },
        };
        self.name_tasks(interp, pairs, reader)
    }

    /// The running tasks of `pairs` (None: asyncio's tables not there), named through the
    /// heads that rode along with `reader`'s sample or read now.
    fn name_tasks(
        &mut self,
        interp: &Interpreter,
        pairs: Option<Vec<(u64, u64)>>,
        reader: Option<&StackReader>,
    ) -> Result<Result<Vec<RunningTask>, NoTasks>, ReadError> {
        let layout = &interp.layout;
        let mem = &*interp.mem;
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
        self.note_recent(&pairs);

        // The tasks' heads (name and coroutine pointers) that did not ride along, and the
        // types of loops not seen before, in one read (none when there are none).
        let new_loops: Vec<u64> = pairs
            .iter()
            .map(|(l, _)| *l)
            .filter(|l| !self.loops.contains_key(l))
            .collect();
        let mut batch = Batch::new();
        let mut heads: Vec<Option<&[u8]>> = Vec::with_capacity(pairs.len());
        let mut unread = Vec::new();
        for (i, (_, task)) in pairs.iter().enumerate() {
            let riding = self
                .riding_head(reader, *task)
                .filter(|b| b.len() == task_end);
            if riding.is_none() {
                unread.push((i, batch.push(*task, task_end)));
            }
            heads.push(riding);
        }
        let loop_types: Vec<usize> = new_loops
            .iter()
            .map(|l| batch.push(l + layout.ob_type, 8))
            .collect();
        batch.run(mem)?;
        for (i, at) in unread {
            heads[i] = batch.get(at);
        }
        if !new_loops.is_empty() {
            let loops: Vec<(u64, u64)> = new_loops
                .iter()
                .enumerate()
                .map(|(i, l)| (*l, batch.get(loop_types[i]).map_or(0, |b| b.u64_at(0))))
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
        for ((_, task), head) in pairs.iter().zip(&heads) {
            let Some(head) = head else { continue };
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

/// The (key, value) pairs of a combined keys object read whole into `bytes`; else the
/// length it needs (`Err(Some)`), or `Err(None)` when it is no keys object.
fn pairs_in_keys(t: &DictKeysLayout, bytes: &[u8]) -> Result<Vec<(u64, u64)>, Option<usize>> {
    let h = decode_keys_header(t, bytes).map_err(|_| None)?;
    let end = h.entries as usize + h.entries_len();
    if end > bytes.len() {
        return Err(Some(end));
    }
    let size = h.entry.size as usize;
    Ok((0..h.nentries as usize)
        .map(|i| {
            let at = h.entries as usize + i * size;
            (
                bytes.u64_at(at + h.entry.key as usize),
                bytes.u64_at(at + h.entry.value as usize),
            )
        })
        .filter(|(k, v)| *k != 0 && *v != 0)
        .take(MAX_LOOPS)
        .collect())
}

/// The tasks the target's threads are running now, one per thread at most (one look).
pub fn running_tasks(interp: &Interpreter) -> Result<Result<Vec<RunningTask>, NoTasks>, ReadError> {
    match TaskReader::new(interp) {
        Ok(mut reader) => reader.read(interp),
        Err(why) => Ok(Err(why)),
    }
}
