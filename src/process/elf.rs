//! Symbols and sections of an ELF file mapped into the target, with the load bias that
//! turns the file's addresses into the process's. Works for PIE and non-PIE executables
//! and shared libraries alike, stripped or not (`.dynsym` survives stripping).

use goblin::elf::{program_header::PT_LOAD, Elf};

use super::maps::MappedFile;
use crate::error::{Error, Result};

/// An ELF file as loaded into one process.
pub struct LoadedElf {
    bytes: Vec<u8>,
    /// Added to a file virtual address to get the address in the process.
    pub bias: u64,
    pub path: String,
}

impl LoadedElf {
    pub fn load(pid: u32, file: &MappedFile) -> Result<LoadedElf> {
        let bytes = file.read(pid)?;
        let elf = Elf::parse(&bytes)
            .map_err(|e| Error::Read(format!("{} is not a readable ELF file: {e}", file.path)))?;
        let first_load = elf
            .program_headers
            .iter()
            .filter(|ph| ph.p_type == PT_LOAD)
            .min_by_key(|ph| ph.p_vaddr)
            .ok_or_else(|| Error::Read(format!("{} has no loadable segment", file.path)))?;
        let page = 4096u64;
        let file_start = (first_load.p_vaddr - first_load.p_offset) & !(page - 1);
        let mapped_start = file.base.unwrap_or(file.start);
        let bias = mapped_start.wrapping_sub(file_start);
        Ok(LoadedElf {
            bytes,
            bias,
            path: file.path.clone(),
        })
    }

    fn elf(&self) -> Option<Elf<'_>> {
        Elf::parse(&self.bytes).ok()
    }

    /// Process address of the first symbol with one of these names (`.dynsym` first, then
    /// `.symtab`), with the symbol's size.
    pub fn symbol(&self, names: &[&str]) -> Option<(u64, u64)> {
        let elf = self.elf()?;
        for name in names {
            for (syms, strtab) in [(&elf.dynsyms, &elf.dynstrtab), (&elf.syms, &elf.strtab)] {
                for sym in syms.iter() {
                    if sym.st_value != 0 && strtab.get_at(sym.st_name) == Some(name) {
                        return Some((sym.st_value.wrapping_add(self.bias), sym.st_size));
                    }
                }
            }
        }
        None
    }

    /// Whether any symbol with this name exists (defined or not).
    pub fn has_symbol(&self, name: &str) -> bool {
        self.symbol(&[name]).is_some()
    }

    /// Process address and size of a section by name.
    pub fn section(&self, name: &str) -> Option<(u64, u64)> {
        let elf = self.elf()?;
        elf.section_headers.iter().find_map(|sh| {
            (elf.shdr_strtab.get_at(sh.sh_name) == Some(name))
                .then(|| (sh.sh_addr.wrapping_add(self.bias), sh.sh_size))
        })
    }

    /// The file bytes of a section, by name.
    pub fn section_bytes(&self, name: &str) -> Option<&[u8]> {
        let elf = self.elf()?;
        let sh = elf
            .section_headers
            .iter()
            .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(name))?;
        let start = usize::try_from(sh.sh_offset).ok()?;
        let end = start.checked_add(usize::try_from(sh.sh_size).ok()?)?;
        self.bytes.get(start..end)
    }
}
