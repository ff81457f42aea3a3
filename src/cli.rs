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
    /// Compare two recordings (or two sets of replicate runs) function by function, with
    /// confidence intervals; optionally fail when a function got significantly slower.
    Diff(DiffArgs),
    /// Run a command on two git refs (alternating, several runs each), record every run,
    /// and diff them: `framescope compare main HEAD -- python bench.py`.
    Compare(CompareArgs),
}

/// How to look at a recording: shared by `record` and `report`.
#[derive(Args, Debug, Clone)]
pub struct ViewArgs {
    /// Output format; by default chosen from the output file's extension (table otherwise).
    #[arg(long, value_parser = ["table", "flamegraph", "speedscope", "collapsed"])]
    pub format: Option<String>,
    /// The time each sample stands for: cpu (what the kernel charged the thread since its
    /// previous sample) or wall. Default: cpu when the recording has CPU times (framescope
    /// 0.2 and later), else wall.
    #[arg(long, value_enum)]
    pub clock: Option<crate::report::profile::Clock>,
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
    /// asyncio (CPython 3.11+): record reads the task each thread runs; every view
    /// roots each stack at a frame `task: NAME` between the event loop and the task's
    /// coroutines.
    #[arg(long = "async")]
    pub asyncio: bool,
    /// With --async: tell tasks apart by name, or merge them by coroutine function.
    #[arg(long, value_enum, value_name = "BY", requires = "asyncio")]
    pub tasks_by: Option<crate::report::profile::TasksBy>,
    /// Table: sort by this column.
    #[arg(long, default_value = "cumtime", value_parser = ["cumtime", "tottime", "samples", "name"])]
    pub sort: String,
    /// Table: at most this many rows (per thread); 0 shows all.
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
    /// Sample at the start of every period instead of at a random point of it. Only for
    /// comparison: work that repeats at the sampling rate can then hide from the samples.
    #[arg(long)]
    pub no_jitter: bool,
    /// Leave the sampling thread at normal priority. By default it asks for nice -10 where
    /// permitted (root, CAP_SYS_NICE), so a busy machine delays its samples less.
    #[arg(long)]
    pub normal_priority: bool,
    /// Where to write: .fsr a recording, .svg a flamegraph, .json speedscope, .txt/.folded
    /// collapsed stacks. Default: a recording named after the pid in this directory.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Print nothing on standard error but errors and warnings (no summary, no status line).
    #[arg(long, short)]
    pub quiet: bool,
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
    /// Also show the asyncio task each thread is running (CPython 3.11+).
    #[arg(long = "async")]
    pub asyncio: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  framescope diff base.fsr head.fsr
  framescope diff --base b1.fsr b2.fsr b3.fsr --head h1.fsr h2.fsr h3.fsr --fail-on-regression 5%
  framescope diff base.fsr head.fsr --format markdown > comment.md
  framescope diff base.fsr head.fsr --flamegraph diff.svg --flamegraph-gone gone.svg")]
pub struct DiffArgs {
    /// The base and the head input, when each side is one file.
    #[arg(value_name = "BASE HEAD", conflicts_with_all = ["base", "head"])]
    pub pair: Vec<PathBuf>,
    /// Base inputs: one run, or several replicate runs of the same benchmark.
    #[arg(long, num_args = 1.., value_name = "FILE", requires = "head")]
    pub base: Vec<PathBuf>,
    /// Head inputs (the changed code): one run, or several replicate runs.
    #[arg(long, num_args = 1.., value_name = "FILE", requires = "base")]
    pub head: Vec<PathBuf>,
    /// Everything else: how to compare, what to write, the gate.
    #[command(flatten)]
    pub options: DiffOptionArgs,
}

/// The options of a comparison, shared by `diff` and `compare`: every option added here
/// reaches both commands.
#[derive(Args, Debug, Clone)]
pub struct DiffOptionArgs {
    /// Output format of the comparison.
    #[arg(long, value_parser = ["table", "markdown", "json"])]
    pub format: Option<String>,
    /// Write the comparison here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Exit with status 1, naming each function, when a function's cumulative time per run
    /// grew by more than PCT percent and the growth is significant. Quiet otherwise.
    #[arg(long, value_name = "PCT")]
    pub fail_on_regression: Option<String>,
    /// Smallest change, in percent, called slower or faster (default 5, or the
    /// --fail-on-regression percentage when that is given).
    #[arg(long, value_name = "PCT")]
    pub threshold: Option<String>,
    /// False discovery rate for the Benjamini-Hochberg correction across functions.
    #[arg(long, default_value_t = 0.05, value_name = "Q")]
    pub alpha: f64,
    /// Leave out functions whose cumulative share is below PCT percent on both sides.
    #[arg(long, default_value = "0.5", value_name = "PCT")]
    pub min_share: String,
    /// Show at most this many functions (per section in markdown; default 20, JSON all);
    /// 0 shows all.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Order by the change of cumulative time (cum) or of own time (own).
    #[arg(long, default_value = "cum", value_parser = ["cum", "own"])]
    pub sort: String,
    /// Write a differential flamegraph drawn on the head profile: red grew, blue shrank.
    #[arg(long, value_name = "OUT.svg")]
    pub flamegraph: Option<PathBuf>,
    /// Write the reverse view, drawn on the base profile, where what disappeared shows
    /// (still red grew, blue shrank).
    #[arg(long, value_name = "OUT.svg")]
    pub flamegraph_gone: Option<PathBuf>,
    /// The time compared: cpu (the CPU time the kernel charged each thread; steady on a
    /// busy machine) or wall. Default: cpu when every input has CPU times, else wall.
    #[arg(long, value_enum)]
    pub clock: Option<crate::report::profile::Clock>,
    /// Count samples of threads that were not running (sleeping, waiting).
    #[arg(long)]
    pub idle: bool,
    /// Count only samples of the thread holding the GIL.
    #[arg(long)]
    pub gil: bool,
    /// Compare each function's share of its run's time (every run scaled to the base's
    /// time per run) instead of seconds per run: steadier on a busy machine, blind to a
    /// slowdown of everything at once.
    #[arg(long)]
    pub normalize: bool,
    /// Collapsed-stack inputs: the sampling rate their counts were taken at (py-spy's
    /// default is 100). Austin files carry their own times and ignore this.
    #[arg(long, default_value_t = 100.0, value_name = "HZ")]
    pub collapsed_rate: f64,
    /// Resamples of the block bootstrap (used when a side has a single run).
    #[arg(long, default_value_t = 9999, value_name = "N")]
    pub resamples: usize,
    /// Colour the table: auto (when standard output is a terminal and NO_COLOR is unset),
    /// always, never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  framescope compare main HEAD -- python -m pytest benchmarks/
  framescope compare v1.2 HEAD --runs 5 --fail-on-regression 5% --format markdown -- python bench.py
  framescope compare -C ../app origin/main HEAD --keep runs/ -- python bench.py")]
pub struct CompareArgs {
    /// The git ref of the base side (a branch, tag or commit).
    #[arg(value_name = "BASE_REF")]
    pub base_ref: String,
    /// The git ref of the head side (the changed code).
    #[arg(value_name = "HEAD_REF")]
    pub head_ref: String,
    /// The git repository (default: the one the current directory is in).
    #[arg(short = 'C', value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Runs per side, alternating base and head.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub runs: usize,
    /// Unrecorded runs per side before the recorded ones, so that no recorded run pays
    /// for writing bytecode caches or reading files from disk (0: none).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub warmup: usize,
    /// Samples per second of each recording.
    #[arg(long, short, default_value_t = 1000.0)]
    pub rate: f64,
    /// Read stacks without pausing the program (the default here is --blocking: every
    /// sample whole, at a cost to the program's speed that both sides pay alike).
    #[arg(long, conflicts_with = "blocking")]
    pub nonblocking: bool,
    /// Pause the program for every sample (the default of compare).
    #[arg(long)]
    pub blocking: bool,
    /// Keep the recordings in DIR (base-1.fsr, head-1.fsr, ...) to diff them again.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    #[command(flatten)]
    pub options: DiffOptionArgs,
    /// The command to run in each checkout, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}
