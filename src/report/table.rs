//! The cProfile-shaped table for sampled data: per function (or per line), the samples in
//! the function itself and with it anywhere on the stack, their shares, and the time they
//! stand for. [`tables`] gives the rows as data; [`render`] writes them as aligned text.

use std::fmt::Write as _;
use std::io::Write;

use super::profile::{tally_functions, Functions, Group, Profile, ViewOptions};
use super::{write_error, RenderOptions};
use crate::error::Result;
use crate::escape::visible;
use crate::limits;
use crate::recording::Recording;

/// The column a table is sorted by, largest first (names alphabetically).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Sort {
    /// Time with the function anywhere on the stack.
    #[default]
    #[value(name = "cumtime", alias = "cumulative")]
    CumTime,
    /// Time in the function itself.
    #[value(name = "tottime", alias = "time")]
    TotTime,
    /// Samples in the function itself (like tottime, counted rather than timed).
    #[value(alias = "own")]
    Samples,
    /// Function name, then file and line.
    Name,
}

/// One function (or line) of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRow {
    /// The qualified name.
    pub function: String,
    pub file: String,
    /// The `def` line, or in per-line tables the line itself.
    pub line: u32,
    /// Samples with this function innermost (running its own code).
    pub own_samples: u64,
    /// Samples with this function anywhere on the stack, counted once however deep it recurses.
    pub total_samples: u64,
    pub own_percent: f64,
    pub total_percent: f64,
    /// Seconds estimated for `own_samples`.
    pub tottime: f64,
    /// Seconds estimated for `total_samples`.
    pub cumtime: f64,
}

/// The table of one thread, or of all threads together.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The thread's label when threads are kept apart.
    pub thread: Option<String>,
    pub samples: u64,
    pub seconds: f64,
    /// Functions seen, before `limit` cut the rows.
    pub functions: usize,
    pub rows: Vec<TableRow>,
}

/// The tables of a profile: one, or one per thread when the view keeps threads apart.
pub fn tables(rec: &Recording, profile: &Profile, options: &RenderOptions) -> Vec<Table> {
    let functions = Functions::new(rec, options.lines);
    profile
        .groups
        .iter()
        .map(|group| group_table(rec, &functions, group, options))
        .collect()
}

fn group_table(
    rec: &Recording,
    functions: &Functions,
    group: &Group,
    options: &RenderOptions,
) -> Table {
    let stacks = group.stacks.iter().map(|t| {
        let path = limits::stack_frames(rec, t.stack).map(|f| functions.of(f));
        (path, t.samples, t.seconds)
    });
    let tallies = tally_functions(functions.keys.len(), stacks);
    let percent = |n: u64| {
        if group.samples == 0 {
            0.0
        } else {
            n as f64 * 100.0 / group.samples as f64
        }
    };
    let mut rows: Vec<TableRow> = tallies
        .iter()
        .enumerate()
        .filter(|(_, t)| t.total_samples > 0)
        .map(|(f, t)| {
            let key = &functions.keys[f];
            TableRow {
                function: rec.string(key.qualname).to_string(),
                file: rec.string(key.filename).to_string(),
                line: key.shown_line(),
                own_samples: t.own_samples,
                total_samples: t.total_samples,
                own_percent: percent(t.own_samples),
                total_percent: percent(t.total_samples),
                tottime: t.own_seconds,
                cumtime: t.total_seconds,
            }
        })
        .collect();
    sort_rows(&mut rows, options.sort);
    let functions_seen = rows.len();
    // 0 means every row, as in `diff --limit 0`.
    if let Some(limit) = options.limit.filter(|&l| l > 0) {
        rows.truncate(limit);
    }
    Table {
        thread: Some(group.labels(rec).join(" / ")).filter(|l| !l.is_empty()),
        samples: group.samples,
        seconds: group.seconds,
        functions: functions_seen,
        rows,
    }
}

fn sort_rows(rows: &mut [TableRow], sort: Sort) {
    let by_name = |a: &TableRow, b: &TableRow| {
        (&a.function, &a.file, a.line).cmp(&(&b.function, &b.file, b.line))
    };
    rows.sort_by(|a, b| {
        let primary = match sort {
            Sort::CumTime => b
                .cumtime
                .total_cmp(&a.cumtime)
                .then(b.total_samples.cmp(&a.total_samples)),
            Sort::TotTime => b
                .tottime
                .total_cmp(&a.tottime)
                .then(b.own_samples.cmp(&a.own_samples)),
            Sort::Samples => b
                .own_samples
                .cmp(&a.own_samples)
                .then(b.total_samples.cmp(&a.total_samples)),
            Sort::Name => std::cmp::Ordering::Equal,
        };
        primary.then_with(|| by_name(a, b))
    });
}

pub(crate) const LEGEND: &str = "\
own      samples running the function's own code (it was the innermost frame)
total    samples with the function anywhere on the stack (recursion counted once)
own%     own as a share of the samples shown; total% likewise
tottime  seconds the own samples stand for on the clock named above; cumtime likewise";

/// Writes the profile of `rec` as text tables.
pub fn render(
    rec: &Recording,
    view: &ViewOptions,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let profile = Profile::build(rec, view);
    let text = text(rec, &profile, &tables(rec, &profile, options), view);
    out.write_all(text.as_bytes()).map_err(write_error)
}

/// The whole text report: a heading about the recording, then each table.
fn text(rec: &Recording, profile: &Profile, tables: &[Table], view: &ViewOptions) -> String {
    let mut s = String::new();
    let meta = &rec.meta;
    let subject = super::subject(rec, view);
    let _ = writeln!(
        s,
        "framescope profile of `{}` (pid {}, CPython {}, {} Hz{})",
        visible(&subject.command_line),
        subject.pid,
        if subject.python_version.is_empty() {
            "?".into()
        } else {
            visible(&subject.python_version)
        },
        meta.rate_hz,
        if meta.blocking {
            ", target paused for each sample"
        } else {
            ""
        },
    );
    let _ = writeln!(
        s,
        "{} samples, {} s of {} (--clock {}){}",
        profile.samples,
        secs(profile.seconds),
        profile.clock.describe(),
        profile.clock.name(),
        left_out(profile)
    );
    if let Some(why) = &rec.truncation {
        let _ = writeln!(
            s,
            "warning: the recording is incomplete ({}); shown is what came before",
            visible(why)
        );
    }
    if rec.has_processes() {
        let how = if view.per_process {
            "one table each"
        } else {
            "merged by function; --processes keeps them apart"
        };
        let _ = writeln!(s, "{} processes ({how})", rec.processes.len());
    }
    if let Some(pid) = view.process_filter {
        let _ = writeln!(s, "process {pid} only");
    }
    if let Some(thread) = view.thread_filter {
        let _ = writeln!(s, "thread {thread} only");
    }
    let _ = writeln!(s, "{LEGEND}");
    for table in tables {
        s.push('\n');
        if let Some(thread) = &table.thread {
            let _ = writeln!(
                s,
                "== {}: {} samples, {} s",
                visible(thread),
                table.samples,
                secs(table.seconds)
            );
        }
        write_rows(&mut s, table);
    }
    if tables.is_empty() || profile.samples == 0 {
        let _ = writeln!(s, "\nno samples to show");
    }
    s
}

fn left_out(profile: &Profile) -> String {
    let l = &profile.left_out;
    let parts: Vec<String> = [
        (l.idle, "idle (not running)"),
        (l.without_gil, "without the GIL"),
        (l.errors, "with unreadable stacks"),
        (l.empty, "with no Python frames"),
        (l.other_threads, "of other threads"),
        (l.other_processes, "of other processes"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, why)| format!("{n} {why}"))
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("; left out: {}", parts.join(", "))
    }
}

/// Seconds with three decimals; an empty sum (IEEE's -0.0) shows as 0.000.
fn secs(v: f64) -> String {
    format!("{:.3}", v + 0.0)
}

/// The rows as aligned text; names and files with control characters escaped.
fn write_rows(s: &mut String, table: &Table) {
    const HEADER: [&str; 7] = [
        "own",
        "total",
        "own%",
        "total%",
        "tottime",
        "cumtime",
        "function (file:line)",
    ];
    let cells: Vec<[String; 7]> = table
        .rows
        .iter()
        .map(|r| {
            [
                r.own_samples.to_string(),
                r.total_samples.to_string(),
                format!("{:.2}%", r.own_percent),
                format!("{:.2}%", r.total_percent),
                secs(r.tottime),
                secs(r.cumtime),
                match r.line {
                    0 => format!("{} ({})", visible(&r.function), visible(&r.file)),
                    line => format!("{} ({}:{line})", visible(&r.function), visible(&r.file)),
                },
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cols: [&str; 7]| {
        let mut l = String::new();
        for (i, (cell, w)) in cols.iter().zip(widths).enumerate() {
            if i == 6 {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:>w$}  ");
            }
        }
        let _ = writeln!(s, "{}", l.trim_end());
    };
    line(HEADER);
    for row in &cells {
        line(row.each_ref().map(String::as_str));
    }
    if table.rows.len() < table.functions {
        let _ = writeln!(
            s,
            "({} of {} functions shown)",
            table.rows.len(),
            table.functions
        );
    }
}
