//! One look at every Python thread of an interpreter: interpreters → thread states →
//! frames (walked by `frames.rs`), then code objects → names and lines through the
//! [`CodeCache`]. A thread whose stack cannot be read consistently gets an error of its
//! own; the others are still reported.
//!
//! **One syscall a sample.** What the last sample found — the interpreter header, each
//! thread state, 3.11/3.12's `_PyCFrame`, the data-stack chunks through their top (3.11+)
//! or the frame objects (≤3.10), and the code objects used — is read again in one
//! `process_vm_readv` (a [`Gather`]). The walk then runs on those copies; anything they do
//! not cover (a new thread, a deeper stack, a new generator frame) is read on the spot,
//! and the plan grows to cover it next time.
//!
//! **Torn stacks.** Without pausing, the target keeps running while we read. The batch
//! reads each thread's frame pointer first and once more after its frames; if it moved,
//! or the walk needed reads of its own, the stack is not one instant's, and the sample is
//! read again (with the plan just learned), up to [`MAX_ATTEMPTS`] times. Each stack is
//! also checked: every frame must name a code object, and on 3.11+ every caller must
//! stand on an instruction that can have pushed the frame above it (`callsites.rs`). A
//! stack failing a check makes it up to [`MAX_ATTEMPTS_SUSPECT`] reads, unless it reads
//! the same twice with its frame pointer still (then it is steady and taken as it is). A
//! stack that still moved after the last read is kept as read and counted
//! ([`AttemptStats::moving`]), its functions right, a caller's line possibly one it had
//! just left; one that moved and had a caller off its call is an error
//! ([`AttemptStats::off_call`]), and so is one whose walk met a frame freed or cleared.
//! A paused target needs none of this.

use std::ops::Range;
use std::sync::Arc;

use super::code::{CodeCache, PendingFrame};
use super::copies::Copies;
use super::frames::{FrameWalk, PlannedRegion, WalkError};
use super::interpreter::Interpreter;
use super::layout::{Era, GilLocation};
use super::recent_frames::RecentFrames;
use super::stack::ThreadStack;
use super::thread_names::ThreadNames;
use crate::error::Result;
use crate::process::threads::{CpuClock, CpuStates};
use crate::process::{Bytes, Gather, ReadError, RegionId};

/// Most threads (and interpreters) we follow before calling the list garbage.
const MAX_THREADS: usize = 4096;
const MAX_INTERPRETERS: usize = 256;
/// How often a nonblocking sample is read when its stacks keep moving under it.
pub const MAX_ATTEMPTS: usize = 3;
/// How often it is read when a stack fails a check (a caller off its call, a frame freed
/// or naming no code object): a copy made while the stack changed, which a re-read most
/// often gets right.
pub const MAX_ATTEMPTS_SUSPECT: usize = 16;
/// Every how many samples the runtime's interpreter list is checked for a new head (a
/// subinterpreter created or gone); in between, the main interpreter found is read.
const INTERPRETER_LIST_EVERY: u64 = 64;
/// How many of a thread's latest `_PyCFrame`s (3.11/3.12) each batch reads the current
/// frame of. The `_PyCFrame` is a local of the interpreter loop's C frame, so it moves
/// each time C code runs Python code: an event loop's thread switches between the loop's
/// own (`_run_once`, `select`) and the one under each task step every few hundred µs.
/// They sit on the C stack a few hundred bytes apart, so reading several costs one iovec.
const MAX_CFRAMES: usize = 4;
/// glibc's offset of `tid` in `struct pthread` on x86-64, tried first when calibrating.
const GLIBC_PTHREAD_TID_OFFSET: u64 = 0x2d0;

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

/// How many attempts the samples took, for the sampler's summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttemptStats {
    /// Samples read more than once because a stack moved or the plan missed.
    pub retried: u64,
    /// Thread stacks still moving after the last attempt (kept as read).
    pub moving: u64,
    /// Thread stacks that moved and had a caller off its call after the last attempt
    /// (errors).
    pub off_call: u64,
}

/// What the last sample learned about one thread: what the next one reads in its batch.
#[derive(Debug, Clone)]
struct ThreadPlan {
    tstate: u64,
    /// ≤3.10: where the kernel tid sits in glibc's `struct pthread` (0 otherwise).
    pthread_tid: u64,
    /// 3.11/3.12: the `_PyCFrame`s the thread state pointed to lately, the latest first
    /// (0: none).
    cframes: [u64; MAX_CFRAMES],
    /// Into `StackReader::plan_regions`.
    regions: Range<usize>,
}

/// Where one planned thread's pieces are in this sample's batch.
#[derive(Debug, Clone)]
struct Batched {
    tstate: RegionId,
    /// The current-frame field behind each planned `_PyCFrame` (3.11/3.12).
    cframe_frame: [Option<RegionId>; MAX_CFRAMES],
    pthread_tid: Option<RegionId>,
    /// Into `StackReader::batch_regions`, parallel to the plan's regions.
    regions: Range<usize>,
    /// Into `StackReader::batch_recent`: the thread's recent out-of-chunk frames the
    /// plan does not have.
    recent: Range<usize>,
    /// The frame pointer read again after the frames.
    trailer: RegionId,
    /// 3.11/3.12: the same behind each planned `_PyCFrame`.
    cframe_trailer: [Option<RegionId>; MAX_CFRAMES],
}

/// Where the header's fields are in this sample's batch.
#[derive(Debug, Clone, Copy)]
struct HeaderIds {
    /// Read every [`INTERPRETER_LIST_EVERY`] samples only.
    interpreters_head: Option<RegionId>,
    threads_head: RegionId,
    next: RegionId,
    /// The GIL's holder and lock flag, when its location is known.
    gil: Option<(RegionId, RegionId)>,
}

/// The main interpreter's address and where its GIL's holder and lock flag are.
#[derive(Debug, Clone, Copy)]
struct Anchors {
    interp: u64,
    /// 0 when the GIL's location is unknown.
    gil_holder: u64,
    gil_locked: u64,
}

/// What one sample learns before walking threads.
#[derive(Debug, Clone, Copy, Default)]
struct Header {
    interp: u64,
    threads_head: u64,
    next: u64,
    gil_holder: u64,
    gil_locked: bool,
}

/// How one thread's read went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consistency {
    /// All from the batch, and the frame pointer had not moved by the end.
    OneInstant,
    /// Some of it was read separately (a plan miss): not provably one instant's.
    Pieced,
    /// The frame pointer moved while the frames were read.
    Moved,
}

/// What the checks after a nonblocking read found wrong with one thread's stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suspicion {
    None,
    /// The walk failed (a frame freed or cleared while read, the thread state gone), or a
    /// frame names something that is not a code object.
    Torn,
    /// A caller stands on an instruction that cannot have pushed the frame above it (3.11+,
    /// see `callsites.rs`): its slot was copied before it made the call, or after the
    /// frame above returned.
    OffCall,
}

/// The sampler's reusable state: caches, the read plan and scratch buffers, so that a
/// sample allocates nothing once warmed up.
pub struct StackReader {
    pub codes: CodeCache,
    cpu: CpuStates,
    /// Started by [`StackReader::start_cpu_clock`].
    cpu_clock: Option<CpuClock>,
    names: ThreadNames,
    pending: Vec<PendingFrame>,
    thread_buf: Vec<u8>,
    copies: Copies,
    gather: Gather,
    /// Reads a subinterpreter's thread-list head and `next` (reused, like `gather`).
    interp_gather: Gather,
    /// The plan for the next sample, one entry a thread, in thread-list order.
    plans: Vec<ThreadPlan>,
    plan_regions: Vec<PlannedRegion>,
    /// The plan being learned by this sample (swapped in at its end).
    next_plans: Vec<ThreadPlan>,
    next_regions: Vec<PlannedRegion>,
    batched: Vec<Batched>,
    batch_regions: Vec<RegionId>,
    /// This batch's fingerprint regions, parallel to `codes.planned()`.
    code_regions: Vec<RegionId>,
    /// Out-of-chunk frames (generators, coroutines) recent samples walked (3.11+).
    recent: RecentFrames,
    /// This batch's reads of them: address, length, region.
    batch_recent: Vec<(u64, usize, RegionId)>,
    /// Offset of the kernel tid inside glibc's `struct pthread` (≤3.10 only).
    pthread_tid_offset: Option<u64>,
    /// CPU states taken just before the target was paused, used by the next sample
    /// (a paused thread's own state says only "stopped").
    cpu_before_pause: Option<Vec<(u32, bool)>>,
    /// For each thread of the current sample, its slice of `pending`.
    thread_pending: Vec<Range<usize>>,
    consistency: Vec<Consistency>,
    /// Parallel to `consistency`.
    suspicion: Vec<Suspicion>,
    /// The previous attempt of this sample: its frames, each thread's slice of them and
    /// its suspicion (a suspect stack read twice the same, unmoved, is taken as steady).
    previous_pending: Vec<PendingFrame>,
    /// Where each frame of the last sample lives in the target, by thread and frame in
    /// the order of `ThreadStack::frames` (`dump --locals` reads them there).
    pub frame_addresses: Vec<Vec<u64>>,
    previous_ranges: Vec<Range<usize>>,
    previous_suspicion: Vec<Suspicion>,
    /// Addresses learned by the first sample that stay put (see `read_header`).
    anchors: Option<Anchors>,
    /// Samples taken, for the checks made every so many samples.
    samples: u64,
    /// The current sample's target is paused (its stacks cannot be torn).
    paused: bool,
    pub attempts: AttemptStats,
}

impl StackReader {
    pub fn new(interp: &Interpreter) -> StackReader {
        StackReader {
            codes: CodeCache::new(&interp.layout, interp.code_type),
            cpu: CpuStates::new(interp.pid),
            cpu_clock: None,
            names: ThreadNames::new(),
            pending: Vec::with_capacity(256),
            thread_buf: vec![0; interp.layout.thread_header_len()],
            copies: Copies::default(),
            gather: Gather::new(),
            interp_gather: Gather::new(),
            plans: Vec::new(),
            plan_regions: Vec::new(),
            next_plans: Vec::new(),
            next_regions: Vec::new(),
            batched: Vec::new(),
            batch_regions: Vec::new(),
            code_regions: Vec::new(),
            recent: RecentFrames::default(),
            batch_recent: Vec::new(),
            pthread_tid_offset: None,
            cpu_before_pause: None,
            thread_pending: Vec::with_capacity(16),
            consistency: Vec::with_capacity(16),
            suspicion: Vec::with_capacity(16),
            previous_pending: Vec::new(),
            frame_addresses: Vec::new(),
            previous_ranges: Vec::new(),
            previous_suspicion: Vec::new(),
            anchors: None,
            samples: 0,
            paused: false,
            attempts: AttemptStats::default(),
        }
    }

    /// Starts counting every thread's CPU time from now, for samples taken with
    /// [`SampleOptions::cpu_time`].
    pub fn start_cpu_clock(&mut self, pid: u32) {
        self.cpu_clock = Some(CpuClock::start(pid));
    }

    /// Like [`StackReader::start_cpu_clock`] for a process joining a running recording:
    /// its first sample counts at most the CPU time used since `since`, the previous
    /// sample moment ([`CpuClock::since`]).
    pub fn start_cpu_clock_since(&mut self, pid: u32, since: std::time::Instant) {
        self.cpu_clock = Some(CpuClock::since(pid, since));
    }

    /// Records every thread's CPU state now, for the next sample to use; call it right
    /// before pausing the target. Returns the threads listed, for [`Pause::with_threads`].
    ///
    /// [`Pause::with_threads`]: crate::process::pause::Pause::with_threads
    pub fn note_cpu_states_before_pause(&mut self, pid: u32) -> Vec<u32> {
        let tids = crate::process::threads::thread_ids(pid);
        let states = tids
            .iter()
            .filter_map(|&tid| Some((tid, self.cpu.on_cpu(tid)?)))
            .collect();
        self.cpu_before_pause = Some(states);
        tids
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
        let mut attempt = 0;
        self.previous_ranges.clear();
        loop {
            attempt += 1;
            self.read_once(interp, out).map_err(fail)?;
            if opts.paused {
                break;
            }
            self.check_stacks(interp);
            self.accept_repeated_suspects();
            let settled = self
                .consistency
                .iter()
                .all(|c| *c == Consistency::OneInstant)
                && self.suspicion.iter().all(|s| *s == Suspicion::None);
            if settled {
                break;
            }
            let limit = if self.suspicion.iter().any(|s| *s != Suspicion::None) {
                MAX_ATTEMPTS_SUSPECT
            } else {
                MAX_ATTEMPTS
            };
            if attempt < limit {
                self.attempts.retried += u64::from(attempt == 1);
                self.remember_attempt();
                continue;
            }
            // Still moving after the last attempt: keep what it read (the functions are
            // right; a caller's line may be one it had already moved past), and count it;
            // but a stack that moved and has a caller off its call is not one the program
            // ever had (3.11+), so it is an error.
            for ((stack, c), s) in out.iter_mut().zip(&self.consistency).zip(&self.suspicion) {
                match (c, s) {
                    (Consistency::Moved, Suspicion::OffCall) => {
                        self.attempts.off_call += 1;
                        stack.error.get_or_insert_with(|| {
                            format!("stack kept changing while read ({attempt} reads)")
                        });
                    }
                    (Consistency::Moved, _) => self.attempts.moving += 1,
                    _ => {}
                }
            }
            break;
        }
        self.resolve_frames(interp, out).map_err(fail)?;
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
            if self.samples % 1024 == 0 {
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
        Ok(())
    }

    /// One attempt: the batch read of the plan, then the thread list and every thread's
    /// walk on its results, reading on the spot whatever the plan missed. Leaves the
    /// threads in `out`, their frames in `pending`, how each went in `consistency`, and
    /// the plan for next time in `plans`.
    fn read_once(
        &mut self,
        interp: &Interpreter,
        out: &mut Vec<ThreadStack>,
    ) -> Result<(), ReadError> {
        let layout = &interp.layout;
        let mem = &*interp.mem;
        self.pending.clear();
        self.thread_pending.clear();
        self.consistency.clear();
        self.suspicion.clear();
        self.next_plans.clear();
        self.next_regions.clear();

        let header_ids = self.build_batch(interp);
        mem.gather(&mut self.gather)?;
        for i in 0..self.code_regions.len() {
            let addr = self.codes.planned()[i];
            let header = self.gather.get(self.code_regions[i]);
            self.codes.check_fingerprint(layout, addr, header);
        }

        let header = match header_ids.and_then(|ids| self.batched_header(ids)) {
            Some(h) => h,
            None => self.read_header(interp)?,
        };
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
                None => {
                    // (A gather of its own: the sample's batch is still being used.)
                    let g = &mut self.interp_gather;
                    g.clear();
                    let head = g.push(interp_addr + layout.interp_threads_head, 8);
                    let next = g.push(interp_addr + layout.interp_next, 8);
                    mem.gather(g)?;
                    match (g.get(head), g.get(next)) {
                        (Some(head), Some(next)) => (head.u64_at(0), next.u64_at(0)),
                        _ => return Err(ReadError::BadAddress(interp_addr)),
                    }
                }
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
                let first_pending = self.pending.len();
                let result = self.read_thread(interp, tstate, count, stack);
                count += 1;
                self.thread_pending.push(first_pending..self.pending.len());
                self.suspicion.push(Suspicion::None);
                match result {
                    Ok((next_tstate, consistency)) => {
                        self.consistency.push(consistency);
                        if stack.error.is_some() {
                            if let Some(s) = self.suspicion.last_mut() {
                                *s = Suspicion::Torn;
                            }
                        }
                        stack.holds_gil = gil_locked && gil_holder == tstate;
                        tstate = next_tstate;
                    }
                    Err(ReadError::BadAddress(a)) => {
                        self.consistency.push(Consistency::Pieced);
                        if let Some(s) = self.suspicion.last_mut() {
                            *s = Suspicion::Torn;
                        }
                        stack.error =
                            Some(format!("thread state at {tstate:#x} unreadable at {a:#x}"));
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            interp_addr = next;
        }
        out.truncate(count);
        std::mem::swap(&mut self.plans, &mut self.next_plans);
        std::mem::swap(&mut self.plan_regions, &mut self.next_regions);
        Ok(())
    }

    /// A suspect stack whose frame pointer did not move and which this attempt read exactly
    /// as the last one did is taken as it is: a steady stack the checks cannot place (a
    /// call site another thread has since re-specialized, an interpreter path the opcode
    /// tables do not know), not a torn one.
    fn accept_repeated_suspects(&mut self) {
        for i in 0..self.suspicion.len() {
            if self.suspicion[i] == Suspicion::None || self.consistency[i] == Consistency::Moved {
                continue;
            }
            let (Some(before), Some(now)) = (
                self.previous_ranges
                    .get(i)
                    .and_then(|r| self.previous_pending.get(r.clone())),
                self.thread_pending
                    .get(i)
                    .and_then(|r| self.pending.get(r.clone())),
            ) else {
                continue;
            };
            if self.previous_suspicion.get(i) == Some(&self.suspicion[i]) && before == now {
                self.suspicion[i] = Suspicion::None;
            }
        }
    }

    /// Keeps this attempt's frames for [`StackReader::accept_repeated_suspects`].
    fn remember_attempt(&mut self) {
        self.previous_pending.clear();
        self.previous_pending.extend_from_slice(&self.pending);
        self.previous_ranges.clear();
        self.previous_ranges.extend_from_slice(&self.thread_pending);
        self.previous_suspicion.clear();
        self.previous_suspicion.extend_from_slice(&self.suspicion);
    }

    /// Marks every thread whose stack was copied while it changed though its walk went
    /// through: a frame names something that is not a code object, or (3.11+) a caller
    /// stands where it cannot have called, even if the frame pointer ended where it
    /// started. Decodes the code objects met for the first time on the way.
    fn check_stacks(&mut self, interp: &Interpreter) {
        let (mem, layout) = (&*interp.mem, &interp.layout);
        for (range, suspicion) in self.thread_pending.iter().zip(self.suspicion.iter_mut()) {
            if *suspicion != Suspicion::None {
                continue;
            }
            let Some(frames) = self.pending.get(range.clone()) else {
                continue;
            };
            let mut previous = 0;
            let garbage = frames.iter().any(|f| {
                let new = f.code != previous;
                previous = f.code;
                new && self.codes.decode_into_cache(mem, layout, f.code).is_err()
            });
            if garbage {
                *suspicion = Suspicion::Torn;
                continue;
            }
            if layout.bytecode.is_none() {
                continue;
            }
            // A recursion repeats one (callee, caller) pair: it is checked once.
            let mut last: Option<(&PendingFrame, &PendingFrame)> = None;
            for pair in frames.windows(2) {
                let (callee, caller) = (&pair[0], &pair[1]);
                if last.is_some_and(|(a, b)| a == callee && b == caller) {
                    continue;
                }
                last = Some((callee, caller));
                if !self.codes.caller_is_plausible(mem, layout, callee, caller) {
                    *suspicion = Suspicion::OffCall;
                    break;
                }
            }
        }
    }

    /// Lays out this attempt's batch: the header (when its addresses are known), then for
    /// every planned thread its state and current-frame field, then for each thread its
    /// frames' regions followed by its frame pointer again, then the planned code objects'
    /// fingerprints. Returns the header's regions.
    fn build_batch(&mut self, interp: &Interpreter) -> Option<HeaderIds> {
        let layout = &interp.layout;
        self.gather.clear();
        self.batched.clear();
        self.batch_regions.clear();
        self.code_regions.clear();
        self.batch_recent.clear();
        let check_list = self.samples % INTERPRETER_LIST_EVERY == 1;
        let header = self
            .anchors
            .map(|a| push_header(&mut self.gather, interp, a, check_list));
        let thread_len = self.thread_buf.len();
        for plan in &self.plans {
            let tstate = self.gather.push(plan.tstate, thread_len);
            let cframe_frame = push_cframes(&mut self.gather, &plan.cframes, layout);
            let pthread_tid =
                (plan.pthread_tid != 0).then(|| self.gather.push(plan.pthread_tid, 4));
            self.batched.push(Batched {
                tstate,
                cframe_frame,
                pthread_tid,
                regions: 0..0,
                recent: 0..0,
                trailer: tstate,
                cframe_trailer: [None; MAX_CFRAMES],
            });
        }
        // Each thread's frames, and right after them its frame pointer again: the shorter
        // the time between, the fewer moves go unseen.
        for (plan, batched) in self.plans.iter().zip(self.batched.iter_mut()) {
            let first = self.batch_regions.len();
            for r in &self.plan_regions[plan.regions.clone()] {
                self.batch_regions.push(self.gather.push(r.start, r.len));
            }
            batched.regions = first..self.batch_regions.len();
            // The coroutine frames that ran lately, in case one of them runs now.
            let planned = &self.plan_regions[plan.regions.clone()];
            let first_recent = self.batch_recent.len();
            for (start, len) in self.recent.of_thread(plan.tstate) {
                if planned.binary_search_by_key(&start, |r| r.start).is_err() {
                    let id = self.gather.push(start, len);
                    self.batch_recent.push((start, len, id));
                }
            }
            batched.recent = first_recent..self.batch_recent.len();
            if plan.cframes[0] != 0 {
                batched.cframe_trailer = push_cframes(&mut self.gather, &plan.cframes, layout);
            } else {
                batched.trailer = self.gather.push(plan.tstate + layout.thread_frame, 8);
            }
        }
        let header_len = self.codes.header_len();
        for &addr in self.codes.planned() {
            self.code_regions.push(self.gather.push(addr, header_len));
        }
        header
    }

    /// The header from the batch; `None` when it was not read or the runtime's
    /// interpreter list no longer starts where it did.
    fn batched_header(&self, ids: HeaderIds) -> Option<Header> {
        header_from(&self.gather, ids, self.anchors?)
    }

    /// The first interpreter, its thread-list head and `next`, and the GIL state, learned
    /// from `_PyRuntime` (the first sample, or when the interpreter list changed). The
    /// addresses found are kept: the main interpreter and its GIL never move, so later
    /// samples read the header in their batch.
    fn read_header(&mut self, interp: &Interpreter) -> Result<Header, ReadError> {
        self.anchors = None;
        let layout = &interp.layout;
        let mem = &*interp.mem;
        let interp_addr = mem.read_u64(interp.runtime + layout.runtime_interpreters_head)?;
        if interp_addr == 0 {
            return Ok(Header::default());
        }
        let (gil_holder, gil_locked) = match layout.gil {
            GilLocation::Runtime {
                last_holder,
                locked,
            } => (interp.runtime + last_holder, interp.runtime + locked),
            GilLocation::Interpreter {
                pointer,
                last_holder,
                locked,
            } => match mem.read_u64(interp_addr + pointer)? {
                0 => (0, 0),
                gil => (gil + last_holder, gil + locked),
            },
            GilLocation::Unknown => (0, 0),
        };
        let anchors = Anchors {
            interp: interp_addr,
            gil_holder,
            gil_locked,
        };
        // One read of the header through the addresses found (a gather of its own: the
        // sample's batch is still being used).
        let mut g = Gather::new();
        let ids = push_header(&mut g, interp, anchors, true);
        mem.gather(&mut g)?;
        let header = header_from(&g, ids, anchors).ok_or(ReadError::BadAddress(interp_addr))?;
        self.anchors = Some(anchors);
        Ok(header)
    }

    /// Turns every thread's pending frames into frames with code ids and lines, after
    /// validating the sample's cached code objects the batch did not cover.
    fn resolve_frames(
        &mut self,
        interp: &Interpreter,
        out: &mut [ThreadStack],
    ) -> Result<(), ReadError> {
        let layout = &interp.layout;
        let mem = &*interp.mem;
        if let Err(e) = self.codes.validate(mem, layout, &self.pending) {
            if interp.source.is_gone(interp.pid) {
                return Err(ReadError::Gone);
            }
            for stack in out.iter_mut() {
                stack
                    .error
                    .get_or_insert(format!("code objects unreadable: {e}"));
            }
            return Ok(());
        }
        let unreadable = self.unreadable();
        self.frame_addresses.resize_with(out.len(), Vec::new);
        for (index, (stack, range)) in out.iter_mut().zip(self.thread_pending.iter()).enumerate() {
            let addresses = &mut self.frame_addresses[index];
            addresses.clear();
            addresses.resize(stack.frames.len(), 0);
            let Some(pending) = self.pending.get(range.clone()) else {
                continue;
            };
            if let Err(e) =
                self.codes
                    .resolve_validated(mem, layout, pending, &mut stack.frames, addresses)
            {
                stack
                    .error
                    .get_or_insert(format!("{unreadable} (code objects): {e}"));
            }
        }
        Ok(())
    }

    /// Reads one thread state and its frames into `stack` (the `index`-th thread of this
    /// sample), from the batch where the plan covered it; returns the next thread state
    /// and how consistent the read was, and notes the plan for next time.
    fn read_thread(
        &mut self,
        interp: &Interpreter,
        tstate: u64,
        index: usize,
        stack: &mut ThreadStack,
    ) -> Result<(u64, Consistency), ReadError> {
        let layout = &interp.layout;
        let mem = &*interp.mem;
        let planned = self.find_plan(tstate, index);
        let mut pieced = false;
        let batched_state = planned
            .and_then(|p| self.gather.get(self.batched[p].tstate))
            .filter(|b| b.len() == self.thread_buf.len());
        match batched_state {
            Some(bytes) => self.thread_buf.copy_from_slice(bytes),
            None => {
                pieced = true;
                mem.read(tstate, &mut self.thread_buf)?;
            }
        }
        let t = &self.thread_buf[..];
        let next = t.u64_at(layout.thread_next as usize);
        stack.python_thread_id = t.u64_at(layout.thread_id as usize);
        let native_tid = layout
            .thread_native_id
            .map(|off| t.u64_at(off as usize) as u32);
        let frame_field = t.u64_at(layout.thread_frame as usize);
        let chunk = layout
            .thread_datastack_chunk
            .map_or(0, |o| t.u64_at(o as usize));
        let top = layout
            .thread_datastack_top
            .map_or(0, |o| t.u64_at(o as usize));
        let pthread = stack.python_thread_id;
        let pthread_tid = self.pthread_tid_addr(native_tid, pthread);
        let batched_tid = planned
            .filter(|p| self.plans[*p].pthread_tid == pthread_tid)
            .and_then(|p| self.batched[p].pthread_tid)
            .and_then(|id| self.gather.get(id))
            .map(|b| b.u32_at(0));
        stack.os_tid = match (native_tid, batched_tid) {
            (Some(tid), _) | (None, Some(tid)) => Some(tid).filter(|tid| *tid != 0),
            (None, None) => self.os_tid_from_pthread(interp, pthread),
        };
        // The tid's offset may have just been calibrated.
        let pthread_tid = self.pthread_tid_addr(native_tid, pthread);

        // The frame pointer the walk starts from; 3.11/3.12 keep it in the `_PyCFrame`.
        let cframe = if layout.era == Era::CFrame {
            frame_field
        } else {
            0
        };
        let first = if layout.era != Era::CFrame || frame_field == 0 {
            frame_field
        } else {
            let batched = planned
                .and_then(|p| self.cframe_slot(p, cframe))
                .and_then(|(p, i)| self.batched[p].cframe_frame[i])
                .and_then(|id| self.gather.get(id))
                .map(|b| b.u64_at(0));
            match batched {
                Some(f) => f,
                None => {
                    pieced = true;
                    match mem.read_u64(frame_field + layout.cframe_current_frame) {
                        Ok(f) => f,
                        Err(ReadError::BadAddress(a)) => {
                            stack.error = Some(format!(
                                "{}: address {a:#x} is not readable",
                                self.unreadable()
                            ));
                            let at = self.next_regions.len();
                            let cframes = self.next_cframes(planned, cframe);
                            self.next_plans.push(ThreadPlan {
                                tstate,
                                pthread_tid,
                                cframes,
                                regions: at..at,
                            });
                            return Ok((next, Consistency::Pieced));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        };

        // The frame pointer read again right after the frames, to see whether it moved.
        // The walk starts from the first one: the frames copied after it was read are
        // newer, and on 3.14+ a frame popped in between shows its cleared code pointer
        // (starting from the later one, a frame copied just before it made a call would
        // show as a caller that had not called yet).
        let trailer = planned
            .and_then(|p| match self.cframe_slot(p, cframe) {
                Some((p, i)) => self.batched[p].cframe_trailer[i],
                None if cframe == 0 && self.plans[p].cframes[0] == 0 => {
                    Some(self.batched[p].trailer)
                }
                None => None,
            })
            .and_then(|id| self.gather.get(id))
            .map(|b| b.u64_at(0));
        self.copies.clear();
        if let Some(p) = planned {
            let plan = &self.plans[p];
            let batched = &self.batched[p];
            for (r, id) in self.plan_regions[plan.regions.clone()]
                .iter()
                .zip(&self.batch_regions[batched.regions.clone()])
            {
                if self.gather.get(*id).is_some() {
                    let offset = self.gather.offset(*id);
                    self.copies.add_batched(r.start, r.len, offset, r.chunk);
                }
            }
            for &(start, len, id) in &self.batch_recent[batched.recent.clone()] {
                if self.gather.get(id).is_some() {
                    let offset = self.gather.offset(id);
                    self.copies.add_batched(start, len, offset, false);
                } else {
                    self.recent.forget(tstate, start);
                }
            }
        }
        let mut walk = FrameWalk {
            layout,
            mem,
            batch: self.gather.buffer(),
            copies: &mut self.copies,
            pending: &mut self.pending,
            missed: false,
            loops: Default::default(),
            truncated: false,
        };
        let walked = walk.walk(first, chunk, top);
        pieced |= walk.missed;
        stack.truncated = walk.truncated;
        let plan_start = self.next_regions.len();
        walk.plan(&mut self.next_regions);
        let regions = plan_start..self.next_regions.len();
        if layout.era != Era::FrameObjects {
            self.recent
                .note(tstate, &self.next_regions[regions.clone()], self.samples);
        }
        let cframes = self.next_cframes(planned, cframe);
        self.next_plans.push(ThreadPlan {
            tstate,
            pthread_tid,
            cframes,
            regions,
        });
        // A torn walk leaves its error on the stack (the sampler's checks re-read it).
        match walked {
            Ok(()) => {}
            Err(WalkError::Process(e)) => return Err(e),
            Err(WalkError::Torn(why)) => {
                stack.error = Some(format!("{}: {why}", self.unreadable()));
            }
        }
        // Did the frame pointer stay put while the frames were read?
        let consistency = match trailer {
            Some(f) if f != first => Consistency::Moved,
            Some(_) if !pieced => Consistency::OneInstant,
            _ => Consistency::Pieced,
        };
        Ok((next, consistency))
    }

    /// How a stack that could not be read is described: "torn" only when the target ran
    /// while it was read; a paused target's stack cannot have changed under the read.
    fn unreadable(&self) -> &'static str {
        if self.paused {
            "stack unreadable (process paused)"
        } else {
            "stack torn while reading"
        }
    }

    /// Which of plan entry `p`'s `_PyCFrame`s is `cframe` (never a 0).
    fn cframe_slot(&self, p: usize, cframe: u64) -> Option<(usize, usize)> {
        let i = self
            .plans
            .get(p)?
            .cframes
            .iter()
            .position(|c| *c == cframe)?;
        (cframe != 0).then_some((p, i))
    }

    /// The `_PyCFrame`s the next sample reads: `cframe` first, then the planned ones
    /// it is not.
    fn next_cframes(&self, planned: Option<usize>, cframe: u64) -> [u64; MAX_CFRAMES] {
        let mut out = [0; MAX_CFRAMES];
        if cframe == 0 {
            return out;
        }
        out[0] = cframe;
        let before = planned.and_then(|p| self.plans.get(p)).map(|p| p.cframes);
        let others = before
            .iter()
            .flatten()
            .filter(|c| **c != 0 && **c != cframe);
        for (slot, c) in out[1..].iter_mut().zip(others) {
            *slot = *c;
        }
        out
    }

    /// Which plan entry is for thread state `tstate`, the `index`-th of this sample.
    fn find_plan(&self, tstate: u64, index: usize) -> Option<usize> {
        if self.plans.get(index).is_some_and(|p| p.tstate == tstate) {
            return Some(index);
        }
        self.plans.iter().position(|p| p.tstate == tstate)
    }

    /// Where the kernel tid of a ≤3.10 thread is (0: the thread state has it, or unknown).
    fn pthread_tid_addr(&self, native_tid: Option<u32>, pthread: u64) -> u64 {
        match (native_tid, self.pthread_tid_offset) {
            (None, Some(off)) if pthread != 0 => pthread + off,
            _ => 0,
        }
    }

    /// ≤3.10 thread states have no kernel thread id; their `thread_id` is the address of
    /// glibc's `struct pthread`, which holds the tid at a fixed offset. The offset is
    /// found once by looking for a word equal to one of the process's thread ids.
    fn os_tid_from_pthread(&mut self, interp: &Interpreter, pthread: u64) -> Option<u32> {
        if pthread == 0 {
            return None;
        }
        if self.pthread_tid_offset.is_none() {
            self.pthread_tid_offset = calibrate_pthread_tid_offset(interp, pthread);
        }
        let off = self.pthread_tid_offset?;
        interp.mem.read_u32(pthread + off).ok().filter(|t| *t != 0)
    }
}

fn calibrate_pthread_tid_offset(interp: &Interpreter, pthread: u64) -> Option<u64> {
    // A live process's threads from /proc, a core's from its notes.
    let tids = interp.source.thread_ids(interp.pid);
    let mut buf = vec![0u8; 2048];
    interp.mem.read(pthread, &mut buf).ok()?;
    let matches = |off: u64| tids.contains(&buf.u32_at(off as usize));
    if matches(GLIBC_PTHREAD_TID_OFFSET) {
        return Some(GLIBC_PTHREAD_TID_OFFSET);
    }
    (0..buf.len() as u64 - 4)
        .step_by(4)
        .find(|o| matches(*o) && buf.u32_at(*o as usize) > 1)
}

/// Pushes the current-frame field behind each `_PyCFrame` of `cframes` (by address, so
/// that the gather joins them into one iovec).
fn push_cframes(
    g: &mut Gather,
    cframes: &[u64; MAX_CFRAMES],
    layout: &super::layout::Layout,
) -> [Option<RegionId>; MAX_CFRAMES] {
    let mut order: [usize; MAX_CFRAMES] = std::array::from_fn(|i| i);
    order.sort_unstable_by_key(|&i| cframes[i]);
    let mut ids = [None; MAX_CFRAMES];
    for i in order {
        if cframes[i] != 0 {
            ids[i] = Some(g.push(cframes[i] + layout.cframe_current_frame, 8));
        }
    }
    ids
}

/// Pushes the header's regions through known addresses: static data first (`_PyRuntime`,
/// which holds the GIL up to 3.11), then the interpreter, so that fields near each other
/// share an iovec. The runtime's interpreter list head only when `check_list`.
fn push_header(g: &mut Gather, interp: &Interpreter, a: Anchors, check_list: bool) -> HeaderIds {
    let layout = &interp.layout;
    let interpreters_head =
        check_list.then(|| g.push(interp.runtime + layout.runtime_interpreters_head, 8));
    let gil = (a.gil_holder != 0).then(|| (g.push(a.gil_holder, 8), g.push(a.gil_locked, 4)));
    let next = g.push(a.interp + layout.interp_next, 8);
    HeaderIds {
        interpreters_head,
        threads_head: g.push(a.interp + layout.interp_threads_head, 8),
        next,
        gil,
    }
}

/// The header read by [`push_header`]'s regions; `None` when a read fell short or the
/// runtime's interpreter list no longer starts at `a.interp`.
fn header_from(g: &Gather, ids: HeaderIds, a: Anchors) -> Option<Header> {
    let word = |id: RegionId| g.get(id).map(|b| b.u64_at(0));
    if let Some(head) = ids.interpreters_head {
        if word(head)? != a.interp {
            return None;
        }
    }
    let (gil_holder, gil_locked) = match ids.gil {
        None => (0, false),
        Some((holder, locked)) => (word(holder)?, g.get(locked)?.u32_at(0) != 0),
    };
    Some(Header {
        interp: a.interp,
        threads_head: word(ids.threads_head)?,
        next: word(ids.next)?,
        gil_holder,
        gil_locked,
    })
}
