//! The CPU time of a recording's samples. Each sample carries what the kernel charged its
//! thread since the thread's previous sample, as read; the kernel brings that account up
//! to date only at its scheduler ticks and when a thread stops running, so the amounts
//! arrive in lumps. [`spread`] puts each lump back over the samples it covers, and
//! [`settle_on_cpu`] derives from that whether each sample caught its thread on a CPU.

use super::{Recording, Sample};

/// One period of the recording's sampling rate, in ns (1 ms when the rate is unusable).
fn nominal_period_ns(rec: &Recording) -> u64 {
    let rate = rec.meta.rate_hz;
    if rate.is_finite() && rate > 0.0 {
        ((1e9 / rate) as u64).max(1)
    } else {
        1_000_000
    }
}

/// CPU seconds per sample. The kernel's account of a thread grows only at scheduler ticks
/// (every 4 ms at 250 Hz) and when the thread stops running, so the CPU time a sample
/// carries was mostly used during the samples before it that carried none. Each amount is
/// therefore spread evenly over the thread's samples since its previous nonzero one that
/// lie within the amount's own span before it (plus one period: the thread cannot have run
/// longer than that), preferring among them those where it held the GIL (running Python
/// code, not waiting) and those whose stack was read.
pub fn spread(rec: &Recording) -> Vec<f64> {
    let period = nominal_period_ns(rec);
    let mut weights = vec![0.0f64; rec.samples.len()];
    // Per thread: its samples since its last nonzero amount.
    let mut pending: Vec<Vec<usize>> = vec![Vec::new(); rec.threads.len()];
    let mut chosen: Vec<usize> = Vec::new();
    for (i, sample) in rec.samples.iter().enumerate() {
        let Some(used) = sample.cpu_ns else {
            continue;
        };
        let waiting = &mut pending[sample.thread.0 as usize];
        waiting.push(i);
        if used == 0 {
            // Bounded: a thread that stays idle keeps only its recent samples.
            if waiting.len() > 4096 {
                waiting.drain(..2048);
            }
            continue;
        }
        let from = sample.time_ns.saturating_sub(used.saturating_add(period));
        let span = waiting.partition_point(|&j| rec.samples[j].time_ns < from);
        let candidates = &waiting[span..];
        chosen.clear();
        for prefer in [
            |s: &Sample| s.holds_gil && !s.error,
            |s: &Sample| !s.error,
            |_: &Sample| true,
        ] {
            chosen.extend(
                candidates
                    .iter()
                    .copied()
                    .filter(|&j| prefer(&rec.samples[j])),
            );
            if !chosen.is_empty() {
                break;
            }
        }
        let share = used as f64 * 1e-9 / chosen.len().max(1) as f64;
        for &j in &chosen {
            weights[j] += share;
        }
        waiting.clear();
    }
    weights
}

/// Sets each sample's on-CPU flag from its CPU time, for recordings that carry CPU times:
/// a thread holding the GIL is running Python code, and any other ran when CPU time was
/// spread to the sample. (The flag the sampler wrote can only say whether the kernel's
/// lagging account grew since the previous sample.)
pub fn settle_on_cpu(rec: &mut Recording) {
    if !rec.has_cpu_times() {
        return;
    }
    let weights = spread(rec);
    for (sample, weight) in rec.samples.iter_mut().zip(weights) {
        if sample.cpu_ns.is_some() {
            sample.on_cpu = Some(sample.holds_gil || weight > 0.0);
        }
    }
}
