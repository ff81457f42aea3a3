//! The CPU time of a recording's samples. Each sample carries what the kernel charged its
//! thread since the thread's previous sample, as read; the kernel brings that account up
//! to date only at its scheduler ticks and when a thread stops running, so the amounts
//! arrive in lumps. [`spread`] puts each lump back over the samples it covers, and
//! [`settle_on_cpu`] derives from that whether each sample caught its thread on a CPU.

use super::Recording;

/// One period of the recording's sampling rate, in ns (1 ms when the rate is unusable).
fn nominal_period_ns(rec: &Recording) -> u64 {
    let rate = rec.meta.rate_hz;
    if rate.is_finite() && rate > 0.0 {
        ((1e9 / rate) as u64).max(1)
    } else {
        1_000_000
    }
}

/// CPU seconds per sample. A sample carries the CPU time its thread used since its
/// previous sample; but the kernel's account grows only at scheduler ticks (every 4 ms at
/// 250 Hz) and when the thread stops running, so an amount was used during the samples
/// before it that carried none, or just after the sample that carried the last one. Each
/// amount is spread evenly over, in order of preference:
/// 1. the thread's samples since its previous amount, within the amount's own span before
///    it plus two periods, that held the GIL (running Python code, not waiting);
/// 2. else the sample that carried the previous amount, if it held the GIL (the thread
///    worked on from there, then stopped: a burst is not credited to the `sleep` it is
///    found in next);
/// 3. else those samples of (1) whose stack was read, else all of them.
pub fn spread(rec: &Recording) -> Vec<f64> {
    let period = nominal_period_ns(rec);
    let mut weights = vec![0.0f64; rec.samples.len()];
    // Per thread: its samples since its last nonzero amount, and that sample.
    let mut pending: Vec<Vec<usize>> = vec![Vec::new(); rec.threads.len()];
    let mut last_amount: Vec<Option<usize>> = vec![None; rec.threads.len()];
    let mut chosen: Vec<usize> = Vec::new();
    for (i, sample) in rec.samples.iter().enumerate() {
        let Some(used) = sample.cpu_ns else {
            continue;
        };
        let thread = sample.thread.0 as usize;
        let waiting = &mut pending[thread];
        waiting.push(i);
        if used == 0 {
            // Bounded: a thread that stays idle keeps only its recent samples.
            if waiting.len() > 4096 {
                waiting.drain(..2048);
            }
            continue;
        }
        let from = sample
            .time_ns
            .saturating_sub(used.saturating_add(period.saturating_mul(2)));
        let span = waiting.partition_point(|&j| rec.samples[j].time_ns < from);
        let candidates = &waiting[span..];
        let ok = |j: usize| !rec.samples[j].error;
        chosen.clear();
        chosen.extend(
            candidates
                .iter()
                .copied()
                .filter(|&j| rec.samples[j].holds_gil && ok(j)),
        );
        if chosen.is_empty() {
            if let Some(j) = last_amount[thread]
                .filter(|&j| rec.samples[j].holds_gil && ok(j) && rec.samples[j].time_ns >= from)
            {
                chosen.push(j);
            }
        }
        if chosen.is_empty() {
            chosen.extend(candidates.iter().copied().filter(|&j| ok(j)));
        }
        if chosen.is_empty() {
            chosen.extend_from_slice(candidates);
        }
        let share = used as f64 * 1e-9 / chosen.len().max(1) as f64;
        for &j in &chosen {
            weights[j] += share;
        }
        waiting.clear();
        last_amount[thread] = Some(i);
    }
    weights
}

/// Sets each sample's on-CPU flag from its CPU time, for recordings that carry CPU times:
/// a thread holding the GIL is running Python code, and any other is taken as running
/// when the CPU time spread to the sample is at least a quarter of a sampling period
/// (a sleeping thread still gets a little: pausing it for a blocking sample makes it run
/// for a few microseconds). The flag the sampler wrote can only say whether the kernel's
/// lagging account grew since the previous sample.
pub fn settle_on_cpu(rec: &mut Recording) {
    if !rec.has_cpu_times() {
        return;
    }
    let busy = nominal_period_ns(rec) as f64 * 1e-9 / 4.0;
    let weights = spread(rec);
    for (sample, weight) in rec.samples.iter_mut().zip(weights) {
        if sample.cpu_ns.is_some() {
            sample.on_cpu = Some(sample.holds_gil || weight >= busy);
        }
    }
}
