//! The failures a user can cause, each with a one-line message that says what to do and a
//! distinct exit code. Everything that can go wrong outside framescope itself ends up as
//! one of these; `main` prints the message and exits with the code.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// No process with that pid (exit 3).
    NoSuchProcess { pid: u32 },
    /// Not allowed to read or pause the process (exit 4).
    PermissionDenied { pid: u32, detail: String },
    /// The process runs no CPython we can find (exit 5).
    NotPython { pid: u32, found: String },
    /// CPython found, but a version or build we cannot read (exit 6).
    UnsupportedPython {
        pid: u32,
        version: String,
        why: String,
    },
    /// The process exited while we were reading it (exit 7).
    ProcessExited { pid: u32 },
    /// The process has exited and its parent has not reaped it yet (exit 7).
    Zombie { pid: u32, parent: u32 },
    /// A recording or input file that cannot be used (exit 8).
    BadFile { path: String, why: String },
    /// The command to profile could not be started (exit 9).
    SpawnFailed { command: String, why: String },
    /// Bad command-line usage that clap cannot catch (exit 2).
    Usage(String),
    /// An I/O error on our own side (writing output) (exit 10).
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A read of the target went wrong in a way that is not the user's doing (exit 11).
    Read(String),
    /// `compare`: git is missing, the directory is no repository, a ref is unknown, or a
    /// checkout failed (exit 12).
    Git(String),
    /// `compare`: a run of the command failed; the message says which (exit 13).
    RunFailed(String),
    /// Stopped by Ctrl-C or SIGTERM before finishing (exit 130).
    Interrupted(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::NoSuchProcess { .. } => 3,
            Error::PermissionDenied { .. } => 4,
            Error::NotPython { .. } => 5,
            Error::UnsupportedPython { .. } => 6,
            Error::ProcessExited { .. } | Error::Zombie { .. } => 7,
            Error::BadFile { .. } => 8,
            Error::SpawnFailed { .. } => 9,
            Error::Io { .. } => 10,
            Error::Read(_) => 11,
            Error::Git(_) => 12,
            Error::RunFailed(_) => 13,
            Error::Interrupted(_) => 130,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn bad_file(path: impl AsRef<std::path::Path>, why: impl Into<String>) -> Error {
        Error::BadFile {
            path: path.as_ref().display().to_string(),
            why: why.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSuchProcess { pid } => write!(f, "no process with pid {pid} (it may have exited); check the pid with `ps -p {pid}`"),
            Error::PermissionDenied { pid, detail } => write!(
                f,
                "permission denied reading process {pid} ({detail}): run framescope as root, or grant it CAP_SYS_PTRACE (`setcap cap_sys_ptrace+ep $(which framescope)`), or allow tracing with `sysctl kernel.yama.ptrace_scope=0`; inside a container, start it with `--cap-add SYS_PTRACE`"
            ),
            Error::NotPython { pid, found } => write!(f, "process {pid} is not running CPython: {found}"),
            Error::UnsupportedPython { pid, version, why } => write!(
                f,
                "process {pid} runs CPython {version}, which framescope cannot read: {why} (supported: CPython 3.8 to 3.15, and newer versions whose _Py_DebugOffsets keep the 3.13-3.15 shape)"
            ),
            Error::ProcessExited { pid } => write!(f, "process {pid} exited while framescope was reading it"),
            Error::Zombie { pid, parent } => write!(f, "process {pid} is a zombie: it has exited and its parent (pid {parent}) has not reaped it yet, so there is nothing left to profile"),
            Error::BadFile { path, why } => write!(f, "{path}: {why}"),
            Error::SpawnFailed { command, why } => write!(f, "could not start `{command}`: {why}"),
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Read(msg) | Error::Git(msg) | Error::RunFailed(msg) | Error::Interrupted(msg) => {
                write!(f, "{msg}")
            }
        }
    }
}

impl std::error::Error for Error {}
