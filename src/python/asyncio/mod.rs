//! asyncio as seen from outside: the layouts of the `_asyncio` C module's Task and Future
//! objects and of coroutines, per CPython version (`layout.rs`, from
//! `python-offsets/asyncio-3.X.toml`). 3.14 and newer publish these offsets themselves
//! (`published.rs`, read from the `.AsyncioDebug` section of `_asyncio`)
//! (`_AsyncioDebug`) and have no table.

pub mod all_tasks;
pub mod layout;
pub mod per_sample;
pub mod published;
pub mod running;
pub mod tree;
