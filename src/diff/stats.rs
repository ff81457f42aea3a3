//! The statistics of a diff that need no resampling: Welch's t-test on per-run values (the
//! test when both sides have replicate runs) and the Benjamini-Hochberg adjustment that
//! keeps the share of false discoveries among hundreds of functions at the chosen rate,
//! counting each same-time group of nested functions ([`super::hypotheses`]) once. The
//! block bootstrap for single runs lives in [`super::bootstrap`].

use super::student;

/// Confidence level of every interval framescope diff prints.
pub const CONFIDENCE: f64 = 0.95;

/// An estimated change with its confidence interval and two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Head minus base.
    pub change: f64,
    pub low: f64,
    pub high: f64,
    pub p: f64,
}

fn mean_and_variance(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, variance)
}

/// Welch's t-test of mean(head) − mean(base), each side at least two values: the
/// difference of the means, its interval (the t quantile at the Welch-Satterthwaite
/// degrees of freedom times the standard error) and p-value. When neither side varies at
/// all, the difference is exact: p is 1 if it is zero and 0 otherwise.
pub fn welch(base: &[f64], head: &[f64]) -> Estimate {
    let (m1, v1) = mean_and_variance(base);
    let (m2, v2) = mean_and_variance(head);
    let change = m2 - m1;
    let a = v1 / base.len() as f64;
    let b = v2 / head.len() as f64;
    let se2 = a + b;
    if se2 <= 0.0 || !se2.is_finite() {
        let p = if change == 0.0 { 1.0 } else { 0.0 };
        return Estimate {
            change,
            low: change,
            high: change,
            p,
        };
    }
    let df = se2 * se2 / (a * a / (base.len() as f64 - 1.0) + b * b / (head.len() as f64 - 1.0));
    let se = se2.sqrt();
    let half = student::two_sided_quantile(1.0 - CONFIDENCE, df) * se;
    Estimate {
        change,
        low: change - half,
        high: change + half,
        p: student::two_sided_p(change / se, df),
    }
}

/// Benjamini-Hochberg adjusted p-values (q-values), in the order of `p`: a function is a
/// discovery at false discovery rate α when its q ≤ α.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut q = vec![1.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        q[i] = running.min(1.0);
    }
    q
}

/// Benjamini-Hochberg over groups of functions that are one hypothesis: a group's p-value
/// is the largest of its members' (the weakest evidence among near-identical tests), the
/// adjustment counts each group once (m = the number of groups), and every member gets its
/// group's q. `group[i]` is the group of `p[i]`, numbered densely from 0. With every function
/// in a group of its own this is [`benjamini_hochberg`].
pub fn grouped_benjamini_hochberg(p: &[f64], group: &[u32]) -> Vec<f64> {
    let groups = group.iter().map(|&g| g as usize + 1).max().unwrap_or(0);
    let mut group_p = vec![f64::NEG_INFINITY; groups];
    for (&g, &p) in group.iter().zip(p) {
        let slot = &mut group_p[g as usize];
        *slot = slot.max(if p.is_nan() { 1.0 } else { p });
    }
    // A number no member claimed stays out of the count.
    let present: Vec<usize> = (0..groups)
        .filter(|&g| group_p[g] > f64::NEG_INFINITY)
        .collect();
    let q_present = benjamini_hochberg(&present.iter().map(|&g| group_p[g]).collect::<Vec<_>>());
    let mut q_of = vec![1.0; groups];
    for (&g, &q) in present.iter().zip(&q_present) {
        q_of[g] = q;
    }
    group.iter().map(|&g| q_of[g as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_matches_a_worked_example() {
        // Means 2.0 and 3.0; variances 1.0 and 8.5/3; n 3 and 4.
        let e = welch(&[1.0, 2.0, 3.0], &[1.0, 2.5, 3.5, 5.0]);
        assert!((e.change - 1.0).abs() < 1e-12);
        // se² = 1/3 + (8.5/3)/4 = 1.041667; df = se⁴ / ((1/3)²/2 + (8.5/12)²/3) = 4.870130.
        let se = (1.0f64 / 3.0 + 8.5 / 12.0).sqrt();
        let t = student::two_sided_quantile(0.05, 4.870_130);
        assert!((e.high - (1.0 + t * se)).abs() < 1e-6, "{e:?}");
        assert!((e.p - student::two_sided_p(1.0 / se, 4.870_130)).abs() < 1e-6);
        assert!(e.p > 0.3 && e.p < 0.4, "{e:?}");
    }

    #[test]
    fn welch_without_spread() {
        assert_eq!(welch(&[1.0, 1.0], &[1.0, 1.0]).p, 1.0);
        assert_eq!(welch(&[1.0, 1.0], &[2.0, 2.0]).p, 0.0);
    }

    #[test]
    fn benjamini_hochberg_steps_up() {
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.5]);
        // Sorted: 0.01·4/1 = 0.04, 0.03·4/2 = 0.06, 0.04·4/3 = 0.0533, 0.5·4/4 = 0.5;
        // step-up minimum from the top: 0.04, 0.0533, 0.0533, 0.5.
        let want = [0.04, 0.16 / 3.0, 0.16 / 3.0, 0.5];
        for (got, want) in q.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{q:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
    }

    #[test]
    fn grouped_benjamini_hochberg_counts_a_group_once() {
        // Three copies of a null question (group 0) and one real change (group 1): plain BH
        // counts four hypotheses, the grouped one two.
        let p = [0.40, 0.41, 0.42, 0.02];
        let plain = benjamini_hochberg(&p);
        assert!((plain[3] - 0.08).abs() < 1e-12, "{plain:?}");
        let q = grouped_benjamini_hochberg(&p, &[0, 0, 0, 1]);
        assert!((q[3] - 0.04).abs() < 1e-12, "{q:?}");
        // The group's p is its largest member's; its q is shared.
        assert_eq!(q[0], q[1]);
        assert_eq!(q[1], q[2]);
        assert!((q[0] - 0.42).abs() < 1e-12, "{q:?}");
        // Groups of one: the plain procedure.
        assert_eq!(grouped_benjamini_hochberg(&p, &[0, 1, 2, 3]), plain);
        assert!(grouped_benjamini_hochberg(&[], &[]).is_empty());
    }
}
