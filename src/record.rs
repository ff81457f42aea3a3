//! `framescope record`: start a command or attach to a pid, run the sampler into a
//! recording, and turn the recording into the output asked for. The recording is always
//! written first (crash-safe, chunk by chunk); every other output is rendered from it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::python::Interpreter;
use crate::recording::{self, RecordingMeta, RecordingSummary, RecordingWriter};
use crate::report::profile::Clock;
use crate::report::{self, Format, RenderOptions, ViewOptions};
use crate::sampler::{self, ProcWatch, SamplerConfig, SamplerStats, StopReason, TargetWatch};

/// The file extension of recordings.
pub const RECORDING_EXTENSION: &str = "fsr";

/// What to record and where to put it.
#[derive(Debug, Clone)]
pub struct RecordRequest {
    pub target: Target,
    pub sampler: SamplerConfig,
    pub output: Option<PathBuf>,
    pub format: Option<Format>,
    pub view: ViewOptions,
    pub render: RenderOptions,
    /// No summary on standard error.
    pub quiet: bool,
}

#[derive(Debug, Clone)]
pub enum Target {
    Pid(u32),
    Command(Vec<String>),
}

/// What `record` did, for `main` to report and to choose the exit status.
pub struct RecordOutcome {
    pub stats: SamplerStats,
    pub output: PathBuf,
    /// The spawned command's exit status as a shell would report it.
    pub command_exit: Option<i32>,
}

/// A spawned child: reaped when it exits, so its status can be passed on.
struct ChildWatch {
    child: Child,
    status: Option<std::process::ExitStatus>,
}

impl TargetWatch for ChildWatch {
    fn exited(&mut self) -> bool {
        if self.status.is_none() {
            self.status = match self.child.try_wait() {
                Ok(status) => status,
                // Already reaped: a pause caught the exit (see process::pause).
                Err(_) => {
                    use std::os::unix::process::ExitStatusExt;
                    let raw = crate::process::pause::reaped_exit_status(self.child.id());
                    Some(std::process::ExitStatus::from_raw(raw.unwrap_or(0)))
                }
            };
        }
        self.status.is_some()
    }
}

pub fn run(req: &RecordRequest) -> Result<RecordOutcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let signals = Arc::new(AtomicU32::new(0));
    {
        let (stop, signals) = (Arc::clone(&stop), Arc::clone(&signals));
        // Ctrl-C and SIGTERM end the sampling; everything recorded so far is written.
        let _ = ctrlc::set_handler(move || {
            stop.store(true, Ordering::SeqCst);
            signals.fetch_add(1, Ordering::SeqCst);
        });
    }

    let (pid, mut child, command) = match &req.target {
        Target::Pid(pid) => {
            let pid = crate::process::status::process_to_profile(*pid)?;
            (pid, None, read_cmdline(pid))
        }
        Target::Command(argv) => {
            let (program, args) = argv.split_first().ok_or_else(|| {
                Error::Usage("record needs a command after `--`, or --pid".into())
            })?;
            let child =
                Command::new(program)
                    .args(args)
                    .spawn()
                    .map_err(|e| Error::SpawnFailed {
                        command: argv.join(" "),
                        why: e.to_string(),
                    })?;
            (
                child.id(),
                Some(ChildWatch {
                    child,
                    status: None,
                }),
                argv.clone(),
            )
        }
    };

    let interp = match attach(pid, child.as_mut(), &stop) {
        Ok(Some(interp)) => interp,
        Ok(None) => {
            // The command ended (or we were stopped) before Python was up: nothing to sample.
            let status = child.as_mut().and_then(|c| c.child.wait().ok());
            return Err(Error::NotPython {
                pid,
                found: format!(
                    "the command ended before a CPython interpreter started in it{}",
                    status.map(|s| format!(" ({s})")).unwrap_or_default()
                ),
            });
        }
        Err(e) => {
            if let Some(c) = child.as_mut() {
                let _ = c.child.kill();
                let _ = c.child.wait();
            }
            return Err(e);
        }
    };

    let output = req
        .output
        .clone()
        .unwrap_or_else(|| default_recording_name(pid));
    let format = req.format.or_else(|| Format::from_path(&output));
    let recording_path = match format {
        None => output.clone(),
        Some(_) => side_recording_path(&output),
    };
    let meta = RecordingMeta {
        pid,
        command,
        python_version: interp.version.to_string(),
        rate_hz: req.sampler.rate_hz,
        start_unix_ns: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        blocking: req.sampler.blocking,
    };
    let mut writer = RecordingWriter::create(&recording_path, &meta)?;
    let mut proc_watch = ProcWatch::new(pid);
    let watch: &mut dyn TargetWatch = match child.as_mut() {
        Some(c) => c,
        None => &mut proc_watch,
    };
    let sampled = sampler::run(&interp, &req.sampler, &stop, watch, |t, threads, codes| {
        writer.write_tick(t, threads, codes)
    });
    let stats = match sampled {
        Ok(s) => s,
        Err(e) => {
            let _ = writer.finish();
            return Err(e);
        }
    };

    // A spawned command: wait for it (it got the same Ctrl-C from the terminal); a second
    // Ctrl-C kills it.
    // When --duration ends first, the command is stopped like `timeout` would: SIGTERM,
    // then SIGKILL after two seconds.
    let mut command_exit = None;
    if let Some(c) = child.as_mut() {
        let stopped_by_us = stats.stopped_by == StopReason::Duration;
        if stopped_by_us && !c.exited() {
            // SAFETY: plain kill(2) on the pid of our own child, which we have not reaped.
            unsafe { libc::kill(c.child.id() as libc::pid_t, libc::SIGTERM) };
        }
        let waiting_since = Instant::now();
        let status = loop {
            if c.exited() {
                break c.status;
            }
            let overdue = stopped_by_us && waiting_since.elapsed() > Duration::from_secs(2);
            if overdue || signals.load(Ordering::SeqCst) >= 2 {
                let _ = c.child.kill();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if !stopped_by_us {
            command_exit = status.map(exit_code_of);
        }
    }
    writer.write_summary(&RecordingSummary {
        samples: stats.samples,
        missed: stats.missed,
        errors: stats.errors,
        duration_ns: stats.elapsed.as_nanos() as u64,
        target_exit_code: command_exit,
        truncated_stacks: stats.truncated,
    })?;
    writer.finish()?;

    let rec = recording::read(&recording_path)?;
    let mut view = req.view.clone();
    if view.clock == Clock::Cpu && !rec.has_cpu_times() {
        // The kernel's per-thread accounting could not be read.
        view.clock = Clock::Wall;
    }
    let req = &RecordRequest {
        view,
        ..req.clone()
    };
    if let Some(format) = format {
        let mut file = std::fs::File::create(&output)
            .map_err(|e| Error::io(format!("creating {}", output.display()), e))?;
        report::render(&rec, format, &req.view, &req.render, &mut file)?;
        let _ = std::fs::remove_file(&recording_path);
    }
    if !req.quiet {
        print_summary(&stats, &interp, &output, &rec, req);
    }
    Ok(RecordOutcome {
        stats,
        output,
        command_exit,
    })
}

/// Attaches once CPython is up in the target: a command just spawned needs a moment
/// before libpython is mapped and `_PyRuntime` filled in. `Ok(None)` when the command
/// ended (or Ctrl-C came) first.
fn attach(
    pid: u32,
    mut child: Option<&mut ChildWatch>,
    stop: &AtomicBool,
) -> Result<Option<Interpreter>> {
    let Some(c) = child.as_mut() else {
        return Interpreter::attach(pid).map(Some);
    };
    let start = Instant::now();
    loop {
        match Interpreter::attach(pid) {
            Ok(interp) if interpreter_is_up(&interp) => return Ok(Some(interp)),
            Ok(_) => {}
            Err(e @ (Error::PermissionDenied { .. } | Error::UnsupportedPython { .. })) => {
                return Err(e)
            }
            Err(e) if start.elapsed() > Duration::from_secs(10) => return Err(e),
            Err(_) => {}
        }
        if c.exited() || stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The runtime has an interpreter with at least one thread state.
fn interpreter_is_up(interp: &Interpreter) -> bool {
    let head = interp
        .mem
        .read_u64(interp.runtime + interp.layout.runtime_interpreters_head)
        .unwrap_or(0);
    head != 0
        && interp
            .mem
            .read_u64(head + interp.layout.interp_threads_head)
            .is_ok_and(|t| t != 0)
}

fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn read_cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn default_recording_name(pid: u32) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from(format!("framescope-{pid}-{secs}.{RECORDING_EXTENSION}"))
}

/// Where the recording behind a rendered output goes while sampling: beside the output,
/// hidden, removed once the output is written (left behind if framescope is killed).
fn side_recording_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map_or_else(|| "profile".into(), |n| n.to_string_lossy().into_owned());
    output.with_file_name(format!(
        ".{name}.{}.{RECORDING_EXTENSION}",
        std::process::id()
    ))
}

/// The closing lines on stderr: one summary line, then the top of the cumtime table.
fn print_summary(
    stats: &SamplerStats,
    interp: &Interpreter,
    output: &Path,
    rec: &recording::Recording,
    req: &RecordRequest,
) {
    let why = match stats.stopped_by {
        StopReason::Duration => "duration reached",
        StopReason::Signal => "stopped by signal",
        StopReason::TargetExited => "target exited",
    };
    let per_sample = if stats.samples > 0 {
        stats.reads as f64 / stats.samples as f64
    } else {
        0.0
    };
    eprintln!(
        "framescope: {} samples, {} missed, {} errors in {:.2}s ({why}); pid {}, CPython {}, {:.1} reads/sample, {} re-read, {} kept still moving, {} dropped with a caller off its call, {} truncated to their innermost {} frames; wrote {}",
        stats.samples,
        stats.missed,
        stats.errors,
        stats.elapsed.as_secs_f64(),
        interp.pid,
        interp.version,
        per_sample,
        stats.reread,
        stats.moving,
        stats.off_call,
        stats.truncated,
        crate::python::MAX_DEPTH,
        output.display()
    );
    if stats.coarse_cpu_threads > 0 {
        eprintln!(
            "framescope: note: CPU time of {} threads came from /proc/PID/task/TID/schedstat, \
             which the kernel updates only every scheduler tick and at context switches: \
             perf events were not permitted (run as root, or with CAP_PERFMON, or lower \
             kernel.perf_event_paranoid to 1)",
            stats.coarse_cpu_threads
        );
    }
    let options = RenderOptions {
        limit: Some(15),
        ..req.render.clone()
    };
    let mut table = Vec::new();
    if report::render(rec, Format::Table, &req.view, &options, &mut table).is_ok() {
        eprint!("{}", String::from_utf8_lossy(&table));
    }
}
