//! speedscope's JSON file format (<https://www.speedscope.app/file-format-schema.json>):
//! one "sampled" profile per thread, in time order, weights in seconds taken from the real
//! time between samples, and a frames table shared by all threads. Consecutive samples of a
//! thread with the same stack are merged into one with their weights added.

use std::io::Write;

use serde::ser::{Serialize, Serializer};
use serde::Serialize as DeriveSerialize;

use super::profile::{sample_seconds, Functions, ViewOptions};
use super::{write_error, RenderOptions};
use crate::error::Result;
use crate::limits;
use crate::recording::{Recording, StackId, ThreadIndex};
use rustc_hash::FxHashMap;

const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(DeriveSerialize)]
#[serde(rename_all = "camelCase")]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared,
    profiles: Vec<SampledProfile<'a>>,
    name: String,
    active_profile_index: usize,
    exporter: String,
}

#[derive(DeriveSerialize)]
struct Shared {
    frames: Vec<Frame>,
}

#[derive(DeriveSerialize)]
struct Frame {
    name: String,
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

#[derive(DeriveSerialize)]
#[serde(rename_all = "camelCase")]
struct SampledProfile<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    start_value: f64,
    end_value: f64,
    samples: Stacks<'a>,
    weights: Vec<f64>,
}

/// A profile's samples: indices into the table of stacks, written out as the stacks.
struct Stacks<'a> {
    table: &'a [Vec<u32>],
    ids: Vec<usize>,
}

impl Serialize for Stacks<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.ids.iter().map(|&i| &self.table[i]))
    }
}

/// One thread's samples while they are collected.
struct ThreadSamples {
    thread: ThreadIndex,
    start_ns: u64,
    stacks: Vec<usize>,
    weights: Vec<f64>,
}

/// Writes `rec` as a speedscope file.
pub fn render(
    rec: &Recording,
    view: &ViewOptions,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let functions = Functions::new(rec, options.lines);
    let weights = sample_seconds(rec, view.clock);

    // speedscope frame index per function, given out in order of first use.
    let mut frame_of_function: Vec<Option<u32>> = vec![None; functions.keys.len()];
    let mut frames: Vec<Frame> = Vec::new();
    // Each distinct stack as speedscope frame indices, root first.
    let mut stack_index: FxHashMap<StackId, usize> = FxHashMap::default();
    let mut stack_table: Vec<Vec<u32>> = Vec::new();
    let mut threads: Vec<ThreadSamples> = Vec::new();
    let mut thread_slot: Vec<Option<usize>> = vec![None; rec.threads.len()];
    let mut last_stack: Vec<Option<StackId>> = vec![None; rec.threads.len()];

    for (sample, &weight) in rec.samples.iter().zip(&weights) {
        let Some(stack) = view.keeps(rec, sample) else {
            // A gap in the thread's samples: the next kept one starts a new entry.
            last_stack[sample.thread.0 as usize] = None;
            continue;
        };
        let slot = *thread_slot[sample.thread.0 as usize].get_or_insert_with(|| {
            threads.push(ThreadSamples {
                thread: sample.thread,
                start_ns: sample.time_ns,
                stacks: Vec::new(),
                weights: Vec::new(),
            });
            threads.len() - 1
        });
        let samples = &mut threads[slot];
        let last = &mut last_stack[sample.thread.0 as usize];
        if *last == Some(stack) {
            if let Some(w) = samples.weights.last_mut() {
                *w += weight;
                continue;
            }
        }
        *last = Some(stack);
        let index = *stack_index.entry(stack).or_insert_with(|| {
            let mut functions_root_first: Vec<usize> = limits::stack_frames(rec, stack)
                .map(|f| functions.of(f))
                .collect();
            functions_root_first.reverse();
            let path = functions_root_first
                .into_iter()
                .map(|function| {
                    *frame_of_function[function].get_or_insert_with(|| {
                        let key = &functions.keys[function];
                        frames.push(Frame {
                            name: rec.string(key.qualname).to_string(),
                            file: rec.string(key.filename).to_string(),
                            line: Some(key.shown_line()).filter(|&l| l > 0),
                        });
                        (frames.len() - 1) as u32
                    })
                })
                .collect();
            stack_table.push(path);
            stack_table.len() - 1
        });
        samples.stacks.push(index);
        samples.weights.push(weight);
    }

    threads.sort_by_key(|t| t.thread);
    let active_profile_index = threads
        .iter()
        .enumerate()
        .max_by(|(ia, a), (ib, b)| a.stacks.len().cmp(&b.stacks.len()).then(ib.cmp(ia)))
        .map_or(0, |(i, _)| i);
    let profiles = threads
        .into_iter()
        .map(|t| {
            let start_value = t.start_ns as f64 * 1e-9;
            SampledProfile {
                kind: "sampled",
                name: if rec.has_processes() {
                    let process = rec.thread_process(t.thread);
                    format!(
                        "{} / {}",
                        rec.process_label(process),
                        rec.thread_label(t.thread)
                    )
                } else {
                    rec.thread_label(t.thread)
                },
                unit: "seconds",
                start_value,
                end_value: start_value + t.weights.iter().sum::<f64>(),
                samples: Stacks {
                    table: &stack_table,
                    ids: t.stacks,
                },
                weights: t.weights,
            }
        })
        .collect();
    let file = File {
        schema: SCHEMA,
        shared: Shared { frames },
        profiles,
        name: format!(
            "framescope: {} ({})",
            super::subject(rec, view).command_line,
            view.clock.describe()
        ),
        active_profile_index,
        exporter: format!("framescope {}", env!("CARGO_PKG_VERSION")),
    };
    serde_json::to_writer(&mut *out, &file).map_err(|e| write_error(e.into()))?;
    out.write_all(b"\n").map_err(write_error)
}
