//! pprof output: the gzipped `profile.proto` that `go tool pprof`, Pyroscope, Parca and
//! Grafana read. Each sample holds a count, the wall nanoseconds and (when the recording
//! has CPU times) the CPU nanoseconds its kept samples stand for, with one sample per
//! distinct (thread, stack) labelled with the thread's name, its id and the process id.
//! Locations are line-level: one per function and line, so `pprof -lines` shows lines and
//! the default view functions. Names are written as the target gave them (pprof is data;
//! viewers escape what they show). The Pyroscope push ([`crate::sinks`]) builds its
//! interval profiles with [`build`].

pub mod proto;

use std::io::Write;

use prost::Message;

use super::profile::{sample_seconds, Clock, Functions, ViewOptions};
use super::{write_error, RenderOptions};
use crate::error::Result;
use crate::limits;
use crate::recording::{Recording, StackId, ThreadIndex};
use rustc_hash::FxHashMap;

/// Part of a recording, in ns since its start: what a profile of some of its samples
/// covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Span {
    /// The whole recording: from its start to its summary's duration (or its last tick).
    pub fn whole(rec: &Recording) -> Span {
        let end_ns = rec
            .summary
            .as_ref()
            .map_or(rec.end_ns, |s| s.duration_ns.max(rec.end_ns));
        Span {
            start_ns: 0,
            end_ns,
        }
    }
}

/// Writes the whole of `rec`, through the samples `view` keeps, as gzipped pprof.
pub(crate) fn render(
    rec: &Recording,
    view: &ViewOptions,
    _options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let profile = build(rec, view, Span::whole(rec));
    out.write_all(&gzip(&profile)).map_err(write_error)
}

/// The profile encoded and gzipped, as pprof files and Pyroscope's ingest take it.
pub(crate) fn gzip(profile: &proto::Profile) -> Vec<u8> {
    let raw = profile.encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&raw);
    gz.finish().unwrap_or_default()
}

/// Index of the sample count among a profile's values; wall and CPU nanoseconds follow.
pub(crate) const SAMPLES: usize = 0;
pub(crate) const WALL_NS: usize = 1;
pub(crate) const CPU_NS: usize = 2;

/// The profile of the samples of `rec` that `view` keeps, said to cover `span`.
pub(crate) fn build(rec: &Recording, view: &ViewOptions, span: Span) -> proto::Profile {
    let mut strings = Strings::default();
    let has_cpu = rec.has_cpu_times();
    let wall = sample_seconds(rec, Clock::Wall);
    let cpu = has_cpu.then(|| sample_seconds(rec, Clock::Cpu));

    let mut sample_type = vec![
        value_type(&mut strings, "samples", "count"),
        value_type(&mut strings, "wall", "nanoseconds"),
    ];
    if has_cpu {
        sample_type.push(value_type(&mut strings, "cpu", "nanoseconds"));
    }
    let width = sample_type.len();

    // Values per (thread, stack), in order of first appearance.
    let mut index: FxHashMap<(ThreadIndex, StackId), usize> = FxHashMap::default();
    let mut tallies: Vec<((ThreadIndex, StackId), Vec<i64>)> = Vec::new();
    for (i, sample) in rec.samples.iter().enumerate() {
        let Some(stack) = view.keeps(rec, sample) else {
            continue;
        };
        let key = (sample.thread, stack);
        let slot = *index.entry(key).or_insert_with(|| {
            tallies.push((key, vec![0; width]));
            tallies.len() - 1
        });
        let values = &mut tallies[slot].1;
        values[SAMPLES] += 1;
        values[WALL_NS] = values[WALL_NS].saturating_add(nanos(wall[i]));
        if let Some(cpu) = &cpu {
            values[CPU_NS] = values[CPU_NS].saturating_add(nanos(cpu[i]));
        }
    }

    let functions = Functions::new(rec, false);
    let mut function_ids: Vec<Option<u64>> = vec![None; functions.keys.len()];
    let mut function_table: Vec<proto::Function> = Vec::new();
    let mut location_ids: FxHashMap<(usize, u32), u64> = FxHashMap::default();
    let mut location_table: Vec<proto::Location> = Vec::new();
    let mut stack_locations: FxHashMap<StackId, Vec<u64>> = FxHashMap::default();
    let mut samples = Vec::with_capacity(tallies.len());
    for ((thread, stack), value) in tallies {
        let location_id = stack_locations
            .entry(stack)
            .or_insert_with(|| {
                limits::stack_frames(rec, stack)
                    .map(|frame_id| {
                        let function = functions.of(frame_id);
                        let line = rec.frame(frame_id).line;
                        *location_ids.entry((function, line)).or_insert_with(|| {
                            let function_id = *function_ids[function].get_or_insert_with(|| {
                                let key = &functions.keys[function];
                                function_table.push(proto::Function {
                                    id: function_table.len() as u64 + 1,
                                    name: strings.id(rec.string(key.qualname)),
                                    // Left empty: pprof "demangles" a function whose
                                    // system name equals its name, and C++ rules
                                    // would erase `<module>` and `<lambda>`.
                                    system_name: 0,
                                    filename: strings.id(rec.string(key.filename)),
                                    start_line: i64::from(key.first_line),
                                });
                                function_table.len() as u64
                            });
                            location_table.push(proto::Location {
                                id: location_table.len() as u64 + 1,
                                mapping_id: 1,
                                line: vec![proto::Line {
                                    function_id,
                                    line: i64::from(line),
                                    column: 0,
                                }],
                                ..Default::default()
                            });
                            location_table.len() as u64
                        })
                    })
                    .collect()
            })
            .clone();
        samples.push(proto::Sample {
            location_id,
            value,
            label: thread_labels(rec, thread, &mut strings),
        });
    }

    let clock_name = match view.clock {
        Clock::Cpu if has_cpu => "cpu",
        _ => "wall",
    };
    let period_ns = if rec.meta.rate_hz.is_finite() && rec.meta.rate_hz > 0.0 {
        (1e9 / rec.meta.rate_hz).round().max(1.0) as i64
    } else {
        0
    };
    let subject = crate::report::subject(rec, view);
    let comment = vec![strings.id(&format!(
        "framescope {}: {} (CPython {})",
        env!("CARGO_PKG_VERSION"),
        subject.command_line,
        subject.python_version
    ))];
    let mapping = vec![proto::Mapping {
        id: 1,
        filename: strings.id("python"),
        has_functions: true,
        has_filenames: true,
        has_line_numbers: true,
        ..Default::default()
    }];
    proto::Profile {
        sample_type,
        sample: samples,
        mapping,
        location: location_table,
        function: function_table,
        time_nanos: clamp_i64(rec.meta.start_unix_ns.saturating_add(span.start_ns)),
        duration_nanos: clamp_i64(span.end_ns.saturating_sub(span.start_ns)),
        period_type: Some(value_type(&mut strings, "wall", "nanoseconds")),
        period: period_ns,
        comment,
        default_sample_type: strings.id(clock_name),
        string_table: strings.table,
        ..Default::default()
    }
}

/// A thread's labels: its name, its OS thread id (else its Python thread id) and its
/// process's pid.
fn thread_labels(rec: &Recording, thread: ThreadIndex, strings: &mut Strings) -> Vec<proto::Label> {
    let t = rec.thread(thread);
    let mut labels = Vec::with_capacity(3);
    if let Some(name) = t.name {
        labels.push(proto::Label {
            key: strings.id("thread_name"),
            str: strings.id(rec.string(name)),
            ..Default::default()
        });
    }
    let id = t.os_tid.map_or(t.python_thread_id, u64::from);
    labels.push(proto::Label {
        key: strings.id("thread_id"),
        num: clamp_i64(id),
        ..Default::default()
    });
    let pid = t
        .process
        .and_then(|p| rec.processes.get(p.0 as usize))
        .map_or(rec.meta.pid, |p| p.info.pid);
    labels.push(proto::Label {
        key: strings.id("pid"),
        num: i64::from(pid),
        ..Default::default()
    });
    labels
}

fn value_type(strings: &mut Strings, kind: &str, unit: &str) -> proto::ValueType {
    proto::ValueType {
        r#type: strings.id(kind),
        unit: strings.id(unit),
    }
}

/// Seconds as whole nanoseconds (non-finite or negative: 0).
fn nanos(seconds: f64) -> i64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1e9).round().min(i64::MAX as f64) as i64
    } else {
        0
    }
}

fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The string table being built: entry 0 is "", each string once.
struct Strings {
    table: Vec<String>,
    index: FxHashMap<String, i64>,
}

impl Default for Strings {
    fn default() -> Self {
        let mut index = FxHashMap::default();
        index.insert(String::new(), 0);
        Strings {
            table: vec![String::new()],
            index,
        }
    }
}

impl Strings {
    fn id(&mut self, s: &str) -> i64 {
        if let Some(&id) = self.index.get(s) {
            return id;
        }
        let id = self.table.len() as i64;
        self.table.push(s.to_owned());
        self.index.insert(s.to_owned(), id);
        id
    }
}

#[cfg(test)]
mod tests;
