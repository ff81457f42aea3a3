//! What `top` shows: the header (target, rate achieved, samples, errors, what the rows
//! are) and the rows, drawn on a terminal with ratatui, or written as a plain-text
//! snapshot when standard output is not a terminal. Every name from the target is escaped
//! (src/escape.rs) before it is shown either way.

use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row as TableRow, Table};
use ratatui::Frame;

use super::keys::{Screen, HELP};
use super::model::{Row, Scope, Session, SortColumn, View};
use crate::escape::visible;

/// What the header says about the target; fixed for the session.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub pid: u32,
    pub python_version: String,
    /// Its command line, as read (escaped when shown).
    pub command: Vec<String>,
    /// The rate asked for.
    pub rate_hz: f64,
    /// Every Python process of the tree is sampled (the header counts them).
    pub subprocesses: bool,
}

/// Whether sampling goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Sampling,
    /// Sampling ended (the target exited, say); why.
    Ended(String),
}

/// The header's lines.
pub fn header(target: &Target, session: &Session, screen: &Screen, status: &Status) -> Vec<String> {
    let whole = session.whole();
    let last = session.window(Scope::LastWindow);
    let command = visible(&target.command.join(" ")).into_owned();
    let command = if command.is_empty() { "?" } else { &command };
    let first = if target.subprocesses {
        tree_title(target, session, command)
    } else {
        format!(
            "framescope top · pid {} · CPython {} · {command}",
            target.pid,
            visible(&target.python_version),
        )
    };
    let mut lines = vec![
        first,
        format!(
            "rate {:.0}/s (asked {}) · samples {} · errors {} · missed {} · {:.0} s",
            last.rate(),
            target.rate_hz,
            whole.ticks,
            whole.errors,
            whole.missed,
            whole.end_ns as f64 * 1e-9
        ),
        describe(&screen.view, session),
    ];
    let mut notes = Vec::new();
    if screen.paused {
        notes.push("PAUSED (sampling goes on; p resumes)".to_string());
    }
    if let Status::Ended(why) = status {
        notes.push(format!("sampling ended: {}", visible(why)));
    }
    if !notes.is_empty() {
        lines.push(notes.join(" · "));
    }
    lines
}

/// The first line with `--subprocesses`: the root, how many Python processes were sampled
/// (and how many still are), their CPython versions and the root's command.
fn tree_title(target: &Target, session: &Session, command: &str) -> String {
    let (count, running) = session.process_count();
    let mut versions: Vec<&str> = Vec::new();
    for p in &session.processes {
        if !versions.contains(&p.python_version.as_str()) {
            versions.push(&p.python_version);
        }
    }
    if versions.is_empty() {
        versions.push(&target.python_version);
    }
    versions.sort_unstable();
    format!(
        "framescope top --subprocesses · pid {} · {} Python process{} ({running} running) · CPython {} · {command}",
        target.pid,
        count,
        if count == 1 { "" } else { "es" },
        visible(&versions.join(", ")),
    )
}

/// One line saying what the rows are.
fn describe(view: &View, session: &Session) -> String {
    let scope = match view.scope {
        Scope::LastWindow => "last second",
        Scope::Session => "whole session",
    };
    let samples = if view.idle {
        "all samples"
    } else {
        "on-CPU samples"
    };
    let rows = match (view.per_thread, view.lines) {
        (false, false) => "by function",
        (false, true) => "by line",
        (true, false) => "by thread and function",
        (true, true) => "by thread and line",
    };
    let thread = match view.thread {
        Some(id) => match session.threads.iter().find(|t| t.is(id)) {
            Some(t) => format!("thread {}", visible(&t.label())),
            None => format!("thread {id} (not seen)"),
        },
        None => "all threads".to_string(),
    };
    let process = match view.process {
        Some(pid) => match session.process(pid) {
            Some(p) => format!(
                " · process {pid} ({})",
                visible(&p.command.join(" "))
                    .chars()
                    .take(60)
                    .collect::<String>()
            ),
            None => format!(" · process {pid}"),
        },
        None => String::new(),
    };
    format!(
        "{scope} · {} · {samples} · {rows} · {thread}{process} · sorted by {} {} · h: help",
        view.clock.describe(),
        view.sort.name(),
        arrow(view)
    )
}

fn arrow(view: &View) -> &'static str {
    let names = matches!(view.sort, SortColumn::Function | SortColumn::Thread);
    if names != view.reversed {
        "▲"
    } else {
        "▼"
    }
}

/// The column titles (the thread column only in per-thread views).
fn titles(view: &View) -> Vec<String> {
    let mut cols = vec![
        (SortColumn::OwnPct, "own%"),
        (SortColumn::TotalPct, "total%"),
        (SortColumn::OwnTime, "own s"),
        (SortColumn::TotalTime, "total s"),
    ];
    if view.per_thread {
        cols.push((SortColumn::Thread, "thread"));
    }
    cols.push((SortColumn::Function, "function (file:line)"));
    cols.into_iter()
        .map(|(c, name)| {
            if c == view.sort {
                format!("{name}{}", arrow(view))
            } else {
                name.to_string()
            }
        })
        .collect()
}

/// A row's cells, escaped.
fn cells(row: &Row, view: &View, session: &Session) -> Vec<String> {
    let mut cells = vec![
        format!("{:.1}", row.own_pct),
        format!("{:.1}", row.total_pct),
        seconds(row.own_seconds),
        seconds(row.total_seconds),
    ];
    if view.per_thread {
        let thread = row
            .thread
            .and_then(|t| session.threads.get(t as usize))
            .map(|t| t.label())
            .unwrap_or_default();
        cells.push(visible(&thread).into_owned());
    }
    cells.push(visible(&row.label).into_owned());
    cells
}

fn seconds(s: f64) -> String {
    if s < 100.0 {
        format!("{s:.3}")
    } else {
        format!("{s:.1}")
    }
}

/// Numbers right-aligned in these widths; the thread column padded to this.
const WIDTHS: [usize; 4] = [6, 6, 8, 8];
const THREAD_WIDTH: usize = 24;

/// A plain-text snapshot: the header, the column titles and at most `limit` rows (all
/// when 0), then an empty line.
pub fn plain(
    target: &Target,
    session: &Session,
    screen: &Screen,
    status: &Status,
    limit: usize,
) -> String {
    let mut out = String::new();
    for line in header(target, session, screen, status) {
        out.push_str(&line);
        out.push('\n');
    }
    let table = session.table(&screen.view);
    out.push_str(&plain_line(&titles(&screen.view)));
    let shown = if limit == 0 { usize::MAX } else { limit };
    for row in table.rows.iter().take(shown) {
        out.push_str(&plain_line(&cells(row, &screen.view, session)));
    }
    if table.rows.len() > shown {
        out.push_str(&format!("({} more rows)\n", table.rows.len() - shown));
    }
    out.push('\n');
    out
}

fn plain_line(cells: &[String]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let last = i + 1 == cells.len();
        match WIDTHS.get(i) {
            Some(&w) => line.push_str(&format!("{cell:>w$}  ")),
            None if last => line.push_str(cell),
            None => line.push_str(&format!("{cell:<THREAD_WIDTH$}  ")),
        }
    }
    line.push('\n');
    line
}

/// Draws the whole screen.
pub fn draw(
    frame: &mut Frame,
    target: &Target,
    session: &Session,
    screen: &mut Screen,
    status: &Status,
) {
    let head = header(target, session, screen, status);
    let [top, body] = Layout::vertical([Constraint::Length(head.len() as u16), Constraint::Min(0)])
        .areas(frame.area());
    let lines: Vec<Line> = head.into_iter().map(Line::from).collect();
    frame.render_widget(Paragraph::new(lines), top);

    let view = &screen.view;
    let table = session.table(view);
    // Room for the title row.
    let room = body.height.saturating_sub(1) as usize;
    screen.scroll = screen
        .scroll
        .min(table.rows.len().saturating_sub(room.max(1)));
    let rows: Vec<TableRow> = table
        .rows
        .iter()
        .skip(screen.scroll)
        .take(room)
        .map(|r| {
            TableRow::new(
                cells(r, view, session)
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| {
                        // Numbers right-aligned, names as they are.
                        let line = Line::from(c);
                        Cell::from(if i < WIDTHS.len() {
                            line.alignment(Alignment::Right)
                        } else {
                            line
                        })
                    }),
            )
        })
        .collect();
    let mut widths: Vec<Constraint> = WIDTHS
        .iter()
        .map(|&w| Constraint::Length(w as u16 + 1))
        .collect();
    if view.per_thread {
        widths.push(Constraint::Length(THREAD_WIDTH as u16));
    }
    widths.push(Constraint::Min(10));
    let titles = TableRow::new(titles(view).into_iter().map(Cell::from).collect::<Vec<_>>())
        .style(Style::default().add_modifier(Modifier::REVERSED));
    let widget = Table::new(rows, widths).header(titles).column_spacing(1);
    frame.render_widget(widget, body);

    if screen.help {
        draw_help(frame, frame.area());
    }
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let width = HELP
        .iter()
        .map(|(_, what)| what.chars().count())
        .max()
        .unwrap_or(20) as u16
        + 18
        + 2
        + 2;
    let height = HELP.len() as u16 + 2;
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| Line::from(format!("{k:>18}  {what}")))
        .collect();
    frame.render_widget(Clear, cell);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")),
        cell,
    );
}
