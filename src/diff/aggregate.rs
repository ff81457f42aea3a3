//! Time per function per run: each run's stacks, rewritten in matched functions
//! ([`super::identity`]), tallied with the same rule as the `report` tables
//! ([`tally_functions`]: own time to the innermost function, cumulative time once to every
//! function on the stack). Also each run's stretches of time for the block bootstrap, and
//! each side's mean stacks for the differential flamegraph. Not for statistics.

use std::collections::BTreeMap;

use super::identity::Identities;
use super::input::{Run, StackWeight};
use crate::report::profile::tally_functions;

/// Own and cumulative seconds of every matched function in one run (indexed by function).
#[derive(Clone, Debug)]
pub struct RunTotals {
    pub seconds: f64,
    pub own: Vec<f64>,
    pub cum: Vec<f64>,
    /// Samples with the function anywhere on the stack.
    pub cum_samples: Vec<u64>,
    /// Recordings: per stretch of time, the functions with cumulative time in it.
    pub windows: Option<Vec<Window>>,
}

/// One stretch of a run: (function, cumulative seconds) for the functions seen in it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    /// Seconds of all samples in the stretch.
    pub seconds: f64,
    pub cum: Vec<(u32, f64)>,
}

/// Tallies `run` (the `r`-th run given to [`super::identity::match_functions`]).
pub fn run_totals(run: &Run, r: usize, ids: &Identities) -> RunTotals {
    let n = ids.functions.len();
    let global = &ids.of_run[r];
    let tally = |weights: &[StackWeight]| {
        let stacks = weights.iter().map(|w| {
            let path = run.stacks[w.stack as usize]
                .iter()
                .map(|&local| global[local as usize] as usize);
            (path, w.samples, w.seconds)
        });
        tally_functions(n, stacks)
    };
    let whole = tally(&run.weights);
    let windows = run.windows.as_ref().map(|windows| {
        windows
            .iter()
            .map(|w| Window {
                seconds: w.iter().map(|s| s.seconds).sum(),
                cum: tally(w)
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.total_samples > 0)
                    .map(|(f, t)| (f as u32, t.total_seconds))
                    .collect(),
            })
            .collect()
    });
    RunTotals {
        seconds: run.seconds,
        own: whole.iter().map(|t| t.own_seconds).collect(),
        cum: whole.iter().map(|t| t.total_seconds).collect(),
        cum_samples: whole.iter().map(|t| t.total_samples).collect(),
        windows,
    }
}

/// A side's stacks in matched functions, root first, with their mean seconds per run.
pub fn mean_stacks(runs: &[(&Run, usize)], ids: &Identities) -> BTreeMap<Vec<u32>, f64> {
    let mut stacks: BTreeMap<Vec<u32>, f64> = BTreeMap::new();
    let share = 1.0 / runs.len().max(1) as f64;
    for &(run, r) in runs {
        let global = &ids.of_run[r];
        for w in &run.weights {
            let path: Vec<u32> = run.stacks[w.stack as usize]
                .iter()
                .rev()
                .map(|&local| global[local as usize])
                .collect();
            *stacks.entry(path).or_insert(0.0) += w.seconds * share;
        }
    }
    stacks
}
