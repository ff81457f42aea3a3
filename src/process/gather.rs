//! Many remote regions read into one local buffer by as few `process_vm_readv` calls as the
//! kernel allows (1024 iovecs a call): the sampler's way of taking a whole sample with one
//! syscall. Each iovec costs the kernel about as much as a few KiB of copying (it looks up
//! the mapping and pins the pages of every iovec on its own, and past 8 iovecs it allocates
//! their array), so a region that starts less than a page after the previous one ends joins
//! that one's iovec: every byte between two readable addresses less than a page apart lies
//! on a page that holds one of them, so is readable too.
//! Regions are read in the order pushed, which callers use to order reads in time. The
//! buffer and the iovec arrays are kept from call to call, so a warmed-up gather allocates
//! nothing. An iovec the kernel cannot read ends that call; the ones after it are tried
//! again by another call, so one bad guess costs one syscall, not the rest of the batch.
//! Knows nothing about Python.

use super::memory::{Memory, ReadError, MAX_IOVECS};

/// Most regions given up on in one gather (by default) before the rest is left unread:
/// each costs a syscall, and a batch full of bad addresses is not worth finishing.
const MAX_FAILED_REGIONS: usize = 4;

/// Largest gap between two regions read by one iovec: less than a page (see above).
pub const MERGE_GAP: u64 = 4095;

/// One requested region: where it is in the target, where it lands in the buffer, and
/// which span (iovec) reads it.
#[derive(Debug, Clone, Copy)]
struct Region {
    len: usize,
    offset: usize,
    span: usize,
}

/// One iovec: a contiguous range of the target and where it lands in the buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    addr: u64,
    len: usize,
    offset: usize,
}

/// A batch of regions to read, and after [`Memory::gather`] their contents.
pub struct Gather {
    /// Largest gap joined into one iovec (`None`: every region its own iovec).
    merge_gap: Option<u64>,
    /// Bad iovecs tolerated before the rest is left unread.
    max_failures: usize,
    regions: Vec<Region>,
    spans: Vec<Span>,
    /// Whether each span was read completely by the last gather.
    filled: Vec<bool>,
    buf: Vec<u8>,
    locals: Vec<libc::iovec>,
    remotes: Vec<libc::iovec>,
    /// The next region starts a new iovec ([`Gather::break_span`]).
    break_next: bool,
}

/// Names one region of a [`Gather`]: what [`Gather::push`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionId(usize);

impl Default for Gather {
    fn default() -> Gather {
        Gather {
            merge_gap: Some(MERGE_GAP),
            max_failures: MAX_FAILED_REGIONS,
            regions: Vec::new(),
            spans: Vec::new(),
            filled: Vec::new(),
            buf: Vec::new(),
            locals: Vec::new(),
            remotes: Vec::new(),
            break_next: false,
        }
    }
}

impl Gather {
    /// Close regions share an iovec: for addresses that are all expected to be readable
    /// (one bad region takes its iovec's neighbours with it).
    pub fn new() -> Gather {
        Gather::default()
    }

    /// Every region its own iovec, up to `max_failures` bad ones: for pointers that may be
    /// junk (a torn table), where one bad region must not cost a good neighbour.
    pub fn separate(max_failures: usize) -> Gather {
        Gather {
            merge_gap: None,
            max_failures,
            ..Gather::default()
        }
    }

    /// Forgets every region (keeping the storage).
    pub fn clear(&mut self) {
        self.break_next = false;
        self.regions.clear();
        self.spans.clear();
        self.filled.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Makes the next region start an iovec of its own, whatever its address: regions of
    /// another provenance (a guess that may have gone stale) cannot then cost the regions
    /// before them their read.
    pub fn break_span(&mut self) {
        self.break_next = true;
    }

    /// Asks for `len` bytes at `addr`; read by the next gather, after the regions pushed
    /// before it (or together with the last one, when it is that close).
    pub fn push(&mut self, addr: u64, len: usize) -> RegionId {
        let end = addr.saturating_add(len as u64);
        let gap = if std::mem::take(&mut self.break_next) {
            None
        } else {
            self.merge_gap
        };
        let joins = gap.and_then(|gap| {
            self.spans.last().filter(|s| {
                let span_end = s.addr + s.len as u64;
                addr >= s.addr && addr <= span_end + gap && end - s.addr <= u32::MAX as u64
            })
        });
        let (span, offset) = match joins.copied() {
            Some(s) => {
                let index = self.spans.len() - 1;
                let new_len = (end.max(s.addr + s.len as u64) - s.addr) as usize;
                self.spans[index].len = new_len;
                (index, s.offset + (addr - s.addr) as usize)
            }
            None => {
                let offset = self.spans.last().map_or(0, |s| s.offset + s.len);
                self.spans.push(Span { addr, len, offset });
                self.filled.push(false);
                (self.spans.len() - 1, offset)
            }
        };
        self.regions.push(Region { len, offset, span });
        RegionId(self.regions.len() - 1)
    }

    /// How many iovecs the next gather reads.
    #[cfg(test)]
    pub fn spans(&self) -> usize {
        self.spans.len()
    }

    /// The bytes of a region read completely by the last gather.
    pub fn get(&self, id: RegionId) -> Option<&[u8]> {
        let r = self.regions.get(id.0)?;
        if !self.filled.get(r.span).copied().unwrap_or(false) {
            return None;
        }
        self.buf.get(r.offset..r.offset + r.len)
    }

    /// The whole buffer: region `id`'s bytes start at [`Gather::offset`].
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// Where region `id` starts in [`Gather::buffer`].
    pub fn offset(&self, id: RegionId) -> usize {
        self.regions.get(id.0).map_or(0, |r| r.offset)
    }
}

/// [`Memory::gather`]: every region of `g`, `MAX_IOVECS` a call, going on past an unmapped
/// one until `g`'s failure budget is spent.
pub(crate) fn fill<M: Memory + ?Sized>(mem: &M, g: &mut Gather) -> Result<usize, ReadError> {
    {
        let total = g.spans.last().map_or(0, |s| s.offset + s.len);
        if g.buf.len() < total {
            g.buf.resize(total, 0);
        }
        g.filled.iter_mut().for_each(|f| *f = false);
        let mut next = 0;
        let mut failures = 0;
        let mut filled = 0;
        while next < g.spans.len() && failures <= g.max_failures {
            let batch = &g.spans[next..(next + MAX_IOVECS).min(g.spans.len())];
            g.locals.clear();
            g.remotes.clear();
            let base = g.buf.as_mut_ptr();
            for r in batch {
                g.locals.push(libc::iovec {
                    // SAFETY: offset + len lies inside buf, sized above to cover every region.
                    iov_base: unsafe { base.add(r.offset) }.cast(),
                    iov_len: r.len,
                });
                g.remotes.push(libc::iovec {
                    iov_base: r.addr as *mut libc::c_void,
                    iov_len: r.len,
                });
            }
            // SAFETY: every local iovec points into `g.buf`, sized above to hold every
            // region and borrowed mutably through `g` for this call.
            let got = unsafe { mem.readv(&g.locals, &g.remotes) }?;
            // Regions are transferred in order; the first one short of its length is where
            // the kernel stopped.
            let mut left = got.unwrap_or(0);
            let mut stopped_at = None;
            for (i, r) in batch.iter().enumerate() {
                if left >= r.len {
                    left -= r.len;
                    g.filled[next + i] = true;
                    filled += 1;
                } else {
                    stopped_at = Some(i);
                    break;
                }
            }
            match stopped_at {
                None => next += batch.len(),
                Some(i) => {
                    failures += 1;
                    next += i + 1;
                }
            }
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::RemoteMemory;

    #[test]
    fn reads_many_regions_in_one_call_and_skips_a_bad_one() {
        let mem = RemoteMemory::new(std::process::id());
        let a = *b"first region";
        let b = 0x1122_3344_5566_7788u64.to_le_bytes();
        let mut g = Gather::new();
        let ra = g.push(a.as_ptr() as u64, a.len());
        let bad = g.push(8, 16);
        let rb = g.push(b.as_ptr() as u64, 8);
        assert_eq!(g.spans(), 3);
        let before = mem.syscalls();
        assert_eq!(mem.gather(&mut g).unwrap(), 2);
        assert_eq!(g.get(ra), Some(&a[..]));
        assert_eq!(g.get(bad), None);
        assert_eq!(g.get(rb), Some(&b[..]));
        // The bad region ended the first call; the one after it took a second.
        assert_eq!(mem.syscalls() - before, 2);

        g.clear();
        let ra = g.push(a.as_ptr() as u64, 5);
        let rb = g.push(b.as_ptr() as u64, 8);
        let before = mem.syscalls();
        assert!(mem.gather(&mut g).unwrap() >= 1);
        assert_eq!(mem.syscalls() - before, 1);
        assert_eq!(g.get(ra), Some(&b"first"[..]));
        assert_eq!(g.get(rb), Some(&b[..]));
    }

    #[test]
    fn close_regions_share_an_iovec() {
        let mem = RemoteMemory::new(std::process::id());
        let data: Vec<u8> = (0..=255).collect();
        let base = data.as_ptr() as u64;
        let mut g = Gather::new();
        let r1 = g.push(base + 10, 4);
        let r2 = g.push(base + 100, 8);
        let r3 = g.push(base + 12, 4); // inside the span so far
        assert_eq!(g.spans(), 1);
        mem.gather(&mut g).unwrap();
        assert_eq!(g.get(r1), Some(&data[10..14]));
        assert_eq!(g.get(r2), Some(&data[100..108]));
        assert_eq!(g.get(r3), Some(&data[12..16]));
        // Before the span: a new iovec.
        g.push(base, 4);
        assert_eq!(g.spans(), 2);
    }

    #[test]
    fn a_break_keeps_the_next_region_out_of_the_last_iovec() {
        let mem = RemoteMemory::new(std::process::id());
        let data: Vec<u8> = (0..=255).collect();
        let base = data.as_ptr() as u64;
        let mut g = Gather::new();
        let first = g.push(base, 8);
        g.break_span();
        let second = g.push(base + 16, 8);
        let third = g.push(base + 32, 8);
        // The break applies to one push: the third joins the second's iovec.
        assert_eq!(g.spans(), 2);
        mem.gather(&mut g).unwrap();
        assert_eq!(g.get(first), Some(&data[0..8]));
        assert_eq!(g.get(second), Some(&data[16..24]));
        assert_eq!(g.get(third), Some(&data[32..40]));
    }

    #[test]
    fn an_unreadable_region_after_a_break_leaves_the_one_before_it_read() {
        // Two pages, the second unreadable: regions at the end of the first and the start
        // of the second are close enough to share an iovec, which then fails whole.
        // SAFETY: a fresh private anonymous mapping of two pages, made unreadable in its
        // second half and unmapped at the end; nothing else uses it.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        // SAFETY: as above.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        let base = map as u64;
        // SAFETY: the second page of the mapping made above.
        let protected = unsafe {
            libc::mprotect(
                (base + page as u64) as *mut libc::c_void,
                page,
                libc::PROT_NONE,
            )
        };
        assert_eq!(protected, 0);
        let mem = RemoteMemory::new(std::process::id());
        let good_at = base + page as u64 - 8;
        let bad_at = base + page as u64;
        let mut joined = Gather::new();
        let good = joined.push(good_at, 8);
        joined.push(bad_at, 8);
        assert_eq!(joined.spans(), 1);
        let _ = mem.gather(&mut joined);
        assert_eq!(joined.get(good), None, "joined: lost with the bad one");
        let mut apart = Gather::new();
        let good = apart.push(good_at, 8);
        apart.break_span();
        let bad = apart.push(bad_at, 8);
        assert_eq!(apart.spans(), 2);
        let _ = mem.gather(&mut apart);
        assert_eq!(apart.get(good), Some(&[0u8; 8][..]));
        assert_eq!(apart.get(bad), None);
        // SAFETY: the mapping made above, no longer used.
        unsafe { libc::munmap(map, 2 * page) };
    }
}
