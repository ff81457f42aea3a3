//! Reports: one recording, many views. [`profile`] turns a [`Recording`] into the model all
//! formats share (which samples a view keeps, the time each stands for, tallies per stack,
//! functions and their labels); each other module writes one output format from it behind
//! the same small interface, `render(rec, view, options, out)`. Adding a format means one
//! new module and one new [`Format`] variant. Nothing here reads a process.

pub mod collapsed;
pub mod flamegraph;
pub mod profile;
pub mod speedscope;
pub mod table;
pub mod tasks;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::str::FromStr;

pub use profile::{Profile, ViewOptions};
pub use table::Sort;

use crate::error::{Error, Result};
use crate::recording::Recording;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// cProfile-style text table.
    Table,
    /// Interactive SVG flamegraph.
    Flamegraph,
    /// speedscope JSON, one sampled profile per thread.
    Speedscope,
    /// Collapsed (folded) stacks, `a;b;c N`, as flamegraph.pl and inferno read them.
    Collapsed,
}

impl Format {
    /// Every format's name as [`FromStr`] takes it.
    pub const NAMES: [&'static str; 4] = ["table", "flamegraph", "speedscope", "collapsed"];

    /// The format a file name asks for: `.svg` a flamegraph, `.json` (and `.speedscope.json`)
    /// speedscope, `.txt`, `.folded` or `.collapsed` collapsed stacks.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "svg" => Some(Format::Flamegraph),
            "json" => Some(Format::Speedscope),
            "txt" | "folded" | "collapsed" => Some(Format::Collapsed),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Flamegraph => "flamegraph",
            Format::Speedscope => "speedscope",
            Format::Collapsed => "collapsed",
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
    }
    out.flush().map_err(write_error)
}

/// The error for a failed write of report output.
pub(crate) fn write_error(e: std::io::Error) -> Error {
    Error::io("cannot write the report", e)
}

#[cfg(test)]
mod tests;
