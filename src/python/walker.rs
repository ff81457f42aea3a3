//! One look at every Python thread of an interpreter: interpreters → thread states →
//! frames, per era (heap frame objects ≤3.10; data-stack interpreter frames 3.11+), then
//! code objects → names and lines through the [`CodeCache`]. Every loop over remote
//! pointers is bounded and cycle-checked; a thread whose stack cannot be read
//! consistently gets an error of its own, the others are still reported.
//!
//! On 3.11+ a thread costs a handful of reads whatever its depth: its state, the used part
//! of its data-stack chunk (all its frames at once), and one batched validation of its
//! code objects. Frames living elsewhere (generators, coroutines) cost one read each.

use std::collections::HashSet;
use std::sync::Arc;

use super::code::{CodeCache, PendingFrame};
use super::interpreter::Interpreter;
use super::layout::{Era, GilLocation, LineTableFormat};
use super::stack::ThreadStack;
use super::thread_names::ThreadNames;
use crate::error::{Error, Result};
use crate::process::threads::CpuStates;
use crate::process::{Bytes, ReadError};

/// Deepest stack we follow before calling it garbage.
pub const MAX_DEPTH: usize = 4096;
/// Most threads (and interpreters) we follow before calling the list garbage.
const MAX_THREADS: usize = 4096;
const MAX_INTERPRETERS: usize = 256;
/// Largest span of a data-stack chunk we read in one go.
const MAX_CHUNK_READ: u64 = 1 << 20;
/// glibc's offset of `tid` in `struct pthread` on x86-64, tried first when calibrating.
const GLIBC_PTHREAD_TID_OFFSET: u64 = 0x2d0;

/// What a sample should include beyond the frames.
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleOptions {
    /// Ask the OS whether each thread is on a CPU (one `pread` per thread).
    pub cpu_state: bool,
    /// Look up `threading` names.
    pub thread_names: bool,
}

/// The sampler's reusable state: caches and scratch buffers, so that a sample allocates
/// nothing once warmed up.
pub struct StackReader {
    pub codes: CodeCache,
    cpu: CpuStates,
    names: ThreadNames,
    pending: Vec<PendingFrame>,
    seen: HashSet<u64>,
    thread_buf: Vec<u8>,
    chunk_buf: Vec<u8>,
    frame_buf: Vec<u8>,
    /// Offset of the kernel tid inside glibc's `struct pthread` (≤3.10 only).
    pthread_tid_offset: Option<u64>,
    /// CPU states taken just before the target was paused, used by the next sample
    /// (a paused thread's own state says only "stopped").
    cpu_before_pause: Option<Vec<(u32, bool)>>,
    /// For each thread of the current sample, its slice of `pending`.
    thread_pending: Vec<std::ops::Range<usize>>,
    /// The parts of the current thread's data stack copied into `chunk_buf`.
    copies: Vec<ChunkCopy>,
    /// Addresses learned by the first sample that stay put (see `read_header`).
    anchors: Option<Anchors>,
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

/// Why a walk stopped early: the process itself (gone, no access) or a torn stack.
#[derive(Debug)]
enum WalkError {
    Process(ReadError),
    Torn(String),
}

impl From<ReadError> for WalkError {
    fn from(e: ReadError) -> WalkError {
        match e {
            ReadError::BadAddress(_) => WalkError::Torn(e.to_string()),
            other => WalkError::Process(other),
        }
    }
}

impl From<String> for WalkError {
    fn from(s: String) -> WalkError {
        WalkError::Torn(s)
    }
}

/// A local copy of part of a thread's data stack, at `offset` in `chunk_buf`.
#[derive(Debug, Clone, Copy)]
struct ChunkCopy {
    start: u64,
    len: usize,
    offset: usize,
}

impl StackReader {
    pub fn new(interp: &Interpreter) -> StackReader {
        StackReader {
            codes: CodeCache::new(&interp.layout, interp.code_type),
            cpu: CpuStates::new(interp.pid),
            names: ThreadNames::new(),
            pending: Vec::with_capacity(256),
            seen: HashSet::with_capacity(256),
            thread_buf: vec![0; interp.layout.thread_header_len()],
            chunk_buf: Vec::with_capacity(64 << 10),
            frame_buf: vec![0; interp.layout.frame_header_len()],
            pthread_tid_offset: None,
            cpu_before_pause: None,
            thread_pending: Vec::with_capacity(16),
            copies: Vec::with_capacity(8),
            anchors: None,
        }
    }

    /// Records every thread's CPU state now, for the next sample to use; call it right
    /// before pausing the target.
    pub fn note_cpu_states_before_pause(&mut self, pid: u32) {
        let states = crate::process::threads::thread_ids(pid)
            .into_iter()
            .filter_map(|tid| Some((tid, self.cpu.on_cpu(tid)?)))
            .collect();
        self.cpu_before_pause = Some(states);
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
        let layout = &interp.layout;
        let mem = &interp.mem;
        let fail = |e: ReadError| whole_sample_error(interp.pid, e);
        let mut count = 0usize;
        self.pending.clear();
        self.thread_pending.clear();
        let header = self.read_header(interp).map_err(fail)?;
        let (gil_holder, gil_locked) = (header.gil_holder, header.gil_locked);
        let mut interp_addr = header.interp;
        let mut known = Some((header.threads_head, header.next));
        let mut interps = 0;
        while interp_addr != 0 && interps < MAX_INTERPRETERS {
            interps += 1;
            // The first interpreter's list head came with the header read.
            let (head, next) = match known.take() {
                Some(pair) => pair,
                None => {
                    let mut head = [0u8; 8];
                    let mut next = [0u8; 8];
                    let mut reqs = [
                        (interp_addr + layout.interp_threads_head, &mut head[..]),
                        (interp_addr + layout.interp_next, &mut next[..]),
                    ];
                    if mem.read_many(&mut reqs).map_err(fail)? < 2 {
                        return Err(Error::Read(format!(
                            "interpreter state at {interp_addr:#x} is unreadable"
                        )));
                    }
                    (u64::from_le_bytes(head), u64::from_le_bytes(next))
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
                count += 1;
                let first_pending = self.pending.len();
                let result = self.read_thread(interp, tstate, stack);
                self.thread_pending.push(first_pending..self.pending.len());
                match result {
                    Ok(next_tstate) => {
                        stack.holds_gil = gil_locked && gil_holder == tstate;
                        tstate = next_tstate;
                    }
                    Err(ReadError::BadAddress(a)) => {
                        stack.error =
                            Some(format!("thread state at {tstate:#x} unreadable at {a:#x}"));
                        break;
                    }
                    Err(e) => return Err(fail(e)),
                }
            }
            interp_addr = next;
        }
        out.truncate(count);
        self.resolve_frames(interp, out).map_err(fail)?;
        if opts.cpu_state {
            let before = self.cpu_before_pause.take();
            for stack in out.iter_mut() {
                stack.on_cpu = match (&before, stack.os_tid) {
                    (Some(states), Some(tid)) => {
                        states.iter().find(|(t, _)| *t == tid).map(|(_, s)| *s)
                    }
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

    /// The first interpreter, its thread-list head and `next`, and the GIL state. After
    /// the first sample the addresses involved are known (the main interpreter and its
    /// GIL never move), so this is one batched read; if the runtime's interpreter list
    /// no longer starts where it did, the addresses are learned again.
    fn read_header(&mut self, interp: &Interpreter) -> Result<Header, ReadError> {
        if let Some(a) = self.anchors {
            if let Some(header) = read_anchored_header(interp, a)? {
                return Ok(header);
            }
        }
        // First sample, or the interpreter list changed: learn the addresses again.
        self.anchors = None;
        let layout = &interp.layout;
        let mem = &interp.mem;
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
        match read_anchored_header(interp, anchors)? {
            Some(header) => {
                self.anchors = Some(anchors);
                Ok(header)
            }
            None => Err(ReadError::BadAddress(interp_addr)),
        }
    }

    /// Turns every thread's pending frames into frames with code ids and lines, after
    /// one batched validation of all the sample's cached code objects.
    fn resolve_frames(
        &mut self,
        interp: &Interpreter,
        out: &mut [ThreadStack],
    ) -> Result<(), ReadError> {
        let layout = &interp.layout;
        let mem = &interp.mem;
        if let Err(e) = self.codes.validate(mem, layout, &self.pending) {
            if !std::path::Path::new(&format!("/proc/{}", interp.pid)).exists() {
                return Err(ReadError::Gone);
            }
            for stack in out.iter_mut() {
                stack
                    .error
                    .get_or_insert(format!("code objects unreadable: {e}"));
            }
            return Ok(());
        }
        for (stack, range) in out.iter_mut().zip(self.thread_pending.iter()) {
            let Some(pending) = self.pending.get(range.clone()) else {
                continue;
            };
            if let Err(e) = self
                .codes
                .resolve_validated(mem, layout, pending, &mut stack.frames)
            {
                stack
                    .error
                    .get_or_insert(format!("stack torn while reading code objects: {e}"));
            }
        }
        Ok(())
    }

    /// Reads one thread state and its frames into `stack`; returns the next thread state.
    fn read_thread(
        &mut self,
        interp: &Interpreter,
        tstate: u64,
        stack: &mut ThreadStack,
    ) -> Result<u64, ReadError> {
        let layout = &interp.layout;
        let mem = &interp.mem;
        mem.read(tstate, &mut self.thread_buf)?;
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
        stack.os_tid = match native_tid {
            Some(tid) => Some(tid).filter(|tid| *tid != 0),
            None => self.os_tid_from_pthread(interp, stack.python_thread_id),
        };

        let walked = match layout.era {
            Era::FrameObjects => self.walk_frame_objects(interp, frame_field),
            Era::CFrame => {
                let first = if frame_field == 0 {
                    Ok(0)
                } else {
                    mem.read_u64(frame_field + layout.cframe_current_frame)
                };
                match first {
                    Ok(f) => self.walk_interpreter_frames(interp, f, chunk, top),
                    Err(e) => Err(e.into()),
                }
            }
            Era::CurrentFrame => self.walk_interpreter_frames(interp, frame_field, chunk, top),
        };
        match walked {
            Ok(()) => {}
            Err(WalkError::Process(e)) => return Err(e),
            Err(WalkError::Torn(why)) => {
                stack.error = Some(format!("stack torn while reading: {why}"))
            }
        }
        Ok(next)
    }

    /// ≤3.10: follow `f_back` through heap frame objects, one read per frame.
    fn walk_frame_objects(&mut self, interp: &Interpreter, first: u64) -> Result<(), WalkError> {
        let layout = &interp.layout;
        let mut frame = first;
        self.seen.clear();
        while frame != 0 {
            self.check_frame(frame)?;
            interp.mem.read(frame, &mut self.frame_buf)?;
            let f = &self.frame_buf[..];
            let code = f.u64_at(layout.frame_code as usize);
            let lasti = f.i32_at(layout.frame_lasti as usize) as i64;
            let byte_offset = match layout.line_table {
                LineTableFormat::Linetable310 if lasti >= 0 => lasti * 2,
                _ => lasti,
            };
            if code == 0 {
                return Err(WalkError::Torn(format!(
                    "frame at {frame:#x} has no code object"
                )));
            }
            self.pending.push(PendingFrame { code, byte_offset });
            frame = f.u64_at(layout.frame_back as usize);
        }
        Ok(())
    }

    /// 3.11+: follow `previous` through interpreter frames, reading the used part of the
    /// current data-stack chunk once and only the frames outside it one by one.
    fn walk_interpreter_frames(
        &mut self,
        interp: &Interpreter,
        first: u64,
        chunk: u64,
        top: u64,
    ) -> Result<(), WalkError> {
        let layout = &interp.layout;
        let hdr = self.frame_buf.len() as u64;
        self.copies.clear();
        self.copy_chunk(interp, chunk, top, first);
        let adaptive = layout.code_adaptive.unwrap_or(0);
        let tag_mask = !layout.executable_tag_mask;
        let mut frame = first;
        let first_pending = self.pending.len();
        self.seen.clear();
        while frame != 0 {
            self.check_frame(frame)?;
            let mut at = self.find_copied(frame, hdr);
            if at.is_none() && self.copy_older_chunk(interp, frame) {
                at = self.find_copied(frame, hdr);
            }
            let f: &[u8] = match at {
                Some(at) => &self.chunk_buf[at..at + hdr as usize],
                None => {
                    interp.mem.read(frame, &mut self.frame_buf)?;
                    &self.frame_buf[..]
                }
            };
            let previous = f.u64_at(layout.iframe_previous as usize);
            let owner = f.u8_at(layout.iframe_owner as usize);
            let is_shim = layout
                .iframe_first_shim_owner
                .is_some_and(|first_shim| owner >= first_shim);
            if !is_shim {
                let code = f.u64_at(layout.iframe_executable as usize) & tag_mask;
                let instr = f.u64_at(layout.iframe_instr_ptr as usize);
                // A frame with no code object has been popped since the thread state
                // was read (3.14+ clears `f_executable` on return): the innermost frame
                // that still lives is its caller, so carry on from there. Only the top
                // of a stack can be in that state.
                if code == 0 {
                    if self.pending.len() == first_pending {
                        frame = previous;
                        continue;
                    }
                    return Err(WalkError::Torn(format!(
                        "frame at {frame:#x} has no code object"
                    )));
                }
                let byte_offset = (instr as i64).wrapping_sub((code + adaptive) as i64);
                self.pending.push(PendingFrame { code, byte_offset });
            }
            frame = previous;
        }
        Ok(())
    }

    /// Where the `len` bytes at `addr` sit in `chunk_buf`, if a copy holds them.
    fn find_copied(&self, addr: u64, len: u64) -> Option<usize> {
        self.copies.iter().find_map(|c| {
            (addr >= c.start && addr + len <= c.start + c.len as u64)
                .then(|| c.offset + (addr - c.start) as usize)
        })
    }

    /// Copies `[chunk, end)` of the current data-stack chunk, where `end` is the stack
    /// top when the layout knows it, else the end of the current frame's header.
    fn copy_chunk(&mut self, interp: &Interpreter, chunk: u64, top: u64, first: u64) {
        if chunk == 0 || first < chunk {
            return;
        }
        let frame_end = first + self.frame_buf.len() as u64;
        let end = if top > chunk && top >= frame_end {
            top
        } else {
            frame_end
        };
        self.copy_region(interp, chunk, end);
    }

    /// A frame outside every copy: when it lies in the chunk before the oldest one copied
    /// (a deep stack spills over several chunks), copy that chunk from its start up to
    /// the frame, so the frames below it are local too. One read per chunk, not per frame.
    fn copy_older_chunk(&mut self, interp: &Interpreter, frame: u64) -> bool {
        let layout = &interp.layout;
        let Some(last) = self.copies.last().copied() else {
            return false;
        };
        let header = &self.chunk_buf[last.offset..last.offset + last.len];
        let older = header.u64_at(layout.chunk_previous as usize);
        if older == 0 || frame <= older || frame - older > MAX_CHUNK_READ {
            return false;
        }
        let before = self.copies.len();
        self.copy_region(interp, older, frame + self.frame_buf.len() as u64);
        // The copy must really be that chunk and hold the frame.
        let Some(copy) = self.copies.get(before).copied() else {
            return false;
        };
        let size =
            self.chunk_buf[copy.offset..copy.offset + copy.len].u64_at(layout.chunk_size as usize);
        if frame + self.frame_buf.len() as u64 > older + size {
            self.copies.truncate(before);
            return false;
        }
        true
    }

    /// Appends a copy of `[start, end)` of the target to `chunk_buf` (one read).
    fn copy_region(&mut self, interp: &Interpreter, start: u64, end: u64) {
        if end <= start || end - start > MAX_CHUNK_READ {
            return;
        }
        let len = (end - start) as usize;
        let offset = self.copies.last().map_or(0, |c| c.offset + c.len);
        self.chunk_buf.resize(offset + len, 0);
        if interp
            .mem
            .read(start, &mut self.chunk_buf[offset..offset + len])
            .is_ok()
        {
            self.copies.push(ChunkCopy { start, len, offset });
        }
    }

    fn check_frame(&mut self, frame: u64) -> Result<(), String> {
        if self.seen.len() >= MAX_DEPTH {
            return Err(format!("stack deeper than {MAX_DEPTH} frames"));
        }
        if frame % 8 != 0 {
            return Err(format!("misaligned frame pointer {frame:#x}"));
        }
        if !self.seen.insert(frame) {
            return Err(format!("frame {frame:#x} seen twice: the chain loops"));
        }
        Ok(())
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
    let tids = crate::process::threads::thread_ids(interp.pid);
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

/// The header through known addresses, in one batched read; `None` when the runtime's
/// interpreter list no longer starts at `a.interp` (or a read fell short).
fn read_anchored_header(interp: &Interpreter, a: Anchors) -> Result<Option<Header>, ReadError> {
    let layout = &interp.layout;
    let mut b = [[0u8; 8]; 5];
    let [head, threads, next, holder, locked] = &mut b;
    let mut reqs = [
        (
            interp.runtime + layout.runtime_interpreters_head,
            &mut head[..],
        ),
        (a.interp + layout.interp_threads_head, &mut threads[..]),
        (a.interp + layout.interp_next, &mut next[..]),
        (a.gil_holder, &mut holder[..]),
        (a.gil_locked, &mut locked[..4]),
    ];
    let want = if a.gil_holder == 0 { 3 } else { 5 };
    let filled = interp.mem.read_many(&mut reqs[..want])?;
    if filled < want || u64::from_le_bytes(b[0]) != a.interp {
        return Ok(None);
    }
    Ok(Some(Header {
        interp: a.interp,
        threads_head: u64::from_le_bytes(b[1]),
        next: u64::from_le_bytes(b[2]),
        gil_holder: if want == 5 {
            u64::from_le_bytes(b[3])
        } else {
            0
        },
        gil_locked: want == 5 && b[4][..4] != [0, 0, 0, 0],
    }))
}

fn whole_sample_error(pid: u32, e: ReadError) -> Error {
    match e {
        ReadError::Gone => Error::ProcessExited { pid },
        ReadError::Permission => Error::PermissionDenied {
            pid,
            detail: "process_vm_readv refused".into(),
        },
        ReadError::BadAddress(a) => {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                Error::ProcessExited { pid }
            } else {
                Error::Read(format!(
                    "the interpreter state of process {pid} is unreadable at {a:#x}"
                ))
            }
        }
    }
}
