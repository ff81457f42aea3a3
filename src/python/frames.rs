//! One thread's frame walk, per era: heap frame objects linked by `f_back` (≤3.10), or
//! interpreter frames on the thread's data stack linked by `previous` (3.11+). The walk
//! works on local [`Copies`] (what the sample's gathered read brought) and reads what they
//! lack itself, noting that it did: such a stack was not read in one go, so the sampler
//! reads it again. It also says what to copy next time ([`PlannedRegion`]s). Every loop is
//! bounded and checked for cycles ([`LoopCheck`]); garbage is an error, never a panic or a
//! hang.

use super::code::PendingFrame;
use super::copies::Copies;
use super::layout::{Era, Layout, LineTableFormat};
use crate::limits::{MAX_DATA_CHUNK_READ, MAX_FRAME_POINTERS, MAX_STACK_DEPTH};
use crate::process::{Bytes, Memory, ReadError};

/// How far past the top of the stack the next sample's copy of the chunk reaches, so a
/// stack a few frames deeper is still read in one go.
const CHUNK_SLACK: u64 = 2048;

/// A piece of target memory the next sample of this thread should copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRegion {
    pub start: u64,
    pub len: usize,
    /// A data-stack chunk from its start (its header included).
    pub chunk: bool,
}

/// Why a walk stopped early: the process itself (gone, no access) or a torn stack.
#[derive(Debug)]
pub enum WalkError {
    Process(ReadError),
    Torn(Torn),
}

/// What was wrong with a stack that changed while it was read (or is garbage): each
/// names the frame pointer where the walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Torn {
    /// More than [`MAX_FRAME_POINTERS`] pointers.
    TooLong,
    Misaligned(u64),
    /// The chain came back to this frame.
    Loops(u64),
    /// A ≤3.10 frame object with no references left.
    Freed(u64),
    NoCodeObject(u64),
    /// Memory the chain led to is not mapped.
    Unreadable(u64),
}

impl std::fmt::Display for Torn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Torn::TooLong => write!(f, "frame chain longer than {MAX_FRAME_POINTERS} pointers"),
            Torn::Misaligned(at) => write!(f, "misaligned frame pointer {at:#x}"),
            Torn::Loops(at) => write!(f, "frame {at:#x} seen twice: the chain loops"),
            Torn::Freed(at) => write!(f, "frame at {at:#x} was freed while being read"),
            Torn::NoCodeObject(at) => write!(f, "frame at {at:#x} has no code object"),
            Torn::Unreadable(at) => write!(f, "{}", ReadError::BadAddress(*at)),
        }
    }
}

impl From<ReadError> for WalkError {
    fn from(e: ReadError) -> WalkError {
        match e {
            ReadError::BadAddress(at) => WalkError::Torn(Torn::Unreadable(at)),
            other => WalkError::Process(other),
        }
    }
}

impl From<Torn> for WalkError {
    fn from(t: Torn) -> WalkError {
        WalkError::Torn(t)
    }
}

/// Everything one walk uses, borrowed from the reader.
pub struct FrameWalk<'a> {
    pub layout: &'a Layout,
    pub mem: &'a dyn Memory,
    /// The buffer of the sample's gathered read, which the gathered copies point into.
    pub gathered: &'a [u8],
    pub copies: &'a mut Copies,
    pub pending: &'a mut Vec<PendingFrame>,
    /// Set when the walk had to read something the gathered read did not bring.
    pub missed: bool,
    pub loops: LoopCheck,
    /// Set when the walk stopped at [`MAX_STACK_DEPTH`] frames with older ones left unread.
    pub truncated: bool,
}

/// Finds a loop in a chain of frame pointers in O(1) memory (Brent's method: the pointer
/// is compared with one remembered pointer, remembered afresh at every power of two), so
/// the check costs a comparison per frame, not a set insert.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoopCheck {
    depth: usize,
    marker: u64,
    power: usize,
    since_marker: usize,
}

impl LoopCheck {
    fn reset(&mut self) {
        *self = LoopCheck {
            power: 1,
            ..LoopCheck::default()
        };
    }

    /// Pointers taken so far.
    fn depth(&self) -> usize {
        self.depth
    }

    /// Takes the next pointer of the chain: an error when it is bad or the chain loops.
    /// The caller stops before [`MAX_FRAME_POINTERS`]; past it, the chain is garbage.
    fn next(&mut self, frame: u64) -> Result<(), Torn> {
        if self.depth >= MAX_FRAME_POINTERS {
            return Err(Torn::TooLong);
        }
        if frame % 8 != 0 {
            return Err(Torn::Misaligned(frame));
        }
        if self.depth > 0 && frame == self.marker {
            return Err(Torn::Loops(frame));
        }
        self.depth += 1;
        self.since_marker += 1;
        if self.since_marker == self.power || self.depth == 1 {
            self.marker = frame;
            self.power *= 2;
            self.since_marker = 0;
        }
        Ok(())
    }
}

impl FrameWalk<'_> {
    /// Walks from the thread's frame pointer (`tstate->frame` ≤3.10, the current
    /// interpreter frame 3.11+); `chunk` and `top` are the thread's data-stack chunk and
    /// top (3.11+, 0 when unknown).
    pub fn walk(&mut self, first: u64, chunk: u64, top: u64) -> Result<(), WalkError> {
        self.loops.reset();
        self.truncated = false;
        match self.layout.era {
            Era::FrameObjects => self.walk_frame_objects(first),
            Era::CFrame | Era::CurrentFrame => self.walk_interpreter_frames(first, chunk, top),
        }
    }

    /// What the next sample should copy: every copy this walk used, a chunk's through its
    /// used part plus some slack (never past the chunk's end), sorted by address so that
    /// neighbours share an iovec.
    pub fn plan(&self, out: &mut Vec<PlannedRegion>) {
        let first = out.len();
        for c in self.copies.list().iter().filter(|c| c.used_end > c.start) {
            let used = (c.used_end - c.start) as usize;
            let len = if c.chunk {
                let size = self.chunk_header_u64(c.start, self.layout.chunk_size);
                let wanted = (used as u64 + CHUNK_SLACK).max(c.len as u64);
                wanted.min(size).min(MAX_DATA_CHUNK_READ).max(used as u64) as usize
            } else {
                c.len
            };
            out.push(PlannedRegion {
                start: c.start,
                len,
                chunk: c.chunk,
            });
        }
        out[first..].sort_unstable_by_key(|r| r.start);
    }

    /// ≤3.10: follow `f_back` through heap frame objects.
    fn walk_frame_objects(&mut self, first: u64) -> Result<(), WalkError> {
        let layout = self.layout;
        let hdr = layout.frame_header_len();
        let refcnt_at = layout.ob_refcnt() as usize;
        let mut frame = first;
        let first_pending = self.pending.len();
        while frame != 0 {
            if self.pending.len() - first_pending >= MAX_STACK_DEPTH {
                self.truncated = true;
                break;
            }
            self.loops.next(frame)?;
            let at = self.copy_holding(frame, hdr)?;
            let f = self.copies.bytes(self.gathered, at, frame, hdr);
            // A frame object freed while we read (its function returned) has no references
            // left, and its `f_back` may already serve a free list.
            if f.u64_at(refcnt_at) == 0 {
                return Err(WalkError::Torn(Torn::Freed(frame)));
            }
            let code = f.u64_at(layout.frame_code as usize);
            let lasti = f.i32_at(layout.frame_lasti as usize) as i64;
            let back = f.u64_at(layout.frame_back as usize);
            let byte_offset = match layout.line_table {
                LineTableFormat::Linetable310 if lasti >= 0 => lasti * 2,
                _ => lasti,
            };
            if code == 0 {
                return Err(WalkError::Torn(Torn::NoCodeObject(frame)));
            }
            self.pending.push(PendingFrame {
                frame,
                code,
                byte_offset,
                may_be_unstarted: false,
                called_from_c: true,
            });
            frame = back;
        }
        Ok(())
    }

    /// 3.11+: follow `previous` through interpreter frames, from copies of the data-stack
    /// chunks (a deep stack spans several) and of frames living elsewhere (generators).
    fn walk_interpreter_frames(
        &mut self,
        first: u64,
        chunk: u64,
        top: u64,
    ) -> Result<(), WalkError> {
        let layout = self.layout;
        let hdr = layout.frame_header_len();
        self.ensure_current_chunk(chunk, top, first, hdr as u64);
        let adaptive = layout.code_adaptive.unwrap_or(0);
        let tag_mask = !layout.executable_tag_mask;
        let mut frame = first;
        let first_pending = self.pending.len();
        while frame != 0 {
            if self.pending.len() - first_pending >= MAX_STACK_DEPTH
                || self.loops.depth() >= MAX_FRAME_POINTERS
            {
                self.truncated = true;
                break;
            }
            self.loops.next(frame)?;
            let at = self.copy_holding(frame, hdr)?;
            let f = self.copies.bytes(self.gathered, at, frame, hdr);
            let previous = f.u64_at(layout.iframe_previous as usize);
            let owner = f.u8_at(layout.iframe_owner as usize);
            let code = f.u64_at(layout.iframe_executable as usize) & tag_mask;
            let instr = f.u64_at(layout.iframe_instr_ptr as usize);
            let is_shim = layout
                .iframe_first_shim_owner
                .is_some_and(|first_shim| owner >= first_shim);
            if is_shim {
                // 3.12+: the frame above a shim was entered from C.
                if self.pending.len() > first_pending {
                    if let Some(above) = self.pending.last_mut() {
                        above.called_from_c = true;
                    }
                }
            } else {
                // A frame with no code object has been popped since the thread state
                // was read (3.14+ clears `f_executable` on return): the innermost frame
                // that still lives is its caller, so carry on from there. Only the top
                // of a stack can be in that state.
                if code == 0 {
                    if self.pending.len() == first_pending {
                        frame = previous;
                        continue;
                    }
                    return Err(WalkError::Torn(Torn::NoCodeObject(frame)));
                }
                let byte_offset = (instr as i64).wrapping_sub((code + adaptive) as i64);
                // Entered from C (3.11's flag), or a generator's frame: `throw()` into a
                // `yield from`/`await` chain links each delegating frame straight onto the
                // current one, whatever instruction that stands on.
                let generator = layout.iframe_generator_owner == Some(owner);
                let entry = generator
                    || layout
                        .iframe_is_entry
                        .is_some_and(|at| f.u8_at(at as usize) != 0);
                self.pending.push(PendingFrame {
                    frame,
                    code,
                    byte_offset,
                    may_be_unstarted: !generator,
                    called_from_c: entry,
                });
            }
            frame = previous;
        }
        Ok(())
    }

    /// Makes sure a copy holds the current chunk from its start through the stack top (or
    /// the current frame's header): the gathered copy when it reached far enough, else one
    /// read now. The copy is marked used through that end.
    fn ensure_current_chunk(&mut self, chunk: u64, top: u64, first: u64, hdr: u64) {
        // Only a frame between the chunk's start and the stack top lives in the chunk
        // (a generator's frame, say, lives in the generator).
        if chunk == 0 || first < chunk || (top > chunk && first >= top) {
            return;
        }
        let frame_end = first + hdr;
        let end = if top > chunk && top >= frame_end {
            top
        } else {
            frame_end
        };
        if end - chunk > MAX_DATA_CHUNK_READ {
            return;
        }
        let index = match self.copies.find(chunk, end - chunk) {
            Some(i) if self.copies.list()[i].start == chunk => Some(i),
            _ => {
                self.missed = true;
                self.copies
                    .read(self.mem, chunk, (end - chunk) as usize, true)
                    .ok()
            }
        };
        if let Some(i) = index {
            self.copies.mark_used(i, end);
        }
    }

    /// The copy that holds `[addr, addr + len)`, reading it if none does: on 3.11+, when
    /// it lies in the chunk before one we have (a deep stack spills over several chunks),
    /// that whole chunk up to it, so the frames below it are local too; else just it.
    fn copy_holding(&mut self, addr: u64, len: usize) -> Result<usize, ReadError> {
        let end = addr + len as u64;
        if let Some(i) = self.copies.find(addr, len as u64) {
            self.copies.mark_used(i, end);
            return Ok(i);
        }
        self.missed = true;
        if self.layout.era != Era::FrameObjects {
            if let Some(i) = self.copy_older_chunk(addr, end) {
                self.copies.mark_used(i, end);
                return Ok(i);
            }
        }
        let i = self.copies.read(self.mem, addr, len, false)?;
        self.copies.mark_used(i, end);
        Ok(i)
    }

    /// Copies `[older, end)` when `addr` lies in the chunk that a copied chunk's header
    /// names as its predecessor; the copy must really be that chunk and hold `addr`.
    /// Chunks are separate allocations in no particular address order, so of the
    /// predecessors below `addr` the nearest is the one that can hold it.
    fn copy_older_chunk(&mut self, addr: u64, end: u64) -> Option<usize> {
        let older = self
            .copies
            .list()
            .iter()
            .filter(|c| c.chunk)
            .map(|c| self.chunk_header_u64(c.start, self.layout.chunk_previous))
            .filter(|&older| older != 0 && addr > older && end - older <= MAX_DATA_CHUNK_READ)
            .max()?;
        let before = self.copies.list().len();
        let i = self
            .copies
            .read(self.mem, older, (end - older) as usize, true)
            .ok()?;
        let size = self.chunk_header_u64(older, self.layout.chunk_size);
        if end > older + size {
            self.copies.truncate(before);
            return None;
        }
        Some(i)
    }

    /// A field of the header of the chunk copied from `chunk` on (0 if not copied).
    fn chunk_header_u64(&self, chunk: u64, offset: u64) -> u64 {
        let copies = self.copies.list();
        let Some(index) = copies.iter().position(|c| c.chunk && c.start == chunk) else {
            return 0;
        };
        self.copies
            .bytes(self.gathered, index, chunk + offset, 8)
            .u64_at(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_error(chain: impl Iterator<Item = u64>) -> Option<(usize, Torn)> {
        let mut check = LoopCheck::default();
        check.reset();
        chain
            .enumerate()
            .find_map(|(i, f)| check.next(f).err().map(|e| (i, e)))
    }

    #[test]
    fn loops_of_any_length_are_found_soon() {
        for (lead, cycle) in [
            (0usize, 1usize),
            (0, 2),
            (3, 1),
            (5, 7),
            (100, 33),
            (1, 1000),
        ] {
            let chain = (0..lead as u64)
                .chain((0..cycle as u64).map(|i| 10_000 + i).cycle())
                .map(|i| i * 8);
            let (at, why) = first_error(chain.take(MAX_FRAME_POINTERS)).expect("a loop");
            assert!(matches!(why, Torn::Loops(_)), "{why}");
            assert!(why.to_string().contains("the chain loops"), "{why}");
            assert!(
                at <= 4 * (lead + cycle),
                "lead {lead} cycle {cycle}: found at {at}"
            );
        }
    }

    #[test]
    fn straight_chains_pass_and_bad_pointers_fail() {
        assert_eq!(
            first_error((1..=MAX_FRAME_POINTERS as u64).map(|i| i * 16)),
            None
        );
        let (at, why) = first_error((1..).map(|i| i * 16)).unwrap();
        assert_eq!(at, MAX_FRAME_POINTERS);
        assert_eq!(why, Torn::TooLong);
        assert_eq!(
            first_error([16, 24, 33].into_iter()),
            Some((2, Torn::Misaligned(33)))
        );
        assert_eq!(
            Torn::Misaligned(33).to_string(),
            "misaligned frame pointer 0x21"
        );
    }
}
