//! The read plan: what the last sample found, laid out as one `process_vm_readv` (a
//! [`Gather`]) for the next, and where each piece landed in it.
//!
//! The plan holds the interpreter header's addresses ([`Anchors`], learnt once), and for
//! every thread its thread state, 3.11/3.12's latest `_PyCFrame`s, ≤3.10's tid word in
//! `struct pthread`, and the regions its walk used (data-stack chunks or frame objects,
//! by address). [`ReadPlan::lay_out`] pushes them in this order: header, every thread
//! state and current-frame field, then each thread's regions, its recent coroutine
//! frames and its frame pointer once more, then the riders (regions another reader asked
//! to have read with the sample, [`Riders`]), then the planned code objects' fingerprints.
//! Each attempt learns the next plan as it walks ([`ReadPlan::note_thread`]) and swaps
//! it in at its end.

use std::ops::Range;

use crate::process::{Bytes, Gather, Memory, ReadError, RegionId};
use crate::python::code::CodeCache;
use crate::python::copies::Copies;
use crate::python::frames::PlannedRegion;
use crate::python::interpreter::Interpreter;
use crate::python::layout::{GilLocation, Layout};
use crate::python::recent_frames::RecentFrames;

/// Every how many samples the runtime's interpreter list is checked for a new head (a
/// subinterpreter created or gone); in between, the main interpreter found is read.
const INTERPRETER_LIST_EVERY: u64 = 64;
/// How many of a thread's latest `_PyCFrame`s (3.11/3.12) each gathered read reads the
/// current frame of. The `_PyCFrame` is a local of the interpreter loop's C frame, so it
/// moves each time C code runs Python code: an event loop's thread switches between the
/// loop's own (`_run_once`, `select`) and the one under each task step every few hundred
/// µs, and each C path into the loop (a task step, a future's callback, a stream's
/// protocol) puts it at another depth. They sit on the C stack a few hundred bytes apart,
/// so reading several costs one iovec or two. With 4, a 3.11 asyncio service
/// (tests/bench/aioserver.py) missed its `_PyCFrame` at 14% of samples, each read again
/// whole; with 8 at 1.6%, with 16 at 0.4%.
const MAX_CFRAMES: usize = 16;

/// What the last sample learned about one thread: what the next one reads for it.
#[derive(Debug, Clone)]
struct ThreadPlan {
    tstate: u64,
    /// ≤3.10: where the kernel tid sits in glibc's `struct pthread` (0 otherwise).
    pthread_tid: u64,
    /// 3.11/3.12: the `_PyCFrame`s the thread state pointed to lately, the latest first
    /// (0: none).
    cframes: [u64; MAX_CFRAMES],
    /// Into `ReadPlan::regions`.
    regions: Range<usize>,
}

/// Where one planned thread's pieces are in this attempt's gathered read.
#[derive(Debug, Clone)]
struct ThreadRegionIds {
    tstate: RegionId,
    /// The current-frame field behind each planned `_PyCFrame` (3.11/3.12).
    cframe_frame: [Option<RegionId>; MAX_CFRAMES],
    pthread_tid: Option<RegionId>,
    /// Into `ReadPlan::gathered_regions`, parallel to the plan's regions.
    regions: Range<usize>,
    /// Into `ReadPlan::gathered_recent`: the thread's recent out-of-chunk frames the
    /// plan does not have.
    recent: Range<usize>,
    /// The frame pointer read again after the frames.
    trailer: RegionId,
    /// 3.11/3.12: the same behind each planned `_PyCFrame`.
    cframe_trailer: [Option<RegionId>; MAX_CFRAMES],
}

/// Where the header's fields are in this attempt's gathered read.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeaderIds {
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
pub(super) struct Header {
    pub interp: u64,
    pub threads_head: u64,
    pub next: u64,
    pub gil_holder: u64,
    pub gil_locked: bool,
}

/// Regions another reader of the target wants read with the next sample, in the same
/// `process_vm_readv` right after the stacks: `record --async` reads the running tasks
/// this way, so that they cost no syscall of their own and are read at the stacks'
/// instant. What the sample read of them stays until the next sample
/// ([`super::StackReader::rider`]).
#[derive(Debug, Default)]
pub struct Riders {
    wanted: Vec<(u64, usize)>,
    /// This attempt's regions, parallel to `wanted`.
    ids: Vec<RegionId>,
}

impl Riders {
    /// Forgets every region asked for.
    pub fn clear(&mut self) {
        self.wanted.clear();
    }

    /// Asks for `len` bytes at `addr` with every sample from the next on, until cleared;
    /// returns the index [`super::StackReader::rider`] takes.
    pub fn push(&mut self, addr: u64, len: usize) -> usize {
        self.wanted.push((addr, len));
        self.wanted.len() - 1
    }
}

/// A planned thread: its entry in the plan and in this attempt's gathered read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Planned {
    index: usize,
}

/// The plan, this attempt's gathered read of it, and the plan being learned.
#[derive(Default)]
pub(super) struct ReadPlan {
    /// This attempt's one read of the plan.
    pub gather: Gather,
    /// Reads a subinterpreter's thread-list head and `next` (reused, like `gather`).
    interp_gather: Gather,
    /// The plan for the next sample, one entry a thread, in thread-list order.
    plans: Vec<ThreadPlan>,
    regions: Vec<PlannedRegion>,
    /// The plan being learned by this attempt (swapped in at its end).
    next_plans: Vec<ThreadPlan>,
    pub next_regions: Vec<PlannedRegion>,
    ids: Vec<ThreadRegionIds>,
    gathered_regions: Vec<RegionId>,
    /// This read's fingerprint regions, parallel to `codes.planned()`.
    code_regions: Vec<RegionId>,
    /// Out-of-chunk frames (generators, coroutines) recent samples walked (3.11+).
    pub recent: RecentFrames,
    /// This read's reads of them: address, length, region.
    gathered_recent: Vec<(u64, usize, RegionId)>,
    /// Addresses learned by the first sample that stay put (see `read_header`).
    anchors: Option<Anchors>,
    pub riders: Riders,
}

impl ReadPlan {
    /// Starts learning a new plan.
    pub(super) fn begin_attempt(&mut self) {
        self.next_plans.clear();
        self.next_regions.clear();
    }

    /// Makes the plan this attempt learned the plan.
    pub(super) fn finish_attempt(&mut self) {
        std::mem::swap(&mut self.plans, &mut self.next_plans);
        std::mem::swap(&mut self.regions, &mut self.next_regions);
    }

    /// Lays out this attempt's gathered read: the header (when its addresses are known),
    /// then for every planned thread its state and current-frame field, then for each
    /// thread its frames' regions followed by its frame pointer again, then the planned
    /// code objects' fingerprints. `sample` numbers the sample (from 1). Returns the
    /// header's regions.
    pub(super) fn lay_out(
        &mut self,
        interp: &Interpreter,
        codes: &CodeCache,
        thread_len: usize,
        sample: u64,
    ) -> Option<HeaderIds> {
        let layout = &interp.layout;
        self.gather.clear();
        self.ids.clear();
        self.gathered_regions.clear();
        self.code_regions.clear();
        self.gathered_recent.clear();
        let check_list = sample % INTERPRETER_LIST_EVERY == 1;
        let header = self
            .anchors
            .map(|a| push_header(&mut self.gather, interp, a, check_list));
        for plan in &self.plans {
            let tstate = self.gather.push(plan.tstate, thread_len);
            let cframe_frame = push_cframes(&mut self.gather, &plan.cframes, layout);
            let pthread_tid =
                (plan.pthread_tid != 0).then(|| self.gather.push(plan.pthread_tid, 4));
            self.ids.push(ThreadRegionIds {
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
        for (plan, ids) in self.plans.iter().zip(self.ids.iter_mut()) {
            let first = self.gathered_regions.len();
            for r in &self.regions[plan.regions.clone()] {
                self.gathered_regions.push(self.gather.push(r.start, r.len));
            }
            ids.regions = first..self.gathered_regions.len();
            // The coroutine frames that ran lately, in case one of them runs now.
            let planned = &self.regions[plan.regions.clone()];
            let first_recent = self.gathered_recent.len();
            for (start, len) in self.recent.of_thread(plan.tstate) {
                if planned.binary_search_by_key(&start, |r| r.start).is_err() {
                    let id = self.gather.push(start, len);
                    self.gathered_recent.push((start, len, id));
                }
            }
            ids.recent = first_recent..self.gathered_recent.len();
            if plan.cframes[0] != 0 {
                ids.cframe_trailer = push_cframes(&mut self.gather, &plan.cframes, layout);
            } else {
                ids.trailer = self.gather.push(plan.tstate + layout.thread_frame, 8);
            }
        }
        self.riders.ids.clear();
        if !self.riders.wanted.is_empty() {
            // A stale rider (a task freed since) must not take a thread's trailer, or a
            // code object's fingerprint, with it: its iovecs are its own.
            self.gather.break_span();
            for &(addr, len) in &self.riders.wanted {
                self.riders.ids.push(self.gather.push(addr, len));
            }
            self.gather.break_span();
        }
        let header_len = codes.header_len();
        for &addr in codes.planned() {
            self.code_regions.push(self.gather.push(addr, header_len));
        }
        header
    }

    /// Rider `index` as the last attempt read it, when it was read whole.
    pub(super) fn rider(&self, index: usize) -> Option<&[u8]> {
        self.gather.get(*self.riders.ids.get(index)?)
    }

    /// Hands the planned code objects' fingerprints read to the code cache.
    pub(super) fn check_code_fingerprints(&self, codes: &mut CodeCache, layout: &Layout) {
        for (i, id) in self.code_regions.iter().enumerate() {
            let addr = codes.planned()[i];
            codes.check_fingerprint(layout, addr, self.gather.get(*id));
        }
    }

    /// The header: from the gathered read when it had it and the runtime's interpreter
    /// list still starts where it did, else read from `_PyRuntime`.
    pub(super) fn header(
        &mut self,
        interp: &Interpreter,
        ids: Option<HeaderIds>,
    ) -> Result<Header, ReadError> {
        let gathered = ids.and_then(|ids| header_from(&self.gather, ids, self.anchors?));
        match gathered {
            Some(h) => Ok(h),
            None => self.read_header(interp),
        }
    }

    /// The first interpreter, its thread-list head and `next`, and the GIL state, learned
    /// from `_PyRuntime` (the first sample, or when the interpreter list changed). The
    /// addresses found are kept: the main interpreter and its GIL never move, so later
    /// samples read the header in their gathered read.
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
        // attempt's gathered read is still being used).
        let mut g = Gather::new();
        let ids = push_header(&mut g, interp, anchors, true);
        mem.gather(&mut g)?;
        let header = header_from(&g, ids, anchors).ok_or(ReadError::BadAddress(interp_addr))?;
        self.anchors = Some(anchors);
        Ok(header)
    }

    /// A subinterpreter's thread-list head and `next` interpreter, in one read of their
    /// own (the attempt's gathered read is still being used).
    pub(super) fn interpreter_links(
        &mut self,
        mem: &dyn Memory,
        layout: &Layout,
        interp_addr: u64,
    ) -> Result<(u64, u64), ReadError> {
        let g = &mut self.interp_gather;
        g.clear();
        let head = g.push(interp_addr + layout.interp_threads_head, 8);
        let next = g.push(interp_addr + layout.interp_next, 8);
        mem.gather(g)?;
        match (g.get(head), g.get(next)) {
            (Some(head), Some(next)) => Ok((head.u64_at(0), next.u64_at(0))),
            _ => Err(ReadError::BadAddress(interp_addr)),
        }
    }

    /// The plan entry for thread state `tstate`, the `index`-th of this sample.
    pub(super) fn find(&self, tstate: u64, index: usize) -> Option<Planned> {
        if self.plans.get(index).is_some_and(|p| p.tstate == tstate) {
            return Some(Planned { index });
        }
        let index = self.plans.iter().position(|p| p.tstate == tstate)?;
        Some(Planned { index })
    }

    /// The thread state as gathered, when it was read whole (`len` bytes).
    pub(super) fn thread_state(&self, p: Planned, len: usize) -> Option<&[u8]> {
        let ids = self.ids.get(p.index)?;
        self.gather.get(ids.tstate).filter(|b| b.len() == len)
    }

    /// ≤3.10: the tid word as gathered, when the plan read it at `pthread_tid`.
    pub(super) fn pthread_tid(&self, p: Planned, pthread_tid: u64) -> Option<u32> {
        let plan = self.plans.get(p.index)?;
        if plan.pthread_tid != pthread_tid {
            return None;
        }
        let id = self.ids.get(p.index)?.pthread_tid?;
        self.gather.get(id).map(|b| b.u32_at(0))
    }

    /// 3.11/3.12: the current frame behind `cframe` as gathered, when the plan had it.
    pub(super) fn cframe_frame(&self, p: Planned, cframe: u64) -> Option<u64> {
        let i = self.cframe_slot(p, cframe)?;
        let id = self.ids.get(p.index)?.cframe_frame[i]?;
        self.gather.get(id).map(|b| b.u64_at(0))
    }

    /// The frame pointer read again right after the thread's frames, when the plan read
    /// the one the walk starts from (`cframe`: its `_PyCFrame` on 3.11/3.12, else 0).
    pub(super) fn trailer(&self, p: Planned, cframe: u64) -> Option<u64> {
        let ids = self.ids.get(p.index)?;
        let id = match self.cframe_slot(p, cframe) {
            Some(i) => ids.cframe_trailer[i],
            None if cframe == 0 && self.plans.get(p.index)?.cframes[0] == 0 => Some(ids.trailer),
            None => None,
        }?;
        self.gather.get(id).map(|b| b.u64_at(0))
    }

    /// Hands `copies` the planned thread's regions that the gathered read brought, and
    /// forgets the recent frames it could not read.
    pub(super) fn add_copies(&mut self, p: Planned, tstate: u64, copies: &mut Copies) {
        let (Some(plan), Some(ids)) = (self.plans.get(p.index), self.ids.get(p.index)) else {
            return;
        };
        for (r, id) in self.regions[plan.regions.clone()]
            .iter()
            .zip(&self.gathered_regions[ids.regions.clone()])
        {
            if self.gather.get(*id).is_some() {
                let offset = self.gather.offset(*id);
                copies.add_gathered(r.start, r.len, offset, r.chunk);
            }
        }
        for &(start, len, id) in &self.gathered_recent[ids.recent.clone()] {
            if self.gather.get(id).is_some() {
                let offset = self.gather.offset(id);
                copies.add_gathered(start, len, offset, false);
            } else {
                self.recent.forget(tstate, start);
            }
        }
    }

    /// Plans thread state `tstate` for the next attempt: its tid word, its `_PyCFrame`
    /// (with the ones planned before), and `regions` of `next_regions`.
    pub(super) fn note_thread(
        &mut self,
        tstate: u64,
        pthread_tid: u64,
        planned: Option<Planned>,
        cframe: u64,
        regions: Range<usize>,
    ) {
        let cframes = self.next_cframes(planned, cframe);
        self.next_plans.push(ThreadPlan {
            tstate,
            pthread_tid,
            cframes,
            regions,
        });
    }

    /// Which of plan entry `p`'s `_PyCFrame`s is `cframe` (never a 0).
    fn cframe_slot(&self, p: Planned, cframe: u64) -> Option<usize> {
        let i = self
            .plans
            .get(p.index)?
            .cframes
            .iter()
            .position(|c| *c == cframe)?;
        (cframe != 0).then_some(i)
    }

    /// The `_PyCFrame`s the next sample reads: `cframe` first, then the planned ones
    /// it is not.
    fn next_cframes(&self, planned: Option<Planned>, cframe: u64) -> [u64; MAX_CFRAMES] {
        let mut out = [0; MAX_CFRAMES];
        if cframe == 0 {
            return out;
        }
        out[0] = cframe;
        let before = planned
            .and_then(|p| self.plans.get(p.index))
            .map(|p| p.cframes);
        let others = before
            .iter()
            .flatten()
            .filter(|c| **c != 0 && **c != cframe);
        for (slot, c) in out[1..].iter_mut().zip(others) {
            *slot = *c;
        }
        out
    }
}

/// Pushes the current-frame field behind each `_PyCFrame` of `cframes` (by address, so
/// that the gather joins them into one iovec).
fn push_cframes(
    g: &mut Gather,
    cframes: &[u64; MAX_CFRAMES],
    layout: &Layout,
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
