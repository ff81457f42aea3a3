//! The stacks scenario's truth (`tests/scenarios/stacks.py` writes what
//! `sys._current_frames()` says) and a `dump --json` document, both as one map of thread
//! → (name, stack), so a test compares them with one `assert_eq!`.

use std::collections::BTreeMap;

use serde_json::Value;

/// (function, file, line) innermost first, as both sides report them.
pub type Stack = Vec<(String, String, u64)>;

/// `[{function, file, line}, ...]` as (function, file, line) triples.
fn frames_of(frames: &Value) -> Stack {
    frames
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| {
            (
                f["function"].as_str().expect("function").to_string(),
                f["file"].as_str().expect("file").to_string(),
                f["line"].as_u64().expect("line"),
            )
        })
        .collect()
}

pub fn stacks_from_truth(truth: &Value) -> BTreeMap<u64, (Option<String>, Stack)> {
    let reporter = truth["reporter"].as_u64();
    truth["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .filter(|t| t["ident"].as_u64() != reporter)
        .map(|t| {
            let frames = frames_of(&t["frames"]);
            (
                t["native_id"].as_u64().expect("native id"),
                (t["name"].as_str().map(String::from), frames),
            )
        })
        .collect()
}

pub fn stacks_from_dump(
    dump: &Value,
    reporter: Option<u64>,
) -> BTreeMap<u64, (Option<String>, Stack)> {
    dump["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .filter(|t| t["python_thread_id"].as_u64() != reporter)
        .map(|t| {
            assert!(
                t["error"].is_null(),
                "thread {} has an error: {}",
                t["os_tid"],
                t["error"]
            );
            let frames = frames_of(&t["frames"]);
            (
                t["os_tid"].as_u64().expect("os tid"),
                (t["name"].as_str().map(String::from), frames),
            )
        })
        .collect()
}
