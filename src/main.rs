//! The `framescope` binary: parse the command line, run the subcommand, and turn errors
//! into one-line messages and exit codes. Nothing else lives here.

use clap::Parser;
use framescope::cli::{Cli, Command, RecordArgs, ReportArgs, ViewArgs};
use framescope::error::{Error, Result};
use framescope::escape::visible;
use framescope::output::{self, Destination};
use framescope::record::{RecordRequest, Target};
use framescope::report::profile::Clock;
use framescope::report::{Format, RenderOptions, ViewOptions};
use framescope::sampler::SamplerConfig;

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dump(args) => run_dump(args),
        Command::Record(args) => run_record(args),
        Command::Report(args) => run_report(args),
        Command::Diff(args) => framescope::diff::run(&args).map(exit_unless_zero),
        Command::Compare(args) => framescope::commands::compare::run(&args).map(exit_unless_zero),
    };
    if let Err(e) = result {
        // One line, whatever a target or a file put into the message.
        eprintln!("framescope: {}", visible(&e.to_string()));
        std::process::exit(e.exit_code());
    }
}

/// Exits with `status` when it is not 0 (a failed gate).
fn exit_unless_zero(status: i32) {
    if status != 0 {
        std::process::exit(status);
    }
}

fn run_dump(args: framescope::cli::DumpArgs) -> Result<()> {
    let dest = args
        .output
        .as_deref()
        .map(Destination::resolve)
        .transpose()?;
    let report = framescope::dump::take_with(args.pid, !args.nonblocking, args.asyncio)?;
    let text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| Error::Read(e.to_string()))? + "\n"
    } else {
        framescope::dump::render_text(&report)
    };
    match dest {
        Some(dest) => output::write_to(&dest, text.as_bytes()),
        None => output::to_stdout(text.as_bytes()),
    }
}

fn view_options(v: &ViewArgs) -> Result<(Option<Format>, ViewOptions, RenderOptions)> {
    let format = v
        .format
        .as_deref()
        .map(|f| f.parse::<Format>().map_err(Error::Usage))
        .transpose()?;
    let view = ViewOptions {
        // Settled against the recording by `Clock::resolve` where it is read.
        clock: v.clock.unwrap_or(Clock::Cpu),
        idle: v.idle,
        gil_only: v.gil,
        per_thread: v.threads,
        thread_filter: v.thread,
        tasks: v.asyncio.then(|| v.tasks_by.unwrap_or_default()),
    };
    let render = RenderOptions {
        sort: v.sort.parse().map_err(Error::Usage)?,
        limit: v.limit,
        lines: v.lines,
        icicle: v.icicle,
    };
    Ok((format, view, render))
}

fn run_record(args: RecordArgs) -> Result<()> {
    let target = match (args.pid, args.command.is_empty()) {
        (Some(pid), true) => Target::Pid(pid),
        (None, false) => Target::Command(args.command.clone()),
        _ => {
            return Err(Error::Usage(
                "record needs either --pid PID or a command after `--`".into(),
            ))
        }
    };
    if !(args.rate > 0.0 && args.rate <= 100_000.0) {
        return Err(Error::Usage(format!(
            "--rate must be between 0 and 100000 samples per second, not {}",
            args.rate
        )));
    }
    let (format, view, render) = view_options(&args.view)?;
    let request = RecordRequest {
        target,
        sampler: SamplerConfig {
            rate_hz: args.rate,
            duration: args.duration.map(std::time::Duration::from_secs_f64),
            blocking: args.blocking,
            status_line: !args.quiet,
            jitter: !args.no_jitter,
            boost: !args.normal_priority,
        },
        output: args.output,
        format,
        view,
        render,
        quiet: args.quiet,
    };
    let outcome = framescope::record::run(&request)?;
    if let Some(code) = outcome.command_exit {
        std::process::exit(code);
    }
    Ok(())
}

fn run_report(args: ReportArgs) -> Result<()> {
    let (format, mut view, render) = view_options(&args.view)?;
    let format = format
        .or_else(|| args.output.as_deref().and_then(Format::from_path))
        .unwrap_or(Format::Table);
    // The output is checked before the work.
    let dest = args
        .output
        .as_deref()
        .map(Destination::resolve)
        .transpose()?;
    let bytes = framescope::input_file::read(&args.recording)?;
    let rec = framescope::recording::read_bytes(&bytes, &args.recording)?;
    drop(bytes);
    view.clock = Clock::resolve(args.view.clock, rec.has_cpu_times()).map_err(Error::Usage)?;
    let spell_out = format != Format::Table;
    let warning = framescope::limits::check(&rec, spell_out, &args.recording)?;
    if format == Format::Speedscope {
        framescope::limits::check_samples(&rec, &view, &args.recording)?;
    }
    if let Some(warning) = warning {
        eprintln!("framescope: warning: {}", visible(&warning));
    }
    if rec.truncated || rec.summary.is_none() {
        let why = rec
            .truncation
            .clone()
            .unwrap_or_else(|| "it ends without the summary a finished recording has".into());
        eprintln!(
            "framescope: {} is incomplete: cut off or damaged ({}); showing its {} samples",
            output::show(&args.recording),
            visible(&why),
            rec.samples.len()
        );
    }
    match dest {
        Some(dest) => {
            dest.write_with(|out| framescope::report::render(&rec, format, &view, &render, out))
        }
        None => {
            let mut bytes = Vec::new();
            framescope::report::render(&rec, format, &view, &render, &mut bytes)?;
            output::to_stdout(&bytes)
        }
    }
}
