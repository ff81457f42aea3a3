//! Pausing the target for a consistent read. A pause is a lease: [`Pause`] stops every
//! thread with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT: no SIGSTOP is sent, so nothing
//! in the target can notice) and resumes them all when dropped — on return, on error, on
//! panic (unwinding runs the drop). If framescope itself is killed, the kernel detaches
//! and the threads run on.
//!
//! A thread that exits while being paused reports its exit to us as its tracer; when it
//! is the main thread of a process we started, that status would be lost to `waitpid` on
//! the child, so it is kept here for [`reaped_exit_status`].

use std::collections::HashSet;
use std::sync::Mutex;

use super::threads::thread_ids;
use crate::error::{Error, Result};

/// Every thread of the target, stopped until this value is dropped.
pub struct Pause {
    seized: Vec<libc::pid_t>,
}

/// Exit statuses (raw `wait` status) that pausing consumed, by thread id.
static REAPED: Mutex<Vec<(libc::pid_t, i32)>> = Mutex::new(Vec::new());

/// The raw wait status of `pid` if a pause reaped it.
pub fn reaped_exit_status(pid: u32) -> Option<i32> {
    let reaped = REAPED.lock().ok()?;
    reaped
        .iter()
        .find(|(tid, _)| *tid == pid as libc::pid_t)
        .map(|(_, status)| *status)
}

impl Pause {
    /// Stops every thread of `pid`, starting from `tids`, a listing of its threads just
    /// taken (empty: list them here), and listing again until no new thread shows.
    pub fn with_threads(pid: u32, tids: Vec<u32>) -> Result<Pause> {
        let mut pause = Pause { seized: Vec::new() };
        let mut seen = HashSet::new();
        let mut known = Some(tids).filter(|t| !t.is_empty());
        // Threads may start while we seize the others: repeat until no new one shows.
        loop {
            let tids = known.take().unwrap_or_else(|| thread_ids(pid));
            if tids.is_empty() {
                return Err(Error::ProcessExited { pid });
            }
            let mut any_new = false;
            for tid in tids {
                if !seen.insert(tid) {
                    continue;
                }
                any_new = true;
                pause.seize_one(pid, tid as libc::pid_t)?;
            }
            if !any_new {
                break;
            }
        }
        if pause.seized.is_empty() {
            return Err(Error::ProcessExited { pid });
        }
        Ok(pause)
    }

    fn seize_one(&mut self, pid: u32, tid: libc::pid_t) -> Result<()> {
        let options = libc::PTRACE_O_TRACEEXIT as usize;
        // SAFETY: ptrace with integer arguments only; no memory is passed.
        let rc = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, 0usize, options) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            return match err.raw_os_error() {
                // The thread ended between listing and seizing it.
                Some(libc::ESRCH) => Ok(()),
                _ if process_is_gone_or_exiting(pid) => Err(Error::ProcessExited { pid }),
                Some(libc::EPERM)
                    if !std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists() =>
                {
                    Ok(())
                }
                Some(libc::EPERM) => Err(Error::PermissionDenied {
                    pid,
                    detail: "ptrace attach refused".into(),
                }),
                _ => Err(Error::Read(format!(
                    "could not pause thread {tid} of process {pid}: {err}"
                ))),
            };
        }
        self.seized.push(tid);
        // SAFETY: as above.
        if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0usize, 0usize) } != 0 {
            return Ok(()); // already gone; detaching it later is harmless
        }
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status into our local.
            let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
            if r < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Ok(());
            }
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                if let Ok(mut reaped) = REAPED.lock() {
                    reaped.push((tid, status));
                }
                self.seized.retain(|t| *t != tid);
                return Ok(());
            }
            if libc::WIFSTOPPED(status) {
                let event = (status >> 16) & 0xff;
                if event == libc::PTRACE_EVENT_STOP || event == libc::PTRACE_EVENT_EXIT {
                    return Ok(());
                }
                // A signal on its way to the thread: let it through; our interrupt
                // is still pending and stops the thread next.
                let signal = libc::WSTOPSIG(status) as usize;
                // SAFETY: as above.
                unsafe { libc::ptrace(libc::PTRACE_CONT, tid, 0usize, signal) };
            }
        }
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        for tid in &self.seized {
            // SAFETY: ptrace with integer arguments only. A thread that has gone since
            // makes this fail with ESRCH, which is fine.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, *tid, 0usize, 0usize) };
        }
    }
}

/// True when the process no longer exists or is already a zombie (ptrace then fails with
/// EPERM, which must not be mistaken for a permission problem).
pub fn process_is_gone_or_exiting(pid: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat_says_exiting(&stat),
    }
}

/// [`process_is_gone_or_exiting`] asked again and again: the stat file stays open and is
/// re-read with one `pread`.
pub struct ExitWatch {
    pid: u32,
    file: Option<std::fs::File>,
    buf: Vec<u8>,
}

impl ExitWatch {
    pub fn new(pid: u32) -> ExitWatch {
        ExitWatch {
            pid,
            file: None,
            buf: vec![0; 1024],
        }
    }

    pub fn gone_or_exiting(&mut self) -> bool {
        use std::os::unix::fs::FileExt;
        if self.file.is_none() {
            self.file = std::fs::File::open(format!("/proc/{}/stat", self.pid)).ok();
        }
        let Some(file) = &self.file else {
            return true;
        };
        match file.read_at(&mut self.buf, 0) {
            Ok(n) if n > 0 => stat_says_exiting(&self.buf[..n]),
            _ => true,
        }
    }
}

/// The state letter after the command name (which may hold any byte, ')' included).
fn stat_says_exiting(stat: &[u8]) -> bool {
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    let state = stat[close + 1..].iter().find(|b| !b.is_ascii_whitespace());
    matches!(state, Some(b'Z' | b'X' | b'x'))
}
