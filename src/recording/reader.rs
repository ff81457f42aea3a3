//! Reads a recording file back into a [`Recording`], checking every chunk's checksum and
//! every reference between records, so that the rest of framescope can index the tables
//! without further checks. A file cut off or damaged part-way is read up to its last good
//! chunk and marked truncated; only a file that is not a recording at all, or is from a
//! newer framescope, is an error.

use std::path::Path;

use super::format::{self, Cursor};
use super::{
    Frame, FrameId, Process, ProcessEnd, ProcessIndex, ProcessInfo, Recording, RecordingMeta,
    Sample, StackId, StackNode, StringId, Task, TaskIndex, Thread, ThreadIndex,
};
use crate::error::{Error, Result};
use crate::limits::{
    MAX_CHUNK_LEN, MAX_RECORDING_FRAMES, MAX_RECORDING_STACK_NODES, MAX_RECORDING_STRINGS,
    MAX_RECORDING_THREADS,
};
use rustc_hash::FxHashMap;

/// Reads the recording at `path`.
pub fn read(path: &Path) -> Result<Recording> {
    let bytes = std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => format!("cannot read it: {e}"),
        };
        Error::bad_file(path, why)
    })?;
    read_bytes(&bytes, path)
}

/// Reads a recording from memory; `path` only names it in error messages.
pub(crate) fn read_bytes(bytes: &[u8], path: &Path) -> Result<Recording> {
    let (version, body) = check_header(bytes).map_err(|why| Error::bad_file(path, why))?;
    let mut rec = Recording {
        version,
        ..Recording::default()
    };
    let mut have_meta = false;
    let mut offset = format::HEADER_LEN;
    let mut rest = body;
    let mut chunk_number: u64 = 0;
    while !rest.is_empty() {
        let (payload, after) = match split_chunk(rest) {
            Ok(split) => split,
            Err(why) => {
                rec.truncated = true;
                rec.truncation = Some(format!("{why} at byte {offset}"));
                break;
            }
        };
        let payload = match sequenced(version, payload, chunk_number) {
            Ok(records) => records,
            Err(why) => {
                rec.truncated = true;
                rec.truncation = Some(format!("{why} (chunk at byte {offset})"));
                break;
            }
        };
        chunk_number += 1;
        let mark = Mark::of(&rec);
        if let Err(why) = decode_chunk(&mut rec, &mut have_meta, payload) {
            mark.roll_back(&mut rec);
            rec.truncated = true;
            rec.truncation = Some(format!("damaged chunk at byte {offset}: {why}"));
            break;
        }
        offset += rest.len() - after.len();
        rest = after;
    }
    // Any version: the sampler's own count of its samples must match what was read.
    if let (false, Some(summary)) = (rec.truncated, &rec.summary) {
        if summary.samples != rec.ticks {
            rec.truncated = true;
            rec.truncation = Some(format!(
                "its summary counts {} samples, and {} were read: part of it is missing or repeated",
                summary.samples, rec.ticks
            ));
        }
    }
    one_entry_per_thread(&mut rec);
    super::cpu::settle_on_cpu(&mut rec);
    if !have_meta {
        return Err(Error::bad_file(
            path,
            "the recording was cut off before its first chunk was written; it holds no samples",
        ));
    }
    Ok(rec)
}

/// Merges the entries of one thread: the writer defines a thread again each time its name
/// changes (the main thread before `threading` names it, `thread.name = ...`), and every
/// report wants one thread as one thread. A thread is its process, OS thread id and Python
/// thread id; it keeps its first entry's place and the last name it was defined with (the
/// writer defines each name just before its first sample, so that is the last name seen).
/// An entry without a name does not take a name away: a thread outlives `threading` at
/// exit, and is still the thread it was.
fn one_entry_per_thread(rec: &mut Recording) {
    type Key = (Option<ProcessIndex>, Option<u32>, u64);
    let mut first: FxHashMap<Key, u32> = FxHashMap::default();
    let mut merged: Vec<Thread> = Vec::with_capacity(rec.threads.len());
    let mut new_index: Vec<u32> = Vec::with_capacity(rec.threads.len());
    for thread in &rec.threads {
        let key = (thread.process, thread.os_tid, thread.python_thread_id);
        let index = *first.entry(key).or_insert_with(|| {
            merged.push(thread.clone());
            (merged.len() - 1) as u32
        });
        if thread.name.is_some() {
            merged[index as usize].name = thread.name;
        }
        new_index.push(index);
    }
    if merged.len() == rec.threads.len() {
        return;
    }
    for sample in &mut rec.samples {
        sample.thread = ThreadIndex(new_index[sample.thread.0 as usize]);
    }
    rec.threads = merged;
}

/// Version 2: checks that a chunk's payload starts with the sequence number `expected`
/// and returns the records after it. Version 1 payloads are records only.
pub(super) fn sequenced(version: u16, payload: &[u8], expected: u64) -> Result<&[u8], String> {
    if version < format::VERSION_2 {
        return Ok(payload);
    }
    let mut cur = Cursor::new(payload);
    let number = cur.varint()?;
    if number != expected {
        let what = if number < expected {
            "a chunk is repeated or out of order"
        } else {
            "chunks are missing"
        };
        return Err(format!(
            "{what}: chunk {expected} was expected, chunk {number} found"
        ));
    }
    Ok(&payload[payload.len() - cur.remaining()..])
}

/// Checks the magic and version, returning the version and the bytes after the header.
pub(super) fn check_header(bytes: &[u8]) -> Result<(u16, &[u8]), String> {
    const FOREIGN: &str =
        "not a framescope recording (it does not start with FSREC); record one with `framescope record`";
    let magic = &format::MAGIC[..];
    let Some((header, body)) = bytes.split_first_chunk::<{ format::HEADER_LEN }>() else {
        let n = bytes.len().min(magic.len());
        return Err(if bytes.is_empty() {
            "the file is empty; it is not a recording (yet)".into()
        } else if bytes[..n] == magic[..n] {
            "the recording was cut off inside its header; it holds no samples".into()
        } else {
            FOREIGN.into()
        });
    };
    if header[..magic.len()] != *magic {
        return Err(FOREIGN.into());
    }
    let version = u16::from_le_bytes([header[magic.len()], header[magic.len() + 1]]);
    if version > format::VERSION {
        return Err(format!(
            "recording format version {version} is newer than this framescope reads (up to {}); use a newer framescope",
            format::VERSION
        ));
    }
    if version == 0 {
        return Err("damaged recording: format version 0 does not exist".into());
    }
    Ok((version, body))
}

/// Splits one chunk off the front of `bytes`: its checked payload and what follows it.
pub(super) fn split_chunk(bytes: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let Some((header, rest)) = bytes.split_first_chunk::<{ format::CHUNK_HEADER_LEN }>() else {
        return Err("file ends inside a chunk header".into());
    };
    let len_bytes = [header[0], header[1], header[2], header[3]];
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len > MAX_CHUNK_LEN {
        return Err(format!("chunk length {len} is implausible (damaged file)"));
    }
    if rest.len() < len {
        return Err("file ends inside a chunk".into());
    }
    let (payload, after) = rest.split_at(len);
    if format::chunk_checksum(len_bytes, payload) != stored {
        return Err("chunk checksum does not match (damaged file)".into());
    }
    Ok((payload, after))
}

/// Table sizes before a chunk, so a chunk that fails to decode can be taken out whole.
struct Mark {
    strings: usize,
    frames: usize,
    stacks: usize,
    threads: usize,
    processes: usize,
    process_ends: Vec<Option<ProcessEnd>>,
    tasks: usize,
    samples: usize,
    ticks: u64,
    end_ns: u64,
    summary: Option<super::RecordingSummary>,
}

impl Mark {
    fn of(rec: &Recording) -> Mark {
        Mark {
            strings: rec.strings.len(),
            frames: rec.frames.len(),
            stacks: rec.stacks.len(),
            threads: rec.threads.len(),
            processes: rec.processes.len(),
            process_ends: rec.processes.iter().map(|p| p.end.clone()).collect(),
            tasks: rec.tasks.len(),
            samples: rec.samples.len(),
            ticks: rec.ticks,
            end_ns: rec.end_ns,
            summary: rec.summary.clone(),
        }
    }

    fn roll_back(self, rec: &mut Recording) {
        rec.strings.truncate(self.strings);
        rec.frames.truncate(self.frames);
        rec.stacks.truncate(self.stacks);
        rec.threads.truncate(self.threads);
        rec.processes.truncate(self.processes);
        for (process, end) in rec.processes.iter_mut().zip(self.process_ends) {
            process.end = end;
        }
        rec.tasks.truncate(self.tasks);
        rec.samples.truncate(self.samples);
        rec.ticks = self.ticks;
        rec.end_ns = self.end_ns;
        rec.summary = self.summary;
    }
}

pub(super) fn decode_chunk(
    rec: &mut Recording,
    have_meta: &mut bool,
    payload: &[u8],
) -> Result<(), String> {
    let mut cur = Cursor::new(payload);
    if !*have_meta {
        if cur.byte()? != format::TAG_META {
            return Err("the first chunk does not start with the recording's metadata".into());
        }
        rec.meta = json::<RecordingMeta>(cur.bytes()?, "metadata")?;
        *have_meta = true;
    }
    while !cur.is_empty() {
        match cur.byte()? {
            format::TAG_STRING => {
                let text = std::str::from_utf8(cur.bytes()?)
                    .map_err(|_| "string is not UTF-8".to_string())?;
                room(rec.strings.len(), MAX_RECORDING_STRINGS, "strings")?;
                rec.strings.push(text.to_owned());
            }
            format::TAG_FRAME => {
                let frame = Frame {
                    qualname: string_ref(rec, &mut cur)?,
                    name: string_ref(rec, &mut cur)?,
                    filename: string_ref(rec, &mut cur)?,
                    first_line: cur.varint_u32()?,
                    line: cur.varint_u32()?,
                };
                room(rec.frames.len(), MAX_RECORDING_FRAMES, "frames")?;
                rec.frames.push(frame);
            }
            format::TAG_STACK => {
                let parent = match cur.varint()? {
                    0 => None,
                    n => Some(StackId(reference(n - 1, rec.stacks.len(), "stack")?)),
                };
                let frame = FrameId(reference(cur.varint()?, rec.frames.len(), "frame")?);
                let depth = parent.map_or(0, |p| rec.stack(p).depth) + 1;
                room(rec.stacks.len(), MAX_RECORDING_STACK_NODES, "stack nodes")?;
                rec.stacks.push(StackNode {
                    parent,
                    frame,
                    depth,
                });
            }
            format::TAG_THREAD => {
                let os_tid = match cur.varint()? {
                    0 => None,
                    n => Some(
                        u32::try_from(n - 1).map_err(|_| format!("thread id {n} is too large"))?,
                    ),
                };
                let python_thread_id = cur.varint()?;
                let name = match cur.varint()? {
                    0 => None,
                    n => Some(StringId(reference(n - 1, rec.strings.len(), "string")?)),
                };
                let process = if rec.version >= format::VERSION_2 {
                    match cur.varint()? {
                        0 => None,
                        n => Some(ProcessIndex(reference(
                            n - 1,
                            rec.processes.len(),
                            "process",
                        )?)),
                    }
                } else {
                    None
                };
                room(rec.threads.len(), MAX_RECORDING_THREADS, "threads")?;
                rec.threads.push(Thread {
                    os_tid,
                    python_thread_id,
                    name,
                    process,
                });
            }
            format::TAG_PROCESS if rec.version >= format::VERSION_2 => {
                let info: ProcessInfo = json(cur.bytes()?, "process")?;
                room(rec.processes.len(), MAX_RECORDING_THREADS, "processes")?;
                rec.processes.push(Process { info, end: None });
            }
            format::TAG_PROCESS_END if rec.version >= format::VERSION_2 => {
                let end: ProcessEnd = json(cur.bytes()?, "process end")?;
                let index = reference(u64::from(end.process), rec.processes.len(), "process")?;
                rec.processes[index as usize].end = Some(end);
            }
            format::TAG_TASK if rec.version >= format::VERSION_2 => {
                let address = cur.varint()?;
                let name = string_ref(rec, &mut cur)?;
                let coroutine = match cur.varint()? {
                    0 => None,
                    n => Some(StringId(reference(n - 1, rec.strings.len(), "string")?)),
                };
                room(rec.tasks.len(), MAX_RECORDING_THREADS, "tasks")?;
                rec.tasks.push(Task {
                    address,
                    name,
                    coroutine,
                });
            }
            format::TAG_TICK => decode_tick(rec, &mut cur)?,
            format::TAG_SUMMARY => {
                rec.summary = Some(json(cur.bytes()?, "summary")?);
            }
            format::TAG_META => return Err("a second metadata record".into()),
            tag => return Err(format!("unknown record tag {tag}")),
        }
    }
    Ok(())
}

fn decode_tick(rec: &mut Recording, cur: &mut Cursor<'_>) -> Result<(), String> {
    let delta = cur.varint()?;
    let time_ns = rec.end_ns.checked_add(delta).ok_or("tick time overflows")?;
    let v2 = rec.version >= format::VERSION_2;
    let interval_ns = if v2 { cur.varint()? } else { 0 };
    let known_flags = format::known_flags(rec.version);
    let count = cur.varint()?;
    for _ in 0..count {
        let thread = ThreadIndex(reference(cur.varint()?, rec.threads.len(), "thread")?);
        let stack = match cur.varint()? {
            0 => None,
            n => Some(StackId(reference(n - 1, rec.stacks.len(), "stack")?)),
        };
        let flags = cur.byte()?;
        if flags & !known_flags != 0 {
            return Err(format!("unknown sample flags {flags:#x}"));
        }
        let cpu_ns = if flags & format::FLAG_CPU_TIME != 0 {
            Some(cur.varint()?)
        } else {
            None
        };
        let task = if flags & format::FLAG_TASK != 0 {
            match cur.varint()? {
                0 => None,
                n => Some(TaskIndex(reference(n - 1, rec.tasks.len(), "task")?)),
            }
        } else {
            None
        };
        let on_cpu = match (flags & format::ON_CPU_MASK) >> format::ON_CPU_SHIFT {
            0 => None,
            1 => Some(true),
            2 => Some(false),
            _ => return Err("invalid on-CPU state".into()),
        };
        rec.samples.push(Sample {
            time_ns,
            thread,
            stack,
            holds_gil: flags & format::FLAG_GIL != 0,
            on_cpu,
            error: flags & format::FLAG_ERROR != 0,
            interval_ns,
            cpu_ns,
            truncated: flags & format::FLAG_TRUNCATED != 0,
            task,
        });
    }
    rec.ticks += 1;
    rec.end_ns = time_ns;
    Ok(())
}

fn string_ref(rec: &Recording, cur: &mut Cursor<'_>) -> Result<StringId, String> {
    Ok(StringId(reference(
        cur.varint()?,
        rec.strings.len(),
        "string",
    )?))
}

/// Refuses one more definition of `what` past `max`.
fn room(defined: usize, max: usize, what: &str) -> Result<(), String> {
    if defined < max {
        Ok(())
    } else {
        Err(format!(
            "more than {max} {what} defined, past what framescope reads (a damaged or hostile file)"
        ))
    }
}

/// Checks that `id` names one of the `defined` entries of a table.
fn reference(id: u64, defined: usize, what: &str) -> Result<u32, String> {
    if id < defined as u64 {
        Ok(id as u32)
    } else {
        Err(format!(
            "refers to {what} {id}, which is not defined before it"
        ))
    }
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("unreadable {what}: {e}"))
}
