//! The CI gate of `--fail-on-regression PCT`: which functions make it fail, and the plain
//! sentence that says why for each. A function fails the gate when its cumulative time per
//! run grew by more than PCT percent and the growth is significant (its Benjamini-Hochberg
//! q-value is at most α). Functions seen only in the head runs are left to their callers:
//! a renamed function would otherwise fail every gate, while real new work also grows the
//! cumulative time of the functions that call it. Nothing is printed when the gate passes.
//!
//! A failing gate names the cause first: the offenders whose own time grew (most of their
//! growth), or that have no offender below them on any stack, each in a sentence; the
//! callers that only carried that growth follow in one line, innermost first.

use std::collections::{HashMap, HashSet};

use super::compare::{Comparison, Matched, Row};
use super::wording::{
    describe_method_short, q_value, seconds, shown_label, signed_percent, signed_seconds, trim,
};

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

/// The offenders of a failed gate, split into causes and the callers that grew with them.
#[derive(Debug, Default)]
pub struct Verdict<'a> {
    /// The functions that got slower themselves, largest change first.
    pub causes: Vec<&'a Row>,
    /// Offenders that grew only because an offender below them did, innermost first.
    pub callers: Vec<&'a Row>,
}

impl Verdict<'_> {
    pub fn passed(&self) -> bool {
        self.causes.is_empty() && self.callers.is_empty()
    }
}

/// The gate's verdict on `comparison`, offenders related through the stacks of `matched`.
pub fn verdict<'a>(comparison: &'a Comparison, matched: &Matched<'_>, percent: f64) -> Verdict<'a> {
    let offenders = comparison.offenders(percent);
    let ids: HashMap<&super::identity::Function, u32> =
        matched.ids.functions.iter().zip(0..).collect();
    let offending: HashSet<u32> = offenders
        .iter()
        .filter_map(|r| ids.get(&r.function).copied())
        .collect();
    // (caller, callee) pairs of offenders where the callee is below the caller on a stack.
    let mut below: HashSet<(u32, u32)> = HashSet::new();
    for (r, run) in matched.runs.iter().enumerate() {
        let global = &matched.ids.of_run[r];
        for stack in &run.stacks {
            // Innermost first: everything before an offender is below it.
            let path: Vec<u32> = stack
                .iter()
                .map(|&local| global[local as usize])
                .filter(|id| offending.contains(id))
                .collect();
            for (i, &outer) in path.iter().enumerate() {
                for &inner in &path[..i] {
                    if inner != outer {
                        below.insert((outer, inner));
                    }
                }
            }
        }
    }
    fold(
        offenders,
        &|caller, callee| match (ids.get(&caller.function), ids.get(&callee.function)) {
            (Some(&a), Some(&b)) => below.contains(&(a, b)),
            _ => false,
        },
    )
}

/// Splits `offenders` into causes and callers; `calls(a, b)`: `b` was seen below `a`.
pub fn fold<'a>(offenders: Vec<&'a Row>, calls: &dyn Fn(&Row, &Row) -> bool) -> Verdict<'a> {
    let callees = |o: &Row| {
        offenders
            .iter()
            .filter(|x| !std::ptr::eq(**x, o) && calls(o, x))
            .count()
    };
    let (mut causes, mut callers): (Vec<&Row>, Vec<&Row>) = offenders
        .iter()
        .partition(|o| callees(o) == 0 || o.own_change >= 0.5 * o.cum_change);
    if causes.is_empty() {
        // Offenders that all call each other (mutual recursion): no one to blame first.
        std::mem::swap(&mut causes, &mut callers);
    }
    // Fewer offenders below: deeper in the stack.
    callers.sort_by_key(|o| callees(o));
    Verdict { causes, callers }
}

/// The lines a failed gate prints: one sentence per cause, then the callers in one line.
pub fn lines(comparison: &Comparison, verdict: &Verdict<'_>, percent: f64) -> Vec<String> {
    let mut lines: Vec<String> = verdict
        .causes
        .iter()
        .map(|row| {
            let mut s = sentence(comparison, row, percent);
            if row.own_change > 0.0 && row.own_change >= 0.5 * row.cum_change {
                s += &format!(
                    "; its own time grew by {}",
                    signed_seconds(row.own_change).trim_start_matches('+')
                );
            }
            if row.changed == Some(true) {
                s += "; its code changed";
            }
            s
        })
        .collect();
    if !verdict.callers.is_empty() {
        let names: Vec<String> = verdict
            .callers
            .iter()
            .map(|r| {
                let changed = if r.changed == Some(true) {
                    " (code changed)"
                } else {
                    ""
                };
                format!("{}{changed}", shown_label(&r.function))
            })
            .collect();
        lines.push(format!(
            "callers that got slower by more than {}% only with {}: {}",
            trim(percent),
            if verdict.causes.len() == 1 {
                "it"
            } else {
                "them"
            },
            names.join(", ")
        ));
    }
    lines
}
