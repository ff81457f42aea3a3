//! The walker, `_Py_DebugOffsets` and code-object decoding tested offline, on memory
//! snapshots of the stacks scenario (tests/snapshots/3.10, 3.12 and 3.14.snap; made by
//! `generate_snapshots` in tests/core.rs). Each snapshot holds exactly the bytes a look
//! at the paused program read, and the program's own account of its stacks: the walker
//! must find exactly those stacks again, from nothing but the saved bytes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::debug_offsets::DebugOffsets;
use super::layout::{table_for, Layout};
use super::snapshot::Snapshot;
use super::{SampleOptions, StackReader, ThreadStack};
use crate::error::Error;

fn snapshot(name: &str) -> Snapshot {
    let path = format!("{}/tests/snapshots/{name}.snap", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Snapshot::from_bytes(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (function, file, line, first line) innermost first.
type Frames = Vec<(String, String, u64, u64)>;

/// tid → (thread name, frames), as the program reported them.
fn truth(s: &Snapshot) -> BTreeMap<u64, (Option<String>, Frames)> {
    let reporter = s.truth["reporter"].as_u64();
    s.truth["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .filter(|t| t["ident"].as_u64() != reporter)
        .map(|t| {
            let frames = t["frames"]
                .as_array()
                .expect("frames")
                .iter()
                .map(|f: &Value| {
                    (
                        f["function"].as_str().expect("function").to_string(),
                        f["file"].as_str().expect("file").to_string(),
                        f["line"].as_u64().expect("line"),
                        f["first_line"].as_u64().expect("first line"),
                    )
                })
                .collect();
            (
                t["native_id"].as_u64().expect("native id"),
                (t["name"].as_str().map(String::from), frames),
            )
        })
        .collect()
}

/// One sample of the snapshot's interpreter, as tid → (name, frames).
fn walk(s: &Snapshot, paused: bool) -> BTreeMap<u64, (Option<String>, Frames)> {
    let interp = s.interpreter(None).expect("interpreter from the snapshot");
    let mut reader = StackReader::new(&interp);
    let mut threads: Vec<ThreadStack> = Vec::new();
    let opts = SampleOptions {
        thread_names: true,
        paused,
        ..SampleOptions::default()
    };
    reader.sample(&interp, opts, &mut threads).expect("sample");
    threads
        .iter()
        .map(|t| {
            assert!(t.error.is_none(), "thread {:?}: {:?}", t.os_tid, t.error);
            let frames = t
                .frames
                .iter()
                .map(|f| {
                    let c = reader.codes.table.get(f.code);
                    (
                        c.qualname.clone(),
                        c.filename.clone(),
                        u64::from(f.line),
                        u64::from(c.first_line),
                    )
                })
                .collect();
            (
                u64::from(t.os_tid.expect("os tid")),
                (t.name.as_deref().map(str::to_string), frames),
            )
        })
        .collect()
}

fn check_exact_stacks(name: &str) {
    let s = snapshot(name);
    let expected = truth(&s);
    assert!(expected.len() >= 15, "{name}: the scenario's threads");
    for paused in [true, false] {
        assert_eq!(walk(&s, paused), expected, "{name}, paused: {paused}");
    }
}

#[test]
fn walker_finds_the_exact_stacks_of_3_10() {
    check_exact_stacks("3.10");
}

#[test]
fn walker_finds_the_exact_stacks_of_3_12() {
    check_exact_stacks("3.12");
}

#[test]
fn walker_finds_the_exact_stacks_of_3_14() {
    check_exact_stacks("3.14");
}

#[test]
fn snapshots_hold_the_shapes_under_test() {
    for name in ["3.10", "3.12", "3.14"] {
        let s = snapshot(name);
        let all: Vec<String> = truth(&s)
            .into_values()
            .flat_map(|(_, f)| f.into_iter().map(|f| f.0))
            .collect();
        for needle in [
            "numbers",
            "coroutine_inner",
            "key_function",
            "función_β",
            "関数_𠀋",
        ] {
            assert!(all.iter().any(|f| f.ends_with(needle)), "{name}: {needle}");
        }
        assert_eq!(
            all.iter().filter(|f| *f == "recurse").count(),
            342,
            "{name}"
        );
    }
}

/// A read outside the saved bytes fails like an unmapped address: the walker must not
/// have read anything the live look did not.
#[test]
fn a_snapshot_cut_short_is_an_error_not_a_guess() {
    let s = snapshot("3.12");
    let mut regions = s.regions.clone();
    // Drop the largest region (a data-stack chunk): its threads cannot be walked.
    let largest = (0..regions.len())
        .max_by_key(|i| regions[*i].1.len())
        .expect("regions");
    regions.remove(largest);
    let interp = s.interpreter(Some(regions)).expect("interpreter");
    let mut reader = StackReader::new(&interp);
    let mut threads = Vec::new();
    let opts = SampleOptions {
        paused: true,
        ..SampleOptions::default()
    };
    let result = reader.sample(&interp, opts, &mut threads);
    let failed = result.is_err() || threads.iter().any(|t| t.error.is_some());
    assert!(failed, "a missing region must show as an error");
}

#[test]
fn debug_offsets_of_3_14_are_read_checked_and_applied() {
    let s = snapshot("3.14");
    let interp = s.interpreter(None).expect("interpreter");
    assert!(
        interp
            .layout_source
            .starts_with("_Py_DebugOffsets of the target"),
        "{}",
        interp.layout_source
    );
    let offsets = DebugOffsets::read(&*interp.mem, interp.runtime)
        .expect("checked")
        .expect("3.14 has debug offsets");
    assert_eq!(
        (offsets.version.major, offsets.version.minor),
        (3, 14),
        "{}",
        offsets.version
    );
    assert!(!offsets.free_threaded);
    // Applied to the built-in table they change nothing (the table is right) ...
    let version = interp.version.clone();
    let table = table_for(&version).expect("a 3.14 table").expect("valid");
    let mut layout = Layout::from_table(&version, &table).expect("layout");
    assert_eq!(offsets.apply(&mut layout), Vec::<String>::new());
    // ... and put back what a wrong table would have had wrong.
    let right = (layout.thread_next, layout.interp_threads_head);
    layout.thread_next += 8;
    layout.interp_threads_head = 0;
    let mut differences = offsets.apply(&mut layout);
    differences.sort();
    assert_eq!(differences.len(), 2, "{differences:?}");
    assert!(differences[0].starts_with("interpreter_state.threads_head"));
    assert!(differences[1].starts_with("thread_state.next"));
    assert_eq!((layout.thread_next, layout.interp_threads_head), right);
}

#[test]
fn older_versions_have_no_debug_offsets() {
    for name in ["3.10", "3.12"] {
        let s = snapshot(name);
        let interp = s.interpreter(None).expect("interpreter");
        assert!(
            DebugOffsets::read(&*interp.mem, interp.runtime)
                .expect("no error")
                .is_none(),
            "{name}"
        );
        assert_eq!(
            interp.layout_source,
            format!("python-offsets/{name}.toml"),
            "{name}"
        );
    }
}

/// A copy of 3.14 whose `_Py_DebugOffsets` were corrupted must be refused, saying why.
#[test]
fn corrupted_debug_offsets_are_refused_with_the_reason() {
    let s = snapshot("3.14");
    let runtime = s.facts.runtime;
    let with_word = |index: u64, value: u64| {
        let mut regions = s.regions.clone();
        let addr = runtime + 8 * index;
        let (start, bytes) = regions
            .iter_mut()
            .find(|(a, b)| *a <= addr && addr + 8 <= *a + b.len() as u64)?;
        let at = (addr - *start) as usize;
        bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
        Some(regions)
    };
    // The version number after the cookie.
    match s.interpreter(with_word(1, 0x0102_0304)) {
        Err(Error::UnsupportedPython { why, .. }) => {
            assert!(why.contains("unknown version number 0x1020304"), "{why}")
        }
        other => panic!("a bad version must be refused: {:?}", other.err()),
    }
    // Each word of the offsets in turn: every one the walker relies on is refused, with
    // the field and its value named.
    let huge = 1u64 << 40;
    let mut refused = Vec::new();
    let mut index = 2;
    while let Some(regions) = with_word(index, huge) {
        index += 1;
        if let Err(e) = s.interpreter(Some(regions)) {
            let Error::UnsupportedPython { why, .. } = &e else {
                panic!("word {index}: {e}");
            };
            if why.contains("free-threaded") {
                // The build-flavour word: a build framescope says it does not read.
                continue;
            }
            assert!(why.contains("does not have the expected shape"), "{why}");
            assert!(why.contains(&format!("= {huge}")), "{why}");
            refused.push(index - 1);
        }
    }
    assert!(refused.len() >= 20, "only words {refused:?} were refused");
}

/// Code objects decoded from the saved bytes: names, file, first line, and each frame's
/// line from the version's line table.
#[test]
fn code_objects_and_line_tables_decode_as_the_program_says() {
    for name in ["3.10", "3.12", "3.14"] {
        let s = snapshot(name);
        let expected = truth(&s);
        let got = walk(&s, true);
        let firsts = |m: &BTreeMap<u64, (Option<String>, Frames)>| {
            let mut v: Vec<(String, u64)> = m
                .values()
                .flat_map(|(_, f)| f.iter().map(|f| (f.0.clone(), f.3)))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        assert_eq!(firsts(&got), firsts(&expected), "{name}: first lines");
        let lines = |m: &BTreeMap<u64, (Option<String>, Frames)>| {
            let mut v: Vec<(String, u64)> = m
                .values()
                .flat_map(|(_, f)| f.iter().map(|f| (f.0.clone(), f.2)))
                .collect();
            v.sort();
            v
        };
        assert_eq!(lines(&got), lines(&expected), "{name}: lines");
    }
}
