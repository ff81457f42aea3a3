//! Finding the Python processes of a process tree while it runs (`--subprocesses`), on a
//! thread of its own so that the sampler's loop never waits for it.
//!
//! The tree is the root and every process forked below it, whatever it runs (shells,
//! `env`, `exec` chains included). Members are learnt from the kernel's process-events
//! connector ([`crate::process::events`]: fork, exec and exit as they happen) where it can
//! be had, with a `/proc` scan every [`EVENTS_RESCAN`] as a safety net; otherwise from a
//! `/proc` scan every [`POLL_PERIOD`]. A member just forked from a Python process is the
//! same interpreter at the same addresses ([`Interpreter::for_fork`]); one just exec'd is
//! attached afresh, again every [`RETRY_FAST`] while its libpython is not mapped or its
//! runtime not up (bounded by [`SETTLE`] for a program that never maps CPython). Ptrace
//! fork events are not used: they would make framescope the tracer of every member, which
//! `--blocking`'s pause (a ptrace seize) cannot share.
//!
//! In [`Mode::Observe`] (a recording without `--subprocesses`) nothing is attached: the
//! thread only notes which members look like Python, so the summary can say what was not
//! sampled.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::limits::MAX_TREE_MEMBERS;
use crate::process::events::{monotonic_ns, ProcEvent, ProcEvents};
use crate::process::tree;
use crate::python::Interpreter;

/// How often the tree is scanned when fork events cannot be had.
pub const POLL_PERIOD: Duration = Duration::from_millis(10);
/// ... and when only observing, where finding a child late costs nothing.
pub const OBSERVE_POLL_PERIOD: Duration = Duration::from_millis(100);
/// How often the tree is scanned anyway when fork events come (events are lost when the
/// kernel's queue overflows, and pids of another pid namespace do not match).
pub const EVENTS_RESCAN: Duration = Duration::from_millis(250);
/// A child is waited for this long after its fork before it is sampled as a copy of its
/// parent: most forks of a Python process (subprocess) exec at once, and their few
/// microseconds as a copy are noise.
pub const FORK_GRACE: Duration = Duration::from_millis(10);
/// Attach retries of a process just started or exec'd, while CPython is not up in it.
pub const RETRY_FAST: Duration = Duration::from_millis(1);
/// ... for this long, then every [`RETRY_SLOW`].
const FAST_FOR: Duration = Duration::from_millis(300);
const RETRY_SLOW: Duration = Duration::from_millis(50);
/// A process that still maps no CPython this long after its start or exec is taken for
/// another program (until its next exec).
pub const SETTLE: Duration = Duration::from_millis(150);
/// A process whose CPython is mapped but never comes up is given up after this long.
const GIVE_UP: Duration = Duration::from_secs(30);

/// What the thread does with the Python processes it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Attach and hand them to the sampler.
    Sample,
    /// Only count them (see the module documentation).
    Observe,
}

/// A Python process found, attached and ready to sample.
pub struct NewProcess {
    pub interp: Interpreter,
    pub ppid: u32,
    pub command: Vec<String>,
    /// CLOCK_MONOTONIC ns of the exec (or fork) that started it, when an event said.
    pub started_ns: Option<u64>,
}

impl NewProcess {
    /// The target itself, attached before the tree is looked at.
    pub fn root(interp: Interpreter) -> NewProcess {
        let pid = interp.pid;
        NewProcess {
            interp,
            ppid: tree::stat(pid).map_or(0, |s| s.ppid),
            command: tree::cmdline(pid),
            started_ns: None,
        }
    }
}

/// What the thread tells the sampler.
pub enum Found {
    Python(Box<NewProcess>),
    /// A member ended (exit event), with its raw wait status; or it exec'd another
    /// program (`status` None): what was sampled of it is over.
    Ended {
        pid: u32,
        status: Option<u32>,
    },
}

/// What was seen of the tree, for the summary and for errors.
#[derive(Debug, Clone, Default)]
pub struct TreeReport {
    /// Members that run no CPython: pid → program.
    pub not_python: BTreeMap<u32, String>,
    /// Members found as zombies (exited, not reaped): nothing to read.
    pub zombies: BTreeSet<u32>,
    /// Members running a CPython framescope cannot read, or may not: pid → why.
    pub skipped: BTreeMap<u32, String>,
    /// Members that run (or, observing, look like they run) CPython.
    pub python: BTreeSet<u32>,
    /// Fork/exec events came from the kernel (else `/proc` was polled).
    pub events: bool,
}

impl TreeReport {
    /// "pid 12 /bin/sh, pid 13 /usr/bin/sleep" — what the tree held, for a message.
    pub fn describe_found(&self, root: u32) -> String {
        let mut parts: Vec<String> = self
            .not_python
            .iter()
            .take(8)
            .map(|(pid, program)| format!("pid {pid} {program}"))
            .collect();
        parts.extend(
            self.skipped
                .iter()
                .take(4)
                .map(|(pid, why)| format!("pid {pid} ({why})")),
        );
        parts.extend(
            self.zombies
                .iter()
                .take(4)
                .map(|p| format!("pid {p} (zombie)")),
        );
        if parts.is_empty() {
            format!("pid {root} and no other process")
        } else {
            parts.join(", ")
        }
    }
}

/// The running discovery thread; stopped and joined on drop.
pub struct Discovery {
    rx: Receiver<Found>,
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<TreeReport>>,
    /// Members still being attached (CPython not up yet).
    pending: Arc<AtomicUsize>,
    handle: Option<JoinHandle<()>>,
}

impl Discovery {
    /// Starts watching the tree of `root` (`root` included).
    pub fn start(root: u32, mode: Mode) -> Discovery {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(TreeReport::default()));
        let pending = Arc::new(AtomicUsize::new(1));
        let mut watcher = Watcher {
            root,
            mode,
            tx,
            stop: stop.clone(),
            report: report.clone(),
            pending: pending.clone(),
            members: HashMap::new(),
            events: None,
            last_scan: None,
            known: Vec::new(),
        };
        let handle = std::thread::Builder::new()
            .name("framescope-tree".into())
            .spawn(move || watcher.run())
            .ok();
        Discovery {
            rx,
            stop,
            report,
            pending,
            handle,
        }
    }

    /// What was found since the last call; never waits.
    pub fn try_next(&self) -> Option<Found> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `timeout` for the next finding.
    pub fn next_within(&self, timeout: Duration) -> Option<Found> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Members still being attached.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn report(&self) -> TreeReport {
        self.report.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Stops the thread and returns what it saw.
    pub fn finish(mut self) -> TreeReport {
        self.shut_down();
        self.report()
    }

    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// What is known of one member of the tree.
enum State {
    /// Not yet known to run CPython: tried again at `next_try`.
    Pending {
        since: Instant,
        next_try: Instant,
        /// Forked from this Python member and not exec'd since.
        fork_of: Option<u32>,
        started_ns: Option<u64>,
        /// Attached, waiting for the runtime to come up.
        attached: Option<Box<Interpreter>>,
    },
    /// Handed to the sampler (or, observing, counted); the interpreter kept for forks.
    Python(Option<Box<Interpreter>>),
    /// Runs another program; `program` to notice an exec without events.
    Other { program: String },
    /// Zombie, gone, or given up.
    Done,
}

struct Member {
    ppid: u32,
    state: State,
}

struct Watcher {
    root: u32,
    mode: Mode,
    tx: Sender<Found>,
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<TreeReport>>,
    pending: Arc<AtomicUsize>,
    members: HashMap<u32, Member>,
    events: Option<ProcEvents>,
    last_scan: Option<Instant>,
    /// One interpreter of each CPython file attached so far, for
    /// [`Interpreter::attach_like`].
    known: Vec<Interpreter>,
}

impl Watcher {
    fn run(&mut self) {
        // Subscribe first, then scan: nothing forked in between is missed.
        self.events = ProcEvents::subscribe().ok();
        self.note(|r| r.events = self.events.is_some());
        let now = Instant::now();
        self.add(self.root, 0, now, None, None);
        self.scan(now);
        let mut batch = Vec::new();
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let wait = self.next_deadline(now).saturating_duration_since(now);
            let wait = wait.min(Duration::from_millis(20));
            batch.clear();
            let lost = match &mut self.events {
                Some(events) => match events.read(wait, &mut batch) {
                    Ok(b) => b.lost,
                    Err(_) => {
                        self.events = None;
                        true
                    }
                },
                None => {
                    std::thread::sleep(wait);
                    false
                }
            };
            let now = Instant::now();
            for event in std::mem::take(&mut batch) {
                self.on_event(event, now);
            }
            let period = self.scan_period();
            if lost
                || self
                    .last_scan
                    .is_none_or(|t| now.duration_since(t) >= period)
            {
                self.scan(now);
            }
            self.try_pending(Instant::now());
            let pending = self
                .members
                .values()
                .filter(|m| matches!(m.state, State::Pending { .. }))
                .count();
            self.pending.store(pending, Ordering::Relaxed);
        }
    }

    fn scan_period(&self) -> Duration {
        match (self.events.is_some(), self.mode) {
            (true, _) => EVENTS_RESCAN,
            (false, Mode::Sample) => POLL_PERIOD,
            (false, Mode::Observe) => OBSERVE_POLL_PERIOD,
        }
    }

    fn note(&self, f: impl FnOnce(&mut TreeReport)) {
        if let Ok(mut report) = self.report.lock() {
            f(&mut report);
        }
    }

    fn next_deadline(&self, now: Instant) -> Instant {
        let period = self.scan_period();
        let scan = self.last_scan.map_or(now, |t| t + period);
        self.members
            .values()
            .filter_map(|m| match &m.state {
                State::Pending { next_try, .. } => Some(*next_try),
                _ => None,
            })
            .fold(scan, Instant::min)
    }

    fn add(
        &mut self,
        pid: u32,
        ppid: u32,
        now: Instant,
        fork_of: Option<u32>,
        started_ns: Option<u64>,
    ) {
        if self.members.contains_key(&pid) || self.members.len() >= MAX_TREE_MEMBERS {
            return;
        }
        let next_try = if fork_of.is_some() {
            now + FORK_GRACE
        } else {
            now
        };
        self.members.insert(
            pid,
            Member {
                ppid,
                state: State::Pending {
                    since: now,
                    next_try,
                    fork_of,
                    started_ns,
                    attached: None,
                },
            },
        );
    }

    fn is_python(&self, pid: u32) -> bool {
        self.members
            .get(&pid)
            .is_some_and(|m| matches!(m.state, State::Python(_)))
    }

    fn on_event(&mut self, event: ProcEvent, now: Instant) {
        match event {
            ProcEvent::Fork {
                parent_tgid,
                child_pid,
                child_tgid,
            } if child_pid == child_tgid && self.members.contains_key(&parent_tgid) => {
                let fork_of = self.is_python(parent_tgid).then_some(parent_tgid);
                self.add(child_pid, parent_tgid, now, fork_of, Some(monotonic_ns()));
            }
            ProcEvent::Exec { tgid, at_ns, .. } => {
                let Some(member) = self.members.get_mut(&tgid) else {
                    return;
                };
                if matches!(member.state, State::Python(_)) {
                    let _ = self.tx.send(Found::Ended {
                        pid: tgid,
                        status: None,
                    });
                }
                member.state = State::Pending {
                    since: now,
                    next_try: now,
                    fork_of: None,
                    started_ns: Some(at_ns),
                    attached: None,
                };
            }
            ProcEvent::Exit { pid, tgid, status } if pid == tgid => {
                let Some(member) = self.members.get_mut(&pid) else {
                    return;
                };
                if matches!(member.state, State::Python(_)) {
                    let _ = self.tx.send(Found::Ended {
                        pid,
                        status: Some(status),
                    });
                }
                member.state = State::Done;
            }
            _ => {}
        }
    }

    /// Adds the members a scan finds below the live ones; notices an exec (a new program)
    /// of members known to run something else, when there are no events to say so.
    fn scan(&mut self, now: Instant) {
        self.last_scan = Some(now);
        let live: Vec<u32> = self
            .members
            .iter()
            .filter(|(_, m)| !matches!(m.state, State::Done))
            .map(|(&pid, _)| pid)
            .collect();
        for (pid, ppid) in tree::descendants(&live) {
            self.add(pid, ppid, now, None, None);
        }
        if self.events.is_none() {
            let others: Vec<(u32, String)> = self
                .members
                .iter()
                .filter_map(|(&pid, m)| match &m.state {
                    State::Other { program } => Some((pid, program.clone())),
                    _ => None,
                })
                .collect();
            for (pid, program) in others {
                if tree::program(pid) != program && tree::stat(pid).is_some() {
                    if let Some(m) = self.members.get_mut(&pid) {
                        m.state = State::Pending {
                            since: now,
                            next_try: now,
                            fork_of: None,
                            started_ns: None,
                            attached: None,
                        };
                    }
                }
            }
        }
    }

    fn try_pending(&mut self, now: Instant) {
        let due: Vec<u32> = self
            .members
            .iter()
            .filter(
                |(_, m)| matches!(&m.state, State::Pending { next_try, .. } if *next_try <= now),
            )
            .map(|(&pid, _)| pid)
            .collect();
        for pid in due {
            self.try_one(pid, now);
        }
    }

    fn try_one(&mut self, pid: u32, now: Instant) {
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        let ppid = member.ppid;
        let State::Pending {
            since,
            fork_of,
            started_ns,
            attached,
            ..
        } = std::mem::replace(&mut member.state, State::Done)
        else {
            return;
        };
        let age = now.duration_since(since);
        let retry = |attached: Option<Box<Interpreter>>, fork_of: Option<u32>| State::Pending {
            since,
            next_try: now
                + if age < FAST_FOR {
                    RETRY_FAST
                } else {
                    RETRY_SLOW
                },
            fork_of,
            started_ns,
            attached,
        };
        let Some(stat) = tree::stat(pid) else {
            return; // gone
        };
        if stat.zombie() {
            self.note(|r| {
                r.zombies.insert(pid);
            });
            return;
        }
        if self.mode == Mode::Observe {
            let state = if tree::maps_python(pid) {
                self.note(|r| {
                    r.python.insert(pid);
                });
                State::Python(None)
            } else if age >= SETTLE {
                self.settle_other(pid)
            } else {
                retry(None, fork_of)
            };
            self.set_state(pid, state);
            return;
        }
        // A fork of a Python member: the same interpreter, if it has not exec'd meanwhile.
        let parent_interp = fork_of.and_then(|parent| match &self.members.get(&parent)?.state {
            State::Python(Some(interp)) => Some(interp.for_fork(pid)),
            _ => None,
        });
        let interp = match (attached, parent_interp) {
            (Some(interp), _) => Ok(*interp),
            (None, Some(interp)) => Ok(interp),
            (None, None) => Interpreter::attach_like(pid, &self.known),
        };
        let state = match interp {
            Ok(interp) if interp.is_up() => {
                let keep = interp.for_fork(pid);
                if !self
                    .known
                    .iter()
                    .any(|k| k.binary == interp.binary && k.root_dir == interp.root_dir)
                {
                    self.known.push(interp.for_fork(pid));
                }
                let new = NewProcess {
                    interp,
                    ppid,
                    command: tree::cmdline(pid),
                    started_ns,
                };
                self.note(|r| {
                    r.python.insert(pid);
                    r.not_python.remove(&pid);
                });
                let _ = self.tx.send(Found::Python(Box::new(new)));
                State::Python(Some(Box::new(keep)))
            }
            Ok(interp) if age < GIVE_UP => retry(Some(Box::new(interp)), None),
            Ok(_) => {
                self.note(|r| {
                    r.skipped
                        .insert(pid, "CPython never came up in it".to_string());
                });
                State::Done
            }
            Err(Error::NotPython { .. }) if age >= SETTLE => self.settle_other(pid),
            Err(Error::NotPython { .. }) => retry(None, None),
            Err(Error::NoSuchProcess { .. } | Error::ProcessExited { .. }) => State::Done,
            Err(Error::Zombie { .. }) => {
                self.note(|r| {
                    r.zombies.insert(pid);
                });
                State::Done
            }
            Err(e @ (Error::UnsupportedPython { .. } | Error::PermissionDenied { .. })) => {
                self.note(|r| {
                    r.skipped.insert(pid, e.to_string());
                });
                State::Done
            }
            Err(_) if age < GIVE_UP => retry(None, None),
            Err(e) => {
                self.note(|r| {
                    r.skipped.insert(pid, e.to_string());
                });
                State::Done
            }
        };
        self.set_state(pid, state);
    }

    fn settle_other(&self, pid: u32) -> State {
        let program = tree::program(pid);
        self.note(|r| {
            r.not_python.insert(pid, program.clone());
        });
        State::Other { program }
    }

    fn set_state(&mut self, pid: u32, state: State) {
        if let Some(member) = self.members.get_mut(&pid) {
            member.state = state;
        }
    }
}
