//! The CI gate of `--fail-on-regression PCT`: which functions make it fail, and the plain
//! sentence that says why for each. A function fails the gate when its cumulative time per
//! run grew by more than PCT percent and the growth is significant (its Benjamini-Hochberg
//! q-value is at most α). Functions seen only in the head runs are left to their callers:
//! a renamed function would otherwise fail every gate, while real new work also grows the
//! cumulative time of the functions that call it. Nothing is printed when the gate passes.

use super::compare::{Comparison, Row};
use super::render::{
    describe_method_short, q_value, seconds, shown_label, signed_percent, signed_seconds, trim,
};

/// The rows that fail a gate of `percent`.
pub fn offenders(comparison: &Comparison, percent: f64) -> Vec<&Row> {
    comparison
        .rows
        .iter()
        .filter(|r| {
            r.significant
                && r.base.cum_seconds > 0.0
                && r.cum_change > 0.0
                && r.cum_change_percent.is_some_and(|p| p > percent)
        })
        .collect()
}

/// One sentence about a failing function.
pub fn sentence(comparison: &Comparison, row: &Row, percent: f64) -> String {
    let grew = row.cum_change_percent.unwrap_or(f64::INFINITY);
    let interval = row
        .estimate
        .map(|e| {
            format!(
                "; 95% CI of the change {} to {}",
                signed_seconds(e.low),
                signed_seconds(e.high)
            )
        })
        .unwrap_or_default();
    format!(
        "{} got slower: its cumulative time per run grew by {} ({} -> {}, {}{}; q = {}, {}), more than the {}% allowed",
        shown_label(&row.function),
        signed_percent(grew).trim_start_matches('+'),
        seconds(row.base.cum_seconds),
        seconds(row.head.cum_seconds),
        signed_seconds(row.cum_change),
        interval,
        row.q.map(q_value).unwrap_or_else(|| "n/a".into()),
        describe_method_short(comparison),
        trim(percent),
    )
}
