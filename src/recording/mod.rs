//! The recording file: every sample framescope takes, appended while sampling and read back
//! by every report. Recordings are the source of truth: a table, flamegraph or speedscope
//! file can always be made again from one. This module knows nothing about processes or
//! output formats; it turns [`ThreadStack`](crate::python::stack::ThreadStack)s into bytes
//! ([`RecordingWriter`]) and bytes into a plain, validated [`Recording`] ([`read`]).
//!
//! # File format, version 2
//!
//! Integers are little-endian. A *varint* is an unsigned LEB128 integer: seven bits per
//! byte, lowest bits first, the high bit set on every byte except the last; at most 10 bytes.
//! Version 2 (framescope 0.2) is version 1 plus chunk sequence numbers, the wall time each
//! tick stands for, per-sample CPU time, truncated stacks, processes and asyncio tasks;
//! every difference is marked **v2** below. A reader of version 2 reads version 1 files as
//! they are (they simply have none of these).
//!
//! ## Header
//!
//! | bytes | content                                                  |
//! |-------|----------------------------------------------------------|
//! | 0..5  | magic `FSREC` (ASCII)                                    |
//! | 5..7  | format version, u16 (1 or 2)                             |
//!
//! A reader refuses a file without the magic ("not a framescope recording") and a version
//! higher than its own. Chunks follow the header up to the end of the file.
//!
//! ## Chunks
//!
//! | bytes | content                                                                 |
//! |-------|-------------------------------------------------------------------------|
//! | 0..4  | payload length N, u32 (at most 64 MiB)                                  |
//! | 4..8  | CRC-32 (IEEE 802.3, as in zlib and PNG) of bytes 0..4 then the payload  |
//! | 8..   | N bytes of payload: **v2** a varint sequence number (0 for the first chunk, one more for each chunk after it), then whole records, one after another |
//!
//! The writer only ever appends whole chunks. A reader takes chunks in order and stops at
//! the first one that is cut off, too long, fails its checksum, holds a record it cannot
//! decode or (**v2**) does not carry the next sequence number — a chunk deleted,
//! duplicated or moved is reported, not silently skipped; everything before that chunk is
//! good, and the recording is marked truncated, with the reason. A chunk is
//! all-or-nothing: nothing from a damaged chunk is used.
//!
//! ## Records
//!
//! A record is a tag byte followed by its fields. Definitions have implicit ids: the n-th
//! record of a kind in the file (counting from 0, across chunks) defines id n of that kind.
//! Every id a record mentions is defined by an earlier record (same chunk or an earlier one).
//!
//! | tag | record  | fields                                                                   |
//! |-----|---------|--------------------------------------------------------------------------|
//! | 1   | META    | varint length L, L bytes of JSON: [`RecordingMeta`]                      |
//! | 2   | STRING  | varint length L, L bytes of UTF-8                                        |
//! | 3   | FRAME   | varints: qualname (string id), name (string id), filename (string id), first line, current line (0 = unknown) |
//! | 4   | STACK   | varints: parent (0 = none, the frame is outermost; else parent stack id + 1), frame id |
//! | 5   | THREAD  | varints: OS thread id + 1 (0 = unknown), Python thread id, name (0 = none; else string id + 1); **v2** then process (0 = the process of the META; else process id + 1) |
//! | 6   | TICK    | varint nanoseconds since the previous tick (the first: since the start); **v2** varint nanoseconds of wall time the tick stands for; varint thread count K; then K entries of: varint thread id, varint stack id + 1 (0 = no frames), one flag byte, **v2** then the fields the flags announce |
//! | 7   | SUMMARY | varint length L, L bytes of JSON: [`RecordingSummary`]; the last one wins |
//! | 8   | PROCESS | **v2** varint length L, L bytes of JSON: [`ProcessInfo`] (a process of a recording of several) |
//! | 9   | PROCESS_END | **v2** varint length L, L bytes of JSON: [`ProcessEnd`]              |
//! | 10  | TASK    | **v2** varints: task address, name (string id), coroutine (0 = unknown; else string id + 1) |
//!
//! The first chunk holds exactly one META record, first; no other chunk holds one. A stack
//! id names the whole call path from the outermost frame down to its frame, so a stack seen
//! before costs one varint in a TICK. A TICK is one look at the process: every Python thread
//! seen at that instant, each with its stack. Tick times are nanoseconds since the start of
//! the recording (`start_unix_ns` in the META) and never decrease.
//!
//! **v2** The wall time a tick stands for is the sampling period times the number of
//! schedule slots since the previous tick: one normally, more after ticks the sampler
//! missed or samples that failed, so that every interval of the recording is attributed to
//! some tick. Ticks are jittered within their slot, so this is not the gap between tick
//! times.
//!
//! The flag byte of a TICK entry: bit 0 set when the thread held the GIL; bits 1-2 the
//! on-CPU state (0 unknown, 1 running or runnable — in v2: ran since its previous sample —,
//! 2 not running; 3 is invalid); bit 3 set when the thread's stack could not be read
//! consistently (the stack then holds whatever innermost frames were read, or none). In
//! version 1 bits 4-7 are zero. **v2**: bit 4 — a varint follows: the CPU time in
//! nanoseconds the kernel charged the thread since its previous sample (since the start of
//! the recording for its first); bit 5 — a varint follows (after the CPU time): the asyncio
//! task the thread was running, task id + 1; bit 6 — the stack was deeper than framescope
//! follows and holds its innermost frames only; bit 7 is zero.
//!
//! JSON blobs are objects; a reader ignores members it does not know and gives missing ones
//! their default, so adding a member does not need a new version. Anything else does.
//!
//! ## Writing
//!
//! [`RecordingWriter`] writes the header and the META chunk at once, then collects records
//! in memory and appends them as one chunk every 64 KiB or every 0.5 s of recording time,
//! whichever comes first (and on [`RecordingWriter::flush`], [`RecordingWriter::finish`] and
//! drop). A `kill -9` therefore loses at most the samples of the last half second.

pub(crate) mod cpu;
mod format;
mod reader;
mod tail;
mod writer;

pub use reader::read;
pub(crate) use reader::read_bytes;
pub(crate) use tail::Tail;
pub use writer::RecordingWriter;
pub use writer::TickTime;
pub(crate) use writer::{ProcessTick, TickTask};

use serde::{Deserialize, Serialize};

/// What was profiled and how; written once, at the start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordingMeta {
    pub pid: u32,
    /// The command line of the target (argv), when known.
    pub command: Vec<String>,
    /// The CPython version, e.g. `3.12.3`.
    pub python_version: String,
    /// The sampling rate asked for, in samples per second.
    pub rate_hz: f64,
    /// Wall-clock time of the start of the recording, in ns since the Unix epoch.
    pub start_unix_ns: u64,
    /// The target was paused for each sample.
    pub blocking: bool,
}

impl RecordingMeta {
    /// The target's command line for titles: arguments joined by spaces, those holding
    /// spaces or quotes single-quoted; `pid N` when no command is known.
    pub(crate) fn command_line(&self) -> String {
        command_line(self.pid, &self.command)
    }
}

/// A command line for titles: arguments joined by spaces, those holding spaces or quotes
/// single-quoted; `pid N` when no command is known. Not escaped: callers escape it at
/// their edge.
pub(crate) fn command_line(pid: u32, command: &[String]) -> String {
    {
        if command.is_empty() {
            return format!("pid {pid}");
        }
        let quoted: Vec<String> = command
            .iter()
            .map(|arg| {
                if !arg.is_empty() && !arg.contains([' ', '\t', '\n', '\'', '"']) {
                    arg.clone()
                } else {
                    format!("'{}'", arg.replace('\'', r"'\''"))
                }
            })
            .collect();
        quoted.join(" ")
    }
}

/// How the sampling went; written once, at the end (absent when the recording was cut off).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordingSummary {
    /// Ticks taken.
    pub samples: u64,
    /// Ticks that were due but not taken because the sampler fell behind.
    pub missed: u64,
    /// Thread stacks that could not be read.
    pub errors: u64,
    pub duration_ns: u64,
    pub target_exit_code: Option<i32>,
    /// Thread stacks deeper than the walk follows, kept as their innermost frames.
    pub truncated_stacks: u64,
}

/// One process of a recording of several (version 2): written when the process is first
/// sampled. Threads name it; the META's pid is the root of the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub command: Vec<String>,
    pub python_version: String,
    /// When it was first sampled, ns since the start of the recording.
    pub start_ns: u64,
}

/// How a process of a recording of several ended (version 2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessEnd {
    /// Index into [`Recording::processes`].
    pub process: u32,
    /// ns since the start of the recording.
    pub end_ns: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
}

/// A process of the recording and, once it ended, how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    pub info: ProcessInfo,
    pub end: Option<ProcessEnd>,
}

/// Index into [`Recording::processes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessIndex(pub u32);

/// Index into [`Recording::tasks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskIndex(pub u32);

/// An asyncio task (version 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    /// The task object's address in the target.
    pub address: u64,
    pub name: StringId,
    /// The qualified name of its coroutine's function, when known.
    pub coroutine: Option<StringId>,
}

/// Index into [`Recording::strings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StringId(pub u32);

/// Index into [`Recording::frames`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameId(pub u32);

/// Index into [`Recording::stacks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackId(pub u32);

/// Index into [`Recording::threads`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadIndex(pub u32);

/// One code location: a function and the line it was at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub qualname: StringId,
    pub name: StringId,
    pub filename: StringId,
    /// The line of the `def`.
    pub first_line: u32,
    /// The line being run; 0 when unknown.
    pub line: u32,
}

/// A node of the stack prefix tree: `frame`, called from the path named by `parent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackNode {
    /// `None` when `frame` is the outermost frame.
    pub parent: Option<StackId>,
    pub frame: FrameId,
    /// Number of frames on the path, this one included (1 for an outermost frame).
    pub depth: u32,
}

/// A thread: one entry per process, OS thread id and Python thread id, named by the last
/// name it was seen under. (The file defines a thread again when its name changes; the
/// reader merges those definitions.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    pub os_tid: Option<u32>,
    pub python_thread_id: u64,
    pub name: Option<StringId>,
    /// The process of a recording of several; `None`: the META's process.
    pub process: Option<ProcessIndex>,
}

/// One thread at one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Nanoseconds since the start of the recording.
    pub time_ns: u64,
    pub thread: ThreadIndex,
    /// `None` when the thread had no Python frames.
    pub stack: Option<StackId>,
    pub holds_gil: bool,
    /// `Some(true)` running or runnable, `Some(false)` sleeping or waiting, `None` unknown.
    pub on_cpu: Option<bool>,
    /// The thread's stack could not be read consistently.
    pub error: bool,
    /// Wall time the tick stands for, in ns (version 2; 0 in version 1 files, where
    /// [`crate::report::profile`] works it out from the gaps between ticks).
    pub interval_ns: u64,
    /// CPU time the kernel charged the thread since its previous sample, in ns (version 2,
    /// when it could be read).
    pub cpu_ns: Option<u64>,
    /// The stack holds only the innermost frames of a deeper one.
    pub truncated: bool,
    /// The asyncio task the thread was running.
    pub task: Option<TaskIndex>,
}

/// A recording read back. Every id in it refers to an entry of the matching table (the
/// reader checks this), so indexing with them does not panic; a stack's parent always has
/// a smaller id than the stack itself.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    pub meta: RecordingMeta,
    /// `None` when the sampler never wrote one (killed, or the file was cut off).
    pub summary: Option<RecordingSummary>,
    /// The file ended early or was damaged; everything up to the last good chunk is here.
    pub truncated: bool,
    /// Why and where reading stopped early, for a warning (set when `truncated`).
    pub truncation: Option<String>,
    pub strings: Vec<String>,
    pub frames: Vec<Frame>,
    pub stacks: Vec<StackNode>,
    pub threads: Vec<Thread>,
    /// Version 2, recordings of several processes.
    pub processes: Vec<Process>,
    /// Version 2, recordings with asyncio tasks.
    pub tasks: Vec<Task>,
    /// The file's format version.
    pub version: u16,
    /// In time order.
    pub samples: Vec<Sample>,
    /// Number of ticks (looks at the process), including those that saw no thread.
    pub ticks: u64,
    /// Time of the last tick, ns since the start.
    pub end_ns: u64,
}

impl Recording {
    pub(crate) fn string(&self, id: StringId) -> &str {
        &self.strings[id.0 as usize]
    }

    pub(crate) fn frame(&self, id: FrameId) -> &Frame {
        &self.frames[id.0 as usize]
    }

    pub(crate) fn stack(&self, id: StackId) -> &StackNode {
        &self.stacks[id.0 as usize]
    }

    pub(crate) fn thread(&self, id: ThreadIndex) -> &Thread {
        &self.threads[id.0 as usize]
    }

    /// Whether the samples carry CPU time (recordings of framescope 0.2 and later, where
    /// the kernel's per-thread accounting could be read).
    pub(crate) fn has_cpu_times(&self) -> bool {
        self.samples.iter().any(|s| s.cpu_ns.is_some())
    }

    /// The frames of a stack, innermost first.
    pub(crate) fn stack_frames(&self, id: StackId) -> StackFrames<'_> {
        StackFrames {
            rec: self,
            next: Some(id),
        }
    }

    /// A recording of several processes (`record --subprocesses`).
    pub(crate) fn has_processes(&self) -> bool {
        !self.processes.is_empty()
    }

    /// The process of a thread: `None` for the META's.
    pub(crate) fn thread_process(&self, id: ThreadIndex) -> Option<ProcessIndex> {
        self.thread(id).process
    }

    /// The pid of a process (`None`: the META's).
    pub(crate) fn process_pid(&self, process: Option<ProcessIndex>) -> u32 {
        match process.and_then(|p| self.processes.get(p.0 as usize)) {
            Some(p) => p.info.pid,
            None => self.meta.pid,
        }
    }

    /// A label for a process: `pid 1234: python worker.py` (not escaped).
    pub(crate) fn process_label(&self, process: Option<ProcessIndex>) -> String {
        let (pid, command) = match process.and_then(|p| self.processes.get(p.0 as usize)) {
            Some(p) => (p.info.pid, &p.info.command),
            None => (self.meta.pid, &self.meta.command),
        };
        if command.is_empty() {
            format!("pid {pid}")
        } else {
            format!("pid {pid}: {}", command_line(pid, command))
        }
    }

    /// A label for a thread: its name (or `thread`) and its OS thread id (or Python id).
    pub(crate) fn thread_label(&self, id: ThreadIndex) -> String {
        let thread = self.thread(id);
        let name = thread.name.map_or("thread", |n| self.string(n));
        match thread.os_tid {
            Some(tid) => format!("{name} (tid {tid})"),
            None => format!("{name} (id {:#x})", thread.python_thread_id),
        }
    }
}

/// Iterator over a stack's frames, innermost first; see [`Recording::stack_frames`].
pub struct StackFrames<'a> {
    rec: &'a Recording,
    next: Option<StackId>,
}

impl Iterator for StackFrames<'_> {
    type Item = FrameId;

    fn next(&mut self) -> Option<FrameId> {
        let node = self.rec.stack(self.next?);
        self.next = node.parent;
        Some(node.frame)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
