//! `framescope completions SHELL`: the shell's completion script, from the clap
//! definitions, on standard output.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Result;
use crate::output::CommandOutput;

/// Prints the completion script of `args.shell`.
pub fn run(args: &CompletionsArgs) -> Result<i32> {
    let mut script = Vec::new();
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "framescope", &mut script);
    CommandOutput::Stdout.write(&script)?;
    Ok(super::SUCCESS)
}
