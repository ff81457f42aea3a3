//! The target as an operating-system process: remote memory reads (batched and counted),
//! its mapped files and their ELF symbols, pausing it, its threads' CPU state, and what
//! its pid names (a process, a thread of one, a zombie), and its descendants (a `/proc`
//! scan, or the kernel's fork/exec/exit events).
//! Nothing here knows about Python.

pub mod core;
pub mod elf;
pub mod events;
pub mod gather;
pub mod image;
pub mod maps;
pub mod memory;
pub mod pause;
pub mod realtime;
pub mod saved;
pub mod status;
pub mod threads;
pub mod tree;

pub use gather::{Gather, RegionId};
pub use memory::{Bytes, Memory, ReadError, RemoteMemory};
