//! The fixed-rate loop: time is cut into slots of one period on an absolute schedule (no
//! drift), and one sample is taken in each slot at a random point of it (jitter, so that
//! work that repeats at the sampling rate cannot hide from or crowd the samples; the mean
//! rate stays exact). A slot the loop reaches after its point is sampled at once; slots
//! it reaches only after they ended are missed, counted, and their time is carried by the
//! next sample, so every interval is attributed. It stops on the duration, on Ctrl-C /
//! SIGTERM, or when the target exits. Each sample goes to a callback (the recording
//! writer) with the wall time it stands for; the loop itself keeps nothing per sample.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process::pause::Pause;
use crate::python::{CodeTable, Interpreter, SampleOptions, StackReader, ThreadStack};
use crate::recording::TickTime;

/// How to sample.
#[derive(Debug, Clone)]
pub(crate) struct SamplerConfig {
    pub rate_hz: f64,
    pub duration: Option<Duration>,
    /// Pause the target for every sample.
    pub blocking: bool,
    /// Print a live status line on stderr (only when it is a terminal).
    pub status_line: bool,
    /// Sample at a random point of each period (the default) instead of at its start.
    pub jitter: bool,
    /// Raise the sampling thread's scheduling priority where permitted (see
    /// [`raise_priority`]).
    pub boost: bool,
}

/// How the sampling went.
#[derive(Debug, Clone, Default)]
pub(crate) struct SamplerStats {
    pub samples: u64,
    pub missed: u64,
    /// Thread stacks that could not be read consistently.
    pub errors: u64,
    /// Remote-read syscalls made while sampling.
    pub reads: u64,
    /// Samples read more than once because a stack moved while it was read (nonblocking).
    pub reread: u64,
    /// Thread stacks still moving after the last read, kept as read (possibly torn).
    pub moving: u64,
    /// Thread stacks that moved and had a caller off its call after the last read
    /// (3.11+; errors).
    pub off_call: u64,
    /// Thread stacks deeper than the walk follows, kept as their innermost frames.
    pub truncated: u64,
    pub elapsed: Duration,
    /// Why the loop ended.
    pub stopped_by: StopReason,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum StopReason {
    #[default]
    Duration,
    Signal,
    TargetExited,
}

/// Something that can tell whether the target has exited (a spawned child is checked
/// with `waitpid`; an attached process through `/proc`).
pub(crate) trait TargetWatch {
    fn exited(&mut self) -> bool;
}

/// Watches an attached process through `/proc/PID/stat`.
pub(crate) struct ProcWatch(crate::process::pause::ExitWatch);

impl ProcWatch {
    pub(crate) fn new(pid: u32) -> ProcWatch {
        ProcWatch(crate::process::pause::ExitWatch::new(pid))
    }
}

impl TargetWatch for ProcWatch {
    fn exited(&mut self) -> bool {
        self.0.gone_or_exiting()
    }
}

/// The sampling schedule: slot `k` covers `[k, k + 1)` periods from the start, and its
/// sample is due at a point drawn uniformly inside it (or at its start, without jitter).
pub(crate) struct Schedule {
    start: Instant,
    period_ns: u64,
    jitter: Option<fastrand::Rng>,
    /// The slot being sampled next.
    slot: u64,
    /// The slot of the last sample handed on, if any.
    last_taken: Option<u64>,
}

impl Schedule {
    pub(crate) fn new(start: Instant, rate_hz: f64, jitter: bool) -> Schedule {
        let period_ns = (1e9 / rate_hz.max(0.001)).round().max(1.0) as u64;
        Schedule {
            start,
            period_ns,
            jitter: jitter.then(fastrand::Rng::new),
            slot: 0,
            last_taken: None,
        }
    }

    /// When the current slot's sample is due.
    pub(crate) fn due(&mut self) -> Instant {
        let offset = match &mut self.jitter {
            Some(rng) => rng.u64(0..self.period_ns),
            None => 0,
        };
        let at = u128::from(self.slot) * u128::from(self.period_ns) + u128::from(offset);
        self.start + Duration::from_nanos(u64::try_from(at).unwrap_or(u64::MAX))
    }

    /// The current slot was sampled: the wall time its sample stands for, in ns (the
    /// slots since the last sample handed on, this one included).
    pub(crate) fn taken(&mut self) -> u64 {
        let since = match self.last_taken {
            Some(last) => self.slot - last,
            None => self.slot + 1,
        };
        self.last_taken = Some(self.slot);
        since.saturating_mul(self.period_ns)
    }

    /// Moves to the next slot, or, when `now` is already past its end, to the slot `now`
    /// is in. Returns the number of slots skipped (missed).
    pub(crate) fn advance(&mut self, now: Instant) -> u64 {
        self.slot += 1;
        let now_ns = u64::try_from(now.duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        let now_slot = now_ns / self.period_ns;
        if now_slot > self.slot {
            let missed = now_slot - self.slot;
            self.slot = now_slot;
            missed
        } else {
            0
        }
    }
}

/// Runs the loop until a stop rule fires. `on_sample` gets the time of the sample and the
/// wall time it stands for, every thread's stack (with the CPU time each used since its
/// previous sample), and the code table the stacks refer to.
pub(crate) fn run(
    interp: &Interpreter,
    config: &SamplerConfig,
    stop: &AtomicBool,
    watch: &mut dyn TargetWatch,
    mut on_sample: impl FnMut(TickTime, &[ThreadStack], &CodeTable) -> Result<()>,
) -> Result<SamplerStats> {
    run_with_reader(interp, config, stop, watch, |t, threads, reader| {
        on_sample(t, threads, &reader.codes.table)
    })
}

/// [`run`], handing `on_sample` the stack reader itself (whose code cache it may grow,
/// as `record --async --idle` does with the frames of waiting tasks).
pub(crate) fn run_with_reader(
    interp: &Interpreter,
    config: &SamplerConfig,
    stop: &AtomicBool,
    watch: &mut dyn TargetWatch,
    mut on_sample: impl FnMut(TickTime, &[ThreadStack], &mut StackReader) -> Result<()>,
) -> Result<SamplerStats> {
    precise_timers();
    if config.boost {
        raise_priority();
    }
    let mut reader = StackReader::new(interp);
    let mut threads: Vec<ThreadStack> = Vec::new();
    let opts = SampleOptions {
        cpu_state: false,
        cpu_time: true,
        thread_names: true,
        paused: config.blocking,
    };
    let mut stats = SamplerStats::default();
    reader.start_cpu_clock(interp.pid);
    let start = Instant::now();
    let reads_at_start = interp.mem.syscalls();
    let mut schedule = Schedule::new(start, config.rate_hz, config.jitter);
    let first = schedule.due();
    sleep_until(first);
    let mut last_watch = start;
    let mut last_status = start;
    let show_status = config.status_line && std::io::stderr().is_terminal();

    loop {
        if stop.load(Ordering::Relaxed) {
            stats.stopped_by = StopReason::Signal;
            break;
        }
        let now = Instant::now();
        if config
            .duration
            .is_some_and(|d| now.duration_since(start) >= d)
        {
            stats.stopped_by = StopReason::Duration;
            break;
        }
        let taken = if config.blocking {
            let tids = crate::process::threads::thread_ids(interp.pid);
            match Pause::with_threads(interp.pid, tids) {
                Ok(_pause) => reader.sample(interp, opts, &mut threads),
                Err(e) => Err(e),
            }
        } else {
            reader.sample(interp, opts, &mut threads)
        };
        match taken {
            Ok(()) => {
                let time = TickTime {
                    elapsed_ns: now.duration_since(start).as_nanos() as u64,
                    interval_ns: schedule.taken(),
                };
                stats.samples += 1;
                stats.errors += threads.iter().filter(|t| t.error.is_some()).count() as u64;
                stats.truncated += threads.iter().filter(|t| t.truncated).count() as u64;
                on_sample(time, &threads, &mut reader)?;
            }
            Err(Error::ProcessExited { .. }) | Err(Error::NoSuchProcess { .. }) => {
                stats.stopped_by = StopReason::TargetExited;
                break;
            }
            Err(e) => {
                if watch.exited() {
                    stats.stopped_by = StopReason::TargetExited;
                    break;
                }
                // A whole-sample failure (say, the interpreter list caught mid-update) is
                // counted, not fatal.
                if matches!(e, Error::PermissionDenied { .. }) {
                    return Err(e);
                }
                stats.errors += 1;
            }
        }
        let after = Instant::now();
        if after.duration_since(last_watch) >= Duration::from_millis(50) {
            last_watch = after;
            if watch.exited() {
                stats.stopped_by = StopReason::TargetExited;
                break;
            }
        }
        if show_status && after.duration_since(last_status) >= Duration::from_millis(250) {
            last_status = after;
            print_status(&stats, after.duration_since(start));
        }
        // The next slot on the absolute schedule. One whose sampling point has passed is
        // sampled at once (the sample carries its real time); slots already over are
        // missed, not made up, and their time goes to the next sample.
        stats.missed += schedule.advance(Instant::now());
        sleep_until(schedule.due());
    }
    stats.elapsed = start.elapsed();
    stats.reads = interp.mem.syscalls() - reads_at_start;
    stats.reread = reader.attempts.retried;
    stats.moving = reader.attempts.moving;
    stats.off_call = reader.attempts.off_call;
    if show_status {
        eprint!("\r\x1b[K");
    }
    Ok(stats)
}

pub(crate) fn print_status(stats: &SamplerStats, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    eprint!(
        "\r\x1b[Kframescope: {secs:6.1}s  {} samples  {:.0}/s  {} missed  {} errors",
        stats.samples,
        stats.samples as f64 / secs.max(1e-9),
        stats.missed,
        stats.errors
    );
}

/// Makes this thread's sleeps end on their deadline, not up to the default 50 µs of timer
/// slack later: at 10 kHz that slack alone is half a period.
pub fn precise_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only this thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

/// The nice value the sampling thread asks for: ahead of ordinary work (0), so that on a
/// busy machine its wake-ups are not queued behind CPU hogs, yet still an ordinary
/// time-shared thread (no real-time class, which a runaway loop could use to starve the
/// machine).
pub(crate) const BOOSTED_NICE: libc::c_int = -10;

/// Raises the calling thread's priority to [`BOOSTED_NICE`] when the process may (root or
/// `CAP_SYS_NICE`); otherwise leaves it as it is, quietly. Returns whether it was raised.
pub(crate) fn raise_priority() -> bool {
    // SAFETY: gettid has no arguments; setpriority on our own thread id changes only the
    // nice value of this thread (Linux keeps nice values per thread).
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, BOOSTED_NICE) == 0
    }
}

/// Sleeps until `deadline` with an absolute CLOCK_MONOTONIC sleep (no drift, no busy wait).
pub fn sleep_until(deadline: Instant) {
    // Instant is CLOCK_MONOTONIC on Linux; turn the deadline into that clock's absolute
    // time via one fresh reading of it.
    let now = Instant::now();
    if deadline <= now {
        return;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let wait = deadline.duration_since(now);
    let target_ns = ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128 + wait.as_nanos();
    let target = libc::timespec {
        tv_sec: (target_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (target_ns % 1_000_000_000) as libc::c_long,
    };
    loop {
        // SAFETY: valid timespec; a null remainder is allowed with TIMER_ABSTIME.
        let rc = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &target,
                std::ptr::null_mut(),
            )
        };
        if rc != libc::EINTR {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn at(start: Instant, ns: u64) -> Instant {
        start + Duration::from_nanos(ns)
    }

    #[test]
    fn each_slot_is_sampled_once_inside_it() {
        let start = Instant::now();
        let mut s = Schedule::new(start, 1000.0, true);
        for slot in 0..1000u64 {
            let due = s.due().duration_since(start).as_nanos() as u64;
            assert!(
                (slot * MS..(slot + 1) * MS).contains(&due),
                "slot {slot} due at {due} ns"
            );
            assert_eq!(s.taken(), MS, "one slot since the last sample");
            assert_eq!(s.advance(at(start, due + 10_000)), 0);
        }
    }

    #[test]
    fn without_jitter_a_slot_is_due_at_its_start() {
        let start = Instant::now();
        let mut s = Schedule::new(start, 200.0, false);
        s.advance(at(start, 1));
        assert_eq!(s.due(), at(start, 5 * MS));
    }

    #[test]
    fn slots_missed_are_counted_and_carried_by_the_next_sample() {
        let start = Instant::now();
        let mut s = Schedule::new(start, 1000.0, true);
        assert_eq!(s.taken(), MS, "the first sample stands for its own slot");
        // The sampler comes back 4.5 ms later: slots 1, 2 and 3 are over, 4 is current.
        assert_eq!(s.advance(at(start, 4 * MS + MS / 2)), 3);
        let due = s.due().duration_since(start).as_nanos() as u64;
        assert!((4 * MS..5 * MS).contains(&due), "{due}");
        assert_eq!(s.taken(), 4 * MS, "slots 1 to 4");
        // A sample that failed is not taken: its slot goes to the next one too.
        assert_eq!(s.advance(at(start, 5 * MS + 1)), 0);
        assert_eq!(s.advance(at(start, 6 * MS + 1)), 0);
        assert_eq!(s.taken(), 2 * MS);
    }
}
