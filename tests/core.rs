//! `framescope dump --core` on real core files: `gcore` of the stacks scenario on the
//! matrix's interpreters (shared libpython, static, debug builds) must show exactly the
//! stacks and thread names the program reported about itself, as text and JSON, and the
//! program must be left running. Every error a user can meet with a core is produced for
//! real: the core of a non-Python process, a truncated core, a file that is no core, a
//! libpython that is gone, moved (`--python-binary`) or another build.
//!
//! The interpreters of the Debian unstable chroot are left out of the gcore test: their
//! glibc (2.42) guards thread stacks with madvise guard regions, and gdb 13's gcore writes
//! such a stack as zeros (a read across the guard fails and is silently zero-filled), which
//! loses 3.13+'s entry frames on the C stack. The kernel writes those stacks whole, so they
//! are checked on kernel core dumps instead: the process is killed with SIGABRT under
//! `ulimit -c unlimited` and the kernel writes `core` into its working directory (the
//! machine's `core_pattern` is the plain `core`), which is how a crashed service leaves one.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::truth::{stacks_from_dump, stacks_from_truth};
use common::{framescope, matrix, running_freely, spawn_with_env, Python, ScenarioDir, Target};
use serde_json::Value;

/// One arena for every thread: glibc's per-thread malloc arenas (64 MiB each, mostly
/// untouched) would otherwise make each core over a gigabyte.
const SMALL_CORE: &[(&str, &str)] = &[("MALLOC_ARENA_MAX", "1")];

/// Writes a core of the running process `pid` with gdb's gcore into `dir`; returns its path.
fn gcore(pid: u32, dir: &Path) -> PathBuf {
    let prefix = dir.join("core");
    let out = Command::new("gcore")
        .arg("-o")
        .arg(&prefix)
        .arg(pid.to_string())
        .output()
        .expect("gcore runs (gdb is installed by scripts/provision)");
    let core = PathBuf::from(format!("{}.{pid}", prefix.display()));
    assert!(
        out.status.success() && core.exists(),
        "gcore {pid} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    core
}

/// The interpreters whose cores are checked: every one outside the chroot.
fn host_pythons() -> Vec<Python> {
    let all = matrix();
    let host: Vec<Python> = all.iter().filter(|p| !p.in_chroot()).cloned().collect();
    assert!(!host.is_empty(), "no interpreter of the matrix on the host");
    host
}

fn dump_core(core: &Path, extra: &[&str]) -> std::process::Output {
    let core = core.to_string_lossy();
    let mut args = vec!["dump", "--core", &core];
    args.extend_from_slice(extra);
    framescope(&args)
}

fn dump_core_json(core: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = dump_core(core, &args);
    assert!(
        out.status.success(),
        "dump --core failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("dump --core --json is JSON")
}

/// Starts the stacks scenario and waits for its truth.
fn start_stacks(py: &Python) -> (Target, Value) {
    let mut target = spawn_with_env(py, "stacks.py", &["{dir}/truth.json"], SMALL_CORE);
    let truth: Value =
        serde_json::from_str(&target.wait_for_file("truth.json", Duration::from_secs(30)))
            .expect("truth");
    (target, truth)
}

fn check_core_matches_truth(py: &Python) {
    let (target, truth) = start_stacks(py);
    let core = gcore(target.pid, &target.host_dir);
    assert!(
        running_freely(target.pid),
        "the process is left running after gcore"
    );
    let expected = stacks_from_truth(&truth);
    let dump = dump_core_json(&core, &[]);
    assert_eq!(dump["pid"].as_u64(), Some(target.pid as u64));
    assert_eq!(dump["core"].as_str(), Some(&*core.to_string_lossy()));
    assert_eq!(dump["blocking"], true);
    let actual = stacks_from_dump(&dump, truth["reporter"].as_u64());
    assert_eq!(actual, expected, "{}", py.name);
    for t in dump["threads"].as_array().expect("threads") {
        assert!(t["on_cpu"].is_null(), "a core knows no CPU state: {t}");
    }
    // The text form shows the same frames and names.
    let out = dump_core(&core, &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "Process {} (core file {}): CPython ",
            target.pid,
            core.display()
        )),
        "{text}"
    );
    for (tid, (name, stack)) in &expected {
        let name = name.as_deref().unwrap_or("");
        let header = text
            .lines()
            .position(|l| l.starts_with(&format!("Thread {tid} \"{name}\"")))
            .unwrap_or_else(|| panic!("thread {tid} {name} in:\n{text}"));
        let frames: Vec<&str> = text.lines().skip(header + 1).take(stack.len()).collect();
        let want: Vec<String> = stack
            .iter()
            .map(|(f, file, line)| format!("    {f} ({file}:{line})"))
            .collect();
        assert_eq!(frames, want, "text frames of thread {tid}");
    }
    assert!(running_freely(target.pid), "still running after the dump");
    let _ = std::fs::remove_file(&core);
}

#[test]
fn core_dump_shows_exact_stacks() {
    common::for_each_of(&host_pythons(), check_core_matches_truth);
}

fn expect_error(out: std::process::Output, code: i32, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} in: {stderr}");
    }
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn core_of_a_non_python_process_and_cut_cores_are_refused() {
    let dir = common::scratch_dir("core", "sleep");
    let mut sleep = Command::new("sleep").arg("60").spawn().expect("sleep");
    std::thread::sleep(Duration::from_millis(100));
    let core = gcore(sleep.id(), &dir);
    expect_error(
        dump_core(&core, &[]),
        8,
        &["was not running CPython", "sleep", &sleep.id().to_string()],
    );
    // Cut it: its own headers then ask for more than the file holds.
    let len = std::fs::metadata(&core).expect("core").len();
    let cut = dir.join("cut");
    std::fs::write(
        &cut,
        &std::fs::read(&core).expect("core")[..(len / 2) as usize],
    )
    .expect("cut");
    expect_error(dump_core(&cut, &[]), 8, &["truncated", "ulimit -c"]);
    std::fs::write(&cut, &std::fs::read(&core).expect("core")[..40]).expect("cut");
    expect_error(dump_core(&cut, &[]), 8, &["not a core file"]);
    let _ = sleep.kill();
    let _ = sleep.wait();
    // Not a core at all: text, a program, nothing.
    let text = dir.join("notes.txt");
    std::fs::write(&text, "hello\n").expect("text");
    expect_error(
        dump_core(&text, &[]),
        8,
        &["not a core file (no ELF header)"],
    );
    expect_error(
        dump_core(Path::new("/bin/true"), &[]),
        8,
        &["not a core file but an ELF", "not the program"],
    );
    expect_error(
        dump_core(&dir.join("missing"), &[]),
        8,
        &["cannot open the core file"],
    );
    // --python-binary without --core, --core with --pid: usage errors.
    let out = framescope(&["dump", "--pid", "1", "--python-binary", "/x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = framescope(&["dump", "--pid", "1", "--core", "/x"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A libpython loaded from a copy (LD_LIBRARY_PATH beats the interpreter's RUNPATH),
/// which then disappears, moves, or is replaced by another build.
#[test]
fn core_whose_libpython_is_gone_moved_or_another_build() {
    let pythons = host_pythons();
    let Some(py) = pythons.iter().find(|p| p.name == "pyenv-3.12") else {
        eprintln!("no pyenv-3.12: the libpython cases are not run");
        return;
    };
    let other = pythons
        .iter()
        .find(|p| p.name == "pyenv-3.11")
        .expect("pyenv-3.11 (another libpython build)");
    let libdir = |p: &Python| {
        Path::new(&p.python)
            .parent()
            .and_then(Path::parent)
            .expect("prefix")
            .join("lib")
    };
    let original = libdir(py).join("libpython3.12.so.1.0");
    let dir = common::scratch_dir("core", "libpython");
    let copy = dir.join("libpython3.12.so.1.0");
    std::fs::copy(&original, &copy).expect("copy libpython");
    let lib_path = dir.to_string_lossy().into_owned();
    let mut env = SMALL_CORE.to_vec();
    env.push(("LD_LIBRARY_PATH", &lib_path));
    let mut target = spawn_with_env(py, "stacks.py", &["{dir}/truth.json"], &env);
    let truth: Value =
        serde_json::from_str(&target.wait_for_file("truth.json", Duration::from_secs(30)))
            .expect("truth");
    let core = gcore(target.pid, &dir);
    let dump = dump_core_json(&core, &[]);
    assert_eq!(dump["binary"].as_str(), Some(&*copy.to_string_lossy()));
    drop(target);

    // Gone: the message names it and says what to do.
    let moved = dir.join("moved.so");
    std::fs::rename(&copy, &moved).expect("move libpython");
    expect_error(
        dump_core(&core, &[]),
        8,
        &[&*copy.to_string_lossy(), "--python-binary"],
    );
    // Moved: --python-binary finds it; the stacks are the truth's.
    let moved_arg = moved.to_string_lossy().into_owned();
    let dump = dump_core_json(&core, &["--python-binary", &moved_arg]);
    assert_eq!(
        stacks_from_dump(&dump, truth["reporter"].as_u64()),
        stacks_from_truth(&truth)
    );
    // The same build elsewhere (the original) is accepted too: its build id matches.
    let original_arg = original.to_string_lossy().into_owned();
    let out = dump_core(&core, &["--python-binary", &original_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another build: refused, both build ids said.
    let wrong = libdir(other).join("libpython3.11.so.1.0");
    let wrong_arg = wrong.to_string_lossy().into_owned();
    let ours = build_id(&original);
    let theirs = build_id(&wrong);
    expect_error(
        dump_core(&core, &["--python-binary", &wrong_arg]),
        8,
        &["build id", &ours, &theirs, "not the file the process ran"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The GNU build id of a file as `readelf -n` prints it.
fn build_id(path: &Path) -> String {
    let out = Command::new("readelf")
        .arg("-n")
        .arg(path)
        .output()
        .expect("readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("a build id")
        .trim()
        .to_string()
}

/// Re-creates the offline walker's memory snapshots (tests/snapshots/*.snap, read by
/// `src/python/offline_tests.rs`) from the matrix: the stacks scenario on CPython 3.10,
/// 3.12 and 3.14, each paused and read once blocking and once not, every byte read kept.
/// Run `cargo test --release --test core -- --ignored generate_snapshots`.
#[test]
#[ignore]
fn generate_snapshots() {
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    std::fs::create_dir_all(&out_dir).expect("tests/snapshots");
    let all = matrix();
    for (name, file) in [
        ("pyenv-3.10", "3.10"),
        ("pyenv-3.12", "3.12"),
        ("sid-3.14", "3.14"),
    ] {
        let py = all
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} is not installed (scripts/provision)"));
        let (target, truth) = start_stacks(py);
        let snapshot = framescope::python::snapshot::Snapshot::record(target.pid, truth)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = snapshot.to_bytes();
        assert!(bytes.len() < 1 << 20, "{name}: {} bytes", bytes.len());
        let path = out_dir.join(format!("{file}.snap"));
        std::fs::write(&path, &bytes).expect("write snapshot");
        eprintln!(
            "{}: {} bytes, {} regions",
            path.display(),
            bytes.len(),
            snapshot.regions.len()
        );
    }
}

/// Where the kernel writes a core of `pid` whose working directory is `dir`, read from
/// `core_pattern`; `None` (with the reason) when the pattern sends cores elsewhere (a pipe
/// to systemd-coredump or apport, or an absolute path with `%` fields).
fn kernel_core_path(dir: &Path, pid: u32) -> Result<PathBuf, String> {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern")
        .map_err(|e| format!("core_pattern: {e}"))?;
    let pattern = pattern.trim();
    if pattern.starts_with('|') || pattern.contains('%') || pattern.contains('/') {
        return Err(format!(
            "core_pattern is {pattern:?}, not a plain file name"
        ));
    }
    let uses_pid =
        std::fs::read_to_string("/proc/sys/kernel/core_uses_pid").is_ok_and(|v| v.trim() == "1");
    Ok(if uses_pid {
        dir.join(format!("{pattern}.{pid}"))
    } else {
        dir.join(pattern)
    })
}

/// Runs the stacks scenario with cores enabled, waits for its truth, kills it with SIGABRT
/// and checks that the kernel's core shows exactly the truth's stacks and thread names.
fn check_kernel_core_matches_truth(py: &Python) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;

    let dir = ScenarioDir::new(py);
    let argv = dir.argv(py, "stacks.py", &["{dir}/truth.json"]);
    // `cd` into the scenario directory (the core lands there) after chroot(1), which
    // changes to the new root's `/`.
    let (program, mut args, command) = if py.in_chroot() {
        (
            "chroot",
            vec![argv[1].clone(), "/bin/sh".into()],
            &argv[2..],
        )
    } else {
        ("sh", Vec::new(), &argv[..])
    };
    args.push("-c".into());
    args.push(r#"ulimit -c unlimited && cd "$0" && exec "$@""#.into());
    args.push(dir.inner.clone());
    args.extend(command.iter().cloned());
    let mut child = Command::new(program)
        .args(&args)
        .envs(SMALL_CORE.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("start {program}: {e}"))?;
    let pid = child.id();
    let truth_file = dir.host.join("truth.json");
    let started = std::time::Instant::now();
    while !truth_file.exists() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("no truth.json after 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(&truth_file).map_err(|e| format!("truth: {e}"))?,
    )
    .map_err(|e| format!("truth: {e}"))?;
    let core = kernel_core_path(&dir.host, pid)?;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid as i32, libc::SIGABRT) };
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    assert!(
        status.core_dumped(),
        "{}: the kernel wrote no core ({status:?})",
        py.name
    );
    assert!(core.exists(), "{}: no core at {}", py.name, core.display());

    let mut extra = Vec::new();
    let binary = py.root.join(py.python.trim_start_matches('/'));
    let binary = binary.to_string_lossy().into_owned();
    if py.in_chroot() {
        // The core names the interpreter as the process saw it, inside the chroot.
        let out = dump_core(&core, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(8), "{}: {stderr}", py.name);
        assert!(
            stderr.contains("--python-binary") && stderr.contains(&py.python),
            "{}: {stderr}",
            py.name
        );
        extra = vec!["--python-binary", binary.as_str()];
    }
    let dump = dump_core_json(&core, &extra);
    assert_eq!(dump["pid"].as_u64(), Some(u64::from(pid)), "{}", py.name);
    let expected = stacks_from_truth(&truth);
    let actual = stacks_from_dump(&dump, truth["reporter"].as_u64());
    assert_eq!(actual, expected, "{}", py.name);
    let _ = std::fs::remove_file(&core);
    Ok(())
}

/// Kernel core dumps of every interpreter in the chroot (static, debug builds: the ones
/// gcore cannot write whole) and of one shared-libpython build.
#[test]
fn kernel_core_dump_shows_exact_stacks() {
    if let Err(why) = kernel_core_path(Path::new("."), 0) {
        // A desktop with systemd-coredump: cores do not land in a directory we choose.
        // CI machines keep the kernel's default, and there the test must run.
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipped: {why}");
        return;
    }
    let pythons: Vec<Python> = matrix()
        .into_iter()
        .filter(|p| p.in_chroot() || p.name == "pyenv-3.12")
        .collect();
    assert!(pythons.len() >= 2, "{pythons:?}");
    common::for_each_of(&pythons, |py| {
        if let Err(e) = check_kernel_core_matches_truth(py) {
            panic!("{e}");
        }
    });
}
