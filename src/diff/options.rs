//! The settings of one `framescope diff` (or `compare`), checked: the command line
//! ([`DiffArgs`], [`DiffOptionArgs`]) turned into plain values, with a one-line usage error for anything that makes no sense. Not
//! for reading inputs or computing anything.

use std::path::PathBuf;

use crate::cli::{DiffArgs, DiffOptionArgs};
use crate::error::{Error, Result};
use crate::report::profile::Clock;
use crate::report::ViewOptions;

/// The output format of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Markdown,
    Json,
}

/// Which change orders the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SortBy {
    /// The change of cumulative time per run.
    #[value(name = "cum")]
    Cumulative,
    /// The change of own time per run.
    Own,
}

/// When the table is coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When standard output is a terminal and NO_COLOR is unset.
    Auto,
    Always,
    Never,
}

/// Everything `diff` was asked to do.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    pub base: Vec<PathBuf>,
    pub head: Vec<PathBuf>,
    /// `--clock`, when given; `view.clock` is the clock in use.
    pub clock_asked: Option<Clock>,
    /// `None`: no report asked for (a quiet gate); else the format to write.
    pub format: Option<DiffFormat>,
    pub output: Option<PathBuf>,
    /// The gate's percentage, when there is a gate.
    pub fail_on_regression: Option<f64>,
    /// Smallest change, in percent, called slower or faster.
    pub threshold: f64,
    /// False discovery rate of the Benjamini-Hochberg procedure.
    pub alpha: f64,
    /// Functions below this cumulative share (percent) on both sides are left out.
    pub min_share: f64,
    /// `--limit` as given: `None` not given, `Some(0)` all rows.
    pub limit: Option<usize>,
    pub sort: SortBy,
    pub flamegraph: Option<PathBuf>,
    pub flamegraph_gone: Option<PathBuf>,
    pub view: ViewOptions,
    pub collapsed_rate: f64,
    pub resamples: usize,
    pub color: bool,
    /// Compare shares of each run's time rather than seconds per run.
    pub normalize: bool,
}

/// The verdict threshold when none is given and there is no gate.
pub const DEFAULT_THRESHOLD: f64 = 5.0;

/// Rows a table or a markdown section shows when `--limit` is not given (JSON: all).
pub const DEFAULT_LIMIT: usize = 20;

impl DiffOptions {
    /// The most rows `format` shows (per section in markdown); `None` for all.
    pub fn rows_shown(&self, format: DiffFormat) -> Option<usize> {
        match (self.limit, format) {
            (Some(0), _) | (None, DiffFormat::Json) => None,
            (Some(n), _) => Some(n),
            (None, _) => Some(DEFAULT_LIMIT),
        }
    }
}

impl DiffOptions {
    /// Checks the command line of `diff`. `stdout_is_terminal` decides `--color auto`.
    pub fn from_args(args: &DiffArgs, stdout_is_terminal: bool) -> Result<DiffOptions> {
        let (base, head) = match (args.pair.as_slice(), args.base.is_empty()) {
            ([base, head], true) => (vec![base.clone()], vec![head.clone()]),
            ([], false) => (args.base.clone(), args.head.clone()),
            _ => {
                return Err(Error::Usage(
                    "diff needs two inputs (`framescope diff BASE HEAD`) or --base FILE... --head FILE..."
                        .into(),
                ))
            }
        };
        DiffOptions::new(base, head, &args.options, stdout_is_terminal)
    }

    /// Checks the options of a comparison of the files `base` with the files `head`.
    pub fn new(
        base: Vec<PathBuf>,
        head: Vec<PathBuf>,
        args: &DiffOptionArgs,
        stdout_is_terminal: bool,
    ) -> Result<DiffOptions> {
        let fail_on_regression = args.fail_on_regression;
        let threshold = args
            .threshold
            .unwrap_or(fail_on_regression.unwrap_or(DEFAULT_THRESHOLD));
        // --alpha, --min-share, --collapsed-rate and --resamples were checked as they
        // were parsed (cli/values.rs).
        let min_share = args.min_share;
        let format = match args.format {
            Some(format) => Some(format),
            // A gate alone prints nothing unless a report is asked for.
            None if fail_on_regression.is_some() && args.output.is_none() => None,
            None => Some(DiffFormat::Table),
        };
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                stdout_is_terminal
                    && args.output.is_none()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Ok(DiffOptions {
            base,
            head,
            format,
            output: args.output.clone(),
            fail_on_regression,
            threshold,
            alpha: args.alpha,
            min_share,
            limit: args.limit,
            sort: args.sort,
            flamegraph: args.flamegraph.clone(),
            flamegraph_gone: args.flamegraph_gone.clone(),
            clock_asked: args.clock,
            view: ViewOptions {
                // Settled per input by `diff::run` (see `Clock::resolve`).
                clock: args.clock.unwrap_or(Clock::Cpu),
                idle: args.idle,
                gil_only: args.gil,
                per_thread: false,
                thread_filter: None,
                ..ViewOptions::default()
            },
            collapsed_rate: args.collapsed_rate,
            resamples: args.resamples,
            color,
            normalize: args.normalize,
        })
    }
}
