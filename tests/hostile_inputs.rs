//! Hostile and huge inputs to `report` and `diff`: files that are not regular files, a
//! recording whose few bytes name millions of frames, stacks deeper than reports keep,
//! collapsed lines of a million frames and loosely written counts. framescope runs under
//! `prlimit --as` (an address-space limit well below what these inputs used to take), so
//! a regression fails the test instead of exhausting the machine; each run must end within
//! a deadline, with the exit status and the one-line message or warning stated.

mod common;

mod hostile;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Address space framescope may use in these tests.
const ADDRESS_SPACE: &str = "--as=1073741824";
/// How long one run may take.
const DEADLINE: Duration = Duration::from_secs(30);

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs framescope with `args` under the address-space limit; fails the test when it is
/// still running after [`DEADLINE`].
fn framescope(args: &[&str]) -> Run {
    let mut child = Command::new("prlimit")
        .arg(ADDRESS_SPACE)
        .arg(env!("CARGO_BIN_EXE_framescope"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start framescope under prlimit");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for framescope") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("framescope {args:?} still ran after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    Run {
        code: status.code(),
        stdout: reader.join().expect("stdout reader"),
        stderr: stderr.trim_end().to_string(),
    }
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success());
}

#[test]
fn inputs_that_are_not_regular_files_are_refused_at_once() {
    let fifo = common::scratch("hostile-inputs", "pipe.fsr");
    mkfifo(&fifo);
    let fifo = fifo.to_str().expect("utf-8 path");
    let not_regular = "not a regular file; framescope reads its inputs from regular files only";

    let run = framescope(&["report", fifo]);
    assert_eq!(run.code, Some(8), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!("framescope: {fifo}: is a FIFO (named pipe), {not_regular}")
    );
    let run = framescope(&["report", "/dev/zero"]);
    assert_eq!(run.code, Some(8), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!("framescope: /dev/zero: is a character device, {not_regular}")
    );

    let good = common::scratch("hostile-inputs", "good.txt");
    std::fs::write(&good, "main;work 3\n").expect("write");
    let good = good.to_str().expect("utf-8 path");
    for (base, head, named, kind) in [
        (good, fifo, fifo, "a FIFO (named pipe)"),
        ("/dev/zero", good, "/dev/zero", "a character device"),
        (good, "/tmp", "/tmp", "a directory"),
    ] {
        let run = framescope(&["diff", base, head]);
        assert_eq!(run.code, Some(8), "{}", run.stderr);
        assert_eq!(
            run.stderr,
            format!("framescope: {named}: is {kind}, {not_regular}")
        );
    }
}

#[test]
fn a_recording_naming_millions_of_frames_in_few_bytes_is_bounded() {
    let path = common::scratch("hostile-inputs", "chain.fsr");
    hostile::deep_prefix_chain(&path, 12_000, 7);
    let size = std::fs::metadata(&path).expect("stat").len();
    assert!(size < 300_000, "{size} bytes");
    let file = path.to_str().expect("utf-8 path");
    let cut = format!(
        "framescope: warning: {file}: 7904 distinct stacks are deeper than 4096 frames; only the innermost 4096 frames of each are shown"
    );

    for format in ["flamegraph", "collapsed", "speedscope"] {
        let run = framescope(&["report", file, "--format", format]);
        assert_eq!(run.code, Some(8), "{format}: {}", run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "framescope: {file}: its distinct stacks hold more than 8388608 frames in all \
                 (counting at most 4096 per stack), more than framescope spells out for this \
                 format; a table (`--format table`) still works"
            ),
            "{format}"
        );
        assert!(run.stdout.is_empty());
    }

    let table = framescope(&["report", file]);
    assert_eq!(table.code, Some(0), "{}", table.stderr);
    assert_eq!(table.stderr, cut);
    let text = String::from_utf8_lossy(&table.stdout);
    // Each of the 7 functions is on every stack; the first 4096 stacks are whole.
    assert!(text.contains("f0 (deep.py:1)"), "{text}");

    let run = framescope(&["diff", file, file]);
    assert_eq!(run.code, Some(8), "{}", run.stderr);
    assert!(
        run.stderr
            .ends_with("more than framescope spells out for this format; a table (`--format table`) still works"),
        "{}",
        run.stderr
    );
}

#[test]
fn stacks_deeper_than_the_limit_keep_their_innermost_frames() {
    let path = common::scratch("hostile-inputs", "deep.fsr");
    hostile::one_deep_stack(&path, 5_000, 10);
    let file = path.to_str().expect("utf-8 path");
    let run = framescope(&["report", file, "--format", "collapsed"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!(
            "framescope: warning: {file}: 1 distinct stack is deeper than 4096 frames; only the innermost 4096 frames of each are shown"
        )
    );
    let text = String::from_utf8(run.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text:.200}");
    let (stack, count) = lines[0].rsplit_once(' ').expect("count");
    assert_eq!(count, "10");
    let frames: Vec<&str> = stack.split(';').collect();
    assert_eq!(frames.len(), 4096);
    assert_eq!(frames[4095], "leaf (deep.py:1)");
    assert!(frames[..4095].iter().all(|f| *f == "recurse (deep.py:5)"));
}

#[test]
fn a_speedscope_file_of_every_sample_at_full_depth_is_bounded() {
    let path = common::scratch("hostile-inputs", "deep-many.fsr");
    hostile::alternating_deep_stacks(&path, 4096, 33_000);
    let file = path.to_str().expect("utf-8 path");
    let run = framescope(&["report", file, "--format", "speedscope"]);
    assert_eq!(run.code, Some(8), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!(
            "framescope: {file}: its samples' stacks hold more than 134217728 frames in all \
             (counting at most 4096 per stack), more than framescope writes to a speedscope \
             file; other formats still work"
        )
    );
    let run = framescope(&["report", file, "--format", "collapsed"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.ends_with("1 distinct stack is deeper than 4096 frames; only the innermost 4096 frames of each are shown"), "{}", run.stderr);
    // Cut to their innermost 4096 frames, the two stacks are one.
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(text.lines().count(), 1);
    assert!(text.ends_with(" 33000\n"), "{text:.100}");
}

#[test]
fn a_collapsed_line_of_a_million_frames_is_cut_with_a_warning() {
    let path = common::scratch("hostile-inputs", "line.txt");
    std::fs::write(&path, hostile::collapsed_deep_line(1_000_000)).expect("write");
    let file = path.to_str().expect("utf-8 path");
    let run = framescope(&["diff", file, file, "--format", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let warning = format!(
        "framescope: warning: {file}: 1 line has more than 4096 frames; only the innermost 4096 frames of each are used"
    );
    assert_eq!(run.stderr, format!("{warning}\n{warning}"));
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout).expect("json");
    let text = doc.to_string();
    assert!(text.contains("\"f999999\""), "the innermost frame is kept");
    assert!(text.contains("\"f995904\""));
    assert!(!text.contains("\"f995903\""), "frames past 4096 are cut");
}

#[test]
fn loose_collapsed_counts_are_refused_with_their_line() {
    let good = common::scratch("hostile-inputs", "base.txt");
    std::fs::write(&good, "main;work 3\n").expect("write");
    let good = good.to_str().expect("utf-8 path");
    let cases = [
        (
            "main;work 18446744073709551615\nmain 1\n",
            "line 2 brings the counts to more than 18446744073709551615 in all: `main 1`",
        ),
        (
            "main;work 2\nmain 99999999999999999999999\n",
            "line 2 has a count larger than 18446744073709551615: `main 99999999999999999999999`",
        ),
        (
            "main 1\n\nmain;work 1e9\n",
            "line 3 ends in `1e9`, not a count (a whole number, digits only): `main;work 1e9`",
        ),
        (
            "main 3.0\n",
            "line 1 ends in `3.0`, not a count (a whole number, digits only): `main 3.0`",
        ),
        (
            "main +3\n",
            "line 1 ends in `+3`, not a count (a whole number, digits only): `main +3`",
        ),
        (
            "main 1\n;;; 3\n",
            "line 2 has an empty frame (`;;`, or a `;` at the start or end of the stack): `;;; 3`",
        ),
        (
            "main 1\n 4e1\n",
            "line 2 ends in `4e1`, not a count (a whole number, digits only): ` 4e1`",
        ),
    ];
    for (i, (text, why)) in cases.iter().enumerate() {
        let path = common::scratch("hostile-inputs", &format!("bad-{i}.txt"));
        std::fs::write(&path, text).expect("write");
        let file = path.to_str().expect("utf-8 path");
        let run = framescope(&["diff", good, file]);
        assert_eq!(run.code, Some(8), "{text:?}: {}", run.stderr);
        let kind = if text.starts_with("main 3.0") || text.starts_with("main +3") {
            "not a framescope recording nor a collapsed-stack file"
        } else {
            "unusable collapsed-stack file"
        };
        assert_eq!(
            run.stderr,
            format!("framescope: {file}: {kind}: {why}"),
            "{text:?}"
        );
    }
}
