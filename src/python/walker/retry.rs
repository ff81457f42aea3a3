//! The retry policy for torn stacks: when a sample read without pausing is read again,
//! and what is kept when it will not settle.
//!
//! Each attempt leaves, per thread, how its read went ([`Consistency`]: one instant's,
//! pieced from reads of its own, or moved while read) and what the checks found
//! ([`Suspicion`]: a frame naming no code object, a caller off its call). A sample is
//! read again while any thread is not one instant's and unsuspected, up to
//! [`MAX_ATTEMPTS`] reads, or [`MAX_ATTEMPTS_SUSPECT`] when a stack is suspect; a suspect
//! stack read twice the same with its frame pointer still is steady and taken as it is.
//! After the last read, a stack that still moved is kept as read and counted
//! ([`AttemptStats::moving`]); one that moved with a caller off its call is an error
//! ([`AttemptStats::off_call`]).

use super::error::ThreadError;
use super::walk::WalkedFrames;
use crate::python::code::{CodeCache, PendingFrame};
use crate::python::interpreter::Interpreter;
use crate::python::stack::ThreadStack;

/// How often a nonblocking sample is read when its stacks keep moving under it.
pub const MAX_ATTEMPTS: usize = 3;
/// How often it is read when a stack fails a check (a caller off its call, a frame freed
/// or naming no code object): a copy made while the stack changed, which a re-read most
/// often gets right.
pub const MAX_ATTEMPTS_SUSPECT: usize = 16;

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

/// How one thread's read went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Consistency {
    /// All from the gathered read, and the frame pointer had not moved by the end.
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

/// This sample's attempts: how each thread's read went, and the previous attempt's
/// frames to compare with.
#[derive(Default)]
pub(super) struct Retries {
    consistency: Vec<Consistency>,
    /// Parallel to `consistency`.
    suspicion: Vec<Suspicion>,
    /// The previous attempt of this sample: its frames, each thread's slice of them and
    /// its suspicion (a suspect stack read twice the same, unmoved, is taken as steady).
    previous: WalkedFrames,
    previous_suspicion: Vec<Suspicion>,
}

impl Retries {
    /// Forgets the previous sample's attempts.
    pub(super) fn begin_sample(&mut self) {
        self.previous.clear();
        self.previous_suspicion.clear();
    }

    /// Forgets the previous attempt's threads (not its frames).
    pub(super) fn begin_attempt(&mut self) {
        self.consistency.clear();
        self.suspicion.clear();
    }

    /// Notes how the next thread's read went; `failed` when it left an error.
    pub(super) fn note_thread(&mut self, consistency: Consistency, failed: bool) {
        self.consistency.push(consistency);
        self.suspicion.push(if failed {
            Suspicion::Torn
        } else {
            Suspicion::None
        });
    }

    /// Every thread was read at one instant and passed the checks.
    pub(super) fn settled(&self) -> bool {
        self.consistency
            .iter()
            .all(|c| *c == Consistency::OneInstant)
            && self.suspicion.iter().all(|s| *s == Suspicion::None)
    }

    /// How many attempts this sample may take, given what this one found.
    pub(super) fn limit(&self) -> usize {
        if self.suspicion.iter().any(|s| *s != Suspicion::None) {
            MAX_ATTEMPTS_SUSPECT
        } else {
            MAX_ATTEMPTS
        }
    }

    /// Marks every thread whose stack was copied while it changed though its walk went
    /// through: a frame names something that is not a code object, or (3.11+) a caller
    /// stands where it cannot have called, even if the frame pointer ended where it
    /// started. Decodes the code objects met for the first time on the way.
    pub(super) fn check_stacks(
        &mut self,
        codes: &mut CodeCache,
        interp: &Interpreter,
        walked: &WalkedFrames,
    ) {
        let (mem, layout) = (&*interp.mem, &interp.layout);
        for (index, suspicion) in self.suspicion.iter_mut().enumerate() {
            if *suspicion != Suspicion::None {
                continue;
            }
            let Some(frames) = walked.of_thread(index) else {
                continue;
            };
            let mut previous = 0;
            let garbage = frames.iter().any(|f| {
                let new = f.code != previous;
                previous = f.code;
                new && codes.decode_into_cache(mem, layout, f.code).is_err()
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
                if !codes.caller_is_plausible(mem, layout, callee, caller) {
                    *suspicion = Suspicion::OffCall;
                    break;
                }
            }
        }
    }

    /// A suspect stack whose frame pointer did not move and which this attempt read exactly
    /// as the last one did is taken as it is: a steady stack the checks cannot place (a
    /// call site another thread has since re-specialized, an interpreter path the opcode
    /// tables do not know), not a torn one.
    pub(super) fn accept_repeated_suspects(&mut self, walked: &WalkedFrames) {
        for i in 0..self.suspicion.len() {
            if self.suspicion[i] == Suspicion::None || self.consistency[i] == Consistency::Moved {
                continue;
            }
            let (Some(before), Some(now)) = (self.previous.of_thread(i), walked.of_thread(i))
            else {
                continue;
            };
            if self.previous_suspicion.get(i) == Some(&self.suspicion[i]) && before == now {
                self.suspicion[i] = Suspicion::None;
            }
        }
    }

    /// Keeps this attempt's frames for [`Retries::accept_repeated_suspects`].
    pub(super) fn remember_attempt(&mut self, walked: &WalkedFrames) {
        self.previous.copy_from(walked);
        self.previous_suspicion.clear();
        self.previous_suspicion.extend_from_slice(&self.suspicion);
    }

    /// After the last of `reads` attempts: keeps what it read of a stack still moving
    /// (the functions are right; a caller's line may be one it had already moved past),
    /// and counts it; but a stack that moved and has a caller off its call is not one the
    /// program ever had (3.11+), so it is an error.
    pub(super) fn give_up(&self, out: &mut [ThreadStack], reads: usize, stats: &mut AttemptStats) {
        for ((stack, c), s) in out.iter_mut().zip(&self.consistency).zip(&self.suspicion) {
            match (c, s) {
                (Consistency::Moved, Suspicion::OffCall) => {
                    stats.off_call += 1;
                    stack
                        .error
                        .get_or_insert(ThreadError::KeptChanging { reads });
                }
                (Consistency::Moved, _) => stats.moving += 1,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(codes: &[u64]) -> WalkedFrames {
        let pending: Vec<PendingFrame> = codes
            .iter()
            .map(|&code| PendingFrame {
                frame: 0x1000 + code,
                code,
                byte_offset: 4,
                may_be_unstarted: false,
                called_from_c: false,
            })
            .collect();
        let mut walked = WalkedFrames::default();
        walked.ranges.push(0..pending.len());
        walked.pending = pending;
        walked
    }

    #[test]
    fn one_instant_unsuspected_threads_settle_at_once() {
        let mut r = Retries::default();
        r.begin_sample();
        r.begin_attempt();
        r.note_thread(Consistency::OneInstant, false);
        r.note_thread(Consistency::OneInstant, false);
        assert!(r.settled());
        r.begin_attempt();
        r.note_thread(Consistency::OneInstant, false);
        r.note_thread(Consistency::Pieced, false);
        assert!(!r.settled());
        assert_eq!(r.limit(), MAX_ATTEMPTS);
    }

    #[test]
    fn a_suspect_read_twice_the_same_and_still_is_steady() {
        let mut r = Retries::default();
        r.begin_sample();
        r.begin_attempt();
        r.note_thread(Consistency::Pieced, true);
        let first = frames(&[0x10, 0x20]);
        r.accept_repeated_suspects(&first);
        assert_eq!(
            r.limit(),
            MAX_ATTEMPTS_SUSPECT,
            "no earlier read to compare"
        );
        r.remember_attempt(&first);

        // The same frames again: the suspicion is lifted.
        r.begin_attempt();
        r.note_thread(Consistency::Pieced, true);
        r.accept_repeated_suspects(&frames(&[0x10, 0x20]));
        assert_eq!(r.limit(), MAX_ATTEMPTS);

        // Other frames, or the same ones with the frame pointer moved: still suspect.
        r.begin_attempt();
        r.note_thread(Consistency::Pieced, true);
        r.accept_repeated_suspects(&frames(&[0x10, 0x30]));
        assert_eq!(r.limit(), MAX_ATTEMPTS_SUSPECT);
        r.begin_attempt();
        r.note_thread(Consistency::Moved, true);
        r.accept_repeated_suspects(&frames(&[0x10, 0x20]));
        assert_eq!(r.limit(), MAX_ATTEMPTS_SUSPECT);

        // A new sample compares with nothing from the last one.
        r.begin_sample();
        r.begin_attempt();
        r.note_thread(Consistency::Pieced, true);
        r.accept_repeated_suspects(&frames(&[0x10, 0x20]));
        assert_eq!(r.limit(), MAX_ATTEMPTS_SUSPECT);
    }

    #[test]
    fn giving_up_keeps_moving_stacks_and_counts_them() {
        let mut r = Retries::default();
        r.begin_sample();
        r.begin_attempt();
        r.note_thread(Consistency::Moved, false);
        r.note_thread(Consistency::Pieced, false);
        r.note_thread(Consistency::Moved, true);
        let mut out = vec![ThreadStack::default(); 3];
        let mut stats = AttemptStats::default();
        r.give_up(&mut out, MAX_ATTEMPTS, &mut stats);
        assert_eq!((stats.moving, stats.off_call), (2, 0));
        assert!(out.iter().all(|t| t.error.is_none()));
    }
}
