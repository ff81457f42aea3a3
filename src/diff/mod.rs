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
//!       ─► compare (means, shares, Welch / block bootstrap / none, Benjamini-Hochberg,
//!                   verdicts)
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
pub mod identity;
pub mod input;
pub mod options;
pub mod render;
pub mod stats;
pub mod student;

#[cfg(test)]
mod tests;

use std::io::IsTerminal;

use crate::cli::DiffArgs;
use crate::error::{Error, Result};
use crate::escape::visible;
use crate::output::{self, Destination};
use compare::{Comparison, Method, Settings};
use input::{LoadOptions, Run};
use options::DiffOptions;

/// The exit status of a diff whose gate failed.
pub const GATE_FAILED: i32 = 1;

/// Runs `framescope diff`: writes the report asked for, the flamegraphs, and, when the gate
/// fails, one sentence per offending function on standard error. Returns the exit status
/// (0, or [`GATE_FAILED`]).
pub fn run(args: &DiffArgs) -> Result<i32> {
    let options = DiffOptions::from_args(args, std::io::stdout().is_terminal())?;
    // Every output path is checked before the inputs are read.
    let resolve =
        |p: &Option<std::path::PathBuf>| p.as_deref().map(Destination::resolve).transpose();
    let outputs = Outputs {
        report: resolve(&options.output)?,
        flamegraph: resolve(&options.flamegraph)?,
        flamegraph_gone: resolve(&options.flamegraph_gone)?,
    };
    let load = LoadOptions {
        view: options.view.clone(),
        collapsed_rate: options.collapsed_rate,
    };
    let mut warn = |w: String| eprintln!("framescope: warning: {}", visible(&w));
    let read = |paths: &[std::path::PathBuf], warn: &mut dyn FnMut(String)| {
        paths
            .iter()
            .map(|p| input::load(p, &load, warn))
            .collect::<Result<Vec<Run>>>()
    };
    let base = read(&options.base, &mut warn)?;
    let head = read(&options.head, &mut warn)?;

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
        match &outputs.report {
            Some(dest) => output::write_to(dest, &text)?,
            None => output::to_stdout(&text)?,
        }
    }
    write_flamegraphs(&outputs, &comparison, &matched)?;

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
    }
}

/// The files `diff` writes, resolved before any work.
struct Outputs {
    report: Option<Destination>,
    flamegraph: Option<Destination>,
    flamegraph_gone: Option<Destination>,
}

fn write_flamegraphs(
    outputs: &Outputs,
    comparison: &Comparison,
    matched: &compare::Matched<'_>,
) -> Result<()> {
    if outputs.flamegraph.is_none() && outputs.flamegraph_gone.is_none() {
        return Ok(());
    }
    let numbered: Vec<(&Run, usize)> = matched.runs.iter().copied().zip(0..).collect();
    let (base_runs, head_runs) = numbered.split_at(matched.base_count);
    let base = aggregate::mean_stacks(base_runs, &matched.ids);
    let head = aggregate::mean_stacks(head_runs, &matched.ids);
    for (dest, view) in [
        (&outputs.flamegraph, flamegraph::View::Head),
        (&outputs.flamegraph_gone, flamegraph::View::Gone),
    ] {
        if let Some(dest) = dest {
            flamegraph::write(dest, view, comparison, &matched.ids, &base, &head)?;
        }
    }
    Ok(())
}
