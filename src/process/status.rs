//! What the kernel says about a pid before attaching (`/proc/PID/status`): which process
//! it belongs to — a thread id is a pid too, and `/proc/TID` exists for it — and whether
//! that process is a zombie (exited, not yet reaped by its parent: no memory left to read).

use crate::error::{Error, Result};

/// The parts of `/proc/PID/status` that matter before attaching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidStatus {
    /// The process (thread group) the pid belongs to; equal to the pid for a process.
    pub tgid: u32,
    /// The parent process.
    pub ppid: u32,
    /// State `Z` with no thread left: the process exited and waits for its parent to reap
    /// it. (A leader thread that ended while other threads run is `Z` too, but its
    /// process lives on.)
    pub zombie: bool,
}

/// True when `/proc/PID` is there: a process (or a thread) with this id exists, maybe
/// as a zombie (see [`crate::process::pause::process_is_gone_or_exiting`] for "still
/// running").
pub fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Reads `/proc/PID/status`; `None` when there is no such pid (or the file is not what
/// the kernel writes).
pub fn read(pid: u32) -> Option<PidStatus> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse(&text)
}

fn parse(text: &str) -> Option<PidStatus> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    Some(PidStatus {
        tgid: field("Tgid")?.parse().ok()?,
        ppid: field("PPid")?.parse().ok()?,
        zombie: field("State")?.starts_with('Z')
            && field("Threads")
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(1)
                <= 1,
    })
}

/// The process that `--pid PID` names: `pid` itself, or, when `pid` is a thread id, the
/// process it is a thread of (said on stderr, so nobody is surprised by the other pid in
/// the output). A zombie is refused with a message that says so.
pub fn process_to_profile(pid: u32) -> Result<u32> {
    let status = read(pid).ok_or(Error::NoSuchProcess { pid })?;
    if status.tgid != pid && status.tgid != 0 {
        eprintln!(
            "framescope: pid {pid} is a thread of process {}; profiling {}",
            status.tgid, status.tgid
        );
        return refuse_zombie(status.tgid).map(|()| status.tgid);
    }
    refuse_zombie(pid).map(|()| pid)
}

/// An error when `pid` is a zombie (or gone).
pub fn refuse_zombie(pid: u32) -> Result<()> {
    match read(pid) {
        None => Err(Error::NoSuchProcess { pid }),
        Some(s) if s.zombie => Err(Error::Zombie {
            pid,
            parent: s.ppid,
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_the_kernel_writes() {
        let thread = "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t100\nNgid:\t0\nPid:\t104\nPPid:\t7\n";
        assert_eq!(
            parse(thread),
            Some(PidStatus {
                tgid: 100,
                ppid: 7,
                zombie: false
            })
        );
        let zombie =
            "Name:\tpython3\nState:\tZ (zombie)\nTgid:\t5\nPid:\t5\nPPid:\t4\nThreads:\t1\n";
        assert!(parse(zombie).is_some_and(|s| s.zombie && s.tgid == 5));
        let leader_gone = zombie.replace("Threads:\t1", "Threads:\t3");
        assert!(parse(&leader_gone).is_some_and(|s| !s.zombie));
        assert_eq!(parse("Name:\tx\nState:\tR\n"), None);
        assert_eq!(parse("Tgid:\tlots\nPPid:\t1\nState:\tR\n"), None);
    }

    #[test]
    fn a_thread_of_this_process_resolves_to_it() {
        let me = std::process::id();
        assert_eq!(process_to_profile(me).ok(), Some(me));
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            // SAFETY: gettid takes no arguments and cannot fail.
            let _ = tid_tx.send(unsafe { libc::gettid() } as u32);
            let _ = done_rx.recv();
        });
        let tid = tid_rx.recv().expect("the worker's tid");
        assert_ne!(tid, me);
        assert_eq!(process_to_profile(tid).ok(), Some(me));
        let _ = done_tx.send(());
        let _ = worker.join();
    }
}
