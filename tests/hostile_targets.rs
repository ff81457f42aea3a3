//! Targets at the edges of what the stack reader handles, run for real on the matrix
//! (tests/scenarios/hostile.py): a recursion deeper than the frames kept, a function name
//! longer than the strings kept, a thread id given as the pid, and a zombie.

mod common;

use std::io::BufRead;
use std::path::Path;

use common::{among_others, for_each_python, framescope, number_before, spawn, Python, Target};
use serde_json::Value;

/// Frames kept of one stack (README: "Reliability").
const MAX_DEPTH: usize = 4096;
/// The recursion the deep tests make, deeper than `MAX_DEPTH`.
const DEPTH: usize = 5000;

/// Gives a target that has just said "ready" time to reach the line it then stays on (it
/// says so from the line before).
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(300));
}

/// The line of hostile.py that holds `marker` in a comment.
fn line_of(marker: &str) -> u64 {
    let text = include_str!("scenarios/hostile.py");
    let at = text
        .lines()
        .position(|l| l.contains(&format!("# {marker}")))
        .expect("marker in hostile.py");
    at as u64 + 1
}

fn dump_json(py: &Python, pid: u32, extra: &[&str]) -> (Value, String) {
    let pid = pid.to_string();
    let mut args = vec!["dump", "--pid", &pid, "--json"];
    args.extend_from_slice(extra);
    let out = framescope(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{}: dump {extra:?} failed: {stderr}",
        py.name
    );
    let json = serde_json::from_slice(&out.stdout).expect("dump prints JSON");
    (json, stderr)
}

/// The main thread of a dump (the one whose os tid is the pid).
fn main_thread(dump: &Value, pid: u32) -> &Value {
    dump["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .find(|t| t["os_tid"].as_u64() == Some(pid as u64))
        .unwrap_or_else(|| panic!("no main thread in {dump}"))
}

/// Waits for the target's "ready" and returns the line it prints next (one reader for
/// both: a reader of its own for the first would swallow the second).
fn ready_then_line(target: &mut Target) -> String {
    let stdout = target.child.stdout.as_mut().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut next = || {
        lines
            .next()
            .and_then(Result::ok)
            .expect("the target prints a line")
    };
    assert_eq!(next().trim(), "ready", "the target's first line");
    next().trim().to_string()
}

/// (function, line) of every frame of a dumped thread, innermost first.
fn frames_of(thread: &Value) -> Vec<(String, u64)> {
    thread["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| {
            (
                f["function"].as_str().expect("function").to_string(),
                f["line"].as_u64().expect("line"),
            )
        })
        .collect()
}

/// What a 5,000-deep recursion must look like: its innermost 4,096 frames exactly.
fn expected_deep_frames() -> Vec<(String, u64)> {
    let mut want = vec![("recurse".to_string(), line_of("SLEEP_LINE"))];
    want.extend(std::iter::repeat_n(
        ("recurse".to_string(), line_of("CALL_LINE")),
        MAX_DEPTH - 1,
    ));
    want
}

#[test]
fn a_stack_deeper_than_the_limit_keeps_its_innermost_frames_in_dump() {
    let _cpu = among_others();
    let want = expected_deep_frames();
    for_each_python(|py| {
        let mut target = spawn(py, "hostile.py", &["deep", &DEPTH.to_string()]);
        target.wait_ready();
        settle();
        for mode in [&[][..], &["--nonblocking"][..]] {
            let (dump, _) = dump_json(py, target.pid, mode);
            let main = main_thread(&dump, target.pid);
            assert!(
                main["error"].is_null(),
                "{} {mode:?}: error {}",
                py.name,
                main["error"]
            );
            assert_eq!(main["truncated"], true, "{} {mode:?}", py.name);
            let got = frames_of(main);
            assert!(
                got == want,
                "{} {mode:?}: {} frames, innermost {:?}, outermost {:?}",
                py.name,
                got.len(),
                got.first(),
                got.last()
            );
        }
        let pid = target.pid.to_string();
        let text = framescope(&["dump", "--pid", &pid]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("older frames not shown (stack deeper than 4096 frames)"),
            "{}: {text}",
            py.name
        );
        assert!(!text.contains("torn"), "{}: {text}", py.name);
    });
}

/// The collapsed stacks of a recording, with lines and idle samples: (stack, count).
fn collapsed(rec: &Path) -> Vec<(String, u64)> {
    let out = framescope(&[
        "report",
        rec.to_str().expect("path"),
        "--format",
        "collapsed",
        "--idle",
        "--lines",
        // Counted in samples.
        "--clock",
        "wall",
    ]);
    assert!(out.status.success(), "report of {}", rec.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (stack, n) = l.rsplit_once(' ').expect("stack and count");
            (stack.to_string(), n.parse().expect("count"))
        })
        .collect()
}

#[test]
fn a_stack_deeper_than_the_limit_keeps_its_innermost_frames_in_a_recording() {
    let _cpu = among_others();
    for_each_python(|py| {
        let mut target = spawn(py, "hostile.py", &["deep", &DEPTH.to_string()]);
        target.wait_ready();
        settle();
        let script = format!("{}/hostile.py", target.inner_dir);
        let call = format!("recurse ({script}:{})", line_of("CALL_LINE"));
        let sleep = format!("recurse ({script}:{})", line_of("SLEEP_LINE"));
        let mut want = vec![call; MAX_DEPTH - 1];
        want.push(sleep);
        let want = want.join(";");
        for mode in ["--blocking", "--nonblocking"] {
            let rec = target.host_path(&format!("deep{mode}.fsr"));
            let pid = target.pid.to_string();
            let out = framescope(&[
                "record",
                "--pid",
                &pid,
                mode,
                "--duration",
                "1",
                "--rate",
                "50",
                "-o",
                rec.to_str().expect("path"),
            ]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{} {mode}: {stderr}", py.name);
            let summary = stderr
                .lines()
                .find(|l| l.starts_with("framescope: ") && l.contains(" samples, "))
                .unwrap_or_else(|| panic!("{}: no summary: {stderr}", py.name));
            let samples = number_before(summary, " samples,") as u64;
            assert!(samples >= 10, "{} {mode}: {summary}", py.name);
            assert_eq!(
                number_before(summary, " errors"),
                0.0,
                "{} {mode}: {summary}",
                py.name
            );
            assert_eq!(
                number_before(summary, " truncated") as u64,
                samples,
                "{} {mode}: every sample's stack is truncated: {summary}",
                py.name
            );
            let stacks = collapsed(&rec);
            let total: u64 = stacks.iter().map(|(_, n)| n).sum();
            assert_eq!(total, samples, "{} {mode}: {stacks:?}", py.name);
            for (stack, _) in &stacks {
                assert!(
                    *stack == want,
                    "{} {mode}: a stack of {} frames, starting {:?}",
                    py.name,
                    stack.split(';').count(),
                    &stack[..stack.len().min(200)]
                );
            }
            let summary = framescope::recording::read(&rec)
                .expect("read the recording")
                .summary
                .expect("a summary");
            assert_eq!(summary.truncated_stacks, samples, "{} {mode}", py.name);
        }
    });
}

/// What `record` says on its summary line about a one-second recording of `pid`.
fn record_a_second(py: &Python, pid: u32, rec: &Path, mode: &str) -> String {
    let pid = pid.to_string();
    let out = framescope(&[
        "record",
        "--pid",
        &pid,
        mode,
        "--duration",
        "1",
        "--rate",
        "50",
        "-o",
        rec.to_str().expect("path"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} {mode}: {stderr}", py.name);
    stderr
        .lines()
        .find(|l| l.starts_with("framescope: ") && l.contains(" samples, "))
        .unwrap_or_else(|| panic!("{}: no summary: {stderr}", py.name))
        .to_string()
}

#[test]
fn names_longer_than_the_limit_are_shortened_with_a_marker() {
    let _cpu = among_others();
    const LONG: usize = 100_000;
    for_each_python(|py| {
        let mut target = spawn(py, "hostile.py", &["longname", &LONG.to_string()]);
        target.wait_ready();
        settle();
        let kept = |c: &str, n: usize| format!("{}…[+{} chars]", c.repeat(n), LONG - n);
        let function = kept(if py.minor() >= 11 { "q" } else { "f" }, 65_536);
        for mode in [&[][..], &["--nonblocking"][..]] {
            let (dump, _) = dump_json(py, target.pid, mode);
            let main = main_thread(&dump, target.pid);
            assert!(
                main["error"].is_null(),
                "{} {mode:?}: error {}",
                py.name,
                main["error"]
            );
            assert!(
                main["name"] == kept("t", 4096),
                "{} {mode:?}: thread name",
                py.name
            );
            let f = &main["frames"][0];
            assert!(
                f["function"] == function.as_str(),
                "{} {mode:?}: function",
                py.name
            );
            assert!(f["name"] == kept("f", 65_536), "{} {mode:?}: name", py.name);
            assert!(f["file"] == kept("p", 65_536), "{} {mode:?}: file", py.name);
            assert_eq!(
                f["line"],
                line_of("LONG_SLEEP_LINE"),
                "{} {mode:?}",
                py.name
            );
            assert_eq!(
                main["frames"][1]["function"], "longname",
                "{} {mode:?}",
                py.name
            );
        }
        let rec = target.host_path("long.fsr");
        let summary = record_a_second(py, target.pid, &rec, "--nonblocking");
        assert_eq!(
            number_before(&summary, " errors"),
            0.0,
            "{}: {summary}",
            py.name
        );
        let reads = number_before(&summary, " reads/sample");
        assert!(reads < 3.0, "{}: {summary}", py.name);
    });
}

#[test]
fn a_thread_id_given_as_pid_profiles_its_process() {
    let _cpu = among_others();
    for_each_python(|py| {
        let mut target = spawn(py, "hostile.py", &["threads"]);
        let tid: u32 = ready_then_line(&mut target)
            .parse()
            .expect("the worker's tid");
        assert_ne!(tid, target.pid);
        let note = format!(
            "pid {tid} is a thread of process {0}; profiling {0}",
            target.pid
        );

        let (dump, stderr) = dump_json(py, tid, &[]);
        assert!(stderr.contains(&note), "{}: {stderr}", py.name);
        assert_eq!(dump["pid"], target.pid, "{}", py.name);
        let tids: Vec<u64> = dump["threads"]
            .as_array()
            .expect("threads")
            .iter()
            .filter_map(|t| t["os_tid"].as_u64())
            .collect();
        assert!(
            tids.contains(&(target.pid as u64)) && tids.contains(&(tid as u64)),
            "{}: both threads, not just the one named: {tids:?}",
            py.name
        );

        // The recording goes on after the thread named ends: the process runs on.
        let rec = target.host_path("tid.fsr");
        let record = std::process::Command::new(env!("CARGO_BIN_EXE_framescope"))
            .args(["record", "--pid", &tid.to_string(), "--duration", "1.5"])
            .args(["--rate", "50", "-o", rec.to_str().expect("path")])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("framescope runs");
        std::thread::sleep(std::time::Duration::from_millis(500));
        std::fs::write(target.host_path("stop-worker"), "").expect("stop the worker");
        let out = record.wait_with_output().expect("record ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", py.name);
        assert!(stderr.contains(&note), "{}: {stderr}", py.name);
        let summary = stderr
            .lines()
            .find(|l| l.starts_with("framescope: ") && l.contains(" samples, "))
            .unwrap_or_else(|| panic!("{}: no summary: {stderr}", py.name));
        assert!(
            summary.contains("(duration reached)")
                && summary.contains(&format!("pid {},", target.pid)),
            "{}: {summary}",
            py.name
        );
    });
}

#[test]
fn a_zombie_is_called_one() {
    let _cpu = among_others();
    let py = &common::matrix()[0];
    let mut target = spawn(py, "hostile.py", &["zombie"]);
    let child = ready_then_line(&mut target);
    let start = std::time::Instant::now();
    loop {
        let state = std::fs::read_to_string(format!("/proc/{child}/status")).expect("the child");
        if state.contains("State:\tZ") {
            break;
        }
        assert!(start.elapsed().as_secs() < 10, "not a zombie: {state}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for command in ["dump", "record"] {
        let out = framescope(
            &[command, "--pid", &child, "--duration", "1"][..if command == "dump" { 3 } else { 5 }],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "{command}: {stderr}");
        let want = format!(
            "process {child} is a zombie: it has exited and its parent (pid {}) has not reaped it yet",
            target.pid
        );
        assert!(stderr.contains(&want), "{command}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{command}: {stderr}");
    }
}
