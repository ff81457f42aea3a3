//! Pausing the target for a consistent read. A pause is a lease: [`Pause`] stops every
//! thread with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT, no SIGSTOP) and resumes them all
//! when dropped — on return, on error, and on panic (unwinding runs the drop). If
//! framescope itself is killed, the kernel detaches and the threads run on.

use crate::error::{Error, Result};

/// Every thread of the target, stopped until this value is dropped.
pub struct Pause {
    _lock: remoteprocess::Lock,
}

impl Pause {
    pub fn new(pid: u32) -> Result<Pause> {
        let process =
            remoteprocess::Process::new(pid as remoteprocess::Pid).map_err(|e| to_error(pid, e))?;
        let lock = process.lock().map_err(|e| to_error(pid, e))?;
        Ok(Pause { _lock: lock })
    }
}

fn to_error(pid: u32, e: remoteprocess::Error) -> Error {
    use remoteprocess::Error as E;
    let gone = || process_is_gone_or_exiting(pid);
    match e {
        _ if gone() => Error::ProcessExited { pid },
        E::NixError(nix_err) if nix_err as i32 == libc::EPERM => Error::PermissionDenied {
            pid,
            detail: "ptrace attach refused".into(),
        },
        E::NixError(nix_err) if nix_err as i32 == libc::ESRCH => Error::ProcessExited { pid },
        E::IOError(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            Error::PermissionDenied {
                pid,
                detail: io.to_string(),
            }
        }
        other => Error::Read(format!("could not pause process {pid}: {other}")),
    }
}

/// True when the process no longer exists or is already a zombie (ptrace then fails with
/// EPERM, which must not be mistaken for a permission problem).
pub fn process_is_gone_or_exiting(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| matches!(state, 'Z' | 'X' | 'x')),
    }
}
