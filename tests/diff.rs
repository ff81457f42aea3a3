//! `framescope diff` on real recordings of real interpreters: a function made slower is
//! flagged with its change and interval (replicates and single runs), the gate fails then
//! and stays quiet for the same program recorded again (the false-alarm rate over 20 pairs
//! is measured and printed), functions that appear and vanish, py-spy raw files (py-spy
//! installed from PyPI into a private virtual environment on first use), CPython 3.8 on
//! one side and 3.14 on the other, and bad inputs.
//!
//! The workload is tests/scenarios/diffwork.py: fixed work, so a run's time is the
//! quantity compared. Recordings are taken one at a time (a lock), 1 kHz, about a second
//! each. `cargo test --test diff -- --ignored --nocapture` also runs the sensitivity
//! measurement (the smallest regression the gate catches), which takes several minutes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use common::{framescope, matrix, Python, ScenarioDir};
use serde_json::Value;

/// Rounds of diffwork.py: about a second of work on the host's CPython 3.11.
const ROUNDS: &str = "3000";

/// Recordings are timing measurements: one at a time.
static RECORDING: Mutex<()> = Mutex::new(());

/// The interpreter of the matrix called `name`, or else the first one on the host.
fn python(name: &str) -> Python {
    let all = matrix();
    all.iter()
        .find(|p| p.name == name)
        .or_else(|| all.iter().find(|p| !p.in_chroot()))
        .cloned()
        .expect("an interpreter on the host")
}

/// `python -S SCRIPT ARGS` as `py` runs it (no site: a short, quiet start-up).
fn python_argv(py: &Python, dir: &ScenarioDir, args: &[&str]) -> Vec<String> {
    let mut argv = dir.argv(py, "diffwork.py", args);
    let at = argv
        .iter()
        .position(|a| a == &py.python)
        .expect("python in argv");
    argv.insert(at + 1, "-S".into());
    argv
}

/// Records diffwork.py with FACTOR and VARIANT into `out`.
fn record(py: &Python, out: &Path, factor: &str, variant: &str) -> PathBuf {
    record_rounds(py, out, ROUNDS, factor, variant)
}

/// Records diffwork.py with ROUNDS, FACTOR and VARIANT into `out`.
fn record_rounds(py: &Python, out: &Path, rounds: &str, factor: &str, variant: &str) -> PathBuf {
    let dir = ScenarioDir::new(py);
    let mut args: Vec<String> = ["record", "--rate", "1000", "-o"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(out.to_string_lossy().into_owned());
    args.push("--".into());
    args.extend(python_argv(py, &dir, &[rounds, factor, variant]));
    let _serial = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
    let result = Command::new(env!("CARGO_BIN_EXE_framescope"))
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .expect("framescope record runs");
    assert!(
        result.status.success(),
        "record {args:?}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    out.to_path_buf()
}

/// Records `n` base (FACTOR 1) and `n` head runs, alternating so that both meet the same
/// machine.
fn record_pairs(
    py: &Python,
    tag: &str,
    n: usize,
    head_factor: &str,
    head_variant: &str,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    record_pairs_of(py, tag, n, ROUNDS, head_factor, head_variant)
}

/// [`record_pairs`] with ROUNDS of work per run.
fn record_pairs_of(
    py: &Python,
    tag: &str,
    n: usize,
    rounds: &str,
    head_factor: &str,
    head_variant: &str,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut base, mut head) = (Vec::new(), Vec::new());
    for i in 0..n {
        let base_path = common::scratch("diff-tests", &format!("{tag}-base{i}.fsr"));
        base.push(record_rounds(py, &base_path, rounds, "1.0", "old"));
        let head_path = common::scratch("diff-tests", &format!("{tag}-head{i}.fsr"));
        head.push(record_rounds(
            py,
            &head_path,
            rounds,
            head_factor,
            head_variant,
        ));
    }
    (base, head)
}

fn run_diff(args: &[&str]) -> Output {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    framescope(&all)
}

fn strings(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// `diff --format json --limit 0 --base … --head … EXTRA`, parsed. Exit status 1 (a gate
/// in EXTRA that failed) is not an error here: the JSON says so too.
fn diff_json(base: &[PathBuf], head: &[PathBuf], extra: &[&str]) -> Value {
    let (base, head) = (strings(base), strings(head));
    let mut args = vec!["--format", "json", "--limit", "0", "--base"];
    args.extend(base.iter().map(String::as_str));
    args.push("--head");
    args.extend(head.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let out = run_diff(&args);
    let gate_failed = out.status.code() == Some(1) && extra.contains(&"--fail-on-regression");
    assert!(
        out.status.success() || gate_failed,
        "diff {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("diff writes JSON");
    assert_eq!(doc["gate"]["failed"] == true, gate_failed, "{doc:#}");
    doc
}

/// The row of `function` in a JSON diff.
fn row<'a>(doc: &'a Value, function: &str) -> &'a Value {
    doc["functions"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["function"] == function))
        .unwrap_or_else(|| panic!("no row for {function} in {doc:#}"))
}

fn verdict(doc: &Value, function: &str) -> String {
    row(doc, function)["verdict"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The functions a diff calls slower or faster: each one is a false alarm when both sides
/// ran the same program.
fn alarms(doc: &Value) -> Vec<String> {
    doc["functions"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["verdict"] == "slower" || r["verdict"] == "faster")
                .map(|r| format!("{} {}", r["function"], r["verdict"]))
                .collect()
        })
        .unwrap_or_default()
}

/// The checks of a row flagged slower: its change, interval and q-value are consistent.
fn assert_flagged_slower(doc: &Value, function: &str, percent: std::ops::Range<f64>) {
    let r = row(doc, function);
    assert_eq!(r["verdict"], "slower", "{function}: {r:#}");
    assert_eq!(r["significant"], true, "{r:#}");
    let change = r["cum_change_seconds"].as_f64().expect("change");
    let low = r["ci_low_seconds"].as_f64().expect("interval");
    let high = r["ci_high_seconds"].as_f64().expect("interval");
    let pct = r["cum_change_percent"].as_f64().expect("percent");
    assert!(0.0 < low && low <= change && change <= high, "{r:#}");
    assert!(percent.contains(&pct), "{function} grew {pct:.1}%: {r:#}");
    assert!(r["q"].as_f64().expect("q") <= 0.05, "{r:#}");
    let base = r["base"]["cum_seconds"].as_f64().expect("base");
    let head = r["head"]["cum_seconds"].as_f64().expect("head");
    assert!((head - base - change).abs() < 1e-9, "{r:#}");
}

/// The diff tests time real programs: two of them recording at once on a 2-core machine
/// would slow each other's runs and make whole-run differences out of nothing. They run
/// one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn a_slower_function_is_flagged_with_its_change_and_interval() {
    let _one_at_a_time = serial();
    let py = python("pyenv-3.11");
    // `tuned` does 2 times the work: about +100% of its time, +40% of the run.
    let (base, head) = record_pairs(&py, "slower", 3, "2.0", "old");

    // Replicates: Welch's t-test on per-run values. Seconds per run of the same work vary
    // a lot on a busy machine (the whole run slows down), and Welch's test says so with a
    // wide interval; compared as shares of each run (--normalize), the change stands out.
    let doc = diff_json(&base, &head, &["--normalize"]);
    assert_eq!(doc["schema"], "framescope-diff/1");
    assert_eq!(doc["method"]["name"], "welch");
    assert_eq!(doc["method"]["normalized"], true);
    assert_flagged_slower(&doc, "tuned", 10.0..130.0);
    // The other functions' shares shrink: a normalized comparison shows them faster.
    assert!(
        row(&doc, "steady")["cum_change_seconds"].as_f64() < Some(0.0),
        "{doc:#}"
    );
    assert_eq!(
        row(&doc, "tuned")["file"]
            .as_str()
            .map(|f| f.ends_with("/diffwork.py")),
        Some(true)
    );
    assert_eq!(row(&doc, "tuned")["line"], 22);
    let seconds = diff_json(&base, &head, &[]);
    let tuned = row(&seconds, "tuned");
    let (low, high) = (
        tuned["ci_low_seconds"].as_f64(),
        tuned["ci_high_seconds"].as_f64(),
    );
    let change = tuned["cum_change_seconds"].as_f64();
    assert!(low < change && change < high, "{tuned:#}");
    eprintln!(
        "3 vs 3 runs, tuned 2 times the work, seconds per run: {} ({:+.1}%, 95% CI {:.3} .. {:.3} s)",
        tuned["verdict"],
        tuned["cum_change_percent"].as_f64().unwrap_or(f64::NAN),
        low.unwrap_or(f64::NAN),
        high.unwrap_or(f64::NAN)
    );

    // One run per side: the block bootstrap. Its change in seconds also carries how much
    // faster one whole run went than the other (a third either way on this shared
    // machine), so the size of the change is checked on shares of the run (about +43%
    // here), and in seconds only loosely.
    let single = diff_json(&base[..1], &head[..1], &[]);
    assert_eq!(single["method"]["name"], "block-bootstrap");
    assert_eq!(single["method"]["resamples"], 9999);
    assert_flagged_slower(&single, "tuned", 20.0..300.0);
    let single_shares = diff_json(&base[..1], &head[..1], &["--normalize"]);
    assert_eq!(single_shares["method"]["name"], "block-bootstrap");
    eprintln!(
        "1 vs 1 run, tuned 2 times the work: {:+.1}% in seconds, {:+.1}% as a share",
        row(&single, "tuned")["cum_change_percent"]
            .as_f64()
            .unwrap_or(f64::NAN),
        row(&single_shares, "tuned")["cum_change_percent"]
            .as_f64()
            .unwrap_or(f64::NAN)
    );
    assert_flagged_slower(&single_shares, "tuned", 15.0..90.0);

    // The gate: exit 1, a sentence per offending function on stderr, nothing on stdout.
    let (b, h) = (strings(&base), strings(&head));
    let mut args = vec!["--fail-on-regression", "10%", "--normalize", "--base"];
    args.extend(b.iter().map(String::as_str));
    args.push("--head");
    args.extend(h.iter().map(String::as_str));
    let out = run_diff(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "a gate alone prints no report");
    let sentence = stderr
        .lines()
        .find(|l| l.starts_with("tuned ("))
        .unwrap_or_else(|| panic!("no sentence about tuned: {stderr}"));
    assert!(
        sentence.contains("got slower: its cumulative time per run grew by")
            && sentence.contains("95% CI of the change +")
            && sentence.contains("more than the 10% allowed"),
        "{sentence}"
    );
    assert!(!stderr.contains("steady ("), "{stderr}");

    // The same diff as a table and as markdown.
    let out = run_diff(&[&b[0], &h[0]]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        table.contains("method: block bootstrap (9999 resamples"),
        "{table}"
    );
    let tuned_line = table
        .lines()
        .find(|l| l.contains(" tuned ("))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(tuned_line.starts_with("slower "), "{tuned_line}");
    let out = run_diff(&["--format", "markdown", &b[0], &h[0]]);
    let markdown = String::from_utf8_lossy(&out.stdout);
    assert!(
        markdown.starts_with("**framescope diff**: 1 slower"),
        "{markdown}"
    );
    assert!(markdown.contains("#### Regressions"), "{markdown}");
    assert!(markdown.contains("| `tuned ("), "{markdown}");

    // The differential flamegraph: tuned is drawn red (it grew).
    let svg_path = common::scratch("diff-tests", "slower.svg");
    let svg = svg_path.to_string_lossy();
    let out = run_diff(&["--format", "json", "--flamegraph", &svg, &b[0], &h[0]]);
    assert!(out.status.success());
    let fill = frame_fill(&std::fs::read_to_string(&svg_path).expect("svg"), "tuned (");
    assert!(fill.0 > fill.2, "tuned grew, so it is red: {fill:?}");
}

/// The fill colour (r, g, b) of the first frame whose title starts with `name`.
fn frame_fill(svg: &str, name: &str) -> (u8, u8, u8) {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(svg, options).expect("the flamegraph is XML");
    let group = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("g")
                && n.children().any(|c| {
                    c.has_tag_name("title") && c.text().is_some_and(|t| t.starts_with(name))
                })
        })
        .unwrap_or_else(|| panic!("no frame {name}"));
    let fill = group
        .children()
        .find(|c| c.has_tag_name("rect"))
        .and_then(|r| r.attribute("fill"))
        .expect("a filled rect");
    let inner = fill
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .map(|v| v.trim().parse::<u8>().expect("rgb"))
        .collect::<Vec<_>>();
    (inner[0], inner[1], inner[2])
}

fn has_frame(svg: &str, name: &str) -> bool {
    svg.contains(&format!("<title>{name}"))
}

#[test]
fn functions_that_appear_and_vanish() {
    let _one_at_a_time = serial();
    let py = python("pyenv-3.11");
    let (base, head) = record_pairs(&py, "newgone", 1, "1.0", "new");
    let doc = diff_json(&base, &head, &[]);
    assert_eq!(verdict(&doc, "legacy"), "gone");
    assert_eq!(verdict(&doc, "modern"), "new");
    let legacy = row(&doc, "legacy");
    assert_eq!(legacy["head"]["cum_seconds"], 0.0);
    assert_eq!(legacy["cum_change_percent"], -100.0);
    let modern = row(&doc, "modern");
    assert_eq!(modern["base"]["cum_seconds"], 0.0);
    assert_eq!(modern["cum_change_percent"], Value::Null);
    assert!(
        doc["summary"]["new"].as_u64() >= Some(1) && doc["summary"]["gone"].as_u64() >= Some(1)
    );

    // The head view has no `legacy`; the gone view, drawn on the base, has it in blue.
    let (b, h) = (strings(&base), strings(&head));
    let (head_svg, gone_svg) = (
        common::scratch("diff-tests", "newgone-head.svg"),
        common::scratch("diff-tests", "newgone-gone.svg"),
    );
    let out = run_diff(&[
        "--format",
        "json",
        "--flamegraph",
        &head_svg.to_string_lossy(),
        "--flamegraph-gone",
        &gone_svg.to_string_lossy(),
        &b[0],
        &h[0],
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head_text = std::fs::read_to_string(&head_svg).expect("head svg");
    let gone_text = std::fs::read_to_string(&gone_svg).expect("gone svg");
    assert!(has_frame(&head_text, "modern (") && !has_frame(&head_text, "legacy ("));
    assert!(has_frame(&gone_text, "legacy (") && !has_frame(&gone_text, "modern ("));
    let fill = frame_fill(&gone_text, "legacy (");
    assert!(
        fill.2 > fill.0,
        "legacy shrank to nothing, so it is blue: {fill:?}"
    );
    let fill = frame_fill(&head_text, "modern (");
    assert!(fill.0 > fill.2, "modern is new, so it is red: {fill:?}");
}

#[test]
fn the_same_program_recorded_again_is_not_flagged() {
    let _one_at_a_time = serial();
    let py = python("pyenv-3.11");
    let runs: Vec<PathBuf> = (0..40)
        .map(|i| {
            record(
                &py,
                &common::scratch("diff-tests", &format!("same{i}.fsr")),
                "1.0",
                "old",
            )
        })
        .collect();

    // 20 pairs of single runs, each pair recorded back to back.
    let mut single_alarms = Vec::new();
    let mut single_gate = 0;
    let mut normalized_alarms = 0;
    for pair in runs.chunks(2) {
        let doc = diff_json(&pair[..1], &pair[1..], &["--fail-on-regression", "5"]);
        if doc["gate"]["failed"] == true {
            single_gate += 1;
        }
        let a = alarms(&doc);
        if !a.is_empty() {
            single_alarms.push(a.join(", "));
        }
        let normalized = diff_json(&pair[..1], &pair[1..], &["--normalize"]);
        normalized_alarms += usize::from(!alarms(&normalized).is_empty());
    }
    // 20 comparisons of 3 runs against 3 others (drawn from the 40 by a fixed rule).
    let mut replicate_alarms = Vec::new();
    let mut replicate_gate = 0;
    let mut normalized_replicate_alarms = 0;
    for k in 0..20 {
        let pick: Vec<PathBuf> = (0..6)
            .map(|j| runs[(k * 7 + j * 13) % 40].clone())
            .collect();
        let doc = diff_json(&pick[..3], &pick[3..], &["--fail-on-regression", "5"]);
        assert_eq!(doc["method"]["name"], "welch");
        if doc["gate"]["failed"] == true {
            replicate_gate += 1;
        }
        let a = alarms(&doc);
        if !a.is_empty() {
            replicate_alarms.push(a.join(", "));
        }
        let normalized = diff_json(&pick[..3], &pick[3..], &["--normalize"]);
        normalized_replicate_alarms += usize::from(!alarms(&normalized).is_empty());
    }
    eprintln!(
        "false alarms of the same program at the defaults (5% threshold, q <= 0.05):\n  \
         single runs: {} of 20 pairs ({} gate failures at 5%; {} with --normalize) {:?}\n  \
         3 vs 3 replicates: {} of 20 ({} gate failures at 5%; {} with --normalize) {:?}",
        single_alarms.len(),
        single_gate,
        normalized_alarms,
        single_alarms,
        replicate_alarms.len(),
        replicate_gate,
        normalized_replicate_alarms,
        replicate_alarms
    );
    // On a quiet machine both are 0. A machine busy with other work stalls single runs
    // now and then (the program preempted for a long stretch inside one function), which
    // no statistic over one run per side can tell from a code change: allow some.
    assert!(replicate_alarms.len() <= 1, "{replicate_alarms:?}");
    assert!(replicate_gate <= 1);
    assert!(single_alarms.len() <= 4, "{single_alarms:?}");
    assert!(single_gate <= 3);
}

#[test]
fn mixed_cpython_versions_match_functions() {
    let _one_at_a_time = serial();
    let all = matrix();
    let old = all
        .iter()
        .find(|p| p.minor() == 8)
        .or_else(|| all.first())
        .cloned()
        .expect("an interpreter");
    let new = all
        .iter()
        .rev()
        .find(|p| p.minor() >= 13 && !p.name.ends_with('d'))
        .or_else(|| all.last())
        .cloned()
        .expect("an interpreter");
    assert_ne!(
        old.minor(),
        new.minor(),
        "two different CPython versions are needed"
    );
    // `tuned` does 3 times the work on the newer CPython.
    let base = record(
        &old,
        &common::scratch("diff-tests", "mixed-base.fsr"),
        "1.0",
        "old",
    );
    let head = record(
        &new,
        &common::scratch("diff-tests", "mixed-head.fsr"),
        "3.0",
        "old",
    );
    let doc = diff_json(
        std::slice::from_ref(&base),
        std::slice::from_ref(&head),
        &[],
    );
    let version = |side: &str| {
        doc[side]["runs"][0]["python_version"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        version("base").starts_with(&format!("3.{}.", old.minor())),
        "{doc:#}"
    );
    assert!(
        version("head").starts_with(&format!("3.{}.", new.minor())),
        "{doc:#}"
    );
    for function in ["<module>", "main", "steady", "tuned", "legacy"] {
        let v = verdict(&doc, function);
        assert!(
            v != "new" && v != "gone",
            "{function} matched across versions: {v}"
        );
    }
    assert_eq!(verdict(&doc, "tuned"), "slower", "{doc:#}");
    let out = run_diff(&[&base.to_string_lossy(), &head.to_string_lossy()]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with(&format!(
            "framescope diff: base {} (CPython {}) vs head {} (CPython {})",
            base.display(),
            version("base"),
            head.display(),
            version("head")
        )),
        "{table}"
    );
}

/// py-spy, installed from PyPI into a virtual environment under the target directory on
/// first use.
fn py_spy() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-spy-venv");
        let bin = venv.join("bin/py-spy");
        if !bin.exists() {
            let host = python("pyenv-3.11");
            let ok = Command::new(&host.python)
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "python -m venv {}", venv.display());
            let ok = Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "py-spy"])
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "pip install py-spy (needs the network on the first run)"
            );
        }
        bin
    })
}

/// Records diffwork.py with py-spy's raw (collapsed) output at 500 Hz.
fn record_py_spy(py: &Python, out: &Path, factor: &str) -> PathBuf {
    let dir = ScenarioDir::new(py);
    let mut args: Vec<String> = ["record", "-f", "raw", "-r", "500", "-o"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(out.to_string_lossy().into_owned());
    args.push("--".into());
    args.extend(python_argv(py, &dir, &[ROUNDS, factor, "old"]));
    let _serial = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
    let result = Command::new(py_spy())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .expect("py-spy runs");
    assert!(
        result.status.success() && out.exists(),
        "py-spy {args:?}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    out.to_path_buf()
}

#[test]
fn py_spy_raw_files_are_inputs() {
    let _one_at_a_time = serial();
    let py = python("pyenv-3.11");
    let spy = py_spy();
    assert!(spy.exists());
    let (mut base, mut head) = (Vec::new(), Vec::new());
    for i in 0..3 {
        base.push(record_py_spy(
            &py,
            &common::scratch("diff-tests", &format!("spy-base{i}.txt")),
            "1.0",
        ));
        head.push(record_py_spy(
            &py,
            &common::scratch("diff-tests", &format!("spy-head{i}.txt")),
            "3.0",
        ));
    }
    let text = std::fs::read_to_string(&base[0]).expect("py-spy output");
    assert!(
        text.lines().any(|l| l.contains("tuned (diffwork.py:")),
        "{text}"
    );

    let doc = diff_json(&base, &head, &["--collapsed-rate", "500", "--normalize"]);
    assert_eq!(doc["method"]["name"], "welch");
    assert_eq!(doc["base"]["runs"][0]["kind"], "collapsed");
    assert_eq!(doc["base"]["runs"][0]["python_version"], Value::Null);
    assert_flagged_slower(&doc, "tuned", 20.0..300.0);
    assert_eq!(row(&doc, "tuned")["file"], "diffwork.py");
    // Counts are samples at --collapsed-rate: seconds per run are about the run's length.
    let seconds = doc["base"]["seconds_per_run"].as_f64().expect("seconds");
    assert!(seconds > 0.2 && seconds < 5.0, "{seconds}");

    // One collapsed file per side has no time order: no test, and no gate.
    let single = diff_json(&base[..1], &head[..1], &[]);
    assert_eq!(single["method"]["name"], "none");
    assert!(single["functions"].as_array().is_some_and(|rows| rows
        .iter()
        .all(|r| r["q"].is_null() && r["verdict"] != "slower")));
    let out = run_diff(&[
        "--fail-on-regression",
        "5",
        &base[0].to_string_lossy(),
        &head[0].to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(
        "framescope: --fail-on-regression needs a significance test, and these inputs allow none"
    ));

    // A framescope recording against a py-spy file: the functions match although py-spy
    // shortens file names.
    let rec = record(
        &py,
        &common::scratch("diff-tests", "spy-vs-recording.fsr"),
        "1.0",
        "old",
    );
    let mixed = diff_json(&[rec], &base[..1], &["--collapsed-rate", "500"]);
    for function in ["steady", "tuned", "legacy"] {
        let v = verdict(&mixed, function);
        assert!(v != "new" && v != "gone", "{function}: {v}");
    }
}

fn stderr_of(args: &[&str]) -> (Option<i32>, String) {
    let out = run_diff(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
    )
}

#[test]
fn bad_inputs_give_one_line_errors() {
    let _one_at_a_time = serial();
    use framescope::recording::{RecordingMeta, RecordingSummary, RecordingWriter};

    let py = python("pyenv-3.11");
    let good = record(
        &py,
        &common::scratch("diff-tests", "good.fsr"),
        "1.0",
        "old",
    );
    let good = good.to_string_lossy().into_owned();

    let missing = common::scratch("diff-tests", "missing.fsr");
    let _ = std::fs::remove_file(&missing);
    let (code, err) = stderr_of(&[&good, &missing.to_string_lossy()]);
    assert_eq!(code, Some(8));
    assert_eq!(
        err,
        format!("framescope: {}: no such file", missing.display())
    );

    // A finished recording without a single sample.
    let empty = common::scratch("diff-tests", "empty.fsr");
    let meta = RecordingMeta {
        pid: 1,
        command: vec!["python3".into(), "nothing.py".into()],
        python_version: "3.12.1".into(),
        rate_hz: 1000.0,
        start_unix_ns: 0,
        blocking: false,
    };
    let mut writer = RecordingWriter::create(&empty, &meta).expect("create");
    writer
        .write_summary(&RecordingSummary::default())
        .expect("summary");
    writer.finish().expect("finish");
    let (code, err) = stderr_of(&[&empty.to_string_lossy(), &good]);
    assert_eq!(code, Some(8));
    assert_eq!(
        err,
        format!(
            "framescope: {}: the recording holds no samples (did the program end before the first one?)",
            empty.display()
        )
    );

    let png = common::scratch("diff-tests", "foreign.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01").expect("write");
    let (code, err) = stderr_of(&[&good, &png.to_string_lossy()]);
    assert_eq!(code, Some(8));
    assert_eq!(
        err,
        format!(
            "framescope: {}: not a framescope recording (no FSREC magic) nor a collapsed-stack text file",
            png.display()
        )
    );

    let json = common::scratch("diff-tests", "foreign.json");
    std::fs::write(&json, "{\"traceEvents\": []}\n").expect("write");
    let (code, err) = stderr_of(&[&good, &json.to_string_lossy()]);
    assert_eq!(code, Some(8));
    assert_eq!(
        err,
        format!(
            "framescope: {}: not a framescope recording nor a collapsed-stack file: line 1 is not a collapsed stack (`frame;frame;... COUNT`): `{{\"traceEvents\": []}}`",
            json.display()
        )
    );

    let nothing = common::scratch("diff-tests", "nothing.txt");
    std::fs::write(&nothing, "").expect("write");
    let (code, err) = stderr_of(&[&nothing.to_string_lossy(), &good]);
    assert_eq!(code, Some(8));
    assert!(
        err.ends_with("the file is empty; expected a framescope recording or collapsed stacks"),
        "{err}"
    );

    // Usage errors: exit 2.
    let (code, err) = stderr_of(&[&good]);
    assert_eq!(code, Some(2));
    assert_eq!(err, "framescope: diff needs two inputs (`framescope diff BASE HEAD`) or --base FILE... --head FILE...");
    let (code, err) = stderr_of(&["--fail-on-regression", "five", &good, &good]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("error: invalid value 'five' for '--fail-on-regression <PCT>': a percentage such as 5 or 5% was expected"),
        "{err}"
    );

    // The same file on both sides: nothing changed, the gate passes quietly.
    let out = run_diff(&["--fail-on-regression", "5", &good, &good]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

/// How often the gate (`--fail-on-regression 5`) catches `tuned` (about 40% of the run)
/// made slower by a given factor, with single runs and with 3 vs 3 replicates of about a
/// second each, comparing seconds per run (the default) and shares (`--normalize`).
/// Prints a table; takes a few minutes. `cargo test --test diff -- --ignored --nocapture`,
/// with `DIFF_SENSITIVITY_ROUNDS=9000` for runs three times as long.
#[test]
#[ignore]
fn sensitivity_of_the_gate() {
    let _one_at_a_time = serial();
    let py = python("pyenv-3.11");
    let trials = 9;
    let rounds = std::env::var("DIFF_SENSITIVITY_ROUNDS").unwrap_or_else(|_| ROUNDS.into());
    eprintln!("tuned slower by | caught of {trials} single-run pairs: seconds, --normalize | caught of 9 3v3: seconds, --normalize");
    for factor in ["1.1", "1.2", "1.3", "1.5", "2.0", "3.0"] {
        let tag = format!("sens{rounds}-{factor}");
        let (base, head) = record_pairs_of(&py, &tag, trials, &rounds, factor, "old");
        let caught = |b: &[PathBuf], h: &[PathBuf], normalize: bool| {
            let mut extra = vec!["--fail-on-regression", "5"];
            if normalize {
                extra.push("--normalize");
            }
            let doc = diff_json(b, h, &extra);
            doc["gate"]["offenders"].as_array().is_some_and(|o| {
                o.iter()
                    .any(|f| f.as_str().is_some_and(|f| f.starts_with("tuned (")))
            })
        };
        let count = |pairs: &[(Vec<PathBuf>, Vec<PathBuf>)], normalize: bool| {
            pairs
                .iter()
                .filter(|(b, h)| caught(b, h, normalize))
                .count()
        };
        let singles: Vec<_> = (0..trials)
            .map(|i| (base[i..=i].to_vec(), head[i..=i].to_vec()))
            .collect();
        let mut triples = Vec::new();
        for i in (0..trials).step_by(3) {
            for j in (0..trials).step_by(3) {
                triples.push((base[i..i + 3].to_vec(), head[j..j + 3].to_vec()));
            }
        }
        let pct = (factor.parse::<f64>().unwrap_or(1.0) - 1.0) * 100.0;
        eprintln!(
            "{pct:>14.0}% | {:>2} {:>2} | {:>2} {:>2}",
            count(&singles, false),
            count(&singles, true),
            count(&triples, false),
            count(&triples, true)
        );
    }
}
