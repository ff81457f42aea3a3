//! One thread is one profile: real programs with named threads
//! (tests/scenarios/named_threads.py) recorded on old and new CPythons, and every view that
//! keeps threads apart — speedscope's profiles, the table's `--threads` sections, the
//! collapsed stacks' (and so the flamegraph's) root frames — shows each thread once, under
//! the last name it had: a thread renamed mid-run, three named threads at once, and a
//! program that runs for 0.3 s, which must have its names too.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{among_others, for_each_of, framescope, pythons_named, Python, ScenarioDir};

/// The oldest, a middle one, and the newest two of the matrix.
const PYTHONS: [&str; 4] = ["pyenv-3.8", "pyenv-3.11", "sid-3.14", "sid-3.15"];

fn run(args: &[&str]) -> String {
    let out = framescope(args);
    assert!(
        out.status.success(),
        "framescope {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Records named_threads.py in `mode` and checks that the speedscope profiles, the
/// table's thread sections and the collapsed roots are each exactly `names` (with the
/// thread ids the program reported).
fn check(py: &Python, mode: &str, names: &[&str]) {
    let dir = ScenarioDir::new(py);
    let rec = dir.host.join("run.fsr");
    let rec = rec.to_str().expect("path");
    let mut args = vec!["record", "-q", "-o", rec, "--"];
    let argv = dir.argv(py, "named_threads.py", &[mode, "{dir}/tids.json"]);
    args.extend(argv.iter().map(String::as_str));
    run(&args);
    let tids: BTreeMap<String, u64> = serde_json::from_str(
        &std::fs::read_to_string(dir.host.join("tids.json")).expect("tids.json"),
    )
    .expect("tids json");
    let expected: BTreeSet<String> = names
        .iter()
        .map(|n| format!("{n} (tid {})", tids[*n]))
        .collect();
    let who = format!("{} {mode}", py.name);

    // Waiting threads count too (--idle): every thread is there, once.
    let json = dir.host.join("run.json");
    run(&[
        "report",
        rec,
        "--idle",
        "--clock",
        "wall",
        "-o",
        json.to_str().expect("path"),
    ]);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("speedscope");
    let profiles: Vec<String> = doc["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(
        profiles.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "{who}: speedscope profiles {profiles:?}"
    );
    assert_eq!(profiles.len(), expected.len(), "{who}: {profiles:?}");

    let table = run(&["report", rec, "--idle", "--clock", "wall", "--threads"]);
    let sections: Vec<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("== "))
        .map(|l| l.split(": ").next().expect("label").to_string())
        .collect();
    assert_eq!(
        sections.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "{who}: table sections {sections:?}"
    );
    assert_eq!(sections.len(), expected.len(), "{who}: {sections:?}");

    let collapsed = run(&[
        "report",
        rec,
        "--idle",
        "--clock",
        "wall",
        "--threads",
        "--format",
        "collapsed",
    ]);
    let roots: BTreeSet<String> = collapsed
        .lines()
        .map(|l| l.split(';').next().expect("root").to_string())
        .collect();
    assert_eq!(roots, expected, "{who}: collapsed roots");
}

fn on_each(mode: &str, names: &[&str]) {
    let _cpu = among_others();
    for_each_of(&pythons_named(&PYTHONS), |py| check(py, mode, names));
}

#[test]
fn a_thread_renamed_mid_run_is_one_profile_under_its_last_name() {
    on_each("rename", &["MainThread", "after"]);
}

#[test]
fn three_named_threads_are_three_profiles_plus_main() {
    on_each("three", &["MainThread", "alpha", "beta", "gamma"]);
}

#[test]
fn a_program_of_a_third_of_a_second_has_its_thread_names() {
    on_each("short", &["MainThread", "short-worker"]);
}
