//! The `framescope` binary: parse the command line, run the subcommand, and turn errors
//! into one-line messages and exit codes. Nothing else lives here.

use clap::Parser;
use framescope::cli::{Cli, Command, RecordArgs, ReportArgs, ViewArgs};
use framescope::diff::options::DiffOptions;
use framescope::error::{Error, Result};
use framescope::escape::visible;
use framescope::output::{self, Destination};
use framescope::record::{RecordRequest, Target};
use framescope::report::profile::Clock;
use framescope::report::{Format, RenderOptions, ViewOptions};
use framescope::sampler::SamplerConfig;
use framescope::sinks::pyroscope::PyroscopeConfig;

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dump(args) => run_dump(args),
        Command::Record(args) => run_record(args),
        Command::Report(args) => run_report(args),
        Command::Diff(args) => run_diff(&args).map(exit_unless_zero),
        Command::Compare(args) => framescope::commands::compare::run(&args).map(exit_unless_zero),
        Command::Top(args) => run_top(args),
        Command::Completions(args) => run_completions(args),
    };
    if let Err(e) = result {
        // One line, whatever a target or a file put into the message.
        eprintln!("framescope: {}", visible(&e.to_string()));
        std::process::exit(e.exit_code());
    }
}

/// Prints the completion script of `args.shell` on standard output.
fn run_completions(args: framescope::cli::CompletionsArgs) -> Result<()> {
    let mut script = Vec::new();
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(args.shell, &mut command, "framescope", &mut script);
    output::to_stdout(&script)
}

/// Exits with `status` when it is not 0 (a failed gate).
fn exit_unless_zero(status: i32) {
    if status != 0 {
        std::process::exit(status);
    }
}

/// `framescope diff`: the command line checked into a [`DiffOptions`], then the diff.
fn run_diff(args: &framescope::cli::DiffArgs) -> Result<i32> {
    use std::io::IsTerminal;
    let options = DiffOptions::from_args(args, std::io::stdout().is_terminal())?;
    framescope::diff::run(&options, None)
}

fn run_dump(args: framescope::cli::DumpArgs) -> Result<()> {
    let dest = args
        .output
        .as_deref()
        .map(Destination::resolve)
        .transpose()?;
    if args.python_binary.is_some() && args.core.is_none() {
        return Err(Error::Usage(
            "--python-binary goes with --core FILE (a live process's files are found in /proc)"
                .into(),
        ));
    }
    let text = if args.subprocesses {
        let pid = match (args.pid, &args.core, args.locals || args.asyncio) {
            (Some(pid), None, false) => pid,
            (_, Some(_), _) => {
                return Err(Error::Usage(
                    "--subprocesses follows live processes; a core file holds one".into(),
                ))
            }
            (_, _, true) => {
                return Err(Error::Usage(
                    "--locals and --async read one process; leave out --subprocesses".into(),
                ))
            }
            (None, None, _) => {
                return Err(Error::Usage("dump --subprocesses needs --pid PID".into()))
            }
        };
        let dump = framescope::dump::take_tree(pid, !args.nonblocking)?;
        if args.json {
            serde_json::to_string_pretty(&dump).map_err(|e| Error::Read(e.to_string()))? + "\n"
        } else {
            framescope::dump::render_tree_text(&dump)
        }
    } else {
        dump_one(&args)?
    };
    match dest {
        Some(dest) => output::write_to(&dest, text.as_bytes()),
        None => output::to_stdout(text.as_bytes()),
    }
}

/// `dump` of one process, live or from a core file.
fn dump_one(args: &framescope::cli::DumpArgs) -> Result<String> {
    let report = match (&args.core, args.pid) {
        (Some(core), _) => {
            framescope::dump::take_core(core, args.python_binary.as_deref(), args.locals)?
        }
        (None, Some(pid)) => {
            let extras = framescope::dump::DumpExtras {
                locals: args.locals,
                tasks: args.asyncio,
            };
            framescope::dump::take_with(pid, !args.nonblocking, extras)?
        }
        (None, None) => return Err(Error::Usage("dump needs --pid PID or --core FILE".into())),
    };
    Ok(if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| Error::Read(e.to_string()))? + "\n"
    } else {
        framescope::dump::render_text(&report)
    })
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
    let (format, view, render) = view_options(&args.view)?;
    let pyroscope = match (&args.pyroscope, &args.app_name) {
        (Some(url), Some(app)) => Some(
            PyroscopeConfig::new(url, app, &args.tags, &args.push_every).map_err(Error::Usage)?,
        ),
        _ => None,
    };
    let request = RecordRequest {
        target,
        sampler: SamplerConfig {
            rate_hz: args.rate,
            duration: args.duration,
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
        subprocesses: args.subprocesses,
        pyroscope,
    };
    let outcome = framescope::record::run(&request)?;
    if let Some(code) = outcome.command_exit {
        std::process::exit(code);
    }
    Ok(())
}

fn run_top(args: framescope::cli::TopArgs) -> Result<()> {
    use framescope::top::model::{Scope, SortColumn, View};
    let target = match (args.pid, args.command.is_empty()) {
        (Some(pid), true) => Target::Pid(pid),
        (None, false) => Target::Command(args.command.clone()),
        _ => {
            return Err(Error::Usage(
                "top needs either --pid PID or a command after `--`".into(),
            ))
        }
    };
    let duration = args.duration;
    let sort = match args.sort.as_str() {
        "own" => SortColumn::OwnPct,
        "name" => SortColumn::Function,
        "thread" => SortColumn::Thread,
        _ => SortColumn::TotalPct,
    };
    let request = framescope::top::TopRequest {
        target,
        sampler: SamplerConfig {
            rate_hz: args.rate,
            duration,
            blocking: args.blocking,
            status_line: false,
            jitter: !args.no_jitter,
            boost: !args.normal_priority,
        },
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
            sort,
            reversed: false,
        },
        limit: args.limit,
        subprocesses: args.subprocesses,
    };
    framescope::top::run(&request)
}

fn run_report(args: ReportArgs) -> Result<()> {
    let (format, mut view, render) = view_options(&args.view)?;
    let format = match args.output.as_deref() {
        Some(path) => Format::for_output(format, path, &[]).map_err(Error::Usage)?,
        None => format,
    }
    .unwrap_or(Format::Table);
    if args.output.is_none()
        && matches!(format, Format::Pprof | Format::Pstats)
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        return Err(Error::Usage(format!(
            "{} is a binary format: write it with -o FILE, or redirect standard output",
            format.name()
        )));
    }
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
    if let Some(pid) = args.pid {
        framescope::report::check_process(&rec, pid)?;
        view.process_filter = Some(pid);
    }
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
