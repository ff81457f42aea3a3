//! Why one thread's stack is missing from a sample while the others are there: the
//! walker's per-thread errors, worded for people (dumps print them; recordings only count
//! them). The whole sample failing (process gone, no access) is a `crate::error::Error`
//! instead.

use std::fmt;

use crate::python::frames::Torn;

/// One thread's stack could not be read as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadError {
    /// The thread state itself was unreadable (the thread list changed under the read);
    /// the threads after it in the list are not reached.
    ThreadState { tstate: u64, at: u64 },
    /// 3.11/3.12: the `_PyCFrame` the thread state points to was unreadable.
    CFrame { paused: bool, at: u64 },
    /// The walk met a frame freed, cleared or unreadable, or a chain that loops.
    Frames { paused: bool, why: Torn },
    /// The sample's code objects could not be validated (every thread gets this).
    CodeObjects { why: String },
    /// One of this thread's code objects could not be decoded.
    CodeObject { paused: bool, why: String },
    /// The stack moved on every read, and one of its callers was off its call.
    KeptChanging { reads: usize },
}

impl ThreadError {
    /// How a stack that could not be read is described: "torn" only when the target ran
    /// while it was read; a paused target's stack cannot have changed under the read.
    fn unreadable(paused: bool) -> &'static str {
        if paused {
            "stack unreadable (process paused)"
        } else {
            "stack torn while reading"
        }
    }
}

impl fmt::Display for ThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadError::ThreadState { tstate, at } => {
                write!(f, "thread state at {tstate:#x} unreadable at {at:#x}")
            }
            ThreadError::CFrame { paused, at } => write!(
                f,
                "{}: address {at:#x} is not readable",
                Self::unreadable(*paused)
            ),
            ThreadError::Frames { paused, why } => {
                write!(f, "{}: {why}", Self::unreadable(*paused))
            }
            ThreadError::CodeObjects { why } => write!(f, "code objects unreadable: {why}"),
            ThreadError::CodeObject { paused, why } => {
                write!(f, "{} (code objects): {why}", Self::unreadable(*paused))
            }
            ThreadError::KeptChanging { reads } => {
                write!(f, "stack kept changing while read ({reads} reads)")
            }
        }
    }
}

impl std::error::Error for ThreadError {}

#[cfg(test)]
mod tests {
    use super::{ThreadError, Torn};

    #[test]
    fn wording_is_what_dumps_have_always_printed() {
        let cases = [
            (
                ThreadError::ThreadState {
                    tstate: 0x10,
                    at: 0x18,
                },
                "thread state at 0x10 unreadable at 0x18",
            ),
            (
                ThreadError::CFrame {
                    paused: false,
                    at: 0x20,
                },
                "stack torn while reading: address 0x20 is not readable",
            ),
            (
                ThreadError::Frames {
                    paused: true,
                    why: Torn::Freed(0x40),
                },
                "stack unreadable (process paused): frame at 0x40 was freed while being read",
            ),
            (
                ThreadError::CodeObjects { why: "gone".into() },
                "code objects unreadable: gone",
            ),
            (
                ThreadError::CodeObject {
                    paused: false,
                    why: "bad".into(),
                },
                "stack torn while reading (code objects): bad",
            ),
            (
                ThreadError::KeptChanging { reads: 16 },
                "stack kept changing while read (16 reads)",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
