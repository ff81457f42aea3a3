//! An ELF core file (from `gcore`, or a kernel core dump) as a process image, for
//! `dump --core`. Its `PT_LOAD` segments hold the memory that was saved; what they leave
//! out (a kernel dump skips unmodified private file mappings, and gdb leaves out whole
//! read-only mappings of files) is read from the mapped file on disk, at the offset its
//! `NT_FILE` note gives. The `NT_FILE` note stands in for /proc/PID/maps, the
//! `NT_PRSTATUS` notes for /proc/PID/task, `NT_PRPSINFO` gives the pid and `NT_AUXV`'s
//! entry point tells which mapped file is the executable. Only 64-bit little-endian cores
//! are read. Knows nothing about Python.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::elf::{elf_notes, gnu_build_id, hex};
use super::image::{ProcessImage, Source};
use super::maps::{group_by_file, FileMap, MappedFile};
use super::memory::{Replay, SavedBytes};
use super::Memory;
use crate::error::{Error, Result};
use crate::limits::{MAX_CORE_NOTES_BYTES, MAX_CORE_SEGMENTS};

const ET_CORE: u16 = 4;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const NT_PRSTATUS: u32 = 1;
const NT_PRPSINFO: u32 = 3;
const NT_AUXV: u32 = 6;
const NT_FILE: u32 = 0x4649_4c45;
const AT_ENTRY: u64 = 9;
/// Offset of `pr_pid` in the 64-bit `elf_prstatus` (the thread's kernel id).
const PRSTATUS_PID: usize = 32;
/// Offset of `pr_pid` in the 64-bit `elf_prpsinfo` (the process id).
const PRPSINFO_PID: usize = 24;
/// How much of a mapped file's first page a core keeps (where its build id is).
const FIRST_PAGE: usize = 4096;

/// One `PT_LOAD` segment: `memsz` bytes of memory at `vaddr`, of which the first `filesz`
/// are in the core at `offset`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    vaddr: u64,
    memsz: u64,
    offset: u64,
    filesz: u64,
}

/// One entry of the `NT_FILE` note: `[start, end)` maps `path` from byte `offset`.
#[derive(Debug, Clone)]
pub struct FileMapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub path: String,
}

/// A parsed core file; its memory is read on demand.
pub struct CoreFile {
    pub path: PathBuf,
    file: File,
    /// Sorted by address.
    segments: Vec<Segment>,
    /// Sorted by address.
    pub mappings: Vec<FileMapping>,
    pub pid: u32,
    /// Kernel ids of the threads it saved, sorted.
    pub tids: Vec<u32>,
    /// The program's entry point (from the auxiliary vector), to tell its executable.
    entry: Option<u64>,
}

impl CoreFile {
    /// Opens and checks `path`: an ELF core of a 64-bit little-endian process, complete
    /// (every segment inside the file), with its list of mapped files and threads.
    pub fn open(path: &Path) -> Result<CoreFile> {
        let bad = |why: String| Error::bad_file(path, why);
        let file = File::open(path).map_err(|e| bad(format!("cannot open the core file: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| bad(format!("cannot open the core file: {e}")))?;
        if !meta.is_file() {
            return Err(bad("not a regular file".into()));
        }
        let len = meta.len();
        let mut header = [0u8; 64];
        let got = read_at(&file, 0, &mut header);
        if let Some(kind) = compressed_kind(&header[..got]) {
            return Err(bad(format!(
                "a {kind}-compressed file, not a core file: decompress it first (for systemd's \
                 cores: `coredumpctl dump PID -o core`)"
            )));
        }
        if got < 64 || &header[..4] != b"\x7fELF" {
            return Err(bad("not a core file (no ELF header)".into()));
        }
        if header[4] != 2 || header[5] != 1 {
            return Err(bad(
                "a core of a 32-bit or big-endian program, which framescope does not read".into(),
            ));
        }
        let h16 = |o: usize| u16::from_le_bytes([header[o], header[o + 1]]);
        let h64 = |o: usize| u64_le(&header, o);
        if h16(16) != ET_CORE {
            return Err(bad(format!(
                "not a core file but an ELF {} (give the core dump, not the program)",
                match h16(16) {
                    2 => "executable",
                    3 => "shared object or executable",
                    1 => "object file",
                    _ => "file",
                }
            )));
        }
        let phoff = h64(32);
        let phentsize = u64::from(h16(54));
        let mut phnum = usize::from(h16(56));
        if phnum == 0xffff {
            // More than 65534 segments: the count is in the first section header.
            let mut sh0 = [0u8; 64];
            if read_at(&file, h64(40), &mut sh0) == 64 {
                phnum = u32::from_le_bytes([sh0[44], sh0[45], sh0[46], sh0[47]]) as usize;
            }
        }
        if phentsize < 56 || phnum > MAX_CORE_SEGMENTS {
            return Err(bad("a core file with unreadable program headers".into()));
        }
        let table_len = phentsize * phnum as u64;
        let mut table = vec![0u8; table_len as usize];
        if phoff.checked_add(table_len).is_none_or(|end| end > len)
            || read_at(&file, phoff, &mut table) != table.len()
        {
            return Err(bad(truncated(len, phoff.saturating_add(table_len))));
        }
        let mut segments = Vec::new();
        let mut notes = Vec::new();
        let mut needed = 0u64;
        for ph in table.chunks_exact(phentsize as usize) {
            let kind = u32::from_le_bytes([ph[0], ph[1], ph[2], ph[3]]);
            let seg = Segment {
                offset: u64_le(ph, 8),
                vaddr: u64_le(ph, 16),
                filesz: u64_le(ph, 32),
                memsz: u64_le(ph, 40),
            };
            if kind != PT_LOAD && kind != PT_NOTE {
                continue;
            }
            needed = needed.max(seg.offset.saturating_add(seg.filesz));
            if kind == PT_LOAD {
                segments.push(seg);
            } else {
                notes.push(seg);
            }
        }
        if needed > len {
            return Err(bad(truncated(len, needed)));
        }
        segments.sort_by_key(|s| s.vaddr);
        let mut core = CoreFile {
            path: path.to_path_buf(),
            file,
            segments,
            mappings: Vec::new(),
            pid: 0,
            tids: Vec::new(),
            entry: None,
        };
        let mut notes_read = 0u64;
        for note in notes {
            notes_read = notes_read.saturating_add(note.filesz);
            if notes_read > MAX_CORE_NOTES_BYTES {
                return Err(bad("a core file whose notes are too large".into()));
            }
            let mut area = vec![0u8; note.filesz as usize];
            if read_at(&core.file, note.offset, &mut area) != area.len() {
                return Err(bad(truncated(len, note.offset + note.filesz)));
            }
            core.take_notes(&area);
        }
        if core.mappings.is_empty() {
            return Err(bad(
                "the core file has no list of mapped files (NT_FILE note); framescope needs a \
                 core written by Linux 3.7 or later, or by gdb's gcore"
                    .into(),
            ));
        }
        if core.tids.is_empty() {
            return Err(bad(
                "the core file saved no threads (NT_PRSTATUS notes)".into()
            ));
        }
        core.tids.sort_unstable();
        core.tids.dedup();
        if core.pid == 0 {
            core.pid = core.tids[0];
        }
        core.mappings.sort_by_key(|m| m.start);
        Ok(core)
    }

    fn take_notes(&mut self, area: &[u8]) {
        for (name, kind, desc) in elf_notes(area) {
            if name != b"CORE\0" {
                continue;
            }
            match kind {
                NT_PRSTATUS => {
                    if let Some(tid) = desc.get(PRSTATUS_PID..PRSTATUS_PID + 4) {
                        let tid = u32::from_le_bytes([tid[0], tid[1], tid[2], tid[3]]);
                        if tid != 0 {
                            self.tids.push(tid);
                        }
                    }
                }
                NT_PRPSINFO => {
                    if let Some(pid) = desc.get(PRPSINFO_PID..PRPSINFO_PID + 4) {
                        self.pid = u32::from_le_bytes([pid[0], pid[1], pid[2], pid[3]]);
                    }
                }
                NT_AUXV => {
                    self.entry = desc
                        .chunks_exact(16)
                        .find(|pair| u64_le(pair, 0) == AT_ENTRY)
                        .map(|pair| u64_le(pair, 8));
                }
                NT_FILE => self.mappings = file_note(desc),
                _ => {}
            }
        }
    }

    /// The executable's path: the mapped file holding the program's entry point.
    pub fn executable(&self) -> Option<&str> {
        let entry = self.entry?;
        self.mappings
            .iter()
            .find(|m| m.start <= entry && entry < m.end)
            .map(|m| m.path.as_str())
    }

    /// Reads from the core alone (no mapped file); returns the bytes read from `addr`.
    fn read_saved(&self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let a = addr.wrapping_add(done as u64);
            let Some(seg) = self.segment_at(a) else { break };
            let rel = a - seg.vaddr;
            if rel >= seg.filesz {
                break;
            }
            let n = (buf.len() - done).min((seg.filesz - rel) as usize);
            let got = read_at(&self.file, seg.offset + rel, &mut buf[done..done + n]);
            done += got;
            if got < n {
                break;
            }
        }
        done
    }

    fn segment_at(&self, addr: u64) -> Option<&Segment> {
        let i = self.segments.partition_point(|s| s.vaddr <= addr);
        let seg = self.segments.get(i.checked_sub(1)?)?;
        (addr - seg.vaddr < seg.memsz).then_some(seg)
    }

    fn mapping_at(&self, addr: u64) -> Option<&FileMapping> {
        let i = self.mappings.partition_point(|m| m.start <= addr);
        let m = self.mappings.get(i.checked_sub(1)?)?;
        (addr < m.end).then_some(m)
    }

    /// Where the next segment starts after `addr` (to stop a file read there).
    fn next_segment_after(&self, addr: u64) -> u64 {
        let i = self.segments.partition_point(|s| s.vaddr <= addr);
        self.segments.get(i).map_or(u64::MAX, |s| s.vaddr)
    }
}

/// The `NT_FILE` note: a count, the page size, `count` triples (start, end, page offset),
/// then as many NUL-terminated paths.
fn file_note(desc: &[u8]) -> Vec<FileMapping> {
    let count = u64_le(desc, 0);
    let page = u64_le(desc, 8);
    let Some(names_at) = count
        .checked_mul(24)
        .and_then(|n| n.checked_add(16))
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n <= desc.len())
    else {
        return Vec::new();
    };
    let mut names = desc[names_at..].split(|b| *b == 0);
    (0..count as usize)
        .map_while(|i| {
            let e = 16 + i * 24;
            let name = names.next()?;
            Some(FileMapping {
                start: u64_le(desc, e),
                end: u64_le(desc, e + 8),
                offset: u64_le(desc, e + 16).saturating_mul(page),
                path: String::from_utf8_lossy(name).into_owned(),
            })
        })
        .filter(|m| m.start < m.end)
        .collect()
}

fn truncated(len: u64, needed: u64) -> String {
    format!(
        "the core file is truncated: it has {len} bytes, its own headers say {needed} (the \
         dump was cut short: a full disk, or a core size limit such as `ulimit -c`)"
    )
}

/// The compression a file's first bytes announce, if any.
fn compressed_kind(head: &[u8]) -> Option<&'static str> {
    [
        (&b"\x28\xb5\x2f\xfd"[..], "zstd"),
        (&b"\x04\x22\x4d\x18"[..], "lz4"),
        (&b"\xfd7zXZ\x00"[..], "xz"),
        (&b"\x1f\x8b"[..], "gzip"),
    ]
    .into_iter()
    .find(|(magic, _)| head.starts_with(magic))
    .map(|(_, kind)| kind)
}

fn u64_le(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Reads as much of `buf` as the file has at `offset`.
fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    done
}

/// A core file's process as a [`ProcessImage`]. The file attaching opens (CPython's
/// binary) may be replaced by `python_binary` when it has moved; the replacement is
/// then also where the memory the core left out of that file is read from.
pub struct CoreImage {
    core: Arc<CoreFile>,
    python_binary: Option<PathBuf>,
    /// Mapped paths read from another file on disk: (mapped path, file read).
    replaced: Mutex<Vec<(String, PathBuf)>>,
}

impl CoreImage {
    pub fn new(core: CoreFile, python_binary: Option<PathBuf>) -> CoreImage {
        CoreImage {
            core: Arc::new(core),
            python_binary,
            replaced: Mutex::new(Vec::new()),
        }
    }

    fn describe(&self) -> String {
        format!("core file {}", self.core.path.display())
    }
}

impl ProcessImage for CoreImage {
    fn pid(&self) -> u32 {
        self.core.pid
    }

    fn mapped_files(&self) -> Result<Vec<MappedFile>> {
        Ok(group_by_file(
            self.core
                .mappings
                .iter()
                .map(|m| (m.path.clone(), m.start, m.end, m.offset)),
        ))
    }

    fn executable(&self) -> Option<String> {
        self.core.executable().map(str::to_string)
    }

    /// Opens the file on disk (or `--python-binary`), and checks it is the one the
    /// process had: the GNU build id of the core's copy of its first page, when the core
    /// kept that page, must be the file's.
    fn open(&self, file: &MappedFile) -> Result<FileMap> {
        let disk = self
            .python_binary
            .clone()
            .unwrap_or_else(|| PathBuf::from(&file.path));
        let map = File::open(&disk).and_then(FileMap::new).map_err(|e| {
            let hint = if self.python_binary.is_some() {
                String::new()
            } else {
                " (if it moved, pass its new path with --python-binary PATH)".into()
            };
            Error::bad_file(
                &self.core.path,
                format!(
                    "the process ran CPython from {}, which cannot be read on this machine: \
                     {e}{hint}",
                    disk.display()
                ),
            )
        })?;
        if let Some(base) = file.base {
            let mut page = vec![0u8; FIRST_PAGE];
            let got = self.core.read_saved(base, &mut page);
            if let Some(saved) = gnu_build_id(&page[..got]) {
                let on_disk = gnu_build_id(&map);
                if on_disk.as_deref() != Some(saved.as_slice()) {
                    return Err(Error::bad_file(
                        &self.core.path,
                        format!(
                            "{} is not the file the process ran: its build id is {}, the \
                             core's copy of {} has {} (pass the build that ran with \
                             --python-binary PATH)",
                            disk.display(),
                            on_disk.as_deref().map_or_else(|| "missing".into(), hex),
                            file.path,
                            hex(&saved)
                        ),
                    ));
                }
            }
        }
        if let Ok(mut replaced) = self.replaced.lock() {
            if disk != Path::new(&file.path) {
                replaced.push((file.path.clone(), disk));
            }
        }
        Ok(map)
    }

    fn memory(&self) -> Result<Box<dyn Memory + Send>> {
        let replaced = self.replaced.lock().map(|r| r.clone()).unwrap_or_default();
        let mut files = HashMap::new();
        for m in &self.core.mappings {
            let disk = replaced
                .iter()
                .find(|(mapped, _)| *mapped == m.path)
                .map_or_else(|| PathBuf::from(&m.path), |(_, disk)| disk.clone());
            files
                .entry(m.path.clone())
                .or_insert_with(|| (disk, OnceLock::new()));
        }
        Ok(Box::new(Replay::of(CoreBytes {
            core: Arc::clone(&self.core),
            files,
        })))
    }

    fn source(&self) -> Source {
        Source::Saved {
            what: self.describe(),
            tids: self.core.tids.clone(),
        }
    }

    fn not_python(&self, found: String) -> Error {
        Error::bad_file(
            &self.core.path,
            format!(
                "the core's process (pid {}) was not running CPython: {found}",
                self.core.pid
            ),
        )
    }
}

/// What a core file's memory is read from: its segments, and the mapped files on disk for
/// what it left out. Each file is opened the first time it is needed.
pub struct CoreBytes {
    core: Arc<CoreFile>,
    /// Mapped path → the file read for it, opened on first use (`None`: cannot be).
    files: HashMap<String, (PathBuf, OnceLock<Option<File>>)>,
}

impl SavedBytes for CoreBytes {
    /// Reads what the core and the mapped files have at `addr`; returns the byte count.
    fn read_contiguous(&self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let a = addr.wrapping_add(done as u64);
            let got = match self.core.read_saved(a, &mut buf[done..]) {
                0 => self.read_from_file(a, &mut buf[done..]),
                n => n,
            };
            if got == 0 {
                break;
            }
            done += got;
        }
        done
    }
}

impl CoreBytes {
    /// Reads bytes the core left out from the file mapped at `addr`, up to the end of
    /// the mapping or the next saved segment.
    fn read_from_file(&self, addr: u64, buf: &mut [u8]) -> usize {
        let Some(m) = self.core.mapping_at(addr) else {
            return 0;
        };
        let Some((disk, file)) = self.files.get(&m.path) else {
            return 0;
        };
        let Some(file) = file.get_or_init(|| File::open(disk).ok()) else {
            return 0;
        };
        let limit = m.end.min(self.core.next_segment_after(addr)) - addr;
        let n = buf.len().min(usize::try_from(limit).unwrap_or(usize::MAX));
        read_at(file, m.offset.saturating_add(addr - m.start), &mut buf[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small core: one saved segment at 0x10000 (8 bytes saved of 0x2000), the file
    /// `mapped` mapped at 0x11000-0x13000 from offset 0x1000 (the saved segment's unsaved
    /// tail overlaps its first page), and threads 7 and 9 of process 7.
    fn synthetic_core(dir: &Path, mapped: &Path) -> PathBuf {
        let mut notes = Vec::new();
        let mut note = |name: &[u8], kind: u32, desc: &[u8]| {
            notes.extend_from_slice(&(name.len() as u32).to_le_bytes());
            notes.extend_from_slice(&(desc.len() as u32).to_le_bytes());
            notes.extend_from_slice(&kind.to_le_bytes());
            notes.extend_from_slice(name);
            notes.resize(notes.len().next_multiple_of(4), 0);
            notes.extend_from_slice(desc);
            notes.resize(notes.len().next_multiple_of(4), 0);
        };
        for tid in [9u32, 7] {
            let mut prstatus = vec![0u8; 336];
            prstatus[PRSTATUS_PID..PRSTATUS_PID + 4].copy_from_slice(&tid.to_le_bytes());
            note(b"CORE\0", NT_PRSTATUS, &prstatus);
        }
        let mut prpsinfo = vec![0u8; 136];
        prpsinfo[PRPSINFO_PID..PRPSINFO_PID + 4].copy_from_slice(&7u32.to_le_bytes());
        note(b"CORE\0", NT_PRPSINFO, &prpsinfo);
        let mut auxv = Vec::new();
        for v in [AT_ENTRY, 0x11800, 0, 0] {
            auxv.extend_from_slice(&v.to_le_bytes());
        }
        note(b"CORE\0", NT_AUXV, &auxv);
        let mut files = Vec::new();
        for v in [1u64, 0x1000, 0x11000, 0x13000, 1] {
            files.extend_from_slice(&v.to_le_bytes());
        }
        files.extend_from_slice(mapped.to_string_lossy().as_bytes());
        files.push(0);
        note(b"CORE\0", NT_FILE, &files);

        let notes_at = 64 + 2 * 56;
        let load_at = notes_at + notes.len() as u64;
        let mut core = vec![0u8; 64];
        core[..6].copy_from_slice(b"\x7fELF\x02\x01");
        core[16..18].copy_from_slice(&ET_CORE.to_le_bytes());
        core[32..40].copy_from_slice(&64u64.to_le_bytes());
        core[54..56].copy_from_slice(&56u16.to_le_bytes());
        core[56..58].copy_from_slice(&2u16.to_le_bytes());
        for (kind, offset, vaddr, filesz, memsz) in [
            (PT_NOTE, notes_at, 0, notes.len() as u64, 0),
            (PT_LOAD, load_at, 0x10000u64, 8u64, 0x2000u64),
        ] {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&kind.to_le_bytes());
            ph[8..16].copy_from_slice(&offset.to_le_bytes());
            ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
            ph[32..40].copy_from_slice(&filesz.to_le_bytes());
            ph[40..48].copy_from_slice(&memsz.to_le_bytes());
            core.extend_from_slice(&ph);
        }
        core.extend_from_slice(&notes);
        core.extend_from_slice(b"SAVED!!!");
        let path = dir.join("core");
        std::fs::write(&path, &core).expect("core");
        path
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "framescope-core-unit-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn reads_saved_bytes_then_the_mapped_file_for_what_the_core_left_out() {
        let dir = scratch("read");
        let mapped = dir.join("lib.so");
        let contents: Vec<u8> = (0..0x3000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&mapped, &contents).expect("mapped file");
        let core = CoreFile::open(&synthetic_core(&dir, &mapped)).expect("core");
        assert_eq!((core.pid, core.tids.clone()), (7, vec![7, 9]));
        assert_eq!(core.executable(), Some(&*mapped.to_string_lossy()));
        let image = CoreImage::new(core, None);
        assert_eq!(
            image.source().thread_ids(7),
            vec![7, 9],
            "threads from the notes, not /proc"
        );
        let mem = image.memory().expect("memory");
        let mut saved = [0u8; 8];
        mem.read(0x10000, &mut saved).expect("saved bytes");
        assert_eq!(&saved, b"SAVED!!!");
        // Past what the segment saved, inside the file mapping: the file at its offset.
        let mut buf = [0u8; 16];
        mem.read(0x11ff8, &mut buf).expect("from the file");
        assert_eq!(&buf[..], &contents[0x1ff8..0x2008]);
        // Saved bytes followed by bytes neither saved nor mapped: a short read.
        assert_eq!(mem.read_partial(0x10000, &mut [0u8; 16]), Ok(8));
        assert!(mem.read(0x13ff8, &mut buf).is_err(), "past the mapping");
        assert!(mem.read(0x9000, &mut buf).is_err(), "nothing there");
        // The file gone: what only it had is unreadable, the saved bytes still read.
        std::fs::remove_file(&mapped).expect("remove");
        let mem = CoreImage::new(CoreFile::open(&dir.join("core")).expect("core"), None)
            .memory()
            .expect("memory");
        assert!(mem.read(0x11ff8, &mut buf).is_err());
        mem.read(0x10000, &mut saved).expect("saved bytes");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_cores_say_what_is_wrong() {
        let dir = scratch("bad");
        let mapped = dir.join("lib.so");
        std::fs::write(&mapped, b"x").expect("mapped");
        let path = synthetic_core(&dir, &mapped);
        let bytes = std::fs::read(&path).expect("core");
        let why = |b: &[u8]| {
            let p = dir.join("bad");
            std::fs::write(&p, b).expect("write");
            match CoreFile::open(&p) {
                Ok(_) => String::from("accepted"),
                Err(e) => e.to_string(),
            }
        };
        assert!(why(&bytes[..bytes.len() - 3]).contains("truncated"));
        assert!(why(b"hello").contains("no ELF header"));
        assert!(why(b"\x28\xb5\x2f\xfd rest").contains("zstd-compressed"));
        let mut exe = bytes.clone();
        exe[16] = 2;
        assert!(why(&exe).contains("not a core file but an ELF executable"));
        let mut be = bytes.clone();
        be[5] = 2;
        assert!(why(&be).contains("big-endian"));
        let mut huge = bytes.clone();
        huge[56..58].copy_from_slice(&0xfff0u16.to_le_bytes());
        assert!(why(&huge).contains("truncated"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
