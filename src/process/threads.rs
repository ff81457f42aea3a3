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

/// The CPU time of each of the target's threads, turned into the time used since the last
/// look: one `read` per thread per look.
///
/// The precise source is the kernel's per-task CPU clock through `perf_event_open`
/// (`PERF_COUNT_SW_TASK_CLOCK`, counting from when it is opened): a read includes the
/// running slice, to the nanosecond. `/proc/PID/task/TID/schedstat` (nanoseconds on a CPU)
/// is read once per thread for what it used before that, and is the fallback where perf
/// events are not permitted; the kernel brings it up to date only at scheduler ticks (4 ms
/// at 250 Hz) and context switches, so a burst of work then shows at the first sample after
/// the thread went to sleep, and the README says so.
pub struct CpuClock {
    pid: u32,
    threads: HashMap<u32, ThreadClock>,
    buf: [u8; 96],
    /// Threads read through perf events, and through schedstat only.
    pub precise: u64,
    pub coarse: u64,
}

/// One thread's open clock and the reading at the last look.
struct ThreadClock {
    /// The perf event's file, when it could be opened.
    perf: Option<File>,
    schedstat: File,
    last: u64,
    /// What the thread used before the clock first looked at it, still to be reported.
    before: u64,
}

impl CpuClock {
    /// Starts the clock: every thread alive now is opened, so that what it used before
    /// this moment is not counted; a thread first seen later started after it, and all
    /// its time counts.
    pub fn start(pid: u32) -> CpuClock {
        let mut clock = CpuClock {
            pid,
            threads: HashMap::new(),
            buf: [0; 96],
            precise: 0,
            coarse: 0,
        };
        for tid in thread_ids(pid) {
            if clock.open(tid) {
                if let Some(thread) = clock.threads.get_mut(&tid) {
                    thread.before = 0;
                }
            }
        }
        clock
    }

    /// Opens thread `tid`'s clock; its `before` is everything it used so far.
    fn open(&mut self, tid: u32) -> bool {
        let Ok(schedstat) = File::open(format!("/proc/{}/task/{tid}/schedstat", self.pid)) else {
            return false;
        };
        let Some(total) = read_schedstat(&schedstat, &mut self.buf) else {
            return false;
        };
        let perf = open_task_clock(tid);
        let last = match &perf {
            Some(_) => 0,
            None => total,
        };
        if perf.is_some() {
            self.precise += 1;
        } else {
            self.coarse += 1;
        }
        self.threads.insert(
            tid,
            ThreadClock {
                perf,
                schedstat,
                last,
                before: total,
            },
        );
        true
    }

    /// The CPU time, in ns, thread `tid` used since the last look at it (everything it
    /// used so far, the first time it is looked at after [`CpuClock::start`]); `None`
    /// when the thread is gone or its accounting cannot be read.
    pub fn used_since_last_look(&mut self, tid: u32) -> Option<u64> {
        if !self.threads.contains_key(&tid) && !self.open(tid) {
            return None;
        }
        let thread = self.threads.get_mut(&tid)?;
        let now = match &thread.perf {
            Some(perf) => {
                // A perf event is read with read(2); it has no file position to pread at.
                let mut count = [0u8; 8];
                match std::io::Read::read(&mut &*perf, &mut count) {
                    Ok(8) => Some(u64::from_ne_bytes(count)),
                    _ => None,
                }
            }
            None => read_schedstat(&thread.schedstat, &mut self.buf),
        };
        let Some(now) = now else {
            self.threads.remove(&tid);
            return None;
        };
        // A count never goes back; if it seems to (a reused tid), count from zero.
        let used = now.checked_sub(thread.last).unwrap_or(now);
        thread.last = now;
        Some(used + std::mem::take(&mut thread.before))
    }

    /// Forgets threads that are not in `alive`, closing their files.
    pub fn retain(&mut self, alive: impl Fn(u32) -> bool) {
        self.threads.retain(|tid, _| alive(*tid));
    }
}

/// Opens the kernel's CPU clock of one thread as a perf event (software event
/// `PERF_COUNT_SW_TASK_CLOCK`, counting nanoseconds from now); `None` when perf events
/// are not permitted or not there.
fn open_task_clock(tid: u32) -> Option<File> {
    use std::os::fd::FromRawFd;
    // struct perf_event_attr, its first version (64 bytes): type (u32), size (u32),
    // config (u64), then fields that all stay zero: counting, not sampling, enabled at once,
    // user and kernel time alike.
    let mut attr = [0u8; 64];
    attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // PERF_TYPE_SOFTWARE
    attr[4..8].copy_from_slice(&64u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&1u64.to_ne_bytes()); // PERF_COUNT_SW_TASK_CLOCK
    let tid = libc::pid_t::try_from(tid).ok()?;
    // SAFETY: perf_event_open reads `attr` (64 valid bytes, its size field says so) and
    // returns a new file descriptor or -1; PERF_FLAG_FD_CLOEXEC is 8.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            tid,
            -1 as libc::c_int,
            -1 as libc::c_int,
            8 as libc::c_ulong,
        )
    };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the descriptor was just returned to us and nothing else owns it.
    Some(unsafe { File::from_raw_fd(fd) })
}

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
        // Without perf events (not root, a strict perf_event_paranoid) the kernel's account
        // lags by up to a scheduler tick.
        let tolerance = if clock.precise > 0 {
            1_000_000
        } else {
            5_000_000
        };
        let before = thread_cpu_ns();
        let mut x = 0u64;
        while thread_cpu_ns() - before < 30_000_000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let used = clock.used_since_last_look(tid).unwrap();
        let own = thread_cpu_ns() - before;
        // The kernel's account and the thread's own clock are the same counter.
        assert!(
            used.abs_diff(own) < tolerance,
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
