//! The keys of `top`'s terminal view and what each does to the [`Screen`] state: sorting,
//! the window shown, pause, idle threads, per-thread and per-line rows, the thread and
//! process filters, the clock, scrolling and the help overlay. No terminal here: a key in,
//! a state change out, so every binding is unit-tested.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::model::{Scope, Session, SortColumn, View};
use crate::report::profile::Clock;

/// What the display shows besides the rows' view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Screen {
    pub view: View,
    /// The display is frozen (sampling goes on).
    pub paused: bool,
    pub help: bool,
    /// Rows scrolled past.
    pub scroll: usize,
}

/// What the loop does after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    Nothing,
    Redraw,
    Quit,
}

/// The help overlay's lines: key, then what it does.
pub const HELP: &[(&str, &str)] = &[
    ("1 2 3 4", "sort by own%, total%, own time, total time"),
    ("5 6", "sort by function name, by thread"),
    ("same again / r", "reverse the order"),
    ("w", "last second / whole session"),
    ("p, space", "pause the display (sampling goes on)"),
    ("i", "show idle threads (default: only on-CPU samples)"),
    ("t", "one row per thread and function"),
    ("l", "one row per line instead of per function"),
    ("f / F", "filter: next thread / all threads"),
    ("P", "filter: next process / all (with --subprocesses)"),
    ("c", "clock: CPU time / wall time"),
    ("↑ ↓ PgUp PgDn Home", "scroll"),
    ("h, ?", "this help (any key closes it)"),
    ("q, Ctrl-C", "quit (the target keeps running)"),
];

impl Screen {
    /// Applies `key`; `session` tells which threads and processes the filters cycle through.
    pub fn on_key(&mut self, key: KeyEvent, session: &mut Session) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::Nothing;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
            return Action::Quit;
        }
        if self.help {
            self.help = false;
            return match key.code {
                KeyCode::Char('q') => Action::Quit,
                _ => Action::Redraw,
            };
        }
        let view = &mut self.view;
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char(c @ '1'..='6') => {
                let column = match c {
                    '1' => SortColumn::OwnPct,
                    '2' => SortColumn::TotalPct,
                    '3' => SortColumn::OwnTime,
                    '4' => SortColumn::TotalTime,
                    '5' => SortColumn::Function,
                    _ => SortColumn::Thread,
                };
                if view.sort == column {
                    view.reversed = !view.reversed;
                } else {
                    view.sort = column;
                    view.reversed = false;
                }
                self.scroll = 0;
            }
            KeyCode::Char('r') => view.reversed = !view.reversed,
            KeyCode::Char('w') => {
                view.scope = match view.scope {
                    Scope::LastWindow => Scope::Session,
                    Scope::Session => Scope::LastWindow,
                }
            }
            KeyCode::Char('p') | KeyCode::Char(' ') => {
                self.paused = !self.paused;
                session.set_frozen(self.paused);
            }
            KeyCode::Char('i') => view.idle = !view.idle,
            KeyCode::Char('t') => view.per_thread = !view.per_thread,
            KeyCode::Char('l') => view.lines = !view.lines,
            KeyCode::Char('c') => {
                view.clock = match view.clock {
                    Clock::Cpu => Clock::Wall,
                    Clock::Wall => Clock::Cpu,
                }
            }
            KeyCode::Char('f') => {
                let threads = &session.threads;
                let at = view
                    .thread
                    .and_then(|id| threads.iter().position(|t| t.is(id)));
                let next = match at {
                    None => threads.first(),
                    Some(i) => threads.get(i + 1),
                };
                view.thread = next.map(|t| t.id());
                self.scroll = 0;
            }
            KeyCode::Char('F') => view.thread = None,
            KeyCode::Char('P') => {
                let pids = session.processes();
                view.process = match view.process.and_then(|p| pids.iter().position(|&q| q == p)) {
                    None => pids.first().copied(),
                    Some(i) => pids.get(i + 1).copied(),
                };
                self.scroll = 0;
            }
            KeyCode::Char('h') | KeyCode::Char('?') => self.help = true,
            KeyCode::Down => self.scroll += 1,
            KeyCode::Up => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageDown => self.scroll += 10,
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Home => self.scroll = 0,
            _ => return Action::Nothing,
        }
        Action::Redraw
    }
}
