//! Which tested functions are one hypothesis. A chain of callers above one callee that do
//! (almost) nothing but call it carries the callee's time in every run: `<module>`, `main`
//! and `run` all hold the whole run, a benchmark harness adds a dozen frames over the code
//! it times, and `render_month` over `render_week` over `render_day` move as one. Their
//! tests see the same numbers, so they are one question asked several times, and the
//! multiple-comparison correction must count it once: otherwise every copy of a null
//! question raises the bar for the one real change (Benjamini-Hochberg over thirty copies
//! of "did the whole run change?" cost a clear +38% its significance).
//!
//! Two functions are the same hypothesis when one is on every stack the other is on (a
//! caller above a callee, in every run of both sides) and the caller's cumulative time
//! exceeds the callee's by at most [`TOLERANCE`] of the caller's, in every run. Functions
//! that merely happen to take as long (two siblings doing the same work) are never merged:
//! their noise is their own. A group has a leader, its outermost member, and every member is
//! within the tolerance of the leader, so a long chain cannot drift. Nothing here computes
//! a p-value; [`super::stats::grouped_benjamini_hochberg`] uses the groups.

use super::identity::Identities;
use super::input::Run;

/// How much of its time a caller may spend outside its callee, in every run, and still be
/// the same hypothesis: 2%. Within it the two tests differ by no more than that share of
/// the data, so their p-values are all but equal (and the group takes the largest), and no
/// member can have changed on its own by as much as a gate's threshold (5% by default).
/// Measured: pass-through frames of a Python benchmark spend 0.3 to 1.5% of their time
/// outside the frame they call (the call itself, a loop's own bookkeeping).
pub const TOLERANCE: f64 = 0.02;

/// The same-time groups of the tested functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Groups {
    /// Per tested function (in the order given): its group, numbered from 0 in the order
    /// of the groups' leaders, largest mean cumulative time first.
    pub of: Vec<u32>,
    /// How many groups: the number of hypotheses the correction counts.
    pub count: usize,
}

/// Groups the functions `tested` (indexes into `ids.functions`) whose cumulative times
/// per run are `values[t][r]` (tested function `t`, run `r` in the order of `runs`, the
/// order [`super::identity::match_functions`] saw them).
pub fn same_time_groups(
    runs: &[&Run],
    ids: &Identities,
    tested: &[usize],
    values: &[Vec<f64>],
) -> Groups {
    let n = tested.len();
    let mean = |t: usize| values[t].iter().sum::<f64>() / values[t].len().max(1) as f64;
    let means: Vec<f64> = (0..n).map(mean).collect();
    // Outermost first: larger mean first, then the order given.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| means[b].total_cmp(&means[a]).then(a.cmp(&b)));
    let mut rank = vec![0usize; n];
    for (k, &t) in order.iter().enumerate() {
        rank[t] = k;
    }

    // Candidate callers of each tested function: larger or equal by the values and within
    // the tolerance in every run. Only the functions just above in the order can qualify
    // (their mean is within the tolerance too), so the scan stops early.
    let mut callers: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (k, &t) in order.iter().enumerate() {
        for &u in order[..k].iter().rev() {
            if means[u] - means[t] > TOLERANCE * means[u] {
                break;
            }
            if within_tolerance(&values[u], &values[t]) {
                callers[t].push(u as u32);
            }
        }
    }

    keep_only_enclosing(runs, ids, tested, &mut callers);

    // Each function joins the group of the first (outermost) leader among its callers.
    let mut of = vec![u32::MAX; n];
    let mut leaders: Vec<usize> = Vec::new();
    for &t in &order {
        let joined = callers[t]
            .iter()
            .map(|&u| u as usize)
            .filter(|&u| leaders.contains(&u))
            .min_by_key(|&u| rank[u]);
        of[t] = match joined {
            Some(leader) => of[leader],
            None => {
                leaders.push(t);
                (leaders.len() - 1) as u32
            }
        };
    }
    Groups {
        of,
        count: leaders.len(),
    }
}

/// Whether `callee` is within the tolerance of `caller` in every run (the caller at least
/// as large, up to rounding).
fn within_tolerance(caller: &[f64], callee: &[f64]) -> bool {
    caller.iter().zip(callee).all(|(&a, &b)| {
        let slack = 1e-12 * a.abs().max(b.abs());
        b <= a + slack && a - b <= TOLERANCE * a + slack
    })
}

/// Drops from each function's candidate callers those missing from some stack, in some
/// run, on which the function is.
fn keep_only_enclosing(
    runs: &[&Run],
    ids: &Identities,
    tested: &[usize],
    callers: &mut [Vec<u32>],
) {
    if callers.iter().all(Vec::is_empty) {
        return;
    }
    let mut tested_at: Vec<Option<u32>> = vec![None; ids.functions.len()];
    for (t, &f) in tested.iter().enumerate() {
        tested_at[f] = Some(t as u32);
    }
    // on_stack[f] == stamp: function f is on the stack being looked at.
    let mut on_stack = vec![0u64; ids.functions.len()];
    let mut stamp = 0u64;
    for (r, run) in runs.iter().enumerate() {
        let global = &ids.of_run[r];
        for w in run
            .weights
            .iter()
            .filter(|w| w.samples > 0 || w.seconds > 0.0)
        {
            let Some(path) = run.stacks.get(w.stack as usize) else {
                continue;
            };
            stamp += 1;
            let functions = || path.iter().filter_map(|&l| global.get(l as usize));
            for &f in functions() {
                on_stack[f as usize] = stamp;
            }
            for &f in functions() {
                if let Some(t) = tested_at[f as usize] {
                    callers[t as usize].retain(|&u| on_stack[tested[u as usize]] == stamp);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::identity::Function;
    use crate::diff::input::{FunctionName, InputKind, StackWeight};
    use std::path::PathBuf;

    /// One run over functions 0..names, from (stack innermost first, seconds).
    fn run(names: usize, stacks: &[(&[u32], f64)]) -> Run {
        Run {
            path: PathBuf::from("r.fsr"),
            kind: InputKind::Recording,
            command: None,
            python_version: None,
            functions: (0..names)
                .map(|i| FunctionName {
                    qualname: format!("f{i}"),
                    file: "a.py".into(),
                    line: None,
                })
                .collect(),
            stacks: stacks.iter().map(|(s, _)| s.to_vec()).collect(),
            weights: stacks
                .iter()
                .enumerate()
                .map(|(i, (_, sec))| StackWeight {
                    stack: i as u32,
                    samples: 1,
                    seconds: *sec,
                })
                .collect(),
            windows: None,
            samples: stacks.len() as u64,
            seconds: stacks.iter().map(|(_, s)| s).sum(),
        }
    }

    fn ids(names: usize, runs: usize) -> Identities {
        Identities {
            functions: (0..names)
                .map(|i| Function {
                    qualname: format!("f{i}"),
                    file: "a.py".into(),
                    line: None,
                })
                .collect(),
            of_run: vec![(0..names as u32).collect(); runs],
        }
    }

    #[test]
    fn a_caller_that_only_calls_is_one_hypothesis_with_its_callee() {
        // f0 -> f1 -> f2 (f1 spends 0.5% outside f2), f0 -> f3 (a sibling as large as f2).
        let runs = [
            run(4, &[(&[2, 1, 0], 1.0), (&[1, 0], 0.005), (&[3, 0], 1.0)]),
            run(4, &[(&[2, 1, 0], 1.2), (&[1, 0], 0.006), (&[3, 0], 0.9)]),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let values = vec![
            vec![2.005, 2.106],
            vec![1.005, 1.206],
            vec![1.0, 1.2],
            vec![1.0, 1.2], // f3 takes exactly as long as f2 but is not nested with it
        ];
        let g = same_time_groups(&refs, &ids(4, 2), &[0, 1, 2, 3], &values);
        assert_eq!(g.count, 3, "{g:?}");
        assert_eq!(g.of[1], g.of[2]);
        assert_ne!(g.of[3], g.of[2]);
        assert_ne!(g.of[0], g.of[1]);
    }

    #[test]
    fn a_long_chain_does_not_drift_past_its_leader() {
        // f0 ⊃ f1 ⊃ … ⊃ f5, each spending 0.6% of its time outside the next: neighbours are
        // within 2%, the chain is not.
        let stacks: Vec<(Vec<u32>, f64)> = (0..6u32)
            .map(|depth| {
                let path: Vec<u32> = (0..=depth).rev().collect();
                (path, if depth == 5 { 1.0 } else { 0.006 })
            })
            .collect();
        let pairs: Vec<(&[u32], f64)> = stacks.iter().map(|(p, s)| (p.as_slice(), *s)).collect();
        let r = run(6, &pairs);
        let refs = vec![&r];
        // Cumulative time of f_d: the innermost's second plus the own time of f_d..f4.
        let values: Vec<Vec<f64>> = (0..6).map(|d| vec![1.0 + 0.006 * (5 - d) as f64]).collect();
        let g = same_time_groups(&refs, &ids(6, 1), &[0, 1, 2, 3, 4, 5], &values);
        // Leaders f0 and f4 (2.3% below f0); f5 is 0.6% below f4.
        assert_eq!(g.of, [0, 0, 0, 0, 1, 1], "{g:?}");
        assert_eq!(g.count, 2);
    }
}
