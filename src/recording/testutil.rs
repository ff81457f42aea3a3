//! Helpers for unit tests of recording/ and report/: synthetic thread stacks written through
//! the real writer, temporary paths, and a small deterministic random generator.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::{read, Recording, RecordingMeta, RecordingSummary, RecordingWriter};
use crate::python::stack::{CodeId, CodeInfo, CodeTable, RawFrame, ThreadStack};

/// A path in the temporary directory that no other test uses; removed on drop.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(what: &str) -> TempPath {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("framescope-test-{}-{n}-{what}", std::process::id());
        TempPath(std::env::temp_dir().join(name))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Builds code objects and stacks from short text specs.
#[derive(Default)]
pub struct Synth {
    pub codes: CodeTable,
    by_name: HashMap<String, CodeId>,
}

impl Synth {
    /// The code object for `qualname` in `file` at `first_line`, made on first use.
    pub fn code(&mut self, qualname: &str, file: &str, first_line: u32) -> CodeId {
        let key = format!("{qualname}@{file}:{first_line}");
        if let Some(&id) = self.by_name.get(&key) {
            return id;
        }
        let name = qualname.rsplit('.').next().unwrap_or(qualname).to_string();
        let id = self.codes.push(CodeInfo {
            name,
            qualname: qualname.to_string(),
            filename: file.to_string(),
            first_line,
        });
        self.by_name.insert(key, id);
        id
    }

    /// Frames, innermost first, from a spec written root first: `main:3;work:12;leaf:20`.
    /// Each function lives in `app.py` and starts at [`first_line_of`] its name.
    pub fn frames(&mut self, spec: &str) -> Vec<RawFrame> {
        let mut frames: Vec<RawFrame> = spec
            .split(';')
            .filter(|s| !s.is_empty())
            .map(|part| {
                let (name, line) = part.split_once(':').unwrap_or((part, "0"));
                let first_line = first_line_of(name);
                let code = self.code(name, "app.py", first_line);
                RawFrame {
                    code,
                    line: line.parse().unwrap_or(0),
                }
            })
            .collect();
        frames.reverse();
        frames
    }

    /// A thread with os tid `tid` (python id `tid * 16`), named `name`, on CPU and holding
    /// the GIL, at the stack given by `spec`.
    pub fn thread(&mut self, tid: u32, name: &str, spec: &str) -> ThreadStack {
        ThreadStack {
            os_tid: Some(tid),
            python_thread_id: u64::from(tid) * 16,
            name: Some(Arc::from(name)),
            holds_gil: true,
            on_cpu: Some(true),
            frames: self.frames(spec),
            error: None,
            cpu_ns: None,
            truncated: false,
        }
    }
}

/// A function's first line in synthetic stacks: fixed per name.
pub fn first_line_of(name: &str) -> u32 {
    name.bytes()
        .fold(1u32, |acc, b| (acc * 31 + u32::from(b)) % 997)
        + 1
}

pub fn meta() -> RecordingMeta {
    RecordingMeta {
        pid: 4242,
        command: vec!["python3".into(), "app.py".into()],
        python_version: "3.12.3".into(),
        rate_hz: 100.0,
        start_unix_ns: 1_700_000_000_000_000_000,
        blocking: false,
    }
}

/// Writes `ticks` (time in ns, threads) to a new file and reads it back.
pub fn record(synth: &Synth, ticks: &[(u64, Vec<ThreadStack>)]) -> Recording {
    let path = TempPath::new("rec");
    write(&path, synth, ticks, None);
    match read(&path.0) {
        Ok(rec) => rec,
        Err(e) => panic!("reading back a fresh recording failed: {e}"),
    }
}

/// Writes `ticks` and an optional summary to `path`.
pub fn write(
    path: &TempPath,
    synth: &Synth,
    ticks: &[(u64, Vec<ThreadStack>)],
    summary: Option<&RecordingSummary>,
) {
    let mut writer = RecordingWriter::create(&path.0, &meta()).expect("create recording");
    for (time, threads) in ticks {
        writer
            .write_sample(*time, threads, &synth.codes)
            .expect("write sample");
    }
    if let Some(summary) = summary {
        writer.write_summary(summary).expect("write summary");
    }
    writer.finish().expect("finish recording");
}

/// Deterministic pseudo-random numbers for tests: a seeded `fastrand` generator.
pub struct Rng(fastrand::Rng);

impl Rng {
    pub fn seeded(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    pub fn next(&mut self) -> u64 {
        self.0.u64(..)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.u64(..n.max(1))
    }
}
