//! The command line: clap definitions of every subcommand and option, nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "framescope",
    version,
    about = "Sampling profiler for CPython 3.8-3.15: reads stacks straight out of a running process"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print every thread's Python stack, now.
    Dump(DumpArgs),
    /// Sample a process (by pid, or a command started here) into a recording or a report.
    Record(RecordArgs),
    /// Turn a recording into a table, flamegraph, speedscope profile or collapsed stacks.
    Report(ReportArgs),
}

/// How to look at a recording: shared by `record` and `report`.
#[derive(Args, Debug, Clone)]
pub struct ViewArgs {
    /// Output format; by default chosen from the output file's extension (table otherwise).
    #[arg(long, value_parser = ["table", "flamegraph", "speedscope", "collapsed"])]
    pub format: Option<String>,
    /// Include samples of threads that were not running on a CPU (sleeping, waiting).
    #[arg(long)]
    pub idle: bool,
    /// Only samples of the thread holding the GIL.
    #[arg(long)]
    pub gil: bool,
    /// Keep threads apart: one table (or flamegraph root) per thread.
    #[arg(long)]
    pub threads: bool,
    /// Only this thread (OS thread id or Python thread id).
    #[arg(long, value_name = "TID")]
    pub thread: Option<u64>,
    /// Table: sort by this column.
    #[arg(long, default_value = "cumtime", value_parser = ["cumtime", "tottime", "samples", "name"])]
    pub sort: String,
    /// Table: at most this many rows.
    #[arg(long)]
    pub limit: Option<usize>,
    /// One row (or frame) per source line instead of per function.
    #[arg(long)]
    pub lines: bool,
    /// Flamegraph: draw it upside down (an icicle graph).
    #[arg(long)]
    pub icicle: bool,
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Attach to this running process.
    #[arg(long, short, conflicts_with = "command")]
    pub pid: Option<u32>,
    /// Stop after this many seconds (default: until the target exits or Ctrl-C).
    #[arg(long, short)]
    pub duration: Option<f64>,
    /// Samples per second.
    #[arg(long, short, default_value_t = 1000.0)]
    pub rate: f64,
    /// Read without pausing the target (the default; see README for the measurements).
    #[arg(long, conflicts_with = "blocking")]
    pub nonblocking: bool,
    /// Pause the target for every sample: consistent stacks, at a cost to the target.
    #[arg(long)]
    pub blocking: bool,
    /// Where to write: .fsr a recording, .svg a flamegraph, .json speedscope, .txt/.folded
    /// collapsed stacks. Default: a recording named after the pid in this directory.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub view: ViewArgs,
    /// The command to start and profile, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The recording to read.
    pub recording: PathBuf,
    /// Write here instead of standard output; the extension picks the format.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub view: ViewArgs,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The process to read.
    #[arg(long, short)]
    pub pid: u32,
    /// Print JSON (schema in README) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Read without pausing the process (stacks may be torn while it runs).
    #[arg(long)]
    pub nonblocking: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}
