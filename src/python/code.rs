//! The code-object cache: each code object the walker meets is decoded once (names, file,
//! first line, line table) and kept by address. Because a freed code object's address can
//! be reused by another, every hit is validated each sample by re-reading the fields that
//! identify it — for all of a sample's code objects in one batched read.

use std::collections::HashMap;

use super::layout::Layout;
use super::linetable::LineTable;
use super::objects::{read_bytes, read_str};
use super::stack::{CodeId, CodeInfo, CodeTable, RawFrame};
use crate::process::{Bytes, RemoteMemory};

/// The fields that identify a code object; a change means the address was reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    ob_type: u64,
    filename: u64,
    name: u64,
    qualname: u64,
    linetable: u64,
    first_line: u32,
}

impl Fingerprint {
    fn from_header(layout: &Layout, h: &[u8]) -> Fingerprint {
        Fingerprint {
            ob_type: h.u64_at(layout.ob_type as usize),
            filename: h.u64_at(layout.code_filename as usize),
            name: h.u64_at(layout.code_name as usize),
            qualname: layout.code_qualname.map_or(0, |o| h.u64_at(o as usize)),
            linetable: h.u64_at(layout.code_linetable as usize),
            first_line: h.u32_at(layout.code_firstlineno as usize),
        }
    }
}

struct CachedCode {
    id: CodeId,
    fingerprint: Fingerprint,
    lines: LineTable,
}

/// A frame found by the walker whose code is still to be resolved: the code object's
/// address and the current instruction's byte offset into its bytecode.
#[derive(Debug, Clone, Copy)]
pub struct PendingFrame {
    pub code: u64,
    pub byte_offset: i64,
}

/// Decoded code objects by address, plus the table of everything decoded so far.
pub struct CodeCache {
    entries: HashMap<u64, CachedCode>,
    pub table: CodeTable,
    /// `&PyCode_Type` in the target, when known: anything else is not a code object.
    code_type: Option<u64>,
    header_len: usize,
    // Scratch space reused across samples (no allocation once warmed up).
    distinct: Vec<u64>,
    headers: Vec<u8>,
}

impl CodeCache {
    pub fn new(layout: &Layout, code_type: Option<u64>) -> CodeCache {
        CodeCache {
            entries: HashMap::new(),
            table: CodeTable::default(),
            code_type,
            header_len: layout.code_header_len(),
            distinct: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Number of distinct code objects decoded so far.
    pub fn decoded(&self) -> usize {
        self.table.len()
    }

    /// Turns pending frames into frames with code ids and lines, decoding code objects
    /// not cached (or forgotten by [`CodeCache::validate`], which the caller runs first
    /// over the whole sample). A frame whose code cannot be read is an error for the
    /// whole stack (it is torn or garbage).
    pub fn resolve_validated(
        &mut self,
        mem: &RemoteMemory,
        layout: &Layout,
        pending: &[PendingFrame],
        out: &mut Vec<RawFrame>,
    ) -> Result<(), String> {
        for p in pending {
            if !self.entries.contains_key(&p.code) {
                let cached = self.decode(mem, layout, p.code)?;
                self.entries.insert(p.code, cached);
            }
            let Some(entry) = self.entries.get(&p.code) else {
                continue;
            };
            out.push(RawFrame {
                code: entry.id,
                line: entry.lines.line_at(p.byte_offset),
            });
        }
        Ok(())
    }

    /// Re-reads the identifying fields of every cached code object in `pending` in one
    /// syscall and forgets those that changed.
    pub fn validate(
        &mut self,
        mem: &RemoteMemory,
        layout: &Layout,
        pending: &[PendingFrame],
    ) -> Result<(), String> {
        self.distinct.clear();
        for p in pending {
            if self.entries.contains_key(&p.code) && !self.distinct.contains(&p.code) {
                self.distinct.push(p.code);
            }
        }
        if self.distinct.is_empty() {
            return Ok(());
        }
        let n = self.header_len;
        self.headers.resize(self.distinct.len() * n, 0);
        let mut requests: Vec<(u64, &mut [u8])> = self
            .distinct
            .iter()
            .copied()
            .zip(self.headers.chunks_exact_mut(n))
            .collect();
        let filled = mem.read_many(&mut requests).map_err(|e| e.to_string())?;
        for (i, addr) in self.distinct.iter().enumerate() {
            let still_same = i < filled && {
                let h = &self.headers[i * n..(i + 1) * n];
                self.entries
                    .get(addr)
                    .is_some_and(|c| c.fingerprint == Fingerprint::from_header(layout, h))
            };
            if !still_same {
                self.entries.remove(addr);
            }
        }
        Ok(())
    }

    fn decode(
        &mut self,
        mem: &RemoteMemory,
        layout: &Layout,
        addr: u64,
    ) -> Result<CachedCode, String> {
        let mut header = vec![0u8; self.header_len];
        mem.read(addr, &mut header)
            .map_err(|e| format!("code object at {addr:#x}: {e}"))?;
        let fp = Fingerprint::from_header(layout, &header);
        if let Some(code_type) = self.code_type {
            if fp.ob_type != code_type {
                return Err(format!("object at {addr:#x} is not a code object"));
            }
        }
        let name = read_str(mem, layout, fp.name)?;
        let qualname = match layout.code_qualname {
            Some(_) => read_str(mem, layout, fp.qualname)?,
            None => name.clone(),
        };
        let filename = read_str(mem, layout, fp.filename)?;
        let table = read_bytes(mem, layout, fp.linetable)?;
        let lines = LineTable::decode(layout.line_table, &table, fp.first_line);
        let id = self.table.push(CodeInfo {
            name,
            qualname,
            filename,
            first_line: fp.first_line,
        });
        Ok(CachedCode {
            id,
            fingerprint: fp,
            lines,
        })
    }
}
