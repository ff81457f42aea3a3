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
    /// Added to a file virtual address to get the address in the process.
    pub bias: u64,
    pub path: String,
    /// Wanted symbols found: process address and size.
    symbols: HashMap<String, (u64, u64)>,
    /// Wanted sections found: process address, size, and file contents.
    sections: HashMap<String, (u64, u64, Vec<u8>)>,
}

impl LoadedElf {
    /// Reads `file` from the target's view of the filesystem and keeps `symbols` and
    /// `sections` (by name) of it.
    pub fn load(
        pid: u32,
        file: &MappedFile,
        symbols: &[&str],
        sections: &[&str],
    ) -> Result<LoadedElf> {
        let bytes = file.map(pid)?;
        let elf = Elf::parse(&bytes)
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
            bias,
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
