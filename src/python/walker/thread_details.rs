//! What a sample says about each thread besides its stack: whether it is on a CPU, the
//! CPU time it used since the last sample, and its `threading` name. All of it comes
//! after the stacks are read, from the OS (`process/threads.rs`) or from the names cache
//! (`thread_names.rs`); none of it changes how stacks are read.

use std::sync::Arc;

use super::SampleOptions;
use crate::process::threads::{CpuClock, CpuStates};
use crate::python::interpreter::Interpreter;
use crate::python::stack::ThreadStack;
use crate::python::thread_names::ThreadNames;

/// Every how many samples the CPU clock closes the files of threads that ended.
const CPU_CLOCK_PRUNE_EVERY: u64 = 1024;

/// The OS's view of the threads and their names, kept between samples.
pub(super) struct ThreadDetails {
    cpu: CpuStates,
    /// Started by [`ThreadDetails::start_cpu_clock`].
    cpu_clock: Option<CpuClock>,
    names: ThreadNames,
    /// CPU states taken just before the target was paused, used by the next sample
    /// (a paused thread's own state says only "stopped").
    cpu_before_pause: Option<Vec<(u32, bool)>>,
}

impl ThreadDetails {
    pub(super) fn new(pid: u32) -> ThreadDetails {
        ThreadDetails {
            cpu: CpuStates::new(pid),
            cpu_clock: None,
            names: ThreadNames::new(),
            cpu_before_pause: None,
        }
    }

    /// Counts every thread's CPU time from now.
    pub(super) fn start_cpu_clock(&mut self, pid: u32) {
        self.cpu_clock = Some(CpuClock::start(pid));
    }

    /// Counts every thread's CPU time from `since` at most ([`CpuClock::since`]).
    pub(super) fn start_cpu_clock_since(&mut self, pid: u32, since: std::time::Instant) {
        self.cpu_clock = Some(CpuClock::since(pid, since));
    }

    /// Records every thread's CPU state now, for the next sample; returns the threads.
    pub(super) fn note_cpu_states_before_pause(&mut self, pid: u32) -> Vec<u32> {
        let tids = crate::process::threads::thread_ids(pid);
        let states = tids
            .iter()
            .filter_map(|&tid| Some((tid, self.cpu.on_cpu(tid)?)))
            .collect();
        self.cpu_before_pause = Some(states);
        tids
    }

    /// Fills in what `opts` asks for beyond the frames: CPU time or on-CPU state, and
    /// names. `samples` counts the samples taken so far.
    pub(super) fn fill(
        &mut self,
        interp: &Interpreter,
        opts: SampleOptions,
        samples: u64,
        out: &mut [ThreadStack],
    ) {
        if let (true, Some(clock)) = (opts.cpu_time, self.cpu_clock.as_mut()) {
            for stack in out.iter_mut() {
                stack.cpu_ns = stack
                    .os_tid
                    .and_then(|tid| clock.used_since_last_look(tid, stack.python_thread_id));
                // The thread holding the GIL is running Python code; any other ran if its
                // account grew. The account lags by up to a scheduler tick, so readers
                // settle this from the CPU time itself (`recording::cpu`).
                stack.on_cpu = stack.cpu_ns.map(|used| used > 0 || stack.holds_gil);
            }
            // Close the files of threads that ended, now and then (a readdir).
            if samples % CPU_CLOCK_PRUNE_EVERY == 0 {
                let alive = interp.source.thread_ids(interp.pid);
                clock.retain(|tid| alive.binary_search(&tid).is_ok());
            }
        } else if opts.cpu_state {
            let before = self.cpu_before_pause.take();
            for stack in out.iter_mut() {
                stack.on_cpu = match (&before, stack.os_tid) {
                    (Some(states), Some(tid)) => {
                        states.iter().find(|(t, _)| *t == tid).map(|(_, s)| *s)
                    }
                    // The thread holding the GIL is running Python code: no need to ask
                    // the kernel (a `pread` of its stat file, the dearest syscall of a
                    // sample).
                    (None, Some(_)) if stack.holds_gil => Some(true),
                    (None, Some(tid)) => self.cpu.on_cpu(tid),
                    (_, None) => None,
                };
            }
        }
        if opts.thread_names {
            self.names.refresh(interp, out);
            for stack in out.iter_mut() {
                stack.name = self.names.get(stack.python_thread_id).map(Arc::clone);
            }
        }
    }
}
