//! Unit tests of the comparison on synthetic runs: verdicts, the gate and its sentence, the
//! minimum share, runs without a test, and what each renderer writes. The real-recording
//! tests are in tests/diff.rs.

use std::path::PathBuf;

use super::compare::{self, Comparison, Method, Settings, Verdict};
use super::input::{FunctionName, InputKind, Run, StackWeight};
use super::options::SortBy;
use super::render::{json, markdown, table};
use super::{flamegraph, gate};

/// A run from `(stack, seconds)` pairs, stacks written root first (`main;work`), each
/// function in `/srv/app.py` at line 10 × its order of appearance; cut into 10 windows
/// whose stacks take 2% more or less than a tenth, in turn (they add up to the whole).
fn run(stacks: &[(&str, f64)]) -> Run {
    let mut functions: Vec<FunctionName> = Vec::new();
    let mut paths: Vec<Vec<u32>> = Vec::new();
    let mut weights = Vec::new();
    for (i, (stack, seconds)) in stacks.iter().enumerate() {
        let path = stack
            .split(';')
            .rev()
            .map(|name| {
                let at = functions.iter().position(|f| f.qualname == name);
                at.unwrap_or_else(|| {
                    functions.push(FunctionName {
                        qualname: name.into(),
                        file: "/srv/app.py".into(),
                        line: Some(10 * (functions.len() as u32 + 1)),
                    });
                    functions.len() - 1
                }) as u32
            })
            .collect();
        paths.push(path);
        weights.push(StackWeight {
            stack: i as u32,
            samples: (seconds * 1000.0).round() as u64,
            seconds: *seconds,
        });
    }
    let windows = (0..10)
        .map(|k| {
            weights
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let wobble = [1.02, 0.98][(k + i) % 2];
                    StackWeight {
                        samples: w.samples / 10,
                        seconds: w.seconds / 10.0 * wobble,
                        ..*w
                    }
                })
                .collect()
        })
        .collect();
    Run {
        path: PathBuf::from("run.fsr"),
        kind: InputKind::Recording,
        command: None,
        python_version: Some("3.12.1".into()),
        functions,
        stacks: paths,
        samples: weights.iter().map(|w| w.samples).sum(),
        seconds: weights.iter().map(|w| w.seconds).sum(),
        weights,
        windows: Some(windows),
        clock: crate::report::profile::Clock::Cpu,
    }
}

fn settings() -> Settings {
    Settings {
        alpha: 0.05,
        threshold: 5.0,
        min_share: 0.5,
        sort: SortBy::Cumulative,
        resamples: 999,
        fail_on_regression: Some(5.0),
        normalize: false,
        clock: crate::report::profile::Clock::Cpu,
    }
}

fn compare(base: &[Run], head: &[Run]) -> Comparison {
    let matched = compare::match_runs(base, head);
    compare::compare(base, head, &matched, settings())
}

fn verdict(c: &Comparison, name: &str) -> Verdict {
    c.rows
        .iter()
        .find(|r| r.function.qualname == name)
        .map(|r| r.verdict)
        .unwrap_or_else(|| panic!("no row {name}"))
}

/// Three base runs and three head runs in which `tuned` takes 50% longer.
fn regression() -> (Vec<Run>, Vec<Run>) {
    let noise = [0.0, 0.01, -0.01];
    let base = noise
        .iter()
        .map(|n| {
            run(&[
                ("main;steady", 0.4 + n),
                ("main;tuned", 0.4 - n),
                ("main", 0.01),
            ])
        })
        .collect();
    let head = noise
        .iter()
        .map(|n| {
            run(&[
                ("main;steady", 0.4 - n),
                ("main;tuned", 0.6 + n),
                ("main", 0.01),
            ])
        })
        .collect();
    (base, head)
}

#[test]
fn welch_flags_the_slower_function_and_its_callers_only() {
    let (base, head) = regression();
    let c = compare(&base, &head);
    assert_eq!(c.method, Method::Welch);
    assert_eq!(verdict(&c, "tuned"), Verdict::Slower);
    assert_eq!(verdict(&c, "main"), Verdict::Slower);
    assert_eq!(verdict(&c, "steady"), Verdict::Unchanged);
    // Largest change first: tuned and main both +0.2 s.
    let mut first: Vec<&str> = c.rows[..2]
        .iter()
        .map(|r| r.function.qualname.as_str())
        .collect();
    first.sort_unstable();
    assert_eq!(first, ["main", "tuned"]);
    let tuned = c
        .rows
        .iter()
        .find(|r| r.function.qualname == "tuned")
        .unwrap();
    assert!((tuned.cum_change - 0.2).abs() < 1e-9);
    assert!((tuned.cum_change_percent.unwrap() - 50.0).abs() < 1e-6);
    let e = tuned.estimate.unwrap();
    assert!(e.low > 0.1 && e.high < 0.3 && e.low < e.high, "{e:?}");

    let mut offenders: Vec<&str> = gate::offenders(&c, 5.0)
        .iter()
        .map(|r| r.function.qualname.as_str())
        .collect();
    offenders.sort_unstable();
    assert_eq!(offenders, ["main", "tuned"]);
    assert!(gate::offenders(&c, 60.0).is_empty());
    let sentence = gate::sentence(&c, tuned, 5.0);
    assert!(
        sentence.starts_with(
            "tuned (/srv/app.py:30) got slower: its cumulative time per run grew by 50.0% (400 ms -> 600 ms, +200 ms; 95% CI of the change +"
        ),
        "{sentence}"
    );
    assert!(
        sentence.ends_with("Welch's t-test, 3 vs 3 runs), more than the 5% allowed"),
        "{sentence}"
    );
}

#[test]
fn a_single_run_per_side_uses_the_block_bootstrap() {
    let (base, head) = regression();
    let c = compare(&base[..1], &head[..1]);
    assert_eq!(c.method, Method::BlockBootstrap { resamples: 999 });
    assert_eq!(verdict(&c, "tuned"), Verdict::Slower);
    // A uniformly slower head run is not a code change.
    let slow = run(&[("main;steady", 0.6), ("main;tuned", 0.6), ("main", 0.015)]);
    let c = compare(&base[..1], &[slow]);
    for r in &c.rows {
        assert_eq!(r.verdict, Verdict::Unchanged, "{r:?}");
        assert!(r.cum_change > 0.0);
    }
}

#[test]
fn new_and_gone_functions_do_not_fail_the_gate() {
    let base = vec![run(&[("main;old_name", 0.5), ("main;steady", 0.5)])];
    let head = vec![run(&[("main;new_name", 0.5), ("main;steady", 0.5)])];
    let c = compare(&base, &head);
    assert_eq!(verdict(&c, "old_name"), Verdict::Gone);
    assert_eq!(verdict(&c, "new_name"), Verdict::New);
    assert!(gate::offenders(&c, 5.0).is_empty());
    let gone = c.rows.iter().find(|r| r.verdict == Verdict::Gone).unwrap();
    assert_eq!(gone.cum_change_percent, Some(-100.0));
    let new = c.rows.iter().find(|r| r.verdict == Verdict::New).unwrap();
    assert_eq!(new.cum_change_percent, None);
}

#[test]
fn small_functions_are_hidden_and_not_tested() {
    let base = vec![run(&[("main;big", 1.0), ("main;tiny", 0.001)])];
    let head = vec![run(&[("main;big", 1.0), ("main;tiny", 0.003)])];
    let c = compare(&base, &head);
    assert_eq!(c.hidden, 1);
    assert!(c.rows.iter().all(|r| r.function.qualname != "tiny"));
}

#[test]
fn recursion_counts_once_in_cumulative_time() {
    let base = vec![run(&[("main;f;f;f", 0.3), ("main;f", 0.1)])];
    let c = compare(&base, &base.clone());
    let f = c.rows.iter().find(|r| r.function.qualname == "f").unwrap();
    assert!((f.base.cum_seconds - 0.4).abs() < 1e-9);
    assert!((f.base.cum_share - 100.0).abs() < 1e-9);
}

#[test]
fn collapsed_single_runs_get_no_test() {
    let (base, head) = regression();
    let strip = |mut r: Run| {
        r.windows = None;
        r.kind = InputKind::Collapsed;
        r
    };
    let base = vec![strip(base[0].clone())];
    let head = vec![strip(head[0].clone())];
    let c = compare(&base, &head);
    assert!(matches!(c.method, Method::None { .. }));
    assert!(c.rows.iter().all(|r| r.q.is_none() && !r.significant));
    assert_eq!(verdict(&c, "tuned"), Verdict::Unchanged);
    let text = table::render(&c, None, false);
    assert!(text.contains("method: no significance test (a collapsed-stack file has no time order"));
}

#[test]
fn json_follows_the_schema() {
    let (base, head) = regression();
    let c = compare(&base, &head);
    let doc: serde_json::Value = serde_json::from_str(&json::render(&c, None).unwrap()).unwrap();
    assert_eq!(doc["schema"], "framescope-diff/1");
    assert_eq!(doc["method"]["name"], "welch");
    assert_eq!(doc["method"]["resamples"], serde_json::Value::Null);
    assert_eq!(doc["method"]["confidence"], 0.95);
    assert_eq!(doc["base"]["runs"][0]["kind"], "recording");
    assert_eq!(doc["summary"]["slower"], 2);
    assert_eq!(doc["summary"]["unchanged"], 1);
    let rows = doc["functions"].as_array().unwrap();
    let tuned = rows.iter().find(|r| r["function"] == "tuned").unwrap();
    assert_eq!(tuned["file"], "/srv/app.py");
    assert_eq!(tuned["line"], 30);
    assert_eq!(tuned["verdict"], "slower");
    assert_eq!(tuned["significant"], true);
    for key in [
        "cum_change_seconds",
        "cum_change_percent",
        "own_change_seconds",
        "own_change_percent",
        "ci_low_seconds",
        "ci_high_seconds",
        "p",
        "q",
    ] {
        assert!(tuned[key].is_f64(), "{key}: {tuned}");
    }
    for key in ["own_seconds", "cum_seconds", "own_percent", "cum_percent"] {
        assert!(tuned["base"][key].is_f64() && tuned["head"][key].is_f64());
    }
    assert_eq!(doc["gate"]["percent"], 5.0);
    assert_eq!(doc["gate"]["failed"], true);
    let offenders = doc["gate"]["offenders"].as_array().unwrap();
    assert!(
        offenders.iter().any(|o| o == "tuned (/srv/app.py:30)"),
        "{offenders:?}"
    );
}

#[test]
fn markdown_and_table_wording() {
    let (base, head) = regression();
    let c = compare(&base, &head);
    let md = markdown::render(&c, Some(10));
    assert!(
        md.starts_with("**framescope diff**: 2 slower, 0 faster, 1 unchanged"),
        "{md}"
    );
    assert!(
        md.contains("#### Regressions\n\n| function | base cum | head cum | change | 95% CI | q |")
    );
    assert!(
        md.contains("| `tuned (/srv/app.py:30)` | 400 ms | 600 ms | +200 ms (+50.0%) |"),
        "{md}"
    );
    let text = table::render(&c, Some(2), false);
    assert!(text.starts_with(
        "framescope diff: base 3 runs (CPython 3.12.1) vs head 3 runs (CPython 3.12.1)\n"
    ));
    assert!(text.contains("(2 of 3 functions shown; --limit 0 shows all)"));
    let coloured = table::render(&c, None, true);
    assert!(coloured.contains("\u{1b}[1;31mslower\u{1b}[0m"));

    // A name that would break a markdown table.
    let rename = |runs: &mut Vec<Run>| {
        for r in runs {
            r.functions[2].qualname = "odd|`tuned`".into();
        }
    };
    let (mut base, mut head) = (base, head);
    rename(&mut base);
    rename(&mut head);
    let md = markdown::render(&compare(&base, &head), None);
    assert!(md.contains("| `odd\\|'tuned' (/srv/app.py:30)` |"), "{md}");
}

#[test]
fn the_differential_flamegraph_draws_both_views() {
    let base = vec![run(&[("main;old", 0.5), ("main;steady", 0.5)])];
    let head = vec![run(&[("main;fresh", 0.5), ("main;steady", 0.5)])];
    let matched = compare::match_runs(&base, &head);
    let c = compare::compare(&base, &head, &matched, settings());
    let numbered: Vec<(&Run, usize)> = matched.runs.iter().copied().zip(0..).collect();
    let b = super::aggregate::mean_stacks(&numbered[..1], &matched.ids);
    let h = super::aggregate::mean_stacks(&numbered[1..], &matched.ids);
    let head_svg = String::from_utf8(
        flamegraph::draw(flamegraph::View::Head, &c, &matched.ids, &b, &h).unwrap(),
    )
    .unwrap();
    let gone_svg = String::from_utf8(
        flamegraph::draw(flamegraph::View::Gone, &c, &matched.ids, &b, &h).unwrap(),
    )
    .unwrap();
    assert!(head_svg.contains("fresh (/srv/app.py:") && !head_svg.contains("<title>old ("));
    assert!(gone_svg.contains("<title>old (/srv/app.py:") && !gone_svg.contains("<title>fresh ("));
    assert!(head_svg.contains("framescope diff: head profile, coloured by change"));
}

/// Runs of a call path `run;main;notification;fibonacci` beside `run;main;word`, where
/// fibonacci takes `fib` seconds (a little noise per run).
fn fibonacci_runs(fib: f64) -> Vec<Run> {
    [0.0, 0.01, -0.01]
        .iter()
        .map(|n| {
            run(&[
                ("run;main;notification;fibonacci", fib + n),
                ("run;main;notification", 0.02),
                ("run;main;word", 0.3 - n),
            ])
        })
        .collect()
}

#[test]
fn the_gate_names_the_cause_first_and_folds_its_callers() {
    let (base, head) = (fibonacci_runs(0.05), fibonacci_runs(0.9));
    let matched = compare::match_runs(&base, &head);
    let c = compare::compare(&base, &head, &matched, settings());
    let v = gate::verdict(&c, &matched, 5.0);
    let names = |rows: &[&compare::Row]| -> Vec<String> {
        rows.iter().map(|r| r.function.qualname.clone()).collect()
    };
    assert_eq!(names(&v.causes), ["fibonacci"]);
    assert_eq!(names(&v.callers), ["notification", "main", "run"]);
    let lines = gate::lines(&c, &v, 5.0);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "fibonacci (/srv/app.py:10) got slower: its cumulative time per run grew by"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with("; its own time grew by 850 ms"),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "callers that got slower by more than 5% only with it: notification (/srv/app.py:20), \
         main (/srv/app.py:30), run (/srv/app.py:40)"
    );
}

#[test]
fn without_own_growth_the_deepest_offender_is_the_cause() {
    // `process` now calls a new function: the new one is not gated, so process is the
    // deepest function that got slower.
    let base: Vec<Run> = [0.0, 0.01, -0.01]
        .iter()
        .map(|n| run(&[("main;process", 0.2 + n), ("main;other", 0.3)]))
        .collect();
    let head: Vec<Run> = [0.0, 0.01, -0.01]
        .iter()
        .map(|n| {
            run(&[
                ("main;process", 0.2 + n),
                ("main;process;helper", 0.3 - n),
                ("main;other", 0.3),
            ])
        })
        .collect();
    let matched = compare::match_runs(&base, &head);
    let c = compare::compare(&base, &head, &matched, settings());
    let v = gate::verdict(&c, &matched, 5.0);
    let names = |rows: &[&compare::Row]| -> Vec<String> {
        rows.iter().map(|r| r.function.qualname.clone()).collect()
    };
    assert_eq!(names(&v.causes), ["process"]);
    assert_eq!(names(&v.callers), ["main"]);
}

#[test]
fn changed_functions_are_marked_in_every_format() {
    let (base, head) = regression();
    let mut c = compare(&base, &head);
    // diff alone: unknown, no `code` column, null in JSON.
    assert!(!table::render(&c, None, false).contains(" code "));
    let doc: serde_json::Value = serde_json::from_str(&json::render(&c, None).unwrap()).unwrap();
    assert!(doc["functions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["changed"].is_null()));
    // compare: tuned's lines changed, the others' did not.
    for r in &mut c.rows {
        r.changed = Some(r.function.qualname == "tuned");
    }
    let text = table::render(&c, None, false);
    let words = |end: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.ends_with(end)).unwrap();
        line.split_whitespace().take(3).map(String::from).collect()
    };
    assert_eq!(words("function (file:line)"), ["verdict", "code", "change"]);
    assert_eq!(
        words("tuned (/srv/app.py:30)"),
        ["slower", "changed", "+200"]
    );
    assert_eq!(words("main (/srv/app.py:20)"), ["slower", "+200", "ms"]);
    let md = markdown::render(&c, None);
    assert!(
        md.contains("| `tuned (/srv/app.py:30)` changed | 400 ms |"),
        "{md}"
    );
    assert!(md.contains("| `main (/srv/app.py:20)` | "), "{md}");
    let doc: serde_json::Value = serde_json::from_str(&json::render(&c, None).unwrap()).unwrap();
    let changed = |name: &str| {
        doc["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["function"] == name)
            .map(|f| f["changed"].clone())
            .unwrap()
    };
    assert_eq!(changed("tuned"), true);
    assert_eq!(changed("main"), false);
}
