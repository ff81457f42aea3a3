//! The sampler's side of `top`: each tick's thread stacks (of one process, or of each
//! process of a tree, their code ids kept apart) interned into small ids, each
//! sample's CPU time spread live by the same rules a recording's reader applies
//! ([`Spreader`]), its on-CPU state settled as `report` settles it, and the sample tallied
//! into the current one-second window. A finished window leaves as an [`Update`] for the
//! display thread, with the names first seen in it. Nothing here draws, blocks or waits,
//! and every table is bounded.

use std::sync::Arc;

use crate::python::stack::{CodeId, CodeTable, ThreadStack};
use crate::recording::cpu::{CpuSample, CpuSink, Spreader};
use rustc_hash::FxHashMap;

use crate::recording::TickTime;

use super::model::{
    FrameInfo, ProcessChange, ProcessInfo, Tally, TallyKey, ThreadInfo, Update, Window, NO_STACK,
};

/// One process's share of a tick.
pub struct Part<'a> {
    /// Tells processes apart for the whole session (a pid may be used again; this is not).
    pub key: u32,
    pub pid: u32,
    pub threads: &'a [ThreadStack],
    /// The process's own code table: ids in `threads` index it.
    pub codes: &'a CodeTable,
}

/// How long a window lasts.
pub const WINDOW_NS: u64 = 1_000_000_000;

/// A sample still waiting for CPU time is settled as it is after this long: a thread that
/// runs is charged by the kernel at least every scheduler tick (4 ms at 250 Hz).
pub const SETTLE_NS: u64 = 250_000_000;

/// The most frames, stacks and threads `top` keeps apart; beyond, new ones are counted
/// under one "(more … than top keeps)" entry, so a target cannot make it grow without end.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub frames: usize,
    pub stacks: usize,
    pub threads: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            frames: 1 << 17,
            stacks: 1 << 17,
            threads: 4096,
        }
    }
}

/// A sample between its tick and its settling.
#[derive(Clone, Copy, Debug)]
struct Open {
    thread: u32,
    stack: u32,
    holds_gil: bool,
    error: bool,
    wall: f64,
    cpu: f64,
}

/// Samples from their tick to the window they settle in.
struct Tallies {
    open: FxHashMap<u64, Open>,
    /// Per thread: time of unreadable samples, for its next readable one (as `report`).
    carry: Vec<(f64, f64)>,
    /// Per thread: its last settled sample, which the spread may still credit (rule 2).
    last_settled: Vec<Option<(u64, TallyKey)>>,
    /// CPU time from which a sample not holding the GIL counts as on a CPU.
    busy: f64,
    current: FxHashMap<TallyKey, Tally>,
}

impl Tallies {
    fn settle(&mut self, open: Open, id: u64, on_cpu: Option<bool>) {
        let t = open.thread as usize;
        if self.carry.len() <= t {
            self.carry.resize(t + 1, (0.0, 0.0));
            self.last_settled.resize(t + 1, None);
        }
        if open.error {
            self.carry[t].0 += open.wall;
            self.carry[t].1 += open.cpu;
            return;
        }
        if open.stack == NO_STACK {
            return;
        }
        let (wall, cpu) = std::mem::take(&mut self.carry[t]);
        let key = TallyKey {
            thread: open.thread,
            stack: open.stack,
            on_cpu: on_cpu.unwrap_or(open.holds_gil || open.cpu >= self.busy),
        };
        let tally = self.current.entry(key).or_default();
        tally.samples += 1;
        tally.wall += open.wall + wall;
        tally.cpu += open.cpu + cpu;
        self.last_settled[t] = Some((id, key));
    }
}

impl CpuSink<u64> for Tallies {
    fn credit(&mut self, id: u64, seconds: f64) {
        if let Some(open) = self.open.get_mut(&id) {
            open.cpu += seconds;
            return;
        }
        // A settled sample that carried an amount and held the GIL (the spread's rule 2).
        let settled = self
            .last_settled
            .iter()
            .flatten()
            .find(|(seq, _)| *seq == id)
            .map(|(_, key)| *key);
        if let Some(key) = settled {
            self.current.entry(key).or_default().cpu += seconds;
        }
    }

    fn settled(&mut self, id: u64) {
        if let Some(open) = self.open.remove(&id) {
            self.settle(open, id, None);
        }
    }
}

/// The sampler side's state.
pub struct Ingest {
    pid: u32,
    period_ns: u64,
    limits: Limits,
    /// By process key, code and line: code ids are each process's own.
    frame_ids: FxHashMap<(u32, CodeId, u32), u32>,
    frame_count: usize,
    stack_ids: FxHashMap<Vec<u32>, u32>,
    thread_ids: FxHashMap<(u32, Option<u32>, u64), u32>,
    thread_names: Vec<Option<Arc<str>>>,
    stack_count: u32,
    /// The catch-all entries, once a table is full.
    catch_all: std::collections::HashMap<&'static str, u32>,
    overflow_stack: Option<u32>,
    overflow_thread: Option<u32>,
    spreader: Spreader<u64>,
    tallies: Tallies,
    next_seq: u64,
    stack_buf: Vec<u32>,
    /// What the next update carries.
    pending: Update,
    window_end_ns: u64,
    last_expire_ns: u64,
}

impl Ingest {
    /// For the process `pid`, sampled at `rate_hz`.
    pub fn new(pid: u32, rate_hz: f64, limits: Limits) -> Ingest {
        let period_ns = if rate_hz.is_finite() && rate_hz > 0.0 {
            ((1e9 / rate_hz) as u64).max(1)
        } else {
            1_000_000
        };
        Ingest {
            pid,
            period_ns,
            limits,
            frame_ids: FxHashMap::default(),
            frame_count: 0,
            stack_ids: FxHashMap::default(),
            thread_ids: FxHashMap::default(),
            thread_names: Vec::new(),
            stack_count: 0,
            catch_all: Default::default(),
            overflow_stack: None,
            overflow_thread: None,
            spreader: Spreader::new(period_ns),
            tallies: Tallies {
                open: FxHashMap::default(),
                carry: Vec::new(),
                last_settled: Vec::new(),
                busy: period_ns as f64 * 1e-9 / 4.0,
                current: FxHashMap::default(),
            },
            next_seq: 0,
            stack_buf: Vec::new(),
            pending: Update::default(),
            window_end_ns: WINDOW_NS,
            last_expire_ns: 0,
        }
    }

    /// Takes one tick of the one process; returns the window it closed, if it is the
    /// first tick past it.
    pub fn push(
        &mut self,
        time: TickTime,
        threads: &[ThreadStack],
        codes: &CodeTable,
    ) -> Option<Update> {
        let part = Part {
            key: 0,
            pid: self.pid,
            threads,
            codes,
        };
        self.push_parts(time, &[part])
    }

    /// A process of the tree joined (`--subprocesses`): the display learns it with the
    /// next window.
    pub fn process_joined(&mut self, info: ProcessInfo) {
        self.pending.processes.push(ProcessChange::Joined(info));
    }

    /// A process of the tree (its key) ended.
    pub fn process_ended(&mut self, key: u32) {
        self.pending.processes.push(ProcessChange::Ended { key });
    }

    /// Takes one tick of several processes (`--subprocesses`), as [`Ingest::push`].
    pub fn push_parts(&mut self, time: TickTime, parts: &[Part]) -> Option<Update> {
        let now = time.elapsed_ns;
        let closed = (now >= self.window_end_ns).then(|| self.close(now));
        let window = &mut self.pending.window;
        window.ticks += 1;
        window.missed += (time.interval_ns / self.period_ns).saturating_sub(1);
        let wall = time.interval_ns as f64 * 1e-9;
        for part in parts {
            self.push_part(part, now, wall);
        }
        if now >= self.last_expire_ns + 50_000_000 {
            self.last_expire_ns = now;
            self.spreader
                .expire(now.saturating_sub(SETTLE_NS), &mut self.tallies);
        }
        closed
    }

    fn push_part(&mut self, part: &Part, now: u64, wall: f64) {
        let (threads, codes) = (part.threads, part.codes);
        for t in threads {
            let thread = self.intern_thread(t, part.pid);
            let error = t.error.is_some();
            if error {
                self.pending.window.errors += 1;
            }
            let stack = if error || t.frames.is_empty() {
                NO_STACK
            } else {
                self.intern_stack(t, codes, part.key)
            };
            let open = Open {
                thread,
                stack,
                holds_gil: t.holds_gil,
                error,
                wall,
                cpu: 0.0,
            };
            let id = self.next_seq;
            self.next_seq += 1;
            match t.cpu_ns {
                // No CPU time (the kernel's account unreadable): the sampler's own flag.
                None => self
                    .tallies
                    .settle(open, id, Some(t.on_cpu.unwrap_or(true))),
                Some(cpu_ns) => {
                    self.tallies.open.insert(id, open);
                    let sample = CpuSample {
                        id,
                        thread: thread as usize,
                        time_ns: now,
                        cpu_ns,
                        holds_gil: t.holds_gil,
                        error,
                    };
                    self.spreader.push(sample, &mut self.tallies);
                }
            }
        }
    }

    /// Ends the session at `now_ns`: settles everything and returns the last window.
    pub fn finish(&mut self, now_ns: u64) -> Update {
        self.spreader.expire(u64::MAX, &mut self.tallies);
        self.close(now_ns)
    }

    /// Closes the current window at `now` and starts the next one.
    fn close(&mut self, now: u64) -> Update {
        let mut update = std::mem::take(&mut self.pending);
        update.window.start_ns = self.window_end_ns.saturating_sub(WINDOW_NS);
        update.window.end_ns = now.max(update.window.start_ns);
        update.window.tallies = std::mem::take(&mut self.tallies.current);
        // The next window: the one `now` falls in (windows with no tick are skipped).
        self.window_end_ns = (now / WINDOW_NS + 1) * WINDOW_NS;
        self.pending.window = Window {
            start_ns: self.window_end_ns - WINDOW_NS,
            ..Window::default()
        };
        update
    }

    fn intern_thread(&mut self, t: &ThreadStack, pid: u32) -> u32 {
        let key = (pid, t.os_tid, t.python_thread_id);
        let id = match self.thread_ids.get(&key) {
            Some(&id) => id,
            None if self.thread_ids.len() >= self.limits.threads => {
                if let Some(id) = self.overflow_thread {
                    return id;
                }
                let id = self.new_thread(ThreadInfo {
                    os_tid: None,
                    python_thread_id: 0,
                    name: Some("(more threads than top keeps)".into()),
                    pid: self.pid,
                });
                self.overflow_thread = Some(id);
                return id;
            }
            None => {
                let id = self.new_thread(ThreadInfo {
                    os_tid: t.os_tid,
                    python_thread_id: t.python_thread_id,
                    name: None,
                    pid,
                });
                self.thread_ids.insert(key, id);
                id
            }
        };
        // A name is sent when first seen and whenever it changes.
        let known = &mut self.thread_names[id as usize];
        if known.as_deref() != t.name.as_deref() {
            known.clone_from(&t.name);
            self.pending.threads.push((
                id,
                ThreadInfo {
                    os_tid: t.os_tid,
                    python_thread_id: t.python_thread_id,
                    name: t.name.as_deref().map(str::to_string),
                    pid,
                },
            ));
        }
        id
    }

    fn new_thread(&mut self, info: ThreadInfo) -> u32 {
        let id = self.thread_names.len() as u32;
        self.thread_names.push(info.name.as_deref().map(Arc::from));
        self.pending.threads.push((id, info));
        id
    }

    fn intern_stack(&mut self, t: &ThreadStack, codes: &CodeTable, process: u32) -> u32 {
        let mut buf = std::mem::take(&mut self.stack_buf);
        buf.clear();
        for f in &t.frames {
            buf.push(self.intern_frame(process, f.code, f.line, codes));
        }
        let id = match self.stack_ids.get(buf.as_slice()) {
            Some(&id) => id,
            None if self.stack_ids.len() >= self.limits.stacks => match self.overflow_stack {
                Some(id) => id,
                None => {
                    let frame = self.named_frame("(more stacks than top keeps)");
                    let id = self.new_stack(vec![frame]);
                    self.overflow_stack = Some(id);
                    id
                }
            },
            None => {
                let id = self.new_stack(buf.clone());
                self.stack_ids.insert(buf.clone(), id);
                id
            }
        };
        self.stack_buf = buf;
        id
    }

    fn new_stack(&mut self, frames: Vec<u32>) -> u32 {
        let id = self.stack_count;
        self.stack_count += 1;
        self.pending.stacks.push(frames);
        id
    }

    fn intern_frame(&mut self, process: u32, code: CodeId, line: u32, codes: &CodeTable) -> u32 {
        if let Some(&id) = self.frame_ids.get(&(process, code, line)) {
            return id;
        }
        if self.frame_ids.len() >= self.limits.frames {
            return self.named_frame("(more functions than top keeps)");
        }
        let id = self.frame_count as u32;
        self.frame_count += 1;
        self.frame_ids.insert((process, code, line), id);
        let info = if (code.0 as usize) < codes.len() {
            let c = codes.get(code);
            FrameInfo {
                qualname: c.qualname.clone(),
                filename: c.filename.clone(),
                first_line: c.first_line,
                line,
            }
        } else {
            FrameInfo {
                qualname: "(unknown code)".into(),
                filename: String::new(),
                first_line: 0,
                line,
            }
        };
        self.pending.frames.push(info);
        id
    }

    /// The catch-all frame named `name` (made on first use).
    fn named_frame(&mut self, name: &'static str) -> u32 {
        if let Some(&id) = self.catch_all.get(name) {
            return id;
        }
        let id = self.frame_count as u32;
        self.frame_count += 1;
        self.pending.frames.push(FrameInfo {
            qualname: name.into(),
            filename: String::new(),
            first_line: 0,
            line: 0,
        });
        self.catch_all.insert(name, id);
        id
    }
}
