//! framescope: a sampling profiler for CPython that reads the interpreter's frames out of
//! another process's memory. See ARCHITECTURE.md for the walk of one `dump` and one
//! `record` through these modules.

pub mod cli;
pub mod commands;
pub mod diff;
pub mod discover;
pub mod dump;
pub mod error;
pub mod escape;
pub mod fasthash;
pub mod input_file;
pub mod limits;
pub mod output;
pub mod process;
pub mod python;
pub mod record;
pub mod recording;
pub mod report;
pub mod sampler;
pub mod signals;
pub mod tree_sampler;

#[cfg(test)]
mod fuzz_tests;
