//! Every asyncio Task of a process, running or waiting: where each waiting task is parked
//! (its coroutine chain, `cr_await` by `cr_await` down to the awaited future, as frames at
//! their `await` lines) and which task awaits which (`dump --async`, `record --async
//! --idle`).
//!
//! Where the tasks are: 3.11 `asyncio.tasks._all_tasks` (a WeakSet), 3.12-3.13
//! `_scheduled_tasks` (a WeakSet) and `_eager_tasks` (a set), all the `_asyncio` module's
//! own; 3.14+ each thread state's ring of tasks and the interpreter's ring of the tasks of
//! threads that have ended, at the offsets `_asyncio` publishes. Only `_asyncio.Task`
//! objects are taken (a subclass or the pure-Python task is not).
//!
//! Which task awaits which: 3.14+ publish it (`fut_awaited_by`). 3.11-3.13: a task's
//! `fut_waiter` is the task it awaits, or a `gather`'s future whose `_children` are; a
//! `TaskGroup`'s child carries the group's `_on_task_done` as its first done-callback, and
//! the group's `_parent_task` awaits it.
//!
//! Everything is bounded: at most [`MAX_TASKS`] tasks (the set says when it was capped),
//! [`MAX_CHAIN`] coroutines per chain.

use super::layout::AsyncioLayout;
use super::published::PublishedOffsets;
use super::running::{NoTasks, RunningTask};
use crate::process::{Bytes, Memory, ReadError};
use crate::python::attrs::attr_many;
use crate::python::code::{CodeCache, PendingFrame};
use crate::python::debug_offsets::DebugOffsets;
use crate::python::dicts::{decode_unsigned_long, long_read_len, lookup_str, read_dict_heads};
use crate::python::interpreter::Interpreter;
use crate::python::layout::Layout;
use crate::python::many_reads::{read_strs, ManyReads as Batch};
use crate::python::stack::RawFrame;
use rustc_hash::FxHashMap;

use crate::limits::{
    MAX_ASYNC_TASKS as MAX_TASKS, MAX_AWAIT_CHAIN as MAX_CHAIN,
    MAX_GATHER_CHILDREN as MAX_CHILDREN, MAX_GATHER_DEPTH, MAX_SET_SLOTS,
};
/// The type name of the C tasks.
const TASK_TYPE: &str = "_asyncio.Task";

/// One task as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTask {
    /// The task object's address (`id(task)`).
    pub id: u64,
    pub name: String,
    /// The qualified name of the task's coroutine ("?" when unreadable).
    pub coroutine: String,
    /// The thread running it now (`threading.get_ident()`); `None`: it is waiting.
    pub running_on: Option<u64>,
    /// Where it is parked, innermost first (empty for a running task).
    pub frames: Vec<RawFrame>,
    /// The tasks it awaits (ids), and those awaiting it.
    pub awaits: Vec<u64>,
    pub awaited_by: Vec<u64>,
}

/// Every task found at one look.
#[derive(Debug, Default)]
pub struct TaskSet {
    pub tasks: Vec<FoundTask>,
    /// There were more than [`MAX_TASKS`] tasks: only that many were read.
    pub capped: bool,
}

/// Version data: where a suspended coroutine's awaited object is.
#[derive(Debug, Clone, Copy)]
enum StackTop {
    /// 3.11-3.13: `localsplus[stacktop - 1]`; 3.11-3.12 check the next instruction is a
    /// `RESUME` after `await` (`yield from`) (any of the version's `RESUME` opcodes,
    /// quickened and instrumented ones too: `[bytecode] resumes`), 3.13 have a frame
    /// state saying so.
    Index {
        stacktop: u64,
        localsplus: u64,
        check_resume: bool,
    },
    /// 3.14+: `stackpointer[-below]`, a tagged stack reference. 3.14: the top (`below`
    /// 1); 3.15 pushes a NULL above the awaitable before its `SEND` (`below` 2, the slot
    /// above it checked to be that NULL).
    Pointer { stackpointer: u64, below: u64 },
}

/// Coroutine (`PyGenObject`) fields.
#[derive(Debug, Clone, Copy)]
struct CoroFields {
    frame_state: u64,
    iframe: u64,
    top: StackTop,
    /// The `gi_frame_state`s of a suspended coroutine, and of one suspended in an `await`
    /// (3.13+; 3.11-3.12 tell the latter by the next instruction).
    suspended: (i8, i8),
    yield_from: (i8, i8),
}

/// Where the tasks are.
enum Where {
    /// 3.11-3.13: `asyncio.tasks` globals holding WeakSets (`weak`) and sets of tasks.
    Sets {
        alayout: AsyncioLayout,
        weak: &'static [&'static str],
        strong: &'static [&'static str],
    },
    /// 3.14+: the thread states' and the interpreter's rings.
    Rings { offsets: Option<PublishedOffsets> },
}

/// Reads every task of one process, again and again.
pub struct AllTasksReader {
    place: Where,
    coro: CoroFields,
    /// Task object fields: name, coroutine.
    name_at: u64,
    coro_at: u64,
    /// The task sets once found (3.11-3.13): each global's set (a WeakSet's `data`, which
    /// it keeps for its life), and whether its members are weak references.
    containers: Option<Vec<(u64, bool)>>,
    /// Type address → is `_asyncio.Task`.
    task_types: FxHashMap<u64, bool>,
    /// Task → (name pointer, name): names are read once.
    names: FxHashMap<u64, (u64, String)>,
    /// 3.14+: the ring nodes the last read went through (read again in one batch).
    ring_nodes: Vec<u64>,
}

/// `PyStackRef_NULL` of 3.15 (`Py_TAG_REFCNT` alone).
const STACKREF_NULL: u64 = 1;

impl AllTasksReader {
    /// A reader for `interp`'s version, or why its tasks cannot be read.
    pub fn new(interp: &Interpreter) -> Result<AllTasksReader, NoTasks> {
        let minor = interp.version.minor;
        let no = || NoTasks::Version(format!("3.{minor}"));
        // 3.15 renumbered the frame states (created 0, suspended 1-3, executing 4).
        let (suspended, yield_from) = match minor {
            11 | 12 => ((-1, -1), (-1, -1)),
            13 | 14 => ((-2, -1), (-1, -1)),
            _ => ((1, 3), (2, 3)),
        };
        if minor >= 14 {
            let debug = DebugOffsets::read(&*interp.mem, interp.runtime)
                .ok()
                .flatten()
                .ok_or_else(no)?;
            let get = |k: &str| debug.get(k).ok_or_else(no);
            return Ok(AllTasksReader {
                place: Where::Rings { offsets: None },
                coro: CoroFields {
                    frame_state: get("gen_object.gi_frame_state")?,
                    iframe: get("gen_object.gi_iframe")?,
                    top: StackTop::Pointer {
                        stackpointer: get("interpreter_frame.stackpointer")?,
                        below: if minor >= 15 { 2 } else { 1 },
                    },
                    suspended,
                    yield_from,
                },
                name_at: 0,
                coro_at: 0,
                containers: None,
                task_types: FxHashMap::default(),
                names: FxHashMap::default(),
                ring_nodes: Vec::new(),
            });
        }
        let alayout = AsyncioLayout::for_minor(minor).ok_or_else(no)?;
        interp.layout.module_dict.ok_or_else(no)?;
        let (weak, strong): (&[&str], &[&str]) = if minor == 11 {
            (&["_all_tasks"], &[])
        } else {
            (&["_scheduled_tasks"], &["_eager_tasks"])
        };
        Ok(AllTasksReader {
            coro: CoroFields {
                frame_state: alayout.coroutine.frame_state,
                iframe: alayout.coroutine.iframe,
                top: StackTop::Index {
                    stacktop: alayout.frame.stacktop,
                    localsplus: alayout.frame.localsplus,
                    check_resume: minor < 13,
                },
                suspended,
                yield_from,
            },
            name_at: alayout.task.name,
            coro_at: alayout.task.coro,
            place: Where::Sets {
                alayout,
                weak,
                strong,
            },
            containers: None,
            task_types: FxHashMap::default(),
            names: FxHashMap::default(),
            ring_nodes: Vec::new(),
        })
    }

    /// Every task now: names, coroutine chains (code objects decoded into `codes`), and,
    /// with `relations`, which awaits which. `running` are the tasks the threads run.
    pub fn read(
        &mut self,
        interp: &Interpreter,
        codes: &mut CodeCache,
        running: &[RunningTask],
        relations: bool,
    ) -> Result<Result<TaskSet, NoTasks>, ReadError> {
        let mem = &*interp.mem;
        let layout = &interp.layout;
        let (addrs, capped) = match self.task_addresses(interp)? {
            Ok(found) => found,
            Err(why) => return Ok(Err(why)),
        };
        // The tasks' heads.
        let head_len = self.head_len();
        let mut heads = Batch::new();
        for a in &addrs {
            heads.push(*a, head_len);
        }
        heads.run(mem)?;
        // Only C tasks (their types' names are read once).
        let types: Vec<u64> = (0..addrs.len())
            .map(|i| {
                heads
                    .get(i)
                    .map_or(0, |h| h.u64_at(layout.ob_type as usize))
            })
            .collect();
        self.learn_types(mem, layout, &types)?;
        let keep: Vec<usize> = (0..addrs.len())
            .filter(|i| types[*i] != 0 && self.task_types.get(&types[*i]) == Some(&true))
            .collect();
        let mut tasks: Vec<FoundTask> = Vec::with_capacity(keep.len());
        let mut coros = Vec::with_capacity(keep.len());
        for &i in &keep {
            let head = heads.get(i).unwrap_or(&[]);
            let id = addrs[i];
            tasks.push(FoundTask {
                id,
                name: String::new(),
                coroutine: "?".to_string(),
                running_on: running
                    .iter()
                    .find(|r| r.id == id)
                    .map(|r| r.python_thread_id),
                frames: Vec::new(),
                awaits: Vec::new(),
                awaited_by: Vec::new(),
            });
            coros.push(head.u64_at(self.coro_at as usize));
        }
        let name_ptrs: Vec<u64> = keep
            .iter()
            .map(|i| heads.get(*i).map_or(0, |h| h.u64_at(self.name_at as usize)))
            .collect();
        self.read_names(interp, &mut tasks, &name_ptrs)?;
        self.read_chains(interp, codes, &mut tasks, &coros)?;
        if relations {
            let index: FxHashMap<u64, usize> =
                tasks.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
            let edges = match &self.place {
                Where::Sets { alayout, .. } => {
                    let heads: Vec<&[u8]> =
                        keep.iter().map(|i| heads.get(*i).unwrap_or(&[])).collect();
                    waiter_edges(mem, layout, alayout, &heads, &index)?
                }
                Where::Rings { offsets } => match offsets {
                    Some(o) => {
                        let heads: Vec<&[u8]> =
                            keep.iter().map(|i| heads.get(*i).unwrap_or(&[])).collect();
                        published_edges(mem, layout, o, &heads, &index)?
                    }
                    None => Vec::new(),
                },
            };
            for (parent, child) in edges {
                let (p, c) = (tasks[parent].id, tasks[child].id);
                if parent == child || tasks[parent].awaits.contains(&c) {
                    continue;
                }
                tasks[parent].awaits.push(c);
                tasks[child].awaited_by.push(p);
            }
        }
        Ok(Ok(TaskSet { tasks, capped }))
    }

    fn head_len(&self) -> usize {
        let fields = match &self.place {
            Where::Sets { alayout, .. } => {
                let t = alayout.task;
                [
                    t.state,
                    t.fut_waiter,
                    t.coro,
                    t.name,
                    t.callback0,
                    t.callbacks,
                ]
                .into_iter()
                .max()
                .unwrap_or(0)
            }
            Where::Rings { offsets } => offsets.map_or(0, |o| {
                [o.task_name, o.task_coro, o.task_awaited_by, o.task_node]
                    .into_iter()
                    .max()
                    .unwrap_or(0)
            }),
        };
        fields as usize + 16
    }

    /// Decides which of `types` are `_asyncio.Task` (by `tp_name`), for those not seen.
    fn learn_types(
        &mut self,
        mem: &dyn Memory,
        layout: &Layout,
        types: &[u64],
    ) -> Result<(), ReadError> {
        let mut new: Vec<u64> = types
            .iter()
            .copied()
            .filter(|t| *t != 0 && !self.task_types.contains_key(t))
            .collect();
        new.sort_unstable();
        new.dedup();
        if new.is_empty() {
            return Ok(());
        }
        if self.task_types.len() > 4096 {
            self.task_types.clear();
        }
        let Some(basicsize) = layout.type_basicsize else {
            // No way to tell: take them all (the heads' reads stay bounded).
            for t in new {
                self.task_types.insert(t, true);
            }
            return Ok(());
        };
        // `tp_name` (a C string) is the field just before `tp_basicsize`.
        let mut ptrs = Batch::new();
        for t in &new {
            ptrs.push(t + basicsize - 8, 8);
        }
        ptrs.run(mem)?;
        let mut names = Batch::new();
        for i in 0..new.len() {
            names.push(ptrs.get(i).map_or(0, |b| b.u64_at(0)), TASK_TYPE.len() + 1);
        }
        names.run(mem)?;
        for (i, t) in new.iter().enumerate() {
            let is_task = names.get(i).is_some_and(|b| {
                b.get(..TASK_TYPE.len()) == Some(TASK_TYPE.as_bytes()) && b[TASK_TYPE.len()] == 0
            });
            self.task_types.insert(*t, is_task);
        }
        Ok(())
    }

    /// The addresses of every task (at most [`MAX_TASKS`]), and whether there were more.
    fn task_addresses(
        &mut self,
        interp: &Interpreter,
    ) -> Result<Result<(Vec<u64>, bool), NoTasks>, ReadError> {
        match &self.place {
            Where::Sets { weak, strong, .. } => {
                let (weak, strong) = (*weak, *strong);
                if self.containers.is_none() {
                    let Some(found) = find_globals(interp, weak, strong)? else {
                        return Ok(Err(NoTasks::NotImported));
                    };
                    let sets = task_sets(interp, &found)?;
                    if sets.is_empty() {
                        // Asked again at the next read.
                        return Ok(Ok((Vec::new(), false)));
                    }
                    self.containers = Some(sets);
                }
                let containers = self.containers.clone().unwrap_or_default();
                Ok(Ok(set_tasks(interp, &containers)?))
            }
            Where::Rings { .. } => self.ring_tasks(interp),
        }
    }

    /// 3.14+: the tasks of every thread's ring, then the interpreter's.
    fn ring_tasks(
        &mut self,
        interp: &Interpreter,
    ) -> Result<Result<(Vec<u64>, bool), NoTasks>, ReadError> {
        let Where::Rings { offsets } = &mut self.place else {
            return Ok(Ok((Vec::new(), false)));
        };
        if offsets.is_none() {
            match PublishedOffsets::find(interp.pid, Some(interp.binary.as_str())) {
                Ok(Some(found)) => *offsets = Some(found),
                Ok(None) => return Ok(Err(NoTasks::NotImported)),
                Err(why) => return Ok(Err(NoTasks::Unpublished(why))),
            }
        }
        let Some(o) = *offsets else {
            return Ok(Err(NoTasks::NotImported));
        };
        self.name_at = o.task_name;
        self.coro_at = o.task_coro;
        let mem = &*interp.mem;
        let layout = &interp.layout;
        let interp_addr = mem.read_u64(interp.runtime + layout.runtime_interpreters_head)?;
        let mut heads = Vec::new();
        let mut tstate = mem.read_u64(interp_addr + layout.interp_threads_head)?;
        let mut threads = 0;
        while tstate != 0 && threads < super::running::MAX_LOOPS {
            threads += 1;
            heads.push(tstate + o.thread_tasks_head);
            tstate = mem.read_u64(tstate + layout.thread_next)?;
        }
        heads.push(interp_addr + o.interp_tasks_head);
        // The rings' heads and every node the last walk went through, in one batched read;
        // only nodes new since then are read one by one.
        let mut known = Batch::new();
        for a in heads.iter().chain(&self.ring_nodes) {
            known.push(*a, 8);
        }
        known.run(mem)?;
        let mut next_of: FxHashMap<u64, u64> = FxHashMap::default();
        for (i, a) in heads.iter().chain(&self.ring_nodes).enumerate() {
            if let Some(b) = known.get(i) {
                next_of.insert(*a, b.u64_at(0));
            }
        }
        let read_next = |a: u64| match next_of.get(&a) {
            Some(n) => Ok(*n),
            None => mem.read_u64(a),
        };
        self.ring_nodes.clear();
        let mut tasks = Vec::new();
        let mut capped = false;
        for head in heads {
            let mut node = read_next(head)?;
            let mut steps = 0;
            while node != 0 && node != head {
                if tasks.len() >= MAX_TASKS {
                    capped = true;
                    break;
                }
                steps += 1;
                if steps > MAX_TASKS {
                    break;
                }
                tasks.push(node - o.task_node);
                self.ring_nodes.push(node);
                node = match read_next(node) {
                    Ok(n) => n,
                    // A task freed under the walk: the rest of this ring is lost.
                    Err(_) => break,
                };
            }
        }
        Ok(Ok((tasks, capped)))
    }

    /// Each task's name: its str, or 3.12+'s int N of a default `Task-N`. Names are kept
    /// by task and name pointer, so each is read once.
    fn read_names(
        &mut self,
        interp: &Interpreter,
        tasks: &mut [FoundTask],
        ptrs: &[u64],
    ) -> Result<(), ReadError> {
        let mem = &*interp.mem;
        let layout = &interp.layout;
        let mut missing = Vec::new();
        for (i, t) in tasks.iter_mut().enumerate() {
            match self.names.get(&t.id) {
                Some((p, name)) if *p == ptrs[i] => t.name = name.clone(),
                _ => missing.push(i),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let addrs: Vec<u64> = missing.iter().map(|i| ptrs[*i]).collect();
        let mut names: Vec<Option<String>> = read_strs(mem, layout, &addrs, None)?
            .into_iter()
            .map(|n| n.map(|s| s.text))
            .collect();
        if interp.version.minor >= 12 {
            let unnamed: Vec<usize> = (0..names.len()).filter(|i| names[*i].is_none()).collect();
            let mut ints = Batch::new();
            for i in &unnamed {
                ints.push(addrs[*i], long_read_len(layout));
            }
            ints.run(mem)?;
            for (slot, i) in unnamed.iter().enumerate() {
                if let Some(n) = ints.get(slot).and_then(|b| decode_unsigned_long(layout, b)) {
                    names[*i] = Some(format!("Task-{n}"));
                }
            }
        }
        if self.names.len() > 2 * MAX_TASKS {
            self.names.clear();
        }
        for (slot, i) in missing.into_iter().enumerate() {
            let name = names[slot].take().unwrap_or_else(|| "?".to_string());
            self.names.insert(tasks[i].id, (ptrs[i], name.clone()));
            tasks[i].name = name;
        }
        Ok(())
    }

    /// Follows every task's coroutine down its `await`s, one level for all tasks at a
    /// time (two batched reads a level), and resolves the frames into `codes` (their
    /// cached code objects checked in one more batched read).
    fn read_chains(
        &self,
        interp: &Interpreter,
        codes: &mut CodeCache,
        tasks: &mut [FoundTask],
        coros: &[u64],
    ) -> Result<(), ReadError> {
        let mem = &*interp.mem;
        let layout = &interp.layout;
        let c = self.coro;
        let frame_fields = [
            layout.iframe_executable,
            layout.iframe_instr_ptr,
            match c.top {
                StackTop::Index { stacktop, .. } => stacktop,
                StackTop::Pointer { stackpointer, .. } => stackpointer,
            },
        ];
        let gen_len = (c.iframe + frame_fields.iter().max().copied().unwrap_or(0) + 8)
            .max(c.frame_state + 1)
            .max(layout.ob_type + 8) as usize;
        let adaptive = layout.code_adaptive.unwrap_or(0);
        // (task index, coroutine address) still being followed.
        let mut level: Vec<(usize, u64)> = coros
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 0)
            .map(|(i, c)| (i, *c))
            .collect();
        let mut chains: Vec<Vec<PendingFrame>> = vec![Vec::new(); tasks.len()];
        // The coroutine type: that of the tasks' own coroutines.
        let mut coro_types: Vec<u64> = Vec::new();
        for depth in 0..MAX_CHAIN {
            if level.is_empty() {
                break;
            }
            let mut gens = Batch::new();
            for (_, g) in &level {
                gens.push(*g, gen_len);
            }
            gens.run(mem)?;
            // (task, frame address, where the awaited object's slot is, instr)
            let mut next: Vec<(usize, u64, u64)> = Vec::new();
            for (slot, (t, g)) in level.iter().enumerate() {
                let Some(b) = gens.get(slot) else { continue };
                let ty = b.u64_at(layout.ob_type as usize);
                if depth == 0 {
                    if !coro_types.contains(&ty) && coro_types.len() < 8 {
                        coro_types.push(ty);
                    }
                } else if !coro_types.contains(&ty) {
                    // Not a coroutine: the future (or other awaitable) at the end.
                    continue;
                }
                let state = b.u8_at(c.frame_state as usize) as i8;
                let f = c.iframe as usize;
                let code =
                    b.u64_at(f + layout.iframe_executable as usize) & !layout.executable_tag_mask;
                let instr = b.u64_at(f + layout.iframe_instr_ptr as usize);
                let suspended = (c.suspended.0..=c.suspended.1).contains(&state);
                if code == 0 || !suspended && depth > 0 {
                    continue;
                }
                if !suspended {
                    // Running (or finished): only its name is wanted.
                    chains[*t].push(PendingFrame {
                        frame: g + c.iframe,
                        code,
                        byte_offset: 0,
                        may_be_unstarted: false,
                        called_from_c: true,
                    });
                    continue;
                }
                let byte_offset = (instr as i64).wrapping_sub((code + adaptive) as i64);
                chains[*t].push(PendingFrame {
                    frame: g + c.iframe,
                    code,
                    byte_offset,
                    may_be_unstarted: false,
                    called_from_c: true,
                });
                if !(c.yield_from.0..=c.yield_from.1).contains(&state) {
                    continue;
                }
                // Where the awaitable's stack slot is (on 3.15, followed by its NULL).
                let slot_addr = match c.top {
                    StackTop::Index {
                        stacktop,
                        localsplus,
                        ..
                    } => {
                        let depth = b.i32_at(f + stacktop as usize);
                        if !(1..=1 << 16).contains(&depth) {
                            continue;
                        }
                        g + c.iframe + localsplus + (depth as u64 - 1) * 8
                    }
                    StackTop::Pointer {
                        stackpointer,
                        below,
                    } => {
                        let sp = b.u64_at(f + stackpointer as usize);
                        if sp < 8 * below {
                            continue;
                        }
                        sp - 8 * below
                    }
                };
                next.push((*t, slot_addr, instr));
            }
            // The awaited objects (and, 3.11-3.12, the instruction after the yield).
            let (check_resume, below) = match c.top {
                StackTop::Index { check_resume, .. } => (check_resume, 1),
                StackTop::Pointer { below, .. } => (false, below),
            };
            // Without the version's opcode facts no instruction passes as a RESUME.
            let is_resume = |op: u8| layout.bytecode.as_ref().is_some_and(|b| b.is_resume(op));
            let mut tops = Batch::new();
            for (_, slot, instr) in &next {
                tops.push(*slot, 8 * below as usize);
                if check_resume {
                    tops.push(instr + 2, 2);
                }
            }
            tops.run(mem)?;
            let per = if check_resume { 2 } else { 1 };
            level = next
                .iter()
                .enumerate()
                .filter_map(|(i, (t, _, _))| {
                    if check_resume {
                        let unit = tops.get(per * i + 1)?;
                        if !is_resume(unit.u8_at(0)) || unit.u8_at(1) < 2 {
                            return None;
                        }
                    }
                    let slots = tops.get(per * i)?;
                    if below == 2 && slots.u64_at(8) != STACKREF_NULL {
                        return None;
                    }
                    let obj = slots.u64_at(0) & !3;
                    (obj != 0).then_some((*t, obj))
                })
                .collect();
        }
        // Every chain's cached code objects checked in one batched read (each task's own
        // read again only if that one fails).
        let all: Vec<PendingFrame> = chains.iter().flatten().copied().collect();
        let together = codes.validate(mem, layout, &all).is_ok();
        let mut frames = Vec::new();
        let mut addresses = Vec::new();
        for (task, mut chain) in tasks.iter_mut().zip(chains) {
            if chain.is_empty() {
                continue;
            }
            frames.clear();
            addresses.clear();
            if !together && codes.validate(mem, layout, &chain).is_err() {
                continue;
            }
            chain.reverse();
            if codes
                .resolve_validated(mem, layout, &chain, &mut frames, &mut addresses)
                .is_err()
            {
                continue;
            }
            // The outermost is the task's own coroutine.
            if let Some(outer) = frames.last() {
                task.coroutine = codes.table.get(outer.code).qualname.clone();
            }
            if task.running_on.is_none() {
                task.frames = frames.clone();
            }
        }
        Ok(())
    }
}

/// The `asyncio.tasks` globals `weak` (WeakSets) and `strong` (sets), as (object, weak)
/// pairs; `None` while asyncio is not imported (or none of them is there).
pub(super) fn find_globals(
    interp: &Interpreter,
    weak: &[&str],
    strong: &[&str],
) -> Result<Option<Vec<(u64, bool)>>, ReadError> {
    let layout = &interp.layout;
    let mem = &*interp.mem;
    let Some(module_dict) = layout.module_dict else {
        return Ok(None);
    };
    let interp_addr = mem.read_u64(interp.runtime + layout.runtime_interpreters_head)?;
    let modules = mem.read_u64(interp_addr + layout.interp_modules)?;
    let lookup = |dict: u64, key: &str| -> Result<Option<u64>, ReadError> {
        let heads = read_dict_heads(mem, layout, &[dict])?;
        let mappings: Vec<_> = heads.iter().map(|h| h.map(|h| h.mapping)).collect();
        Ok(lookup_str(mem, layout, &mappings, key)?.values[0])
    };
    let Some(module) = lookup(modules, "asyncio.tasks")? else {
        return Ok(None);
    };
    let globals = mem.read_u64(module + module_dict)?;
    let mut found = Vec::new();
    for (names, is_weak) in [(weak, true), (strong, false)] {
        for name in names {
            if let Some(obj) = lookup(globals, name)? {
                found.push((obj, is_weak));
            }
        }
    }
    Ok((!found.is_empty()).then_some(found))
}

/// The objects of the set at `set` (its non-null, non-dummy keys; at most `room`), and
/// whether it held more.
fn set_members(
    mem: &dyn Memory,
    layout: &Layout,
    set: u64,
    room: usize,
) -> Result<(Vec<u64>, bool), ReadError> {
    // `PySetObject`: fill, used, mask, table after the object head.
    let h = layout.ob_type + 8;
    let mut head = [0u8; 32];
    if mem.read(set + h, &mut head).is_err() {
        return Ok((Vec::new(), false));
    }
    let used = head.u64_at(8);
    let mask = head.u64_at(16);
    let table = head.u64_at(24);
    if table == 0 || mask >= MAX_SET_SLOTS || !(mask + 1).is_power_of_two() {
        return Ok((Vec::new(), false));
    }
    let mut bytes = vec![0u8; (mask as usize + 1) * 16];
    if mem.read(table, &mut bytes).is_err() {
        return Ok((Vec::new(), false));
    }
    let mut keys: Vec<u64> = (0..=mask as usize)
        .map(|i| bytes.u64_at(i * 16))
        .filter(|k| *k != 0)
        .collect();
    // The one dummy key (a deleted slot) is the same object everywhere: drop a key seen
    // more than once.
    keys.sort_unstable();
    let mut members = Vec::with_capacity(keys.len().min(room));
    let mut i = 0;
    while i < keys.len() {
        let mut j = i + 1;
        while j < keys.len() && keys[j] == keys[i] {
            j += 1;
        }
        if j == i + 1 {
            members.push(keys[i]);
        }
        i = j;
    }
    let more = members.len() > room || used as usize > room;
    members.truncate(room);
    Ok((members, more))
}

/// 3.11-3.13: the sets holding the tasks, from the `asyncio.tasks` globals (a WeakSet's
/// `data`), each with whether it holds weak references.
fn task_sets(
    interp: &Interpreter,
    containers: &[(u64, bool)],
) -> Result<Vec<(u64, bool)>, ReadError> {
    let mem = &*interp.mem;
    let layout = &interp.layout;
    let mut sets = Vec::with_capacity(containers.len());
    for (obj, weak) in containers {
        if *weak {
            let ty = mem.read_u64(obj + layout.ob_type)?;
            if let Some(set) = attr_many(mem, layout, &[(*obj, ty)], "data")?.values[0] {
                sets.push((set, true));
            }
        } else {
            sets.push((*obj, false));
        }
    }
    Ok(sets)
}

/// 3.11-3.13: the members of the task sets (weak ones through their weakrefs).
fn set_tasks(interp: &Interpreter, sets: &[(u64, bool)]) -> Result<(Vec<u64>, bool), ReadError> {
    let mem = &*interp.mem;
    let layout = &interp.layout;
    let mut all = Vec::new();
    let mut capped = false;
    for (set, weak) in sets {
        let set = *set;
        let room = MAX_TASKS.saturating_sub(all.len());
        let (members, more) = set_members(mem, layout, set, room)?;
        capped |= more;
        if *weak {
            // `wr_object`, right after the weakref's object head.
            let mut refs = Batch::new();
            for r in &members {
                refs.push(r + layout.ob_type + 8, 8);
            }
            refs.run(mem)?;
            all.extend((0..members.len()).filter_map(|i| refs.get(i).map(|b| b.u64_at(0))));
        } else {
            all.extend(members);
        }
    }
    all.retain(|a| *a != 0);
    all.sort_unstable();
    all.dedup();
    Ok((all, capped))
}

/// 3.11-3.13: (parent, child) pairs by index: `fut_waiter` (a task, or a `gather`'s
/// future and its `_children`), and `TaskGroup` children's first done-callback.
fn waiter_edges(
    mem: &dyn Memory,
    layout: &Layout,
    alayout: &AsyncioLayout,
    heads: &[&[u8]],
    index: &FxHashMap<u64, usize>,
) -> Result<Vec<(usize, usize)>, ReadError> {
    let mut edges = Vec::new();
    let h = layout.ob_type + 8;
    // Parent side: what each waiting task waits on.
    let mut futures: Vec<(usize, u64)> = Vec::new();
    for (i, head) in heads.iter().enumerate() {
        let waiter = head.u64_at(alayout.task.fut_waiter as usize);
        if waiter == 0 {
            continue;
        }
        match index.get(&waiter) {
            Some(c) => edges.push((i, *c)),
            None => futures.push((i, waiter)),
        }
    }
    // `gather`: the future's `_children` (a list), nested gathers followed.
    for _ in 0..MAX_GATHER_DEPTH {
        if futures.is_empty() {
            break;
        }
        let mut types = Batch::new();
        for (_, f) in &futures {
            types.push(f + layout.ob_type, 8);
        }
        types.run(mem)?;
        let objs: Vec<(u64, u64)> = futures
            .iter()
            .enumerate()
            .map(|(i, (_, f))| (*f, types.get(i).map_or(0, |b| b.u64_at(0))))
            .collect();
        let lists = attr_many(mem, layout, &objs, "_children")?.values;
        let mut heads = Batch::new();
        for l in &lists {
            heads.push(l.unwrap_or(0) + if l.is_some() { h } else { 0 }, 16);
        }
        heads.run(mem)?;
        let mut items = Batch::new();
        let mut sizes = Vec::new();
        for i in 0..lists.len() {
            let (n, at) = heads.get(i).map_or((0, 0), |b| {
                (b.u64_at(0).min(MAX_CHILDREN as u64), b.u64_at(8))
            });
            sizes.push(n as usize);
            items.push(if n == 0 { 0 } else { at }, n as usize * 8);
        }
        items.run(mem)?;
        let mut nested = Vec::new();
        for (i, (parent, _)) in futures.iter().enumerate() {
            let Some(b) = items.get(i) else { continue };
            for k in 0..sizes[i] {
                let child = b.u64_at(k * 8);
                match index.get(&child) {
                    Some(c) => edges.push((*parent, *c)),
                    None if child != 0 => nested.push((*parent, child)),
                    None => {}
                }
            }
        }
        nested.truncate(MAX_CHILDREN);
        futures = nested;
    }
    // Child side: a first done-callback bound to a task (`await task`) or to a TaskGroup
    // (its `_parent_task`): a bound method's `__self__` and a builtin's `m_self` are both
    // right after the callable's head and its function pointer.
    let mut selves = Batch::new();
    for head in heads {
        let cb = head.u64_at(alayout.task.callback0 as usize);
        selves.push(if cb == 0 { 0 } else { cb + h + 8 }, 8);
    }
    selves.run(mem)?;
    let mut groups: Vec<(usize, u64)> = Vec::new();
    for i in 0..heads.len() {
        let s = selves.get(i).map_or(0, |b| b.u64_at(0));
        if s == 0 {
            continue;
        }
        match index.get(&s) {
            Some(p) => edges.push((*p, i)),
            None => groups.push((i, s)),
        }
    }
    if !groups.is_empty() {
        let mut types = Batch::new();
        for (_, g) in &groups {
            types.push(g + layout.ob_type, 8);
        }
        types.run(mem)?;
        let objs: Vec<(u64, u64)> = groups
            .iter()
            .enumerate()
            .map(|(i, (_, g))| (*g, types.get(i).map_or(0, |b| b.u64_at(0))))
            .collect();
        let parents = attr_many(mem, layout, &objs, "_parent_task")?.values;
        for ((child, _), parent) in groups.iter().zip(parents) {
            if let Some(p) = parent.and_then(|p| index.get(&p)) {
                edges.push((*p, *child));
            }
        }
    }
    Ok(edges)
}

/// 3.14+: (parent, child) pairs from each task's `fut_awaited_by` (a task, or a set).
fn published_edges(
    mem: &dyn Memory,
    layout: &Layout,
    o: &PublishedOffsets,
    heads: &[&[u8]],
    index: &FxHashMap<u64, usize>,
) -> Result<Vec<(usize, usize)>, ReadError> {
    let mut edges = Vec::new();
    for (child, head) in heads.iter().enumerate() {
        let by = head.u64_at(o.task_awaited_by as usize);
        if by == 0 {
            continue;
        }
        if head.u8_at(o.task_awaited_by_is_set as usize) != 0 {
            let (members, _) = set_members(mem, layout, by, MAX_CHILDREN)?;
            for m in members {
                if let Some(p) = index.get(&m) {
                    edges.push((*p, child));
                }
            }
        } else if let Some(p) = index.get(&by) {
            edges.push((*p, child));
        }
    }
    Ok(edges)
}
