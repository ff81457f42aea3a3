//! Inputs of a diff: one file becomes one [`Run`] — the functions it names, its distinct
//! stacks with the samples and seconds each stands for, and, for framescope recordings,
//! the same split into stretches of time for the block bootstrap. A framescope recording is
//! recognised by its magic bytes and read through [`crate::recording`] and
//! [`crate::report::Profile`] (so the view and the per-sample time weights are exactly those
//! of `report`); anything else must be a collapsed-stack file ([`super::collapsed`]). Not
//! for matching functions across runs or for any statistics.

use std::path::{Path, PathBuf};

use super::collapsed;
use crate::error::{Error, Result};
use crate::input_file;
use crate::limits::{self, MAX_DIFF_FUNCTIONS, MAX_STACK_DEPTH};
use crate::recording::{self, Recording, StackId};
use crate::report::profile::{Clock, Functions, LeftOut};
use crate::report::{Profile, ViewOptions};
use rustc_hash::FxHashMap;

/// What kind of file a run came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A framescope recording: timestamps, time order.
    Recording,
    /// A collapsed-stack file: counts only, no time order.
    Collapsed,
}

/// A function as one run names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FunctionName {
    pub qualname: String,
    /// Empty when the input names no file.
    pub file: String,
    /// The `def` line, when known.
    pub line: Option<u32>,
}

/// Samples and seconds of one distinct stack of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StackWeight {
    /// Index into [`Run::stacks`].
    pub stack: u32,
    pub samples: u64,
    pub seconds: f64,
}

/// One input file, read.
#[derive(Clone, Debug)]
pub struct Run {
    pub path: PathBuf,
    pub kind: InputKind,
    /// The command profiled, when the input says.
    pub command: Option<String>,
    /// The CPython version, when the input says.
    pub python_version: Option<String>,
    pub functions: Vec<FunctionName>,
    /// Distinct stacks: indexes into `functions`, innermost first.
    pub stacks: Vec<Vec<u32>>,
    /// The whole run.
    pub weights: Vec<StackWeight>,
    /// Recordings: the run cut into stretches of equal time, in time order.
    pub windows: Option<Vec<Vec<StackWeight>>>,
    pub samples: u64,
    pub seconds: f64,
    /// The time `seconds` are of.
    pub clock: Clock,
}

/// How inputs are read.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// `view.clock` is the clock wanted; a recording without CPU times is read on the wall
    /// clock instead unless `clock_required` (the user asked for it), which makes that an
    /// error.
    pub view: ViewOptions,
    pub clock_required: bool,
    /// Samples per second of collapsed-stack counts.
    pub collapsed_rate: f64,
}

/// Reads `path` as a recording or a collapsed-stack file. A file with no samples to
/// compare is an error, with the reason. `warn` receives a sentence about anything that
/// is usable but not whole (a recording cut off).
pub fn load(path: &Path, options: &LoadOptions, warn: &mut dyn FnMut(String)) -> Result<Run> {
    let bytes = input_file::read(path)?;
    load_bytes(path, &bytes, options, warn)
}

/// [`load`] of a file already read; `path` names it.
pub fn load_bytes(
    path: &Path,
    bytes: &[u8],
    options: &LoadOptions,
    warn: &mut dyn FnMut(String),
) -> Result<Run> {
    if bytes.is_empty() {
        return Err(Error::bad_file(
            path,
            "the file is empty; expected a framescope recording or collapsed stacks",
        ));
    }
    let magic = b"FSREC";
    if bytes[..bytes.len().min(magic.len())] == magic[..bytes.len().min(magic.len())] {
        let rec = recording::read_bytes(bytes, path)?;
        if let Some(why) = &rec.truncation {
            warn(format!(
                "{} is incomplete ({why}); using what it held up to there",
                path.display()
            ));
        } else if rec.summary.is_none() {
            warn(format!(
                "{} ends without the summary a finished recording has (framescope was \
                 killed, or the disk filled); using the samples it holds",
                path.display()
            ));
        }
        if let Some(warning) = limits::check(&rec, true, path)? {
            warn(warning);
        }
        let mut view = options.view.clone();
        if view.clock == Clock::Cpu && !rec.has_cpu_times() {
            if options.clock_required {
                return Err(Error::bad_file(
                    path,
                    "it has no CPU times (recorded by framescope before 0.2); compare it with --clock wall",
                ));
            }
            view.clock = Clock::Wall;
        }
        let (run, unreadable) = from_recording(path, &rec, &view)?;
        if unreadable * 10 > rec.samples.len() as u64 {
            warn(format!(
                "{}: {} of its {} samples could not be read consistently and are left out, \
                 which undercounts the functions they fell in; record with --blocking",
                path.display(),
                unreadable,
                rec.samples.len()
            ));
        }
        return Ok(run);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        Error::bad_file(
            path,
            "not a framescope recording (no FSREC magic) nor a collapsed-stack text file",
        )
    })?;
    let folded = collapsed::parse(text).map_err(|bad| {
        let what = if bad.seen_stacks {
            "unusable collapsed-stack file"
        } else {
            "not a framescope recording nor a collapsed-stack file"
        };
        Error::bad_file(path, format!("{what}: {bad}"))
    })?;
    if options.view.clock == Clock::Cpu && options.clock_required {
        return Err(Error::bad_file(
            path,
            "collapsed stacks carry no CPU times; compare them with --clock wall",
        ));
    }
    if folded.deep_lines > 0 {
        warn(format!(
            "{}: {} line{} more than {MAX_STACK_DEPTH} frames; only the innermost {MAX_STACK_DEPTH} frames of each are used",
            path.display(),
            folded.deep_lines,
            if folded.deep_lines == 1 { " has" } else { "s have" }
        ));
    }
    from_folded(path, &folded, options.collapsed_rate)
}

/// How many stretches a recording is cut into for the block bootstrap: about 50 samples
/// each, at least 8 and at most 40 stretches.
pub fn window_count(samples: u64) -> usize {
    (samples / 50).clamp(8, 40) as usize
}

/// The run of a recording, and how many of its samples could not be read.
fn from_recording(path: &Path, rec: &Recording, view: &ViewOptions) -> Result<(Run, u64)> {
    let profile = Profile::build(rec, view);
    if profile.samples == 0 {
        return Err(Error::bad_file(path, no_samples(rec, &profile.left_out)));
    }
    let functions = Functions::new(rec, false);
    if functions.keys.len() > MAX_DIFF_FUNCTIONS {
        return Err(Error::bad_file(
            path,
            format!(
                "it names {} distinct functions, more than the {MAX_DIFF_FUNCTIONS} a diff compares",
                functions.keys.len()
            ),
        ));
    }
    let names = functions
        .keys
        .iter()
        .map(|k| FunctionName {
            qualname: rec.string(k.qualname).to_string(),
            file: rec.string(k.filename).to_string(),
            line: (k.first_line > 0).then_some(k.first_line),
        })
        .collect();
    let mut stacks: Vec<Vec<u32>> = Vec::new();
    let mut index: FxHashMap<StackId, u32> = FxHashMap::default();
    let mut weights_of = |profile: &Profile| -> Vec<StackWeight> {
        profile
            .groups
            .iter()
            .flat_map(|g| &g.stacks)
            .map(|t| {
                let stack = *index.entry(t.stack).or_insert_with(|| {
                    let path = limits::stack_frames(rec, t.stack)
                        .map(|f| functions.of(f) as u32)
                        .collect();
                    stacks.push(path);
                    (stacks.len() - 1) as u32
                });
                StackWeight {
                    stack,
                    samples: t.samples,
                    seconds: t.seconds,
                }
            })
            .collect()
    };
    let weights = weights_of(&profile);
    let windows = Profile::build_windows(rec, view, window_count(profile.samples))
        .iter()
        .map(&mut weights_of)
        .collect();
    let meta = &rec.meta;
    let run = Run {
        path: path.to_path_buf(),
        kind: InputKind::Recording,
        command: Some(meta.command_line()),
        python_version: (!meta.python_version.is_empty()).then(|| meta.python_version.clone()),
        functions: names,
        stacks,
        weights,
        windows: Some(windows),
        samples: profile.samples,
        seconds: profile.seconds,
        clock: profile.clock,
    };
    Ok((run, profile.left_out.errors))
}

/// Why a recording has nothing to compare.
fn no_samples(rec: &Recording, left_out: &LeftOut) -> String {
    if rec.samples.is_empty() {
        return "the recording holds no samples (did the program end before the first one?)".into();
    }
    let mut why = Vec::new();
    if left_out.idle > 0 {
        why.push(format!("{} idle (count them with --idle)", left_out.idle));
    }
    if left_out.without_gil > 0 {
        why.push(format!("{} without the GIL", left_out.without_gil));
    }
    if left_out.empty > 0 {
        why.push(format!("{} with no Python frames", left_out.empty));
    }
    if left_out.errors > 0 {
        why.push(format!("{} unreadable", left_out.errors));
    }
    format!(
        "none of its {} samples can be compared: {}",
        rec.samples.len(),
        why.join(", ")
    )
}

fn from_folded(path: &Path, folded: &collapsed::Folded, rate: f64) -> Result<Run> {
    let functions: Vec<FunctionName> = folded
        .frames
        .iter()
        .map(|frame| FunctionName {
            qualname: frame.name.clone(),
            file: frame.file.clone(),
            line: None,
        })
        .collect();
    let mut stacks: Vec<Vec<u32>> = Vec::new();
    let mut stack_index: FxHashMap<Vec<u32>, u32> = FxHashMap::default();
    let mut totals: Vec<(u64, f64)> = Vec::new();
    for line in &folded.stacks {
        if line.value == 0 {
            continue;
        }
        // Innermost first; a frame is its own function.
        let path: Vec<u32> = line.frames.iter().rev().copied().collect();
        let (samples, seconds) = if folded.austin {
            (1, line.value as f64 * 1e-6)
        } else {
            (line.value, line.value as f64 / rate)
        };
        let id = *stack_index.entry(path.clone()).or_insert_with(|| {
            stacks.push(path);
            totals.push((0, 0.0));
            (stacks.len() - 1) as u32
        });
        let total = &mut totals[id as usize];
        // Cannot overflow: `collapsed::parse` checked that all counts add up within u64,
        // and an Austin line counts one sample.
        total.0 += samples;
        total.1 += seconds;
    }
    let weights: Vec<StackWeight> = totals
        .iter()
        .enumerate()
        .map(|(i, &(samples, seconds))| StackWeight {
            stack: i as u32,
            samples,
            seconds,
        })
        .collect();
    let seconds: f64 = weights.iter().map(|w| w.seconds).sum();
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(Error::bad_file(
            path,
            if folded.frameless > 0 {
                format!(
                    "the collapsed-stack file holds no samples with Python frames (only {} without)",
                    folded.frameless
                )
            } else {
                "the collapsed-stack file holds no samples".to_string()
            },
        ));
    }
    Ok(Run {
        path: path.to_path_buf(),
        kind: InputKind::Collapsed,
        command: None,
        python_version: None,
        functions,
        stacks,
        samples: weights.iter().map(|w| w.samples).sum(),
        seconds,
        weights,
        windows: None,
        clock: Clock::Wall,
    })
}
