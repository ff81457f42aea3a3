//! The comparison as compact GitHub-flavoured markdown for a pull-request comment: a summary
//! line, the method in small print, then the top regressions, the top improvements and the
//! functions that appeared or disappeared, each as a short table. Under `compare`, a
//! function whose lines the change between the refs touched is marked `changed`.

use std::fmt::Write as _;

use crate::diff::compare::{Comparison, Row, Verdict};
use crate::diff::wording::{
    change_percent, describe_counts, describe_method, describe_side, describe_total, interval,
    q_value, seconds, shown_label, signed_seconds,
};

/// The markdown text; `limit` caps each section.
pub fn render(c: &Comparison, limit: Option<usize>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "**framescope diff**: {} · time per run {}",
        describe_counts(c),
        describe_total(c)
    );
    s.push('\n');
    let _ = writeln!(
        s,
        "<sub>base {} · head {} · {}</sub>",
        escape(&describe_side(&c.base)),
        escape(&describe_side(&c.head)),
        escape(&describe_method(c))
    );
    let limit = limit.unwrap_or(usize::MAX);
    let sections: [(&str, &[Verdict]); 3] = [
        ("Regressions", &[Verdict::Slower]),
        ("Improvements", &[Verdict::Faster]),
        ("New and gone", &[Verdict::New, Verdict::Gone]),
    ];
    for (title, verdicts) in sections {
        let rows: Vec<&Row> = c
            .rows
            .iter()
            .filter(|r| verdicts.contains(&r.verdict))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n#### {title}\n");
        let _ = writeln!(
            s,
            "| function | base cum | head cum | change | 95% CI | q |\n|---|---:|---:|---:|---|---:|"
        );
        for r in rows.iter().take(limit) {
            let mut what = match r.verdict {
                Verdict::New | Verdict::Gone => format!(" ({})", r.verdict.name()),
                _ => String::new(),
            };
            if r.changed == Some(true) {
                what += " changed";
            }
            let _ = writeln!(
                s,
                "| {}{what} | {} | {} | {} ({}) | {} | {} |",
                code(&shown_label(&r.function)),
                seconds(r.base.cum_seconds),
                seconds(r.head.cum_seconds),
                signed_seconds(r.cum_change),
                change_percent(r),
                interval(r),
                r.q.map(q_value).unwrap_or_default(),
            );
        }
        if rows.len() > limit {
            let _ = writeln!(s, "\n<sub>{} more not shown</sub>", rows.len() - limit);
        }
    }
    if c.rows.iter().all(|r| r.verdict == Verdict::Unchanged) {
        let _ = writeln!(s, "\nNo significant change.");
    }
    s
}

/// Text as inline code that cannot break the table: backticks and pipes replaced.
fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'").replace('|', "\\|"))
}

/// Text that cannot start markup or break a table.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '|' | '*' | '_' | '`' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(ch),
        }
    }
    out
}
