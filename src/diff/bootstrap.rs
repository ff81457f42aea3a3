//! The block bootstrap: significance when a side has a single run. Consecutive samples are
//! strongly correlated (a function on the stack now is likely still there a millisecond
//! later), so samples cannot be resampled one by one. Instead each run is cut into
//! stretches of time ([`super::aggregate::Window`]), and a resample of a run draws as many
//! stretches as it has, with replacement, keeping each stretch's samples together and in
//! order. The spread of head minus base over the resamples gives a percentile interval and
//! a two-sided p-value. Draws come from a fixed seed, so the same inputs always give the
//! same answer.
//!
//! A single run cannot show how much a whole run's speed varies from run to run (a busier
//! machine, another CPU clock, samples the profiler missed): such a difference moves every
//! function at once, and inside one run it looks like a code change. So each function is
//! tested twice, on its seconds per run and on its share of its run's time, and the change
//! counts only when both agree ([`Tested::combined`]: the p-value is the larger of the two,
//! and 1 when they point in opposite directions; an intersection-union test, valid at the
//! same level). With `--normalize` only the share is tested. Replicate runs measure the
//! run-to-run variation directly; see [`super::stats::welch`].

use super::aggregate::Window;
use super::stats::{Estimate, CONFIDENCE};

/// SplitMix64: a small, fast generator; statistical quality is ample for resampling.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by the multiply-shift method.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// The seed of every diff: results are reproducible.
pub const SEED: u64 = 0x6672_616d_6573_636f;

/// Runs of one side, each as its stretches of time.
pub type SideWindows<'a> = Vec<&'a [Window]>;

/// One tested function's change over the whole runs: head minus base of the mean seconds
/// per run, and of the mean share (a fraction) of the run's time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observed {
    pub seconds: f64,
    pub share: f64,
}

/// Estimates the change of the cumulative time of the tested functions, in seconds and in
/// share of the run. `tested` maps a function to its place among the tested ones;
/// `observed` is indexed by that place.
pub fn block_bootstrap(
    base: &SideWindows<'_>,
    head: &SideWindows<'_>,
    tested: &[Option<u32>],
    observed: &[Observed],
    resamples: usize,
) -> Vec<Tested> {
    let n = observed.len();
    let mut rng = Rng::new(SEED);
    // Resampled changes, function-major: [t * resamples + b].
    let mut seconds = vec![0f32; n * resamples];
    let mut shares = vec![0f32; n * resamples];
    let mut sum_seconds = vec![0f64; n];
    let mut sum_shares = vec![0f64; n];
    let mut run_cum = vec![0f64; n];
    for b in 0..resamples {
        sum_seconds.fill(0.0);
        sum_shares.fill(0.0);
        for (sign, side) in [(-1.0, base), (1.0, head)] {
            let weight = sign / side.len().max(1) as f64;
            for run in side {
                run_cum.fill(0.0);
                let mut run_seconds = 0.0;
                for _ in 0..run.len() {
                    let window = &run[rng.below(run.len())];
                    run_seconds += window.seconds;
                    for &(f, s) in &window.cum {
                        if let Some(t) = tested.get(f as usize).copied().flatten() {
                            run_cum[t as usize] += s;
                        }
                    }
                }
                let per_second = if run_seconds > 0.0 {
                    1.0 / run_seconds
                } else {
                    0.0
                };
                for (t, &cum) in run_cum.iter().enumerate() {
                    sum_seconds[t] += weight * cum;
                    sum_shares[t] += weight * cum * per_second;
                }
            }
        }
        for t in 0..n {
            seconds[t * resamples + b] = sum_seconds[t] as f32;
            shares[t * resamples + b] = sum_shares[t] as f32;
        }
    }
    observed
        .iter()
        .enumerate()
        .map(|(t, o)| {
            let range = t * resamples..(t + 1) * resamples;
            Tested {
                seconds: summarize(o.seconds, &mut seconds[range.clone()]),
                share: summarize(o.share, &mut shares[range]),
            }
        })
        .collect()
}

/// The bootstrap's two estimates of one function's change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tested {
    /// Of the change in seconds per run.
    pub seconds: Estimate,
    /// Of the change of the share (a fraction) of the run's time.
    pub share: Estimate,
}

impl Tested {
    /// The combined test: the interval of the change in seconds, and the larger of the two
    /// p-values, or 1 when the two changes point in opposite directions (a share change
    /// within rounding of zero has no direction).
    pub fn combined(&self) -> Estimate {
        let agree = self.share.change.abs() > 1e-12
            && self.seconds.change.signum() == self.share.change.signum();
        Estimate {
            p: if agree {
                self.seconds.p.max(self.share.p)
            } else {
                1.0
            },
            ..self.seconds
        }
    }
}

/// The percentile interval and the p-value of one function's resampled changes: twice the
/// share of resamples on the far side of zero from the observed change (with the usual +1
/// so that a finite number of resamples never claims p = 0).
fn summarize(change: f64, draws: &mut [f32]) -> Estimate {
    draws.sort_by(f32::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    let b = draws.len();
    let beyond = if change > 0.0 {
        draws.iter().filter(|&&d| d <= 0.0).count()
    } else if change < 0.0 {
        draws.iter().filter(|&&d| d >= 0.0).count()
    } else {
        b
    };
    Estimate {
        change,
        low: percentile(draws, tail),
        high: percentile(draws, 1.0 - tail),
        p: (2.0 * (beyond as f64 + 1.0) / (b as f64 + 1.0)).min(1.0),
    }
}

/// The `q` quantile of sorted values, interpolating between neighbours.
fn percentile(sorted: &[f32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let fraction = position - below as f64;
    f64::from(sorted[below]) * (1.0 - fraction) + f64::from(sorted[above]) * fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of `n` stretches of 0.1 s where function 0 takes `level` seconds plus noise
    /// and function 1 the rest.
    fn run(rng: &mut Rng, n: usize, level: f64, stretch: f64) -> Vec<Window> {
        (0..n)
            .map(|_| {
                let noise = (rng.below(1000) as f64 / 1000.0 - 0.5) * 0.02;
                let f0 = (level + noise) * stretch;
                Window {
                    seconds: 0.1 * stretch,
                    cum: vec![(0, f0), (1, 0.1 * stretch - f0)],
                }
            })
            .collect()
    }

    fn observe(base: &[Window], head: &[Window], f: u32) -> Observed {
        let cum = |w: &[Window]| {
            w.iter()
                .flat_map(|w| &w.cum)
                .filter(|(g, _)| *g == f)
                .map(|(_, s)| s)
                .sum::<f64>()
        };
        let total = |w: &[Window]| w.iter().map(|w| w.seconds).sum::<f64>();
        Observed {
            seconds: cum(head) - cum(base),
            share: cum(head) / total(head) - cum(base) / total(base),
        }
    }

    fn estimate(base: &[Window], head: &[Window], resamples: usize) -> Vec<Estimate> {
        let observed = [observe(base, head, 0), observe(base, head, 1)];
        block_bootstrap(
            &vec![base],
            &vec![head],
            &[Some(0), Some(1)],
            &observed,
            resamples,
        )
        .iter()
        .map(Tested::combined)
        .collect()
    }

    #[test]
    fn a_clear_change_is_significant_and_covered() {
        let mut rng = Rng::new(1);
        let base = run(&mut rng, 30, 0.050, 1.0);
        let head = run(&mut rng, 30, 0.060, 1.0);
        let est = estimate(&base, &head, 1999)[0];
        assert!(est.p < 0.01, "{est:?}");
        assert!(est.low < est.change && est.change < est.high, "{est:?}");
        // 30 stretches of ±0.01 s uniform noise: the sd of a total is about 0.0316 s.
        assert!(
            est.high - est.low > 0.1 && est.high - est.low < 0.2,
            "{est:?}"
        );
    }

    #[test]
    fn a_uniformly_slower_run_is_not_a_code_change() {
        // The same program, the head run 30% slower throughout: seconds differ clearly,
        // shares do not.
        let mut rng = Rng::new(2);
        let base = run(&mut rng, 30, 0.050, 1.0);
        let head = run(&mut rng, 30, 0.050, 1.3);
        for est in estimate(&base, &head, 1999) {
            assert!(est.change > 0.0);
            assert!(est.p > 0.05, "{est:?}");
        }
    }

    #[test]
    fn no_change_is_rarely_significant() {
        let mut rng = Rng::new(7);
        let mut significant = 0;
        for _ in 0..200 {
            let base = run(&mut rng, 20, 0.05, 1.0);
            let head = run(&mut rng, 20, 0.05, 1.0);
            if estimate(&base, &head, 499)[0].p <= 0.05 {
                significant += 1;
            }
        }
        assert!(significant <= 20, "{significant} of 200 significant at 5%");
    }

    #[test]
    fn the_generator_is_uniform_enough() {
        let mut rng = Rng::new(3);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[rng.below(10)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
    }
}
