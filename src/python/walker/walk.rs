//! One thread of one attempt: its thread state, its tid and first frame, read from the
//! attempt's gathered read where the plan covered them (else on the spot, which makes
//! the stack "pieced"), then its frames walked by `frames.rs` on the gathered copies. The
//! frame pointer read again after the frames says whether the stack moved meanwhile.
//! Leaves the thread's frames in [`WalkedFrames`] and its part of the next plan.

use std::ops::Range;

use super::error::ThreadError;
use super::retry::Consistency;
use super::StackReader;
use crate::process::{Bytes, ReadError};
use crate::python::code::PendingFrame;
use crate::python::frames::{FrameWalk, WalkError};
use crate::python::interpreter::Interpreter;
use crate::python::layout::Era;
use crate::python::stack::ThreadStack;

/// Every thread's frames of one attempt, before they are resolved to code ids and lines.
#[derive(Default)]
pub(super) struct WalkedFrames {
    pub pending: Vec<PendingFrame>,
    /// For each thread of the attempt, its slice of `pending`.
    pub ranges: Vec<Range<usize>>,
}

impl WalkedFrames {
    pub(super) fn clear(&mut self) {
        self.pending.clear();
        self.ranges.clear();
    }

    /// The frames of the `index`-th thread.
    pub(super) fn of_thread(&self, index: usize) -> Option<&[PendingFrame]> {
        self.pending.get(self.ranges.get(index)?.clone())
    }

    pub(super) fn copy_from(&mut self, other: &WalkedFrames) {
        self.pending.clear();
        self.pending.extend_from_slice(&other.pending);
        self.ranges.clear();
        self.ranges.extend_from_slice(&other.ranges);
    }
}

impl StackReader {
    /// Reads one thread state and its frames into `stack` (the `index`-th thread of this
    /// sample), from the gathered read where the plan covered it; returns the next thread
    /// state and how consistent the read was, and notes the plan for next time.
    pub(super) fn read_thread(
        &mut self,
        interp: &Interpreter,
        tstate: u64,
        index: usize,
        stack: &mut ThreadStack,
    ) -> Result<(u64, Consistency), ReadError> {
        let layout = &interp.layout;
        let mem = &*interp.mem;
        let planned = self.plan.find(tstate, index);
        let mut pieced = false;
        match planned.and_then(|p| self.plan.thread_state(p, self.thread_buf.len())) {
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
        let pthread_tid = self.pthread_tid.addr(native_tid, pthread);
        let gathered_tid = planned.and_then(|p| self.plan.pthread_tid(p, pthread_tid));
        stack.os_tid = match (native_tid, gathered_tid) {
            (Some(tid), _) | (None, Some(tid)) => Some(tid).filter(|tid| *tid != 0),
            (None, None) => self.pthread_tid.read(interp, pthread),
        };
        // The tid's offset may have just been calibrated.
        let pthread_tid = self.pthread_tid.addr(native_tid, pthread);

        // The frame pointer the walk starts from; 3.11/3.12 keep it in the `_PyCFrame`.
        let cframe = if layout.era == Era::CFrame {
            frame_field
        } else {
            0
        };
        let first = if layout.era != Era::CFrame || frame_field == 0 {
            frame_field
        } else {
            match planned.and_then(|p| self.plan.cframe_frame(p, cframe)) {
                Some(f) => f,
                None => {
                    pieced = true;
                    match mem.read_u64(frame_field + layout.cframe_current_frame) {
                        Ok(f) => f,
                        Err(ReadError::BadAddress(at)) => {
                            stack.error = Some(ThreadError::CFrame {
                                paused: self.paused,
                                at,
                            });
                            let at = self.plan.next_regions.len();
                            self.plan
                                .note_thread(tstate, pthread_tid, planned, cframe, at..at);
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
        let trailer = planned.and_then(|p| self.plan.trailer(p, cframe));
        self.copies.clear();
        if let Some(p) = planned {
            self.plan.add_copies(p, tstate, &mut self.copies);
        }
        let mut walk = FrameWalk {
            layout,
            mem,
            gathered: self.plan.gather.buffer(),
            copies: &mut self.copies,
            pending: &mut self.frames.pending,
            missed: false,
            loops: Default::default(),
            truncated: false,
        };
        let walked = walk.walk(first, chunk, top);
        pieced |= walk.missed;
        stack.truncated = walk.truncated;
        let plan_start = self.plan.next_regions.len();
        walk.plan(&mut self.plan.next_regions);
        let regions = plan_start..self.plan.next_regions.len();
        if layout.era != Era::FrameObjects {
            self.plan.recent.note(
                tstate,
                &self.plan.next_regions[regions.clone()],
                self.samples,
            );
        }
        self.plan
            .note_thread(tstate, pthread_tid, planned, cframe, regions);
        // A torn walk leaves its error on the stack (the sampler's checks re-read it).
        match walked {
            Ok(()) => {}
            Err(WalkError::Process(e)) => return Err(e),
            Err(WalkError::Torn(why)) => {
                stack.error = Some(ThreadError::Frames {
                    paused: self.paused,
                    why,
                });
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
}
