//! The target as a CPython interpreter: which version and build it is, the [`Layout`] of
//! its structures, its threads, their frames, and the code objects behind them. Reads
//! memory only through `process/`; formats nothing.

pub mod asyncio;
pub mod attrs;
pub mod callsites;
pub mod code;
pub mod copies;
pub mod debug_offsets;
pub mod dicts;
pub mod frames;
pub mod interpreter;
pub mod layout;
pub mod layout_fields;
pub mod linetable;
pub mod locals;
pub mod many_reads;
pub mod objects;
#[cfg(test)]
mod offline_tests;
pub mod recent_frames;
pub mod snapshot;
pub mod stack;
pub mod thread_names;
pub mod version;
pub mod walker;

pub use interpreter::Interpreter;
pub use layout::Layout;
pub use stack::{CodeId, CodeInfo, CodeTable, RawFrame, ThreadStack};
pub use version::Version;
pub use walker::{SampleOptions, StackReader, ThreadError};
