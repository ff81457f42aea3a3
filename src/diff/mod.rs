//! `framescope diff`: did a change make the code faster or slower, and where? Two sides —
//! base and head, each one run or several replicate runs of the same benchmark — are
//! compared function by function, with an interval and a significance test for every
//! change, and optionally a CI gate.
//!
//! The data flows one way, one module per step:
//!
//! ```text
//! files ─► input (recordings via report::Profile; collapsed stacks via collapsed)
//!       ─► identity (the same function across runs: qualname + file, lines ignored)
//!       ─► aggregate (own and cumulative time per function per run, report's tally rule)
//!       ─► compare (means, shares, Welch / block bootstrap / none, Benjamini-Hochberg
//!                   over same-time groups (hypotheses), verdicts)
//!       ─► render (table, markdown, json) · flamegraph (inferno, differential) · gate
//! ```
//!
//! Nothing here reads a process or writes a recording.

pub mod aggregate;
pub mod bootstrap;
pub mod collapsed;
pub mod compare;
pub mod flamegraph;
pub mod gate;
pub mod hypotheses;
pub mod identity;
pub mod input;
pub mod options;
pub mod render;
pub mod stats;
pub mod student;

#[cfg(test)]
mod tests;

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::cli::DiffArgs;
use crate::error::{Error, Result};
use compare::{Comparison, Method, Settings};
use input::{LoadOptions, Run};
use options::DiffOptions;

/// The exit status of a diff whose gate failed.
pub const GATE_FAILED: i32 = 1;

/// Runs `framescope diff`: writes the report asked for, the flamegraphs, and, when the gate
/// fails, one sentence per offending function on standard error. Returns the exit status
/// (0, or [`GATE_FAILED`]).
pub fn run(args: &DiffArgs) -> Result<i32> {
    let mut options = DiffOptions::from_args(args, std::io::stdout().is_terminal())?;
    let mut load = LoadOptions {
        view: options.view.clone(),
        clock_required: options.clock_asked.is_some(),
        collapsed_rate: options.collapsed_rate,
    };
    let mut warn = |w: String| eprintln!("framescope: warning: {w}");
    let read = |load: &LoadOptions, warn: &mut dyn FnMut(String)| {
        let mut side = |paths: &[std::path::PathBuf]| {
            paths
                .iter()
                .map(|p| input::load(p, load, warn))
                .collect::<Result<Vec<Run>>>()
        };
        Ok::<_, crate::error::Error>((side(&options.base)?, side(&options.head)?))
    };
    let (mut base, mut head) = read(&load, &mut warn)?;
    // By default CPU time; when some input has none, every input is compared on wall time.
    let without_cpu = base
        .iter()
        .chain(&head)
        .filter(|r| r.clock != options.view.clock)
        .count();
    if without_cpu > 0 {
        warn(format!(
            "{without_cpu} of the inputs have no CPU times (collapsed stacks, or recordings \
             made before framescope 0.2); comparing wall time"
        ));
        load.view.clock = crate::report::profile::Clock::Wall;
        options.view.clock = load.view.clock;
        (base, head) = read(&load, &mut |_| {})?;
    }

    if let (Some(_), Method::None { why }) = (
        options.fail_on_regression,
        compare::choose_method(&base, &head, options.resamples),
    ) {
        return Err(Error::Usage(format!(
            "--fail-on-regression needs a significance test, and these inputs allow none: {why}"
        )));
    }

    let matched = compare::match_runs(&base, &head);
    let comparison = compare::compare(&base, &head, &matched, settings(&options));

    if let Some(format) = options.format {
        let mut text = Vec::new();
        render::render(
            &comparison,
            format,
            options.rows_shown(format),
            options.color,
            &mut text,
        )?;
        write_output(options.output.as_deref(), &text)?;
    }
    write_flamegraphs(&options, &comparison, &matched)?;

    let Some(percent) = options.fail_on_regression else {
        return Ok(0);
    };
    let offenders = gate::offenders(&comparison, percent);
    if offenders.is_empty() {
        return Ok(0);
    }
    for row in offenders {
        eprintln!("{}", gate::sentence(&comparison, row, percent));
    }
    Ok(GATE_FAILED)
}

fn settings(options: &DiffOptions) -> Settings {
    Settings {
        alpha: options.alpha,
        threshold: options.threshold,
        min_share: options.min_share,
        sort: options.sort,
        resamples: options.resamples,
        fail_on_regression: options.fail_on_regression,
        normalize: options.normalize,
        clock: options.view.clock,
    }
}

fn write_flamegraphs(
    options: &DiffOptions,
    comparison: &Comparison,
    matched: &compare::Matched<'_>,
) -> Result<()> {
    if options.flamegraph.is_none() && options.flamegraph_gone.is_none() {
        return Ok(());
    }
    let numbered: Vec<(&Run, usize)> = matched.runs.iter().copied().zip(0..).collect();
    let (base_runs, head_runs) = numbered.split_at(matched.base_count);
    let base = aggregate::mean_stacks(base_runs, &matched.ids);
    let head = aggregate::mean_stacks(head_runs, &matched.ids);
    for (path, view) in [
        (&options.flamegraph, flamegraph::View::Head),
        (&options.flamegraph_gone, flamegraph::View::Gone),
    ] {
        if let Some(path) = path {
            flamegraph::write(path, view, comparison, &matched.ids, &base, &head)?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path`, or to standard output (a closed pipe is not an error).
fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match path {
        Some(p) => {
            std::fs::write(p, bytes).map_err(|e| Error::io(format!("writing {}", p.display()), e))
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(bytes).and_then(|_| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(Error::io("writing standard output", e))
                }
                _ => Ok(()),
            }
        }
    }
}
