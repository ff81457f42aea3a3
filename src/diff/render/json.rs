//! The comparison as JSON for programs, schema `framescope-diff/1` (documented member by
//! member in the README, section diff). Seconds are per run (the mean over a side's runs), shares and
//! changes in percent; a member that does not apply is `null`, never left out.

use serde::Serialize;

use crate::diff::compare::{Comparison, Measure, Method, Row, RunInfo, Side};
use crate::diff::gate;
use crate::diff::input::InputKind;
use crate::diff::wording::describe_method;
use crate::error::{Error, Result};

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    base: JsonSide<'a>,
    head: JsonSide<'a>,
    method: JsonMethod,
    summary: Summary,
    functions: Vec<JsonRow<'a>>,
    gate: Option<Gate>,
}

#[derive(Serialize)]
struct JsonSide<'a> {
    runs: Vec<JsonRun<'a>>,
    seconds_per_run: f64,
    samples_per_run: f64,
}

#[derive(Serialize)]
struct JsonRun<'a> {
    path: String,
    kind: &'static str,
    command: Option<&'a str>,
    python_version: Option<&'a str>,
    samples: u64,
    seconds: f64,
}

#[derive(Serialize)]
struct JsonMethod {
    name: &'static str,
    /// "cpu" or "wall": the time every figure is of.
    clock: &'static str,
    description: String,
    confidence: f64,
    correction: &'static str,
    /// Hypotheses the correction counted: same-time groups of the functions tested.
    hypotheses: Option<usize>,
    alpha: f64,
    threshold_percent: f64,
    min_share_percent: f64,
    resamples: Option<usize>,
    normalized: bool,
}

#[derive(Serialize)]
struct Summary {
    functions: usize,
    slower: usize,
    faster: usize,
    unchanged: usize,
    new: usize,
    gone: usize,
    hidden: usize,
}

#[derive(Serialize)]
struct JsonMeasure {
    own_seconds: f64,
    cum_seconds: f64,
    own_percent: f64,
    cum_percent: f64,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    function: &'a str,
    file: &'a str,
    line: Option<u32>,
    verdict: &'static str,
    base: JsonMeasure,
    head: JsonMeasure,
    cum_change_seconds: f64,
    cum_change_percent: Option<f64>,
    own_change_seconds: f64,
    own_change_percent: Option<f64>,
    ci_low_seconds: Option<f64>,
    ci_high_seconds: Option<f64>,
    p: Option<f64>,
    q: Option<f64>,
    group: Option<u32>,
    significant: bool,
    /// `compare`: whether the change between the refs touched the function; `diff`: null.
    changed: Option<bool>,
}

#[derive(Serialize)]
struct Gate {
    percent: f64,
    failed: bool,
    /// Every function that failed the gate: the causes first, then their callers.
    offenders: Vec<String>,
    /// The functions that got slower themselves (the rest grew with them).
    causes: Vec<String>,
}

/// The JSON text, pretty-printed, ending in a newline (the tests' shorthand).
#[cfg(test)]
pub fn render(c: &Comparison, limit: Option<usize>) -> Result<String> {
    render_with_gate(c, limit, None)
}

/// The JSON text, pretty-printed, ending in a newline, with the gate's verdict when it
/// was reached (else every offender counts as a cause).
pub fn render_with_gate(
    c: &Comparison,
    limit: Option<usize>,
    verdict: Option<&gate::Verdict<'_>>,
) -> Result<String> {
    let counts = c.counts();
    let count = |i: usize| counts[i].1;
    let shown = limit.unwrap_or(usize::MAX).min(c.rows.len());
    let doc = Document {
        schema: "framescope-diff/1",
        base: side(&c.base),
        head: side(&c.head),
        method: JsonMethod {
            name: c.method.id(),
            clock: c.settings.clock.name(),
            description: describe_method(c),
            confidence: crate::diff::stats::CONFIDENCE,
            correction: crate::diff::compare::CORRECTION,
            hypotheses: c.hypotheses,
            alpha: c.settings.alpha,
            threshold_percent: c.settings.threshold,
            min_share_percent: c.settings.min_share,
            resamples: match c.method {
                Method::BlockBootstrap { resamples } => Some(resamples),
                _ => None,
            },
            normalized: c.settings.normalize,
        },
        summary: Summary {
            functions: c.rows.len(),
            slower: count(0),
            faster: count(1),
            unchanged: count(2),
            new: count(3),
            gone: count(4),
            hidden: c.hidden,
        },
        functions: c.rows[..shown].iter().map(row).collect(),
        gate: c.settings.fail_on_regression.map(|percent| {
            let labels = |rows: &[&Row]| -> Vec<String> {
                rows.iter()
                    .map(|r| crate::diff::wording::label(&r.function))
                    .collect()
            };
            let (causes, callers) = match verdict {
                Some(v) => (labels(&v.causes), labels(&v.callers)),
                None => (labels(&c.offenders(percent)), Vec::new()),
            };
            Gate {
                percent,
                failed: !causes.is_empty(),
                offenders: causes.iter().chain(&callers).cloned().collect(),
                causes,
            }
        }),
    };
    serde_json::to_string_pretty(&doc)
        .map(|s| s + "\n")
        .map_err(|e| Error::Read(format!("cannot write the diff as JSON: {e}")))
}

fn side(s: &Side) -> JsonSide<'_> {
    JsonSide {
        runs: s.runs.iter().map(run).collect(),
        seconds_per_run: s.seconds_per_run,
        samples_per_run: s.samples_per_run,
    }
}

fn run(r: &RunInfo) -> JsonRun<'_> {
    JsonRun {
        path: r.path.display().to_string(),
        kind: match r.kind {
            InputKind::Recording => "recording",
            InputKind::Collapsed => "collapsed",
        },
        command: r.command.as_deref(),
        python_version: r.python_version.as_deref(),
        samples: r.samples,
        seconds: r.seconds,
    }
}

fn measure(m: &Measure) -> JsonMeasure {
    JsonMeasure {
        own_seconds: m.own_seconds,
        cum_seconds: m.cum_seconds,
        own_percent: m.own_share,
        cum_percent: m.cum_share,
    }
}

fn row(r: &Row) -> JsonRow<'_> {
    JsonRow {
        function: &r.function.qualname,
        file: &r.function.file,
        line: r.function.line,
        verdict: r.verdict.name(),
        base: measure(&r.base),
        head: measure(&r.head),
        cum_change_seconds: r.cum_change,
        cum_change_percent: r.cum_change_percent,
        own_change_seconds: r.own_change,
        own_change_percent: r.own_change_percent,
        ci_low_seconds: r.estimate.map(|e| e.low),
        ci_high_seconds: r.estimate.map(|e| e.high),
        p: r.estimate.map(|e| e.p),
        q: r.q,
        group: r.group,
        significant: r.significant,
        changed: r.changed,
    }
}
