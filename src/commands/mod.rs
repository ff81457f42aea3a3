//! Subcommands that orchestrate the others: `compare` runs `record` on two git checkouts
//! and hands the recordings to `diff`.

pub mod compare;
