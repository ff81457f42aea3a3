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
}

/// The CPU time of each of the target's threads as the kernel charges it (the first field
/// of `/proc/PID/task/TID/schedstat`: nanoseconds on a CPU), turned into the time used
/// since the last look: one `pread` per thread per look, the files kept open.
///
/// The kernel brings this account up to date at scheduler ticks (every 4 ms at 250 Hz)
/// and when the thread stops running, so a thread that runs on shows 0, 0, 0, then a tick's
/// worth; `report/profile.rs` spreads each amount back over the samples it covers. The
/// precise alternative, a perf task-clock event per thread, was tried and dropped: each
/// read interrupts the CPU the thread runs on, and its count (which includes interrupt
/// time) came out about 9% above the kernel's account of busy threads here.
pub struct CpuClock {
    pid: u32,
    threads: HashMap<u32, ThreadClock>,
    buf: [u8; 96],
}

/// One thread's open account and what it said at the last look.
struct ThreadClock {
    file: File,
    /// Who the thread is (its Python thread id): a tid the kernel gives out again names a
    /// new thread, whose account starts over.
    identity: u64,
    last: u64,
}

impl CpuClock {
    /// Starts the clock: what every thread alive now used before this moment is not
    /// counted; a thread first seen later started after it, and all its time counts.
    pub fn start(pid: u32) -> CpuClock {
        let mut clock = CpuClock {
            pid,
            threads: HashMap::new(),
            buf: [0; 96],
        };
        for tid in thread_ids(pid) {
            if let Some(file) = clock.open(tid) {
                if let Some(total) = read_schedstat(&file, &mut clock.buf) {
                    clock.threads.insert(
                        tid,
                        ThreadClock {
                            file,
                            identity: UNKNOWN_IDENTITY,
                            last: total,
                        },
                    );
                }
            }
        }
        clock
    }

    /// A clock for a process that joins a running recording, whose first sample stands
    /// for the time since `since` (the previous sample moment): what a thread alive now
    /// used before then is not counted. Its account then is not known, but it was at
    /// least its total now less the wall time since (a thread runs on one CPU at most),
    /// so the first look gives no more than that wall time: a child that burnt CPU before
    /// it was first sampled (its start-up, a shell before `exec`, the program it exec'd
    /// from) does not charge it all to its first stack. A thread born since counts whole.
    pub fn since(pid: u32, since: std::time::Instant) -> CpuClock {
        let window = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut clock = CpuClock::start(pid);
        for thread in clock.threads.values_mut() {
            thread.last = thread.last.saturating_sub(window);
        }
        clock
    }

    fn open(&self, tid: u32) -> Option<File> {
        File::open(format!("/proc/{}/task/{tid}/schedstat", self.pid)).ok()
    }

    /// The CPU time, in ns, thread `tid` (Python thread `identity`) used since the last
    /// look at it (everything it used so far, the first time it is looked at after
    /// [`CpuClock::start`], unless it was alive then). `None` when the thread is gone or
    /// its account cannot be read.
    pub fn used_since_last_look(&mut self, tid: u32, identity: u64) -> Option<u64> {
        let known = match self.threads.get_mut(&tid) {
            // Alive when the clock started: from now on it has a name.
            Some(t) if t.identity == UNKNOWN_IDENTITY => {
                t.identity = identity;
                true
            }
            Some(t) => t.identity == identity,
            None => false,
        };
        if !known {
            let file = self.open(tid)?;
            self.threads.insert(
                tid,
                ThreadClock {
                    file,
                    identity,
                    last: 0,
                },
            );
        }
        let thread = self.threads.get_mut(&tid)?;
        let Some(total) = read_schedstat(&thread.file, &mut self.buf) else {
            self.threads.remove(&tid);
            return None;
        };
        // An account never goes back; if it seems to, count from zero.
        let used = total.checked_sub(thread.last).unwrap_or(total);
        thread.last = total;
        Some(used)
    }

    /// Forgets threads that are not in `alive`, closing their files.
    pub fn retain(&mut self, alive: impl Fn(u32) -> bool) {
        self.threads.retain(|tid, _| alive(*tid));
    }
}

/// The identity of a thread alive when the clock started, until it is first sampled.
const UNKNOWN_IDENTITY: u64 = u64::MAX;

/// The first field of a thread's schedstat file, re-read with `pread`.
fn read_schedstat(file: &File, buf: &mut [u8]) -> Option<u64> {
    match file.read_at(buf, 0) {
        Ok(n) if n > 0 => parse_schedstat(&buf[..n]),
        _ => None,
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

    /// The calling thread's kernel id.
    fn own_tid() -> u32 {
        // SAFETY: gettid has no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_gettid) as u32 }
    }

    /// The CPU time the calling thread has used, in ns, by its own clock.
    fn thread_cpu_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// Keeps the calling thread on a CPU until its own clock has counted `ns` more.
    fn burn(ns: u64) {
        let before = thread_cpu_ns();
        let mut x = 0u64;
        while thread_cpu_ns() - before < ns {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    }

    #[test]
    fn the_cpu_clock_counts_what_a_thread_burns() {
        let pid = std::process::id();
        let tid = own_tid();
        let mut clock = CpuClock::start(pid);
        // The kernel's account lags by up to a scheduler tick.
        let tolerance = 10_000_000;
        let before = thread_cpu_ns();
        burn(30_000_000);
        let used = clock.used_since_last_look(tid, 7).unwrap();
        let own = thread_cpu_ns() - before;
        // The kernel's account and the thread's own clock are the same counter.
        assert!(
            used.abs_diff(own) < tolerance,
            "schedstat says {used} ns, the thread's clock {own} ns"
        );
        // Nothing burnt in between: close to nothing used.
        let again = clock.used_since_last_look(tid, 7).unwrap();
        assert!(again < 5_000_000, "{again}");
        assert_eq!(clock.used_since_last_look(u32::MAX, 7), None);
        // The same tid under another identity is a new thread: all its time counts.
        let all = clock.used_since_last_look(tid, 8).unwrap();
        assert!(all >= used, "{all} < {used}");
    }

    #[test]
    fn a_clock_started_since_a_moment_counts_no_more_than_the_wall_time_since() {
        let pid = std::process::id();
        let tid = own_tid();
        // 100 ms of CPU before the moment, 10 ms after.
        burn(100_000_000);
        let since = std::time::Instant::now();
        burn(10_000_000);
        let mut clock = CpuClock::since(pid, since);
        let wall = since.elapsed().as_nanos() as u64;
        let first = clock.used_since_last_look(tid, 7).unwrap();
        // At most the wall time since the moment (the account lags, it never leads).
        assert!(first <= wall, "{first} ns counted in {wall} ns");
        // Counted from the thread's birth, the 100 ms before would be in it.
        let file = clock.open(tid).unwrap();
        let total = read_schedstat(&file, &mut [0; 96]).unwrap();
        assert!(
            total > first + 50_000_000,
            "{total} in all, {first} counted"
        );
    }

    #[test]
    fn our_own_thread_is_on_cpu() {
        let pid = std::process::id();
        let mut states = CpuStates::new(pid);
        // SAFETY: gettid takes nothing and cannot fail.
        let tid = unsafe { libc::gettid() } as u32;
        assert!(thread_ids(pid).contains(&tid));
        assert_eq!(states.on_cpu(tid), Some(true));
    }
}
