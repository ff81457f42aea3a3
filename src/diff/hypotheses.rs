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
