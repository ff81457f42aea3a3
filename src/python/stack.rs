//! What one look at a Python thread yields: the plain data that the reader hands to the
//! sampler, the recording and `dump`. Nothing in here reads memory; it is the vocabulary
//! shared by everything downstream of `python/`.

use serde::Serialize;

use super::walker::ThreadError;

/// Index of a decoded code object in the reader's [`CodeTable`]. Ids are handed out in
/// order and never reused: when a code object is freed and its address reused by another
/// one, the new one gets a new id, so an id always names the same function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeId(pub u32);

/// The parts of a code object a profile shows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CodeInfo {
    /// `co_name`: the bare function name.
    pub name: String,
    /// `co_qualname` on 3.11+ (`Outer.Inner.method`), `co_name` before.
    pub qualname: String,
    /// `co_filename`, as the target sees it (inside its own root for a container).
    pub filename: String,
    /// `co_firstlineno`: the line of the `def`.
    pub first_line: u32,
}

/// Every code object decoded so far, by [`CodeId`]. Grows only.
#[derive(Default, Debug)]
pub struct CodeTable {
    codes: Vec<CodeInfo>,
}

impl CodeTable {
    pub fn push(&mut self, info: CodeInfo) -> CodeId {
        self.codes.push(info);
        CodeId((self.codes.len() - 1) as u32)
    }

    pub(crate) fn get(&self, id: CodeId) -> &CodeInfo {
        &self.codes[id.0 as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.codes.len()
    }
}

/// One Python frame: which code, and the line it is at (0 when the line is unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RawFrame {
    pub code: CodeId,
    pub line: u32,
}

/// One Python thread at one instant.
#[derive(Clone, Debug, Default)]
pub struct ThreadStack {
    /// The kernel's thread id (what `top -H` and `/proc/PID/task` show), when known.
    pub os_tid: Option<u32>,
    /// `threading.get_ident()` of the thread (its `pthread_t`).
    pub python_thread_id: u64,
    /// The `threading.Thread` name, where the thread has one.
    pub name: Option<std::sync::Arc<str>>,
    /// The thread holds the GIL (false when the GIL state could not be read).
    pub holds_gil: bool,
    /// The thread ran since its previous sample (its CPU time grew), or, in a one-off
    /// dump, the OS reports it running or runnable; `None` when not asked or unknown.
    pub on_cpu: Option<bool>,
    /// CPU time the kernel charged the thread since its previous sample (since the reader
    /// started, for its first), in ns; `None` when not asked or unreadable.
    pub cpu_ns: Option<u64>,
    /// Innermost frame first.
    pub frames: Vec<RawFrame>,
    /// Set when this thread's stack could not be read consistently; `frames` then holds
    /// whatever was read before the problem (possibly nothing).
    pub error: Option<ThreadError>,
    /// The stack was deeper than the walk follows ([`MAX_STACK_DEPTH`]): `frames` holds its
    /// innermost frames, the older ones were not read.
    ///
    /// [`MAX_STACK_DEPTH`]: crate::limits::MAX_STACK_DEPTH
    pub truncated: bool,
}

impl ThreadStack {
    pub(crate) fn clear(&mut self) {
        self.os_tid = None;
        self.python_thread_id = 0;
        self.name = None;
        self.holds_gil = false;
        self.on_cpu = None;
        self.cpu_ns = None;
        self.frames.clear();
        self.error = None;
        self.truncated = false;
    }
}
