//! The display side of `top`: the one-second windows the sampler side sends
//! ([`Update`]s, see `ingest.rs`) kept as the last window and the whole session, and
//! turned into the rows a view asks for (functions or lines, threads merged or apart, a
//! thread or process filter, idle samples or not, either clock, sorted by any column).
//! Testable without a terminal: nothing here draws.

use std::collections::HashMap;

use crate::limits::MAX_TOP_PROCESSES;
use crate::report::profile::{tally_functions, Clock};
use rustc_hash::FxHashMap;

/// A stack id that names no stack (an unreadable or empty one).
pub const NO_STACK: u32 = u32::MAX;

/// The samples of one thread at one stack, apart by whether the thread was on a CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TallyKey {
    pub thread: u32,
    pub stack: u32,
    pub on_cpu: bool,
}

/// Samples and the time they stand for on each clock.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub samples: u64,
    pub wall: f64,
    pub cpu: f64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.samples += other.samples;
        self.wall += other.wall;
        self.cpu += other.cpu;
    }

    fn seconds(&self, clock: Clock) -> f64 {
        match clock {
            Clock::Wall => self.wall,
            Clock::Cpu => self.cpu,
        }
    }
}

/// One frame as the display shows it (names as read from the target: escape to show).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    pub qualname: String,
    pub filename: String,
    pub first_line: u32,
    pub line: u32,
}

/// One thread of the target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadInfo {
    pub os_tid: Option<u32>,
    pub python_thread_id: u64,
    pub name: Option<String>,
    /// The process it belongs to.
    pub pid: u32,
}

impl ThreadInfo {
    /// Whether `id` is this thread's OS or Python thread id.
    pub fn is(&self, id: u64) -> bool {
        self.os_tid.is_some_and(|t| u64::from(t) == id) || self.python_thread_id == id
    }

    /// The id a filter names it by: the OS thread id, else the Python one.
    pub fn id(&self) -> u64 {
        self.os_tid.map_or(self.python_thread_id, u64::from)
    }

    /// `1234 "name"`, or the Python thread id when the OS id is unknown.
    pub fn label(&self) -> String {
        let id = match self.os_tid {
            Some(tid) => tid.to_string(),
            None => format!("{:#x}", self.python_thread_id),
        };
        match &self.name {
            Some(name) => format!("{id} \"{name}\""),
            None => id,
        }
    }
}

/// One Python process of a tree (`top --subprocesses`), as the header and the process
/// filter name it (names as read from the target: escape to show).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The sampler side's id for it: a pid that execs a new program, or is used again,
    /// is a new process with a new key.
    pub key: u32,
    pub pid: u32,
    pub command: Vec<String>,
    pub python_version: String,
    /// Still sampled (false once it ended).
    pub running: bool,
}

/// A change to the tree's processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessChange {
    Joined(ProcessInfo),
    Ended { key: u32 },
}

/// Samples tallied over a stretch of time, with what the header shows about it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    /// Nanoseconds since sampling started.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Samples (ticks) taken.
    pub ticks: u64,
    /// Thread stacks that could not be read.
    pub errors: u64,
    /// Schedule slots that got no sample.
    pub missed: u64,
    pub tallies: FxHashMap<TallyKey, Tally>,
}

impl Window {
    /// Adds a later window to this one.
    pub fn absorb(&mut self, later: &Window) {
        self.end_ns = self.end_ns.max(later.end_ns);
        self.ticks += later.ticks;
        self.errors += later.errors;
        self.missed += later.missed;
        for (key, tally) in &later.tallies {
            self.tallies.entry(*key).or_default().add(tally);
        }
    }

    /// Samples per second achieved over the window.
    pub fn rate(&self) -> f64 {
        let secs = self.end_ns.saturating_sub(self.start_ns) as f64 * 1e-9;
        if secs > 0.0 {
            self.ticks as f64 / secs
        } else {
            0.0
        }
    }
}

/// What the sampler side sends once a window is over: the names first seen in it (ids are
/// handed out in order, so these continue the tables already sent), then the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    pub frames: Vec<FrameInfo>,
    /// Frame ids, innermost first.
    pub stacks: Vec<Vec<u32>>,
    /// New threads, and threads whose name changed.
    pub threads: Vec<(u32, ThreadInfo)>,
    /// Processes that joined or ended (`--subprocesses`), in order.
    pub processes: Vec<ProcessChange>,
    pub window: Window,
}

impl Update {
    /// Adds a later update to this one (when the display could not take it in time).
    pub fn absorb(&mut self, later: Update) {
        self.frames.extend(later.frames);
        self.stacks.extend(later.stacks);
        self.threads.extend(later.threads);
        self.processes.extend(later.processes);
        self.window.absorb(&later.window);
    }
}

/// Which stretch of time the rows are of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The last whole window (one second).
    LastWindow,
    /// Everything since `top` started.
    Session,
}

/// The columns rows can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortColumn {
    OwnPct,
    TotalPct,
    OwnTime,
    TotalTime,
    Function,
    Thread,
}

impl SortColumn {
    pub fn name(self) -> &'static str {
        match self {
            SortColumn::OwnPct => "own%",
            SortColumn::TotalPct => "total%",
            SortColumn::OwnTime => "own time",
            SortColumn::TotalTime => "total time",
            SortColumn::Function => "function",
            SortColumn::Thread => "thread",
        }
    }
}

/// What the rows show: everything a key can change.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    pub scope: Scope,
    pub clock: Clock,
    /// Keep samples of threads that were not on a CPU.
    pub idle: bool,
    /// One row per thread and function.
    pub per_thread: bool,
    /// One row per line instead of per function.
    pub lines: bool,
    /// Only this thread (OS thread id or Python thread id).
    pub thread: Option<u64>,
    /// Only this process (`--subprocesses`).
    pub process: Option<u32>,
    pub sort: SortColumn,
    /// Largest first (numbers) or A to Z (names) when false; the other way when true.
    pub reversed: bool,
}

impl Default for View {
    fn default() -> View {
        View {
            scope: Scope::LastWindow,
            clock: Clock::Cpu,
            idle: false,
            per_thread: false,
            lines: false,
            thread: None,
            process: None,
            sort: SortColumn::TotalPct,
            reversed: false,
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The thread, in per-thread views (a thread index of the session).
    pub thread: Option<u32>,
    /// `qualname (file:line)`, unescaped.
    pub label: String,
    pub own_seconds: f64,
    pub total_seconds: f64,
    pub own_pct: f64,
    pub total_pct: f64,
}

/// The rows of a view, with the window they come from.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub rows: Vec<Row>,
    /// The time all rows are shares of (the time of every sample the view keeps).
    pub seconds: f64,
}

/// A stack as its functions (innermost first), with its samples and seconds.
type WeightedStack = (Vec<usize>, u64, f64);

/// Groups frames into functions (or lines), growing as frames arrive.
#[derive(Default)]
struct Grouping {
    lines: bool,
    of_frame: Vec<u32>,
    labels: Vec<String>,
    // Keys are names from the target: hashed with the standard (keyed) hasher.
    index: HashMap<(String, String, u32, u32), u32>,
}

impl Grouping {
    fn add(&mut self, frame: &FrameInfo) {
        let line = if self.lines { frame.line } else { 0 };
        let key = (
            frame.qualname.clone(),
            frame.filename.clone(),
            frame.first_line,
            line,
        );
        let next = self.labels.len() as u32;
        let id = *self.index.entry(key).or_insert_with(|| {
            let shown = if self.lines { line } else { frame.first_line };
            self.labels.push(match shown {
                0 => format!("{} ({})", frame.qualname, frame.filename),
                n => format!("{} ({}:{n})", frame.qualname, frame.filename),
            });
            next
        });
        self.of_frame.push(id);
    }
}

/// The display's model of the session.
#[derive(Default)]
pub struct Session {
    frames: usize,
    stacks: Vec<Vec<u32>>,
    pub threads: Vec<ThreadInfo>,
    /// The tree's processes (`--subprocesses`), in order of joining; bounded by the
    /// sampler side's thread limit, as every process has a thread.
    pub processes: Vec<ProcessInfo>,
    functions: Grouping,
    lines: Grouping,
    /// The last window received, and every window so far.
    last: Window,
    whole: Window,
    /// While paused: the windows shown, as they were when the display was paused.
    frozen: Option<Box<(Window, Window)>>,
}

impl Session {
    pub fn new() -> Session {
        Session {
            lines: Grouping {
                lines: true,
                ..Grouping::default()
            },
            ..Session::default()
        }
    }

    /// Takes the sampler side's next update.
    pub fn apply(&mut self, update: Update) {
        for frame in &update.frames {
            self.functions.add(frame);
            self.lines.add(frame);
        }
        self.frames += update.frames.len();
        self.stacks.extend(update.stacks);
        for (index, info) in update.threads {
            let i = index as usize;
            if self.threads.len() <= i {
                self.threads.resize(i + 1, ThreadInfo::default());
            }
            self.threads[i] = info;
        }
        for change in update.processes {
            match change {
                ProcessChange::Joined(info) => {
                    if self.processes.len() >= MAX_TOP_PROCESSES {
                        let gone = self.processes.iter().position(|p| !p.running);
                        self.processes.remove(gone.unwrap_or(0));
                    }
                    self.processes.push(info);
                }
                ProcessChange::Ended { key } => {
                    for p in self.processes.iter_mut().filter(|p| p.key == key) {
                        p.running = false;
                    }
                }
            }
        }
        self.whole.absorb(&update.window);
        self.last = update.window;
    }

    /// Freezes what is shown (updates still arrive), or thaws it.
    pub fn set_frozen(&mut self, frozen: bool) {
        self.frozen = frozen.then(|| Box::new((self.last.clone(), self.whole.clone())));
    }

    #[cfg(test)]
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// The window shown for `scope` (frozen ones while paused).
    pub fn window(&self, scope: Scope) -> &Window {
        let (last, whole) = match &self.frozen {
            Some(shown) => (&shown.0, &shown.1),
            None => (&self.last, &self.whole),
        };
        match scope {
            Scope::LastWindow => last,
            Scope::Session => whole,
        }
    }

    /// Every window received so far, whatever is shown.
    pub fn whole(&self) -> &Window {
        &self.whole
    }

    /// The processes the filter cycles through: the tree's, in order of joining, then any
    /// other process a thread was seen in.
    pub fn processes(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = Vec::new();
        let tree = self.processes.iter().map(|p| p.pid);
        for pid in tree.chain(self.threads.iter().map(|t| t.pid)) {
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Python processes (pids) sampled so far, and how many of them still are. A pid that
    /// exec'd a new Python program counts once.
    pub fn process_count(&self) -> (usize, usize) {
        let mut seen: Vec<(u32, bool)> = Vec::new();
        for p in &self.processes {
            match seen.iter_mut().find(|(pid, _)| *pid == p.pid) {
                Some((_, running)) => *running |= p.running,
                None => seen.push((p.pid, p.running)),
            }
        }
        let running = seen.iter().filter(|(_, r)| *r).count();
        (seen.len(), running)
    }

    /// The process of `pid` last seen joining.
    pub fn process(&self, pid: u32) -> Option<&ProcessInfo> {
        self.processes.iter().rev().find(|p| p.pid == pid)
    }

    /// The rows of `view`.
    pub fn table(&self, view: &View) -> Table {
        let window = self.window(view.scope);
        let grouping = if view.lines {
            &self.lines
        } else {
            &self.functions
        };
        // Per group (a thread, or all threads): stacks as function lists, with their time.
        let mut groups: Vec<(Option<u32>, Vec<WeightedStack>)> = Vec::new();
        let mut group_of: FxHashMap<Option<u32>, usize> = FxHashMap::default();
        let mut seconds = 0.0;
        for (key, tally) in &window.tallies {
            if !self.keeps(view, key) {
                continue;
            }
            let Some(stack) = self.stacks.get(key.stack as usize) else {
                continue;
            };
            let functions: Vec<usize> = stack
                .iter()
                .filter_map(|&f| grouping.of_frame.get(f as usize).map(|&g| g as usize))
                .collect();
            let time = tally.seconds(view.clock);
            seconds += time;
            let group = view.per_thread.then_some(key.thread);
            let at = *group_of.entry(group).or_insert_with(|| {
                groups.push((group, Vec::new()));
                groups.len() - 1
            });
            groups[at].1.push((functions, tally.samples, time));
        }
        let share = |s: f64| {
            if seconds > 0.0 {
                100.0 * s / seconds
            } else {
                0.0
            }
        };
        let mut rows = Vec::new();
        for (thread, stacks) in groups {
            let tallies = tally_functions(grouping.labels.len(), stacks);
            for (function, t) in tallies.iter().enumerate() {
                if t.total_samples == 0 {
                    continue;
                }
                rows.push(Row {
                    thread,
                    label: grouping.labels[function].clone(),
                    own_seconds: t.own_seconds,
                    total_seconds: t.total_seconds,
                    own_pct: share(t.own_seconds),
                    total_pct: share(t.total_seconds),
                });
            }
        }
        sort_rows(&mut rows, view.sort, view.reversed, &self.threads);
        Table { rows, seconds }
    }

    fn keeps(&self, view: &View, key: &TallyKey) -> bool {
        if key.stack == NO_STACK || !(view.idle || key.on_cpu) {
            return false;
        }
        if let Some(wanted) = view.thread {
            let matches = self
                .threads
                .get(key.thread as usize)
                .is_some_and(|t| t.is(wanted));
            if !matches {
                return false;
            }
        }
        if let Some(pid) = view.process {
            let of = self.threads.get(key.thread as usize).map(|t| t.pid);
            if of != Some(pid) {
                return false;
            }
        }
        true
    }
}

fn sort_rows(rows: &mut [Row], column: SortColumn, reversed: bool, threads: &[ThreadInfo]) {
    use std::cmp::Ordering;
    let tid = |r: &Row| {
        r.thread
            .and_then(|t| threads.get(t as usize))
            .and_then(|t| t.os_tid)
            .unwrap_or(0)
    };
    let by = |a: f64, b: f64| b.partial_cmp(&a).unwrap_or(Ordering::Equal);
    rows.sort_by(|a, b| {
        let first = match column {
            SortColumn::OwnPct | SortColumn::OwnTime => by(a.own_seconds, b.own_seconds),
            SortColumn::TotalPct | SortColumn::TotalTime => by(a.total_seconds, b.total_seconds),
            SortColumn::Function => a.label.cmp(&b.label),
            SortColumn::Thread => tid(a).cmp(&tid(b)),
        };
        let first = if reversed { first.reverse() } else { first };
        first
            .then_with(|| by(a.total_seconds, b.total_seconds))
            .then_with(|| a.label.cmp(&b.label))
            .then_with(|| tid(a).cmp(&tid(b)))
    });
}
