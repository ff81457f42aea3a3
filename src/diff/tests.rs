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

    let mut offenders: Vec<&str> = c
        .offenders(5.0)
        .iter()
        .map(|r| r.function.qualname.as_str())
        .collect();
    offenders.sort_unstable();
    assert_eq!(offenders, ["main", "tuned"]);
    assert!(c.offenders(60.0).is_empty());
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
    assert!(c.offenders(5.0).is_empty());
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
    assert_eq!(
        doc["method"]["correction"],
        "benjamini-hochberg-same-time-groups"
    );
    assert_eq!(doc["method"]["hypotheses"], 3);
    assert_eq!(doc["base"]["runs"][0]["kind"], "recording");
    assert_eq!(doc["summary"]["slower"], 2);
    assert_eq!(doc["summary"]["unchanged"], 1);
    let rows = doc["functions"].as_array().unwrap();
    let tuned = rows.iter().find(|r| r["function"] == "tuned").unwrap();
    assert_eq!(tuned["file"], "/srv/app.py");
    assert_eq!(tuned["line"], 30);
    assert_eq!(tuned["verdict"], "slower");
    assert_eq!(tuned["significant"], true);
    assert!(tuned["group"].is_u64(), "{tuned}");
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

/// `runs` of one side from per-run seconds of each stack: `stacks[k]` is `(stack, seconds
/// in run 0, run 1, …)`.
fn side(stacks: &[(&str, &[f64])]) -> Vec<Run> {
    let runs = stacks[0].1.len();
    (0..runs)
        .map(|r| {
            let per_run: Vec<(&str, f64)> = stacks.iter().map(|(s, v)| (*s, v[r])).collect();
            run(&per_run)
        })
        .collect()
}

fn row_of<'a>(c: &'a Comparison, name: &str) -> &'a compare::Row {
    c.rows
        .iter()
        .find(|r| r.function.qualname == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

/// The benchmark harness of a real project: 25 frames between the interpreter and the
/// code it times, then `render_month` (about 40% of the run) over a chain of four helpers
/// that do its work, and `other`, noisy work beside it. 30 functions on one call path.
fn long_chain(render: [&[f64]; 2]) -> (Vec<Run>, Vec<Run>) {
    let wrappers: Vec<String> = (0..25).map(|i| format!("harness_{i}")).collect();
    let top = wrappers.join(";");
    let render_path = format!("{top};render_month;render_week;render_day;pad;cell");
    let other_path = format!("{top};other");
    let build = |render: &[f64], other: &[f64]| {
        side(&[
            (top.as_str(), &[0.002, 0.002, 0.002]),
            (render_path.as_str(), render),
            (other_path.as_str(), other),
        ])
    };
    (
        build(render[0], &[0.60, 0.90, 0.45]),
        build(render[1], &[0.80, 0.50, 0.70]),
    )
}

#[test]
fn a_clear_change_under_a_long_chain_of_callers_is_flagged() {
    // render_month +37.5%, 40 ms of spread per run: Welch's p is about 0.01.
    let (base, head) = long_chain([&[0.40, 0.44, 0.36], &[0.55, 0.59, 0.51]]);
    let c = compare(&base, &head);
    assert_eq!(c.method, Method::Welch);
    assert_eq!(c.rows.len(), 31);
    // Three hypotheses: the harness (the whole run), render_month's chain, other.
    assert_eq!(c.hypotheses, Some(3));
    let render = row_of(&c, "render_month");
    let p = render.estimate.unwrap().p;
    assert!(p > 0.005 && p < 0.02, "{render:?}");
    for name in ["render_month", "render_week", "render_day", "pad", "cell"] {
        let r = row_of(&c, name);
        assert_eq!(r.verdict, Verdict::Slower, "{r:?}");
        assert_eq!((r.group, r.q), (render.group, render.q));
    }
    // Three hypotheses, the smallest p ranked first: q = 3p.
    assert!((render.q.unwrap() - 3.0 * p).abs() < 1e-9, "{render:?}");
    for name in ["harness_0", "harness_24", "other"] {
        assert_eq!(verdict(&c, name), Verdict::Unchanged, "{name}");
    }
    assert_eq!(
        row_of(&c, "harness_0").group,
        row_of(&c, "harness_24").group
    );
    assert!(c
        .offenders(5.0)
        .iter()
        .any(|r| r.function.qualname == "render_month"));

    // What counting all 31 functions would have said: q = 31p/5, above 0.05.
    let plain = super::stats::benjamini_hochberg(
        &c.rows
            .iter()
            .map(|r| r.estimate.unwrap().p)
            .collect::<Vec<_>>(),
    );
    let at = c
        .rows
        .iter()
        .position(|r| r.function.qualname == "render_month")
        .unwrap();
    assert!(plain[at] > 0.05, "{}", plain[at]);
}

#[test]
fn independent_functions_are_still_corrected_one_by_one() {
    // main calls 20 functions, each with noise of its own. `f7` grew by 12% (Welch's p
    // about 0.02, significant alone); `twin` always takes exactly as long as f7 (the same
    // work beside it, not nested in it), so it is no copy of f7's question.
    // (stack, base runs, head runs)
    let mut stacks: Vec<(String, [f64; 3], [f64; 3])> = Vec::new();
    for i in 0..19 {
        let a = 0.04 + 0.001 * i as f64;
        let spread = [a, a + 0.003, a - 0.003];
        // The same three values in another order: no change on average.
        let turned = [spread[i % 3], spread[(i + 1) % 3], spread[(i + 2) % 3]];
        stacks.push((format!("main;f{i}"), spread, turned));
    }
    let (before, after) = ([0.050, 0.052, 0.048], [0.056, 0.058, 0.054]);
    stacks.push(("main;twin".into(), before, after));
    (stacks[7].1, stacks[7].2) = (before, after);
    let base = side(
        &stacks
            .iter()
            .map(|s| (s.0.as_str(), &s.1[..]))
            .collect::<Vec<_>>(),
    );
    let head = side(
        &stacks
            .iter()
            .map(|s| (s.0.as_str(), &s.2[..]))
            .collect::<Vec<_>>(),
    );
    let c = compare(&base, &head);
    assert_eq!(c.rows.len(), 21);
    assert_eq!(
        c.hypotheses,
        Some(21),
        "every function is a question of its own"
    );
    assert_ne!(row_of(&c, "f7").group, row_of(&c, "twin").group);
    let f7 = row_of(&c, "f7");
    let p = f7.estimate.unwrap().p;
    assert!(p > 0.01 && p < 0.05, "{f7:?}");
    assert!(f7.q.unwrap() > 0.05, "{f7:?}");
    assert!(
        c.rows.iter().all(|r| r.verdict == Verdict::Unchanged),
        "{:?}",
        c.counts()
    );
}

/// A standard normal draw (Box-Muller) from the bootstrap's generator.
fn normal(rng: &mut super::bootstrap::Rng) -> f64 {
    let u = |rng: &mut super::bootstrap::Rng| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let (a, b) = (u(rng).max(1e-300), u(rng));
    (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
}

/// One simulated run of a program shaped like a benchmark under a test runner: 25 harness
/// frames over `render_month` (40%, with a helper nested in it), `parse` (30%), `score`
/// (20%) and `log` (10%). Every run is slower or faster as a whole by a common factor (a
/// busy machine), and each function varies on its own. `slower`: render_month's extra work.
fn simulated_run(rng: &mut super::bootstrap::Rng, slower: f64) -> Run {
    let top = (0..25)
        .map(|i| format!("harness_{i}"))
        .collect::<Vec<_>>()
        .join(";");
    let whole = 1.0 + 0.05 * normal(rng);
    let mut work = |share: f64, noise: f64| (share * whole * (1.0 + noise * normal(rng))).max(0.0);
    let stacks = [
        (
            format!("{top};render_month;render_week"),
            work(0.4 * slower, 0.03),
        ),
        (format!("{top};parse"), work(0.3, 0.03)),
        (format!("{top};score"), work(0.2, 0.05)),
        (format!("{top};log"), work(0.1, 0.10)),
    ];
    let borrowed: Vec<(&str, f64)> = stacks.iter().map(|(s, v)| (s.as_str(), *v)).collect();
    run(&borrowed)
}

/// Whether `row` would be significant if every function counted as a hypothesis.
fn significant_counting_every_function(c: &Comparison, row: &compare::Row) -> bool {
    let q = super::stats::benjamini_hochberg(
        &c.rows
            .iter()
            .map(|r| r.estimate.map_or(1.0, |e| e.p))
            .collect::<Vec<_>>(),
    );
    let at = c.rows.iter().position(|r| std::ptr::eq(r, row)).unwrap();
    q[at] <= 0.05
}

/// The false-alarm rate of the grouped correction, measured: 1000 comparisons of 3 runs
/// against 3 of the same simulated program. The gate at 5% may fail in at most 5% of them
/// (Benjamini-Hochberg under the complete null keeps the chance of any discovery at α),
/// and a +20% render_month is caught more often than when every harness frame counts.
#[test]
fn the_false_alarm_rate_is_kept_and_power_gained() {
    let mut rng = super::bootstrap::Rng::new(11);
    let trials = 1000;
    let mut alarms = 0;
    for _ in 0..trials {
        let base: Vec<Run> = (0..3).map(|_| simulated_run(&mut rng, 1.0)).collect();
        let head: Vec<Run> = (0..3).map(|_| simulated_run(&mut rng, 1.0)).collect();
        let c = compare(&base, &head);
        assert_eq!(c.hypotheses, Some(5));
        alarms += usize::from(!c.offenders(5.0).is_empty());
    }
    eprintln!("gate failures on identical simulated code: {alarms} of {trials}");
    assert!(alarms <= trials * 5 / 100, "{alarms} of {trials}");

    let (mut grouped, mut plain) = (0, 0);
    for _ in 0..200 {
        let base: Vec<Run> = (0..3).map(|_| simulated_run(&mut rng, 1.0)).collect();
        let head: Vec<Run> = (0..3).map(|_| simulated_run(&mut rng, 1.2)).collect();
        let c = compare(&base, &head);
        let render = row_of(&c, "render_month");
        grouped += usize::from(render.verdict == Verdict::Slower);
        plain += usize::from(significant_counting_every_function(&c, render));
    }
    eprintln!(
        "+20% render_month caught in 200: {grouped} grouped, {plain} counting every function"
    );
    assert!(grouped > plain, "{grouped} vs {plain}");
}

/// Frames that only pass the call on change nothing: 20 more harness frames over the same
/// data leave every p and q as they were.
#[test]
fn pass_through_frames_do_not_move_the_verdicts() {
    let (base, head) = long_chain([&[0.40, 0.44, 0.36], &[0.55, 0.59, 0.51]]);
    let c = compare(&base, &head);
    let deeper = |runs: &[Run]| -> Vec<Run> {
        runs.iter()
            .cloned()
            .map(|mut r| {
                let first = r.functions.len() as u32;
                for i in 0..20 {
                    r.functions.push(super::input::FunctionName {
                        qualname: format!("runner_{i}"),
                        file: "/srv/runner.py".into(),
                        line: Some(i + 1),
                    });
                }
                for stack in &mut r.stacks {
                    stack.extend((first..first + 20).rev());
                }
                r
            })
            .collect()
    };
    let d = compare(&deeper(&base), &deeper(&head));
    assert_eq!(d.rows.len(), c.rows.len() + 20);
    assert_eq!(d.hypotheses, c.hypotheses);
    for r in &c.rows {
        let same = row_of(&d, &r.function.qualname);
        assert_eq!(
            (same.q, same.verdict),
            (r.q, r.verdict),
            "{}",
            r.function.qualname
        );
    }
    assert_eq!(row_of(&d, "runner_0").q, row_of(&c, "harness_0").q);
}

/// The same-time groups of every function of `base` and `head` runs, by name.
fn groups_of(base: &[Run], head: &[Run]) -> Vec<(String, u32)> {
    let matched = compare::match_runs(base, head);
    let totals: Vec<_> = matched
        .runs
        .iter()
        .enumerate()
        .map(|(r, run)| super::aggregate::run_totals(run, r, &matched.ids))
        .collect();
    let tested: Vec<usize> = (0..matched.ids.functions.len()).collect();
    let values: Vec<Vec<f64>> = tested
        .iter()
        .map(|&f| totals.iter().map(|t| t.cum[f]).collect())
        .collect();
    let g = super::hypotheses::same_time_groups(&matched.runs, &matched.ids, &tested, &values);
    let mut named: Vec<(String, u32)> = tested
        .iter()
        .map(|&f| (matched.ids.functions[f].qualname.clone(), g.of[f]))
        .collect();
    named.sort();
    named
}

#[test]
fn a_caller_that_only_calls_is_one_hypothesis_with_its_callee() {
    // main -> wrap -> work (wrap spends 0.5% outside work); main -> twin, as long as work
    // in every run but beside it, not under it.
    let one = |work: f64| {
        run(&[
            ("main;wrap;work", work),
            ("main;wrap", work * 0.005),
            ("main;twin", work),
        ])
    };
    let groups = groups_of(&[one(1.0), one(1.1)], &[one(1.2), one(0.9)]);
    let group = |name: &str| groups.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(group("wrap"), group("work"), "{groups:?}");
    assert_ne!(group("twin"), group("work"), "{groups:?}");
    assert_ne!(group("main"), group("work"), "{groups:?}");
}

#[test]
fn a_long_chain_does_not_drift_past_its_leader() {
    // f0 > f1 > ... > f5, each spending 0.6% of a second outside the next: neighbours are
    // within 2%, the chain is not.
    let stacks: Vec<(String, f64)> = (0..6)
        .map(|depth| {
            let path: Vec<String> = (0..=depth).map(|d| format!("f{d}")).collect();
            (path.join(";"), if depth == 5 { 1.0 } else { 0.006 })
        })
        .collect();
    let borrowed: Vec<(&str, f64)> = stacks.iter().map(|(s, v)| (s.as_str(), *v)).collect();
    let groups = groups_of(&[run(&borrowed)], &[run(&borrowed)]);
    // Leaders f0 and f4 (2.3% below f0); f5 is 0.6% below f4.
    let of: Vec<u32> = groups.iter().map(|(_, g)| *g).collect();
    assert_eq!(of, [0, 0, 0, 0, 1, 1], "{groups:?}");
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
