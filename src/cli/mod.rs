//! The command line: clap definitions of every subcommand and option, each option typed
//! (a `ValueEnum` for a fixed set of values, a parser of [`values`] for numbers with
//! bounds), so that the commands get checked values and no string is parsed twice.

mod values;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::diff::options::{ColorChoice, DiffFormat, SortBy};
use crate::report::{Format, Sort};
use values::{false_discovery_rate, percent, rate, resamples, seconds, share_percent};

/// What `--version` prints after the name: framescope's version and the CPython versions
/// it reads (kept in step with `python::interpreter::OLDEST_MINOR` and
/// `python::layout::NEWEST_TABLE_MINOR` by a test).
pub(crate) const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (CPython 3.8–3.15)");

#[derive(Parser, Debug)]
#[command(
    name = "framescope",
    version = VERSION,
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
    /// Turn a recording into a table, flamegraph, speedscope profile, collapsed stacks or pprof.
    Report(ReportArgs),
    /// Compare two recordings (or two sets of replicate runs) function by function, with
    /// confidence intervals; optionally fail when a function got significantly slower.
    Diff(DiffArgs),
    /// Run a command on two git refs (alternating, several runs each), record every run,
    /// and diff them: `framescope compare main HEAD -- python bench.py`.
    Compare(CompareArgs),
    /// A live view of where a running program's time goes, refreshed every second (a
    /// plain-text snapshot each second when standard output is not a terminal).
    Top(TopArgs),
    /// Print a shell completion script: `framescope completions bash >
    /// /etc/bash_completion.d/framescope`.
    Completions(CompletionsArgs),
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// What to sample and how: shared by `record` and `top`.
#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// Attach to this running process (left running when framescope stops).
    #[arg(long, short, conflicts_with = "command")]
    pub(crate) pid: Option<u32>,
    /// Stop after this many seconds (default: until the target exits, Ctrl-C, or q in
    /// top).
    #[arg(long, short, value_parser = seconds, value_name = "SECONDS")]
    pub(crate) duration: Option<std::time::Duration>,
    /// Samples per second.
    #[arg(long, short, default_value_t = 1000.0, value_parser = rate)]
    pub(crate) rate: f64,
    /// Read without pausing the target (the default; see README for the measurements).
    #[arg(long, conflicts_with = "blocking")]
    pub(crate) nonblocking: bool,
    /// Pause the target for every sample: consistent stacks, at a cost to the target.
    #[arg(long)]
    pub(crate) blocking: bool,
    /// Sample at the start of every period instead of at a random point of it. Only for
    /// comparison: work that repeats at the sampling rate can then hide from the samples.
    #[arg(long)]
    pub(crate) no_jitter: bool,
    /// Leave the sampling thread at normal priority. By default it asks for nice -10 where
    /// permitted (root, CAP_SYS_NICE), so a busy machine delays its samples less.
    #[arg(long)]
    pub(crate) normal_priority: bool,
}

/// The column `top` starts sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TopSort {
    /// Own time.
    Own,
    /// Total (cumulative) time.
    Total,
    /// Function name.
    Name,
    /// Thread.
    Thread,
}

/// How to look at a recording: shared by `record` and `report`.
#[derive(Args, Debug, Clone)]
pub struct ViewArgs {
    /// Output format; by default chosen from the output file's extension (table otherwise).
    #[arg(long, value_enum)]
    pub(crate) format: Option<Format>,
    /// The time each sample stands for: cpu (what the kernel charged the thread since its
    /// previous sample) or wall. Default: cpu when the recording has CPU times (framescope
    /// 0.2 and later), else wall.
    #[arg(long, value_enum)]
    pub(crate) clock: Option<crate::report::profile::Clock>,
    /// Include samples of threads that were not running on a CPU (sleeping, waiting).
    #[arg(long)]
    pub(crate) idle: bool,
    /// Only samples of the thread holding the GIL.
    #[arg(long)]
    pub(crate) gil: bool,
    /// Keep threads apart: one table (or flamegraph root) per thread.
    #[arg(long)]
    pub(crate) threads: bool,
    /// Only this thread (OS thread id or Python thread id).
    #[arg(long, value_name = "TID")]
    pub(crate) thread: Option<u64>,
    /// asyncio (CPython 3.11+): record reads the task each thread runs; every view
    /// roots each stack at a frame `task: NAME` between the event loop and the task's
    /// coroutines.
    #[arg(long = "async")]
    pub(crate) asyncio: bool,
    /// With --async: tell tasks apart by name, or merge them by coroutine function.
    #[arg(long, value_enum, value_name = "BY", requires = "asyncio")]
    pub(crate) tasks_by: Option<crate::report::profile::TasksBy>,
    /// Table: sort by this column.
    #[arg(long, value_enum, default_value_t = Sort::CumTime)]
    pub(crate) sort: Sort,
    /// Table: at most this many rows (per thread); 0 shows all.
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// One row (or frame) per source line instead of per function.
    #[arg(long)]
    pub(crate) lines: bool,
    /// Flamegraph: draw it upside down (an icicle graph).
    #[arg(long)]
    pub(crate) icicle: bool,
    /// Keep processes apart (a recording of several, `record --subprocesses`): one table,
    /// or one flamegraph root, per process. By default they are merged by function.
    #[arg(long)]
    pub(crate) processes: bool,
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
    /// Where to write: .fsr a recording, .svg a flamegraph, .json speedscope, .txt/.folded
    /// collapsed stacks, .pb.gz pprof. Default: a recording named after the pid in this
    /// directory.
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
    /// Print nothing on standard error but errors and warnings (no summary, no status line).
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Also sample every descendant process that runs Python (workers, pools, anything
    /// started through a shell), each as its own process in the recording.
    #[arg(long)]
    pub(crate) subprocesses: bool,
    /// Also push the samples to this Pyroscope server while recording, every
    /// --push-every, as pprof (a token, if needed, from FRAMESCOPE_PYROSCOPE_TOKEN).
    #[arg(long, value_name = "URL", requires = "app_name")]
    pub(crate) pyroscope: Option<String>,
    /// The application name the pushed profiles are filed under in Pyroscope.
    #[arg(long, value_name = "NAME", requires = "pyroscope")]
    pub(crate) app_name: Option<String>,
    /// A tag of the pushed profiles (repeatable): --tag region=eu --tag env=prod.
    #[arg(long = "tag", value_name = "KEY=VALUE", requires = "pyroscope",
          value_parser = crate::sinks::pyroscope::parse_tag)]
    pub(crate) tags: Vec<(String, String)>,
    /// How much of the recording each push carries: 10s, 1500ms, 2m (1 s to 1 h).
    #[arg(long, value_name = "DURATION", default_value = "10s",
          value_parser = crate::sinks::pyroscope::parse_interval)]
    pub(crate) push_every: std::time::Duration,
    #[command(flatten)]
    pub(crate) view: ViewArgs,
    /// The command to start and profile, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The recording to read.
    pub(crate) recording: PathBuf,
    /// Write here instead of standard output; the extension picks the format.
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
    /// Only this process of a recording of several (`record --subprocesses`).
    #[arg(long, value_name = "PID")]
    pub(crate) pid: Option<u32>,
    #[command(flatten)]
    pub(crate) view: ViewArgs,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The process to read.
    #[arg(long, short, required_unless_present = "core", conflicts_with = "core")]
    pub(crate) pid: Option<u32>,
    /// Read a core file (from gcore, or a kernel core dump) instead of a live process.
    #[arg(long, value_name = "FILE", conflicts_with = "nonblocking")]
    pub(crate) core: Option<PathBuf>,
    /// With --core: the CPython executable or libpython the process ran, when it is no
    /// longer where the core says.
    #[arg(long, value_name = "PATH")]
    pub(crate) python_binary: Option<PathBuf>,
    /// Print JSON (schema in README) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Read without pausing the process (stacks may be torn while it runs).
    #[arg(long)]
    pub(crate) nonblocking: bool,
    /// Also show each frame's arguments and local variables (short, bounded reprs).
    /// Locals can hold secrets (passwords, tokens, personal data): only use this where
    /// whoever reads the output may see them. Never on by default.
    #[arg(long)]
    pub(crate) locals: bool,
    /// Also every descendant process that runs Python: one block per process (JSON:
    /// `{"processes": [...]}`).
    #[arg(long)]
    pub(crate) subprocesses: bool,
    /// Also show the asyncio task each thread is running (CPython 3.11+).
    #[arg(long = "async")]
    pub(crate) asyncio: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
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
    pub(crate) pair: Vec<PathBuf>,
    /// Base inputs: one run, or several replicate runs of the same benchmark.
    #[arg(long, num_args = 1.., value_name = "FILE", requires = "head")]
    pub(crate) base: Vec<PathBuf>,
    /// Head inputs (the changed code): one run, or several replicate runs.
    #[arg(long, num_args = 1.., value_name = "FILE", requires = "base")]
    pub(crate) head: Vec<PathBuf>,
    /// Everything else: how to compare, what to write, the gate.
    #[command(flatten)]
    pub(crate) options: DiffOptionArgs,
}

/// The options of a comparison, shared by `diff` and `compare`: every option added here
/// reaches both commands.
#[derive(Args, Debug, Clone)]
pub struct DiffOptionArgs {
    /// Output format of the comparison.
    #[arg(long, value_enum)]
    pub(crate) format: Option<DiffFormat>,
    /// Write the comparison here instead of standard output.
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
    /// Exit with status 1, naming each function, when a function's cumulative time per run
    /// grew by more than PCT percent and the growth is significant. Quiet otherwise.
    #[arg(long, value_name = "PCT", value_parser = percent)]
    pub(crate) fail_on_regression: Option<f64>,
    /// Smallest change, in percent, called slower or faster (default 5, or the
    /// --fail-on-regression percentage when that is given).
    #[arg(long, value_name = "PCT", value_parser = percent)]
    pub(crate) threshold: Option<f64>,
    /// False discovery rate for the Benjamini-Hochberg correction across functions.
    #[arg(long, default_value_t = 0.05, value_name = "Q", value_parser = false_discovery_rate)]
    pub(crate) alpha: f64,
    /// Leave out functions whose cumulative share is below PCT percent on both sides.
    #[arg(long, default_value = "0.5", value_name = "PCT", value_parser = share_percent)]
    pub(crate) min_share: f64,
    /// Show at most this many functions (per section in markdown; default 20, JSON all);
    /// 0 shows all.
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// Order by the change of cumulative time (cum) or of own time (own).
    #[arg(long, value_enum, default_value_t = SortBy::Cumulative)]
    pub(crate) sort: SortBy,
    /// Write a differential flamegraph drawn on the head profile: red grew, blue shrank.
    #[arg(long, value_name = "OUT.svg")]
    pub(crate) flamegraph: Option<PathBuf>,
    /// Write the reverse view, drawn on the base profile, where what disappeared shows
    /// (still red grew, blue shrank).
    #[arg(long, value_name = "OUT.svg")]
    pub(crate) flamegraph_gone: Option<PathBuf>,
    /// The time compared: cpu (the CPU time the kernel charged each thread; steady on a
    /// busy machine) or wall. Default: cpu when every input has CPU times, else wall.
    #[arg(long, value_enum)]
    pub(crate) clock: Option<crate::report::profile::Clock>,
    /// Count samples of threads that were not running (sleeping, waiting).
    #[arg(long)]
    pub(crate) idle: bool,
    /// Count only samples of the thread holding the GIL.
    #[arg(long)]
    pub(crate) gil: bool,
    /// Compare each function's share of its run's time (every run scaled to the base's
    /// time per run) instead of seconds per run: steadier on a busy machine, blind to a
    /// slowdown of everything at once.
    #[arg(long)]
    pub(crate) normalize: bool,
    /// Collapsed-stack inputs: the sampling rate their counts were taken at (py-spy's
    /// default is 100). Austin files carry their own times and ignore this.
    #[arg(long, default_value_t = 100.0, value_name = "HZ", value_parser = rate)]
    pub(crate) collapsed_rate: f64,
    /// Resamples of the block bootstrap (used when a side has a single run).
    #[arg(long, default_value_t = 9999, value_name = "N", value_parser = resamples)]
    pub(crate) resamples: usize,
    /// Colour the table: auto (when standard output is a terminal and NO_COLOR is unset),
    /// always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub(crate) color: ColorChoice,
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
    pub(crate) base_ref: String,
    /// The git ref of the head side (the changed code).
    #[arg(value_name = "HEAD_REF")]
    pub(crate) head_ref: String,
    /// The git repository (default: the one the current directory is in).
    #[arg(short = 'C', value_name = "DIR")]
    pub(crate) repo: Option<PathBuf>,
    /// Runs per side, alternating base and head.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub(crate) runs: usize,
    /// Unrecorded runs per side before the recorded ones, so that no recorded run pays
    /// for writing bytecode caches or reading files from disk (0: none).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub(crate) warmup: usize,
    /// Samples per second of each recording.
    #[arg(long, short, default_value_t = 1000.0, value_parser = rate)]
    pub(crate) rate: f64,
    /// Read stacks without pausing the program (the default here is --blocking: every
    /// sample whole, at a cost to the program's speed that both sides pay alike).
    #[arg(long, conflicts_with = "blocking")]
    pub(crate) nonblocking: bool,
    /// Pause the program for every sample (the default of compare).
    #[arg(long)]
    pub(crate) blocking: bool,
    /// Keep the recordings in DIR (base-1.fsr, head-1.fsr, ...) to diff them again.
    #[arg(long, value_name = "DIR")]
    pub(crate) keep: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) options: DiffOptionArgs,
    /// The command to run in each checkout, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

#[derive(Args, Debug)]
#[command(after_help = "\
Keys: 1-6 sort (again: reverse), w last second/whole session, p pause, i idle threads,
t per thread, l per line, f/F thread filter, P process filter (--subprocesses), c clock,
h help, q or Ctrl-C quit.

Examples:
  framescope top --pid 4242
  framescope top -o session.fsr -- python app.py
  framescope top --subprocesses -- python -m pytest -n 4
  framescope top --pid 4242 --duration 10 --limit 20 > snapshots.txt")]
pub struct TopArgs {
    #[command(flatten)]
    pub(crate) sampling: SamplingArgs,
    /// Also keep the session's recording in this .fsr file (for report or diff later).
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
    /// The time rows are of at the start: cpu or wall (key c switches).
    #[arg(long, value_enum, default_value = "cpu")]
    pub(crate) clock: crate::report::profile::Clock,
    /// Start with samples of threads that were not on a CPU shown (key i).
    #[arg(long)]
    pub(crate) idle: bool,
    /// Start with one row per thread and function (key t).
    #[arg(long)]
    pub(crate) threads: bool,
    /// Start with only this thread (OS thread id or Python thread id; key f).
    #[arg(long, value_name = "TID")]
    pub(crate) thread: Option<u64>,
    /// Start with one row per line (key l).
    #[arg(long)]
    pub(crate) lines: bool,
    /// Start sorted by this column (keys 1-6).
    #[arg(long, value_enum, default_value_t = TopSort::Total)]
    pub(crate) sort: TopSort,
    /// Start showing the whole session instead of the last second (key w).
    #[arg(long)]
    pub(crate) session: bool,
    /// Plain-text snapshots: at most this many rows each (0: all).
    #[arg(long, default_value_t = 25)]
    pub(crate) limit: usize,
    /// Also sample every Python process started below the target, as they come and go
    /// (rows merge them by function; key P shows one process).
    #[arg(long)]
    pub(crate) subprocesses: bool,
    /// The command to start and watch, after `--` (ended when top quits).
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

#[cfg(test)]
mod tests;
