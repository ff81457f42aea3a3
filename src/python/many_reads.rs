//! Many small reads of the target in as few syscalls as possible, for code that follows
//! many pointers at once (dict tables, attributes of every thread object): [`ManyReads`]
//! collects regions, reads them with one [`Gather`] (each region its own iovec, so a junk
//! pointer costs only itself), and marks the ones at bad addresses as missing instead of
//! failing the lot. Also batched reading of `str` objects (decoded as `objects.rs` decodes
//! a single one).
//!
//! Not for the per-sample stack walk, which lays out its own gather (see `walker/plan.rs`).

use super::layout::Layout;
use super::objects::{decode_str, shortened, str_head, str_head_len};
use crate::limits::MAX_BATCHED_STR_CHARS;
use crate::process::{Bytes, Gather, Memory, ReadError, RegionId};

/// Bad addresses tolerated in one [`ManyReads`] before the rest is given up as garbage,
/// so a torn table of junk pointers costs a bounded number of syscalls.
const MAX_FAILURES: usize = 16;

/// Regions to read, then their contents.
pub struct ManyReads {
    gather: Gather,
    entries: Vec<Entry>,
}

/// One pushed region: null pointers and empty regions are never worth a syscall.
#[derive(Clone, Copy)]
enum Entry {
    Null,
    Empty,
    Read(RegionId),
}

impl Default for ManyReads {
    fn default() -> ManyReads {
        ManyReads {
            // Up to MAX_FAILURES syscalls in all: the last bad region ends the reading.
            gather: Gather::separate(MAX_FAILURES - 1),
            entries: Vec::new(),
        }
    }
}

impl ManyReads {
    pub fn new() -> ManyReads {
        ManyReads::default()
    }

    /// Adds a region; returns its index for [`ManyReads::get`].
    pub fn push(&mut self, addr: u64, len: usize) -> usize {
        let entry = match (addr, len) {
            (0, _) => Entry::Null,
            (_, 0) => Entry::Empty,
            _ => Entry::Read(self.gather.push(addr, len)),
        };
        self.entries.push(entry);
        self.entries.len() - 1
    }

    /// Reads every region. Only a process-level failure (gone, no permission) is an error;
    /// regions at bad addresses are simply missing afterwards.
    pub fn run(&mut self, mem: &dyn Memory) -> Result<(), ReadError> {
        if !self.gather.is_empty() {
            mem.gather(&mut self.gather)?;
        }
        Ok(())
    }

    /// The bytes of region `i`, when it was read completely.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        match self.entries.get(i)? {
            Entry::Null => None,
            Entry::Empty => Some(&[]),
            Entry::Read(id) => self.gather.get(*id),
        }
    }
}

/// A str read from the target, with its type (to check against a known str's type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStr {
    pub ob_type: u64,
    pub text: String,
}

/// Reads many str objects in two syscalls (headers, then text). `want_chars`, when
/// given, skips the text of strs of any other length (for key comparisons). An entry is
/// `None` when its pointer is not a sane str.
pub fn read_strs(
    mem: &dyn Memory,
    layout: &Layout,
    addrs: &[u64],
    want_chars: Option<u64>,
) -> Result<Vec<Option<RemoteStr>>, ReadError> {
    let mut heads = ManyReads::new();
    for addr in addrs {
        heads.push(*addr, str_head_len(layout));
    }
    heads.run(mem)?;
    let mut texts = ManyReads::new();
    let mut pending = Vec::with_capacity(addrs.len());
    for (i, addr) in addrs.iter().enumerate() {
        let head = heads
            .get(i)
            .and_then(|h| Some((str_head(layout, h).ok()?, h.u64_at(layout.ob_type as usize))));
        match head {
            Some((h, ob_type)) if want_chars.is_none_or(|w| w == h.length) => {
                let (kept, dropped) = h.keep(MAX_BATCHED_STR_CHARS);
                let slot = texts.push(addr + h.data_offset(layout), kept.data_len());
                pending.push(Some((kept, dropped, ob_type, slot)));
            }
            _ => pending.push(None),
        }
    }
    texts.run(mem)?;
    Ok(pending
        .into_iter()
        .map(|p| {
            let (h, dropped, ob_type, slot) = p?;
            Some(RemoteStr {
                ob_type,
                text: shortened(decode_str(h, texts.get(slot)?)?, dropped),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_reads_get_good_regions_and_skip_bad_ones() {
        let mem = crate::process::RemoteMemory::new(std::process::id());
        let a = *b"alpha";
        let b = 0xdead_beef_u64;
        let mut reads = ManyReads::new();
        let ia = reads.push(a.as_ptr() as u64, 5);
        let bad = reads.push(8, 8);
        let null = reads.push(0, 8);
        let ib = reads.push(&b as *const u64 as u64, 8);
        reads.run(&mem).unwrap();
        assert_eq!(reads.get(ia), Some(&a[..]));
        assert_eq!(reads.get(bad), None);
        assert_eq!(reads.get(null), None);
        assert_eq!(reads.get(ib).map(|s| s.u64_at(0)), Some(b));
    }

    #[test]
    fn many_bad_regions_cost_a_bounded_number_of_syscalls() {
        let mem = crate::process::RemoteMemory::new(std::process::id());
        let mut reads = ManyReads::new();
        for i in 0..1000 {
            reads.push(8 + i * 16, 8);
        }
        let before = mem.syscalls();
        reads.run(&mem).unwrap();
        assert!(mem.syscalls() - before <= MAX_FAILURES as u64);
        assert!((0..1000).all(|i| reads.get(i).is_none()));
    }
}
