//! `framescope record`: start a command or attach to a pid, run the sampler into a
//! recording, and turn the recording into the output asked for. The recording is always
//! written first (crash-safe, chunk by chunk); every other output is rendered from it.

use crate::python::asyncio::per_sample::SampleTasks;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::discover::{self, Discovery, Found, NewProcess, TreeReport};
use crate::error::{Error, Result};
use crate::output::{self, Destination, Staged};
use crate::python::Interpreter;
use crate::recording::{self, RecordingMeta, RecordingSummary, RecordingWriter};
use crate::report::profile::Clock;
use crate::report::{self, Format, RenderOptions, ViewOptions};
use crate::sampler::{self, ProcWatch, SamplerConfig, SamplerStats, StopReason, TargetWatch};
use crate::signals;
use crate::sinks::pyroscope::{Pusher, PyroscopeConfig};

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
    /// Sample every Python process of the target's tree (`--subprocesses`).
    pub subprocesses: bool,
    /// Also push the samples to a Pyroscope server while recording.
    pub pyroscope: Option<PyroscopeConfig>,
}

#[derive(Debug, Clone)]
pub enum Target {
    Pid(u32),
    Command(Vec<String>),
}

/// How long `record --subprocesses` waits for a Python process to appear in the tree.
pub const TREE_TIMEOUT: Duration = Duration::from_secs(10);

/// What `record` did, for `main` to report and to choose the exit status.
pub struct RecordOutcome {
    /// The spawned command's exit status as a shell would report it.
    pub command_exit: Option<i32>,
}

/// A spawned child: reaped when it exits, so its status can be passed on.
pub(crate) struct ChildWatch {
    pub(crate) child: Child,
    pub(crate) status: Option<std::process::ExitStatus>,
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

/// How long a started command has to end after the signal framescope sends it (on
/// `--duration`, a SIGTERM or SIGINT sent to framescope, or a failure), before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

pub fn run(req: &RecordRequest) -> Result<RecordOutcome> {
    // SIGINT and SIGTERM end the sampling; everything recorded so far is written.
    signals::install()?;
    let stop = signals::stop_flag();
    // Where everything goes is settled, and checked, before the command starts.
    let mut plan = Plan::prepare(req)?;

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

    // Without --subprocesses the tree is only watched, to say what was not sampled.
    let mode = if req.subprocesses {
        discover::Mode::Sample
    } else {
        discover::Mode::Observe
    };
    let discovery = Discovery::start(pid, mode);
    let found = if req.subprocesses {
        first_python(pid, &discovery, child.as_mut(), stop)
    } else {
        attach(pid, child.as_mut(), stop).map(|i| i.map(|interp| vec![NewProcess::root(interp)]))
    };
    let mut first = match found {
        Ok(Some(first)) => first,
        Ok(None) if stop.load(Ordering::SeqCst) => {
            // Stopped before there was anything to sample.
            let status = child
                .as_mut()
                .and_then(|c| stop_command(c, StopReason::Signal));
            eprintln!(
                "framescope: stopped by a signal before CPython was up; nothing was recorded"
            );
            return Ok(RecordOutcome {
                command_exit: status.map(exit_code_of),
            });
        }
        Ok(None) => {
            // The command ended before Python was up: nothing to sample.
            let status = child.as_mut().and_then(|c| c.child.wait().ok());
            let status = status.map(|s| format!(" ({s})")).unwrap_or_default();
            let found = if req.subprocesses {
                format!(
                    "the command ended before a CPython interpreter started in its tree{status}; found {}",
                    discovery.finish().describe_found(pid)
                )
            } else {
                format!("the command ended before a CPython interpreter started in it{status}")
            };
            return Err(Error::NotPython { pid, found });
        }
        Err(e) => return Err(abandon(child.as_mut(), e)),
    };
    // The root names the recording's CPython version when it runs Python, else the first
    // process found.
    let named = first.iter().find(|p| p.interp.pid == pid).or(first.first());
    let Some(interp) = named.map(|p| p.interp.for_fork(p.interp.pid)) else {
        return Err(abandon(
            child.as_mut(),
            Error::Read("no process to sample".into()),
        ));
    };

    let recording = match plan.open_recording(pid) {
        Ok(r) => r,
        Err(e) => return Err(abandon(child.as_mut(), e)),
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
    // The push follows the recording through a file handle of its own.
    let follower = match &req.pyroscope {
        Some(_) => match recording.file.try_clone() {
            Ok(f) => Some(f),
            Err(e) => {
                let e = Error::io("cannot follow the recording for the Pyroscope push", e);
                return Err(abandon(child.as_mut(), e));
            }
        },
        None => None,
    };
    let mut writer = match RecordingWriter::with_file(recording.file, &recording.path, &meta) {
        Ok(w) => w,
        Err(e) => return Err(abandon(child.as_mut(), e)),
    };
    let pusher = match (&req.pyroscope, follower) {
        (Some(config), Some(file)) => match Pusher::start(config.clone(), file, req.view.clone()) {
            Ok(p) => Some(p),
            Err(e) => {
                let e = Error::io("cannot start the Pyroscope push", e);
                return Err(abandon(child.as_mut(), e));
            }
        },
        _ => None,
    };
    let mut proc_watch = ProcWatch::new(pid);
    let watch: &mut dyn TargetWatch = match child.as_mut() {
        Some(c) => c,
        None => &mut proc_watch,
    };
    let mut tree_stats = None;
    let mut waiting_ticks = 0;
    let sampled = if req.subprocesses {
        let first = std::mem::take(&mut first);
        crate::tree_sampler::run(first, &discovery, &req.sampler, stop, watch, &mut writer).map(
            |t| {
                let stats = t.sampler.clone();
                tree_stats = Some(t);
                stats
            },
        )
    } else {
        drop(first);
        let mut tasks = req
            .view
            .tasks
            .is_some()
            .then(|| SampleTasks::new(&interp, req.quiet, req.view.idle));
        let sampled =
            sampler::run_with_reader(&interp, &req.sampler, stop, watch, |t, threads, reader| {
                match tasks.as_mut() {
                    Some(tasks) => tasks.write_tick(&interp, reader, t, threads, &mut writer),
                    None => writer.write_tick(t, threads, &reader.codes.table),
                }
            });
        waiting_ticks = tasks.as_ref().map_or(0, |t| t.waiting_ticks);
        sampled
    };
    let tree = discovery.finish();
    let stats = match sampled {
        Ok(s) => s,
        Err(e) => {
            // Say where the samples so far are before the command is ended: that can take
            // the grace period.
            let _ = writer.finish();
            let kept = plan.keep_recording(&recording.path);
            eprintln!(
                "framescope: the samples recorded so far are in {} (cut off at the failure; `framescope report` reads it)",
                output::show(&kept)
            );
            return Err(abandon(child.as_mut(), e));
        }
    };

    // A spawned command: end it, or wait for it to end, as the stop reason asks.
    let mut command_exit = None;
    if let Some(c) = child.as_mut() {
        let status = stop_command(c, stats.stopped_by);
        if stats.stopped_by != StopReason::Duration {
            command_exit = status.map(exit_code_of);
        }
    }
    let finished = writer
        .write_summary(&RecordingSummary {
            // `record --async --idle` writes the waiting tasks as ticks of their own.
            samples: stats.samples + waiting_ticks,
            missed: stats.missed,
            errors: stats.errors,
            duration_ns: stats.elapsed.as_nanos() as u64,
            target_exit_code: command_exit,
            truncated_stacks: stats.truncated,
        })
        .and_then(|()| writer.finish())
        .and_then(|()| {
            // The last interval goes out once the recording is whole.
            if let Some(pusher) = pusher {
                pusher.finish();
            }
            recording::read(&recording.path)
        });
    let rec = match finished {
        Ok(rec) => rec,
        Err(e) => {
            let kept = plan.keep_recording(&recording.path);
            eprintln!(
                "framescope: the recording is in {} (it may be cut off; `framescope report` reads what it holds)",
                output::show(&kept)
            );
            return Err(e);
        }
    };
    let mut view = req.view.clone();
    if view.clock == Clock::Cpu && !rec.has_cpu_times() {
        eprintln!(
            "framescope: warning: the kernel's per-thread CPU accounting \
             (/proc/PID/task/TID/schedstat) could not be read; the views use wall time"
        );
        view.clock = Clock::Wall;
    }
    let req = &RecordRequest {
        view,
        ..req.clone()
    };
    let output = match plan.write_output(&rec, &recording.path, req, pid) {
        Ok(path) => path,
        Err(e) => {
            let kept = plan.keep_recording(&recording.path);
            eprintln!(
                "framescope: the recording is kept in {}; `framescope report {} -o OUT` writes the output from it",
                output::show(&kept),
                output::show(&kept)
            );
            return Err(e);
        }
    };
    if !req.quiet {
        print_summary(&stats, &interp, &output, &rec, req);
        if let Some(t) = &tree_stats {
            print_tree_summary(t, &tree);
        }
    }
    if !req.subprocesses {
        hint_unsampled(pid, &tree);
    }
    Ok(RecordOutcome { command_exit })
}

/// Where `record` writes, settled before the command starts: the recording's file is
/// created at once (exclusively, under a random hidden name), which also proves the
/// directory takes files.
struct Plan {
    /// The recording while it is not (yet) the output; removed on drop unless kept.
    staged: Option<Staged>,
    then: Then,
}

enum Then {
    /// The recording is the output: renamed over the path the user named once the
    /// target is attached (so a failed start leaves an old file there untouched).
    Recording(PathBuf),
    /// The recording is the output, named `framescope-PID-SECONDS.fsr` in the current
    /// directory (another name when that one is taken).
    DefaultRecording,
    /// The recording stays hidden beside the output, which is rendered from it at the
    /// end (a stream given no format gets the recording's bytes); removed afterwards.
    Render {
        to: Option<Destination>,
        format: Option<Format>,
    },
}

/// The recording's file while sampling.
struct OpenRecording {
    file: std::fs::File,
    path: PathBuf,
}

impl Plan {
    fn prepare(req: &RecordRequest) -> Result<Plan> {
        let here = Path::new(".");
        let (staged, then) = match &req.output {
            None => (
                Staged::new(here, "framescope", &format!(".{RECORDING_EXTENSION}"))?,
                match req.format {
                    None => Then::DefaultRecording,
                    Some(format) => Then::Render {
                        to: None,
                        format: Some(format),
                    },
                },
            ),
            Some(path) => {
                let dest = Destination::resolve(path)?;
                let format = Format::for_output(req.format, path, &[RECORDING_EXTENSION])
                    .map_err(Error::Usage)?;
                let hint = path
                    .file_name()
                    .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
                match (format, dest.file_path()) {
                    (None, Some(file)) => (
                        Staged::new(output::directory_of(file), &hint, ".tmp")?,
                        Then::Recording(file.to_path_buf()),
                    ),
                    _ => {
                        let temp = std::env::temp_dir();
                        let dir = dest.directory().unwrap_or(&temp);
                        (
                            Staged::new(dir, &hint, &format!(".{RECORDING_EXTENSION}"))?,
                            Then::Render {
                                to: Some(dest),
                                format,
                            },
                        )
                    }
                }
            }
        };
        Ok(Plan {
            staged: Some(staged),
            then,
        })
    }

    /// The recording's file, under its final name when it is the output.
    fn open_recording(&mut self, pid: u32) -> Result<OpenRecording> {
        let Some(staged) = self.staged.take() else {
            return Err(Error::Read("the recording was opened twice".into()));
        };
        let reopen = |path: &Path, e: std::io::Error| {
            Error::io(format!("cannot open recording {}", output::show(path)), e)
        };
        match &self.then {
            Then::Recording(target) => {
                let file = staged.replace(target)?;
                Ok(OpenRecording {
                    file,
                    path: target.clone(),
                })
            }
            Then::DefaultRecording => {
                let secs = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let (file, path) = staged
                    .name_exclusively(Path::new("."), |i| default_recording_name(pid, secs, i))?;
                Ok(OpenRecording { file, path })
            }
            Then::Render { .. } => {
                let file = staged
                    .file()
                    .try_clone()
                    .map_err(|e| reopen(staged.path(), e))?;
                let path = staged.path().to_path_buf();
                self.staged = Some(staged);
                Ok(OpenRecording { file, path })
            }
        }
    }

    /// Keeps a hidden recording that holds samples when the output cannot be written;
    /// returns where the recording is.
    fn keep_recording(&mut self, path: &Path) -> PathBuf {
        match self.staged.take() {
            Some(staged) => staged.keep().1,
            None => path.to_path_buf(),
        }
    }

    /// Writes the output from the finished recording; returns its path. A hidden
    /// recording is removed once the output is written.
    fn write_output(
        &mut self,
        rec: &recording::Recording,
        recording_path: &Path,
        req: &RecordRequest,
        pid: u32,
    ) -> Result<PathBuf> {
        let Then::Render { to, format } = &self.then else {
            return Ok(recording_path.to_path_buf());
        };
        let render = |out: &mut dyn std::io::Write| match format {
            Some(format) => report::render(rec, *format, &req.view, &req.render, out),
            None => std::fs::File::open(recording_path)
                .and_then(|mut f| std::io::copy(&mut f, out))
                .map(drop)
                .map_err(|e| Error::io("copying the recording", e)),
        };
        let path = match to {
            Some(dest) => {
                dest.write_with(render)?;
                dest.named().to_path_buf()
            }
            None => {
                let secs = rec.meta.start_unix_ns / 1_000_000_000;
                output::write_new(
                    Path::new("."),
                    |i| default_recording_name(pid, secs, i),
                    render,
                )?
            }
        };
        // Written: the hidden recording goes.
        self.staged = None;
        Ok(path)
    }
}

/// Ends a started command after a failure, saying so, and returns the failure.
fn abandon(child: Option<&mut ChildWatch>, e: Error) -> Error {
    if let Some(c) = child {
        if !c.exited() {
            eprintln!(
                "framescope: ending the command (pid {}) since framescope cannot go on: SIGTERM, and SIGKILL after {} s",
                c.child.id(),
                GRACE.as_secs()
            );
            end_command(c, libc::SIGTERM);
        }
    }
    e
}

/// Once sampling stopped: ends the command (`--duration`, or a signal sent to framescope
/// alone, which is passed on), or waits for it to end by itself (it exited, or got the
/// terminal's Ctrl-C too; another SIGINT/SIGTERM then kills it). Its exit status.
fn stop_command(c: &mut ChildWatch, why: StopReason) -> Option<std::process::ExitStatus> {
    match (why, signals::to_pass_on()) {
        (StopReason::Duration, _) => end_command(c, libc::SIGTERM),
        (StopReason::Signal, Some(signal)) => {
            if !c.exited() {
                eprintln!(
                    "framescope: got {name}; passing it on to the command (pid {}), which gets SIGKILL if still running {} s later",
                    c.child.id(),
                    GRACE.as_secs(),
                    name = signals::name(signal),
                );
            }
            end_command(c, signal)
        }
        _ => {
            let seen = signals::received();
            loop {
                if c.exited() {
                    return c.status;
                }
                if signals::received() > seen {
                    let _ = c.child.kill();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Sends `signal` to the command, then SIGKILL after [`GRACE`] (or at once on another
/// SIGINT/SIGTERM to framescope); waits for it and returns its status.
pub(crate) fn end_command(
    c: &mut ChildWatch,
    signal: libc::c_int,
) -> Option<std::process::ExitStatus> {
    if c.exited() {
        return c.status;
    }
    // SAFETY: plain kill(2) on the pid of our own child, which we have not reaped.
    unsafe { libc::kill(c.child.id() as libc::pid_t, signal) };
    let (since, seen) = (Instant::now(), signals::received());
    let mut killed = false;
    loop {
        if c.exited() {
            return c.status;
        }
        if !killed && (since.elapsed() > GRACE || signals::received() > seen) {
            if since.elapsed() > GRACE {
                eprintln!(
                    "framescope: the command (pid {}) still ran {} s after {}; sent SIGKILL",
                    c.child.id(),
                    GRACE.as_secs(),
                    signals::name(signal)
                );
            }
            let _ = c.child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Attaches once CPython is up in the target: a command just spawned needs a moment
/// before libpython is mapped and `_PyRuntime` filled in. `Ok(None)` when the command
/// ended (or Ctrl-C came) first.
pub(crate) fn attach(
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
            Ok(interp) if interp.is_up() => return Ok(Some(interp)),
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

/// Waits for the first Python process of the tree (`--subprocesses`), up to
/// [`TREE_TIMEOUT`] (an error naming what the tree held), and takes every other one found
/// by then. `Ok(None)` when the command ended (or Ctrl-C came) first.
pub(crate) fn first_python(
    root: u32,
    discovery: &Discovery,
    mut child: Option<&mut ChildWatch>,
    stop: &AtomicBool,
) -> Result<Option<Vec<NewProcess>>> {
    let start = Instant::now();
    let mut found = Vec::new();
    loop {
        match discovery.next_within(Duration::from_millis(5)) {
            Some(Found::Python(new)) => {
                found.push(*new);
                if child.is_none() {
                    // An existing tree (`--pid`): its workers are there already.
                    take_the_rest(discovery, &mut found);
                }
                while let Some(Found::Python(more)) = discovery.try_next() {
                    found.push(*more);
                }
                return Ok(Some(found));
            }
            Some(Found::Ended { .. }) => continue,
            None => {}
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let ended = match child.as_mut() {
            Some(c) => c.exited(),
            None => crate::process::pause::process_is_gone_or_exiting(root),
        };
        // A root gone with nothing still being attached: nothing will come.
        if ended && discovery.pending() == 0 {
            if child.is_some() {
                return Ok(None);
            }
            return Err(Error::NotPython {
                pid: root,
                found: format!(
                    "it ended before a CPython interpreter started in its tree; found {}",
                    discovery.report().describe_found(root)
                ),
            });
        }
        if start.elapsed() > TREE_TIMEOUT {
            return Err(Error::NotPython {
                pid: root,
                found: format!(
                    "no CPython process appeared in its tree within {} s; found {}",
                    TREE_TIMEOUT.as_secs(),
                    discovery.report().describe_found(root)
                ),
            });
        }
    }
}

/// How long the first Python process found waits for the others being attached at the
/// same moment (an existing tree's workers), so that all start with the recording.
const FIRST_ROUND_WAIT: Duration = Duration::from_millis(300);

/// Takes the other processes of an existing tree being attached along with the first one
/// found: until discovery has none left pending (a tree of workers is attached one after
/// another, 30 ms for eight, which would be missing from the start of all but the first),
/// at most [`FIRST_ROUND_WAIT`]. Not for a command just started, whose first Python
/// process is not kept waiting for, say, its shell to be found no Python.
fn take_the_rest(discovery: &Discovery, found: &mut Vec<NewProcess>) {
    let start = Instant::now();
    loop {
        while let Some(next) = discovery.try_next() {
            if let Found::Python(more) = next {
                found.push(*more);
            }
        }
        if discovery.pending() == 0 || start.elapsed() >= FIRST_ROUND_WAIT {
            break;
        }
        if let Some(Found::Python(more)) = discovery.next_within(Duration::from_millis(2)) {
            found.push(*more);
        }
    }
    while let Some(next) = discovery.try_next() {
        if let Found::Python(more) = next {
            found.push(*more);
        }
    }
}

/// The closing lines of a tree's recording: processes sampled, skipped, and how soon a
/// new process was first sampled.
fn print_tree_summary(t: &crate::tree_sampler::TreeStats, tree: &TreeReport) {
    let mut delays = t.first_sample_delays_ns.clone();
    delays.sort_unstable();
    let delay = match delays.len() {
        0 => String::new(),
        n => format!(
            "; first sample {:.1} ms after exec/fork (median of {n}, max {:.1} ms)",
            delays[n / 2] as f64 / 1e6,
            delays[n - 1] as f64 / 1e6
        ),
    };
    eprintln!(
        "framescope: {} Python processes sampled ({} ended during the recording); skipped {} other programs, {} zombies{}{}; found by {}",
        t.processes,
        t.ended,
        tree.not_python.len(),
        tree.zombies.len(),
        if tree.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} unreadable", tree.skipped.len())
        },
        delay,
        if tree.events {
            "the kernel's fork/exec events"
        } else {
            "polling /proc"
        }
    );
    if t.realtime_dropped {
        eprintln!(
            "framescope: warning: sampling every process took over half of each period; the sampler left the real-time class (a lower --rate keeps it)"
        );
    }
    for (pid, why) in tree.skipped.iter().take(5) {
        eprintln!(
            "framescope: skipped pid {pid}: {}",
            crate::escape::visible(why)
        );
    }
}

/// Without `--subprocesses`: a warning when the target started Python processes that
/// were not sampled.
fn hint_unsampled(root: u32, tree: &TreeReport) {
    let others: Vec<String> = tree
        .python
        .iter()
        .filter(|&&p| p != root)
        .map(u32::to_string)
        .collect();
    if others.is_empty() {
        return;
    }
    let shown: Vec<&str> = others.iter().take(8).map(String::as_str).collect();
    eprintln!(
        "framescope: warning: {} Python {} started below pid {root} {} not sampled (pid {}{}); record with --subprocesses to sample {}",
        others.len(),
        if others.len() == 1 { "process" } else { "processes" },
        if others.len() == 1 { "was" } else { "were" },
        shown.join(", "),
        if others.len() > shown.len() { ", …" } else { "" },
        if others.len() == 1 { "it" } else { "them" },
    );
}

fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

pub(crate) fn read_cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `framescope-PID-SECONDS.fsr`, then `framescope-PID-SECONDS-1.fsr`, … when taken.
fn default_recording_name(pid: u32, secs: u64, attempt: u32) -> String {
    match attempt {
        0 => format!("framescope-{pid}-{secs}.{RECORDING_EXTENSION}"),
        n => format!("framescope-{pid}-{secs}-{n}.{RECORDING_EXTENSION}"),
    }
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
        crate::limits::MAX_STACK_DEPTH,
        output::show(output)
    );
    let options = RenderOptions {
        limit: Some(15),
        ..req.render.clone()
    };
    let mut table = Vec::new();
    if report::render(rec, Format::Table, &req.view, &options, &mut table).is_ok() {
        eprint!("{}", String::from_utf8_lossy(&table));
    }
}
