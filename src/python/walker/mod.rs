//! One look at every Python thread of an interpreter: interpreters → thread states →
//! frames (walked by `frames.rs`), then code objects → names and lines through the
//! [`CodeCache`]. A thread whose stack cannot be read consistently gets a
//! [`ThreadError`] of its own; the others are still reported.
//!
//! **One syscall a sample.** What the last sample found — the interpreter header, each
//! thread state, 3.11/3.12's `_PyCFrame`, the data-stack chunks through their top (3.11+)
//! or the frame objects (≤3.10), and the code objects used — is read again in one
//! `process_vm_readv` (a [`Gather`](crate::process::Gather)). The walk then runs on those
//! copies; anything they do not cover (a new thread, a deeper stack, a new generator
//! frame) is read on the spot, and the plan grows to cover it next time. Another
//! reader can have its own regions read in that same syscall ([`Riders`]).
//!
//! **Torn stacks.** Without pausing, the target keeps running while we read. The gathered
//! read has each thread's frame pointer first and once more after its frames; if it
//! moved, or the walk needed reads of its own, the stack is not one instant's, and the
//! sample is read again (with the plan just learned). Each stack is also checked: every
//! frame must name a code object, and on 3.11+ every caller must stand on an instruction
//! that can have pushed the frame above it (`callsites.rs`). How often, and what is kept
//! in the end, is `retry.rs`'s. A paused target needs none of this.
//!
//! The parts, one job each:
//! - `plan.rs`: the read plan, laid out as one gathered read, and where each piece is;
//! - `walk.rs`: one thread's read and frame walk on that read;
//! - `retry.rs`: when a sample is read again, and what is kept when it will not settle;
//! - `thread_details.rs`: CPU state, CPU time and `threading` names, after the stacks;
//! - `calibrate.rs`: ≤3.10's kernel tid in glibc's `struct pthread`;
//! - `error.rs`: [`ThreadError`], why one thread's stack is missing.
//!
//! This file owns the parts and runs a sample: the attempts, the thread list, and the
//! frames resolved to code ids and lines.

mod calibrate;
mod error;
mod plan;
mod retry;
mod thread_details;
mod walk;

pub use error::ThreadError;
pub use plan::Riders;
pub use retry::AttemptStats;

use calibrate::PthreadTid;
use plan::ReadPlan;
use retry::{Consistency, Retries};
use thread_details::ThreadDetails;
use walk::WalkedFrames;

use super::code::CodeCache;
use super::copies::Copies;
use super::interpreter::Interpreter;
use super::stack::ThreadStack;
use crate::error::Result;
use crate::process::ReadError;

use crate::limits::{MAX_INTERPRETERS, MAX_THREADS};

/// What a sample should include beyond the frames.
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleOptions {
    /// Ask the OS whether each thread is on a CPU (one `pread` per thread).
    pub cpu_state: bool,
    /// Read the CPU time each thread used since the last sample (one `pread` per thread;
    /// needs [`StackReader::start_cpu_clock`]). It also gives the on-CPU state: a thread
    /// that used CPU since the last sample ran. Replaces `cpu_state` when both are set.
    pub cpu_time: bool,
    /// Look up `threading` names.
    pub thread_names: bool,
    /// The target is paused: what is read is consistent, no second look is needed.
    pub paused: bool,
}

/// The sampler's reusable state: caches, the read plan and scratch buffers, so that a
/// sample allocates nothing once warmed up.
pub struct StackReader {
    pub codes: CodeCache,
    /// Where each frame of the last sample lives in the target, by thread and frame in
    /// the order of `ThreadStack::frames` (`dump --locals` reads them there).
    pub frame_addresses: Vec<Vec<u64>>,
    pub attempts: AttemptStats,
    plan: ReadPlan,
    retries: Retries,
    details: ThreadDetails,
    pthread_tid: PthreadTid,
    /// This attempt's frames, every thread's.
    frames: WalkedFrames,
    /// One thread state's header, as read.
    thread_buf: Vec<u8>,
    /// The pieces of memory one thread's walk reads from.
    copies: Copies,
    /// Samples taken, for the checks made every so many samples.
    samples: u64,
    /// The current sample's target is paused (its stacks cannot be torn).
    paused: bool,
}

impl StackReader {
    pub fn new(interp: &Interpreter) -> StackReader {
        StackReader {
            codes: CodeCache::new(&interp.layout, interp.code_type),
            frame_addresses: Vec::new(),
            attempts: AttemptStats::default(),
            plan: ReadPlan::default(),
            retries: Retries::default(),
            details: ThreadDetails::new(interp.pid),
            pthread_tid: PthreadTid::default(),
            frames: WalkedFrames {
                pending: Vec::with_capacity(256),
                ranges: Vec::with_capacity(16),
            },
            thread_buf: vec![0; interp.layout.thread_header_len()],
            copies: Copies::default(),
            samples: 0,
            paused: false,
        }
    }

    /// Starts counting every thread's CPU time from now, for samples taken with
    /// [`SampleOptions::cpu_time`].
    pub fn start_cpu_clock(&mut self, pid: u32) {
        self.details.start_cpu_clock(pid);
    }

    /// Like [`StackReader::start_cpu_clock`] for a process joining a running recording:
    /// its first sample counts at most the CPU time used since `since`, the previous
    /// sample moment ([`CpuClock::since`]).
    ///
    /// [`CpuClock::since`]: crate::process::threads::CpuClock::since
    pub fn start_cpu_clock_since(&mut self, pid: u32, since: std::time::Instant) {
        self.details.start_cpu_clock_since(pid, since);
    }

    /// Records every thread's CPU state now, for the next sample to use; call it right
    /// before pausing the target. Returns the threads listed, for [`Pause::with_threads`].
    ///
    /// [`Pause::with_threads`]: crate::process::pause::Pause::with_threads
    pub fn note_cpu_states_before_pause(&mut self, pid: u32) -> Vec<u32> {
        self.details.note_cpu_states_before_pause(pid)
    }

    /// The regions read with every sample for another reader (see [`Riders`]).
    pub fn riders(&mut self) -> &mut Riders {
        &mut self.plan.riders
    }

    /// Rider `index` as the last sample read it (its last attempt), when read whole.
    pub fn rider(&self, index: usize) -> Option<&[u8]> {
        self.plan.rider(index)
    }

    /// Reads every thread of every interpreter into `out` (reusing its elements).
    /// Returns an error only when the whole sample failed (process gone, no access, or
    /// the interpreter list unreadable); per-thread trouble goes in that thread's `error`.
    pub fn sample(
        &mut self,
        interp: &Interpreter,
        opts: SampleOptions,
        out: &mut Vec<ThreadStack>,
    ) -> Result<()> {
        let fail = |e: ReadError| {
            interp
                .source
                .read_error(interp.pid, e, "the interpreter state")
        };
        self.codes.begin_sample();
        self.samples += 1;
        self.paused = opts.paused;
        self.retries.begin_sample();
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.read_once(interp, out).map_err(fail)?;
            if opts.paused {
                break;
            }
            self.retries
                .check_stacks(&mut self.codes, interp, &self.frames);
            self.retries.accept_repeated_suspects(&self.frames);
            if self.retries.settled() {
                break;
            }
            if attempt < self.retries.limit() {
                self.attempts.retried += u64::from(attempt == 1);
                self.retries.remember_attempt(&self.frames);
                continue;
            }
            self.retries.give_up(out, attempt, &mut self.attempts);
            break;
        }
        self.resolve_frames(interp, out).map_err(fail)?;
        self.details.fill(interp, opts, self.samples, out);
        Ok(())
    }

    /// One attempt: the gathered read of the plan, then the thread list and every
    /// thread's walk on its results, reading on the spot whatever the plan missed. Leaves
    /// the threads in `out`, their frames in `frames`, how each went in `retries`, and the
    /// plan for next time in `plan`.
    fn read_once(
        &mut self,
        interp: &Interpreter,
        out: &mut Vec<ThreadStack>,
    ) -> Result<(), ReadError> {
        let layout = &interp.layout;
        let mem = &*interp.mem;
        self.frames.clear();
        self.retries.begin_attempt();
        self.plan.begin_attempt();

        let header_ids =
            self.plan
                .lay_out(interp, &self.codes, self.thread_buf.len(), self.samples);
        mem.gather(&mut self.plan.gather)?;
        self.plan.check_code_fingerprints(&mut self.codes, layout);

        let header = self.plan.header(interp, header_ids)?;
        let (gil_holder, gil_locked) = (header.gil_holder, header.gil_locked);
        let mut count = 0usize;
        let mut interp_addr = header.interp;
        let mut known = Some((header.threads_head, header.next));
        let mut interps = 0;
        while interp_addr != 0 && interps < MAX_INTERPRETERS {
            interps += 1;
            // The first interpreter's list head came with the header.
            let (head, next) = match known.take() {
                Some(pair) => pair,
                None => self.plan.interpreter_links(mem, layout, interp_addr)?,
            };
            let mut tstate = head;
            let mut threads_here = 0;
            while tstate != 0 && threads_here < MAX_THREADS {
                threads_here += 1;
                if out.len() <= count {
                    out.push(ThreadStack::default());
                }
                let stack = &mut out[count];
                stack.clear();
                let first_pending = self.frames.pending.len();
                let result = self.read_thread(interp, tstate, count, stack);
                count += 1;
                self.frames
                    .ranges
                    .push(first_pending..self.frames.pending.len());
                match result {
                    Ok((next_tstate, consistency)) => {
                        self.retries.note_thread(consistency, stack.error.is_some());
                        stack.holds_gil = gil_locked && gil_holder == tstate;
                        tstate = next_tstate;
                    }
                    Err(ReadError::BadAddress(at)) => {
                        self.retries.note_thread(Consistency::Pieced, true);
                        stack.error = Some(ThreadError::ThreadState { tstate, at });
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            interp_addr = next;
        }
        out.truncate(count);
        self.plan.finish_attempt();
        Ok(())
    }

    /// Turns every thread's pending frames into frames with code ids and lines, after
    /// validating the sample's cached code objects the gathered read did not cover.
    fn resolve_frames(
        &mut self,
        interp: &Interpreter,
        out: &mut [ThreadStack],
    ) -> Result<(), ReadError> {
        let layout = &interp.layout;
        let mem = &*interp.mem;
        if let Err(why) = self.codes.validate(mem, layout, &self.frames.pending) {
            if interp.source.is_gone(interp.pid) {
                return Err(ReadError::Gone);
            }
            for stack in out.iter_mut() {
                stack.error.get_or_insert_with(|| ThreadError::CodeObjects {
                    why: why.to_string(),
                });
            }
            return Ok(());
        }
        self.frame_addresses.resize_with(out.len(), Vec::new);
        for (index, stack) in out.iter_mut().enumerate() {
            let addresses = &mut self.frame_addresses[index];
            addresses.clear();
            addresses.resize(stack.frames.len(), 0);
            let Some(pending) = self.frames.of_thread(index) else {
                continue;
            };
            if let Err(why) =
                self.codes
                    .resolve_validated(mem, layout, pending, &mut stack.frames, addresses)
            {
                stack.error.get_or_insert(ThreadError::CodeObject {
                    paused: self.paused,
                    why: why.to_string(),
                });
            }
        }
        Ok(())
    }
}
