//! The fixed-rate loop of `record --subprocesses`: the same schedule as [`crate::sampler`],
//! but each tick reads every live Python process of the tree, one after the other, and
//! hands their threads on as one tick. Processes join as [`crate::discover`] finds them
//! (taken from its channel: no `/proc` scan on this thread) and leave when a read finds
//! them gone; one that dies mid-sample (kill -9) costs only its own entries. With
//! `--blocking` each process is paused (its own ptrace lease) only while it is read, so
//! nothing is left stopped whatever happens to the others. Unless `--normal-priority`,
//! the loop runs in the real-time class where permitted ([`RealTime`]), as long as its
//! ticks stay within half the period.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::discover::{Discovery, Found, NewProcess};
use crate::error::{Error, Result};
use crate::process::events::monotonic_ns;
use crate::process::pause::{ExitWatch, Pause};
use crate::process::realtime::RealTime;
use crate::process::tree;
use crate::python::{Interpreter, SampleOptions, StackReader, ThreadStack};
use crate::recording::{ProcessEnd, ProcessInfo, ProcessTick, RecordingWriter, TickTime};
use crate::sampler::{
    precise_timers, print_status, raise_priority, sleep_until, SamplerConfig, SamplerStats,
    Schedule, StopReason, TargetWatch,
};

/// How long the end of a process waits for its exit status (from the kernel's exit event)
/// before it is recorded without one.
const EXIT_STATUS_WAIT: Duration = Duration::from_millis(200);

/// Where the loop's output goes: the recording writer, or a test's collector.
pub trait TreeSink {
    /// A process joins; returns its id for the ticks.
    fn process(&mut self, info: &ProcessInfo) -> Result<u32>;
    fn process_end(&mut self, end: &ProcessEnd) -> Result<()>;
    fn tick(&mut self, time: TickTime, parts: &[ProcessTick]) -> Result<()>;
}

impl TreeSink for RecordingWriter {
    fn process(&mut self, info: &ProcessInfo) -> Result<u32> {
        self.define_process(info)
    }
    fn process_end(&mut self, end: &ProcessEnd) -> Result<()> {
        self.end_process(end)
    }
    fn tick(&mut self, time: TickTime, parts: &[ProcessTick]) -> Result<()> {
        self.write_processes_tick(time, parts)
    }
}

/// How the sampling of a tree went: the one-process figures, summed, and the tree's own.
#[derive(Debug, Clone, Default)]
pub struct TreeStats {
    pub sampler: SamplerStats,
    /// Python processes sampled.
    pub processes: u32,
    /// Of them, those that ended during the recording.
    pub ended: u32,
    /// For processes an exec or fork event announced: ns from that event to the
    /// process's first sample.
    pub first_sample_delays_ns: Vec<u64>,
    /// The loop ran in the real-time class ...
    pub realtime: bool,
    /// ... and left it, its ticks taking more than half the period.
    pub realtime_dropped: bool,
}

/// One Python process being sampled.
struct Member {
    id: u32,
    interp: Interpreter,
    reader: StackReader,
    threads: Vec<ThreadStack>,
    watch: ExitWatch,
    /// Its exec/fork event time, until its first sample.
    started_ns: Option<u64>,
    /// The tick read it.
    ok: bool,
}

/// A process that ended, waiting a moment for its exit status.
struct Ending {
    id: u32,
    pid: u32,
    end_ns: u64,
    since: Instant,
    status: Option<u32>,
}

/// Runs the loop over `first` (the processes found before it starts) and whatever
/// `discovery` finds, until a stop rule fires: the duration, the stop flag, or the root
/// gone (`watch`) with no Python process left in the tree.
pub fn run(
    first: Vec<NewProcess>,
    discovery: &Discovery,
    config: &SamplerConfig,
    stop: &AtomicBool,
    watch: &mut dyn TargetWatch,
    sink: &mut dyn TreeSink,
) -> Result<TreeStats> {
    precise_timers();
    // The nice value stays for the time-shared class, should the real-time one end.
    let mut realtime = if config.boost {
        raise_priority();
        RealTime::enter()
    } else {
        None
    };
    let period = Duration::from_secs_f64(1.0 / config.rate_hz.max(0.001));
    let opts = SampleOptions {
        cpu_state: false,
        cpu_time: true,
        thread_names: true,
        paused: config.blocking,
    };
    let mut stats = TreeStats::default();
    let start = Instant::now();
    let mut members: Vec<Member> = Vec::new();
    let mut ending: Vec<Ending> = Vec::new();
    let mut statuses: HashMap<u32, u32> = HashMap::new();
    let mut reads_done = 0u64;
    for new in first {
        join(new, start, start, sink, &mut members, &mut stats)?;
    }
    let mut schedule = Schedule::new(start, config.rate_hz, config.jitter);
    sleep_until(schedule.due());
    let mut last_watch = start;
    let mut last_status = start;
    let mut root_gone = false;
    let show_status = config.status_line && std::io::stderr().is_terminal();
    let mut ended_now: Vec<usize> = Vec::new();
    // The moment of the previous tick: a process joining counts its CPU from there.
    let mut last_tick = start;

    loop {
        if stop.load(Ordering::Relaxed) {
            stats.sampler.stopped_by = StopReason::Signal;
            break;
        }
        let now = Instant::now();
        if config
            .duration
            .is_some_and(|d| now.duration_since(start) >= d)
        {
            stats.sampler.stopped_by = StopReason::Duration;
            break;
        }
        while let Some(found) = discovery.try_next() {
            match found {
                Found::Python(new) => {
                    join(*new, start, last_tick, sink, &mut members, &mut stats)?;
                }
                Found::Ended { pid, status } => {
                    if let Some(status) = status {
                        statuses.insert(pid, status);
                    }
                    if let Some(i) = members.iter().position(|m| m.interp.pid == pid) {
                        let m = members.swap_remove(i);
                        reads_done += m.interp.mem.syscalls();
                        stats.ended += 1;
                        ending.push(ended(&m, now, start, status));
                    }
                }
            }
        }

        let elapsed_ns = now.duration_since(start).as_nanos() as u64;
        ended_now.clear();
        for (i, m) in members.iter_mut().enumerate() {
            let taken = if config.blocking {
                let tids = crate::process::threads::thread_ids(m.interp.pid);
                match Pause::with_threads(m.interp.pid, tids) {
                    Ok(_pause) => m.reader.sample(&m.interp, opts, &mut m.threads),
                    Err(e) => Err(e),
                }
            } else {
                m.reader.sample(&m.interp, opts, &mut m.threads)
            };
            m.ok = false;
            match taken {
                Ok(()) => {
                    m.ok = true;
                    let s = &mut stats.sampler;
                    s.errors += m.threads.iter().filter(|t| t.error.is_some()).count() as u64;
                    s.truncated += m.threads.iter().filter(|t| t.truncated).count() as u64;
                    if let Some(at) = m.started_ns.take() {
                        stats
                            .first_sample_delays_ns
                            .push(monotonic_ns().saturating_sub(at));
                    }
                }
                Err(
                    Error::ProcessExited { .. }
                    | Error::NoSuchProcess { .. }
                    | Error::PermissionDenied { .. },
                ) => ended_now.push(i),
                Err(_) if m.watch.gone_or_exiting() => ended_now.push(i),
                // A whole-sample failure of one process (say, its interpreter list caught
                // mid-update) is counted; the others are not disturbed.
                Err(_) => stats.sampler.errors += 1,
            }
        }
        let time = TickTime {
            elapsed_ns,
            interval_ns: schedule.taken(),
        };
        let parts: Vec<ProcessTick> = members
            .iter()
            .filter(|m| m.ok)
            .map(|m| ProcessTick {
                process: Some(m.id),
                threads: &m.threads,
                codes: &m.reader.codes.table,
                // Asyncio tasks are read for a single process only (`record --async`).
                tasks: &[],
            })
            .collect();
        sink.tick(time, &parts)?;
        drop(parts);
        last_tick = now;
        stats.sampler.samples += 1;
        for &i in ended_now.iter().rev() {
            let m = members.swap_remove(i);
            reads_done += m.interp.mem.syscalls();
            let status = statuses.get(&m.interp.pid).copied();
            stats.ended += 1;
            ending.push(ended(&m, now, start, status));
        }
        settle_endings(&mut ending, &statuses, false, sink)?;

        let after = Instant::now();
        if after.duration_since(last_watch) >= Duration::from_millis(50) {
            last_watch = after;
            root_gone = root_gone || watch.exited();
            if root_gone && members.is_empty() && discovery.pending() == 0 {
                stats.sampler.stopped_by = StopReason::TargetExited;
                break;
            }
        }
        if show_status && after.duration_since(last_status) >= Duration::from_millis(250) {
            last_status = after;
            print_status(&stats.sampler, after.duration_since(start));
        }
        let done = Instant::now();
        if let Some(rt) = realtime.as_mut() {
            rt.keep_within(done.duration_since(now), period);
        }
        stats.sampler.missed += schedule.advance(done);
        sleep_until(schedule.due());
    }
    stats.realtime = realtime.is_some();
    stats.realtime_dropped = realtime.as_ref().is_some_and(|rt| rt.dropped);
    drop(realtime);
    settle_endings(&mut ending, &statuses, true, sink)?;
    stats.sampler.elapsed = start.elapsed();
    for m in &members {
        reads_done += m.interp.mem.syscalls();
        stats.sampler.reread += m.reader.attempts.retried;
        stats.sampler.moving += m.reader.attempts.moving;
        stats.sampler.off_call += m.reader.attempts.off_call;
    }
    stats.sampler.reads = reads_done;
    if show_status {
        eprint!("\r\x1b[K");
    }
    Ok(stats)
}

/// Adds a process to the loop: defines it in the recording and starts its CPU clock from
/// `since`, the previous tick (the CPU it used before that is no sample's).
fn join(
    new: NewProcess,
    start: Instant,
    since: Instant,
    sink: &mut dyn TreeSink,
    members: &mut Vec<Member>,
    stats: &mut TreeStats,
) -> Result<()> {
    let pid = new.interp.pid;
    if members.iter().any(|m| m.interp.pid == pid) {
        return Ok(());
    }
    let info = ProcessInfo {
        pid,
        ppid: new.ppid,
        command: new.command,
        python_version: new.interp.version.to_string(),
        start_ns: start.elapsed().as_nanos() as u64,
    };
    let id = sink.process(&info)?;
    let mut reader = StackReader::new(&new.interp);
    reader.start_cpu_clock_since(pid, since);
    stats.processes += 1;
    members.push(Member {
        id,
        reader,
        threads: Vec::new(),
        watch: ExitWatch::new(pid),
        started_ns: new.started_ns,
        interp: new.interp,
        ok: false,
    });
    Ok(())
}

fn ended(m: &Member, now: Instant, start: Instant, status: Option<u32>) -> Ending {
    // A zombie still says how it ended; the exit event may say it later.
    let status = status.or_else(|| {
        tree::stat(m.interp.pid)
            .filter(|s| s.zombie())
            .map(|s| s.exit_status)
    });
    Ending {
        id: m.id,
        pid: m.interp.pid,
        end_ns: now.duration_since(start).as_nanos() as u64,
        since: now,
        status,
    }
}

/// Writes the end of each process whose exit status is known or waited for long enough
/// (every one when `all`).
fn settle_endings(
    ending: &mut Vec<Ending>,
    statuses: &HashMap<u32, u32>,
    all: bool,
    sink: &mut dyn TreeSink,
) -> Result<()> {
    let mut i = 0;
    while i < ending.len() {
        let e = &mut ending[i];
        e.status = e.status.or_else(|| statuses.get(&e.pid).copied());
        if all || e.status.is_some() || e.since.elapsed() >= EXIT_STATUS_WAIT {
            let (exit_code, signal) = e.status.map_or((None, None), tree::split_wait_status);
            sink.process_end(&ProcessEnd {
                process: e.id,
                end_ns: e.end_ns,
                exit_code,
                signal,
            })?;
            ending.swap_remove(i);
        } else {
            i += 1;
        }
    }
    Ok(())
}
