//! What attaching to CPython needs from a process, whether it is running or was saved: the
//! files it has mapped, a way to open one of them, its memory, and how the rest of a
//! session learns its threads and whether it is gone ([`Source`]). A live process
//! ([`LiveProcess`]: /proc and `process_vm_readv`) and a core file
//! ([`super::core::CoreImage`]) are the two images; `python::Interpreter::attach_image`
//! works on either. Knows nothing about Python.

use super::maps::{executable_path, mapped_files, FileMap, MappedFile};
use super::{Memory, ReadError, RemoteMemory};
use crate::error::{Error, Result};

/// A process as attaching sees it.
pub trait ProcessImage {
    /// The process id (of the live process, or the one the core was taken of).
    fn pid(&self) -> u32;
    /// Every file-backed mapping, grouped per file, in address order.
    fn mapped_files(&self) -> Result<Vec<MappedFile>>;
    /// The executable's path as the process saw it, when known.
    fn executable(&self) -> Option<String>;
    /// The contents of one of the mapped files (the file the process mapped, or the one
    /// standing in for it), mapped read-only into our memory.
    fn open(&self, file: &MappedFile) -> Result<FileMap>;
    /// The process's memory.
    fn memory(&self) -> Result<Box<dyn Memory + Send>>;
    /// How the session goes on learning about the process after attaching.
    fn source(&self) -> Source;
    /// The error for "no CPython here", saying what was found instead.
    fn not_python(&self, found: String) -> Error {
        Error::NotPython {
            pid: self.pid(),
            found,
        }
    }
}

/// Where an attached interpreter's process is known from, after attaching: a live one
/// is asked (its thread list in /proc, whether it still exists); a saved one (a core
/// file, a memory snapshot) has a fixed list of threads and never goes away.
#[derive(Debug, Clone)]
pub enum Source {
    Live,
    Saved {
        /// What it is, for messages ("core file core.4242").
        what: String,
        /// The kernel thread ids it recorded, sorted.
        tids: Vec<u32>,
    },
}

impl Source {
    /// The process's kernel thread ids, sorted (empty when it is gone).
    pub fn thread_ids(&self, pid: u32) -> Vec<u32> {
        match self {
            Source::Live => super::threads::thread_ids(pid),
            Source::Saved { tids, .. } => tids.clone(),
        }
    }

    /// True when the process no longer exists or is exiting (never for a saved one).
    pub fn is_gone(&self, pid: u32) -> bool {
        match self {
            Source::Live => super::pause::process_is_gone_or_exiting(pid),
            Source::Saved { .. } => false,
        }
    }

    /// The user's error for a read of the interpreter's state that failed.
    pub fn read_error(&self, pid: u32, e: ReadError, what_failed: &str) -> Error {
        match (self, e) {
            (Source::Live, ReadError::Gone) => Error::ProcessExited { pid },
            (Source::Live, ReadError::Permission) => Error::PermissionDenied {
                pid,
                detail: "process_vm_readv refused".into(),
            },
            (Source::Live, ReadError::BadAddress(a)) => {
                if self.is_gone(pid) {
                    Error::ProcessExited { pid }
                } else {
                    Error::Read(format!(
                        "{what_failed} of process {pid} is unreadable at {a:#x}"
                    ))
                }
            }
            (Source::Saved { what, .. }, e) => Error::Read(format!(
                "{what}: {what_failed} of process {pid} is not in it ({e}); the dump may be \
                 incomplete (a core limited by coredump_filter, or cut short)"
            )),
        }
    }
}

/// A running process, read through /proc and `process_vm_readv`.
pub struct LiveProcess {
    pub pid: u32,
}

impl ProcessImage for LiveProcess {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn mapped_files(&self) -> Result<Vec<MappedFile>> {
        mapped_files(self.pid)
    }

    fn executable(&self) -> Option<String> {
        executable_path(self.pid).ok()
    }

    fn open(&self, file: &MappedFile) -> Result<FileMap> {
        file.map(self.pid)
    }

    fn memory(&self) -> Result<Box<dyn Memory + Send>> {
        Ok(Box::new(RemoteMemory::new(self.pid)))
    }

    fn source(&self) -> Source {
        Source::Live
    }
}
