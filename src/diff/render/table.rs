//! The terminal table of a comparison: a heading (what was compared, the time per run of
//! each side, the method), then one aligned row per function, largest change first, the
//! verdict coloured when asked (red slower, green faster, yellow new, cyan gone), and, when
//! the sides were checkouts of two git refs (`compare`), `changed` on the functions whose
//! lines the change touched.

use std::fmt::Write as _;

use crate::diff::compare::{Comparison, Verdict};
use crate::diff::wording::{
    change_percent, changed_mark, describe_counts, describe_method, describe_side, describe_total,
    interval, q_value, seconds, shown_label, signed_seconds, trim,
};

const HEADER: [&str; 12] = [
    "verdict",
    "code",
    "change",
    "change%",
    "95% CI of change",
    "q",
    "base cum",
    "head cum",
    "base own",
    "head own",
    "cum% base>head",
    "function (file:line)",
];

/// The table as text.
pub fn render(c: &Comparison, limit: Option<usize>, color: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "framescope diff: base {} vs head {}",
        describe_side(&c.base),
        describe_side(&c.head)
    );
    let _ = writeln!(
        s,
        "time per run: {}; samples per run: {:.0} -> {:.0}",
        describe_total(c),
        c.base.samples_per_run,
        c.head.samples_per_run
    );
    let _ = writeln!(s, "method: {}", describe_method(c));
    let hidden = if c.hidden > 0 {
        format!(
            "; {} functions below {}% of both profiles not shown (--min-share)",
            c.hidden,
            trim(c.settings.min_share)
        )
    } else {
        String::new()
    };
    let _ = writeln!(s, "{}{hidden}", describe_counts(c));
    let _ = writeln!(
        s,
        "change = head - base of the cumulative time per run (time with the function anywhere on the stack); own = time in the function itself"
    );
    s.push('\n');
    if c.rows.is_empty() {
        let _ = writeln!(s, "no functions to compare");
        return s;
    }

    let shown = limit.unwrap_or(usize::MAX).min(c.rows.len());
    // The `code` column (changed or not) only when the sides were checkouts (compare).
    let marked = c.rows.iter().any(|r| r.changed.is_some());
    let rows: Vec<(Verdict, [String; 12])> = c.rows[..shown]
        .iter()
        .map(|r| {
            let cells = [
                r.verdict.name().to_string(),
                changed_mark(r).to_string(),
                signed_seconds(r.cum_change),
                change_percent(r),
                interval(r),
                r.q.map(q_value).unwrap_or_default(),
                seconds(r.base.cum_seconds),
                seconds(r.head.cum_seconds),
                seconds(r.base.own_seconds),
                seconds(r.head.own_seconds),
                format!("{:.1}>{:.1}", r.base.cum_share, r.head.cum_share),
                shown_label(&r.function),
            ];
            (r.verdict, cells)
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for (_, cells) in &rows {
        for (w, cell) in widths.iter_mut().zip(cells) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |s: &mut String, cells: [&str; 12], verdict: Option<Verdict>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let padding = w.saturating_sub(cell.chars().count());
            match i {
                1 if !marked => {}
                // Verdict: left-aligned, maybe coloured.
                0 => {
                    let painted = match (color, verdict) {
                        (true, Some(v)) => paint(v, cell),
                        _ => cell.to_string(),
                    };
                    let _ = write!(l, "{painted}{}  ", " ".repeat(padding));
                }
                1 | 4 | 10 => {
                    let _ = write!(l, "{cell}{}  ", " ".repeat(padding));
                }
                11 => l.push_str(cell),
                _ => {
                    let _ = write!(l, "{}{cell}  ", " ".repeat(padding));
                }
            }
        }
        let _ = writeln!(s, "{}", l.trim_end());
    };
    line(&mut s, HEADER, None);
    for (verdict, cells) in &rows {
        line(&mut s, cells.each_ref().map(String::as_str), Some(*verdict));
    }
    if shown < c.rows.len() {
        let _ = writeln!(
            s,
            "({shown} of {} functions shown; --limit 0 shows all)",
            c.rows.len()
        );
    }
    s
}

/// The verdict in its ANSI colour.
fn paint(verdict: Verdict, text: &str) -> String {
    let code = match verdict {
        Verdict::Slower => "1;31",
        Verdict::Faster => "1;32",
        Verdict::New => "33",
        Verdict::Gone => "36",
        Verdict::Unchanged => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}
