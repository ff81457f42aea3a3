//! The target as an operating-system process: remote memory reads (batched and counted),
//! its mapped files and their ELF symbols, pausing it, and its threads' CPU state.
//! Nothing here knows about Python.

pub mod elf;
pub mod gather;
pub mod maps;
pub mod memory;
pub mod pause;
pub mod threads;

pub use gather::{Gather, RegionId};
pub use memory::{Bytes, ReadError, RemoteMemory};
