//! pprof output read by its real consumer, `go tool pprof` (Debian's golang-go, installed
//! by scripts/provision): a real Python program with known hot lines is recorded on a few
//! interpreters of the matrix straight to `.pb.gz`, and `-top`, `-lines`, `-traces` and
//! `-tags` must show its functions, files, lines and thread labels.

mod common;

use std::path::Path;
use std::process::Command;

use common::{framescope, Python};

/// The line of `script` holding `marker`, 1-based.
fn line_of(script: &str, marker: &str) -> usize {
    script
        .lines()
        .position(|l| l.contains(marker))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no {marker} in the scenario"))
}

/// Runs `go tool pprof ARGS FILE` and returns its standard output.
fn pprof(args: &[&str], file: &Path) -> String {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = Command::new("go")
        .args(["tool", "pprof"])
        .args(args)
        .arg(file)
        .env("PPROF_TMPDIR", scratch)
        .env("HOME", scratch)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `go tool pprof` ({e}): scripts/provision installs golang-go")
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "go tool pprof {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn check(py: &Python) {
    let dir = common::ScenarioDir::new(py);
    let script = include_str!("scenarios/pprof_hot.py");
    let (crunch_line, churn_line) = (line_of(script, "crunch-hot"), line_of(script, "churn-hot"));
    let argv = dir.argv(py, "pprof_hot.py", &["2.5"]);
    let out_path = dir.host.join("run.pb.gz");
    let mut args = vec![
        "record",
        "-q",
        "-o",
        out_path.to_str().expect("utf-8 path"),
        "--",
    ];
    args.extend(argv.iter().map(String::as_str));
    let out = framescope(&args);
    assert!(
        out.status.success(),
        "record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&out_path).expect("the .pb.gz is written");
    assert_eq!(&bytes[..2], b"\x1f\x8b", "gzip magic");
    let file = format!("{}/pprof_hot.py", dir.inner);

    // -top: both hot functions lead, on the CPU clock, each about half the total.
    let top = pprof(&["-top"], &out_path);
    assert!(top.contains("Type: cpu"), "{top}");
    let rows: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .skip(1)
        .collect();
    let leaders: Vec<&str> = rows
        .iter()
        .take(2)
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let mut sorted = leaders.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["churn", "crunch"],
        "the two hottest functions:\n{top}"
    );
    for row in rows.iter().take(2) {
        let flat_pct: f64 = row
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.trim_end_matches('%').parse().ok())
            .unwrap_or(0.0);
        assert!(
            flat_pct > 25.0,
            "each hot function has a good share: {row}\n{top}"
        );
    }
    // Names pprof would mangle as C++ survive.
    assert!(top.contains("<module>"), "{top}");

    // -lines: the hot lines, with the file.
    let lines = pprof(&["-lines", "-top"], &out_path);
    for (function, line) in [("crunch", crunch_line), ("churn", churn_line)] {
        let want = format!("{function} {file}:{line}");
        assert!(lines.contains(&want), "no `{want}` in:\n{lines}");
    }

    // -traces: whole stacks under their labels.
    let traces = pprof(&["-traces"], &out_path);
    let worker_trace = traces
        .split("-----------+")
        .find(|t| t.contains(" churn"))
        .unwrap_or_else(|| panic!("no trace through churn:\n{traces}"));
    let frames: Vec<&str> = worker_trace
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let at = |name: &str| frames.iter().position(|f| *f == name);
    // Before 3.11 code objects carry no qualified name.
    let run = if py.minor() >= 11 {
        "Thread.run"
    } else {
        "run"
    };
    assert!(
        at(run).is_some() && at("churn") < at(run),
        "churn is called under {run}:\n{worker_trace}"
    );
    assert!(worker_trace.contains("thread_id:"), "{worker_trace}");
    assert!(worker_trace.contains("pid:"), "{worker_trace}");

    // -tags: every label, the worker's thread name among them, the pid of the program.
    let tags = pprof(&["-tags"], &out_path);
    assert!(tags.contains("pprof-worker"), "{tags}");
    assert!(tags.contains("MainThread"), "{tags}");
    assert!(tags.contains("thread_id:"), "{tags}");
    let pids: Vec<&str> = tags
        .split("pid:")
        .nth(1)
        .map(|s| s.lines().skip(1).take_while(|l| l.contains("%)")).collect())
        .unwrap_or_default();
    assert_eq!(pids.len(), 1, "one process:\n{tags}");
    // Labelled by thread: filtering on the worker leaves churn, not crunch.
    let worker = pprof(
        &["-top", "-tagfocus", "thread_name=pprof-worker"],
        &out_path,
    );
    assert!(worker.contains(" churn"), "{worker}");
    assert!(!worker.contains(" crunch"), "{worker}");
}

#[test]
fn go_tool_pprof_reads_functions_lines_and_labels() {
    let _cpu = common::among_others();
    let wanted = ["pyenv-3.8", "debian-3.11", "pyenv-3.12", "sid-3.15"];
    let pythons: Vec<Python> = common::matrix()
        .into_iter()
        .filter(|p| wanted.contains(&p.name.as_str()))
        .collect();
    assert!(!pythons.is_empty(), "none of {wanted:?} is provisioned");
    common::for_each_of(&pythons, check);
}

#[test]
fn report_writes_pprof_by_extension_and_by_format() {
    let py = common::matrix()
        .into_iter()
        .find(|p| p.name == "pyenv-3.12")
        .expect("pyenv-3.12 is provisioned");
    let _cpu = common::among_others();
    let dir = common::ScenarioDir::new(&py);
    let rec = dir.host.join("run.fsr");
    let argv = dir.argv(&py, "pprof_hot.py", &["1"]);
    let mut args = vec!["record", "-q", "-o", rec.to_str().expect("utf-8"), "--"];
    args.extend(argv.iter().map(String::as_str));
    common::framescope_ok(&args);
    let by_ext = dir.host.join("out.pb.gz");
    let by_format = dir.host.join("out.bin");
    for (path, extra) in [(&by_ext, None), (&by_format, Some("--format=pprof"))] {
        let mut args = vec!["report", rec.to_str().expect("utf-8"), "-o"];
        args.push(path.to_str().expect("utf-8"));
        args.extend(extra);
        common::framescope_ok(&args);
        let top = pprof(&["-top", "-sample_index=wall"], path);
        assert!(top.contains("Type: wall"), "{top}");
        assert!(top.contains("crunch"), "{top}");
    }
    assert_eq!(
        std::fs::read(&by_ext).expect("read"),
        std::fs::read(&by_format).expect("read"),
        "the same recording gives the same bytes"
    );
}
