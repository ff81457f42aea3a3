//! The target's OS threads as the kernel sees them: their ids, whether each is on a CPU
//! (running or runnable) right now, and how much CPU time the kernel has charged each.
//! The `/proc/PID/task/TID/stat` and `schedstat` files are kept open and re-read with
//! `pread`, so asking again costs one syscall, not an open.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Kernel thread ids of `pid` (empty when the process is gone).
pub fn thread_ids(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut ids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// Open `stat` files of the target's threads, for repeated on-CPU checks.
pub struct CpuStates {
    pid: u32,
    files: HashMap<u32, File>,
    buf: Vec<u8>,
}

impl CpuStates {
    pub fn new(pid: u32) -> CpuStates {
        CpuStates {
            pid,
            files: HashMap::new(),
            buf: vec![0; 512],
        }
    }

    /// `Some(true)` when thread `tid` is running or runnable (state `R`), `Some(false)`
    /// when it sleeps or waits, `None` when the thread is gone.
    pub fn on_cpu(&mut self, tid: u32) -> Option<bool> {
        if !self.files.contains_key(&tid) {
            let file = File::open(format!("/proc/{}/task/{tid}/stat", self.pid)).ok()?;
            self.files.insert(tid, file);
        }
        let file = self.files.get(&tid)?;
        let n = match file.read_at(&mut self.buf, 0) {
            Ok(n) if n > 0 => n,
            _ => {
                self.files.remove(&tid);
                return None;
            }
        };
        state_is_running(&self.buf[..n])
    }

    /// Forgets threads that are not in `alive`, closing their files.
    pub fn retain(&mut self, alive: impl Fn(u32) -> bool) {
        self.files.retain(|tid, _| alive(*tid));
    }
}

/// The CPU time of each of the target's threads, as the kernel charges it (the first field
/// of `/proc/PID/task/TID/schedstat`: nanoseconds on a CPU), turned into the time used
/// since the last look. One `pread` per thread per look.
pub struct CpuClock {
    pid: u32,
    /// Per thread: its open schedstat file and the total it had at the last look.
    threads: HashMap<u32, (File, u64)>,
    buf: [u8; 96],
}

impl CpuClock {
    /// Starts the clock: every thread alive now is read once, so that what it used before
    /// this moment is not counted; a thread first seen later started after it, and all
    /// its time counts.
    pub fn start(pid: u32) -> CpuClock {
        let mut clock = CpuClock {
            pid,
            threads: HashMap::new(),
            buf: [0; 96],
        };
        for tid in thread_ids(pid) {
            clock.used_since_last_look(tid);
        }
        clock
    }

    /// The CPU time, in ns, thread `tid` used since the last look at it (everything it
    /// used so far, the first time it is looked at after [`CpuClock::start`]); `None`
    /// when the thread is gone or its accounting cannot be read.
    pub fn used_since_last_look(&mut self, tid: u32) -> Option<u64> {
        if !self.threads.contains_key(&tid) {
            let file = File::open(format!("/proc/{}/task/{tid}/schedstat", self.pid)).ok()?;
            self.threads.insert(tid, (file, 0));
        }
        let (file, last) = self.threads.get_mut(&tid)?;
        let total = match file.read_at(&mut self.buf, 0) {
            Ok(n) if n > 0 => parse_schedstat(&self.buf[..n]),
            _ => None,
        };
        let Some(total) = total else {
            self.threads.remove(&tid);
            return None;
        };
        // A total never goes back; if it seems to (a reused tid), count from zero.
        let used = total.checked_sub(*last).unwrap_or(total);
        *last = total;
        Some(used)
    }

    /// Forgets threads that are not in `alive`, closing their files.
    pub fn retain(&mut self, alive: impl Fn(u32) -> bool) {
        self.threads.retain(|tid, _| alive(*tid));
    }
}

/// The first field of a schedstat line: nanoseconds spent on a CPU.
fn parse_schedstat(line: &[u8]) -> Option<u64> {
    let end = line
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(line.len());
    std::str::from_utf8(&line[..end]).ok()?.parse().ok()
}

/// The state letter follows the last ')' of the command name in a stat line.
fn state_is_running(stat: &[u8]) -> Option<bool> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let state = *stat.get(close + 2)?;
    Some(state == b'R')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_state_even_with_parens_in_the_name() {
        assert_eq!(state_is_running(b"12 (a) b) R 1 2"), Some(true));
        assert_eq!(state_is_running(b"12 (python3) S 1 2"), Some(false));
        assert_eq!(state_is_running(b"garbage"), None);
    }

    #[test]
    fn schedstat_lines_parse() {
        assert_eq!(parse_schedstat(b"919698 0 1\n"), Some(919_698));
        assert_eq!(parse_schedstat(b"x 0 1\n"), None);
        assert_eq!(parse_schedstat(b""), None);
    }

    #[test]
    fn the_cpu_clock_counts_what_a_thread_burns() {
        let pid = std::process::id();
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
        let thread_cpu_ns = || {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes into the timespec we own.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
        };
        let mut clock = CpuClock::start(pid);
        let before = thread_cpu_ns();
        let mut x = 0u64;
        while thread_cpu_ns() - before < 30_000_000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let used = clock.used_since_last_look(tid).unwrap();
        let own = thread_cpu_ns() - before;
        // The kernel's account and the thread's own clock are the same counter.
        assert!(
            used.abs_diff(own) < 3_000_000,
            "schedstat says {used} ns, the thread's clock {own} ns"
        );
        // Nothing burnt in between: close to nothing used.
        let again = clock.used_since_last_look(tid).unwrap();
        assert!(again < 5_000_000, "{again}");
        assert_eq!(clock.used_since_last_look(u32::MAX), None);
    }

    #[test]
    fn our_own_thread_is_on_cpu() {
        let pid = std::process::id();
        let mut states = CpuStates::new(pid);
        let tid = unsafe { libc::gettid() } as u32;
        assert!(thread_ids(pid).contains(&tid));
        assert_eq!(states.on_cpu(tid), Some(true));
    }
}
