//! One module per subcommand: each turns its checked command line (`cli/`) into the
//! request of the code that does the work (`dump.rs`, `record.rs`, `report/`, `diff/`,
//! `top/`) and returns the exit status. What a command writes goes through
//! [`crate::output`] (one [`crate::output::CommandOutput`] for a file or standard
//! output). `compare` orchestrates the others: it runs `record` on two git checkouts and
//! hands the recordings to `diff`.

pub mod compare;
pub mod completions;
pub mod diff;
pub mod dump;
pub mod record;
pub mod report;
pub mod top;

use crate::cli::{SamplingArgs, ViewArgs};
use crate::error::{Error, Result};
use crate::record::Target;
use crate::report::profile::Clock;
use crate::report::{RenderOptions, ViewOptions};
use crate::sampler::SamplerConfig;

/// The exit status of a command that did what it was asked.
pub(crate) const SUCCESS: i32 = 0;

/// The view and render options of `record` and `report`. The clock is settled against the
/// recording later, by `Clock::resolve` where it is read.
fn view_options(v: &ViewArgs) -> (ViewOptions, RenderOptions) {
    let view = ViewOptions {
        clock: v.clock.unwrap_or(Clock::Cpu),
        idle: v.idle,
        gil_only: v.gil,
        per_thread: v.threads,
        thread_filter: v.thread,
        per_process: v.processes,
        process_filter: None,
        tasks: v.asyncio.then(|| v.tasks_by.unwrap_or_default()),
    };
    let render = RenderOptions {
        sort: v.sort,
        limit: v.limit,
        lines: v.lines,
        icicle: v.icicle,
    };
    (view, render)
}

/// The process `record` or `top` samples: `--pid`, or the command after `--`.
fn target(sampling: &SamplingArgs, command: &[String], name: &str) -> Result<Target> {
    match (sampling.pid, command.is_empty()) {
        (Some(pid), true) => Ok(Target::Pid(pid)),
        (None, false) => Ok(Target::Command(command.to_vec())),
        _ => Err(Error::Usage(format!(
            "{name} needs either --pid PID or a command after `--`"
        ))),
    }
}

/// The sampler's settings from the common sampling options.
fn sampler_config(sampling: &SamplingArgs, status_line: bool) -> SamplerConfig {
    SamplerConfig {
        rate_hz: sampling.rate,
        duration: sampling.duration,
        blocking: sampling.blocking,
        status_line,
        jitter: !sampling.no_jitter,
        boost: !sampling.normal_priority,
    }
}
