//! The runs of a `compare`: `framescope record` started as a child once per run, in the
//! checkout of its side, alternating base and head so that both meet the same machine.
//! Each child runs in a process group of its own, its standard output discarded and its
//! standard error kept in a file (its tail is the message when a run fails). Ctrl-C and
//! SIGTERM are passed on to the group as SIGINT (SIGKILL two seconds later), and end the
//! runs.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::diff::SideName;
use crate::error::{Error, Result};

/// How to record each run.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// The command, as given after `--`.
    pub command: Vec<String>,
    pub runs: usize,
    /// Unrecorded runs per side first (bytecode caches written, files cached).
    pub warmup: usize,
    pub rate: f64,
    pub blocking: bool,
}

/// One side as the runs see it.
pub struct SideSetup<'a> {
    pub name: SideName,
    /// The ref as the user wrote it, and its commit.
    pub reference: &'a str,
    pub commit: &'a str,
    /// Where the command runs.
    pub cwd: PathBuf,
}

/// The recordings made, per side, in run order.
pub struct Recorded {
    pub base: Vec<PathBuf>,
    pub head: Vec<PathBuf>,
}

/// The flag Ctrl-C and SIGTERM set (the handler is installed once per process).
pub fn stop_flag() -> &'static AtomicBool {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        if let Err(e) = crate::signals::install() {
            eprintln!("framescope: warning: {e}");
        }
    });
    crate::signals::stop_flag()
}

/// Records every run into `dir` (`base-1.fsr`, `head-1.fsr`, ...), alternating sides.
pub fn record_all(
    plan: &RunPlan,
    base: &SideSetup<'_>,
    head: &SideSetup<'_>,
    dir: &Path,
    stop: &AtomicBool,
) -> Result<Recorded> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::io("finding the framescope executable to record with", e))?;
    let mut recorded = Recorded {
        base: Vec::new(),
        head: Vec::new(),
    };
    // Warm-up runs first, then the recorded ones; each round base, then head.
    let rounds = (1..=plan.warmup)
        .map(|i| (i, true))
        .chain((1..=plan.runs).map(|i| (i, false)));
    for (i, warmup) in rounds {
        for side in [base, head] {
            let word = side_word(side.name);
            let (kind, of) = if warmup {
                ("warm-up run", plan.warmup)
            } else {
                ("run", plan.runs)
            };
            let name = if warmup {
                format!("{word}-warmup-{i}")
            } else {
                format!("{word}-{i}")
            };
            let output = dir.join(format!("{name}.fsr"));
            let log = dir.join(format!("{name}.stderr"));
            let started = Instant::now();
            let command = if warmup {
                plain_command(plan)
            } else {
                record_command(&exe, plan, &output)
            };
            let status = run_one(command, side, &log, stop)?;
            let which = format!(
                "the {word} {kind} {i} of {of} ({} at {})",
                side.reference,
                short(side.commit)
            );
            match status {
                None => {
                    return Err(Error::Interrupted(format!(
                        "interrupted during {which}; no verdict, and the checkouts are removed"
                    )))
                }
                Some(s) if !s.success() => {
                    return Err(Error::RunFailed(format!(
                        "{which} failed ({}); no verdict.{}",
                        describe(s),
                        tail(&log)
                    )))
                }
                Some(_) => {}
            }
            eprintln!(
                "framescope: {word} {kind} {i}/{of} ({}) done in {:.2} s",
                side.reference,
                started.elapsed().as_secs_f64()
            );
            if warmup {
                continue;
            }
            match side.name {
                SideName::Base => recorded.base.push(output),
                SideName::Head => recorded.head.push(output),
            }
        }
    }
    Ok(recorded)
}

/// `base` or `head`.
pub fn side_word(side: SideName) -> &'static str {
    match side {
        SideName::Base => "base",
        SideName::Head => "head",
    }
}

/// A commit's first 10 hex digits.
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

/// `framescope record` of the command into `output`.
fn record_command(exe: &Path, plan: &RunPlan, output: &Path) -> Command {
    let mut command = Command::new(exe);
    command
        .arg("record")
        .arg("--quiet")
        .arg(if plan.blocking {
            "--blocking"
        } else {
            "--nonblocking"
        })
        .arg("--rate")
        .arg(plan.rate.to_string())
        .arg("--output")
        .arg(output)
        .arg("--")
        .args(&plan.command);
    command
}

/// The command itself, unrecorded (a warm-up run).
fn plain_command(plan: &RunPlan) -> Command {
    let (program, args) = plan
        .command
        .split_first()
        .map_or(("", &[][..]), |(p, a)| (p.as_str(), a));
    let mut command = Command::new(program);
    command.args(args);
    command
}

/// Runs `command` in `side`'s checkout, its standard error into `log`; `None` when stopped
/// by a signal.
fn run_one(
    mut command: Command,
    side: &SideSetup<'_>,
    log: &Path,
    stop: &AtomicBool,
) -> Result<Option<ExitStatus>> {
    let stderr = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(log)
        .map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .current_dir(&side.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::SpawnFailed {
            command: program,
            why: e.to_string(),
        })?;
    let group = child.id() as libc::pid_t;
    let mut signalled: Option<Instant> = None;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Ok(if signalled.is_some() {
                    None
                } else {
                    Some(status)
                })
            }
            Ok(None) => {}
            Err(e) => return Err(Error::io("waiting for a recording run", e)),
        }
        if stop.load(Ordering::SeqCst) {
            match signalled {
                None => {
                    // SAFETY: kill(2) on the process group of our own, unreaped child.
                    unsafe { libc::kill(-group, libc::SIGINT) };
                    signalled = Some(Instant::now());
                }
                Some(at) if at.elapsed() > Duration::from_secs(2) => {
                    // SAFETY: as above.
                    unsafe { libc::kill(-group, libc::SIGKILL) };
                }
                Some(_) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An exit status in words.
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "failed".into(),
    }
}

/// The last lines of a run's standard error, indented, control characters made visible;
/// empty when there were none.
fn tail(log: &Path) -> String {
    const MAX_BYTES: u64 = 4096;
    const MAX_LINES: usize = 20;
    let Ok(mut file) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(MAX_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if from > 0 && lines.len() > 1 {
        lines.remove(0); // cut mid-line
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if lines.is_empty() {
        return " It wrote nothing on standard error.".into();
    }
    let start = lines.len().saturating_sub(MAX_LINES);
    let mut out = String::from(" The end of its standard error:");
    for line in &lines[start..] {
        out.push_str("\n  | ");
        out.extend(
            line.chars()
                .map(|c| if c.is_control() && c != '\t' { '?' } else { c }),
        );
    }
    out
}
