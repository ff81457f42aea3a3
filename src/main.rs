//! The `framescope` binary: parse the command line, run the subcommand (`commands/`), and
//! turn an error into one line and an exit code. Nothing else lives here.

#![warn(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use framescope::cli::{Cli, Command};
use framescope::commands;
use framescope::escape::visible;

fn main() {
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Dump(args) => commands::dump::run(&args),
        Command::Record(args) => commands::record::run(args),
        Command::Report(args) => commands::report::run(&args),
        Command::Diff(args) => commands::diff::run(&args),
        Command::Compare(args) => commands::compare::run(&args),
        Command::Top(args) => commands::top::run(args),
        Command::Completions(args) => commands::completions::run(&args),
    };
    match status {
        Ok(0) => {}
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // One line, whatever a target or a file put into the message.
            eprintln!("framescope: {}", visible(&e.to_string()));
            std::process::exit(e.exit_code());
        }
    }
}
