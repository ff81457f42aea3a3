//! asyncio as seen from outside: the layouts of the `_asyncio` C module's Task and Future
//! objects and of coroutines, per CPython version (`layout.rs`, from
//! `python-offsets/asyncio-3.X.toml`). 3.14 and newer publish these offsets themselves
//! (`published.rs`, read from the `.AsyncioDebug` section of `_asyncio`)
//! (`_AsyncioDebug`) and have no table. `running.rs` finds the task each thread runs,
//! `all_tasks.rs` every task with where it waits and who awaits it, `tree.rs` shows them
//! for `dump --async`, `per_sample.rs` records them for `record --async`.

pub mod all_tasks;
pub mod layout;
pub mod per_sample;
pub mod published;
pub mod running;
pub mod tree;
