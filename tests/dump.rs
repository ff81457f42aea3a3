//! `framescope dump` against real interpreters of the whole matrix: the stacks it prints
//! must be exactly those the target reports about itself (`sys._current_frames()`), in
//! blocking and nonblocking mode; and every error a user can cause is produced for real.

mod common;

use std::time::Duration;

use common::truth::{stacks_from_dump, stacks_from_truth};
use common::{for_each_python, framescope, framescope_ok, spawn, Python};
use serde_json::Value;

fn dump_json(pid: u32, extra: &[&str]) -> Value {
    let pid = pid.to_string();
    let mut args = vec!["dump", "--pid", &pid, "--json"];
    args.extend_from_slice(extra);
    let out = framescope_ok(&args);
    serde_json::from_slice(&out.stdout).expect("dump --json is JSON")
}

fn check_exact_stacks(py: &Python, extra: &[&str]) {
    let mut target = spawn(py, "stacks.py", &["{dir}/truth.json"]);
    let truth: Value =
        serde_json::from_str(&target.wait_for_file("truth.json", Duration::from_secs(30)))
            .expect("truth");
    let expected = stacks_from_truth(&truth);
    let dump = dump_json(target.pid, extra);
    assert_eq!(dump["pid"].as_u64(), Some(target.pid as u64));
    let actual = stacks_from_dump(&dump, truth["reporter"].as_u64());
    assert_eq!(
        actual.len(),
        expected.len(),
        "thread count; dump: {actual:#?}\ntruth: {expected:#?}"
    );
    for (tid, (name, stack)) in &expected {
        let (got_name, got_stack) = actual
            .get(tid)
            .unwrap_or_else(|| panic!("thread {tid} ({name:?}) missing from dump"));
        assert_eq!(got_stack, stack, "stack of thread {tid} ({name:?})");
        assert_eq!(got_name, name, "name of thread {tid}");
    }
    // The shapes under test are really there.
    let all: Vec<&String> = expected
        .values()
        .flat_map(|(_, s)| s.iter().map(|f| &f.0))
        .collect();
    for needle in [
        "numbers",
        "coroutine_inner",
        "key_function",
        "función_β",
        "関数_𠀋",
        "decorated",
        "__init__",
        "prop",
        "__getitem__",
        "counting",
        "catching",
    ] {
        assert!(
            all.iter().any(|f| f.ends_with(needle)),
            "{needle} not among the stacks"
        );
    }
    let main = expected
        .values()
        .find(|(n, _)| n.as_deref() == Some("MainThread"))
        .expect("main thread");
    assert_eq!(main.1.iter().filter(|f| f.0 == "recurse").count(), 41);
    let deep = expected
        .values()
        .find(|(n, _)| n.as_deref() == Some("deep-thread"))
        .expect("deep thread");
    assert_eq!(deep.1.iter().filter(|f| f.0 == "recurse").count(), 301);
    if py.minor() >= 11 {
        assert!(
            all.iter().any(|f| *f == "Outer.Inner.method"),
            "qualified names on 3.11+"
        );
    }
}

#[test]
fn dump_shows_exact_stacks_blocking() {
    for_each_python(|py| check_exact_stacks(py, &[]));
}

/// `--async` (which also reads the running tasks) leaves the stacks exact, the asyncio
/// thread's coroutines included.
#[test]
fn dump_async_keeps_exact_stacks() {
    for_each_python(|py| check_exact_stacks(py, &["--async"]));
}

#[test]
fn dump_shows_exact_stacks_nonblocking() {
    for_each_python(|py| check_exact_stacks(py, &["--nonblocking"]));
}

#[test]
fn dump_knows_who_holds_the_gil_and_who_is_on_cpu() {
    for_each_python(|py| {
        let mut target = spawn(py, "busy.py", &[]);
        target.wait_ready();
        std::thread::sleep(Duration::from_millis(200));
        let dump = dump_json(target.pid, &[]);
        let threads = dump["threads"].as_array().expect("threads");
        let spinner = threads
            .iter()
            .find(|t| t["os_tid"].as_u64() == Some(target.pid as u64))
            .expect("main thread");
        assert_eq!(spinner["frames"][0]["function"], "spin");
        assert_eq!(spinner["holds_gil"], true, "{spinner}");
        assert_eq!(spinner["on_cpu"], true, "{spinner}");
        let sleeper = threads
            .iter()
            .find(|t| t["os_tid"].as_u64() != Some(target.pid as u64))
            .expect("sleeper");
        assert_eq!(sleeper["frames"][0]["function"], "sleeper");
        assert_eq!(sleeper["holds_gil"], false);
        assert_eq!(sleeper["on_cpu"], false);
    });
}

fn expect_error(args: &[&str], code: i32, needle: &str) {
    let out = framescope(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code of {args:?}; stderr: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "stderr of {args:?} should mention {needle:?}: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn dump_of_a_dead_pid_says_so() {
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let pid = child.id();
    child.wait().expect("wait");
    expect_error(
        &["dump", "--pid", &pid.to_string()],
        3,
        "no process with pid",
    );
}

#[test]
fn dump_of_a_non_python_process_says_what_was_found() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    let pid = child.id().to_string();
    std::thread::sleep(Duration::from_millis(100));
    expect_error(&["dump", "--pid", &pid], 5, "is not running CPython");
    expect_error(&["dump", "--pid", &pid], 5, "sleep");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn dump_of_an_unsupported_python_names_its_version() {
    let root = std::env::var("PYENV_ROOT")
        .unwrap_or_else(|_| format!("{}/.pyenv", std::env::var("HOME").unwrap_or_default()));
    let old = format!("{root}/versions/3.7.16/bin/python3.7");
    if !std::path::Path::new(&old).exists() {
        eprintln!(
            "no CPython 3.7 at {old}; the unsupported-version case is covered by unit tests only"
        );
        return;
    }
    let mut child = std::process::Command::new(&old)
        .args(["-c", "import time; time.sleep(30)"])
        .spawn()
        .expect("python3.7");
    std::thread::sleep(Duration::from_millis(300));
    expect_error(
        &["dump", "--pid", &child.id().to_string()],
        6,
        "runs CPython 3.7.16",
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn dump_without_permission_says_what_to_do() {
    // An unprivileged user may not read a root process.
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    let pid = child.id().to_string();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_framescope"))
        .args(["dump", "--pid", &pid])
        .output()
        .expect("setpriv");
    let _ = child.kill();
    let _ = child.wait();
    // SAFETY: geteuid takes nothing and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot drop privileges to test the permission error");
        return;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    for needle in [
        "permission denied",
        "root",
        "CAP_SYS_PTRACE",
        "ptrace_scope",
        "--cap-add SYS_PTRACE",
    ] {
        assert!(stderr.contains(needle), "{needle} in: {stderr}");
    }
}

#[test]
fn dump_of_a_process_that_exits_meanwhile_fails_cleanly() {
    // Python processes that end within milliseconds of starting: every dump must either
    // succeed or report the exit, never panic or hang.
    for_each_python(|py| {
        for delay_ms in [0u64, 5, 20, 50, 100] {
            let target = spawn(py, "busy.py", &[]);
            let pid = target.pid;
            let killer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(delay_ms));
                // SAFETY: kill takes plain integers; at worst the target is already gone.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            });
            let out = framescope(&["dump", "--pid", &pid.to_string()]);
            killer.join().expect("killer");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert!(
                matches!(out.status.code(), Some(0 | 3 | 5 | 7)) || stderr.contains("exited"),
                "exit {:?}: {stderr}",
                out.status.code()
            );
            drop(target);
        }
    });
}
