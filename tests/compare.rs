//! `framescope compare` on a real git repository and real CPythons (two of the matrix:
//! compare only orchestrates record and diff, which are tested on all of it).
//!
//! The repository tells the FizzBuzzFibonacci story of examples/ci-diff/ in three commits:
//! a naive recursive fibonacci, then an iterative one, then a slower message formatter.
//! The user's working tree carries an unstaged edit, a staged file and an untracked one,
//! and must come out of every compare exactly as it went in; every compare runs with a
//! TMPDIR of its own, which must be empty afterwards (the checkouts removed), and `git
//! worktree list` must show the main tree alone — after success, a failed gate, a failed
//! run, and SIGINT.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{matrix, Python};
use serde_json::Value;

/// The interpreters used: a pyenv build and Debian's.
const PYTHONS: [&str; 2] = ["pyenv-3.12", "debian-3.11"];

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/ci-diff")
        .join(name)
}

fn pythons() -> Vec<Python> {
    let all = matrix();
    let chosen: Vec<Python> = all
        .into_iter()
        .filter(|p| PYTHONS.contains(&p.name.as_str()))
        .collect();
    assert!(!chosen.is_empty(), "none of {PYTHONS:?} is installed");
    chosen
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A directory of the test's own, removed when dropped.
struct Dir(PathBuf);

impl std::ops::Deref for Dir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Dir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh directory under the system's temporary directory: outside any git repository
/// (the checkout this test runs in is one, and would be found from inside it).
fn fresh_dir(what: &str) -> Dir {
    let dir = std::env::temp_dir().join(format!(
        "framescope-compare-test-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    Dir(dir)
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The story repository: tags `naive`, `iterative` and `slowfmt`, and a `crash` commit
/// whose benchmark fails; the working tree left dirty on purpose.
fn story() -> Dir {
    let repo = fresh_dir("repo");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "test@example.com"]);
    git(&repo, &["config", "user.name", "test"]);
    for f in ["app.py", "bench.py", "message.py"] {
        std::fs::copy(example(&format!("fizzbuzz/{f}")), repo.join(f)).expect("copy");
    }
    let commit = |tag: &str, from: &str, to: &str| {
        std::fs::copy(example(from), repo.join(to)).expect("copy");
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", tag]);
        git(&repo, &["tag", tag]);
    };
    commit("naive", "naive_fibonacci.py", "fibonacci.py");
    commit("iterative", "fizzbuzz/fibonacci.py", "fibonacci.py");
    commit("slowfmt", "slow_message.py", "message.py");
    std::fs::write(
        repo.join("bench.py"),
        "import time\ntime.sleep(0.3)\nraise SystemExit('the benchmark is broken: 1/0')\n",
    )
    .expect("write");
    git(&repo, &["commit", "-q", "-am", "crash"]);
    git(&repo, &["tag", "crash"]);
    git(&repo, &["checkout", "-q", "slowfmt"]);
    git(&repo, &["checkout", "-q", "-b", "work"]);
    // The user's own unfinished work, which compare must not touch.
    let mut bench = std::fs::read_to_string(repo.join("bench.py")).expect("read");
    bench.push_str("# an unstaged edit\n");
    std::fs::write(repo.join("bench.py"), bench).expect("write");
    std::fs::write(repo.join("staged.txt"), "staged\n").expect("write");
    git(&repo, &["add", "staged.txt"]);
    std::fs::write(repo.join("untracked.txt"), "untracked\n").expect("write");
    repo
}

/// Everything about the user's tree that compare must leave alone.
fn tree_state(repo: &Path) -> Vec<String> {
    let mut state = vec![
        git(repo, &["status", "--porcelain=v1", "--untracked-files=all"]),
        git(repo, &["diff"]),
        git(repo, &["diff", "--cached"]),
        git(repo, &["rev-parse", "HEAD"]),
        git(repo, &["symbolic-ref", "HEAD"]),
        git(repo, &["worktree", "list", "--porcelain"]),
    ];
    for f in [
        "app.py",
        "bench.py",
        "fibonacci.py",
        "message.py",
        "staged.txt",
    ] {
        state.push(std::fs::read_to_string(repo.join(f)).unwrap_or_default());
    }
    state
}

/// `framescope compare ARGS -- PYTHON -S bench.py 100000 1` in `repo`, with TMPDIR `tmp`.
fn compare_command(py: &Python, repo: &Path, tmp: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_framescope"));
    cmd.arg("compare")
        .args(args)
        .args(["--", &py.python, "-S", "bench.py", "200000", "1"])
        .current_dir(repo)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null());
    cmd
}

fn run_compare(py: &Python, repo: &Path, args: &[&str]) -> Output {
    let tmp = fresh_dir("tmp");
    let before = tree_state(repo);
    let out = compare_command(py, repo, &tmp, args)
        .output()
        .expect("framescope runs");
    assert_clean(repo, &tmp, &before, &out);
    out
}

/// The user's tree as it was, no checkout left behind.
fn assert_clean(repo: &Path, tmp: &Path, before: &[String], out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let left: Vec<_> = std::fs::read_dir(tmp)
        .expect("tmp")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}\n{stderr}");
    assert_eq!(
        tree_state(repo),
        before,
        "the user's tree changed\n{stderr}"
    );
    let worktrees = git(repo, &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "{worktrees}");
}

fn function<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .find(|f| f["function"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc:#}"))
}

#[test]
fn the_fix_shows_fibonacci_faster_and_changed() {
    let _cpu = common::alone();
    let repo = story();
    for py in pythons() {
        let out = run_compare(
            &py,
            &repo,
            // Shares of each run: wall time on this busy machine moves whole runs by
            // half, while fibonacci's share falls from about 60% to 3%.
            &[
                "naive",
                "iterative",
                "--runs",
                "3",
                "--normalize",
                "--format",
                "json",
                "--min-share",
                "2",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", py.name);
        let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let fib = function(&doc, "fibonacci");
        assert_eq!(fib["file"], "fibonacci.py", "{}: repository path", py.name);
        assert_eq!(fib["verdict"], "faster", "{}: {fib:#}\n{stderr}", py.name);
        assert_eq!(fib["changed"], true, "{}", py.name);
        for untouched in ["notification", "run", "main"] {
            let f = function(&doc, untouched);
            assert_eq!(f["changed"], false, "{}: {f:#}", py.name);
        }
        assert!(doc["functions"]
            .as_array()
            .expect("functions")
            .iter()
            .all(|f| f["changed"].is_boolean()));
        // Both sides alternated, three runs each.
        assert_eq!(doc["base"]["runs"].as_array().map(Vec::len), Some(3));
        assert_eq!(doc["head"]["runs"].as_array().map(Vec::len), Some(3));
        let order: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("framescope: "))
            .filter_map(|l| l.split_once(" run ").map(|(side, _)| side))
            .collect();
        assert_eq!(
            order,
            [
                "base warm-up",
                "head warm-up",
                "base",
                "head",
                "base",
                "head",
                "base",
                "head"
            ],
            "{stderr}"
        );
    }
}

#[test]
fn the_gate_names_the_slower_formatter_first() {
    let _cpu = common::alone();
    let repo = story();
    let keep = fresh_dir("keep");
    let py = &pythons()[0];
    let out = run_compare(
        py,
        &repo,
        &[
            "iterative",
            "slowfmt",
            "--runs",
            "4",
            "--min-share",
            "5",
            "--fail-on-regression",
            "5%",
            "--format",
            "table",
            "--keep",
            keep.to_str().expect("utf-8 path"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let gate: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("framescope: "))
        .collect();
    assert!(
        gate[0].starts_with("format_message (message.py:4) got slower: "),
        "{stderr}"
    );
    assert!(gate[0].contains("its own time grew by"), "{}", gate[0]);
    assert!(gate[0].ends_with("; its code changed"), "{}", gate[0]);
    // Its callers are folded into one line, not a sentence each.
    assert_eq!(
        gate.iter().filter(|l| l.contains("got slower:")).count(),
        1,
        "{stderr}"
    );
    assert!(
        gate.len() == 1
            || gate[1].starts_with("callers that got slower by more than 5% only with it: "),
        "{stderr}"
    );
    // The table marks the changed function, and only it among those shown.
    let marked: Vec<&str> = stdout.lines().filter(|l| l.contains(" changed ")).collect();
    assert_eq!(marked.len(), 1, "{stdout}");
    assert!(
        marked[0].ends_with("format_message (message.py:4)"),
        "{stdout}"
    );
    // The recordings kept can be diffed again.
    let kept: Vec<String> = (1..=4)
        .flat_map(|i| [format!("base-{i}.fsr"), format!("head-{i}.fsr")])
        .collect();
    for name in &kept {
        assert!(keep.join(name).is_file(), "{name} not kept");
    }
    let again = common::framescope(&[
        "diff",
        "--base",
        keep.join("base-1.fsr").to_str().expect("path"),
        keep.join("base-2.fsr").to_str().expect("path"),
        "--head",
        keep.join("head-1.fsr").to_str().expect("path"),
        keep.join("head-2.fsr").to_str().expect("path"),
        "--format",
        "json",
    ]);
    assert_eq!(again.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert!(
        doc["functions"]
            .as_array()
            .expect("functions")
            .iter()
            .all(|f| f["changed"].is_null()),
        "diff knows no changes"
    );
}

#[test]
fn a_failing_run_names_its_ref_and_stops_without_a_verdict() {
    let _cpu = common::among_others();
    let repo = story();
    let py = &pythons()[0];
    // A recorded run, and (by default) the warm-up run before them.
    for (warmup, which) in [
        ("0", "the head run 1 of 2"),
        ("1", "the head warm-up run 1 of 1"),
    ] {
        let out = run_compare(
            py,
            &repo,
            &[
                "slowfmt",
                "crash",
                "--runs",
                "2",
                "--warmup",
                warmup,
                "--fail-on-regression",
                "5",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(13), "{stderr}");
        assert!(out.stdout.is_empty(), "no verdict");
        assert!(
            stderr.contains(&format!("framescope: {which} (crash at ")),
            "{stderr}"
        );
        assert!(stderr.contains("failed (exit status 1)"), "{stderr}");
        assert!(
            stderr.contains("  | the benchmark is broken: 1/0"),
            "the tail of its stderr: {stderr}"
        );
        assert!(!stderr.contains("got slower"), "{stderr}");
    }
}

#[test]
fn bad_repositories_and_refs_are_one_line_errors() {
    let _cpu = common::among_others();
    let repo = story();
    let py = &pythons()[0];
    let one_line = |out: &Output, code: i32, says: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    };
    let out = run_compare(py, &repo, &["naive", "no-such-ref"]);
    one_line(&out, 12, "unknown git ref `no-such-ref`");

    let elsewhere = fresh_dir("not-a-repo");
    let out = run_compare(
        py,
        &repo,
        &[
            "-C",
            elsewhere.to_str().expect("path"),
            "naive",
            "iterative",
        ],
    );
    one_line(&out, 12, "is not in a git repository");

    // No git on PATH (an empty directory is the whole PATH).
    let tmp = fresh_dir("tmp");
    let before = tree_state(&repo);
    let out = compare_command(py, &repo, &tmp, &["naive", "iterative"])
        .env("PATH", &*fresh_dir("empty-path"))
        .output()
        .expect("framescope runs");
    assert_clean(&repo, &tmp, &before, &out);
    one_line(&out, 12, "no `git` on PATH");

    let out = run_compare(py, &repo, &["naive", "iterative", "--runs", "0"]);
    one_line(&out, 2, "--runs must be between 1 and");
}

#[test]
fn sigint_ends_the_runs_and_removes_the_checkouts() {
    let _cpu = common::among_others();
    let repo = story();
    // A benchmark that would run for a minute.
    git(&repo, &["checkout", "-q", "-b", "sleepy", "iterative"]);
    std::fs::write(
        repo.join("bench.py"),
        "import time\nfor _ in range(6000):\n    time.sleep(0.01)\n",
    )
    .expect("write");
    git(&repo, &["commit", "-q", "-am", "sleepy"]);
    let py = &pythons()[0];
    let tmp = fresh_dir("tmp");
    let before = tree_state(&repo);
    let mut child = compare_command(
        py,
        &repo,
        &tmp,
        &["sleepy", "iterative", "--runs", "2", "--warmup", "0"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("framescope starts");
    // Wait until the first run records (its recording appears), then interrupt.
    let start = Instant::now();
    let recording = || {
        std::fs::read_dir(&tmp)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|dir| {
                let dir = dir.ok()?.path();
                dir.join("base-1.fsr").exists().then_some(dir)
            })
    };
    let work = loop {
        if let Some(dir) = recording() {
            break dir;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("no recording started");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let waited = Instant::now();
    let out = child.wait_with_output().expect("framescope ends");
    assert!(
        waited.elapsed() < Duration::from_secs(10),
        "took {:?} to stop",
        waited.elapsed()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted during the base run 1 of 2 (sleepy at "),
        "{stderr}"
    );
    assert!(!work.exists());
    assert_clean(&repo, &tmp, &before, &out);
    // No process is left running in the checkout.
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) {
            assert!(
                !cwd.starts_with(&work),
                "{:?} still runs in the checkout",
                entry.path()
            );
        }
    }
}
