//! `framescope record`: the command line turned into a [`RecordRequest`] (the sampler's
//! settings, the view and render options of the output, the Pyroscope push), then
//! [`crate::record::run`]. The output path is checked there, before the target starts.

use crate::cli::RecordArgs;
use crate::error::{Error, Result};
use crate::record::RecordRequest;
use crate::sinks::pyroscope::PyroscopeConfig;

/// Records; the exit status is the recorded command's, when framescope started it.
pub fn run(args: RecordArgs) -> Result<i32> {
    let target = super::target(&args.sampling, &args.command, "record")?;
    let (view, render) = super::view_options(&args.view);
    let pyroscope = match (&args.pyroscope, &args.app_name) {
        (Some(url), Some(app)) => Some(
            PyroscopeConfig::new(url, app, args.tags.clone(), args.push_every)
                .map_err(Error::Usage)?,
        ),
        _ => None,
    };
    let request = RecordRequest {
        target,
        sampler: super::sampler_config(&args.sampling, !args.quiet),
        output: args.output,
        format: args.view.format,
        view,
        render,
        quiet: args.quiet,
        subprocesses: args.subprocesses,
        pyroscope,
    };
    let outcome = crate::record::run(&request)?;
    Ok(outcome.command_exit.unwrap_or(super::SUCCESS))
}
