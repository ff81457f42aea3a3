//! Symbols and sections of an ELF file mapped into the target, with the load bias that
//! turns the file's addresses into the process's. Works for PIE and non-PIE executables
//! and shared libraries alike, stripped or not (`.dynsym` survives stripping). The file is
//! parsed once; the symbols and sections asked for are kept, the rest is dropped.

use std::collections::HashMap;

use goblin::elf::{program_header::PT_LOAD, Elf};

use super::maps::MappedFile;
use crate::error::{Error, Result};

/// What was found in an ELF file as loaded into one process.
pub struct LoadedElf {
    pub path: String,
    /// Wanted symbols found: process address and size.
    symbols: HashMap<String, (u64, u64)>,
    /// Wanted sections found: process address, size, and file contents.
    sections: HashMap<String, (u64, u64, Vec<u8>)>,
}

impl LoadedElf {
    /// Parses `bytes`, the contents of `file` (opened by the process image it is
    /// mapped in), and keeps `symbols` and `sections` (by name) of it.
    pub fn parse(
        bytes: &[u8],
        file: &MappedFile,
        symbols: &[&str],
        sections: &[&str],
    ) -> Result<LoadedElf> {
        let elf = Elf::parse(bytes)
            .map_err(|e| Error::Read(format!("{} is not a readable ELF file: {e}", file.path)))?;
        let first_load = elf
            .program_headers
            .iter()
            .filter(|ph| ph.p_type == PT_LOAD)
            .min_by_key(|ph| ph.p_vaddr)
            .ok_or_else(|| Error::Read(format!("{} has no loadable segment", file.path)))?;
        let page = 4096u64;
        let file_start = first_load.p_vaddr.wrapping_sub(first_load.p_offset) & !(page - 1);
        let bias = file.base.unwrap_or(file.start).wrapping_sub(file_start);

        let mut found = HashMap::new();
        for (syms, strtab) in [(&elf.dynsyms, &elf.dynstrtab), (&elf.syms, &elf.strtab)] {
            for sym in syms.iter() {
                if sym.st_value == 0 {
                    continue;
                }
                let Some(name) = strtab.get_at(sym.st_name) else {
                    continue;
                };
                if symbols.contains(&name) && !found.contains_key(name) {
                    found.insert(
                        name.to_string(),
                        (sym.st_value.wrapping_add(bias), sym.st_size),
                    );
                }
            }
        }
        let mut kept_sections = HashMap::new();
        for sh in &elf.section_headers {
            let Some(name) = elf.shdr_strtab.get_at(sh.sh_name) else {
                continue;
            };
            if !sections.contains(&name) {
                continue;
            }
            let contents = usize::try_from(sh.sh_offset)
                .ok()
                .zip(usize::try_from(sh.sh_size).ok())
                .and_then(|(start, len)| bytes.get(start..start.checked_add(len)?))
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            kept_sections.insert(
                name.to_string(),
                (sh.sh_addr.wrapping_add(bias), sh.sh_size, contents),
            );
        }
        Ok(LoadedElf {
            path: file.path.clone(),
            symbols: found,
            sections: kept_sections,
        })
    }

    /// Process address and size of the first of these symbols that exists.
    pub fn symbol(&self, names: &[&str]) -> Option<(u64, u64)> {
        names.iter().find_map(|n| self.symbols.get(*n).copied())
    }

    pub fn has_symbol(&self, name: &str) -> bool {
        self.symbols.contains_key(name)
    }

    /// Process address and size of a section.
    pub fn section(&self, name: &str) -> Option<(u64, u64)> {
        self.sections
            .get(name)
            .map(|(addr, size, _)| (*addr, *size))
    }

    /// The file contents of a section.
    pub fn section_bytes(&self, name: &str) -> Option<&[u8]> {
        self.sections
            .get(name)
            .map(|(_, _, bytes)| bytes.as_slice())
    }
}

/// The GNU build id of a 64-bit little-endian ELF image, from its `PT_NOTE` segments:
/// `bytes` may be the whole file or only its first page (as a core file keeps it), so
/// only notes lying inside `bytes` are looked at. `None` when there is none.
pub fn gnu_build_id(bytes: &[u8]) -> Option<Vec<u8>> {
    const PT_NOTE: u32 = 4;
    const NT_GNU_BUILD_ID: u32 = 3;
    if bytes.get(..4)? != b"\x7fELF" || bytes.get(4)? != &2 || bytes.get(5)? != &1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(bytes.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(bytes.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(bytes.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    if phentsize < 56 {
        return None;
    }
    for i in 0..phnum.min(256) {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? != PT_NOTE {
            continue;
        }
        let start = usize::try_from(u64_at(ph + 8)?).ok()?;
        let len = usize::try_from(u64_at(ph + 32)?).ok()?;
        let Some(notes) = bytes.get(start..start.saturating_add(len)) else {
            continue;
        };
        for (name, kind, desc) in elf_notes(notes) {
            if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
                return Some(desc.to_vec());
            }
        }
    }
    None
}

/// The notes of an ELF note area: `(name, type, descriptor)` each, 4-byte aligned; stops
/// at the first note that does not fit.
pub fn elf_notes<'a>(mut area: &'a [u8]) -> impl Iterator<Item = (&'a [u8], u32, &'a [u8])> {
    std::iter::from_fn(move || {
        let a: &'a [u8] = area;
        let word = |o: usize| -> Option<u32> {
            Some(u32::from_le_bytes(a.get(o..o + 4)?.try_into().ok()?))
        };
        let namesz = usize::try_from(word(0)?).ok()?;
        let descsz = usize::try_from(word(4)?).ok()?;
        let kind = word(8)?;
        let name_end = 12usize.checked_add(namesz)?;
        let desc_start = 12usize.checked_add(namesz.checked_add(3)? & !3)?;
        let desc_end = desc_start.checked_add(descsz)?;
        let name = a.get(12..name_end)?;
        let desc = a.get(desc_start..desc_end)?;
        let next = desc_start.checked_add(descsz.checked_add(3)? & !3)?;
        area = a.get(next..).unwrap_or(&[]);
        Some((name, kind, desc))
    })
}

/// A build id as people write it (lower-case hex).
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}
