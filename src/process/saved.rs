//! Memory saved from a process, region by region: [`RecordingMemory`] wraps a memory and
//! keeps a copy of every byte read through it; `SavedMemory` (tests only) serves exactly
//! those bytes again, and nothing else (a read outside them fails like an unmapped address).
//! Together they make memory snapshots: a look at a live process, replayed offline
//! (`python/snapshot.rs`, tests/snapshots). Knows nothing about Python.

use std::sync::{Arc, Mutex};

use super::image::{ProcessImage, Source};
use super::maps::{FileMap, MappedFile};
#[cfg(test)]
use super::memory::{Replay, SavedBytes};
use super::{Memory, ReadError};
use crate::error::Result;

/// Regions of memory: `(address, bytes)`.
pub type Regions = Vec<(u64, Vec<u8>)>;

/// A memory that keeps a copy of everything read through it.
pub struct RecordingMemory<M> {
    inner: M,
    seen: Arc<Mutex<Regions>>,
}

impl<M: Memory> RecordingMemory<M> {
    /// Records into `seen` (shared, so it can be read after the memory is handed over).
    pub fn new(inner: M, seen: Arc<Mutex<Regions>>) -> RecordingMemory<M> {
        RecordingMemory { inner, seen }
    }
}

impl<M: Memory> Memory for RecordingMemory<M> {
    fn syscalls(&self) -> u64 {
        self.inner.syscalls()
    }

    unsafe fn readv(
        &self,
        locals: &[libc::iovec],
        remotes: &[libc::iovec],
    ) -> Result<Option<usize>, ReadError> {
        // SAFETY: the caller's contract, passed on.
        let got = unsafe { self.inner.readv(locals, remotes) }?;
        let Some(mut left) = got else {
            return Ok(got);
        };
        // Copy out what was transferred, remote region by region, out of the local
        // buffers (the same stream of bytes, possibly cut differently).
        let mut copied = Vec::new();
        let (mut local, mut local_used) = (0usize, 0usize);
        for remote in remotes {
            let start = remote.iov_base as u64;
            let mut want = remote.iov_len.min(left);
            let mut bytes = Vec::with_capacity(want);
            while want > 0 {
                while locals.get(local).is_some_and(|l| local_used == l.iov_len) {
                    local += 1;
                    local_used = 0;
                }
                let Some(l) = locals.get(local) else { break };
                let n = want.min(l.iov_len - local_used);
                // SAFETY: the kernel (or the inner memory) filled these `n` bytes of the
                // caller's buffer, which lives for this call (the contract).
                let filled = unsafe {
                    std::slice::from_raw_parts(l.iov_base.cast::<u8>().add(local_used), n)
                };
                bytes.extend_from_slice(filled);
                local_used += n;
                want -= n;
                left -= n;
            }
            if !bytes.is_empty() {
                copied.push((start, bytes));
            }
            if left == 0 {
                break;
            }
        }
        if let Ok(mut seen) = self.seen.lock() {
            seen.extend(copied);
        }
        Ok(got)
    }
}

/// A process image whose memory is recorded into `seen` as it is read (attaching reads
/// through it too, so a snapshot holds what attaching needed).
pub struct RecordedImage<'a> {
    pub inner: &'a dyn ProcessImage,
    pub seen: Arc<Mutex<Regions>>,
}

impl ProcessImage for RecordedImage<'_> {
    fn pid(&self) -> u32 {
        self.inner.pid()
    }
    fn mapped_files(&self) -> Result<Vec<MappedFile>> {
        self.inner.mapped_files()
    }
    fn executable(&self) -> Option<String> {
        self.inner.executable()
    }
    fn open(&self, file: &MappedFile) -> Result<FileMap> {
        self.inner.open(file)
    }
    fn memory(&self) -> Result<Box<dyn Memory + Send>> {
        Ok(Box::new(RecordingMemory::new(
            self.inner.memory()?,
            Arc::clone(&self.seen),
        )))
    }
    fn source(&self) -> Source {
        self.inner.source()
    }
}

/// Sorts regions and merges those that overlap or touch (later copies of the same bytes
/// are the same bytes: the process was paused while recorded).
pub fn merge(mut regions: Regions) -> Regions {
    regions.sort_by_key(|(addr, _)| *addr);
    let mut out: Regions = Vec::new();
    for (addr, bytes) in regions {
        if let Some((last_addr, last)) = out.last_mut() {
            let last_end = *last_addr + last.len() as u64;
            if addr <= last_end {
                let skip = (last_end - addr) as usize;
                if let Some(tail) = bytes.get(skip..) {
                    last.extend_from_slice(tail);
                }
                continue;
            }
        }
        out.push((addr, bytes));
    }
    out
}

/// Exactly the saved regions of a process's memory (what the snapshot tests walk).
#[cfg(test)]
pub type SavedMemory = Replay<SavedRegions>;

/// The regions a [`SavedMemory`] serves.
#[cfg(test)]
pub struct SavedRegions {
    /// Sorted and merged (see [`merge`]).
    regions: Regions,
}

#[cfg(test)]
impl SavedMemory {
    pub fn new(regions: Regions) -> SavedMemory {
        Replay::of(SavedRegions {
            regions: merge(regions),
        })
    }
}

#[cfg(test)]
impl SavedBytes for SavedRegions {
    fn read_contiguous(&self, addr: u64, buf: &mut [u8]) -> usize {
        let i = self.regions.partition_point(|(a, _)| *a <= addr);
        let Some((start, bytes)) = i.checked_sub(1).and_then(|i| self.regions.get(i)) else {
            return 0;
        };
        let Some(from) = usize::try_from(addr - start)
            .ok()
            .filter(|o| *o < bytes.len())
        else {
            return 0;
        };
        let n = buf.len().min(bytes.len() - from);
        buf[..n].copy_from_slice(&bytes[from..from + n]);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{Gather, RemoteMemory};

    #[test]
    fn what_was_recorded_reads_back_and_nothing_else() {
        let a: [u8; 6] = *b"abcdef";
        let b: u64 = 0x1122_3344_5566_7788;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rec = RecordingMemory::new(RemoteMemory::new(std::process::id()), Arc::clone(&seen));
        let mut g = Gather::separate(0);
        g.push(a.as_ptr() as u64 + 1, 4);
        g.push(&b as *const u64 as u64, 8);
        assert_eq!(rec.gather(&mut g).unwrap(), 2);
        let saved = SavedMemory::new(seen.lock().unwrap().clone());
        let mut out = [0u8; 4];
        saved.read(a.as_ptr() as u64 + 1, &mut out).unwrap();
        assert_eq!(&out, b"bcde");
        assert_eq!(saved.read_u64(&b as *const u64 as u64).unwrap(), b);
        // Outside what was read: the first byte, or one past the end.
        assert!(saved.read(a.as_ptr() as u64, &mut out).is_err());
        let mut five = [0u8; 5];
        assert_eq!(saved.read_partial(a.as_ptr() as u64 + 1, &mut five), Ok(4));
    }

    #[test]
    fn overlapping_regions_merge() {
        let merged = merge(vec![
            (10, vec![1, 2, 3]),
            (12, vec![3, 4]),
            (20, vec![9]),
            (14, vec![5]),
        ]);
        assert_eq!(merged, vec![(10, vec![1, 2, 3, 4, 5]), (20, vec![9])]);
    }
}
