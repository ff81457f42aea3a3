//! The output's extension picks the format of `report -o` and `record -o`; one that no
//! format claims is refused before any work, with every format listed, and `--format`
//! always wins over the extension. Run against the real binary.

mod common;

use common::framescope;

/// `framescope record -q OPTIONS -o OUT` of a tiny Python program; it must succeed.
fn record_tiny(options: &[&str], out: &std::path::Path) {
    let mut args = vec!["record", "-q"];
    args.extend_from_slice(options);
    args.extend(["-o", out.to_str().unwrap()]);
    args.extend(["--", "/usr/bin/python3.11", "-c", "sum(range(3_000_000))"]);
    common::framescope_ok(&args);
}

fn assert_lists_the_formats(stderr: &str) {
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for name in [
        "table",
        "flamegraph",
        "speedscope",
        "collapsed",
        "pprof",
        "pstats",
    ] {
        assert!(stderr.contains(name), "{name} not listed: {stderr}");
    }
    assert!(stderr.contains("`.png`"), "{stderr}");
}

#[test]
fn report_refuses_an_unknown_extension_and_format_wins() {
    let _ = std::fs::remove_file(common::scratch("output-extension", "run.fsr"));
    let rec = common::scratch("output-extension", "run.fsr");
    // A real recording of a tiny Python program.
    record_tiny(&[], &rec);

    let bad = common::scratch("output-extension", "run.png");
    let _ = std::fs::remove_file(&bad);
    let out = framescope(&["report", rec.to_str().unwrap(), "-o", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_lists_the_formats(&String::from_utf8_lossy(&out.stderr));
    assert!(!bad.exists(), "nothing is written");

    // --format wins: a table, whatever the name says.
    let out = framescope(&[
        "report",
        rec.to_str().unwrap(),
        "--format",
        "table",
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&bad).expect("the table");
    assert!(text.contains("cumtime"), "{text}");
    let svg_named = common::scratch("output-extension", "table.svg");
    let out = framescope(&[
        "report",
        rec.to_str().unwrap(),
        "--format",
        "collapsed",
        "-o",
        svg_named.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&svg_named).expect("collapsed");
    assert!(
        !text.contains("<svg") && text.contains("<module>"),
        "{text}"
    );

    // A binary format is not poured onto a terminal (script(1) gives the command one).
    for format in ["pprof", "pstats"] {
        let command = format!(
            "{} report {} --format {format}",
            env!("CARGO_BIN_EXE_framescope"),
            rec.display()
        );
        let out = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .output()
            .expect("script(1) runs");
        let screen = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{screen}");
        assert!(
            screen.contains(&format!(
                "{format} is a binary format: write it with -o FILE"
            )),
            "{screen}"
        );
    }
}

#[test]
fn record_refuses_an_unknown_extension_before_starting_the_command() {
    let bad = common::scratch("output-extension", "rec.png");
    let marker = common::scratch("output-extension", "started");
    let _ = std::fs::remove_file(&marker);
    let out = framescope(&[
        "record",
        "-o",
        bad.to_str().unwrap(),
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_lists_the_formats(&stderr);
    assert!(stderr.contains(".fsr (a recording)"), "{stderr}");
    assert!(!marker.exists(), "the command was not started");
    assert!(!bad.exists());

    // --format wins over the extension here too.
    record_tiny(&["--format", "pstats"], &bad);
    let bytes = std::fs::read(&bad).expect("written");
    assert_eq!(bytes.first(), Some(&b'{'), "a marshalled dict");
    let _ = std::fs::remove_file(&bad);
}
