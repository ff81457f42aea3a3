//! `framescope report`: one recording read and written in the format asked for (by
//! `--format`, or by the extension of `-o`), through the view the options describe.

use std::io::IsTerminal;

use crate::cli::ReportArgs;
use crate::error::{Error, Result};
use crate::escape::visible;
use crate::output::{self, CommandOutput};
use crate::report::profile::Clock;
use crate::report::Format;

/// Writes the report of `args.recording`.
pub fn run(args: &ReportArgs) -> Result<i32> {
    let (mut view, render) = super::view_options(&args.view);
    let format = match args.output.as_deref() {
        Some(path) => Format::for_output(args.view.format, path, &[]).map_err(Error::Usage)?,
        None => args.view.format,
    }
    .unwrap_or(Format::Table);
    if args.output.is_none()
        && matches!(format, Format::Pprof | Format::Pstats)
        && std::io::stdout().is_terminal()
    {
        return Err(Error::Usage(format!(
            "{} is a binary format: write it with -o FILE, or redirect standard output",
            format.name()
        )));
    }
    // The output is checked before the work.
    let output = CommandOutput::resolve(args.output.as_deref())?;
    let bytes = crate::input_file::read(&args.recording)?;
    let rec = crate::recording::read_bytes(&bytes, &args.recording)?;
    drop(bytes);
    view.clock = Clock::resolve(args.view.clock, rec.has_cpu_times()).map_err(Error::Usage)?;
    if let Some(pid) = args.pid {
        crate::report::check_process(&rec, pid)?;
        view.process_filter = Some(pid);
    }
    let spell_out = format != Format::Table;
    let warning = crate::limits::check(&rec, spell_out, &args.recording)?;
    if format == Format::Speedscope {
        crate::limits::check_samples(&rec, &view, &args.recording)?;
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
    output.write_with(|out| crate::report::render(&rec, format, &view, &render, out))?;
    Ok(super::SUCCESS)
}
