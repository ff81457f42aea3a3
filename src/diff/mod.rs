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
pub mod wording;

#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::escape::visible;
use crate::output::{CommandOutput, Destination};
use compare::{Comparison, Method, Settings};
use input::{LoadOptions, Run};
use options::DiffOptions;

/// The exit status of a diff whose gate failed.
pub const GATE_FAILED: i32 = 1;

/// Which side of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SideName {
    Base,
    Head,
}

/// Where one matched function sits on each side: every (file, `def` line) the base runs
/// and the head runs name it by (two definitions of one name in one file are one function).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Whereabouts {
    pub qualname: String,
    pub base: Vec<(String, Option<u32>)>,
    pub head: Vec<(String, Option<u32>)>,
}

/// What knows the source behind the runs (`compare`, which checked both sides out): it
/// may rename the files a run names, and says which functions the change touched.
pub trait SourceKnowledge {
    /// Rewrites the file names of one run of `side` (e.g. to paths in the repository).
    fn rename_files(&self, side: SideName, run: &mut Run);
    /// Whether the change between the sides touched the lines of this function.
    fn changed(&self, function: &Whereabouts) -> bool;
}

/// Runs a diff of `options.base` against `options.head`: writes the report asked for, the
/// flamegraphs, and, when the gate fails, its verdict on standard error; returns the exit
/// status (0, or [`GATE_FAILED`]). With `source`, every function is
/// marked changed or not ([`compare::Row::changed`]); without, that stays unknown.
pub fn run(options: &DiffOptions, source: Option<&dyn SourceKnowledge>) -> Result<i32> {
    let mut options = options.clone();
    // Every output path is checked before the inputs are read.
    let resolve =
        |p: &Option<std::path::PathBuf>| p.as_deref().map(Destination::resolve).transpose();
    let outputs = Outputs {
        report: CommandOutput::resolve(options.output.as_deref())?,
        flamegraph: resolve(&options.flamegraph)?,
        flamegraph_gone: resolve(&options.flamegraph_gone)?,
    };
    let mut load = LoadOptions {
        view: options.view.clone(),
        clock_required: options.clock_asked.is_some(),
        collapsed_rate: options.collapsed_rate,
    };
    let mut warn = |w: String| eprintln!("framescope: warning: {}", visible(&w));
    let read = |load: &LoadOptions, warn: &mut dyn FnMut(String)| {
        let mut side = |paths: &[std::path::PathBuf], name: SideName| {
            paths
                .iter()
                .map(|p| {
                    let mut run = input::load(p, load, warn)?;
                    if let Some(source) = source {
                        source.rename_files(name, &mut run);
                    }
                    Ok(run)
                })
                .collect::<Result<Vec<Run>>>()
        };
        Ok::<_, crate::error::Error>((
            side(&options.base, SideName::Base)?,
            side(&options.head, SideName::Head)?,
        ))
    };
    let (mut base, mut head) = read(&load, &mut warn)?;
    // By default CPU time; when some input has none, every input is compared on wall time.
    let without_cpu: Vec<&Run> = base
        .iter()
        .chain(&head)
        .filter(|r| r.clock != options.view.clock)
        .collect();
    if !without_cpu.is_empty() {
        // Collapsed stacks never have CPU times (the method line names the clock); an old
        // recording among new ones is worth a word.
        let old = without_cpu
            .iter()
            .filter(|r| r.kind == input::InputKind::Recording)
            .count();
        if old > 0 {
            warn(format!(
                "{old} of the recordings have no CPU times (made before framescope 0.2); \
                 comparing wall time"
            ));
        }
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
    let mut comparison = compare::compare(&base, &head, &matched, settings(&options));
    if let Some(source) = source {
        mark_changed(&mut comparison, &matched, source);
    }

    let verdict = options
        .fail_on_regression
        .map(|percent| gate::verdict(&comparison, &matched, percent));
    if let Some(format) = options.format {
        let mut text = Vec::new();
        render::render(
            &comparison,
            format,
            options.rows_shown(format),
            options.color,
            verdict.as_ref(),
            &mut text,
        )?;
        outputs.report.write(&text)?;
    }
    write_flamegraphs(&outputs, &comparison, &matched)?;

    let (Some(percent), Some(verdict)) = (options.fail_on_regression, verdict) else {
        return Ok(0);
    };
    if verdict.passed() {
        return Ok(0);
    }
    for line in gate::lines(&comparison, &verdict, percent) {
        eprintln!("{line}");
    }
    Ok(GATE_FAILED)
}

/// Where every matched function sits on each side, indexed like `matched.ids.functions`.
pub fn whereabouts(matched: &compare::Matched<'_>) -> Vec<Whereabouts> {
    let mut all: Vec<Whereabouts> = matched
        .ids
        .functions
        .iter()
        .map(|f| Whereabouts {
            qualname: f.qualname.clone(),
            ..Whereabouts::default()
        })
        .collect();
    for (r, run) in matched.runs.iter().enumerate() {
        for (f, name) in run.functions.iter().enumerate() {
            let w = &mut all[matched.ids.of_run[r][f] as usize];
            let list = if r < matched.base_count {
                &mut w.base
            } else {
                &mut w.head
            };
            let place = (name.file.clone(), name.line);
            if !list.contains(&place) {
                list.push(place);
            }
        }
    }
    all
}

/// Sets [`compare::Row::changed`] on every row.
fn mark_changed(
    comparison: &mut Comparison,
    matched: &compare::Matched<'_>,
    source: &dyn SourceKnowledge,
) {
    let places = whereabouts(matched);
    let index: std::collections::HashMap<&identity::Function, usize> = matched
        .ids
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| (f, i))
        .collect();
    for row in &mut comparison.rows {
        row.changed = Some(
            index
                .get(&row.function)
                .is_some_and(|&i| source.changed(&places[i])),
        );
    }
}

/// The statistical settings of `options`.
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

/// The files `diff` writes, resolved before any work.
struct Outputs {
    report: CommandOutput,
    flamegraph: Option<Destination>,
    flamegraph_gone: Option<Destination>,
}

/// Writes the differential flamegraphs asked for.
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
