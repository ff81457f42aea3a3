//! Reports of small synthetic recordings, with numbers worked out by hand.

use std::path::Path;

use super::table::{tables, TableRow};
use super::*;
use crate::python::stack::ThreadStack;
use crate::recording::testutil::{first_line_of, record, Synth};

const MS: u64 = 1_000_000;

/// One thread, a tick every 10 ms: 5 × main;work;leaf, 3 × main;work, 2 × main.
fn small() -> Recording {
    let mut synth = Synth::default();
    let specs = [
        "main:1;work:5;leaf:9",
        "main:1;work:5;leaf:9",
        "main:1;work:6",
        "main:1;work:5;leaf:9",
        "main:2",
        "main:1;work:6",
        "main:1;work:5;leaf:9",
        "main:2",
        "main:1;work:6",
        "main:1;work:5;leaf:9",
    ];
    let ticks: Vec<_> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            (
                i as u64 * 10 * MS,
                vec![synth.thread(1, "MainThread", spec)],
            )
        })
        .collect();
    record(&synth, &ticks)
}

fn render_to_string(
    rec: &Recording,
    format: Format,
    view: &ViewOptions,
    opts: &RenderOptions,
) -> String {
    let mut out = Vec::new();
    render(rec, format, view, opts, &mut out).expect("render");
    String::from_utf8(out).expect("utf-8 output")
}

fn rows(rec: &Recording, view: &ViewOptions, opts: &RenderOptions) -> Vec<TableRow> {
    let profile = Profile::build(rec, view);
    let mut t = tables(rec, &profile, opts);
    assert_eq!(t.len(), 1);
    t.remove(0).rows
}

fn row<'a>(rows: &'a [TableRow], function: &str) -> &'a TableRow {
    rows.iter()
        .find(|r| r.function == function)
        .expect("row for function")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn table_numbers_are_exact() {
    let rec = small();
    let rows = rows(&rec, &ViewOptions::default(), &RenderOptions::default());
    let names: Vec<&str> = rows.iter().map(|r| r.function.as_str()).collect();
    assert_eq!(names, ["main", "work", "leaf"], "sorted by cumtime");
    let expect = [("main", 2, 10), ("work", 3, 8), ("leaf", 5, 5)];
    for (name, own, total) in expect {
        let r = row(&rows, name);
        assert_eq!((r.own_samples, r.total_samples), (own, total), "{name}");
        assert!(close(r.own_percent, own as f64 * 10.0), "{name} own%");
        assert!(close(r.total_percent, total as f64 * 10.0), "{name} total%");
        assert!(
            close(r.tottime, own as f64 * 0.01),
            "{name} tottime {}",
            r.tottime
        );
        assert!(
            close(r.cumtime, total as f64 * 0.01),
            "{name} cumtime {}",
            r.cumtime
        );
        assert_eq!(r.file, "app.py");
        assert_eq!(r.line, first_line_of(name));
    }
}

#[test]
fn table_sorts_and_limits() {
    let rec = small();
    let view = ViewOptions::default();
    let names = |sort: Sort, limit: Option<usize>| -> Vec<String> {
        let opts = RenderOptions {
            sort,
            limit,
            ..Default::default()
        };
        rows(&rec, &view, &opts)
            .into_iter()
            .map(|r| r.function)
            .collect()
    };
    assert_eq!(names(Sort::TotTime, None), ["leaf", "work", "main"]);
    assert_eq!(names(Sort::Samples, None), ["leaf", "work", "main"]);
    assert_eq!(names(Sort::Name, None), ["leaf", "main", "work"]);
    assert_eq!(names(Sort::CumTime, Some(2)), ["main", "work"]);
    use clap::ValueEnum;
    assert_eq!(Sort::from_str("tottime", true), Ok(Sort::TotTime));
    assert_eq!(Sort::from_str("cumulative", true), Ok(Sort::CumTime));
    assert!(Sort::from_str("bogus", true).is_err());
}

#[test]
fn table_lines_mode_splits_functions_by_line() {
    let rec = small();
    let opts = RenderOptions {
        lines: true,
        sort: Sort::Name,
        ..Default::default()
    };
    let rows = rows(&rec, &ViewOptions::default(), &opts);
    let got: Vec<(String, u32, u64, u64)> = rows
        .iter()
        .map(|r| (r.function.clone(), r.line, r.own_samples, r.total_samples))
        .collect();
    let expect = [
        ("leaf", 9, 5, 5),
        ("main", 1, 0, 8),
        ("main", 2, 2, 2),
        ("work", 5, 0, 5),
        ("work", 6, 3, 3),
    ];
    let expect: Vec<(String, u32, u64, u64)> = expect
        .iter()
        .map(|&(f, l, o, t)| (f.to_string(), l, o, t))
        .collect();
    assert_eq!(got, expect);
}

#[test]
fn recursion_is_counted_once_per_sample() {
    let mut synth = Synth::default();
    let specs = [
        "main:1;fib:3;fib:4;fib:4",
        "main:1;fib:3;fib:4",
        "main:1;fib:3",
        "main:1",
    ];
    let ticks: Vec<_> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            (
                i as u64 * 10 * MS,
                vec![synth.thread(1, "MainThread", spec)],
            )
        })
        .collect();
    let rec = record(&synth, &ticks);
    let rows = rows(&rec, &ViewOptions::default(), &RenderOptions::default());
    let fib = row(&rows, "fib");
    assert_eq!((fib.own_samples, fib.total_samples), (3, 3));
    assert!(close(fib.total_percent, 75.0));
    assert!(close(fib.cumtime, 0.03));
    let main = row(&rows, "main");
    assert_eq!((main.own_samples, main.total_samples), (1, 4));

    let lines = RenderOptions {
        lines: true,
        ..Default::default()
    };
    let rows = super::table::tables(&rec, &Profile::build(&rec, &ViewOptions::default()), &lines)
        .remove(0)
        .rows;
    let fib4 = rows
        .iter()
        .find(|r| r.function == "fib" && r.line == 4)
        .expect("fib:4");
    assert_eq!((fib4.own_samples, fib4.total_samples), (2, 2));
}

/// Two threads: main on CPU with the GIL, a worker idle without it, one unreadable sample.
fn two_threads() -> Recording {
    let mut synth = Synth::default();
    let ticks: Vec<(u64, Vec<ThreadStack>)> = (0..6u64)
        .map(|i| {
            let main = synth.thread(1, "MainThread", "main:1;compute:7");
            let mut worker = synth.thread(2, "worker", "run:1;wait:3");
            worker.on_cpu = Some(false);
            worker.holds_gil = false;
            if i == 5 {
                worker.error = Some(crate::python::ThreadError::KeptChanging { reads: 3 });
            }
            let mut bare = synth.thread(3, "bare", "");
            bare.on_cpu = None;
            (i * 10 * MS, vec![main, worker, bare])
        })
        .collect();
    record(&synth, &ticks)
}

#[test]
fn views_filter_idle_gil_threads_and_errors() {
    let rec = two_threads();
    let p = Profile::build(&rec, &ViewOptions::default());
    assert_eq!(p.samples, 6);
    assert_eq!(p.left_out.idle, 5);
    assert_eq!(p.left_out.errors, 1);
    assert_eq!(p.left_out.empty, 6);

    let idle = Profile::build(
        &rec,
        &ViewOptions {
            idle: true,
            ..Default::default()
        },
    );
    assert_eq!(idle.samples, 11);
    let gil = Profile::build(
        &rec,
        &ViewOptions {
            idle: true,
            gil_only: true,
            ..Default::default()
        },
    );
    assert_eq!((gil.samples, gil.left_out.without_gil), (6, 5));

    let only = ViewOptions {
        idle: true,
        thread_filter: Some(2),
        ..Default::default()
    };
    let worker = Profile::build(&rec, &only);
    assert_eq!((worker.samples, worker.left_out.other_threads), (5, 12));
    let by_python_id = ViewOptions {
        idle: true,
        thread_filter: Some(32),
        ..Default::default()
    };
    assert_eq!(Profile::build(&rec, &by_python_id).samples, 5);

    let per = Profile::build(
        &rec,
        &ViewOptions {
            idle: true,
            per_thread: true,
            ..Default::default()
        },
    );
    let groups: Vec<(String, u64)> = per
        .groups
        .iter()
        .map(|g| (rec.thread_label(g.thread.expect("thread")), g.samples))
        .collect();
    assert_eq!(
        groups,
        [
            ("MainThread (tid 1)".to_string(), 6),
            ("worker (tid 2)".to_string(), 5)
        ]
    );
}

#[test]
fn table_text_is_aligned_and_explained() {
    let rec = small();
    let text = render_to_string(
        &rec,
        Format::Table,
        &ViewOptions::default(),
        &RenderOptions::default(),
    );
    let expected = format!(
        "framescope profile of `python3 app.py` (pid 4242, CPython 3.12.3, 100 Hz)
10 samples, 0.100 s of wall time (--clock wall)
{legend}

own  total    own%   total%  tottime  cumtime  function (file:line)
  2     10  20.00%  100.00%    0.020    0.100  main (app.py:{main})
  3      8  30.00%   80.00%    0.030    0.080  work (app.py:{work})
  5      5  50.00%   50.00%    0.050    0.050  leaf (app.py:{leaf})
",
        legend = super::table::LEGEND,
        main = first_line_of("main"),
        work = first_line_of("work"),
        leaf = first_line_of("leaf"),
    );
    assert_eq!(text, expected);
}

#[test]
fn per_thread_table_has_a_section_per_thread() {
    let rec = two_threads();
    let view = ViewOptions {
        idle: true,
        per_thread: true,
        ..Default::default()
    };
    let text = render_to_string(&rec, Format::Table, &view, &RenderOptions::default());
    assert!(text.contains("== MainThread (tid 1): 6 samples"), "{text}");
    assert!(text.contains("== worker (tid 2): 5 samples"), "{text}");
    assert!(
        text.contains("left out: 1 with unreadable stacks, 6 with no Python frames"),
        "{text}"
    );
}

#[test]
fn collapsed_lines_are_root_first_and_merged() {
    let rec = small();
    let text = render_to_string(
        &rec,
        Format::Collapsed,
        &ViewOptions::default(),
        &RenderOptions::default(),
    );
    let (m, w, l) = (
        first_line_of("main"),
        first_line_of("work"),
        first_line_of("leaf"),
    );
    let expected = format!(
        "main (app.py:{m}) 2\nmain (app.py:{m});work (app.py:{w}) 3\nmain (app.py:{m});work (app.py:{w});leaf (app.py:{l}) 5\n"
    );
    assert_eq!(text, expected);

    let per_line = RenderOptions {
        lines: true,
        ..Default::default()
    };
    let text = render_to_string(&rec, Format::Collapsed, &ViewOptions::default(), &per_line);
    assert!(
        text.contains("main (app.py:1);work (app.py:5);leaf (app.py:9) 5\n"),
        "{text}"
    );
    assert!(text.contains("main (app.py:2) 2\n"), "{text}");

    let rec = two_threads();
    let view = ViewOptions {
        per_thread: true,
        ..Default::default()
    };
    let text = render_to_string(&rec, Format::Collapsed, &view, &RenderOptions::default());
    assert!(
        text.starts_with("MainThread (tid 1);main (app.py:"),
        "{text}"
    );
}

#[test]
fn inferno_reads_our_collapsed_stacks() {
    let rec = small();
    let text = render_to_string(
        &rec,
        Format::Collapsed,
        &ViewOptions::default(),
        &RenderOptions::default(),
    );
    let mut opt = inferno::flamegraph::Options::default();
    opt.hash = true;
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut opt, text.lines(), &mut svg).expect("inferno reads it");
    let svg = String::from_utf8(svg).expect("utf-8");
    // inferno's own tooltip text: "leaf (app.py:N) (5 samples, 50.00%)".
    let leaf = format!(
        "leaf (app.py:{}) (5 samples, 50.00%)",
        first_line_of("leaf")
    );
    assert!(
        svg.contains(&leaf),
        "inferno did not count leaf's 5 samples"
    );
    assert!(svg.contains("all (10 samples, 100%)"));
}

/// Parses SVG as XML (inferno's output declares the SVG DTD).
fn parse_svg(svg: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(svg, options).expect("the SVG is well-formed XML")
}

fn svg_texts(svg: &str) -> Vec<String> {
    let doc = parse_svg(svg);
    doc.descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text().map(str::to_string))
        .collect()
}

#[test]
fn flamegraph_is_valid_deterministic_svg() {
    let rec = small();
    let view = ViewOptions::default();
    let opts = RenderOptions::default();
    let svg = render_to_string(&rec, Format::Flamegraph, &view, &opts);
    let titles = svg_texts(&svg);
    for name in ["main", "work", "leaf"] {
        let label = format!("{name} (app.py:{})", first_line_of(name));
        assert!(
            titles.iter().any(|t| t.starts_with(&label)),
            "no frame {label} in {titles:?}"
        );
    }
    assert!(svg.contains("framescope: python3 app.py"));
    assert!(svg.contains("pid 4242 · 10 samples at 100 Hz · 0.10 s of wall time · CPython 3.12.3"));
    assert_eq!(
        svg,
        render_to_string(&rec, Format::Flamegraph, &view, &opts),
        "same bytes twice"
    );

    let icicle = RenderOptions {
        icicle: true,
        ..Default::default()
    };
    let inverted = render_to_string(&rec, Format::Flamegraph, &view, &icicle);
    assert_ne!(inverted, svg);
    svg_texts(&inverted);
}

#[test]
fn flamegraph_of_nothing_says_so() {
    let rec = two_threads();
    let view = ViewOptions {
        thread_filter: Some(99),
        ..Default::default()
    };
    let svg = render_to_string(&rec, Format::Flamegraph, &view, &RenderOptions::default());
    let doc = parse_svg(&svg);
    assert!(doc
        .descendants()
        .any(|n| n.text().is_some_and(|t| t.contains("No samples to show"))));
}

#[test]
fn speedscope_has_a_profile_per_thread_with_real_weights() {
    let rec = two_threads();
    let view = ViewOptions {
        idle: true,
        ..Default::default()
    };
    let json = render_to_string(&rec, Format::Speedscope, &view, &RenderOptions::default());
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(
        v["$schema"],
        "https://www.speedscope.app/file-format-schema.json"
    );
    let frames: Vec<&str> = v["shared"]["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(frames, ["main", "compute", "run", "wait"]);
    let profiles = v["profiles"].as_array().expect("profiles");
    assert_eq!(profiles.len(), 2);
    let main = &profiles[0];
    assert_eq!(main["name"], "MainThread (tid 1)");
    assert_eq!(main["type"], "sampled");
    assert_eq!(main["unit"], "seconds");
    // Six identical consecutive samples merge into one of 60 ms.
    assert_eq!(main["samples"], serde_json::json!([[0, 1]]));
    let w = main["weights"][0].as_f64().expect("weight");
    assert!(close(w, 0.06), "{w}");
    assert!(close(
        main["endValue"].as_f64().expect("end") - main["startValue"].as_f64().expect("start"),
        0.06
    ));
    let worker = &profiles[1];
    assert_eq!(worker["samples"], serde_json::json!([[2, 3]]));
    assert!(close(worker["weights"][0].as_f64().expect("weight"), 0.05));
}

#[test]
fn formats_come_from_file_names() {
    let cases = [
        ("out.svg", Some(Format::Flamegraph)),
        ("out.SVG", Some(Format::Flamegraph)),
        ("out.speedscope.json", Some(Format::Speedscope)),
        ("out.json", Some(Format::Speedscope)),
        ("out.txt", Some(Format::Collapsed)),
        ("out.folded", Some(Format::Collapsed)),
        ("out.collapsed", Some(Format::Collapsed)),
        ("out.pb.gz", Some(Format::Pprof)),
        ("OUT.PB.GZ", Some(Format::Pprof)),
        ("out.pprof", Some(Format::Pprof)),
        ("out.gz", None),
        ("out.fsr", None),
        ("out", None),
        ("run.prof", Some(Format::Pstats)),
        (".prof", None),
    ];
    for (name, format) in cases {
        assert_eq!(Format::from_path(Path::new(name)), format, "{name}");
    }
    // An extension no format claims is an error naming every format; --format wins.
    let err = Format::for_output(None, Path::new("run.png"), &[]).unwrap_err();
    for name in Format::NAMES {
        assert!(err.contains(name), "{err}");
    }
    assert!(
        err.contains("`.png`") && err.contains(".prof (pstats)") && err.contains(".pb.gz (pprof)"),
        "{err}"
    );
    assert_eq!(
        Format::for_output(Some(Format::Table), Path::new("run.pb.gz"), &[]),
        Ok(Some(Format::Table))
    );
    assert_eq!(
        Format::for_output(Some(Format::Collapsed), Path::new("x.svg"), &[]),
        Ok(Some(Format::Collapsed))
    );
    assert_eq!(
        Format::for_output(None, Path::new("x.fsr"), &["fsr"]),
        Ok(None)
    );
    assert_eq!(Format::for_output(None, Path::new("out"), &[]), Ok(None));
    assert!(Format::for_output(None, Path::new("x.fsr"), &[]).is_err());
    for name in Format::NAMES {
        assert_eq!(name.parse::<Format>().map(Format::name), Ok(name));
    }
}

#[test]
fn every_format_renders_an_empty_recording() {
    let rec = record(&Synth::default(), &[]);
    for format in [
        Format::Table,
        Format::Flamegraph,
        Format::Speedscope,
        Format::Collapsed,
        // Pstats refuses an empty view: pstats cannot load an empty file.
    ] {
        let text = render_to_string(
            &rec,
            format,
            &ViewOptions::default(),
            &RenderOptions::default(),
        );
        if format == Format::Table {
            assert!(text.contains("no samples to show"), "{text}");
        }
    }
}

#[test]
fn limit_0_shows_every_row_as_in_diff() {
    let rec = small();
    let opts = RenderOptions {
        limit: Some(0),
        ..Default::default()
    };
    let names: Vec<String> = rows(&rec, &ViewOptions::default(), &opts)
        .into_iter()
        .map(|r| r.function)
        .collect();
    assert_eq!(names, ["main", "work", "leaf"]);
    let text = render_to_string(&rec, Format::Table, &ViewOptions::default(), &opts);
    assert!(!text.contains("functions shown"), "{text}");
}

#[test]
fn a_view_without_samples_says_0_000_s_not_minus_zero() {
    let rec = small();
    let view = ViewOptions {
        thread_filter: Some(999),
        ..Default::default()
    };
    let table = render_to_string(&rec, Format::Table, &view, &RenderOptions::default());
    assert!(table.contains("\n0 samples, 0.000 s"), "{table}");
    assert!(!table.contains("-0.0"), "{table}");
    let svg = render_to_string(&rec, Format::Flamegraph, &view, &RenderOptions::default());
    assert!(svg.contains("0.00 s") && !svg.contains("-0.0"), "{svg}");
}

/// Names chosen by the target, with a clear-screen escape, BEL, NUL, a line break that
/// would forge a row, a C1 control and U+FFFF: shown escaped in the table and the
/// collapsed lines, and the flamegraph stays well-formed XML.
#[test]
fn control_characters_in_names_are_escaped_in_text_and_svg() {
    let evil = "evil\x1b[2J\x07\0\nFORGED\u{85}\u{ffff}";
    let shown = "evil\\x1b[2J\\x07\\0\\nFORGED\\u{85}\\u{ffff}";
    let mut synth = Synth::default();
    let code = synth.code(evil, "file\x1b]0;title\x07.py", 3);
    let mut thread = synth.thread(1, "thread\x1b[31m\n", "main:1");
    thread
        .frames
        .insert(0, crate::python::stack::RawFrame { code, line: 4 });
    let rec = record(
        &synth,
        &[(0, vec![thread.clone()]), (10 * MS, vec![thread])],
    );
    let view = ViewOptions {
        per_thread: true,
        ..Default::default()
    };
    let opts = RenderOptions::default();
    for format in [Format::Table, Format::Collapsed, Format::Flamegraph] {
        let text = render_to_string(&rec, format, &view, &opts);
        let raw: Vec<char> = text
            .chars()
            .filter(|&c| c != '\n' && (c.is_control() || c == '\u{ffff}'))
            .collect();
        assert!(raw.is_empty(), "{format:?}: raw {raw:?} in {text}");
        assert!(text.contains(shown), "{format:?}: {text}");
        assert!(
            text.contains("file\\x1b]0:title\\x07.py")
                || text.contains("file\\x1b]0;title\\x07.py"),
            "{format:?}: {text}"
        );
        assert!(text.contains("thread\\x1b[31m\\n"), "{format:?}: {text}");
        assert!(
            !text.lines().any(|l| l.starts_with("FORGED")),
            "{format:?}: {text}"
        );
        if format == Format::Flamegraph {
            let options = roxmltree::ParsingOptions {
                allow_dtd: true,
                ..Default::default()
            };
            roxmltree::Document::parse_with_options(&text, options).expect("well-formed SVG");
        }
    }
}

/// A recording whose samples carry asyncio tasks: `worker` (coroutine `serve`, on the
/// stack) twice, and a hostile name whose coroutine is not on the stack once.
fn with_tasks(hostile: &str) -> Recording {
    use crate::recording::testutil::{meta, TempPath};
    use crate::recording::{RecordingWriter, TickTask, TickTime};
    let mut synth = Synth::default();
    let path = TempPath::new("tasks");
    let mut writer = RecordingWriter::create(&path.0, &meta()).expect("create");
    let worker = TickTask {
        address: 0x1000,
        name: "worker",
        coroutine: "serve",
    };
    let evil = TickTask {
        address: 0x2000,
        name: hostile,
        coroutine: "absent",
    };
    let ticks = [
        ("main;run_forever;serve;leaf", Some(worker)),
        ("main;run_forever;serve;leaf", Some(worker)),
        ("main;run_forever", Some(evil)),
        ("main;run_forever", None),
    ];
    for (i, (spec, task)) in ticks.iter().enumerate() {
        let thread = synth.thread(1, "MainThread", spec);
        let time = TickTime {
            elapsed_ns: (i as u64 + 1) * 10_000_000,
            interval_ns: 10_000_000,
        };
        writer
            .write_tick_with_tasks(time, &[thread], &synth.codes, &[*task])
            .expect("tick");
    }
    writer.finish().expect("finish");
    crate::recording::read(&path.0).expect("read back")
}

#[test]
fn async_views_put_the_task_between_the_loop_and_its_coroutine() {
    let rec = with_tasks("evil;\n\u{1b}[31mname");
    assert_eq!(rec.tasks.len(), 2);
    let (m, r, s, l) = (
        first_line_of("main"),
        first_line_of("run_forever"),
        first_line_of("serve"),
        first_line_of("leaf"),
    );
    let view = ViewOptions {
        clock: profile::Clock::Wall,
        tasks: Some(profile::TasksBy::Name),
        ..Default::default()
    };
    let text = render_to_string(&rec, Format::Collapsed, &view, &RenderOptions::default());
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&&*format!(
            "main (app.py:{m});run_forever (app.py:{r});task: worker;serve (app.py:{s});leaf (app.py:{l}) 2"
        )),
        "{text}"
    );
    // Not on the stack: innermost; the name escaped, its `;` unable to split the line.
    let evil = lines
        .iter()
        .find(|l| l.contains("task: evil"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        evil.starts_with(&format!(
            "main (app.py:{m});run_forever (app.py:{r});task: evil:"
        )),
        "{text}"
    );
    assert_eq!(evil.matches(';').count(), 2, "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(lines.contains(&&*format!("main (app.py:{m});run_forever (app.py:{r}) 1")));
    // By coroutine: the frame names the coroutine; without --async, no task frames.
    let by_coroutine = ViewOptions {
        tasks: Some(profile::TasksBy::Coroutine),
        ..view.clone()
    };
    let text = render_to_string(
        &rec,
        Format::Collapsed,
        &by_coroutine,
        &RenderOptions::default(),
    );
    assert!(text.contains(";task: serve;serve (app.py:"), "{text}");
    assert!(text.contains(";task: absent 1"), "{text}");
    let plain = ViewOptions {
        tasks: None,
        ..view.clone()
    };
    let text = render_to_string(&rec, Format::Collapsed, &plain, &RenderOptions::default());
    assert!(!text.contains("task: "), "{text}");
    // The table, flamegraph and speedscope see the same frames.
    let table = render_to_string(&rec, Format::Table, &view, &RenderOptions::default());
    assert!(table.contains("task: worker"), "{table}");
    let svg = render_to_string(&rec, Format::Flamegraph, &view, &RenderOptions::default());
    assert!(svg.contains("task: worker"));
    let json = render_to_string(&rec, Format::Speedscope, &view, &RenderOptions::default());
    assert!(json.contains("task: worker"));
}
