//! Appends samples to a recording while the sampler runs. Interning keeps the per-sample
//! cost to a few bytes of output when nothing is new, and each thread's last stack is kept
//! with its stack ids, so only the frames that changed since (the innermost ones, mostly)
//! cost hash lookups; new strings, frames, stacks and threads are defined just before the
//! tick that first uses them. Records collect in memory and go to disk as whole
//! checksummed chunks.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{self, put_bytes, put_varint};
use rustc_hash::FxHashMap;

use super::{ProcessEnd, ProcessInfo, RecordingMeta, RecordingSummary};
use crate::error::{Error, Result};
use crate::limits::{MAX_CHUNK_LEN, MAX_RECORDED_TASKS, MAX_WRITER_REMEMBERED};
use crate::python::stack::{CodeId, CodeTable, RawFrame, ThreadStack};

/// A chunk is written once this many bytes of records are pending...
const FLUSH_BYTES: usize = 64 * 1024;
/// ...or once this much recording time has passed since the last chunk.
const FLUSH_NS: u64 = 500_000_000;

/// The string ids of one code object's texts, found once per [`CodeId`].
#[derive(Clone, Copy)]
struct CodeStrings {
    qualname: u32,
    name: u32,
    filename: u32,
    first_line: u32,
}

/// A thread's last stack, root first, and the stack id + 1 of each of its prefixes.
#[derive(Default)]
struct LastStack {
    frames: Vec<RawFrame>,
    stacks: Vec<u32>,
}

/// When a tick was taken and how much wall time it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickTime {
    /// ns since the recording started.
    pub elapsed_ns: u64,
    /// Wall time the tick stands for, in ns: the sampling period times the schedule
    /// slots since the previous tick (missed ones included).
    pub interval_ns: u64,
}

/// One entry of a TICK record before it is encoded.
#[derive(Clone, Copy)]
struct Entry {
    thread: u32,
    stack: u32,
    flags: u8,
    cpu_ns: u64,
    task: u32,
}

/// The threads of one process at one tick, for [`RecordingWriter::write_processes_tick`].
pub struct ProcessTick<'a> {
    /// The process's id in the file ([`RecordingWriter::define_process`]); `None` for the
    /// process of the META.
    pub process: Option<u32>,
    pub threads: &'a [ThreadStack],
    /// The table the stacks' code ids come from (each process has its own).
    pub codes: &'a CodeTable,
    /// The asyncio task each thread was running (`tasks[i]` for `threads[i]`; empty:
    /// none known).
    pub tasks: &'a [Option<TickTask<'a>>],
}

/// The code objects and frames a process's code ids were interned as: code ids are
/// numbered per process, so each process has its own.
#[derive(Default)]
struct ProcessCodes {
    /// Indexed by `CodeId`; code ids are dense.
    codes: Vec<Option<CodeStrings>>,
    frames: FxHashMap<RawFrame, u32>,
}

/// A thread's id in the file and the name it was defined with.
struct ThreadEntry {
    id: u32,
    name: Option<Arc<str>>,
}

/// Writes one recording file; see the [module documentation](super) for the format.
pub struct RecordingWriter {
    file: File,
    path: PathBuf,
    /// Records not yet written, always whole records.
    pending: Vec<u8>,
    strings: FxHashMap<Box<str>, u32>,
    /// Per process: 0 the META's, n + 1 the process of id n.
    processes: Vec<ProcessCodes>,
    /// Processes defined so far.
    process_count: u32,
    /// Keyed by (parent stack id + 1 or 0, frame id).
    stacks: FxHashMap<(u32, u32), u32>,
    /// Frames and stack nodes defined so far (the maps may have forgotten some).
    frame_count: u32,
    stack_count: u32,
    /// Keyed by (process + 1 or 0, OS thread id, Python thread id).
    threads: FxHashMap<(u32, Option<u32>, u64), ThreadEntry>,
    /// Threads defined so far (renamed threads replace their entry in `threads`).
    thread_count: u32,
    last_tick_ns: u64,
    last_flush_ns: u64,
    /// Sequence number of the next chunk.
    next_chunk: u64,
    /// One period of the META's rate, in ns, when it is a usable rate.
    period_ns: Option<u64>,
    /// Reused per tick.
    entries: Vec<Entry>,
    /// By thread id in the file.
    last_stacks: Vec<LastStack>,
    /// Tasks defined so far, by address, name and coroutine.
    tasks: FxHashMap<(u64, Box<str>, Box<str>), u32>,
    finished: bool,
}

/// The asyncio task a thread was running at a tick (`record --async`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickTask<'a> {
    /// The task object's address.
    pub address: u64,
    pub name: &'a str,
    /// Its coroutine's qualified name.
    pub coroutine: &'a str,
}

impl RecordingWriter {
    /// Creates (or replaces) the file at `path` and writes the header and `meta` to it.
    pub fn create(path: &Path, meta: &RecordingMeta) -> Result<Self> {
        let file = File::create(path)
            .map_err(|e| Error::io(format!("cannot create recording {}", path.display()), e))?;
        Self::with_file(file, path, meta)
    }

    /// Writes the header and `meta` to `file`, a new empty file (created by the caller,
    /// say exclusively); `path` names it in messages.
    pub(crate) fn with_file(file: File, path: &Path, meta: &RecordingMeta) -> Result<Self> {
        let mut writer = RecordingWriter {
            file,
            path: path.to_path_buf(),
            pending: Vec::with_capacity(FLUSH_BYTES * 2),
            strings: FxHashMap::default(),
            processes: vec![ProcessCodes::default()],
            process_count: 0,
            stacks: FxHashMap::default(),
            frame_count: 0,
            stack_count: 0,
            threads: FxHashMap::default(),
            thread_count: 0,
            last_tick_ns: 0,
            last_flush_ns: 0,
            next_chunk: 0,
            period_ns: (meta.rate_hz.is_finite() && meta.rate_hz > 0.0)
                .then(|| (1e9 / meta.rate_hz).round() as u64)
                .filter(|&p| p > 0),
            entries: Vec::new(),
            last_stacks: Vec::new(),
            tasks: FxHashMap::default(),
            finished: false,
        };
        let mut header = Vec::with_capacity(format::HEADER_LEN);
        header.extend_from_slice(format::MAGIC);
        header.extend_from_slice(&format::VERSION.to_le_bytes());
        writer.write_all(&header)?;
        // JSON has no NaN or infinity: such a rate would read back as null and spoil the file.
        let mut meta = meta.clone();
        if !meta.rate_hz.is_finite() {
            meta.rate_hz = 0.0;
        }
        writer.pending.push(format::TAG_META);
        put_bytes(&mut writer.pending, &to_json(&meta)?);
        writer.flush()?;
        Ok(writer)
    }

    /// Records one tick at `elapsed_ns` (ns since the recording started), standing for one
    /// period of the META's rate (the gap since the previous tick when the rate is not
    /// usable); see [`RecordingWriter::write_tick`].
    pub fn write_sample(
        &mut self,
        elapsed_ns: u64,
        threads: &[ThreadStack],
        codes: &CodeTable,
    ) -> Result<()> {
        let interval_ns = self
            .period_ns
            .unwrap_or_else(|| elapsed_ns.saturating_sub(self.last_tick_ns));
        self.write_tick(
            TickTime {
                elapsed_ns,
                interval_ns,
            },
            threads,
            codes,
        )
    }

    /// Records one tick: every thread seen at `time.elapsed_ns` (a time earlier than the
    /// previous tick is taken as equal to it), with its CPU time and flags. `codes` must be
    /// the table the stacks' code ids come from. After an error, stop recording: the file
    /// stays readable up to the last chunk written.
    pub fn write_tick(
        &mut self,
        time: TickTime,
        threads: &[ThreadStack],
        codes: &CodeTable,
    ) -> Result<()> {
        self.write_tick_with_tasks(time, threads, codes, &[])
    }

    /// [`RecordingWriter::write_tick`], with the asyncio task each thread was running:
    /// `tasks[i]` for `threads[i]` (missing or `None`: no task).
    pub(crate) fn write_tick_with_tasks(
        &mut self,
        time: TickTime,
        threads: &[ThreadStack],
        codes: &CodeTable,
        tasks: &[Option<TickTask>],
    ) -> Result<()> {
        self.write_processes_tick(
            time,
            &[ProcessTick {
                process: None,
                threads,
                codes,
                tasks,
            }],
        )
    }

    /// Records one tick of several processes: every thread of each, as
    /// [`RecordingWriter::write_tick`] does for one.
    pub(crate) fn write_processes_tick(
        &mut self,
        time: TickTime,
        parts: &[ProcessTick],
    ) -> Result<()> {
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        for (part, (i, thread)) in parts
            .iter()
            .flat_map(|part| part.threads.iter().enumerate().map(move |t| (part, t)))
        {
            let slot = part.process.map_or(0, |p| p as usize + 1);
            if slot >= self.processes.len() {
                self.processes.resize_with(slot + 1, ProcessCodes::default);
            }
            let task = match part.tasks.get(i).copied().flatten() {
                Some(t) => self.intern_task(t),
                None => None,
            };
            let codes = part.codes;
            let thread_id = self.intern_thread(slot as u32, thread);
            let stack = self.intern_thread_stack(slot, thread_id, &thread.frames, codes);
            let mut flags =
                format::encode_flags(thread.holds_gil, thread.on_cpu, thread.error.is_some());
            if thread.cpu_ns.is_some() {
                flags |= format::FLAG_CPU_TIME;
            }
            if thread.truncated {
                flags |= format::FLAG_TRUNCATED;
            }
            if task.is_some() {
                flags |= format::FLAG_TASK;
            }
            entries.push(Entry {
                thread: thread_id,
                stack,
                flags,
                cpu_ns: thread.cpu_ns.unwrap_or(0),
                task: task.unwrap_or(0),
            });
        }

        let elapsed_ns = time.elapsed_ns.max(self.last_tick_ns);
        let buf = &mut self.pending;
        buf.push(format::TAG_TICK);
        put_varint(buf, elapsed_ns - self.last_tick_ns);
        put_varint(buf, time.interval_ns);
        put_varint(buf, entries.len() as u64);
        for entry in &entries {
            put_varint(buf, u64::from(entry.thread));
            put_varint(buf, u64::from(entry.stack));
            buf.push(entry.flags);
            if entry.flags & format::FLAG_CPU_TIME != 0 {
                put_varint(buf, entry.cpu_ns);
            }
            if entry.flags & format::FLAG_TASK != 0 {
                put_varint(buf, u64::from(entry.task) + 1);
            }
        }
        self.last_tick_ns = elapsed_ns;
        self.entries = entries;

        if self.pending.len() >= FLUSH_BYTES || elapsed_ns - self.last_flush_ns >= FLUSH_NS {
            self.last_flush_ns = elapsed_ns;
            self.flush()?;
        }
        Ok(())
    }

    /// Defines a process of a recording of several (a PROCESS record) and returns its id,
    /// for [`ProcessTick::process`]. Written with the next chunk, before any tick naming it.
    pub(crate) fn define_process(&mut self, info: &ProcessInfo) -> Result<u32> {
        let json = to_json(info)?;
        self.pending.push(format::TAG_PROCESS);
        put_bytes(&mut self.pending, &json);
        let id = self.process_count;
        self.process_count += 1;
        Ok(id)
    }

    /// Records that a process of [`RecordingWriter::define_process`] ended (PROCESS_END),
    /// and forgets its code objects and frames: its code ids name nothing any more.
    pub(crate) fn end_process(&mut self, end: &ProcessEnd) -> Result<()> {
        let json = to_json(end)?;
        self.pending.push(format::TAG_PROCESS_END);
        put_bytes(&mut self.pending, &json);
        if let Some(codes) = self.processes.get_mut(end.process as usize + 1) {
            *codes = ProcessCodes::default();
        }
        Ok(())
    }

    /// Records how the sampling went, and writes it out at once.
    pub fn write_summary(&mut self, summary: &RecordingSummary) -> Result<()> {
        self.pending.push(format::TAG_SUMMARY);
        put_bytes(&mut self.pending, &to_json(summary)?);
        self.flush()
    }

    /// Writes every pending record as one chunk.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let payload = std::mem::take(&mut self.pending);
        let result = self.write_chunk(&payload);
        self.pending = payload;
        self.pending.clear();
        result
    }

    /// Writes what is pending and makes sure it reached the disk. Dropping the writer
    /// without calling this also writes what is pending, but cannot report a failure.
    pub fn finish(mut self) -> Result<()> {
        self.finished = true;
        self.flush()?;
        self.file
            .sync_data()
            .map_err(|e| Error::io(format!("cannot write recording {}", self.path.display()), e))
    }

    fn write_chunk(&mut self, records: &[u8]) -> Result<()> {
        let mut payload = Vec::with_capacity(records.len() + 10);
        put_varint(&mut payload, self.next_chunk);
        payload.extend_from_slice(records);
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&len| len as usize <= MAX_CHUNK_LEN)
            .ok_or_else(|| {
                Error::io(
                    format!("cannot write recording {}", self.path.display()),
                    std::io::Error::other("one sample is larger than a chunk may be"),
                )
            })?;
        let len_bytes = len.to_le_bytes();
        let mut chunk = Vec::with_capacity(format::CHUNK_HEADER_LEN + payload.len());
        chunk.extend_from_slice(&len_bytes);
        chunk.extend_from_slice(&format::chunk_checksum(len_bytes, &payload).to_le_bytes());
        chunk.extend_from_slice(&payload);
        self.write_all(&chunk)?;
        self.next_chunk += 1;
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(format!("cannot write recording {}", self.path.display()), e))
    }

    /// The id of `task` (a TASK record the first time), `None` past [`MAX_RECORDED_TASKS`].
    fn intern_task(&mut self, task: TickTask) -> Option<u32> {
        let key = (task.address, task.name.into(), task.coroutine.into());
        if let Some(&id) = self.tasks.get(&key) {
            return Some(id);
        }
        if self.tasks.len() >= MAX_RECORDED_TASKS {
            return None;
        }
        let name = self.intern_string(task.name);
        let coroutine = self.intern_string(task.coroutine);
        let id = self.tasks.len() as u32;
        self.pending.push(format::TAG_TASK);
        put_varint(&mut self.pending, task.address);
        put_varint(&mut self.pending, u64::from(name));
        put_varint(&mut self.pending, u64::from(coroutine) + 1);
        self.tasks.insert(key, id);
        Some(id)
    }

    fn intern_string(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.strings.get(text) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.pending.push(format::TAG_STRING);
        put_bytes(&mut self.pending, text.as_bytes());
        self.strings.insert(text.into(), id);
        id
    }

    fn intern_code(&mut self, slot: usize, code: CodeId, codes: &CodeTable) -> CodeStrings {
        let index = code.0 as usize;
        if let Some(Some(known)) = self.processes[slot].codes.get(index) {
            return *known;
        }
        let info = codes.get(code);
        let strings = CodeStrings {
            qualname: self.intern_string(&info.qualname),
            name: self.intern_string(&info.name),
            filename: self.intern_string(&info.filename),
            first_line: info.first_line,
        };
        let known = &mut self.processes[slot].codes;
        if known.len() <= index {
            known.resize(index + 1, None);
        }
        known[index] = Some(strings);
        strings
    }

    fn intern_frame(&mut self, slot: usize, frame: RawFrame, codes: &CodeTable) -> u32 {
        if let Some(&id) = self.processes[slot].frames.get(&frame) {
            return id;
        }
        let code = self.intern_code(slot, frame.code, codes);
        let buf = &mut self.pending;
        buf.push(format::TAG_FRAME);
        for field in [
            code.qualname,
            code.name,
            code.filename,
            code.first_line,
            frame.line,
        ] {
            put_varint(buf, u64::from(field));
        }
        let id = self.frame_count;
        self.frame_count += 1;
        if self.processes[slot].frames.len() >= MAX_WRITER_REMEMBERED {
            self.forget_stacks();
            self.processes[slot].frames = FxHashMap::default();
        }
        self.processes[slot].frames.insert(frame, id);
        id
    }

    /// The stack id + 1 of `frames` (innermost first; 0 for no frames), reusing what the
    /// thread's last stack shares with it from the root.
    fn intern_thread_stack(
        &mut self,
        slot: usize,
        thread_id: u32,
        frames: &[RawFrame],
        codes: &CodeTable,
    ) -> u32 {
        let index = thread_id as usize;
        if self.last_stacks.len() <= index {
            self.last_stacks.resize_with(index + 1, LastStack::default);
        }
        let mut last = std::mem::take(&mut self.last_stacks[index]);
        let shared = last
            .frames
            .iter()
            .zip(frames.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        last.frames.truncate(shared);
        last.stacks.truncate(shared);
        let mut stack = last.stacks.last().copied().unwrap_or(0);
        for frame in frames.iter().rev().skip(shared) {
            let frame_id = self.intern_frame(slot, *frame, codes);
            stack = self.intern_stack(stack, frame_id) + 1;
            last.frames.push(*frame);
            last.stacks.push(stack);
        }
        self.last_stacks[index] = last;
        stack
    }

    /// `parent` is the parent stack id + 1, or 0 for an outermost frame.
    fn intern_stack(&mut self, parent: u32, frame: u32) -> u32 {
        if let Some(&id) = self.stacks.get(&(parent, frame)) {
            return id;
        }
        self.pending.push(format::TAG_STACK);
        put_varint(&mut self.pending, u64::from(parent));
        put_varint(&mut self.pending, u64::from(frame));
        let id = self.stack_count;
        self.stack_count += 1;
        if self.stacks.len() >= MAX_WRITER_REMEMBERED {
            self.forget_stacks();
        }
        self.stacks.insert((parent, frame), id);
        id
    }

    /// Forgets every stack node defined so far (see [`MAX_WRITER_REMEMBERED`]), freeing the map.
    /// Ids already written stay valid in the file, so the threads' last stacks keep theirs.
    fn forget_stacks(&mut self) {
        self.stacks = FxHashMap::default();
    }

    /// `slot`: 0 for the META's process, else the process id + 1.
    fn intern_thread(&mut self, slot: u32, thread: &ThreadStack) -> u32 {
        let key = (slot, thread.os_tid, thread.python_thread_id);
        if let Some(entry) = self.threads.get(&key) {
            let same_name = match (&entry.name, &thread.name) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                _ => false,
            };
            if same_name {
                return entry.id;
            }
        }
        let name = thread.name.as_deref().map(|n| self.intern_string(n));
        let buf = &mut self.pending;
        buf.push(format::TAG_THREAD);
        put_varint(buf, thread.os_tid.map_or(0, |tid| u64::from(tid) + 1));
        put_varint(buf, thread.python_thread_id);
        put_varint(buf, name.map_or(0, |n| u64::from(n) + 1));
        put_varint(buf, u64::from(slot));
        let id = self.thread_count;
        self.thread_count += 1;
        self.threads.insert(
            key,
            ThreadEntry {
                id,
                name: thread.name.clone(),
            },
        );
        id
    }
}

impl Drop for RecordingWriter {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: a failure here has nowhere to go, and the chunks already
            // written stay readable either way.
            let _ = self.flush();
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::io("cannot encode recording metadata", e.into()))
}
