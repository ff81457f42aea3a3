//! Shared by the integration tests: the interpreter matrix (from `scripts/provision
//! --list`, the one place it is defined), starting real Python programs on any of its
//! interpreters — chroot ones included — and running the framescope binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod truth;

/// One interpreter of the matrix.
#[derive(Debug, Clone)]
pub struct Python {
    pub name: String,
    /// "/" for the host, else the chroot directory.
    pub root: PathBuf,
    /// Path of the interpreter inside `root`.
    pub python: String,
}

impl Python {
    pub fn in_chroot(&self) -> bool {
        self.root != Path::new("/")
    }

    /// Minor version from the interpreter's name (`pyenv-3.12` → 12).
    pub fn minor(&self) -> u32 {
        let v = self.name.rsplit('-').next().unwrap_or("");
        v.trim_end_matches('d')
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }
}

/// Tests of one binary run two at a time. A test that checks the profile's time split
/// against the program's own clock takes the CPU to itself ([`alone`]): a second target
/// spinning beside it on this 2-core machine delays the sampler exactly while the program
/// is busy, and the split drifts by the scheduler's doing, not the profiler's. Every other
/// test of such a binary takes [`among_others`], so that it waits while one runs alone.
static CPU: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Holds the CPU for this test alone until the guard is dropped.
pub fn alone() -> std::sync::RwLockWriteGuard<'static, ()> {
    CPU.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Shares the CPU with the other tests that share it, not with one running [`alone`].
pub fn among_others() -> std::sync::RwLockReadGuard<'static, ()> {
    CPU.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every interpreter of the matrix present on this machine. In CI (`CI` set) or with
/// `FRAMESCOPE_REQUIRE_MATRIX=1`, a missing interpreter fails the test instead.
pub fn matrix() -> Vec<Python> {
    let out = Command::new(repo().join("scripts/provision"))
        .arg("--list")
        .output()
        .expect("scripts/provision --list runs");
    let missing = String::from_utf8_lossy(&out.stderr);
    let strict = std::env::var_os("CI").is_some()
        || std::env::var("FRAMESCOPE_REQUIRE_MATRIX").is_ok_and(|v| v == "1");
    if strict && missing.contains("missing:") {
        panic!("the interpreter matrix is incomplete (run scripts/provision as root):\n{missing}");
    }
    if !missing.trim().is_empty() {
        eprintln!("{missing}");
    }
    let list: Vec<Python> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(Python {
                name: f.next()?.into(),
                root: f.next()?.into(),
                python: f.next()?.into(),
            })
        })
        .collect();
    assert!(
        !list.is_empty(),
        "no interpreter of the matrix is installed; run scripts/provision"
    );
    list
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A running Python program; killed and cleaned up on drop.
pub struct Target {
    pub child: Child,
    pub pid: u32,
    /// The program's directory as the host sees it.
    pub host_dir: PathBuf,
    /// The same directory as the program sees it.
    pub inner_dir: String,
    _dir: ScenarioDir,
}

impl Target {
    /// A path inside the program's directory, as the host sees it.
    pub fn host_path(&self, name: &str) -> PathBuf {
        self.host_dir.join(name)
    }

    /// Reads the first line the program prints and checks that it says "ready".
    pub fn wait_ready(&mut self) {
        use std::io::BufRead;
        let mut line = String::new();
        let stdout = self.child.stdout.as_mut().expect("stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the target prints a line");
        assert_eq!(line.trim(), "ready", "the target's first line");
    }

    /// Waits until `name` exists in the program's directory (the program writes it).
    pub fn wait_for_file(&mut self, name: &str, timeout: Duration) -> String {
        let path = self.host_path(name);
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return text;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the target exited ({status}) before writing {name}");
            }
            assert!(start.elapsed() < timeout, "no {name} after {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory holding a copy of tests/scenarios and tests/bench, visible to one interpreter
/// (inside its chroot when it has one); removed on drop.
pub struct ScenarioDir {
    /// As the host sees it.
    pub host: PathBuf,
    /// As the interpreter sees it.
    pub inner: String,
}

impl ScenarioDir {
    pub fn new(py: &Python) -> ScenarioDir {
        let inner = format!(
            "/tmp/framescope-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let host = if py.in_chroot() {
            py.root.join(inner.trim_start_matches('/'))
        } else {
            PathBuf::from(&inner)
        };
        std::fs::create_dir_all(&host).expect("create scenario dir");
        // The benchmark's targets too (churn.py's stacks are checked by a test).
        for from in ["tests/scenarios", "tests/bench"] {
            for entry in std::fs::read_dir(repo().join(from)).expect("scenarios") {
                let entry = entry.expect("entry");
                std::fs::copy(entry.path(), host.join(entry.file_name())).expect("copy scenario");
            }
        }
        ScenarioDir { host, inner }
    }

    /// The command line that runs `script` from this directory with `py` (`{dir}` in an
    /// argument becomes the directory as the interpreter sees it).
    pub fn argv(&self, py: &Python, script: &str, args: &[&str]) -> Vec<String> {
        let mut argv = Vec::new();
        if py.in_chroot() {
            argv.push("chroot".to_string());
            argv.push(py.root.to_string_lossy().into_owned());
        }
        argv.push(py.python.clone());
        argv.push(format!("{}/{script}", self.inner));
        argv.extend(args.iter().map(|a| a.replace("{dir}", &self.inner)));
        argv
    }
}

impl Drop for ScenarioDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.host);
    }
}

/// Copies tests/scenarios (and tests/bench) into a fresh directory the interpreter can see and runs
/// `script` there with `args` (`{dir}` in an argument becomes that directory).
pub fn spawn(py: &Python, script: &str, args: &[&str]) -> Target {
    spawn_with_env(py, script, args, &[])
}

/// [`spawn`] with extra environment variables.
pub fn spawn_with_env(py: &Python, script: &str, args: &[&str], env: &[(&str, &str)]) -> Target {
    let dir = ScenarioDir::new(py);
    let argv = dir.argv(py, script, args);
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", py.name));
    let pid = child.id();
    Target {
        child,
        pid,
        host_dir: dir.host.clone(),
        inner_dir: dir.inner.clone(),
        _dir: dir,
    }
}

/// Whether a process is alive and running (not a zombie, not stopped by a tracer).
pub fn running_freely(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.trim_start().chars().next());
    matches!(state, Some('R' | 'S' | 'D'))
}

/// Rows of a `table` report: function → (own samples, total samples, tottime, cumtime).
pub fn table_rows(text: &str) -> std::collections::HashMap<String, (u64, u64, f64, f64)> {
    let mut rows = std::collections::HashMap::new();
    let mut in_rows = false;
    for line in text.lines() {
        if line.trim_start().starts_with("own ")
            && line.contains("cumtime")
            && line.contains("function")
        {
            in_rows = true;
            continue;
        }
        if !in_rows {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 7 {
            in_rows = false;
            continue;
        }
        let num = |i: usize| f[i].parse::<f64>().unwrap_or(f64::NAN);
        rows.entry(f[6].to_string())
            .or_insert((num(0) as u64, num(1) as u64, num(4), num(5)));
    }
    rows
}

/// Runs the framescope binary.
pub fn framescope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_framescope"))
        .args(args)
        .output()
        .expect("framescope runs")
}

/// Runs the framescope binary with `args`; fails the test, with its stderr, unless it
/// exits 0.
pub fn framescope_ok(args: &[&str]) -> Output {
    let out = framescope(args);
    assert!(
        out.status.success(),
        "framescope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `check` for every interpreter, collecting failures (a panic message each), and
/// fails once at the end listing all of them.
pub fn for_each_python(check: impl Fn(&Python) + std::panic::RefUnwindSafe) {
    for_each_of(&matrix(), check);
}

/// Runs `check` on each of `pythons`, collecting failures ("NAME: panic message"), and
/// fails once at the end listing all of them.
pub fn for_each_of(pythons: &[Python], check: impl Fn(&Python) + std::panic::RefUnwindSafe) {
    let mut failures = Vec::new();
    for py in pythons {
        match std::panic::catch_unwind(|| check(py)) {
            Ok(()) => eprintln!("ok: {}", py.name),
            Err(e) => failures.push(format!("{}: {}", py.name, panic_message(e.as_ref()))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} interpreters failed:\n{}",
        failures.len(),
        pythons.len(),
        failures.join("\n\n")
    );
}

/// The text a panic carried (a `String` or `&str` payload; empty for any other).
/// The number just before `word` in a summary line (`(` stripped: "(1.0 reads/sample").
pub fn number_before(summary: &str, word: &str) -> f64 {
    let at = summary
        .find(word)
        .unwrap_or_else(|| panic!("{word}: {summary}"));
    summary[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.trim_start_matches('(').parse().ok())
        .unwrap_or_else(|| panic!("{word}: {summary}"))
}

pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The interpreters of the matrix called `names`, in that order; panics naming the first
/// one that is not provisioned.
pub fn pythons_named(names: &[&str]) -> Vec<Python> {
    let all = matrix();
    names.iter().map(|name| named_in(&all, name)).collect()
}

/// The interpreter of the matrix called `name`; panics when it is not provisioned.
pub fn python_named(name: &str) -> Python {
    named_in(&matrix(), name)
}

fn named_in(all: &[Python], name: &str) -> Python {
    all.iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} is not installed; run scripts/provision"))
        .clone()
}

/// A fresh path `name` in the test binary's scratch directory `area` (under cargo's
/// `CARGO_TARGET_TMPDIR`); a file left there by an earlier run is removed.
pub fn scratch(area: &str, name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(area);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// A fresh, empty directory `name` in the test binary's scratch directory `area` (under
/// cargo's `CARGO_TARGET_TMPDIR`); whatever an earlier run left there is removed.
pub fn scratch_dir(area: &str, name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(area)
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
