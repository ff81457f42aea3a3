//! From a recording to a profile, the model every output format starts from: which samples
//! a view keeps ([`ViewOptions`]), how much time each sample stands for on the chosen
//! [`Clock`] ([`sample_seconds`]), the tally of samples and time per distinct stack
//! ([`Profile`]), and how frames group into functions or lines and are labelled
//! ([`Functions`]).

use crate::recording::{FrameId, ProcessIndex, Recording, Sample, StackId, StringId, ThreadIndex};
use rustc_hash::FxHashMap;

/// Which time a sample stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Clock {
    /// Real time: each sample weighs the wall time its tick stands for.
    #[default]
    Wall,
    /// CPU time: each sample weighs the CPU time the kernel charged its thread since the
    /// thread's previous sample; a busy machine distorts it far less than wall time.
    Cpu,
}

impl Clock {
    pub fn name(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::Cpu => "cpu",
        }
    }

    /// The clock to use for recordings of which `all_have_cpu` says whether every one
    /// carries CPU times: the one asked for, else CPU time when there is some, else wall
    /// time. Asking for CPU time of recordings without it is an error, with its reason.
    pub(crate) fn resolve(asked: Option<Clock>, all_have_cpu: bool) -> Result<Clock, String> {
        match (asked, all_have_cpu) {
            (Some(Clock::Cpu), false) => Err(
                "--clock cpu needs CPU times, and this input has none (a recording made by \
                 framescope before 0.2, or collapsed stacks); use --clock wall"
                    .into(),
            ),
            (Some(clock), _) => Ok(clock),
            (None, true) => Ok(Clock::Cpu),
            (None, false) => Ok(Clock::Wall),
        }
    }

    /// A few words for report headings: `CPU time` or `wall time`.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Clock::Wall => "wall time",
            Clock::Cpu => "CPU time",
        }
    }
}

/// How `--async` views tell tasks apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum TasksBy {
    /// One `task: NAME` frame per task name.
    #[default]
    Name,
    /// One `task: COROUTINE` frame per coroutine function: tasks of one function merge.
    Coroutine,
}

/// Which samples a view keeps and how it groups them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewOptions {
    /// The time each sample stands for.
    pub clock: Clock,
    /// Keep samples of threads the OS reported as not running (sleeping, waiting on I/O or
    /// a lock). Off by default: a profile then shows where CPU time went, as py-spy does.
    /// Samples whose on-CPU state is unknown are always kept.
    pub idle: bool,
    /// Keep only samples of threads holding the GIL.
    pub gil_only: bool,
    /// Keep threads apart (a table, or a root frame, per thread) instead of merging them.
    pub per_thread: bool,
    /// Keep only the thread with this OS thread id or Python thread id.
    pub thread_filter: Option<u64>,
    /// Keep processes apart (a table, or a root frame, per process) in a recording of
    /// several; merged by function otherwise.
    pub per_process: bool,
    /// Keep only the process with this pid.
    pub process_filter: Option<u32>,
    /// `--async`: root each sample's stack at its asyncio task (see [`super::tasks`]).
    pub tasks: Option<TasksBy>,
}

/// Why a sample was left out of a view, counted per reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// Not the thread asked for.
    pub other_threads: u64,
    /// Not the process asked for.
    pub other_processes: u64,
    /// The thread's stack could not be read.
    pub errors: u64,
    /// The thread had no Python frames.
    pub empty: u64,
    /// The thread was not running (see [`ViewOptions::idle`]).
    pub idle: u64,
    /// The thread did not hold the GIL (see [`ViewOptions::gil_only`]).
    pub without_gil: u64,
}

enum Verdict {
    Kept(StackId),
    OtherProcess,
    OtherThread,
    Error,
    Empty,
    Idle,
    WithoutGil,
}

impl ViewOptions {
    fn judge(&self, rec: &Recording, sample: &Sample) -> Verdict {
        if let Some(wanted) = self.process_filter {
            if rec.process_pid(rec.thread_process(sample.thread)) != wanted {
                return Verdict::OtherProcess;
            }
        }
        if let Some(wanted) = self.thread_filter {
            let thread = rec.thread(sample.thread);
            let tid_matches = thread.os_tid.is_some_and(|tid| u64::from(tid) == wanted);
            if !tid_matches && thread.python_thread_id != wanted {
                return Verdict::OtherThread;
            }
        }
        if sample.error {
            return Verdict::Error;
        }
        let Some(stack) = sample.stack else {
            return Verdict::Empty;
        };
        if !self.idle && sample.on_cpu == Some(false) {
            return Verdict::Idle;
        }
        if self.gil_only && !sample.holds_gil {
            return Verdict::WithoutGil;
        }
        Verdict::Kept(stack)
    }

    /// The stack of `sample` if this view keeps it. Samples with read errors or no frames
    /// are never kept.
    pub fn keeps(&self, rec: &Recording, sample: &Sample) -> Option<StackId> {
        match self.judge(rec, sample) {
            Verdict::Kept(stack) => Some(stack),
            _ => None,
        }
    }
}

/// The typical time between two samples of one thread: the median of the gaps between a
/// thread's consecutive samples, or the nominal interval when there are no gaps.
pub(crate) fn typical_interval_ns(rec: &Recording) -> u64 {
    let mut gaps: Vec<u64> = Vec::new();
    let mut last = vec![None::<u64>; rec.threads.len()];
    for s in &rec.samples {
        if let Some(prev) = last[s.thread.0 as usize].replace(s.time_ns) {
            gaps.push(s.time_ns - prev);
        }
    }
    let median = if gaps.is_empty() {
        0
    } else {
        let mid = gaps.len() / 2;
        *gaps.select_nth_unstable(mid).1
    };
    if median > 0 {
        return median;
    }
    let rate = rec.meta.rate_hz;
    if rate.is_finite() && rate > 0.0 {
        ((1e9 / rate) as u64).max(1)
    } else {
        10_000_000
    }
}

/// Seconds each sample stands for on `clock`, parallel to `rec.samples`.
///
/// - CPU time: what the kernel charged the thread, spread by [`crate::recording::cpu::spread`].
/// - Wall time, recordings of format 2: the wall time of the sample's tick (its slot of the
///   schedule, plus any slots missed just before it), so every interval is attributed.
/// - Wall time, format 1 (no such figure): the time until the same thread's next sample,
///   at most twice the typical interval; the last sample of a thread gets the typical
///   interval.
///
/// A sample whose stack could not be read is left out of every view, so on both clocks
/// of format 2 its time goes to the same thread's next readable sample instead of being
/// lost.
pub(crate) fn sample_seconds(rec: &Recording, clock: Clock) -> Vec<f64> {
    let mut weights = match clock {
        Clock::Cpu => crate::recording::cpu::spread(rec),
        Clock::Wall if rec.version >= 2 => rec
            .samples
            .iter()
            .map(|s| s.interval_ns as f64 * 1e-9)
            .collect(),
        Clock::Wall => return gap_seconds(rec, typical_interval_ns(rec)),
    };
    let mut carried = vec![0.0f64; rec.threads.len()];
    for (sample, weight) in rec.samples.iter().zip(weights.iter_mut()) {
        let carry = &mut carried[sample.thread.0 as usize];
        if sample.error {
            *carry += std::mem::take(weight);
        } else {
            *weight += std::mem::take(carry);
        }
    }
    weights
}

/// Format-1 wall weights: the gap to the thread's next sample, capped at twice `interval`.
fn gap_seconds(rec: &Recording, interval: u64) -> Vec<f64> {
    let cap = interval.saturating_mul(2);
    let mut weights = vec![interval as f64 * 1e-9; rec.samples.len()];
    let mut last = vec![None::<usize>; rec.threads.len()];
    for (i, s) in rec.samples.iter().enumerate() {
        if let Some(prev) = last[s.thread.0 as usize].replace(i) {
            let gap = s.time_ns - rec.samples[prev].time_ns;
            weights[prev] = gap.min(cap) as f64 * 1e-9;
        }
    }
    weights
}

/// Samples and seconds of one distinct stack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StackTally {
    pub stack: StackId,
    pub samples: u64,
    pub seconds: f64,
}

/// The kept samples of one thread, or of all threads together (of one process, or of all).
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// `None` when processes are merged; else the process (`Some(None)` the META's).
    pub process: Option<Option<ProcessIndex>>,
    /// `None` when threads are merged.
    pub thread: Option<ThreadIndex>,
    pub samples: u64,
    pub seconds: f64,
    /// Ordered by stack id.
    pub stacks: Vec<StackTally>,
}

impl Group {
    /// What names the group, outermost first: its process (`pid 1234: python worker.py`)
    /// when processes are kept apart, then its thread when threads are. Not escaped.
    pub fn labels(&self, rec: &Recording) -> Vec<String> {
        let mut labels = Vec::new();
        if let Some(process) = self.process {
            labels.push(rec.process_label(process));
        }
        if let Some(thread) = self.thread {
            labels.push(rec.thread_label(thread));
        }
        labels
    }
}

/// The samples a view keeps, tallied per distinct stack.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// One group when threads are merged; otherwise one per thread with kept samples, in
    /// the order the threads first appear in the recording.
    pub groups: Vec<Group>,
    pub samples: u64,
    pub seconds: f64,
    pub left_out: LeftOut,
    pub interval_ns: u64,
    /// The time `seconds` are of.
    pub clock: Clock,
}

impl Profile {
    pub fn build(rec: &Recording, view: &ViewOptions) -> Profile {
        let interval_ns = typical_interval_ns(rec);
        let weights = sample_seconds(rec, view.clock);
        Profile::build_range(rec, view, &weights, interval_ns, 0..rec.samples.len())
    }

    /// The profiles of `count` stretches of equal length that together cover the recording
    /// from its first sample to its last, in time order (empty stretches give empty
    /// profiles). Each sample keeps the weight it has in [`Profile::build`], so the
    /// stretches add up to the whole. Block bootstraps resample these.
    pub(crate) fn build_windows(rec: &Recording, view: &ViewOptions, count: usize) -> Vec<Profile> {
        let interval_ns = typical_interval_ns(rec);
        let weights = sample_seconds(rec, view.clock);
        let count = count.max(1);
        let (first, last) = match (rec.samples.first(), rec.samples.last()) {
            (Some(a), Some(b)) => (a.time_ns, b.time_ns),
            _ => (0, 0),
        };
        let span = u128::from(last - first) + 1;
        let mut start = 0;
        (1..=count)
            .map(|i| {
                // Samples before `end` (ns since the start) belong to windows up to this one.
                let end = u128::from(first) + span * i as u128 / count as u128;
                let stop =
                    start + rec.samples[start..].partition_point(|s| u128::from(s.time_ns) < end);
                let profile = Profile::build_range(rec, view, &weights, interval_ns, start..stop);
                start = stop;
                profile
            })
            .collect()
    }

    /// The profile of `rec.samples[range]`, `weights` parallel to all of `rec.samples`.
    fn build_range(
        rec: &Recording,
        view: &ViewOptions,
        weights: &[f64],
        interval_ns: u64,
        range: std::ops::Range<usize>,
    ) -> Profile {
        let mut left_out = LeftOut::default();
        // Per thread index: the group its samples go to.
        let mut group_of: Vec<Option<usize>> = vec![None; rec.threads.len()];
        // Per group: its process and thread, and samples and seconds per stack.
        type Tallies = FxHashMap<StackId, (u64, f64)>;
        type Key = (Option<Option<ProcessIndex>>, Option<ThreadIndex>);
        let mut tallies: Vec<(Key, Tallies)> = Vec::new();
        let mut group_of_key: FxHashMap<Key, usize> = FxHashMap::default();
        for (sample, &seconds) in rec.samples[range.clone()].iter().zip(&weights[range]) {
            let stack = match view.judge(rec, sample) {
                Verdict::Kept(stack) => stack,
                Verdict::OtherProcess => {
                    left_out.other_processes += 1;
                    continue;
                }
                Verdict::OtherThread => {
                    left_out.other_threads += 1;
                    continue;
                }
                Verdict::Error => {
                    left_out.errors += 1;
                    continue;
                }
                Verdict::Empty => {
                    left_out.empty += 1;
                    continue;
                }
                Verdict::Idle => {
                    left_out.idle += 1;
                    continue;
                }
                Verdict::WithoutGil => {
                    left_out.without_gil += 1;
                    continue;
                }
            };
            let group = *group_of[sample.thread.0 as usize].get_or_insert_with(|| {
                let key = (
                    view.per_process.then(|| rec.thread_process(sample.thread)),
                    view.per_thread.then_some(sample.thread),
                );
                *group_of_key.entry(key).or_insert_with(|| {
                    tallies.push((key, FxHashMap::default()));
                    tallies.len() - 1
                })
            });
            let entry = tallies[group].1.entry(stack).or_insert((0, 0.0));
            entry.0 += 1;
            entry.1 += seconds;
        }

        if tallies.is_empty() && !view.per_thread && !view.per_process {
            tallies.push(((None, None), FxHashMap::default()));
        }
        tallies.sort_by_key(|(key, _)| *key);
        let groups: Vec<Group> = tallies
            .into_iter()
            .map(|((process, thread), map)| {
                let mut stacks: Vec<StackTally> = map
                    .into_iter()
                    .map(|(stack, (samples, seconds))| StackTally {
                        stack,
                        samples,
                        seconds,
                    })
                    .collect();
                stacks.sort_unstable_by_key(|t| t.stack);
                Group {
                    process,
                    thread,
                    samples: stacks.iter().map(|t| t.samples).sum(),
                    seconds: stacks.iter().map(|t| t.seconds).sum(),
                    stacks,
                }
            })
            .collect();
        Profile {
            samples: groups.iter().map(|g| g.samples).sum(),
            seconds: groups.iter().map(|g| g.seconds).sum(),
            groups,
            left_out,
            interval_ns,
            clock: view.clock,
        }
    }
}

/// What a report shows as one function: the function itself, or one line of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FunctionKey {
    pub qualname: StringId,
    pub filename: StringId,
    pub first_line: u32,
    /// The line within the function, in per-line views.
    pub line: Option<u32>,
}

impl FunctionKey {
    /// The line a report shows: the current line in per-line views, else the `def` line.
    pub(crate) fn shown_line(&self) -> u32 {
        self.line.unwrap_or(self.first_line)
    }
}

/// The grouping of a recording's frames into functions (or function lines).
pub struct Functions {
    of_frame: Vec<u32>,
    pub keys: Vec<FunctionKey>,
}

impl Functions {
    /// Groups frames by function, or by function and line when `lines`.
    pub fn new(rec: &Recording, lines: bool) -> Functions {
        let mut index: FxHashMap<FunctionKey, u32> = FxHashMap::default();
        let mut keys = Vec::new();
        let of_frame = rec
            .frames
            .iter()
            .map(|f| {
                let key = FunctionKey {
                    qualname: f.qualname,
                    filename: f.filename,
                    first_line: f.first_line,
                    line: lines.then_some(f.line),
                };
                *index.entry(key).or_insert_with(|| {
                    keys.push(key);
                    (keys.len() - 1) as u32
                })
            })
            .collect();
        Functions { of_frame, keys }
    }

    /// The function a frame belongs to, as an index into `keys`.
    pub fn of(&self, frame: FrameId) -> usize {
        self.of_frame[frame.0 as usize] as usize
    }

    /// `qualname (file:line)`, or `qualname (file)` when the line is unknown.
    pub fn label(&self, rec: &Recording, function: usize) -> String {
        let key = &self.keys[function];
        let name = rec.string(key.qualname);
        let file = rec.string(key.filename);
        match key.shown_line() {
            // Frames framescope makes up (`task: NAME`) have neither file nor line.
            0 if file.is_empty() => name.to_string(),
            0 => format!("{name} ({file})"),
            line => format!("{name} ({file}:{line})"),
        }
    }
}

/// Own and total samples and seconds of one function over a set of stacks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FunctionTally {
    /// Samples with the function innermost (running its own code).
    pub own_samples: u64,
    pub own_seconds: f64,
    /// Samples with the function anywhere on the stack, counted once however deep it recurses.
    pub total_samples: u64,
    pub total_seconds: f64,
}

/// Tallies `count` functions over weighted stacks. Each stack comes as its functions,
/// innermost first (indexes below `count`), with its samples and seconds; it is own time of
/// its innermost function and total time of every function on it, once per function
/// however often that function recurses.
pub(crate) fn tally_functions<S, F>(count: usize, stacks: S) -> Vec<FunctionTally>
where
    S: IntoIterator<Item = (F, u64, f64)>,
    F: IntoIterator<Item = usize>,
{
    let mut tallies = vec![FunctionTally::default(); count];
    // Per function: the last stack (plus one) already counted in its total.
    let mut counted_in = vec![0usize; count];
    for (i, (functions, samples, seconds)) in stacks.into_iter().enumerate() {
        for (depth, function) in functions.into_iter().enumerate() {
            let tally = &mut tallies[function];
            if depth == 0 {
                tally.own_samples += samples;
                tally.own_seconds += seconds;
            }
            if counted_in[function] != i + 1 {
                counted_in[function] = i + 1;
                tally.total_samples += samples;
                tally.total_seconds += seconds;
            }
        }
    }
    tallies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::testutil::{record, Synth};

    #[test]
    fn weights_follow_real_gaps_clamped_to_twice_the_median() {
        let mut synth = Synth::default();
        let times = [0u64, 10, 20, 30, 100, 110];
        let ticks: Vec<_> = times
            .iter()
            .map(|&ms| {
                (
                    ms * 1_000_000,
                    vec![synth.thread(1, "MainThread", "main:1")],
                )
            })
            .collect();
        let rec = record(&synth, &ticks);
        assert_eq!(typical_interval_ns(&rec), 10_000_000);
        let ms: Vec<f64> = gap_seconds(&rec, typical_interval_ns(&rec))
            .iter()
            .map(|s| (s * 1e3).round())
            .collect();
        assert_eq!(ms, [10.0, 10.0, 10.0, 20.0, 10.0, 10.0]);
    }

    #[test]
    fn gaps_are_per_thread() {
        let mut synth = Synth::default();
        let ticks: Vec<_> = (0..4u64)
            .map(|i| {
                let mut threads = vec![synth.thread(1, "MainThread", "main:1")];
                if i % 2 == 0 {
                    threads.push(synth.thread(2, "slow", "work:1"));
                }
                (i * 5_000_000, threads)
            })
            .collect();
        let rec = record(&synth, &ticks);
        // Gaps: main 5,5,5 ms; slow 10 ms. Median of [5,5,10,5] sorted [5,5,5,10] is 5.
        assert_eq!(typical_interval_ns(&rec), 5_000_000);
        let slow: Vec<f64> = rec
            .samples
            .iter()
            .zip(gap_seconds(&rec, typical_interval_ns(&rec)))
            .filter(|(s, _)| rec.thread(s.thread).os_tid == Some(2))
            .map(|(_, w)| (w * 1e3).round())
            .collect();
        assert_eq!(slow, [10.0, 5.0]);
    }

    #[test]
    fn windows_split_the_recording_by_time_and_add_up_to_it() {
        let mut synth = Synth::default();
        let ticks: Vec<_> = (0..10u64)
            .map(|i| {
                let spec = if i < 4 {
                    "main:1;early:2"
                } else {
                    "main:1;late:3"
                };
                (i * 10_000_000, vec![synth.thread(1, "MainThread", spec)])
            })
            .collect();
        let rec = record(&synth, &ticks);
        let view = ViewOptions::default();
        let whole = Profile::build(&rec, &view);
        let windows = Profile::build_windows(&rec, &view, 3);
        assert_eq!(windows.len(), 3);
        // 0..90 ms in three stretches of 30 ms: ticks 0-2, 3-5, 6-9.
        let samples: Vec<u64> = windows.iter().map(|p| p.samples).collect();
        assert_eq!(samples, [3, 3, 4]);
        assert_eq!(windows[0].groups[0].stacks.len(), 1);
        assert_eq!(windows[2].groups[0].stacks.len(), 1);
        let seconds: f64 = windows.iter().map(|p| p.seconds).sum();
        assert!((seconds - whole.seconds).abs() < 1e-12);
        assert!(Profile::build_windows(&Recording::default(), &view, 4)
            .iter()
            .all(|p| p.samples == 0));
    }

    #[test]
    fn a_single_sample_gets_the_nominal_interval() {
        let mut synth = Synth::default();
        let ticks = vec![(0, vec![synth.thread(1, "MainThread", "main:1")])];
        let rec = record(&synth, &ticks);
        // The test recordings ask for 100 Hz.
        assert_eq!(typical_interval_ns(&rec), 10_000_000);
        assert_eq!(gap_seconds(&rec, typical_interval_ns(&rec)), [0.01]);
    }

    /// A recording of one thread sampled every ms with the given CPU amounts (ms) and
    /// GIL flags.
    fn cpu_recording(amounts: &[(u64, bool)]) -> Recording {
        let mut synth = Synth::default();
        let ticks: Vec<_> = amounts
            .iter()
            .enumerate()
            .map(|(i, &(ms, gil))| {
                let mut t = synth.thread(
                    1,
                    "MainThread",
                    if gil {
                        "main:1;work:2"
                    } else {
                        "main:1;sleep:3"
                    },
                );
                t.cpu_ns = Some(ms * 1_000_000);
                t.holds_gil = gil;
                (i as u64 * 1_000_000, vec![t])
            })
            .collect();
        let mut rec = record(&synth, &ticks);
        rec.meta.rate_hz = 1000.0;
        rec
    }

    fn ms(weights: &[f64]) -> Vec<f64> {
        weights.iter().map(|w| (w * 1e4).round() / 10.0).collect()
    }

    #[test]
    fn a_tick_of_cpu_is_spread_over_the_samples_it_covers() {
        // The kernel's account of a running thread grows a tick (4 ms) at a time.
        let rec = cpu_recording(&[(0, true), (0, true), (0, true), (4, true), (0, true)]);
        assert_eq!(
            ms(&crate::recording::cpu::spread(&rec)),
            [1.0, 1.0, 1.0, 1.0, 0.0]
        );
    }

    #[test]
    fn cpu_of_a_burst_goes_to_the_samples_holding_the_gil_not_to_the_sleep() {
        // Ran 2 ms holding the GIL, then slept; the account showed it at the first sample
        // of the sleep.
        let rec = cpu_recording(&[(0, false), (0, true), (0, true), (2, false), (0, false)]);
        assert_eq!(
            ms(&crate::recording::cpu::spread(&rec)),
            [0.0, 1.0, 1.0, 0.0, 0.0]
        );
    }

    #[test]
    fn a_small_amount_after_a_long_idle_stays_near_its_sample() {
        let mut amounts = vec![(0, false); 50];
        amounts.push((1, false));
        let rec = cpu_recording(&amounts);
        let w = crate::recording::cpu::spread(&rec);
        // Spread over at most the last 3 ms (1 ms used + two periods), not the 50 idle.
        assert_eq!(w[..47].iter().sum::<f64>(), 0.0, "{w:?}");
        assert!((w.iter().sum::<f64>() - 0.001).abs() < 1e-12);
    }

    #[test]
    fn cpu_of_an_unreadable_sample_goes_to_a_readable_neighbour() {
        let mut rec = cpu_recording(&[(1, true), (1, true), (1, true)]);
        rec.samples[1].error = true;
        let w = ms(&sample_seconds(&rec, Clock::Cpu));
        // The thread was at work in the sample before (it held the GIL there).
        assert_eq!(w, [2.0, 0.0, 1.0]);
        // With nothing readable before it, the next readable sample takes it.
        rec.samples[0].error = true;
        let w = ms(&sample_seconds(&rec, Clock::Cpu));
        assert_eq!(w, [0.0, 0.0, 3.0]);
    }
}
