//! Frames outside every data-stack chunk that recent samples walked (3.11+): a generator's
//! or coroutine's `_PyInterpreterFrame` lives inside the generator object, not on the
//! thread's data stack, so the one-syscall plan of the last sample covers only the
//! coroutines that happened to run then. An event loop runs a different task's coroutine
//! chain at almost every sample; without these, each such sample read its coroutine
//! frames one syscall each and then the whole sample again. Each thread's recent frames
//! are read with the sample's gathered read (a few hundred bytes each; neighbours
//! share an iovec), so a task that ran recently is found in it. Bounded: the least
//! recently used go first, and one that stopped being readable is forgotten at once.

use super::frames::PlannedRegion;

/// Most frames remembered over all threads (each one more iovec at worst).
pub const MAX_RECENT_FRAMES: usize = 96;
/// Samples after which a frame no walk used is forgotten.
const FORGET_AFTER: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    tstate: u64,
    start: u64,
    len: usize,
    last_used: u64,
}

/// The recently walked out-of-chunk frames, sorted by (thread state, address).
#[derive(Debug, Default)]
pub struct RecentFrames {
    entries: Vec<Entry>,
}

impl RecentFrames {
    /// Notes the out-of-chunk regions of a walk of thread `tstate` at sample `sample`.
    pub fn note(&mut self, tstate: u64, regions: &[PlannedRegion], sample: u64) {
        for r in regions.iter().filter(|r| !r.chunk) {
            match self.position(tstate, r.start) {
                Ok(i) => {
                    let e = &mut self.entries[i];
                    e.len = e.len.max(r.len);
                    e.last_used = sample;
                }
                Err(i) => self.entries.insert(
                    i,
                    Entry {
                        tstate,
                        start: r.start,
                        len: r.len,
                        last_used: sample,
                    },
                ),
            }
        }
        if sample % 256 == 0 {
            self.entries
                .retain(|e| e.last_used + FORGET_AFTER >= sample);
        }
        while self.entries.len() > MAX_RECENT_FRAMES {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map_or(0, |(i, _)| i);
            self.entries.remove(oldest);
        }
    }

    /// Thread `tstate`'s recent frames, `(start, len)` by address.
    pub fn of_thread(&self, tstate: u64) -> impl Iterator<Item = (u64, usize)> + '_ {
        let from = self.entries.partition_point(|e| e.tstate < tstate);
        self.entries[from..]
            .iter()
            .take_while(move |e| e.tstate == tstate)
            .map(|e| (e.start, e.len))
    }

    /// Forgets a frame that could not be read (its generator freed and unmapped).
    pub fn forget(&mut self, tstate: u64, start: u64) {
        if let Ok(i) = self.position(tstate, start) {
            self.entries.remove(i);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, tstate: u64, start: u64) -> Result<usize, usize> {
        self.entries
            .binary_search_by_key(&(tstate, start), |e| (e.tstate, e.start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(start: u64) -> PlannedRegion {
        PlannedRegion {
            start,
            len: 80,
            chunk: false,
        }
    }

    #[test]
    fn keeps_out_of_chunk_frames_per_thread_in_address_order() {
        let mut r = RecentFrames::default();
        let chunk = PlannedRegion {
            start: 0x9000,
            len: 4096,
            chunk: true,
        };
        r.note(1, &[frame(0x3000), chunk, frame(0x1000)], 1);
        r.note(2, &[frame(0x2000)], 1);
        r.note(1, &[frame(0x3000)], 2);
        assert_eq!(
            r.of_thread(1).collect::<Vec<_>>(),
            vec![(0x1000, 80), (0x3000, 80)]
        );
        assert_eq!(r.of_thread(2).collect::<Vec<_>>(), vec![(0x2000, 80)]);
        assert_eq!(r.of_thread(3).count(), 0);
        r.forget(1, 0x1000);
        assert_eq!(r.of_thread(1).collect::<Vec<_>>(), vec![(0x3000, 80)]);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn stays_bounded_dropping_the_least_recently_used() {
        let mut r = RecentFrames::default();
        for i in 0..(MAX_RECENT_FRAMES as u64 + 50) {
            r.note(1, &[frame(0x10_0000 - i * 0x100)], i + 1);
        }
        assert_eq!(r.len(), MAX_RECENT_FRAMES);
        // The first frames noted were the first to go.
        assert!(r
            .of_thread(1)
            .all(|(start, _)| start <= 0x10_0000 - 50 * 0x100));
        // Long unused frames are forgotten.
        r.note(1, &[], 256 * 1000);
        assert!(r.is_empty());
    }
}
