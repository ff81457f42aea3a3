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
use super::{FastMap, RecordingMeta, RecordingSummary};
use crate::error::{Error, Result};
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
    strings: FastMap<Box<str>, u32>,
    /// Indexed by `CodeId`; code ids are dense.
    codes: Vec<Option<CodeStrings>>,
    frames: FastMap<RawFrame, u32>,
    /// Keyed by (parent stack id + 1 or 0, frame id).
    stacks: FastMap<(u32, u32), u32>,
    threads: FastMap<(Option<u32>, u64), ThreadEntry>,
    /// Threads defined so far (renamed threads replace their entry in `threads`).
    thread_count: u32,
    last_tick_ns: u64,
    last_flush_ns: u64,
    /// Reused per tick: (thread id, stack id + 1, flags).
    entries: Vec<(u32, u32, u8)>,
    /// By thread id in the file.
    last_stacks: Vec<LastStack>,
    finished: bool,
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
    pub fn with_file(file: File, path: &Path, meta: &RecordingMeta) -> Result<Self> {
        let mut writer = RecordingWriter {
            file,
            path: path.to_path_buf(),
            pending: Vec::with_capacity(FLUSH_BYTES * 2),
            strings: FastMap::default(),
            codes: Vec::new(),
            frames: FastMap::default(),
            stacks: FastMap::default(),
            threads: FastMap::default(),
            thread_count: 0,
            last_tick_ns: 0,
            last_flush_ns: 0,
            entries: Vec::new(),
            last_stacks: Vec::new(),
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

    /// Records one tick: every thread seen at `elapsed_ns` (ns since the recording started;
    /// a time earlier than the previous tick is taken as equal to it). `codes` must be the
    /// table the stacks' code ids come from. After an error, stop recording: the file stays
    /// readable up to the last chunk written.
    pub fn write_sample(
        &mut self,
        elapsed_ns: u64,
        threads: &[ThreadStack],
        codes: &CodeTable,
    ) -> Result<()> {
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        for thread in threads {
            let thread_id = self.intern_thread(thread);
            let stack = self.intern_thread_stack(thread_id, &thread.frames, codes);
            let flags =
                format::encode_flags(thread.holds_gil, thread.on_cpu, thread.error.is_some());
            entries.push((thread_id, stack, flags));
        }

        let elapsed_ns = elapsed_ns.max(self.last_tick_ns);
        let buf = &mut self.pending;
        buf.push(format::TAG_TICK);
        put_varint(buf, elapsed_ns - self.last_tick_ns);
        put_varint(buf, entries.len() as u64);
        for &(thread_id, stack, flags) in &entries {
            put_varint(buf, u64::from(thread_id));
            put_varint(buf, u64::from(stack));
            buf.push(flags);
        }
        self.last_tick_ns = elapsed_ns;
        self.entries = entries;

        if self.pending.len() >= FLUSH_BYTES || elapsed_ns - self.last_flush_ns >= FLUSH_NS {
            self.last_flush_ns = elapsed_ns;
            self.flush()?;
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
    pub fn flush(&mut self) -> Result<()> {
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

    fn write_chunk(&mut self, payload: &[u8]) -> Result<()> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&len| len as usize <= format::MAX_CHUNK_LEN)
            .ok_or_else(|| {
                Error::io(
                    format!("cannot write recording {}", self.path.display()),
                    std::io::Error::other("one sample is larger than a chunk may be"),
                )
            })?;
        let len_bytes = len.to_le_bytes();
        let mut chunk = Vec::with_capacity(format::CHUNK_HEADER_LEN + payload.len());
        chunk.extend_from_slice(&len_bytes);
        chunk.extend_from_slice(&format::chunk_checksum(len_bytes, payload).to_le_bytes());
        chunk.extend_from_slice(payload);
        self.write_all(&chunk)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(format!("cannot write recording {}", self.path.display()), e))
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

    fn intern_code(&mut self, code: CodeId, codes: &CodeTable) -> CodeStrings {
        let index = code.0 as usize;
        if let Some(Some(known)) = self.codes.get(index) {
            return *known;
        }
        let info = codes.get(code);
        let strings = CodeStrings {
            qualname: self.intern_string(&info.qualname),
            name: self.intern_string(&info.name),
            filename: self.intern_string(&info.filename),
            first_line: info.first_line,
        };
        if self.codes.len() <= index {
            self.codes.resize(index + 1, None);
        }
        self.codes[index] = Some(strings);
        strings
    }

    fn intern_frame(&mut self, frame: RawFrame, codes: &CodeTable) -> u32 {
        if let Some(&id) = self.frames.get(&frame) {
            return id;
        }
        let code = self.intern_code(frame.code, codes);
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
        let id = self.frames.len() as u32;
        self.frames.insert(frame, id);
        id
    }

    /// The stack id + 1 of `frames` (innermost first; 0 for no frames), reusing what the
    /// thread's last stack shares with it from the root.
    fn intern_thread_stack(
        &mut self,
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
            let frame_id = self.intern_frame(*frame, codes);
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
        let id = self.stacks.len() as u32;
        self.stacks.insert((parent, frame), id);
        id
    }

    fn intern_thread(&mut self, thread: &ThreadStack) -> u32 {
        let key = (thread.os_tid, thread.python_thread_id);
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
