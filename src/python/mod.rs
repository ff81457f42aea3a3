//! The target as a CPython interpreter: which version and build it is, the
//! [`Layout`](layout::Layout) of its structures, its threads, their frames, and the code
//! objects behind them. Reads memory only through `process/`; formats nothing.

pub(crate) mod asyncio;
pub(crate) mod attrs;
pub(crate) mod callsites;
pub(crate) mod code;
pub(crate) mod copies;
pub(crate) mod debug_offsets;
pub(crate) mod dicts;
pub(crate) mod frames;
pub(crate) mod interpreter;
pub(crate) mod layout;
pub(crate) mod layout_fields;
pub(crate) mod linetable;
pub(crate) mod locals;
pub(crate) mod many_reads;
pub(crate) mod objects;
#[cfg(test)]
mod offline_tests;
pub(crate) mod recent_frames;
pub mod snapshot;
pub mod stack;
pub(crate) mod thread_names;
pub(crate) mod version;
pub(crate) mod walker;

pub(crate) use interpreter::Interpreter;
pub(crate) use stack::{CodeTable, ThreadStack};
pub use walker::ThreadError;
pub(crate) use walker::{SampleOptions, StackReader};
