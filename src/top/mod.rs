//! `framescope top`: a live view of where a running Python program spends its time. The
//! sampler (src/sampler.rs, or src/tree_sampler.rs through `tree.rs` with
//! `--subprocesses`) runs on the calling thread and hands each tick to `ingest.rs` (and to
//! the recording writer with `-o`); every second the finished window goes over a
//! bounded channel to a display thread, which keeps the session (`model.rs`) and draws it
//! (`view.rs`, keys in `keys.rs`) on the terminal, or writes a plain-text snapshot when
//! standard output is not one (`display.rs`). Drawing never holds up a sample: the
//! sampler only hands over a finished window, and keeps it (merging the next one into it)
//! when the display is behind.

mod display;
pub mod ingest;
pub mod keys;
pub mod model;
mod tree;
pub mod view;

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::discover::{self, Discovery, NewProcess};
use crate::error::{Error, Result};
use crate::output::{self, Destination, Staged};
use crate::python::Interpreter;
use crate::record::{self, ChildWatch, Target};
use crate::recording::{RecordingMeta, RecordingSummary, RecordingWriter};
use crate::report::Format;
use crate::sampler::{self, ProcWatch, SamplerConfig, StopReason, TargetWatch};
use crate::signals;
use crate::tree_sampler;

use ingest::{Ingest, Limits};
use model::{Update, View};

/// What `top` watches and how.
#[derive(Debug, Clone)]
pub struct TopRequest {
    pub target: Target,
    pub sampler: SamplerConfig,
    /// Keep the session's recording here (a `.fsr` file).
    pub output: Option<PathBuf>,
    /// The view the display starts with.
    pub view: View,
    /// Rows per plain-text snapshot (0: all).
    pub limit: usize,
    /// Sample every Python process of the target's tree (the tree sampler's loop).
    pub subprocesses: bool,
}

/// What is sampled: one interpreter, or a tree's Python processes (those found so far).
enum What {
    One(Box<Interpreter>),
    Tree(Vec<NewProcess>),
}

/// What the sampler side tells the display.
enum Msg {
    Update(Box<Update>),
    /// Sampling ended, and why; `quit` when the display should end too (a signal, a
    /// failure) rather than stay on screen until `q` (the target exited).
    Ended {
        why: String,
        quit: bool,
    },
}

/// Windows the display may be behind by before the sampler keeps them back.
const QUEUE: usize = 4;

pub fn run(req: &TopRequest) -> Result<()> {
    signals::install()?;
    let stop = signals::stop_flag();
    let on_terminal = std::io::stdout().is_terminal();
    let recording = req.output.as_deref().map(prepare_output).transpose()?;

    let (pid, mut child, command) = match &req.target {
        Target::Pid(pid) => {
            let pid = crate::process::status::process_to_profile(*pid)?;
            (pid, None, record::read_cmdline(pid))
        }
        Target::Command(argv) => {
            let child = spawn(argv, on_terminal)?;
            let pid = child.child.id();
            (pid, Some(child), argv.clone())
        }
    };
    // The one process, or (`--subprocesses`) the tree's Python processes found so far.
    let discovery = req
        .subprocesses
        .then(|| Discovery::start(pid, discover::Mode::Sample));
    let found = match &discovery {
        Some(d) => record::first_python(pid, d, child.as_mut(), stop).map(|f| f.map(What::Tree)),
        None => {
            record::attach(pid, child.as_mut(), stop).map(|i| i.map(|i| What::One(Box::new(i))))
        }
    };
    let what = match found {
        Ok(Some(what)) => what,
        Ok(None) => {
            let ended = child.as_mut().map(|c| c.exited()).unwrap_or(false);
            end_child(child.as_mut());
            return if ended {
                let found = match discovery {
                    Some(d) => format!(
                        "the command ended before a CPython interpreter started in its tree; found {}",
                        d.finish().describe_found(pid)
                    ),
                    None => "the command ended before a CPython interpreter started in it".into(),
                };
                Err(Error::NotPython { pid, found })
            } else {
                Ok(())
            };
        }
        Err(e) => {
            end_child(child.as_mut());
            return Err(e);
        }
    };
    let python_version = match &what {
        What::One(interp) => interp.version.to_string(),
        What::Tree(first) => first
            .first()
            .map_or_else(String::new, |p| p.interp.version.to_string()),
    };

    let meta = RecordingMeta {
        pid,
        command: command.clone(),
        python_version: python_version.clone(),
        rate_hz: req.sampler.rate_hz,
        start_unix_ns: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        blocking: req.sampler.blocking,
    };
    let mut writer = match recording {
        Some((staged, path)) => {
            let opened = staged
                .replace(&path)
                .and_then(|file| RecordingWriter::with_file(file, &path, &meta));
            match opened {
                Ok(w) => Some((w, path)),
                Err(e) => {
                    end_child(child.as_mut());
                    return Err(e);
                }
            }
        }
        None => None,
    };

    let target = view::Target {
        pid,
        python_version,
        command,
        rate_hz: req.sampler.rate_hz,
        subprocesses: req.subprocesses,
    };
    let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
    let shown = display::Display {
        target,
        view: req.view.clone(),
        limit: req.limit,
        on_terminal,
    };
    let display = match std::thread::Builder::new()
        .name("framescope-top-display".into())
        .spawn(move || shown.run(rx, stop))
    {
        Ok(handle) => handle,
        Err(e) => {
            end_child(child.as_mut());
            return Err(Error::io("cannot start the display thread", e));
        }
    };

    let mut ingest = Ingest::new(pid, req.sampler.rate_hz, Limits::default());
    let mut held: Option<Box<Update>> = None;
    let mut proc_watch = ProcWatch::new(pid);
    let watch: &mut dyn TargetWatch = match child.as_mut() {
        Some(c) => c,
        None => &mut proc_watch,
    };
    let config = SamplerConfig {
        status_line: false,
        ..req.sampler.clone()
    };
    let sampled = match (what, &discovery) {
        (What::Tree(first), Some(discovery)) => {
            let mut feed =
                tree::TreeFeed::new(writer.as_mut().map(|(w, _)| w), &mut ingest, &tx, &mut held);
            tree_sampler::run(first, discovery, &config, stop, watch, &mut feed).map(|t| t.sampler)
        }
        (What::Tree(_), None) => Err(Error::Read("no process tree to sample".into())),
        (What::One(interp), _) => {
            sampler::run(&interp, &config, stop, watch, |time, threads, codes| {
                if let Some((w, _)) = writer.as_mut() {
                    w.write_tick(time, threads, codes)?;
                }
                if let Some(update) = ingest.push(time, threads, codes) {
                    deliver(&tx, &mut held, update);
                }
                Ok(())
            })
        }
    };
    // Nothing is attached to the tree's processes: they run on as they were.
    if let Some(d) = discovery {
        d.finish();
    }

    // The last window, and why sampling ended, reach the display before it is told.
    let elapsed = sampled.as_ref().map_or(0, |s| s.elapsed.as_nanos() as u64);
    let mut last = ingest.finish(elapsed);
    if let Some(mut h) = held.take() {
        h.absorb(last);
        last = *h;
    }
    let _ = tx.send(Msg::Update(Box::new(last)));
    let (why, quit) = match &sampled {
        Ok(s) => match s.stopped_by {
            StopReason::TargetExited if req.subprocesses => (
                format!("the target (pid {pid}) and its Python processes exited; q quits"),
                false,
            ),
            StopReason::TargetExited => (format!("the target (pid {pid}) exited; q quits"), false),
            StopReason::Duration => ("--duration reached".to_string(), true),
            StopReason::Signal => ("stopped".to_string(), true),
        },
        Err(e) => (e.to_string(), true),
    };
    let _ = tx.send(Msg::Ended { why, quit });
    drop(tx);
    let shown = display.join();

    // The target: left running when attached; a command top started is ended.
    end_child(child.as_mut());
    if let Some((w, path)) = writer {
        let summary = sampled.as_ref().ok().map(|s| RecordingSummary {
            samples: s.samples,
            missed: s.missed,
            errors: s.errors,
            duration_ns: s.elapsed.as_nanos() as u64,
            target_exit_code: None,
            truncated_stacks: s.truncated,
        });
        let mut w = w;
        if let Some(summary) = summary {
            w.write_summary(&summary)?;
        }
        w.finish()?;
        eprintln!(
            "framescope: the session's recording is in {} (`framescope report` reads it)",
            output::show(&path)
        );
    }
    match shown {
        Ok(result) => result?,
        Err(_) => return Err(Error::Read("the display failed".into())),
    }
    sampled.map(drop)
}

/// Hands a finished window to the display, or keeps it (merged with what is already
/// kept) when the display is behind: the sampler never waits for drawing.
fn deliver(tx: &SyncSender<Msg>, held: &mut Option<Box<Update>>, update: Update) {
    let update = match held.take() {
        Some(mut kept) => {
            kept.absorb(update);
            kept
        }
        None => Box::new(update),
    };
    match tx.try_send(Msg::Update(update)) {
        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        Err(TrySendError::Full(Msg::Update(update))) => *held = Some(update),
        Err(TrySendError::Full(_)) => {}
    }
}

/// Checks `-o PATH` before anything starts: a recording, in a file.
fn prepare_output(path: &Path) -> Result<(Staged, PathBuf)> {
    if let Some(format) = Format::from_path(path) {
        return Err(Error::Usage(format!(
            "top -o keeps the session's recording (a .fsr file), not a {}; make one from \
             the recording afterwards with `framescope report FILE.fsr -o {}`",
            format.name(),
            output::show(path)
        )));
    }
    let dest = Destination::resolve(path)?;
    let Some(file) = dest.file_path() else {
        return Err(Error::Usage(format!(
            "top -o needs a file to keep the recording in, and {} is not one",
            output::show(path)
        )));
    };
    let hint = path
        .file_name()
        .map_or_else(|| "recording".into(), |n| n.to_string_lossy().into_owned());
    let staged = Staged::new(output::directory_of(file), &hint, ".tmp")?;
    Ok((staged, file.to_path_buf()))
}

/// Starts the command. Its standard input is /dev/null (the keys are top's); its output
/// goes to framescope's standard error, or nowhere when that is the terminal top draws on.
fn spawn(argv: &[String], on_terminal: bool) -> Result<ChildWatch> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::Usage("top needs a command after `--`, or --pid".into()))?;
    let output = || -> Stdio {
        let stderr = std::io::stderr();
        if on_terminal && stderr.is_terminal() {
            return Stdio::null();
        }
        match stderr.as_fd().try_clone_to_owned() {
            Ok(fd) => Stdio::from(fd),
            Err(_) => Stdio::null(),
        }
    };
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .spawn()
        .map_err(|e| Error::SpawnFailed {
            command: argv.join(" "),
            why: e.to_string(),
        })?;
    Ok(ChildWatch {
        child,
        status: None,
    })
}

/// Ends a command top started (SIGTERM, then SIGKILL after the grace period, as `record
/// --duration` does), unless it already exited; reaps it either way.
fn end_child(child: Option<&mut ChildWatch>) {
    if let Some(c) = child {
        let _ = record::end_command(c, libc::SIGTERM);
    }
}

#[cfg(test)]
mod tests;
