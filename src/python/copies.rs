//! Local copies of the pieces of target memory one thread's walk needs: data-stack chunks
//! and frame headers that came with the sample's gathered read, and the ones read on a
//! miss.
//! A lookup by address starts where the last one succeeded, since a walk meets the copies
//! in order (or in reverse order: the plan sorts them by address). Knows byte ranges, not
//! Python.

use crate::process::{Memory, ReadError};

/// One copied range of target memory.
#[derive(Debug, Clone, Copy)]
pub struct CopiedRange {
    /// Target address of the first byte.
    pub start: u64,
    pub len: usize,
    /// Where its bytes are: in the gathered read's buffer, or in [`Copies`]' own buffer.
    offset: usize,
    in_gathered: bool,
    /// It starts at the start of a data-stack chunk (so it holds the chunk's header).
    pub chunk: bool,
    /// The end of the part a walk used (0: not used).
    pub used_end: u64,
}

/// The copies of one thread walk.
#[derive(Default)]
pub struct Copies {
    list: Vec<CopiedRange>,
    own: Vec<u8>,
    hint: usize,
}

impl Copies {
    pub fn clear(&mut self) {
        self.list.clear();
        self.own.clear();
        self.hint = 0;
    }

    pub fn list(&self) -> &[CopiedRange] {
        &self.list
    }

    /// Adds a range that the gathered read put at `offset` of its buffer.
    pub fn add_gathered(&mut self, start: u64, len: usize, offset: usize, chunk: bool) {
        self.list.push(CopiedRange {
            start,
            len,
            offset,
            in_gathered: true,
            chunk,
            used_end: 0,
        });
    }

    /// Reads `[start, start + len)` now (one syscall) and adds it; returns its index.
    pub fn read(
        &mut self,
        mem: &dyn Memory,
        start: u64,
        len: usize,
        chunk: bool,
    ) -> Result<usize, ReadError> {
        let offset = self.own.len();
        self.own.resize(offset + len, 0);
        if let Err(e) = mem.read(start, &mut self.own[offset..]) {
            self.own.truncate(offset);
            return Err(e);
        }
        self.list.push(CopiedRange {
            start,
            len,
            offset,
            in_gathered: false,
            chunk,
            used_end: 0,
        });
        Ok(self.list.len() - 1)
    }

    /// Drops the copies from index `from` on (only the last ones, so `own` shrinks too).
    pub fn truncate(&mut self, from: usize) {
        if let Some(first) = self.list.get(from) {
            if !first.in_gathered {
                self.own.truncate(first.offset);
            }
        }
        self.list.truncate(from);
        self.hint = self.hint.min(from.saturating_sub(1));
    }

    /// The index of a copy that holds all of `[addr, addr + len)`.
    pub fn find(&mut self, addr: u64, len: u64) -> Option<usize> {
        let holds = |c: &CopiedRange| addr >= c.start && addr + len <= c.start + c.len as u64;
        for i in [self.hint, self.hint + 1, self.hint.wrapping_sub(1)] {
            if self.list.get(i).is_some_and(holds) {
                self.hint = i;
                return Some(i);
            }
        }
        let found = self.list.iter().position(holds)?;
        self.hint = found;
        Some(found)
    }

    /// The bytes `[addr, addr + len)` of copy `index`, which must hold them; `gathered`
    /// is the gathered read's buffer.
    pub fn bytes<'a>(
        &'a self,
        gathered: &'a [u8],
        index: usize,
        addr: u64,
        len: usize,
    ) -> &'a [u8] {
        let Some(c) = self.list.get(index) else {
            return &[];
        };
        let from = c.offset + (addr.saturating_sub(c.start)) as usize;
        let buf = if c.in_gathered {
            gathered
        } else {
            &self.own[..]
        };
        buf.get(from..from + len).unwrap_or(&[])
    }

    /// Notes that a walk used copy `index` up to `end`.
    pub fn mark_used(&mut self, index: usize, end: u64) {
        if let Some(c) = self.list.get_mut(index) {
            c.used_end = c.used_end.max(end);
        }
    }
}
