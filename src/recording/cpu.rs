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
/// amount is spread by [`Spreader`] (which says how).
pub fn spread(rec: &Recording) -> Vec<f64> {
    struct Weights(Vec<f64>);
    impl CpuSink<usize> for Weights {
        fn credit(&mut self, sample: usize, seconds: f64) {
            self.0[sample] += seconds;
        }
    }
    let mut weights = Weights(vec![0.0f64; rec.samples.len()]);
    let mut spreader = Spreader::new(nominal_period_ns(rec));
    for (i, sample) in rec.samples.iter().enumerate() {
        let Some(used) = sample.cpu_ns else {
            continue;
        };
        let point = CpuSample {
            id: i,
            thread: sample.thread.0 as usize,
            time_ns: sample.time_ns,
            cpu_ns: used,
            holds_gil: sample.holds_gil,
            error: sample.error,
        };
        spreader.push(point, &mut weights);
    }
    weights.0
}

/// One sample as the spread sees it: `id` is whatever names it to the caller.
#[derive(Clone, Copy, Debug)]
pub struct CpuSample<T> {
    pub id: T,
    /// The thread, as a small index (vectors are sized by it).
    pub thread: usize,
    pub time_ns: u64,
    /// CPU time the kernel charged the thread since its previous sample.
    pub cpu_ns: u64,
    pub holds_gil: bool,
    pub error: bool,
}

/// What [`Spreader`] tells its caller.
pub trait CpuSink<T> {
    /// `seconds` of CPU time go to sample `id` (a sample can get several credits).
    fn credit(&mut self, id: T, seconds: f64);
    /// Sample `id` will get no more credits, except the one rule 2 below can give a sample
    /// holding the GIL that carried an amount.
    fn settled(&mut self, _id: T) {}
}

/// A sample waiting for the next amount of its thread.
#[derive(Clone, Copy, Debug)]
struct Pending<T> {
    id: T,
    time_ns: u64,
    holds_gil: bool,
    error: bool,
}

/// The spread, one sample at a time (so the live view of `top` uses the same rules as a
/// recording's reader). Each amount is spread evenly over, in order of preference:
/// 1. the thread's samples since its previous amount, within the amount's own span before
///    it plus two periods, that held the GIL (running Python code, not waiting);
/// 2. else the sample that carried the previous amount, if it held the GIL (the thread
///    worked on from there, then stopped: a burst is not credited to the `sleep` it is
///    found in next);
/// 3. else those samples of (1) whose stack was read, else all of them.
pub struct Spreader<T> {
    period_ns: u64,
    /// Per thread: its samples since its last nonzero amount.
    pending: Vec<Vec<Pending<T>>>,
    /// Per thread: the sample that carried its last nonzero amount.
    last_amount: Vec<Option<Pending<T>>>,
    chosen: Vec<usize>,
}

impl<T: Copy> Spreader<T> {
    /// A spread for samples taken every `period_ns` (nominally).
    pub fn new(period_ns: u64) -> Spreader<T> {
        Spreader {
            period_ns: period_ns.max(1),
            pending: Vec::new(),
            last_amount: Vec::new(),
            chosen: Vec::new(),
        }
    }

    /// Takes the next sample (in time order), crediting and settling through `sink`.
    pub fn push(&mut self, sample: CpuSample<T>, sink: &mut impl CpuSink<T>) {
        let thread = sample.thread;
        if self.pending.len() <= thread {
            self.pending.resize_with(thread + 1, Vec::new);
            self.last_amount.resize(thread + 1, None);
        }
        let this = Pending {
            id: sample.id,
            time_ns: sample.time_ns,
            holds_gil: sample.holds_gil,
            error: sample.error,
        };
        let waiting = &mut self.pending[thread];
        waiting.push(this);
        let used = sample.cpu_ns;
        if used == 0 {
            // Bounded: a thread that stays idle keeps only its recent samples.
            if waiting.len() > 4096 {
                for old in waiting.drain(..2048) {
                    sink.settled(old.id);
                }
            }
            return;
        }
        let from = sample
            .time_ns
            .saturating_sub(used.saturating_add(self.period_ns.saturating_mul(2)));
        let span = waiting.partition_point(|p| p.time_ns < from);
        let candidates = &waiting[span..];
        let chosen = &mut self.chosen;
        chosen.clear();
        chosen.extend(
            (0..candidates.len()).filter(|&j| candidates[j].holds_gil && !candidates[j].error),
        );
        let mut previous = None;
        if chosen.is_empty() {
            previous =
                self.last_amount[thread].filter(|p| p.holds_gil && !p.error && p.time_ns >= from);
        }
        if chosen.is_empty() && previous.is_none() {
            chosen.extend((0..candidates.len()).filter(|&j| !candidates[j].error));
        }
        if chosen.is_empty() && previous.is_none() {
            chosen.extend(0..candidates.len());
        }
        let shares = chosen.len() + usize::from(previous.is_some());
        let share = used as f64 * 1e-9 / shares.max(1) as f64;
        if let Some(p) = previous {
            sink.credit(p.id, share);
        }
        for &j in chosen.iter() {
            sink.credit(candidates[j].id, share);
        }
        for p in waiting.drain(..) {
            sink.settled(p.id);
        }
        self.last_amount[thread] = Some(this);
    }

    /// Settles every waiting sample taken before `before_ns`: for a live view, which
    /// cannot wait for an amount forever. An amount could still reach such a sample only
    /// if its thread ran for longer than that without the kernel's account moving.
    pub fn expire(&mut self, before_ns: u64, sink: &mut impl CpuSink<T>) {
        for waiting in &mut self.pending {
            let old = waiting.partition_point(|p| p.time_ns < before_ns);
            for p in waiting.drain(..old) {
                sink.settled(p.id);
            }
        }
    }
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
