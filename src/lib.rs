//! framescope: a sampling profiler for CPython that reads the interpreter's frames out of
//! another process's memory. See ARCHITECTURE.md for the walk of one `dump` and one
//! `record` through these modules.
//!
//! Only what the binary, the integration tests and the examples use is `pub`; the rest is
//! `pub(crate)`, so rustc reports what nothing uses.

// A panic on what came from outside (target memory, files, the user) is a bug: the
// library's own code may not unwrap; its unit tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod commands;
pub(crate) mod diff;
pub(crate) mod discover;
pub(crate) mod dump;
pub mod error;
pub mod escape;
pub(crate) mod input_file;
pub(crate) mod limits;
pub(crate) mod output;
pub(crate) mod process;
pub mod python;
pub(crate) mod record;
pub mod recording;
pub mod report;
pub mod sampler;
pub(crate) mod signals;
pub(crate) mod sinks;
pub(crate) mod top;
pub(crate) mod tree_sampler;

#[cfg(test)]
mod fuzz_tests;
