//! Reports: one recording, many views. [`profile`] turns a [`Recording`] into the model all
//! formats share (which samples a view keeps, the time each stands for, tallies per stack,
//! functions and their labels); each other module writes one output format from it behind
//! the same small interface, `render(rec, view, options, out)`. Adding a format means one
//! new module and one new [`Format`] variant. Nothing here reads a process.

pub(crate) mod collapsed;
pub(crate) mod flamegraph;
mod marshal;
pub mod pprof;
pub(crate) mod profile;
pub(crate) mod pstats;
pub(crate) mod speedscope;
pub(crate) mod table;
pub(crate) mod tasks;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::str::FromStr;

pub(crate) use profile::Profile;
pub use profile::ViewOptions;
pub(crate) use table::Sort;

use crate::error::{Error, Result};
use crate::recording::Recording;

/// An output format (`--format`: the names of [`Format::NAMES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// cProfile-style text table.
    Table,
    /// Interactive SVG flamegraph.
    Flamegraph,
    /// speedscope JSON, one sampled profile per thread.
    Speedscope,
    /// Collapsed (folded) stacks, `a;b;c N`, as flamegraph.pl and inferno read them.
    Collapsed,
    /// Gzipped pprof `profile.proto`, as `go tool pprof` and Pyroscope read it.
    Pprof,
    /// cProfile's pstats file (marshalled), for `pstats.Stats`, `python -m pstats`, snakeviz.
    Pstats,
}

impl Format {
    /// Every format's name as [`FromStr`] takes it.
    pub(crate) const NAMES: [&'static str; 6] = [
        "table",
        "flamegraph",
        "speedscope",
        "collapsed",
        "pprof",
        "pstats",
    ];

    /// The file-name endings that ask for a format (compared ignoring case), in the order
    /// an error lists them.
    pub(crate) const ENDINGS: &'static [(&'static str, Format)] = &[
        (".svg", Format::Flamegraph),
        (".json", Format::Speedscope),
        (".txt", Format::Collapsed),
        (".folded", Format::Collapsed),
        (".collapsed", Format::Collapsed),
        (".pb.gz", Format::Pprof),
        (".pprof", Format::Pprof),
        (".prof", Format::Pstats),
    ];

    /// The format a file name asks for: `.svg` a flamegraph, `.json` (and `.speedscope.json`)
    /// speedscope, `.txt`, `.folded` or `.collapsed` collapsed stacks, `.pb.gz` or `.pprof`
    /// pprof, `.prof` pstats.
    pub(crate) fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        Format::ENDINGS
            .iter()
            .find(|(ending, _)| name.ends_with(ending) && name.len() > ending.len())
            .map(|(_, format)| *format)
    }

    /// The format of output to `path`: `asked` (`--format`) when given, else the one the
    /// path's extension names, else `None` when the path has no extension or one of
    /// `also` (what the command writes without a format, such as a recording's `fsr`).
    /// Any other extension is an error that lists the formats.
    pub(crate) fn for_output(
        asked: Option<Format>,
        path: &Path,
        also: &[&str],
    ) -> Result<Option<Format>, String> {
        if asked.is_some() {
            return Ok(asked);
        }
        if let Some(format) = Format::from_path(path) {
            return Ok(Some(format));
        }
        let Some(ext) = path.extension() else {
            return Ok(None);
        };
        let ext = crate::escape::visible(&ext.to_string_lossy()).into_owned();
        if also.iter().any(|a| a.eq_ignore_ascii_case(&ext)) {
            return Ok(None);
        }
        let endings: Vec<String> = Format::ENDINGS
            .iter()
            .map(|(ending, format)| format!("{ending} ({})", format.name()))
            .chain(also.iter().map(|a| format!(".{a} (a recording)")))
            .collect();
        Err(format!(
            "no output format is named by the extension `.{ext}` of {}: name the file \
             {}, or choose the format with --format ({})",
            crate::output::show(path),
            endings.join(", "),
            Format::NAMES.join(", ")
        ))
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Flamegraph => "flamegraph",
            Format::Speedscope => "speedscope",
            Format::Collapsed => "collapsed",
            Format::Pprof => "pprof",
            Format::Pstats => "pstats",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "flamegraph" | "svg" => Ok(Format::Flamegraph),
            "speedscope" => Ok(Format::Speedscope),
            "collapsed" | "folded" => Ok(Format::Collapsed),
            "pprof" => Ok(Format::Pprof),
            "pstats" | "prof" => Ok(Format::Pstats),
            _ => Err(format!(
                "unknown format `{s}` (choose one of {})",
                Format::NAMES.join(", ")
            )),
        }
    }
}

/// Options of the individual formats; each format uses the ones that apply to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Table: the column to sort by.
    pub sort: Sort,
    /// Table: show at most this many rows (per thread).
    pub limit: Option<usize>,
    /// Every format: one entry per line of a function instead of one per function.
    pub lines: bool,
    /// Flamegraph: grow downwards from the top (an icicle graph).
    pub icicle: bool,
}

/// Writes `rec` as `format`, through the samples `view` keeps, to `out`.
pub fn render(
    rec: &Recording,
    format: Format,
    view: &ViewOptions,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let rooted;
    let rec = match view.tasks {
        Some(by) => {
            rooted = tasks::root_at_tasks(rec, by);
            &rooted
        }
        None => rec,
    };
    match format {
        Format::Table => table::render(rec, view, options, &mut out)?,
        Format::Flamegraph => flamegraph::render(rec, view, options, &mut out)?,
        Format::Speedscope => speedscope::render(rec, view, options, &mut out)?,
        Format::Collapsed => collapsed::render(rec, view, options, &mut out)?,
        Format::Pprof => pprof::render(rec, view, options, &mut out)?,
        Format::Pstats => pstats::render(rec, view, options, &mut out)?,
    }
    out.flush().map_err(write_error)
}

/// An error unless `pid` is a process of `rec` (for `report --pid`), naming those it has.
pub(crate) fn check_process(rec: &Recording, pid: u32) -> Result<()> {
    let mut pids: Vec<u32> = rec.processes.iter().map(|p| p.info.pid).collect();
    if pids.is_empty() {
        pids.push(rec.meta.pid);
    }
    if pids.contains(&pid) {
        return Ok(());
    }
    let shown: Vec<String> = pids.iter().take(20).map(u32::to_string).collect();
    Err(Error::Usage(format!(
        "the recording has no process {pid}; its processes are: {}{}",
        shown.join(", "),
        if pids.len() > shown.len() {
            ", …"
        } else {
            ""
        }
    )))
}

/// Whose profile a view shows, for headings: the recording's target, or with `--pid` the
/// process kept, with its own command and CPython version (a child's, not the root's).
pub(crate) struct Subject {
    pub pid: u32,
    /// Not escaped: callers escape it at their edge.
    pub command_line: String,
    /// Empty when unknown.
    pub python_version: String,
}

pub(crate) fn subject(rec: &Recording, view: &ViewOptions) -> Subject {
    // Without --pid, the root's own PROCESS record, when it has one, is the surest word
    // on its CPython version.
    let pid = view.process_filter.unwrap_or(rec.meta.pid);
    let kept = rec.processes.iter().find(|p| p.info.pid == pid);
    match kept {
        Some(p) if view.process_filter.is_none() => Subject {
            pid: rec.meta.pid,
            command_line: rec.meta.command_line(),
            python_version: p.info.python_version.clone(),
        },
        Some(p) => Subject {
            pid: p.info.pid,
            command_line: crate::recording::command_line(p.info.pid, &p.info.command),
            python_version: p.info.python_version.clone(),
        },
        None => Subject {
            pid: rec.meta.pid,
            command_line: rec.meta.command_line(),
            python_version: rec.meta.python_version.clone(),
        },
    }
}

/// The error for a failed write of report output.
pub(crate) fn write_error(e: std::io::Error) -> Error {
    Error::io("cannot write the report", e)
}

#[cfg(test)]
mod tests;
