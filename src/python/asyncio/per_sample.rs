//! `record --async`: the task each sampled thread was running, looked up once per sample
//! through a [`TaskReader`] (which remembers what does not change between samples), and
//! matched to the sampled threads by Python thread id. Why no task can be read is said
//! once; a program that has not imported asyncio yet is asked again every
//! [`RETRY_SAMPLES`] samples, not at every one.
//!
//! With `--idle` as well, every waiting task is read too ([`AllTasksReader`]) and recorded
//! as one more idle stack, its coroutine chain under its task, on a pseudo-thread named
//! [`WAITING_THREAD`]: a wall-time sample of where it waits. That read is written as a
//! tick of its own standing for the wall time since the previous one, and is repeated at
//! every sample only while it is cheap (see [`FULL_READ_SHARE`]).

use std::sync::Arc;

use super::all_tasks::{AllTasksReader, FoundTask};
use super::running::{NoTasks, RunningTask, TaskReader};
use crate::error::Result;
use crate::python::interpreter::Interpreter;
use crate::python::stack::ThreadStack;
use crate::python::StackReader;
use crate::recording::{ProcessTick, RecordingWriter, TickTask, TickTime};

/// The name of the pseudo-thread the waiting tasks' samples are recorded on.
pub const WAITING_THREAD: &str = "asyncio waiting tasks";

/// Samples between two looks for `asyncio.tasks` in a program that has not imported it.
pub const RETRY_SAMPLES: u64 = 256;

/// Per-sample task lookups for one recording.
pub struct SampleTasks {
    reader: Option<TaskReader>,
    running: Vec<RunningTask>,
    wait: u64,
    noted: bool,
    quiet: bool,
    /// `--idle`: every task, read at each sample.
    all: Option<AllTasksReader>,
    waiting: Vec<FoundTask>,
    /// The waiting tasks' stacks (reused between samples).
    stacks: Vec<ThreadStack>,
    thread_name: Arc<str>,
    /// Reused for each sample's task list (kept empty between samples).
    slots: Vec<Option<TickTask<'static>>>,
    waiting_slots: Vec<Option<TickTask<'static>>>,
    /// When (since the recording's start) the waiting tasks were last read, and when
    /// they are read next.
    last_full_ns: Option<u64>,
    next_full_ns: u64,
    /// Ticks of waiting tasks written (the recording's summary counts them as samples).
    pub waiting_ticks: u64,
}

/// The waiting tasks are read again once this many times as long as their last read took
/// has passed (at every sample while that is shorter than the interval): reading every
/// task costs at most about a tenth of the wall time, however many tasks there are.
const FULL_READ_SHARE: u64 = 10;

impl SampleTasks {
    /// Lookups for `interp`; `quiet` keeps the one-time note off standard error.
    pub fn new(interp: &Interpreter, quiet: bool, waiting: bool) -> SampleTasks {
        let mut tasks = SampleTasks {
            reader: None,
            running: Vec::new(),
            wait: 0,
            noted: false,
            quiet,
            all: None,
            waiting: Vec::new(),
            stacks: Vec::new(),
            thread_name: Arc::from(WAITING_THREAD),
            slots: Vec::new(),
            waiting_slots: Vec::new(),
            last_full_ns: None,
            next_full_ns: 0,
            waiting_ticks: 0,
        };
        if waiting {
            tasks.all = AllTasksReader::new(interp).ok();
        }
        match TaskReader::new(interp) {
            Ok(r) => tasks.reader = Some(r),
            Err(why) => tasks.note(&why),
        }
        tasks
    }

    fn note(&mut self, why: &NoTasks) {
        if !self.noted && !self.quiet {
            eprintln!("framescope: --async: {why}");
        }
        self.noted = true;
    }

    /// Reads the running tasks as of `reader`'s last sample (what rode along with it,
    /// else now); then [`SampleTasks::of`] gives each thread's.
    pub fn look(&mut self, interp: &Interpreter, reader: &mut StackReader) {
        self.running.clear();
        let Some(tasks) = self.reader.as_mut() else {
            return;
        };
        if self.wait > 0 {
            self.wait -= 1;
            return;
        }
        match tasks.read_with_sample(interp, reader) {
            Ok(Ok(running)) => self.running = running,
            Ok(Err(NoTasks::NotImported)) => self.wait = RETRY_SAMPLES,
            Ok(Err(why)) => self.note(&why),
            // The dict changed under the read: this sample goes without a task.
            Err(_) => {}
        }
    }

    /// Reads the tasks now and records one tick: `threads` with their running tasks and,
    /// with `--idle`, every waiting task as a stack of its own. No allocation per sample
    /// once warmed up (beyond new tasks' names).
    pub fn write_tick(
        &mut self,
        interp: &Interpreter,
        reader: &mut StackReader,
        time: TickTime,
        threads: &[ThreadStack],
        writer: &mut RecordingWriter,
    ) -> Result<()> {
        self.look(interp, reader);
        let mut slots = reuse(std::mem::take(&mut self.slots));
        self.of(threads, &mut slots);
        let written = writer.write_tick_with_tasks(time, threads, &reader.codes.table, &slots);
        self.slots = reuse(slots);
        written?;
        if self.all.is_none() || time.elapsed_ns < self.next_full_ns {
            return Ok(());
        }
        // Every waiting task, as a tick of its own standing for the wall time since the
        // previous such read.
        let started = std::time::Instant::now();
        self.look_waiting(interp, reader);
        let cost = started.elapsed().as_nanos() as u64;
        let stands_for = match self.last_full_ns {
            Some(last) => time.elapsed_ns.saturating_sub(last),
            // The first read stands for the time since the recording started.
            None => time.elapsed_ns.max(time.interval_ns),
        };
        self.last_full_ns = Some(time.elapsed_ns);
        self.next_full_ns = time.elapsed_ns + cost.saturating_mul(FULL_READ_SHARE);
        if self.waiting.is_empty() {
            return Ok(());
        }
        let mut waiting_slots = reuse(std::mem::take(&mut self.waiting_slots));
        waiting_slots.extend(self.waiting.iter().map(|t| {
            Some(TickTask {
                address: t.id,
                name: &t.name,
                coroutine: &t.coroutine,
            })
        }));
        let part = ProcessTick {
            process: None,
            threads: &self.stacks[..self.waiting.len()],
            codes: &reader.codes.table,
            tasks: &waiting_slots,
        };
        let tick = TickTime {
            elapsed_ns: time.elapsed_ns,
            interval_ns: stands_for,
        };
        let written = writer.write_processes_tick(tick, &[part]);
        self.waiting_slots = reuse(waiting_slots);
        self.waiting_ticks += 1;
        written
    }

    /// `--idle`: every waiting task now, and a stack for each.
    fn look_waiting(&mut self, interp: &Interpreter, reader: &mut StackReader) {
        self.waiting.clear();
        let Some(all) = self.all.as_mut() else {
            return;
        };
        if self.reader.is_none() || self.wait > 0 {
            return;
        }
        let Ok(Ok(set)) = all.read(interp, &mut reader.codes, &self.running, false) else {
            return;
        };
        self.waiting = set.tasks;
        self.waiting.retain(|t| t.running_on.is_none());
        while self.stacks.len() < self.waiting.len() {
            self.stacks.push(ThreadStack {
                name: Some(self.thread_name.clone()),
                on_cpu: Some(false),
                ..ThreadStack::default()
            });
        }
        for (stack, task) in self.stacks.iter_mut().zip(&self.waiting) {
            stack.frames.clear();
            stack.frames.extend_from_slice(&task.frames);
        }
    }

    /// The task each of `threads` was running at the last look.
    pub fn of<'a>(&'a self, threads: &[ThreadStack], out: &mut Vec<Option<TickTask<'a>>>) {
        out.clear();
        out.extend(threads.iter().map(|t| {
            self.running
                .iter()
                .find(|r| r.python_thread_id == t.python_thread_id)
                .map(|r| TickTask {
                    address: r.id,
                    name: &r.name,
                    coroutine: &r.coroutine,
                })
        }));
    }
}

/// An empty vector of task slots of any lifetime on the allocation of `v` (the standard
/// library collects in place when the element's layout is the same, as it is here).
fn reuse<'a, 'b>(mut v: Vec<Option<TickTask<'a>>>) -> Vec<Option<TickTask<'b>>> {
    v.clear();
    v.into_iter().map(|_| None).collect()
}
