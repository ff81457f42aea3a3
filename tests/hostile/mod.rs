//! Generators of hostile or huge inputs for the resource-limit tests and for measuring by
//! hand (`cargo run --release --example hostile_inputs`): recordings written through the
//! real [`RecordingWriter`] in shapes no live target produces within framescope's limits,
//! and collapsed-stack text. Each returns what it wrote, so a test can state expectations.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use framescope::python::stack::{CodeInfo, CodeTable, RawFrame, ThreadStack};
use framescope::recording::{RecordingMeta, RecordingSummary, RecordingWriter};

fn meta() -> RecordingMeta {
    RecordingMeta {
        pid: 4242,
        command: vec!["python3".into(), "hostile.py".into()],
        python_version: "3.12.3".into(),
        rate_hz: 1000.0,
        start_unix_ns: 0,
        blocking: false,
    }
}

fn thread(tid: u32, frames: Vec<RawFrame>) -> ThreadStack {
    ThreadStack {
        os_tid: Some(tid),
        python_thread_id: u64::from(tid) * 16,
        name: Some(Arc::from("MainThread")),
        holds_gil: true,
        on_cpu: Some(true),
        frames,
        error: None,
        // No CPU times: these files are about stack shapes, and count samples.
        cpu_ns: None,
        truncated: false,
    }
}

fn finish(mut writer: RecordingWriter, samples: u64, duration_ns: u64) {
    writer
        .write_summary(&RecordingSummary {
            samples,
            duration_ns,
            ..Default::default()
        })
        .expect("write summary");
    writer.finish().expect("finish recording");
}

/// `ticks` samples of one thread, the i-th at depth `i + 1` of one recursion through
/// `functions` functions: every stack is a distinct node of one long chain of the prefix
/// tree, so each sample costs a few bytes of file but names a stack of thousands of frames.
/// Expanding every distinct stack to its frames is quadratic in `ticks`.
pub fn deep_prefix_chain(path: &Path, ticks: u32, functions: u32) {
    let mut codes = CodeTable::default();
    let ids: Vec<_> = (0..functions)
        .map(|i| {
            codes.push(CodeInfo {
                name: format!("f{i}"),
                qualname: format!("f{i}"),
                filename: "deep.py".into(),
                first_line: i + 1,
            })
        })
        .collect();
    let mut writer = RecordingWriter::create(path, &meta()).expect("create recording");
    // Innermost first: the frame pushed last is the newest, so keep the chain root first
    // and reverse a copy per tick.
    let mut root_first: Vec<RawFrame> = Vec::with_capacity(ticks as usize);
    let mut stack = thread(1, Vec::new());
    for i in 0..ticks {
        root_first.push(RawFrame {
            code: ids[(i % functions) as usize],
            line: 1 + i % functions,
        });
        stack.frames.clear();
        stack.frames.extend(root_first.iter().rev().copied());
        writer
            .write_sample(
                u64::from(i) * 1_000_000,
                std::slice::from_ref(&stack),
                &codes,
            )
            .expect("write sample");
    }
    finish(writer, u64::from(ticks), u64::from(ticks) * 1_000_000);
}

/// One stack `depth` frames deep, sampled `ticks` times: deeper than the 4096 frames a
/// report keeps.
pub fn one_deep_stack(path: &Path, depth: u32, ticks: u32) {
    deep_stacks(path, depth, ticks, false);
}

/// Like [`one_deep_stack`], but every other sample has one more frame, so no two
/// consecutive samples share a stack (a speedscope file writes each in full).
pub fn alternating_deep_stacks(path: &Path, depth: u32, ticks: u32) {
    deep_stacks(path, depth, ticks, true);
}

fn deep_stacks(path: &Path, depth: u32, ticks: u32, alternate: bool) {
    let mut codes = CodeTable::default();
    let inner = codes.push(CodeInfo {
        name: "leaf".into(),
        qualname: "leaf".into(),
        filename: "deep.py".into(),
        first_line: 1,
    });
    let recurse = codes.push(CodeInfo {
        name: "recurse".into(),
        qualname: "recurse".into(),
        filename: "deep.py".into(),
        first_line: 5,
    });
    let mut frames = vec![RawFrame {
        code: inner,
        line: 2,
    }];
    frames.extend((1..depth).map(|_| RawFrame {
        code: recurse,
        line: 6,
    }));
    let stack = thread(1, frames);
    let mut deeper = stack.clone();
    deeper.frames.push(RawFrame {
        code: recurse,
        line: 6,
    });
    let mut writer = RecordingWriter::create(path, &meta()).expect("create recording");
    for i in 0..ticks {
        let this = if alternate && i % 2 == 1 {
            &deeper
        } else {
            &stack
        };
        writer
            .write_sample(u64::from(i) * 1_000_000, std::slice::from_ref(this), &codes)
            .expect("write sample");
    }
    finish(writer, u64::from(ticks), u64::from(ticks) * 1_000_000);
}

/// `ticks` ticks of `threads` threads all at one short stack: a few bytes per sample, the
/// densest recording of samples the writer makes.
pub fn many_samples(path: &Path, ticks: u32, threads: u32) {
    let mut codes = CodeTable::default();
    let main = codes.push(CodeInfo {
        name: "main".into(),
        qualname: "main".into(),
        filename: "dense.py".into(),
        first_line: 1,
    });
    let stacks: Vec<ThreadStack> = (0..threads)
        .map(|t| {
            thread(
                100 + t,
                vec![RawFrame {
                    code: main,
                    line: 2,
                }],
            )
        })
        .collect();
    let mut writer = RecordingWriter::create(path, &meta()).expect("create recording");
    for i in 0..ticks {
        writer
            .write_sample(u64::from(i) * 1_000_000, &stacks, &codes)
            .expect("write sample");
    }
    finish(
        writer,
        u64::from(ticks) * u64::from(threads),
        u64::from(ticks) * 1_000_000,
    );
}

/// A collapsed-stack file of one line `frames` frames deep, every frame a distinct function,
/// with count 1.
pub fn collapsed_deep_line(frames: u32) -> String {
    let mut text = String::with_capacity(frames as usize * 8 + 8);
    for i in 0..frames {
        if i > 0 {
            text.push(';');
        }
        let _ = write!(text, "f{i}");
    }
    text.push_str(" 1\n");
    text
}
