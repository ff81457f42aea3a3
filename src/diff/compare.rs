//! The comparison itself: per matched function, own and cumulative time per run on each
//! side, their shares, the change, its interval and significance, and a verdict. The test
//! is chosen from the inputs: Welch's t-test on per-run values when both sides have
//! replicate runs, a block bootstrap when a side has a single recording, none when a side
//! has a single collapsed-stack file (no time order to resample). p-values are adjusted
//! across the functions tested with Benjamini-Hochberg, each same-time group of nested
//! functions ([`super::hypotheses`]) counted as one hypothesis. Renderers and the gate only
//! read a [`Comparison`]; nothing here formats text.

use std::path::PathBuf;

use super::aggregate::{self, RunTotals};
use super::bootstrap::{self, Observed, SideWindows};
use super::hypotheses;
use super::identity::{self, Function, Identities};
use super::input::{window_count, InputKind, Run};
use super::options::SortBy;
use super::stats::{self, Estimate};

/// How a function changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Cumulative time grew significantly, by at least the threshold.
    Slower,
    /// Cumulative time shrank significantly, by at least the threshold.
    Faster,
    /// Neither of the above.
    Unchanged,
    /// Seen in the head runs only.
    New,
    /// Seen in the base runs only.
    Gone,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Slower => "slower",
            Verdict::Faster => "faster",
            Verdict::Unchanged => "unchanged",
            Verdict::New => "new",
            Verdict::Gone => "gone",
        }
    }
}

/// The significance test used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// Welch's t-test on the per-run cumulative times.
    Welch,
    /// Block bootstrap over stretches of time within each run.
    BlockBootstrap { resamples: usize },
    /// No test was possible, for the reason given.
    None { why: String },
}

impl Method {
    /// The name used in JSON.
    pub fn id(&self) -> &'static str {
        match self {
            Method::Welch => "welch",
            Method::BlockBootstrap { .. } => "block-bootstrap",
            Method::None { .. } => "none",
        }
    }
}

/// Per-run means of one function on one side.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measure {
    pub own_seconds: f64,
    pub cum_seconds: f64,
    /// Percent of the side's time per run.
    pub own_share: f64,
    pub cum_share: f64,
}

/// One function of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub function: Function,
    pub base: Measure,
    pub head: Measure,
    /// Head minus base, seconds per run.
    pub own_change: f64,
    pub cum_change: f64,
    /// The change relative to the base; `None` when the base is zero.
    pub own_change_percent: Option<f64>,
    pub cum_change_percent: Option<f64>,
    /// The cumulative change's interval and p-value, when a test was possible.
    pub estimate: Option<Estimate>,
    /// The Benjamini-Hochberg adjusted p-value of its same-time group.
    pub q: Option<f64>,
    /// The same-time group whose hypothesis its test counted as (numbered from 0, the
    /// outermost group first), when a test was possible.
    pub group: Option<u32>,
    pub significant: bool,
    pub verdict: Verdict,
    /// Whether the change between the sides touched the function's lines: known only
    /// when the sides are checkouts (`compare`), `None` otherwise.
    pub changed: Option<bool>,
}

/// One input of a side.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub path: PathBuf,
    pub kind: InputKind,
    pub command: Option<String>,
    pub python_version: Option<String>,
    pub samples: u64,
    pub seconds: f64,
}

/// One side: its inputs and their means.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    pub runs: Vec<RunInfo>,
    pub seconds_per_run: f64,
    pub samples_per_run: f64,
}

/// Settings that shape a comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub alpha: f64,
    pub threshold: f64,
    pub min_share: f64,
    pub sort: SortBy,
    pub resamples: usize,
    /// The gate's percentage, when `--fail-on-regression` was given.
    pub fail_on_regression: Option<f64>,
    /// Compare shares of each run's time, every run scaled to the base's time per run.
    pub normalize: bool,
    /// The time every run's seconds are of.
    pub clock: crate::report::profile::Clock,
}

/// Everything a renderer or the gate needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub base: Side,
    pub head: Side,
    pub method: Method,
    pub settings: Settings,
    /// The functions at or above the minimum share on either side, largest change first.
    pub rows: Vec<Row>,
    /// Functions left out for being below the minimum share on both sides.
    pub hidden: usize,
    /// How many hypotheses the correction counted (same-time groups of the functions
    /// tested), when a test was possible.
    pub hypotheses: Option<usize>,
}

/// The multiple-comparison correction, as named in JSON.
pub const CORRECTION: &str = "benjamini-hochberg-same-time-groups";

impl Comparison {
    /// How many rows have each verdict: slower, faster, unchanged, new, gone.
    pub fn counts(&self) -> [(Verdict, usize); 5] {
        [
            Verdict::Slower,
            Verdict::Faster,
            Verdict::Unchanged,
            Verdict::New,
            Verdict::Gone,
        ]
        .map(|v| (v, self.rows.iter().filter(|r| r.verdict == v).count()))
    }

    /// The rows that fail a gate of `percent`: cumulative time per run grew by more than
    /// `percent` percent, significantly, from a base that had some. Functions seen only in
    /// the head are left to their callers (see [`super::gate`]).
    pub fn offenders(&self, percent: f64) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| {
                r.significant
                    && r.base.cum_seconds > 0.0
                    && r.cum_change > 0.0
                    && r.cum_change_percent.is_some_and(|p| p > percent)
            })
            .collect()
    }
}

/// The matched functions and the runs in the order [`identity::match_functions`] saw them
/// (base runs, then head runs).
pub struct Matched<'a> {
    pub runs: Vec<&'a Run>,
    pub base_count: usize,
    pub ids: Identities,
}

/// Matches the functions of all runs, spelling them as the head runs do.
pub fn match_runs<'a>(base: &'a [Run], head: &'a [Run]) -> Matched<'a> {
    let runs: Vec<&Run> = base.iter().chain(head).collect();
    let head_first: Vec<usize> = (base.len()..runs.len()).collect();
    let ids = identity::match_functions(&runs, &head_first);
    Matched {
        runs,
        base_count: base.len(),
        ids,
    }
}

/// Which test the inputs allow.
pub fn choose_method(base: &[Run], head: &[Run], resamples: usize) -> Method {
    if base.len() >= 2 && head.len() >= 2 {
        return Method::Welch;
    }
    if base.iter().chain(head).all(|r| r.windows.is_some()) {
        return Method::BlockBootstrap { resamples };
    }
    Method::None {
        why: "a collapsed-stack file has no time order to resample, so a side with a single one \
              cannot be tested; give at least two runs per side"
            .into(),
    }
}

/// Compares the base runs with the head runs, their functions matched by [`match_runs`].
pub fn compare(
    base: &[Run],
    head: &[Run],
    matched: &Matched<'_>,
    settings: Settings,
) -> Comparison {
    let mut totals: Vec<RunTotals> = matched
        .runs
        .iter()
        .enumerate()
        .map(|(r, run)| aggregate::run_totals(run, r, &matched.ids))
        .collect();
    let side_seconds = |t: &[RunTotals]| mean(t.iter().map(|r| r.seconds));
    let raw_base_seconds = side_seconds(&totals[..matched.base_count]);
    let raw_head_seconds = side_seconds(&totals[matched.base_count..]);
    if settings.normalize {
        for run in &mut totals {
            scale_to(run, raw_base_seconds);
        }
    }
    let (base_totals, head_totals) = totals.split_at(matched.base_count);
    let method = choose_method(base, head, settings.resamples);
    let (base_seconds, head_seconds) = (side_seconds(base_totals), side_seconds(head_totals));
    let measure = |t: &[RunTotals], seconds: f64, f: usize| {
        let own = mean(t.iter().map(|r| r.own[f]));
        let cum = mean(t.iter().map(|r| r.cum[f]));
        Measure {
            own_seconds: own,
            cum_seconds: cum,
            own_share: share(own, seconds),
            cum_share: share(cum, seconds),
        }
    };

    // The functions shown and tested.
    let mut shown: Vec<usize> = Vec::new();
    let mut hidden = 0;
    for f in 0..matched.ids.functions.len() {
        let b = measure(base_totals, base_seconds, f);
        let h = measure(head_totals, head_seconds, f);
        if b.cum_share.max(h.cum_share) >= settings.min_share
            && (b.cum_seconds + h.cum_seconds) > 0.0
        {
            shown.push(f);
        } else if b.cum_seconds + h.cum_seconds > 0.0 {
            hidden += 1;
        }
    }

    let estimates = estimates(
        &method,
        base_totals,
        head_totals,
        &shown,
        matched.ids.functions.len(),
        settings.normalize.then_some(base_seconds),
    );
    let groups = estimates.as_ref().map(|_| {
        let values: Vec<Vec<f64>> = shown
            .iter()
            .map(|&f| totals.iter().map(|r| r.cum[f]).collect())
            .collect();
        hypotheses::same_time_groups(&matched.runs, &matched.ids, &shown, &values)
    });
    let q = estimates.as_ref().zip(groups.as_ref()).map(|(e, g)| {
        stats::grouped_benjamini_hochberg(&e.iter().map(|e| e.p).collect::<Vec<_>>(), &g.of)
    });

    let mut rows: Vec<Row> = shown
        .iter()
        .enumerate()
        .map(|(t, &f)| {
            let b = measure(base_totals, base_seconds, f);
            let h = measure(head_totals, head_seconds, f);
            let estimate = estimates.as_ref().map(|e| e[t]);
            let q = q.as_ref().map(|q| q[t]);
            let group = groups.as_ref().map(|g| g.of[t]);
            let significant = q.is_some_and(|q| q <= settings.alpha);
            let cum_change_percent = percent_change(b.cum_seconds, h.cum_seconds);
            let seen = |t: &[RunTotals]| t.iter().any(|r| r.cum_samples[f] > 0);
            let verdict = match (seen(base_totals), seen(head_totals)) {
                (false, _) => Verdict::New,
                (_, false) => Verdict::Gone,
                _ => match cum_change_percent {
                    Some(p) if significant && p >= settings.threshold => Verdict::Slower,
                    Some(p) if significant && p <= -settings.threshold => Verdict::Faster,
                    _ => Verdict::Unchanged,
                },
            };
            Row {
                function: matched.ids.functions[f].clone(),
                base: b,
                head: h,
                own_change: h.own_seconds - b.own_seconds,
                cum_change: h.cum_seconds - b.cum_seconds,
                own_change_percent: percent_change(b.own_seconds, h.own_seconds),
                cum_change_percent,
                estimate,
                q,
                group,
                significant,
                verdict,
                changed: None,
            }
        })
        .collect();
    sort_rows(&mut rows, settings.sort);

    Comparison {
        base: side(base, raw_base_seconds),
        head: side(head, raw_head_seconds),
        method,
        settings,
        rows,
        hidden,
        hypotheses: groups.map(|g| g.count),
    }
}

/// Scales a run's times so that its total is `seconds` (the `--normalize` comparison).
fn scale_to(run: &mut RunTotals, seconds: f64) {
    let k = if run.seconds > 0.0 {
        seconds / run.seconds
    } else {
        1.0
    };
    run.own
        .iter_mut()
        .chain(run.cum.iter_mut())
        .for_each(|v| *v *= k);
    run.seconds = seconds;
}

/// The interval and p-value of the cumulative change of each shown function, or `None`
/// when the method allows no test. `normalized_to`: the base's time per run when the
/// comparison is of shares (`--normalize`), the bootstrap's share estimate scaled to it.
fn estimates(
    method: &Method,
    base: &[RunTotals],
    head: &[RunTotals],
    shown: &[usize],
    functions: usize,
    normalized_to: Option<f64>,
) -> Option<Vec<Estimate>> {
    match method {
        Method::Welch => Some(
            shown
                .iter()
                .map(|&f| {
                    let values = |t: &[RunTotals]| t.iter().map(|r| r.cum[f]).collect::<Vec<_>>();
                    stats::welch(&values(base), &values(head))
                })
                .collect(),
        ),
        Method::BlockBootstrap { resamples } => {
            let mut tested = vec![None; functions];
            for (t, &f) in shown.iter().enumerate() {
                tested[f] = Some(t as u32);
            }
            let change = |value: &dyn Fn(&RunTotals, usize) -> f64, f: usize| {
                mean(head.iter().map(|r| value(r, f))) - mean(base.iter().map(|r| value(r, f)))
            };
            let observed: Vec<Observed> = shown
                .iter()
                .map(|&f| Observed {
                    seconds: change(&|r, f| r.cum[f], f),
                    share: change(&|r, f| r.cum[f] / r.seconds.max(f64::MIN_POSITIVE), f),
                })
                .collect();
            fn windows(t: &[RunTotals]) -> SideWindows<'_> {
                t.iter()
                    .map(|r| r.windows.as_deref().unwrap_or(&[]))
                    .collect()
            }
            let tested = bootstrap::block_bootstrap(
                &windows(base),
                &windows(head),
                &tested,
                &observed,
                *resamples,
            );
            Some(
                tested
                    .iter()
                    .map(|t| match normalized_to {
                        Some(seconds) => Estimate {
                            change: t.share.change * seconds,
                            low: t.share.low * seconds,
                            high: t.share.high * seconds,
                            p: t.share.p,
                        },
                        None => t.combined(),
                    })
                    .collect(),
            )
        }
        Method::None { .. } => None,
    }
}

fn sort_rows(rows: &mut [Row], sort: SortBy) {
    let key = |r: &Row| match sort {
        SortBy::Cumulative => (r.cum_change.abs(), r.own_change.abs()),
        SortBy::Own => (r.own_change.abs(), r.cum_change.abs()),
    };
    rows.sort_by(|a, b| {
        let (a1, a2) = key(a);
        let (b1, b2) = key(b);
        b1.total_cmp(&a1)
            .then(b2.total_cmp(&a2))
            .then_with(|| a.function.qualname.cmp(&b.function.qualname))
            .then_with(|| a.function.file.cmp(&b.function.file))
    });
}

fn side(runs: &[Run], seconds_per_run: f64) -> Side {
    Side {
        runs: runs
            .iter()
            .map(|r| RunInfo {
                path: r.path.clone(),
                kind: r.kind,
                command: r.command.clone(),
                python_version: r.python_version.clone(),
                samples: r.samples,
                seconds: r.seconds,
            })
            .collect(),
        seconds_per_run,
        samples_per_run: mean(runs.iter().map(|r| r.samples as f64)),
    }
}

/// The number of stretches each run of a side was cut into (bootstrap descriptions).
pub fn windows_per_run(side: &Side) -> Vec<usize> {
    side.runs
        .iter()
        .filter(|r| r.kind == InputKind::Recording)
        .map(|r| window_count(r.samples))
        .collect()
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part * 100.0 / whole
    } else {
        0.0
    }
}

fn percent_change(base: f64, head: f64) -> Option<f64> {
    (base > 0.0).then(|| (head - base) * 100.0 / base)
}
