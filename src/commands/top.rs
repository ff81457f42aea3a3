//! `framescope top`: the command line turned into a [`TopRequest`] (the sampler's
//! settings and the view it starts with), then [`crate::top::run`].

use crate::cli::{TopArgs, TopSort};
use crate::error::Result;
use crate::top::model::{Scope, SortColumn, View};
use crate::top::TopRequest;

/// Runs the live view until it is quit, the duration is over or the target ends.
pub fn run(args: TopArgs) -> Result<i32> {
    let target = super::target(&args.sampling, &args.command, "top")?;
    let request = TopRequest {
        target,
        sampler: super::sampler_config(&args.sampling, false),
        output: args.output,
        view: View {
            scope: if args.session {
                Scope::Session
            } else {
                Scope::LastWindow
            },
            clock: args.clock,
            idle: args.idle,
            per_thread: args.threads,
            lines: args.lines,
            thread: args.thread,
            process: None,
            sort: sort_column(args.sort),
            reversed: false,
        },
        limit: args.limit,
        subprocesses: args.subprocesses,
    };
    crate::top::run(&request)?;
    Ok(super::SUCCESS)
}

/// The column of the view `--sort` names.
fn sort_column(sort: TopSort) -> SortColumn {
    match sort {
        TopSort::Own => SortColumn::OwnPct,
        TopSort::Total => SortColumn::TotalPct,
        TopSort::Name => SortColumn::Function,
        TopSort::Thread => SortColumn::Thread,
    }
}
