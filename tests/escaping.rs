//! A target that names its function, its file and a thread with terminal escapes, BEL, NUL,
//! a line break that would forge a line, a C1 control and U+FFFF (tests/scenarios/
//! evil_names.py), on every interpreter of the matrix: every human-readable output shows
//! them escaped (`\x1b`, `\n`, ...), and every flamegraph is well-formed XML.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{among_others, for_each_python, framescope, spawn};

/// The evil function name as the outputs must show it (the script's `EVIL`).
const SHOWN_NAME: &str = r"evil\x1b[2J\x07\0\nFORGED LINE\u{85}\u{ffff}";
/// Its file name, shown (the script's `EVIL_FILE`).
const SHOWN_FILE: &str = r"evil\x1b[2Jname\x07\0\n.py";

/// Control characters other than the line ends of the output itself, and U+FFFF.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| (c.is_control() && c != '\n') || c == '\u{ffff}')
        .collect()
}

/// `text` holds no raw control character, no forged line, and shows `needles` escaped.
fn check_text(what: &str, text: &str, needles: &[&str]) {
    let raw = raw_controls(text);
    assert!(raw.is_empty(), "{what}: raw {raw:?} in:\n{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("FORGED LINE")),
        "{what}: a line forged by a name:\n{text}"
    );
    for needle in needles {
        assert!(text.contains(needle), "{what}: no {needle} in:\n{text}");
    }
}

/// The SVG at `path` parses as XML and names the evil function, escaped.
fn check_svg(what: &str, path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{what}: {e}"));
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&text, options)
        .unwrap_or_else(|e| panic!("{what}: not well-formed XML: {e}"));
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        titles.iter().any(|t| t.contains(SHOWN_NAME)),
        "{what}: {titles:?}"
    );
}

fn ok(what: &str, args: &[&str]) -> (String, String) {
    let out = framescope(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{what}: {args:?}: {stderr}");
    (stdout, stderr)
}

#[test]
fn names_with_control_characters_are_shown_escaped_and_svgs_stay_xml() {
    let _cpu = among_others();
    for_each_python(|py| {
        let mut target = spawn(py, "evil_names.py", &[]);
        target.wait_ready();
        let pid = target.pid.to_string();
        let path = |name: &str| target.host_path(name).to_string_lossy().into_owned();
        let thread = r"threadevil\x1b[2J\x07\0\nFORGED LINE\u{85}\u{ffff}";

        let (dump, _) = ok("dump", &["dump", "--pid", &pid]);
        check_text("dump", &dump, &[SHOWN_NAME, SHOWN_FILE, thread]);

        // record's closing summary (the top of the table) on stderr.
        let (rec_a, rec_b) = (path("a.fsr"), path("b.fsr"));
        for rec in [&rec_a, &rec_b] {
            let (_, summary) = ok(
                "record",
                &["record", "--pid", &pid, "--duration", "0.5", "-o", rec],
            );
            check_text("record's summary", &summary, &[SHOWN_NAME, SHOWN_FILE]);
        }
        let svg = path("record.svg");
        ok(
            "record -o svg",
            &["record", "--pid", &pid, "--duration", "0.5", "-o", &svg],
        );
        check_svg("record -o svg", Path::new(&svg));

        let (table, _) = ok("report", &["report", &rec_a, "--threads", "--idle"]);
        check_text("report table", &table, &[SHOWN_NAME, SHOWN_FILE, thread]);
        let (collapsed, _) = ok(
            "collapsed",
            &["report", &rec_a, "--format", "collapsed", "--threads"],
        );
        check_text("collapsed", &collapsed, &[SHOWN_NAME, thread]);
        let svg = path("report.svg");
        ok("report -o svg", &["report", &rec_a, "-o", &svg]);
        check_svg("report -o svg", Path::new(&svg));

        // Against a base without the evil function, it is "new": in every section.
        let base = path("base.folded");
        std::fs::write(&base, "main (app.py:1) 100\n").expect("base");
        for format in ["table", "markdown"] {
            let (diff, _) = ok(
                "diff",
                &[
                    "diff", &base, &rec_a, "--format", format, "--color", "never",
                ],
            );
            check_text(&format!("diff {format}"), &diff, &[SHOWN_NAME]);
        }
        let (head, gone) = (path("diff.svg"), path("gone.svg"));
        ok(
            "diff --flamegraph",
            &[
                "diff",
                &rec_a,
                &rec_b,
                "--flamegraph",
                &head,
                "--flamegraph-gone",
                &gone,
            ],
        );
        check_svg("diff --flamegraph", Path::new(&head));
        check_svg("diff --flamegraph-gone", Path::new(&gone));

        // JSON stays exact: the name comes back byte for byte.
        let (json, _) = ok("dump --json", &["dump", "--pid", &pid, "--json"]);
        let json: serde_json::Value = serde_json::from_str(&json).expect("dump JSON");
        let exact = "evil\x1b[2J\x07\0\nFORGED LINE\u{85}\u{ffff}";
        let functions: Vec<&str> = json["threads"]
            .as_array()
            .expect("threads")
            .iter()
            .flat_map(|t| t["frames"].as_array().into_iter().flatten())
            .filter_map(|f| f["function"].as_str())
            .collect();
        assert!(functions.contains(&exact), "{}: {functions:?}", py.name);
        std::thread::sleep(Duration::from_millis(10));
    });
}
