//! The words and numbers every view of a comparison shares: function labels, durations,
//! percentages, q-values, intervals, and the sentences that describe a side and the
//! statistical method. A leaf: it reads a [`Comparison`] and depends on nothing else of
//! `diff` but its data types, so the renderers, the gate and the flamegraphs can all use
//! it without depending on each other.

use super::compare::{windows_per_run, Comparison, Method, Side, Verdict};
use super::identity::Function;
use crate::escape::visible;

/// `qualname (file:line)`, `qualname (file)`, or the bare name when no file is known.
pub fn label(f: &Function) -> String {
    match (f.file.is_empty(), f.line) {
        (true, _) => f.qualname.clone(),
        (false, Some(line)) => format!("{} ({}:{line})", f.qualname, f.file),
        (false, None) => format!("{} ({})", f.qualname, f.file),
    }
}

/// [`label`] as text outputs show it, control characters escaped (JSON keeps [`label`]).
pub fn shown_label(f: &Function) -> String {
    visible(&label(f)).into_owned()
}

/// A duration with three significant digits and a unit: `1.23 s`, `41.2 ms`, `512 µs`.
pub fn seconds(v: f64) -> String {
    let a = v.abs();
    let (value, unit) = if a == 0.0 {
        return "0 s".into();
    } else if a >= 1.0 {
        (v, "s")
    } else if a >= 1e-3 {
        (v * 1e3, "ms")
    } else {
        (v * 1e6, "µs")
    };
    let digits = match value.abs() {
        x if x >= 100.0 => 0,
        x if x >= 10.0 => 1,
        _ => 2,
    };
    format!("{value:.digits$} {unit}")
}

/// [`seconds`] with a sign.
pub fn signed_seconds(v: f64) -> String {
    if v > 0.0 {
        format!("+{}", seconds(v))
    } else {
        seconds(v)
    }
}

/// A signed percentage: `+312%`, `-4.2%`.
pub fn signed_percent(p: f64) -> String {
    if p.is_infinite() {
        return "new".into();
    }
    if p.abs() >= 100.0 {
        format!("{p:+.0}%")
    } else {
        format!("{p:+.1}%")
    }
}

/// A q- or p-value: four decimals, or `<0.0001`.
pub fn q_value(q: f64) -> String {
    if q < 1e-4 {
        "<0.0001".into()
    } else {
        format!("{q:.4}")
    }
}

/// The interval of a change, `+1.21 s .. +1.35 s`, or empty without a test.
pub fn interval(comparison_row: &super::compare::Row) -> String {
    comparison_row
        .estimate
        .map(|e| format!("{} .. {}", signed_seconds(e.low), signed_seconds(e.high)))
        .unwrap_or_default()
}

/// `changed` when the change between the sides touched the function's lines, else empty.
pub fn changed_mark(row: &super::compare::Row) -> &'static str {
    if row.changed == Some(true) {
        "changed"
    } else {
        ""
    }
}

/// The percentage change of a row, or `new` / `gone` / empty.
pub fn change_percent(row: &super::compare::Row) -> String {
    match (row.verdict, row.cum_change_percent) {
        (Verdict::New, _) => "new".into(),
        (_, Some(p)) => signed_percent(p),
        (_, None) => String::new(),
    }
}

/// A side in a few words: `3 runs of `python bench.py` (CPython 3.12.1)`, control
/// characters escaped (paths and versions come from files).
pub fn describe_side(side: &Side) -> String {
    visible(&describe_side_raw(side)).into_owned()
}

fn describe_side_raw(side: &Side) -> String {
    let runs = match side.runs.len() {
        1 => side.runs[0].path.display().to_string(),
        n => format!("{n} runs"),
    };
    let mut versions: Vec<&str> = side
        .runs
        .iter()
        .filter_map(|r| r.python_version.as_deref())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    if versions.is_empty() {
        runs
    } else {
        format!("{runs} (CPython {})", versions.join(", "))
    }
}

/// The method, its settings and what a verdict needs, in one paragraph.
pub fn describe_method(c: &Comparison) -> String {
    let s = &c.settings;
    let tested = c.rows.len();
    let hypotheses = match c.hypotheses {
        Some(h) if h < tested => format!(
            "{h} hypotheses: the {tested} functions shown, nested ones that carry the same time counted once"
        ),
        _ => format!("the {tested} functions shown"),
    };
    let rules = format!(
        "95% confidence intervals; Benjamini-Hochberg q <= {} across {hypotheses}; slower or faster needs a change of at least {}%",
        s.alpha,
        trim(s.threshold)
    );
    let normalized = if s.normalize {
        "; compared as shares of each run's time, every run scaled to the base's time per run (--normalize)"
    } else {
        ""
    };
    let clock = format!(
        "; every time is {} (--clock {})",
        s.clock.describe(),
        s.clock.name()
    );
    let text = match &c.method {
        Method::Welch => format!(
            "Welch's t-test on the cumulative time of each run ({} base, {} head runs){normalized}; {rules}",
            c.base.runs.len(),
            c.head.runs.len()
        ),
        Method::BlockBootstrap { resamples } => {
            let windows = |side: &Side| {
                let w = windows_per_run(side);
                let (low, high) = (w.iter().min().copied(), w.iter().max().copied());
                match (low, high) {
                    (Some(l), Some(h)) if l != h => format!("{l}-{h}"),
                    (Some(l), _) => l.to_string(),
                    _ => "0".into(),
                }
            };
            let single = if s.normalize {
                normalized.trim_start_matches("; ").to_string()
            } else {
                "a change counts when it is significant both in seconds per run and as a share of the run, \
                 since a single run cannot show how much whole runs vary"
                    .to_string()
            };
            format!(
                "block bootstrap ({resamples} resamples of each run's stretches of time, kept whole and in order: {} per base run, {} per head run; the interval covers the noise within runs, not between runs); {single}; {rules}",
                windows(&c.base),
                windows(&c.head)
            )
        }
        Method::None { why } => format!(
            "no significance test ({why}){normalized}; changes are shown without intervals, and no function is called slower or faster"
        ),
    };
    text + &clock
}

/// The method in a few words, for the gate's sentences.
pub fn describe_method_short(c: &Comparison) -> String {
    match &c.method {
        Method::Welch => format!(
            "Welch's t-test, {} vs {} runs",
            c.base.runs.len(),
            c.head.runs.len()
        ),
        Method::BlockBootstrap { .. } => "block bootstrap".into(),
        Method::None { .. } => "no test".into(),
    }
}

/// The verdict counts in words: `2 slower, 1 faster, 30 unchanged`.
pub fn describe_counts(c: &Comparison) -> String {
    let parts: Vec<String> = c
        .counts()
        .iter()
        .filter(|(v, n)| *n > 0 || matches!(v, Verdict::Slower | Verdict::Faster))
        .map(|(v, n)| format!("{n} {}", v.name()))
        .collect();
    parts.join(", ")
}

/// The change of the time per run of the whole profile: `2.41 s -> 1.00 s (-58.4%)`.
pub fn describe_total(c: &Comparison) -> String {
    let (b, h) = (c.base.seconds_per_run, c.head.seconds_per_run);
    let pct = if b > 0.0 {
        format!(" ({})", signed_percent((h - b) * 100.0 / b))
    } else {
        String::new()
    };
    format!("{} -> {}{pct}", seconds(b), seconds(h))
}

/// `5` for 5.0, `0.5` for 0.5.
pub fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_keep_three_digits() {
        assert_eq!(seconds(1.2345), "1.23 s");
        assert_eq!(seconds(12.345), "12.3 s");
        assert_eq!(seconds(0.0412), "41.2 ms");
        assert_eq!(seconds(0.000_512), "512 µs");
        assert_eq!(seconds(0.0), "0 s");
        assert_eq!(signed_seconds(-0.5), "-500 ms");
        assert_eq!(signed_seconds(2.0), "+2.00 s");
        assert_eq!(signed_percent(312.4), "+312%");
        assert_eq!(signed_percent(-4.25), "-4.2%");
        assert_eq!(q_value(0.00001), "<0.0001");
        assert_eq!(trim(5.0), "5");
        assert_eq!(trim(0.5), "0.5");
    }
}
