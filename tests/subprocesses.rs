//! `--subprocesses` against real process trees (tests/scenarios/tree.py): a child that
//! starts 0.3 s late through `sh -c '… exec python'`, a parent on one CPython starting a
//! child on another, a zombie child, a worker killed with SIGKILL mid-recording (under
//! `--blocking`, and nothing left stopped), the warning without the flag, the `report
//! --processes/--pid` views and `dump --subprocesses --json`. The heavy real-world trees
//! (gunicorn, pytest-xdist, multiprocessing pools, the cost benchmark) are elsewhere.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{alone, among_others, framescope, matrix, running_freely, Python, ScenarioDir};

/// The interpreters these tests use: two pyenv builds (libpython), and the Debian one
/// (CPython linked into the executable), when present.
fn pythons() -> Vec<Python> {
    let all = matrix();
    ["pyenv-3.11", "pyenv-3.12", "debian-3.11"]
        .iter()
        .filter_map(|name| all.iter().find(|p| p.name == *name).cloned())
        .collect()
}

fn python(name: &str) -> Option<Python> {
    matrix().into_iter().find(|p| p.name == name)
}

/// Processes a test's target started, killed when the test ends (even by a panic).
struct KillOnDrop(Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: kill(2) on a process the test's own target started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

fn run_ok(args: &[&str]) -> (String, String) {
    let out = framescope(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "framescope {args:?}: {stderr}");
    (String::from_utf8(out.stdout).expect("utf-8"), stderr)
}

/// The collapsed lines of a report as (stack, count).
fn collapsed(args: &[&str]) -> Vec<(String, u64)> {
    let mut all = vec!["report", "--format", "collapsed"];
    all.extend_from_slice(args);
    let (text, _) = run_ok(&all);
    text.lines()
        .filter_map(|l| {
            let (stack, n) = l.rsplit_once(' ')?;
            Some((stack.to_string(), n.parse().ok()?))
        })
        .collect()
}

/// The pids of the processes a recording holds, from `report --pid 0`'s error.
fn recorded_pids(rec: &str) -> Vec<u32> {
    let out = framescope(&["report", rec, "--pid", "0"]);
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let list = text
        .split("its processes are: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no process list in {text:?}"));
    list.trim()
        .split(", ")
        .map(|p| p.parse().expect("a pid"))
        .collect()
}

#[test]
fn a_child_started_late_through_sh_exec_is_sampled_with_its_exact_stack() {
    let _cpu = among_others();
    for py in pythons() {
        let dir = ScenarioDir::new(&py);
        let rec = dir.host.join("tree.fsr");
        let rec_s = rec.to_string_lossy().into_owned();
        let mut args = vec![
            "record".to_string(),
            "--subprocesses".into(),
            "-o".into(),
            rec_s.clone(),
            "--".into(),
        ];
        args.extend(dir.argv(&py, "tree.py", &["delayed", &py.python, "{dir}"]));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, stderr) = run_ok(&args);
        // The parent and the child (and, on a loaded machine, the shell's fork when it
        // had not exec'd 10 ms after: for that while it was a copy of the parent).
        assert!(
            stderr.contains("Python processes sampled"),
            "{}: {stderr}",
            py.name
        );
        let file = format!("{}/tree.py", dir.inner);
        let pids = recorded_pids(&rec_s);
        // The child: the process whose root frame names `tree.py child`.
        let suffix = format!(": {} {file} child;", py.python);
        let split = collapsed(&[&rec_s, "--processes"]);
        let child: u32 = split
            .iter()
            .find_map(|(s, _)| {
                let (head, _) = s.split_once(&suffix)?;
                head.strip_prefix("pid ")?.parse().ok()
            })
            .unwrap_or_else(|| panic!("{}: no child process in {split:?}", py.name));
        assert!(pids.contains(&child), "{}: {pids:?}", py.name);
        let expected = format!("<module> ({file}:1);main ({file}:46);child_spin ({file}:26)");
        let lines = collapsed(&[&rec_s, "--pid", &child.to_string()]);
        let busiest = lines.iter().max_by_key(|(_, n)| *n).expect("child samples");
        assert_eq!(busiest.0, expected, "{}: {lines:?}", py.name);
        // 0.6 s of CPU, counted in µs on the CPU clock: most of it is seen.
        assert!(busiest.1 > 400_000, "{}: {busiest:?}", py.name);
        // Split: the process is the root frame, labelled with its pid and command.
        let root = format!("pid {child}: {} {file} child;", py.python);
        assert!(
            split
                .iter()
                .any(|(s, _)| s.starts_with(&root) && s.ends_with(&expected)),
            "{}: no line under {root:?} in {split:?}",
            py.name
        );
        // Merged (the default): no process roots, the parent's function is there too.
        let merged = collapsed(&[&rec_s]);
        assert!(merged.iter().any(|(s, _)| s == &expected), "{}", py.name);
        assert!(
            merged
                .iter()
                .any(|(s, _)| s.ends_with(&format!("parent_spin ({file}:22);spin ({file}:16)"))),
            "{}: {merged:?}",
            py.name
        );
        assert!(
            merged.iter().all(|(s, _)| !s.starts_with("pid ")),
            "{}",
            py.name
        );
    }
}

/// CPU seconds of the collapsed lines (µs on the CPU clock) whose stack passes `keep`.
fn cpu_seconds(lines: &[(String, u64)], keep: impl Fn(&str) -> bool) -> f64 {
    lines
        .iter()
        .filter(|(s, _)| keep(s))
        .map(|(_, n)| *n as f64 / 1e6)
        .sum()
}

#[test]
fn cpu_used_before_a_childs_first_sample_is_not_charged_to_it() {
    let _cpu = among_others();
    for py in pythons() {
        // The child burns 0.5 s in early(), then execs into a new program (the same pid,
        // a new process for the recording) that burns 0.3 s in other_work(): the exec'd
        // program's first sample must not carry what the process used before it.
        let dir = ScenarioDir::new(&py);
        let rec = dir.host.join("execs.fsr").to_string_lossy().into_owned();
        let mut args = vec!["record", "--subprocesses", "-o", &rec];
        let argv = dir.argv(&py, "tree.py", &["execs", &py.python, "{dir}"]);
        args.push("--");
        args.extend(argv.iter().map(String::as_str));
        run_ok(&args);
        let read = |name: &str| -> f64 {
            let text = std::fs::read_to_string(dir.host.join(name)).expect("truth file");
            text.trim().parse().expect("a process_time")
        };
        // The exec'd program's own CPU time: its start-up and other_work().
        let (before_exec, at_end) = (read("early"), read("later"));
        assert!(before_exec > 0.45, "{}: {before_exec}", py.name);
        let truth = at_end - before_exec;
        let split = collapsed(&[&rec, "--processes", "--clock", "cpu"]);
        let file = format!("{}/tree.py", dir.inner);
        let later_root = format!(": {} {file} later {};", py.python, dir.inner);
        let later = cpu_seconds(&split, |s| s.contains(&later_root));
        let early = cpu_seconds(&split, |s| s.contains(&format!(";early ({file}:")));
        let report = format!("{}: {split:?}", py.name);
        // With the pre-exec 0.5 s charged again it would be above 0.8 s.
        assert!(later <= truth + 0.08, "{later} of {truth} s: {report}");
        assert!(later >= 0.5 * truth, "{later} of {truth} s: {report}");
        assert!((0.3..=0.6).contains(&early), "early {early} s: {report}");
    }
}

#[test]
fn eight_busy_children_get_nearly_every_sample_at_1_khz() {
    // Eight CPU-bound children on this 2-core machine (and whatever else runs on it): a
    // time-shared sampler, even at nice -10, wakes up behind them and missed 5-60% of
    // the ticks here; in the real-time class it misses almost none. And the tree's
    // workers are all attached before the loop starts.
    let _cpu = alone();
    let Some(py) = python("pyenv-3.12") else {
        eprintln!("skipped: pyenv-3.12 is needed");
        return;
    };
    let dir = ScenarioDir::new(&py);
    let argv = dir.argv(&py, "spinners.py", &["8", "20"]);
    let mut target = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the parent starts");
    // Its children die with it (spinners.py asks for SIGKILL on its death).
    let _parent = KillOnDrop(vec![target.id()]);
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(target.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("ready");
    assert_eq!(line.trim(), "ready");
    let pid = target.id().to_string();
    let rec = dir.host.join("eight.fsr").to_string_lossy().into_owned();
    let (_, stderr) = run_ok(&[
        "record",
        "--subprocesses",
        "--pid",
        &pid,
        "--rate",
        "1000",
        "--duration",
        "2",
        "-o",
        &rec,
    ]);
    let _ = target.kill();
    let _ = target.wait();
    let children: Vec<u32> = recorded_pids(&rec)
        .into_iter()
        .filter(|&p| p != target.id())
        .collect();
    assert_eq!(children.len(), 8, "{children:?}: {stderr}");
    for child in children {
        let (text, _) = run_ok(&[
            "report",
            &rec,
            "--pid",
            &child.to_string(),
            "--idle",
            "--clock",
            "wall",
        ]);
        let samples: u64 = text
            .lines()
            .nth(1)
            .and_then(|l| l.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no sample count in {text}"));
        // 2000 asked for: the 99% for each (measured 99.7-99.9% with the load
        // average at 14-17). A child attached after the loop started misses its first
        // 25-40 ms, below this.
        assert!(samples >= 1980, "pid {child}: {samples} of 2000; {stderr}");
    }
}

#[test]
fn a_parent_on_one_cpython_and_its_child_on_another() {
    let _cpu = among_others();
    let (Some(parent), Some(child)) = (python("pyenv-3.11"), python("pyenv-3.12")) else {
        eprintln!("skipped: pyenv-3.11 and pyenv-3.12 are needed");
        return;
    };
    let dir = ScenarioDir::new(&parent);
    let argv = dir.argv(&parent, "tree.py", &["cross", &child.python, "{dir}"]);
    let mut target = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the parent starts");
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(target.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("ready");
    let pid = target.id().to_string();
    let (json, _) = run_ok(&["dump", "--subprocesses", "--json", "--pid", &pid]);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let procs = doc["processes"].as_array().expect("processes");
    // The child is ended with the test, whatever it finds.
    let _waiter = KillOnDrop(
        procs
            .iter()
            .skip(1)
            .filter_map(|p| p["pid"].as_u64().map(|p| p as u32))
            .collect(),
    );
    assert_eq!(procs.len(), 2, "{json}");
    let file = format!("{}/tree.py", dir.inner);
    let innermost = |p: &serde_json::Value| -> Vec<(String, String)> {
        p["threads"][0]["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .map(|f| {
                (
                    f["function"].as_str().unwrap_or("").to_string(),
                    format!("{}:{}", f["file"].as_str().unwrap_or(""), f["first_line"]),
                )
            })
            .collect()
    };
    assert_eq!(procs[0]["pid"].as_u64(), Some(u64::from(target.id())));
    assert!(procs[0]["python_version"]
        .as_str()
        .unwrap_or("")
        .starts_with("3.11."));
    assert!(procs[1]["python_version"]
        .as_str()
        .unwrap_or("")
        .starts_with("3.12."));
    assert_eq!(procs[1]["ppid"].as_u64(), Some(u64::from(target.id())));
    assert_eq!(
        procs[1]["command"],
        serde_json::json!([child.python, file, "waiter"]),
        "{json}"
    );
    let parent_frames = innermost(&procs[0]);
    let child_frames = innermost(&procs[1]);
    assert!(
        parent_frames.contains(&("parent_wait".to_string(), format!("{file}:41"))),
        "{parent_frames:?}"
    );
    assert_eq!(
        child_frames.first(),
        Some(&("child_wait".to_string(), format!("{file}:32"))),
        "{child_frames:?}"
    );
    // The text form: one block per process, headed by pid, parent, command and version.
    let (text, _) = run_ok(&["dump", "--subprocesses", "--pid", &pid]);
    let header = format!(
        "(parent {pid}): {} {file} waiter\nCPython 3.12.",
        child.python
    );
    assert!(text.contains(&header), "{text}");
    // A report of the child alone is headed by the child's command and CPython, not the
    // parent's; the whole recording's by the parent's.
    let rec = dir.host.join("cross.fsr").to_string_lossy().into_owned();
    run_ok(&[
        "record",
        "--subprocesses",
        "--pid",
        &pid,
        "--duration",
        "0.3",
        "-o",
        &rec,
    ]);
    let child_pid = procs[1]["pid"].as_u64().expect("child pid").to_string();
    let (report, _) = run_ok(&["report", &rec, "--pid", &child_pid]);
    let head = format!(
        "framescope profile of `{} {file} waiter` (pid {child_pid}, CPython 3.12.",
        child.python
    );
    assert!(report.starts_with(&head), "{report}");
    let (report, _) = run_ok(&["report", &rec]);
    let head = format!(
        "framescope profile of `{} {file} cross {} {}` (pid {pid}, CPython 3.11.",
        parent.python, child.python, dir.inner
    );
    assert!(report.starts_with(&head), "{report}");
    // Without the flag, the single-process schema is unchanged.
    let (one, _) = run_ok(&["dump", "--json", "--pid", &pid]);
    let one: serde_json::Value = serde_json::from_str(&one).expect("JSON");
    assert!(one.get("processes").is_none() && one["pid"].as_u64().is_some());
    let _ = target.kill();
    let _ = target.wait();
}

#[test]
fn a_zombie_child_is_skipped_and_counted() {
    let _cpu = among_others();
    let Some(py) = python("pyenv-3.12") else {
        return;
    };
    let mut target = common::spawn(&py, "tree.py", &["zombie", "{dir}"]);
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(target.child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("ready");
    let zombie: u32 = line
        .trim()
        .trim_start_matches("ready ")
        .parse()
        .expect("pid");
    let rec = target.host_path("z.fsr").to_string_lossy().into_owned();
    let pid = target.pid.to_string();
    let (_, stderr) = run_ok(&[
        "record",
        "--subprocesses",
        "--pid",
        &pid,
        "-d",
        "0.5",
        "-o",
        &rec,
    ]);
    assert!(stderr.contains("1 zombies"), "{stderr}");
    assert!(stderr.contains("1 Python processes sampled"), "{stderr}");
    assert_eq!(recorded_pids(&rec), vec![target.pid]);
    assert!(common::table_rows(&run_ok(&["report", &rec]).0).contains_key("parent_spin"));
    // Still a zombie: framescope did not reap or disturb it.
    let stat = std::fs::read_to_string(format!("/proc/{zombie}/stat")).expect("zombie");
    assert_eq!(
        stat.rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next()),
        Some("Z")
    );
}

#[test]
fn a_worker_killed_mid_recording_does_not_disturb_the_others_nor_leave_anything_stopped() {
    let _cpu = among_others();
    let Some(py) = python("pyenv-3.12") else {
        return;
    };
    let target = common::spawn(&py, "tree.py", &["workers", &py.python, "{dir}", "2"]);
    let start = Instant::now();
    let pids_text = loop {
        if let Ok(t) = std::fs::read_to_string(target.host_path("pids")) {
            break t;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no pids file");
        std::thread::sleep(Duration::from_millis(20));
    };
    let workers: Vec<u32> = pids_text
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect();
    let (victim, survivor) = (workers[0], workers[1]);
    // The workers are the target's children: ended with the test, whatever it finds.
    let _workers = KillOnDrop(workers.clone());
    let rec = target.host_path("k.fsr").to_string_lossy().into_owned();
    let record = Command::new(env!("CARGO_BIN_EXE_framescope"))
        .args(["record", "--subprocesses", "--blocking", "--rate", "200"])
        .args([
            "--pid",
            &target.pid.to_string(),
            "-d",
            "2",
            "-o",
            &rec,
            "-q",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("record starts");
    std::thread::sleep(Duration::from_millis(900));
    // SAFETY: kill(2) on a worker of our own test target.
    unsafe { libc::kill(victim as libc::pid_t, libc::SIGKILL) };
    let out = record.wait_with_output().expect("record ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing left stopped: the parent and the surviving worker run on.
    for pid in [target.pid, survivor] {
        let state = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let state = state
            .lines()
            .find_map(|l| l.strip_prefix("State:"))
            .map(str::trim)
            .unwrap_or("");
        assert!(
            !state.starts_with('t') && !state.starts_with('T'),
            "{pid}: {state}"
        );
        assert!(running_freely(pid), "{pid} is not running freely");
    }
    let pids = recorded_pids(&rec);
    assert!(
        pids.contains(&victim) && pids.contains(&survivor),
        "{pids:?}"
    );
    let samples = |pid: u32, function: &str| -> u64 {
        collapsed(&[&rec, "--pid", &pid.to_string(), "--clock", "wall", "--idle"])
            .iter()
            .filter(|(s, _)| s.contains(function))
            .map(|(_, n)| n)
            .sum()
    };
    let (killed, alive) = (
        samples(victim, "worker_spin"),
        samples(survivor, "worker_spin"),
    );
    let parent = samples(target.pid, "parent_wait");
    // Every tick reads every live process: the survivor is sampled as often as the
    // parent (whatever ticks a loaded machine misses, it misses for both), the victim
    // only for the ~0.9 s of the 2 s before its death.
    assert!(
        parent > 50 && alive * 10 >= parent * 9,
        "survivor {alive} samples, parent {parent}"
    );
    assert!(
        killed > 2 && killed < alive * 3 / 4,
        "victim {killed}, survivor {alive}"
    );
}

#[test]
fn without_the_flag_python_children_are_named_with_a_hint() {
    let _cpu = among_others();
    let Some(py) = python("pyenv-3.12") else {
        return;
    };
    let dir = ScenarioDir::new(&py);
    let rec = dir.host.join("h.fsr").to_string_lossy().into_owned();
    let mut args = vec![
        "record".to_string(),
        "-q".into(),
        "-o".into(),
        rec,
        "--".into(),
    ];
    args.extend(dir.argv(&py, "tree.py", &["hinted", &py.python, "{dir}"]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, stderr) = run_ok(&args);
    assert!(
        stderr.contains("1 Python process started below pid ")
            && stderr.contains("was not sampled")
            && stderr.contains("record with --subprocesses to sample it"),
        "{stderr}"
    );
}

#[test]
fn a_tree_without_python_is_a_clear_error() {
    let out = framescope(&[
        "record",
        "--subprocesses",
        "-o",
        "/tmp/framescope-never-written.fsr",
        "--",
        "sh",
        "-c",
        "sleep 0.4; true",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("the command ended before a CPython interpreter started in its tree")
            && stderr.contains("found pid ")
            && stderr.contains("sleep"),
        "{stderr}"
    );
}
