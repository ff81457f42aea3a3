//! Round trips through the writer and reader, and the reader's behaviour on cut-off,
//! damaged, foreign and random input.

use std::path::Path;
use std::sync::Arc;

use super::format;
use super::testutil::{meta, record, write, Rng, Synth, TempPath};
use super::*;
use crate::python::stack::ThreadStack;

/// Every id in `rec` points into its table, and stacks point to earlier stacks.
fn check_invariants(rec: &Recording) {
    let strings = rec.strings.len() as u32;
    for f in &rec.frames {
        assert!(f.qualname.0 < strings && f.name.0 < strings && f.filename.0 < strings);
    }
    for (i, s) in rec.stacks.iter().enumerate() {
        assert!((s.frame.0 as usize) < rec.frames.len());
        if let Some(p) = s.parent {
            assert!((p.0 as usize) < i);
            assert_eq!(s.depth, rec.stack(p).depth + 1);
        } else {
            assert_eq!(s.depth, 1);
        }
    }
    for t in &rec.threads {
        assert!(t.name.is_none_or(|n| n.0 < strings));
    }
    let mut last = 0;
    for s in &rec.samples {
        assert!((s.thread.0 as usize) < rec.threads.len());
        assert!(s.stack.is_none_or(|id| (id.0 as usize) < rec.stacks.len()));
        assert!(s.time_ns >= last);
        last = s.time_ns;
    }
}

/// The byte offsets where chunks end (the first being the end of the metadata chunk).
fn chunk_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut pos = format::HEADER_LEN;
    while pos < bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += format::CHUNK_HEADER_LEN + len;
        ends.push(pos);
    }
    assert_eq!(pos, bytes.len());
    ends
}

/// A recording of `n` ticks 10 ms apart over a handful of stacks and two threads.
fn busy_recording(n: u64) -> (TempPath, Vec<u8>) {
    let mut synth = Synth::default();
    let specs = [
        "main:1;work:5;leaf:9",
        "main:1;work:6",
        "main:2;idle:3",
        "main:1;work:5;leaf:10",
    ];
    let ticks: Vec<(u64, Vec<ThreadStack>)> = (0..n)
        .map(|i| {
            let mut worker = synth.thread(2, "worker", specs[(i % 4) as usize]);
            worker.on_cpu = Some(i % 3 != 0);
            let main = synth.thread(1, "MainThread", specs[((i / 7) % 4) as usize]);
            (i * 10_000_000, vec![main, worker])
        })
        .collect();
    let path = TempPath::new("busy");
    write(
        &path,
        &synth,
        &ticks,
        Some(&RecordingSummary {
            samples: n,
            ..Default::default()
        }),
    );
    let bytes = std::fs::read(&path.0).unwrap();
    (path, bytes)
}

#[test]
fn round_trip_keeps_every_detail() {
    let mut synth = Synth::default();
    let mut a = synth.thread(100, "MainThread", "main:3;work:12;leaf:20");
    a.holds_gil = true;
    let mut b = synth.thread(101, "worker", "main:3;work:13");
    b.holds_gil = false;
    b.on_cpu = Some(false);
    b.error = Some(crate::python::ThreadError::KeptChanging { reads: 3 });
    let mut c = synth.thread(102, "bg", "");
    c.on_cpu = None;
    c.os_tid = None;
    c.name = None;
    let ticks = vec![(5, vec![a.clone(), b, c]), (1_000_005, vec![a])];
    let rec = record(&synth, &ticks);
    check_invariants(&rec);

    assert_eq!(rec.meta, meta());
    assert!(!rec.truncated);
    assert_eq!(rec.ticks, 2);
    assert_eq!(rec.end_ns, 1_000_005);
    assert_eq!(rec.samples.len(), 4);
    assert_eq!(rec.threads.len(), 3);

    let s = &rec.samples[0];
    assert_eq!(
        (s.time_ns, s.holds_gil, s.on_cpu, s.error),
        (5, true, Some(true), false)
    );
    let names: Vec<String> = rec
        .stack_frames(s.stack.unwrap())
        .map(|f| {
            let f = rec.frame(f);
            format!("{}:{}", rec.string(f.qualname), f.line)
        })
        .collect();
    assert_eq!(names, ["leaf:20", "work:12", "main:3"]);
    let leaf = rec.frame(rec.stack(s.stack.unwrap()).frame);
    assert_eq!(rec.string(leaf.filename), "app.py");
    assert_eq!(rec.string(leaf.name), "leaf");
    assert_eq!(leaf.first_line, testutil::first_line_of("leaf"));

    let s = &rec.samples[1];
    assert_eq!((s.holds_gil, s.on_cpu, s.error), (false, Some(false), true));
    assert_eq!(rec.stack(s.stack.unwrap()).depth, 2);
    assert_eq!(rec.thread_label(s.thread), "worker (tid 101)");

    let s = &rec.samples[2];
    assert_eq!((s.stack, s.on_cpu), (None, None));
    assert_eq!(
        rec.thread_label(s.thread),
        format!("thread (id {:#x})", 102 * 16)
    );

    let s = &rec.samples[3];
    assert_eq!((s.time_ns, s.thread), (1_000_005, rec.samples[0].thread));
    assert_eq!(s.stack, rec.samples[0].stack);
}

#[test]
fn shared_prefixes_and_repeated_stacks_are_stored_once() {
    let mut synth = Synth::default();
    let ticks: Vec<_> = (0..1000u64)
        .map(|i| {
            let spec = if i % 2 == 0 {
                "main:1;work:5;leaf:9"
            } else {
                "main:1;work:5;other:2"
            };
            (i * 1_000_000, vec![synth.thread(7, "MainThread", spec)])
        })
        .collect();
    let path = TempPath::new("intern");
    write(&path, &synth, &ticks, None);
    let size = std::fs::metadata(&path.0).unwrap().len();
    let rec = read(&path.0).unwrap();
    assert_eq!(rec.stacks.len(), 4, "main, main;work, and two leaves");
    assert_eq!(rec.frames.len(), 4);
    assert_eq!(
        rec.strings.len(),
        6,
        "four names, the file and the thread name"
    );
    assert_eq!(rec.threads.len(), 1);
    // A tick of one thread: tag, time delta (3 bytes), interval (4 bytes: 10 ms), count,
    // thread, stack, flags.
    assert!(size < 1000 * 12 + 400, "{size} bytes for 1000 samples");
}

#[test]
fn renamed_thread_is_one_thread_with_its_last_name_and_time_never_goes_back() {
    let mut synth = Synth::default();
    let a = synth.thread(9, "Thread-1", "main:1");
    let mut b = a.clone();
    b.name = Some(Arc::from("renamed"));
    let other = synth.thread(10, "other", "main:1");
    let rec = record(
        &synth,
        &[
            (50, vec![a.clone(), other]),
            (40, vec![b.clone()]),
            (60, vec![a]),
            (70, vec![b]),
        ],
    );
    // Three definitions of tid 9 (Thread-1, renamed, Thread-1, renamed again) in the
    // file; one thread read back, under its last name, in its first entry's place.
    assert_eq!(rec.threads.len(), 2);
    assert_eq!(rec.string(rec.threads[0].name.unwrap()), "renamed");
    assert_eq!(rec.string(rec.threads[1].name.unwrap()), "other");
    let threads: Vec<u32> = rec.samples.iter().map(|s| s.thread.0).collect();
    assert_eq!(threads, [0, 1, 0, 0, 0]);
    let times: Vec<u64> = rec.samples.iter().map(|s| s.time_ns).collect();
    assert_eq!(times, [50, 50, 50, 60, 70]);
}

#[test]
fn a_thread_that_loses_its_name_at_exit_keeps_it() {
    let mut synth = Synth::default();
    let named = synth.thread(9, "MainThread", "main:1");
    let mut unnamed = named.clone();
    unnamed.name = None;
    let rec = record(
        &synth,
        &[
            (10, vec![unnamed.clone()]),
            (20, vec![named]),
            (30, vec![unnamed]),
        ],
    );
    assert_eq!(rec.threads.len(), 1);
    assert_eq!(
        rec.thread_label(rec.samples[2].thread),
        "MainThread (tid 9)"
    );
}

#[test]
fn empty_recording_is_valid() {
    let synth = Synth::default();
    let rec = record(&synth, &[]);
    assert!(!rec.truncated);
    assert_eq!(
        (rec.samples.len(), rec.ticks, rec.summary.clone()),
        (0, 0, None)
    );
    assert_eq!(rec.meta, meta());
}

#[test]
fn a_writer_dropped_without_finish_keeps_its_samples() {
    let mut synth = Synth::default();
    let path = TempPath::new("dropped");
    {
        let mut w = RecordingWriter::create(&path.0, &meta()).unwrap();
        w.write_sample(1, &[synth.thread(1, "MainThread", "main:1")], &synth.codes)
            .unwrap();
    }
    let rec = read(&path.0).unwrap();
    assert_eq!(rec.samples.len(), 1);
    assert!(!rec.truncated);
}

#[test]
fn summary_round_trips() {
    let (path, _) = busy_recording(10);
    let rec = read(&path.0).unwrap();
    assert_eq!(rec.summary.map(|s| s.samples), Some(10));
}

#[test]
fn chunks_are_written_every_half_second() {
    let (_path, bytes) = busy_recording(300);
    // Ticks from 0 to 2.99 s: the metadata chunk, one chunk at each of 0.5, 1, 1.5, 2 and
    // 2.5 s, and the last ticks together with the summary.
    assert_eq!(chunk_ends(&bytes).len(), 7);
}

#[test]
fn foreign_files_are_refused_clearly() {
    let cases: [(&[u8], &str); 5] = [
        (b"", "empty"),
        (b"FSR", "cut off inside its header"),
        (b"FSREC\x01", "cut off inside its header"),
        (
            b"#!/usr/bin/env python3\nprint('hi')\n",
            "not a framescope recording",
        ),
        (b"FSREC\x09\x00", "newer than this framescope reads"),
    ];
    for (bytes, expected) in cases {
        let err = read_bytes(bytes, Path::new("x.fsr")).unwrap_err();
        assert!(matches!(err, crate::error::Error::BadFile { .. }));
        let msg = err.to_string();
        assert!(msg.contains(expected), "{msg:?} should say {expected:?}");
    }
    let missing = read(Path::new("/nonexistent/framescope/x.fsr")).unwrap_err();
    assert!(missing.to_string().contains("no such file"), "{missing}");
}

#[test]
fn header_without_metadata_chunk_is_an_error() {
    let err = read_bytes(b"FSREC\x01\x00", Path::new("x")).unwrap_err();
    assert!(
        err.to_string().contains("cut off before its first chunk"),
        "{err}"
    );
}

#[test]
fn cut_off_files_read_up_to_their_last_complete_chunk() {
    let (path, bytes) = busy_recording(400);
    let full = read(&path.0).unwrap();
    check_invariants(&full);
    let ends = chunk_ends(&bytes);
    assert!(ends.len() >= 6);
    let samples_upto: Vec<usize> = ends
        .iter()
        .map(|&end| {
            read_bytes(&bytes[..end], Path::new("x"))
                .unwrap()
                .samples
                .len()
        })
        .collect();

    let check = |cut: usize| {
        let result = read_bytes(&bytes[..cut], Path::new("x"));
        if cut < ends[0] {
            assert!(
                result.is_err(),
                "cut at {cut} inside the header or metadata"
            );
            return;
        }
        let rec = result.unwrap();
        check_invariants(&rec);
        let complete = ends.iter().rposition(|&e| e <= cut).unwrap();
        assert_eq!(rec.truncated, ends[complete] != cut, "cut at {cut}");
        assert_eq!(rec.truncation.is_some(), rec.truncated);
        assert_eq!(rec.samples.len(), samples_upto[complete], "cut at {cut}");
        assert_eq!(rec.samples[..], full.samples[..rec.samples.len()]);
    };
    let from = ends[ends.len() - 3];
    for cut in from..=bytes.len() {
        check(cut);
    }
    for cut in 0..ends[0] + 10 {
        check(cut);
    }
    let mut rng = Rng::seeded(0x5eed);
    for _ in 0..300 {
        check(rng.below(bytes.len() as u64 + 1) as usize);
    }
}

#[test]
fn a_damaged_chunk_stops_reading_there() {
    let (_path, mut bytes) = busy_recording(400);
    let ends = chunk_ends(&bytes);
    let before = read_bytes(&bytes[..ends[2]], Path::new("x"))
        .unwrap()
        .samples
        .len();
    bytes[ends[2] + 20] ^= 0x40;
    let rec = read_bytes(&bytes, Path::new("x")).unwrap();
    assert!(rec.truncated);
    assert!(rec.truncation.as_deref().unwrap().contains("checksum"));
    assert_eq!(rec.samples.len(), before);
    assert!(rec.summary.is_none());
}

/// Wraps `payload` in a chunk with a correct length and checksum.
fn chunk(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut out = len.to_vec();
    out.extend_from_slice(&format::chunk_checksum(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn random_bytes_after_a_valid_header_never_panic() {
    let (_path, bytes) = busy_recording(3);
    let head = &bytes[..chunk_ends(&bytes)[0]];
    let mut rng = Rng::seeded(42);
    for round in 0..3000 {
        let len = rng.below(200) as usize;
        let noise: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut file = head.to_vec();
        if round % 2 == 0 {
            file.extend_from_slice(&noise);
        } else {
            // Checksummed noise reaches the record decoder: give it the next sequence
            // number (1: the META chunk was 0) and bias it to known tags.
            let mut payload = vec![1u8];
            payload.extend_from_slice(&noise);
            if let Some(first) = payload.get_mut(1) {
                *first = 2 + *first % 9;
            }
            file.extend_from_slice(&chunk(&payload));
        }
        if let Ok(rec) = read_bytes(&file, Path::new("x")) {
            check_invariants(&rec);
        }
    }
}

#[test]
fn mutated_records_with_valid_checksums_never_panic() {
    let (_path, bytes) = busy_recording(120);
    let ends = chunk_ends(&bytes);
    let mut rng = Rng::seeded(7);
    for _ in 0..2000 {
        let mut file = bytes.clone();
        let which = rng.below(ends.len() as u64) as usize;
        let start = if which == 0 {
            format::HEADER_LEN
        } else {
            ends[which - 1]
        };
        let payload_start = start + format::CHUNK_HEADER_LEN;
        let end = ends[which];
        for _ in 0..1 + rng.below(3) {
            let at = payload_start + rng.below((end - payload_start) as u64) as usize;
            file[at] = rng.next() as u8;
        }
        let fixed = chunk(&file[payload_start..end]);
        file[start..end].copy_from_slice(&fixed);
        if let Ok(rec) = read_bytes(&file, Path::new("x")) {
            check_invariants(&rec);
        }
    }
}

/// The chunks of `bytes` (header excluded), each whole with its own header.
fn chunks_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut start = format::HEADER_LEN;
    chunk_ends(bytes)
        .into_iter()
        .map(|end| {
            let chunk = bytes[start..end].to_vec();
            start = end;
            chunk
        })
        .collect()
}

#[test]
fn a_chunk_deleted_duplicated_or_moved_is_reported_not_skipped() {
    let (_path, bytes) = busy_recording(400);
    let chunks = chunks_of(&bytes);
    assert!(chunks.len() >= 4, "{} chunks", chunks.len());
    let whole = read_bytes(&bytes, Path::new("x")).unwrap();
    assert!(!whole.truncated);
    let rebuild = |order: &[usize]| {
        let mut file = bytes[..format::HEADER_LEN].to_vec();
        for &i in order {
            file.extend_from_slice(&chunks[i]);
        }
        read_bytes(&file, Path::new("x")).unwrap()
    };
    let n = chunks.len();
    let deleted: Vec<usize> = (0..n).filter(|&i| i != 2).collect();
    let rec = rebuild(&deleted);
    assert!(rec.truncated);
    let why = rec.truncation.clone().unwrap();
    assert!(
        why.contains("chunks are missing: chunk 2 was expected, chunk 3 found"),
        "{why}"
    );
    // Everything before the gap, nothing after it.
    let before_gap = rebuild(&[0, 1]);
    assert_eq!(rec.samples.len(), before_gap.samples.len());
    assert!(rec.samples.len() < whole.samples.len());

    let mut duplicated: Vec<usize> = (0..n).collect();
    duplicated.insert(2, 1);
    let why = rebuild(&duplicated).truncation.unwrap();
    assert!(why.contains("repeated or out of order"), "{why}");

    let mut swapped: Vec<usize> = (0..n).collect();
    swapped.swap(1, 2);
    let why = rebuild(&swapped).truncation.unwrap();
    assert!(
        why.contains("chunks are missing: chunk 1 was expected, chunk 2 found"),
        "{why}"
    );
}

/// A version-1 file, written byte by byte as framescope 0.1 wrote them.
fn version_1_file() -> Vec<u8> {
    let mut file = format::MAGIC.to_vec();
    file.extend_from_slice(&1u16.to_le_bytes());
    let mut meta_chunk = vec![format::TAG_META];
    format::put_bytes(&mut meta_chunk, br#"{"pid":42,"rate_hz":100.0}"#);
    file.extend_from_slice(&chunk(&meta_chunk));
    let mut body = Vec::new();
    for text in ["main", "app.py", "MainThread"] {
        body.push(format::TAG_STRING);
        format::put_bytes(&mut body, text.as_bytes());
    }
    body.push(format::TAG_FRAME);
    for v in [0, 0, 1, 1, 3] {
        format::put_varint(&mut body, v);
    }
    body.push(format::TAG_STACK);
    format::put_varint(&mut body, 0);
    format::put_varint(&mut body, 0);
    body.push(format::TAG_THREAD);
    for v in [43, 0x7f00, 3] {
        format::put_varint(&mut body, v);
    }
    for delta in [0, 10_000_000, 10_000_000] {
        body.push(format::TAG_TICK);
        format::put_varint(&mut body, delta);
        format::put_varint(&mut body, 1);
        format::put_varint(&mut body, 0);
        format::put_varint(&mut body, 1);
        body.push(format::encode_flags(true, Some(true), false));
    }
    file.extend_from_slice(&chunk(&body));
    file
}

#[test]
fn version_1_recordings_still_read() {
    let rec = read_bytes(&version_1_file(), Path::new("old.fsr")).unwrap();
    assert!(!rec.truncated, "{:?}", rec.truncation);
    assert_eq!(rec.version, 1);
    assert_eq!(rec.meta.pid, 42);
    assert_eq!(rec.samples.len(), 3);
    assert_eq!(
        rec.thread_label(rec.samples[0].thread),
        "MainThread (tid 42)"
    );
    assert_eq!(rec.samples[2].time_ns, 20_000_000);
    assert!(rec
        .samples
        .iter()
        .all(|s| s.interval_ns == 0 && s.cpu_ns.is_none()));
    assert!(!rec.has_cpu_times());
    let frame = rec.frame(rec.stack(rec.samples[0].stack.unwrap()).frame);
    assert_eq!((rec.string(frame.qualname), frame.line), ("main", 3));
}

#[test]
fn cpu_time_interval_and_truncation_round_trip() {
    let mut synth = Synth::default();
    let mut a = synth.thread(5, "MainThread", "main:1;work:2");
    a.cpu_ns = Some(987_654);
    a.truncated = true;
    let mut b = synth.thread(6, "idle", "main:1");
    b.cpu_ns = Some(0);
    b.on_cpu = Some(false);
    let c = synth.thread(7, "unknown", "main:1");
    let path = TempPath::new("cpu");
    let mut w = RecordingWriter::create(&path.0, &meta()).unwrap();
    let time = TickTime {
        elapsed_ns: 1_500_000,
        interval_ns: 3_000_000,
    };
    w.write_tick(time, &[a, b, c], &synth.codes).unwrap();
    w.finish().unwrap();
    let rec = read(&path.0).unwrap();
    assert_eq!(rec.version, format::VERSION);
    let got: Vec<_> = rec
        .samples
        .iter()
        .map(|s| (s.time_ns, s.interval_ns, s.cpu_ns, s.truncated))
        .collect();
    assert_eq!(
        got,
        [
            (1_500_000, 3_000_000, Some(987_654), true),
            (1_500_000, 3_000_000, Some(0), false),
            (1_500_000, 3_000_000, None, false),
        ]
    );
    assert!(rec.has_cpu_times());
}

#[test]
fn unknown_flag_bits_and_version_2_records_in_version_1_are_refused() {
    let mut file = version_1_file();
    // Flip on the CPU-time bit of the last entry: version 1 has no such bit.
    let chunks = chunks_of(&file);
    let mut body = chunks[1][format::CHUNK_HEADER_LEN..].to_vec();
    let last = body.len() - 1;
    body[last] |= format::FLAG_CPU_TIME;
    file.truncate(format::HEADER_LEN + chunks[0].len());
    file.extend_from_slice(&chunk(&body));
    let rec = read_bytes(&file, Path::new("x")).unwrap();
    assert!(rec.truncated);
    assert!(rec.truncation.unwrap().contains("unknown sample flags"));
}

#[test]
fn a_writer_that_forgets_what_it_defined_still_writes_a_correct_recording() {
    // More distinct stacks than the writer remembers: each tick a new leaf line under a
    // shared root, so the stack map fills and is forgotten more than once.
    let mut synth = Synth::default();
    let n = (1u64 << 18) * 2 + 1000;
    let path = TempPath::new("forget");
    let mut w = RecordingWriter::create(&path.0, &meta()).unwrap();
    let mut thread = synth.thread(1, "MainThread", "main:1;work:2");
    for i in 0..n {
        thread.frames[0].line = 10 + (i as u32);
        w.write_sample(i * 1_000, std::slice::from_ref(&thread), &synth.codes)
            .unwrap();
    }
    w.finish().unwrap();
    let rec = read(&path.0).unwrap();
    assert!(!rec.truncated);
    assert_eq!(rec.samples.len() as u64, n);
    for (i, s) in rec.samples.iter().enumerate().step_by(9973) {
        let frames: Vec<_> = rec
            .stack_frames(s.stack.unwrap())
            .map(|f| {
                (
                    rec.string(rec.frame(f).qualname).to_string(),
                    rec.frame(f).line,
                )
            })
            .collect();
        assert_eq!(
            frames,
            [("work".to_string(), 10 + i as u32), ("main".to_string(), 1)]
        );
    }
}

#[test]
fn a_version_1_recording_missing_a_chunk_is_caught_by_its_summary() {
    // Version 1 has no chunk numbers: the summary's own count gives a lost chunk away.
    let mut file = version_1_file();
    let mut body = vec![format::TAG_SUMMARY];
    format::put_bytes(&mut body, br#"{"samples":5,"duration_ns":40000000}"#);
    file.extend_from_slice(&chunk(&body));
    let rec = read_bytes(&file, Path::new("old.fsr")).unwrap();
    assert!(rec.truncated);
    let why = rec.truncation.unwrap();
    assert!(
        why.contains("summary counts 5 samples, and 3 were read"),
        "{why}"
    );
}

#[test]
fn a_file_of_millions_of_tiny_definitions_is_cut_at_the_limit() {
    // 2 bytes of file per empty string; past 4M strings the chunk is refused as damage,
    // so memory stays bounded by the limit, not by the file.
    let (_path, bytes) = busy_recording(1);
    let first = chunk_ends(&bytes)[0];
    let mut file = bytes[..first].to_vec();
    let mut body = vec![1u8];
    for _ in 0..(4 << 20) + 1 {
        body.extend_from_slice(&[format::TAG_STRING, 0]);
    }
    file.extend_from_slice(&chunk(&body));
    let rec = read_bytes(&file, Path::new("x")).unwrap();
    assert!(rec.truncated);
    assert!(rec.strings.is_empty());
    let why = rec.truncation.unwrap();
    assert!(why.contains("more than 4194304 strings"), "{why}");
}

#[test]
fn processes_of_a_tree_keep_their_own_code_ids_threads_and_ends() {
    // Two processes whose code tables both start at code id 0, for different functions.
    let mut a = Synth::default();
    let mut b = Synth::default();
    let ta = a.thread(10, "MainThread", "a_main:1;a_work:2");
    let tb = b.thread(20, "MainThread", "b_main:1;b_work:3");
    assert_eq!(ta.frames[0].code.0, tb.frames[0].code.0);
    let path = TempPath::new("tree");
    let mut writer = RecordingWriter::create(&path.0, &meta()).expect("create");
    let info = |pid, ppid| ProcessInfo {
        pid,
        ppid,
        command: vec!["python3".into(), format!("w{pid}.py")],
        python_version: "3.12.3".into(),
        start_ns: 0,
    };
    let pa = writer.define_process(&info(100, 1)).expect("process");
    let pb = writer.define_process(&info(200, 100)).expect("process");
    for i in 0..3u64 {
        let time = TickTime {
            elapsed_ns: i * 10_000_000,
            interval_ns: 10_000_000,
        };
        let parts = [
            ProcessTick {
                process: Some(pa),
                threads: std::slice::from_ref(&ta),
                codes: &a.codes,
                tasks: &[],
            },
            ProcessTick {
                process: Some(pb),
                threads: std::slice::from_ref(&tb),
                codes: &b.codes,
                tasks: &[],
            },
        ];
        writer.write_processes_tick(time, &parts).expect("tick");
    }
    writer
        .end_process(&ProcessEnd {
            process: pb,
            end_ns: 25_000_000,
            exit_code: None,
            signal: Some(9),
        })
        .expect("end");
    writer.finish().expect("finish");
    let rec = read(&path.0).expect("reads");
    check_invariants(&rec);
    assert_eq!(rec.processes.len(), 2);
    assert_eq!(rec.processes[1].info.ppid, 100);
    assert_eq!(rec.processes[0].end, None);
    assert_eq!(
        rec.processes[1].end.as_ref().and_then(|e| e.signal),
        Some(9)
    );
    assert_eq!(rec.samples.len(), 6);
    for s in &rec.samples {
        let process = rec.thread_process(s.thread);
        let inner = rec.frame(
            rec.stack_frames(s.stack.expect("stack"))
                .next()
                .expect("frame"),
        );
        let expected = match rec.process_pid(process) {
            100 => "a_work",
            200 => "b_work",
            pid => panic!("pid {pid}"),
        };
        assert_eq!(rec.string(inner.qualname), expected);
    }
    assert_eq!(
        rec.process_label(Some(ProcessIndex(1))),
        "pid 200: python3 w200.py"
    );
    // Views: merged by default, apart with per_process, one with process_filter.
    use crate::report::{Profile, ViewOptions};
    let view = ViewOptions::default();
    assert_eq!(Profile::build(&rec, &view).groups.len(), 1);
    let apart = ViewOptions {
        per_process: true,
        ..ViewOptions::default()
    };
    let groups = Profile::build(&rec, &apart).groups;
    assert_eq!(groups.len(), 2);
    assert_eq!(
        groups[1].labels(&rec),
        vec!["pid 200: python3 w200.py".to_string()]
    );
    let one = ViewOptions {
        process_filter: Some(200),
        ..ViewOptions::default()
    };
    let only = Profile::build(&rec, &one);
    assert_eq!((only.samples, only.left_out.other_processes), (3, 3));
}
