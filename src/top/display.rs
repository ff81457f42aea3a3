//! `top`'s display thread: takes the sampler's windows, keeps the session, and shows it:
//! on a terminal, a full-screen view redrawn each second and on every key (raw mode and
//! the alternate screen, both undone on every way out, a panic included); otherwise a
//! plain-text snapshot each second on standard output, ending quietly when the reader
//! goes away (`| head`). Quitting sets the stop flag the sampler watches.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::Terminal;

use super::keys::{Action, Screen};
use super::model::{Scope, Session, View};
use super::view::{self, Status, Target};
use super::Msg;
use crate::error::{Error, Result};

/// What the display shows and how.
pub(super) struct Display {
    pub target: Target,
    pub view: View,
    pub limit: usize,
    pub on_terminal: bool,
}

/// Sets the stop flag when the display ends, however it ends (a panic included), so the
/// sampler never samples on with nothing to show it.
struct StopOnDrop(&'static AtomicBool);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Display {
    pub fn run(self, rx: Receiver<Msg>, stop: &'static AtomicBool) -> Result<()> {
        let _stop = StopOnDrop(stop);
        let mut screen = Screen {
            view: self.view.clone(),
            ..Screen::default()
        };
        let mut session = Session::new();
        if self.on_terminal {
            self.terminal(&rx, &mut screen, &mut session)
        } else {
            self.plain(&rx, &mut screen, &mut session)
        }
    }

    fn terminal(
        &self,
        rx: &Receiver<Msg>,
        screen: &mut Screen,
        session: &mut Session,
    ) -> Result<()> {
        let fail = |e: std::io::Error| Error::io("drawing on the terminal", e);
        let _restore = RawScreen::enter().map_err(fail)?;
        let mut term = Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(fail)?;
        let mut status = Status::Sampling;
        let mut dirty = true;
        loop {
            loop {
                match rx.try_recv() {
                    Ok(Msg::Update(update)) => {
                        session.apply(*update);
                        dirty = true;
                    }
                    Ok(Msg::Ended { quit: true, .. }) => return Ok(()),
                    Ok(Msg::Ended { why, quit: false }) => {
                        status = Status::Ended(why);
                        dirty = true;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        if status == Status::Sampling {
                            status = Status::Ended("sampling stopped; q quits".into());
                            dirty = true;
                        }
                        break;
                    }
                }
            }
            if dirty {
                term.draw(|f| view::draw(f, &self.target, session, screen, &status))
                    .map_err(fail)?;
                dirty = false;
            }
            if event::poll(Duration::from_millis(100)).map_err(fail)? {
                match event::read().map_err(fail)? {
                    Event::Key(key) => match screen.on_key(key, session) {
                        Action::Quit => return Ok(()),
                        Action::Redraw => dirty = true,
                        Action::Nothing => {}
                    },
                    Event::Resize(..) => dirty = true,
                    _ => {}
                }
            }
        }
    }

    fn plain(&self, rx: &Receiver<Msg>, screen: &mut Screen, session: &mut Session) -> Result<()> {
        let mut out = std::io::stdout();
        let status = Status::Sampling;
        loop {
            let (text, ended) = match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(Msg::Update(update)) => {
                    session.apply(*update);
                    let text = view::plain(&self.target, session, screen, &status, self.limit);
                    (text, false)
                }
                Ok(Msg::Ended { why, .. }) => {
                    // Last, the whole session.
                    let mut last = screen.clone();
                    last.view.scope = Scope::Session;
                    let text = view::plain(
                        &self.target,
                        session,
                        &last,
                        &Status::Ended(why),
                        self.limit,
                    );
                    (text, true)
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            };
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => {}
                // The reader went away (`| head`): stop, quietly.
                Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(Error::io("writing standard output", e)),
            }
            if ended {
                return Ok(());
            }
        }
    }
}

/// Raw mode, the alternate screen and a hidden cursor, undone when dropped; a panic
/// anywhere undoes them too before its message is printed.
struct RawScreen;

impl RawScreen {
    fn enter() -> std::io::Result<RawScreen> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        terminal::enable_raw_mode()?;
        let screen = RawScreen;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        Ok(screen)
    }
}

impl Drop for RawScreen {
    fn drop(&mut self) {
        restore();
    }
}

fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}
