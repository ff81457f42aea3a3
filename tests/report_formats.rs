//! Output formats checked by the tools that read them, on a recording written through the
//! public API (no live Python needed): speedscope files against the JSON schema the
//! speedscope package ships (validated with ajv under node, installed from
//! tests/node/package-lock.json on first use), collapsed stacks through inferno, and the
//! flamegraph through an XML parser. Needs node and npm; fails when they are missing.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use framescope::python::stack::{CodeInfo, CodeTable, RawFrame, ThreadStack};
use framescope::python::ThreadError;
use framescope::recording::{self, Recording, RecordingMeta, RecordingSummary, RecordingWriter};
use framescope::report::{self, Format, RenderOptions, ViewOptions};

/// Three threads over awkward names (quotes, `<module>`, non-ASCII), some idle samples,
/// some unreadable ones; written to `path`, and read back.
fn write_recording(path: &Path) -> Recording {
    let mut codes = CodeTable::default();
    let mut code = |qualname: &str, file: &str, line: u32| {
        codes.push(CodeInfo {
            name: qualname.rsplit('.').next().unwrap_or(qualname).to_string(),
            qualname: qualname.to_string(),
            filename: file.to_string(),
            first_line: line,
        })
    };
    let module = code("<module>", "/srv/app/main.py", 1);
    let handler = code("Server.handle", "/srv/app/server.py", 40);
    let parse = code("parse_\"quoted\"", "/srv/app/päth with space.py", 7);
    let json = code(
        "JSONDecoder.decode",
        "/usr/lib/python3.12/json/decoder.py",
        332,
    );
    let lib = code(
        "<lambda>",
        "/venv/lib/python3.12/site-packages/lib;odd.py",
        3,
    );
    let wait = code("Condition.wait", "/usr/lib/python3.12/threading.py", 323);
    let shapes: Vec<Vec<RawFrame>> = [
        vec![(module, 3), (handler, 41), (parse, 9), (json, 340)],
        vec![(module, 3), (handler, 44), (lib, 3)],
        vec![(module, 3), (handler, 41), (parse, 8)],
        vec![(module, 5)],
    ]
    .into_iter()
    .map(|frames| {
        let mut frames: Vec<RawFrame> = frames
            .into_iter()
            .map(|(code, line)| RawFrame { code, line })
            .collect();
        frames.reverse();
        frames
    })
    .collect();
    let meta = RecordingMeta {
        pid: 777,
        command: vec!["python3".into(), "-m".into(), "app server".into()],
        python_version: "3.12.3".into(),
        rate_hz: 200.0,
        start_unix_ns: 1_700_000_000_000_000_000,
        blocking: false,
    };
    let mut writer = RecordingWriter::create(path, &meta).expect("create recording");
    let names: [Arc<str>; 3] = [
        Arc::from("MainThread"),
        Arc::from("wörker-1"),
        Arc::from("idle"),
    ];
    for i in 0..2000u64 {
        let main = ThreadStack {
            os_tid: Some(100),
            python_thread_id: 0x7f00_0000_0100,
            name: Some(names[0].clone()),
            holds_gil: i % 2 == 0,
            on_cpu: Some(true),
            frames: shapes[(i % 4) as usize].clone(),
            error: None,
            cpu_ns: Some(5_000_000),
            truncated: false,
        };
        let worker = ThreadStack {
            os_tid: Some(101),
            python_thread_id: 0x7f00_0000_0200,
            name: Some(names[1].clone()),
            holds_gil: i % 2 == 1,
            on_cpu: Some(i % 5 != 0),
            frames: shapes[((i / 3) % 4) as usize].clone(),
            error: (i % 97 == 0).then_some(ThreadError::KeptChanging { reads: 3 }),
            cpu_ns: Some(if i % 5 != 0 { 4_000_000 } else { 0 }),
            truncated: false,
        };
        let sleeper = ThreadStack {
            os_tid: None,
            python_thread_id: 0x7f00_0000_0300,
            name: Some(names[2].clone()),
            holds_gil: false,
            on_cpu: Some(false),
            frames: vec![RawFrame {
                code: wait,
                line: 327,
            }],
            error: None,
            cpu_ns: None,
            truncated: false,
        };
        // 5 ms apart, with a stall now and then.
        let t = i * 5_000_000 + (i / 500) * 40_000_000;
        writer
            .write_sample(t, &[main, worker, sleeper], &codes)
            .expect("write sample");
    }
    writer
        .write_summary(&RecordingSummary {
            samples: 2000,
            duration_ns: 10_000_000_000,
            ..Default::default()
        })
        .expect("write summary");
    writer.finish().expect("finish");
    recording::read(path).expect("read back")
}

fn render(rec: &Recording, format: Format, view: &ViewOptions, options: &RenderOptions) -> Vec<u8> {
    let mut out = Vec::new();
    report::render(rec, format, view, options, &mut out).expect("render");
    out
}

/// The node project that holds the validators, installed once per target dir (again only
/// when tests/node/package-lock.json changes).
fn node_checks() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("node");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("node-checks");
        fs::create_dir_all(&dir).expect("create node-checks dir");
        for file in ["package.json", "package-lock.json", "validate-speedscope.js"] {
            fs::copy(src.join(file), dir.join(file)).expect("copy tests/node file");
        }
        let lock = fs::read(src.join("package-lock.json")).expect("read package-lock.json");
        let stamp = dir.join("node_modules").join(".framescope-installed-lock");
        if fs::read(&stamp).ok().as_deref() != Some(&lock[..]) {
            let output = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"])
                .current_dir(&dir)
                .output()
                .expect("npm is needed for this test (node and npm are on every machine of this project)");
            assert!(
                output.status.success(),
                "npm ci failed in {}:\n{}{}",
                dir.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            fs::write(&stamp, &lock).expect("write install stamp");
        }
        dir
    })
}

/// Runs the schema validator on `files`: (all valid, what it printed).
fn validate_speedscope(files: &[PathBuf]) -> (bool, String) {
    let dir = node_checks();
    let output = Command::new("node")
        .arg(dir.join("validate-speedscope.js"))
        .args(files)
        .output()
        .expect("node is needed for this test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match output.status.code() {
        Some(0) => (true, text),
        Some(1) => (false, text),
        _ => panic!("the speedscope validator could not run:\n{text}"),
    }
}

#[test]
fn speedscope_output_matches_the_published_schema() {
    let rec = write_recording(&common::scratch("report-formats", "schema.fsr"));
    let views = [
        ("default", ViewOptions::default(), RenderOptions::default()),
        (
            "idle",
            ViewOptions {
                idle: true,
                ..Default::default()
            },
            RenderOptions::default(),
        ),
        (
            "lines-gil",
            ViewOptions {
                gil_only: true,
                ..Default::default()
            },
            RenderOptions {
                lines: true,
                ..Default::default()
            },
        ),
        (
            "nothing",
            ViewOptions {
                thread_filter: Some(4242),
                ..Default::default()
            },
            RenderOptions::default(),
        ),
    ];
    let mut files = Vec::new();
    for (name, view, options) in &views {
        let path = common::scratch("report-formats", &format!("{name}.speedscope.json"));
        fs::write(&path, render(&rec, Format::Speedscope, view, options)).expect("write json");
        files.push(path);
    }
    let (valid, text) = validate_speedscope(&files);
    assert!(
        valid,
        "speedscope output does not match the schema:\n{text}"
    );

    let idle: serde_json::Value =
        serde_json::from_slice(&fs::read(&files[1]).expect("read")).expect("json");
    let profiles = idle["profiles"].as_array().expect("profiles");
    let names: Vec<&str> = profiles
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "MainThread (tid 100)",
            "wörker-1 (tid 101)",
            "idle (id 0x7f0000000300)"
        ]
    );
    let frames = idle["shared"]["frames"].as_array().expect("frames");
    assert!(frames
        .iter()
        .any(|f| f["name"] == "parse_\"quoted\"" && f["file"] == "/srv/app/päth with space.py"));
    // Every sample's weight is the time it stands for: 2000 samples of the main thread, each
    // 5 ms of CPU time (the default clock; each tick also stands for one 5 ms period).
    let main = &profiles[0];
    let total: f64 = main["weights"]
        .as_array()
        .expect("weights")
        .iter()
        .filter_map(|w| w.as_f64())
        .sum();
    assert!((total - 2000.0 * 0.005).abs() < 1e-6, "{total}");

    // The check is worth something: a broken file is refused.
    let broken = common::scratch("report-formats", "broken.speedscope.json");
    let mut bad = idle.clone();
    bad["profiles"][0]["type"] = "sampledd".into();
    bad["profiles"][1]
        .as_object_mut()
        .expect("profile")
        .remove("weights");
    fs::write(&broken, serde_json::to_vec(&bad).expect("json")).expect("write");
    let (valid, text) = validate_speedscope(&[broken]);
    assert!(!valid, "the validator accepted a broken file:\n{text}");
}

#[test]
fn collapsed_output_is_read_back_by_inferno() {
    let rec = write_recording(&common::scratch("report-formats", "collapsed.fsr"));
    let view = ViewOptions {
        idle: true,
        per_thread: true,
        ..Default::default()
    };
    let text = String::from_utf8(render(
        &rec,
        Format::Collapsed,
        &view,
        &RenderOptions::default(),
    ))
    .expect("utf-8");
    let total: u64 = text
        .lines()
        .map(|l| {
            l.rsplit_once(' ')
                .and_then(|(_, n)| n.parse::<u64>().ok())
                .expect("count")
        })
        .sum();
    assert!(
        text.lines().all(|l| l.split(';').count() >= 2),
        "every line has a thread root"
    );
    assert!(
        text.contains("site-packages/lib:odd.py"),
        "a `;` in a file name is replaced"
    );
    let mut opt = inferno::flamegraph::Options::default();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut opt, text.lines(), &mut svg).expect("inferno reads it");
    let svg = String::from_utf8(svg).expect("utf-8");
    assert!(
        svg.contains(&format!("all ({} samples, 100%)", fmt_thousands(total))),
        "totals agree"
    );
}

/// 1234567 as inferno prints it: 1,234,567.
fn fmt_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn every_format_renders_a_cut_off_recording() {
    let path = common::scratch("report-formats", "cut.fsr");
    write_recording(&path);
    let bytes = fs::read(&path).expect("read");
    let cut = common::scratch("report-formats", "cut-short.fsr");
    fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
    let rec = recording::read(&cut).expect("a cut-off recording is readable");
    assert!(rec.truncated && rec.summary.is_none() && !rec.samples.is_empty());
    for format in [
        Format::Table,
        Format::Flamegraph,
        Format::Speedscope,
        Format::Collapsed,
    ] {
        let out = render(
            &rec,
            format,
            &ViewOptions::default(),
            &RenderOptions::default(),
        );
        assert!(!out.is_empty(), "{format:?}");
        if format == Format::Flamegraph {
            let svg = String::from_utf8(out).expect("utf-8");
            let options = roxmltree::ParsingOptions {
                allow_dtd: true,
                ..Default::default()
            };
            roxmltree::Document::parse_with_options(&svg, options).expect("well-formed SVG");
            assert!(svg.contains("recording incomplete"));
        }
    }
}
