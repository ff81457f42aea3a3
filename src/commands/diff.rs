//! `framescope diff`: the command line checked into a [`DiffOptions`] (diff's own request
//! type, also built by `compare`), then [`crate::diff::run`].

use std::io::IsTerminal;

use crate::cli::DiffArgs;
use crate::diff::options::DiffOptions;
use crate::error::Result;

/// Runs the diff; its exit status is 0, or [`crate::diff::GATE_FAILED`].
pub fn run(args: &DiffArgs) -> Result<i32> {
    let options = DiffOptions::from_args(args, std::io::stdout().is_terminal())?;
    crate::diff::run(&options, None)
}
