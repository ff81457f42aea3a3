//! asyncio tasks against real interpreters of the whole matrix: `dump --async` names the
//! task each thread's event loop is running (3.11 to 3.13, read through the `_asyncio`
//! layouts generated from DWARF), and says once why it cannot where it cannot (other
//! versions, pure-Python tasks), still printing the plain stacks.

mod common;

use std::time::Duration;

use common::{for_each_python, framescope, spawn, Python};
use serde_json::Value;

/// Versions whose C tasks framescope reads.
fn reads_tasks(py: &Python) -> bool {
    (11..=13).contains(&py.minor())
}

fn dump_async(pid: u32) -> Value {
    let pid = pid.to_string();
    let out = framescope(&["dump", "--pid", &pid, "--json", "--async"]);
    assert!(
        out.status.success(),
        "dump --async failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("dump --async --json is JSON")
}

#[test]
fn dump_async_names_the_task_each_thread_runs() {
    for_each_python(|py| {
        let mut target = spawn(py, "aiotasks.py", &["{dir}/truth.json"]);
        let truth: Value =
            serde_json::from_str(&target.wait_for_file("truth.json", Duration::from_secs(60)))
                .expect("truth");
        let dump = dump_async(target.pid);
        let threads = dump["threads"].as_array().expect("threads");
        let main = "spin_main";
        let side = "Side.spin";
        if !reads_tasks(py) {
            let note = dump["asyncio_note"].as_str().unwrap_or("");
            assert!(
                note.contains("not read on CPython"),
                "{}: expected the version note, got {dump}",
                py.name
            );
            assert!(threads.iter().all(|t| t.get("task").is_none()));
            // The plain stacks are still there.
            assert!(threads.iter().any(|t| t["frames"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["function"] == main))));
            return;
        }
        assert!(dump.get("asyncio_note").is_none(), "{}: {dump}", py.name);
        let truth = truth.as_object().expect("truth object");
        assert_eq!(truth.len(), 2);
        for (ident, want) in truth {
            let ident: u64 = ident.parse().expect("ident");
            let thread = threads
                .iter()
                .find(|t| t["python_thread_id"].as_u64() == Some(ident))
                .unwrap_or_else(|| panic!("{}: thread {ident} not in {dump}", py.name));
            let task = &thread["task"];
            assert_eq!(task["name"], want["name"], "{}: {thread}", py.name);
            assert_eq!(
                task["coroutine"], want["coroutine"],
                "{}: {thread}",
                py.name
            );
            assert_eq!(task["id"], want["id"], "{}: {thread}", py.name);
        }
        let names: Vec<&str> = truth
            .values()
            .filter_map(|t| t["coroutine"].as_str())
            .collect();
        assert!(names.contains(&main) && names.contains(&side));
        // The text form shows the same.
        let pid = target.pid.to_string();
        let text = framescope(&["dump", "--pid", &pid, "--async"]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("task: main-spinner (coroutine spin_main, id 0x"),
            "{}: {text}",
            py.name
        );
        assert!(text.contains("task: side-spinner (coroutine Side.spin, id 0x"));
    });
}

#[test]
fn dump_async_says_once_that_pure_python_tasks_cannot_be_read() {
    for_each_python(|py| {
        if !reads_tasks(py) {
            return;
        }
        let mut target = spawn(py, "aiotasks.py", &["{dir}/truth.json", "py"]);
        target.wait_for_file("truth.json", Duration::from_secs(60));
        let dump = dump_async(target.pid);
        let note = dump["asyncio_note"].as_str().unwrap_or("");
        assert!(note.contains("pure-Python tasks"), "{}: {dump}", py.name);
        let threads = dump["threads"].as_array().expect("threads");
        assert!(threads.iter().all(|t| t.get("task").is_none()));
        assert!(threads.iter().any(|t| t["frames"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["function"] == "spin_main"))));
    });
}
