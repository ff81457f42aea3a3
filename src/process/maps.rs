//! The target's memory map (`/proc/PID/maps`) grouped by mapped file, and the way to open
//! such a file from outside: through `/proc/PID/root/…` so a target in a chroot or
//! container resolves its own paths, falling back to `/proc/PID/map_files/…` when the
//! file was deleted or replaced after it was loaded.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// One file mapped into the target, with the address range of all its mappings.
#[derive(Debug, Clone)]
pub struct MappedFile {
    /// The path as the target sees it (inside its own root).
    pub path: String,
    /// Lowest start address of any mapping of this file.
    pub start: u64,
    /// Highest end address of any mapping of this file.
    pub end: u64,
    /// Start address of the mapping at file offset 0 (where the ELF header is).
    pub base: Option<u64>,
    /// One `(start, end)` of a mapping, used to reach the file via map_files.
    first_range: (u64, u64),
}

impl MappedFile {
    /// The file name without directories.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// Maps the whole file, as the target has it mapped, into our memory (read-only).
    pub fn map(&self, pid: u32) -> Result<FileMap> {
        let rooted = PathBuf::from(format!("/proc/{pid}/root{}", self.path));
        let via_map_files = PathBuf::from(format!(
            "/proc/{pid}/map_files/{:x}-{:x}",
            self.first_range.0, self.first_range.1
        ));
        let mut last_err = None;
        // A path ending in " (deleted)" is no longer on disk; map_files still has it.
        for candidate in [&rooted, &via_map_files] {
            match std::fs::File::open(candidate).and_then(FileMap::new) {
                Ok(map) => return Ok(map),
                Err(e) => last_err = Some(e),
            }
        }
        // The process ended while we looked (its /proc/PID/root went with it).
        if crate::process::pause::process_is_gone_or_exiting(pid) {
            return Err(Error::ProcessExited { pid });
        }
        Err(Error::Read(format!(
            "cannot read {} of process {pid}: {}",
            self.path,
            last_err.map_or_else(|| "unknown error".to_string(), |e| e.to_string())
        )))
    }
}

/// A file mapped read-only into our memory: the binaries are tens of MB, of which
/// only the headers and symbol tables are touched, so mapping beats reading.
pub struct FileMap {
    ptr: *mut libc::c_void,
    len: usize,
}

impl FileMap {
    pub(crate) fn new(file: std::fs::File) -> std::io::Result<FileMap> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::other("file too large"))?;
        if len == 0 {
            return Err(std::io::Error::other("empty file"));
        }
        // SAFETY: a private read-only mapping of a file we opened; the pointer is only
        // used through `Deref` while `self` lives and unmapped once in `Drop`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FileMap { ptr, len })
    }
}

impl std::ops::Deref for FileMap {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` readable bytes (see `new`).
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region `new` mapped, once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Every file-backed mapping of `pid`, grouped per file, in address order.
pub fn mapped_files(pid: u32) -> Result<Vec<MappedFile>> {
    let maps = proc_maps::get_process_maps(pid as proc_maps::Pid)
        .map_err(|e| classify_proc_error(pid, e))?;
    Ok(group_by_file(maps.iter().filter_map(|m| {
        let path = m.filename()?.to_string_lossy().into_owned();
        let start = m.start() as u64;
        Some((path, start, start + m.size() as u64, m.offset as u64))
    })))
}

/// Groups mappings `(path, start, end, file offset)` per file, keeping only absolute
/// paths (not `[heap]`, `[stack]`, anonymous ones): from /proc/PID/maps, or a core
/// file's list of mapped files.
pub fn group_by_file(maps: impl Iterator<Item = (String, u64, u64, u64)>) -> Vec<MappedFile> {
    let mut files: Vec<MappedFile> = Vec::new();
    for (path, start, end, offset) in maps {
        if !path.starts_with('/') {
            continue;
        }
        let base = (offset == 0).then_some(start);
        match files.iter_mut().find(|f| f.path == path) {
            Some(f) => {
                f.start = f.start.min(start);
                f.end = f.end.max(end);
                if f.base.is_none() {
                    f.base = base;
                }
            }
            None => files.push(MappedFile {
                path,
                start,
                end,
                base,
                first_range: (start, end),
            }),
        }
    }
    files
}

/// The executable of `pid` as the target sees it.
pub fn executable_path(pid: u32) -> Result<String> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| classify_proc_error(pid, e))
}

/// Turns an error from `/proc/PID/...` into the user-facing reason.
pub fn classify_proc_error(pid: u32, e: std::io::Error) -> Error {
    if !super::status::process_exists(pid) {
        return Error::NoSuchProcess { pid };
    }
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => Error::PermissionDenied {
            pid,
            detail: format!("reading /proc/{pid}: {e}"),
        },
        std::io::ErrorKind::NotFound => Error::ProcessExited { pid },
        _ => Error::Read(format!("reading /proc/{pid}: {e}")),
    }
}
