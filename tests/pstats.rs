//! pstats output (`-o run.prof`) read by its real consumers: a real program with known hot
//! functions and callers (tests/scenarios/pstats_target.py) is recorded on several
//! CPythons of the matrix, and each reads the file back with `pstats.Stats` (print_stats
//! sorted by cumtime, print_callers, print_callees) and with `python -m pstats` fed
//! commands on its standard input; snakeviz (installed by scripts/provision) serves it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{among_others, for_each_of, framescope, matrix, pythons_named, Python, ScenarioDir};

/// The interpreters each test runs on: the oldest, a middle one, and the newest two.
const PYTHONS: [&str; 4] = ["pyenv-3.8", "pyenv-3.11", "sid-3.14", "sid-3.15"];

const SCRIPT: &str = "pstats_target.py";

/// A recording of pstats_target.py written as `run.prof`, and where its functions are.
struct Recorded {
    dir: ScenarioDir,
    /// `path:line(name)` of each function, as pstats prints it.
    inner: String,
    outer: String,
    recurse: String,
    main: String,
}

impl Recorded {
    fn new(py: &Python, extra: &[&str]) -> Recorded {
        let dir = ScenarioDir::new(py);
        let source = std::fs::read_to_string(dir.host.join(SCRIPT)).expect("script");
        let script = format!("{}/{SCRIPT}", dir.inner);
        let label = |name: &str| {
            let def = format!("def {name}(");
            let line = source
                .lines()
                .position(|l| l.starts_with(&def))
                .unwrap_or_else(|| panic!("no {def} in {SCRIPT}"))
                + 1;
            format!("{script}:{line}({name})")
        };
        let prof = dir.host.join("run.prof");
        let mut args = vec![
            "record".to_string(),
            "-q".into(),
            "-o".into(),
            prof.to_string_lossy().into_owned(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args.push("--".into());
        args.extend(dir.argv(py, SCRIPT, &["1.5"]));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = framescope(&args);
        assert!(
            out.status.success(),
            "{}: record: {}",
            py.name,
            String::from_utf8_lossy(&out.stderr)
        );
        Recorded {
            inner: label("inner"),
            outer: label("outer"),
            recurse: label("recurse"),
            main: label("main"),
            dir,
        }
    }

    /// The file as the interpreter sees it.
    fn prof(&self) -> String {
        format!("{}/run.prof", self.dir.inner)
    }
}

/// Runs `py` with `args`, `stdin` on its standard input; its standard output.
fn python(py: &Python, args: &[&str], stdin: &str) -> String {
    let mut cmd = if py.in_chroot() {
        let mut c = Command::new("chroot");
        c.arg(&py.root).arg(&py.python);
        c
    } else {
        Command::new(&py.python)
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", py.name));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        py.name,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A row of print_stats: ncalls, tottime, cumtime.
type Row = (u64, f64, f64);

/// The rows of print_stats output, by `path:line(name)`, in the order printed.
fn stats_rows(text: &str) -> Vec<(String, Row)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // ncalls tottime percall cumtime percall filename:lineno(function)
            if f.len() != 6 || !f[5].ends_with(')') {
                return None;
            }
            let n = f[0].parse().ok()?;
            let tt = f[1].parse().ok()?;
            let ct = f[3].parse().ok()?;
            Some((f[5].to_string(), (n, tt, ct)))
        })
        .collect()
}

/// The blocks of print_callers (`arrow` "<-") or print_callees ("->") output: function →
/// the functions it lists, with their ncalls.
fn call_blocks(text: &str, arrow: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut blocks: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let sep = format!(" {arrow}");
    for line in text.lines() {
        let (tokens, function): (Vec<&str>, Option<&str>) = match line.find(&sep) {
            Some(at) => {
                // `python -m pstats` puts its prompt before the first line.
                let left = line[..at].split_whitespace().last();
                (line[at + sep.len()..].split_whitespace().collect(), left)
            }
            None if line.starts_with(' ') && current.is_some() => {
                (line.split_whitespace().collect(), None)
            }
            None => {
                current = None;
                continue;
            }
        };
        if let Some(f) = function {
            current = Some(f.to_string());
            blocks.entry(f.to_string()).or_default();
        }
        let Some(f) = &current else { continue };
        if tokens.len() == 4 {
            if let Ok(n) = tokens[0].parse() {
                blocks
                    .get_mut(f)
                    .expect("block")
                    .insert(tokens[3].to_string(), n);
            }
        }
    }
    blocks
}

fn set<'a>(items: &[&'a String]) -> BTreeSet<&'a str> {
    items.iter().map(|s| s.as_str()).collect()
}

fn names(block: Option<&BTreeMap<String, u64>>) -> BTreeSet<&str> {
    block
        .map(|b| b.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Checks the table of print_stats sorted by cumtime: the four functions with their exact
/// files and lines, inner hot in its own code, cumtime falling down the rows.
fn check_stats(py: &Python, r: &Recorded, text: &str) {
    let rows = stats_rows(text);
    let row = |label: &str| -> Row {
        rows.iter()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("{}: no row {label} in:\n{text}", py.name))
            .1
    };
    let (inner, outer, recurse, main) =
        (row(&r.inner), row(&r.outer), row(&r.recurse), row(&r.main));
    assert!(inner.0 >= 20, "{}: inner in {} samples", py.name, inner.0);
    assert!(
        inner.1 >= 0.9 * inner.2,
        "{}: inner's own time {} of {}",
        py.name,
        inner.1,
        inner.2
    );
    assert!(
        main.1 <= 0.1 * main.2,
        "{}: main's own time {} of {}",
        py.name,
        main.1,
        main.2
    );
    assert!(
        main.2 >= recurse.2 && recurse.2 >= outer.2 && outer.2 >= inner.2,
        "{}: cumtime main {main:?} recurse {recurse:?} outer {outer:?} inner {inner:?}",
        py.name
    );
    assert!(
        inner.2 >= 0.7 * main.2,
        "{}: inner {inner:?} main {main:?}",
        py.name
    );
    let cumtimes: Vec<f64> = rows.iter().map(|(_, r)| r.2).collect();
    assert!(
        cumtimes.windows(2).all(|w| w[0] >= w[1]),
        "{}: not sorted by cumtime:\n{text}",
        py.name
    );
}

/// Checks print_callers and print_callees output against the program's call graph.
fn check_calls(py: &Python, r: &Recorded, callers_text: &str, callees_text: &str) {
    let callers = call_blocks(callers_text, "<-");
    let callees = call_blocks(callees_text, "->");
    let who = |what: &str| format!("{}: {what}:\n{callers_text}\n{callees_text}", py.name);
    assert_eq!(
        names(callers.get(&r.inner)),
        set(&[&r.outer]),
        "{}",
        who("callers of inner")
    );
    assert_eq!(
        names(callers.get(&r.outer)),
        set(&[&r.recurse]),
        "{}",
        who("callers of outer")
    );
    assert_eq!(
        names(callers.get(&r.recurse)),
        set(&[&r.recurse, &r.main]),
        "{}",
        who("callers of recurse")
    );
    assert_eq!(
        names(callees.get(&r.recurse)),
        set(&[&r.recurse, &r.outer]),
        "{}",
        who("callees of recurse")
    );
    assert_eq!(
        names(callees.get(&r.main)),
        set(&[&r.recurse]),
        "{}",
        who("callees of main")
    );
    assert!(
        callees.contains_key(&r.inner) && names(callees.get(&r.inner)).is_empty(),
        "{}",
        who("inner calls nothing sampled")
    );
    // Every sample of inner came through outer: the edge's calls are inner's samples.
    let through_outer = callers[&r.inner][&r.outer];
    let of_outer = callees[&r.outer][&r.inner];
    assert_eq!(through_outer, of_outer, "{}", who("the same edge"));
}

const PRINT: &str = r#"
import pstats, re, sys
s = pstats.Stats(sys.argv[1])
s.sort_stats("cumtime").print_stats()
print("=== callers")
s.print_callers(re.escape("(inner)"))
s.print_callers(re.escape("(outer)"))
s.print_callers(re.escape("(recurse)"))
print("=== callees")
s.print_callees(re.escape("(recurse)"))
s.print_callees(re.escape("(main)"))
s.print_callees(re.escape("(inner)"))
s.print_callees(re.escape("(outer)"))
"#;

fn check_with_stats_object(py: &Python, r: &Recorded) {
    let out = python(py, &["-c", PRINT, &r.prof()], "");
    let (stats, rest) = out.split_once("=== callers").expect("callers marker");
    let (callers, callees) = rest.split_once("=== callees").expect("callees marker");
    check_stats(py, r, stats);
    check_calls(py, r, callers, callees);
}

#[test]
fn pstats_files_read_back_in_pstats_on_old_and_new_pythons() {
    let _cpu = among_others();
    for_each_of(&pythons_named(&PYTHONS), |py| {
        let r = Recorded::new(py, &[]);
        check_with_stats_object(py, &r);
    });
}

#[test]
fn python_m_pstats_reads_commands_and_shows_the_call_graph() {
    let _cpu = among_others();
    for_each_of(&pythons_named(&PYTHONS), |py| {
        let r = Recorded::new(py, &["--clock", "wall"]);
        let script = "sort cumtime\nstats\ncallers \\(inner\\)\ncallers \\(recurse\\)\n\
                      callers \\(outer\\)\ncallees \\(recurse\\)\ncallees \\(main\\)\n\
                      callees \\(inner\\)\ncallees \\(outer\\)\nquit\n";
        let out = python(py, &["-m", "pstats", &r.prof()], script);
        let (stats, rest) = out
            .split_once("was called by...")
            .unwrap_or_else(|| panic!("no callers in:\n{out}"));
        check_stats(py, &r, stats);
        check_calls(py, &r, rest, rest);
    });
}

/// The virtual environment scripts/provision makes for the Python tools the tests use.
fn tools_venv() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    cache.join("framescope/pytools")
}

/// Kills the child on drop.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET `path` from 127.0.0.1:`port`, retrying the connection for up to 20 s while the
/// server starts; the whole response.
fn http_get(port: u16, path: &str, server: &mut Server) -> String {
    let start = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut stream) => {
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .expect("timeout");
                write!(
                    stream,
                    "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
                )
                .expect("send request");
                let mut response = String::new();
                stream.read_to_string(&mut response).expect("read response");
                return response;
            }
            Err(_) if start.elapsed() < Duration::from_secs(20) => {
                if let Ok(Some(status)) = server.0.try_wait() {
                    panic!("the server exited: {status}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("no server on port {port}: {e}"),
        }
    }
}

#[test]
fn snakeviz_serves_the_file_with_its_call_tree() {
    let _cpu = among_others();
    let venv = tools_venv();
    let snakeviz = venv.join("bin/snakeviz");
    assert!(
        snakeviz.exists(),
        "{} is missing; run scripts/provision",
        snakeviz.display()
    );
    let py = matrix()
        .into_iter()
        .find(|p| p.name == "pyenv-3.12")
        .expect("pyenv-3.12; run scripts/provision");
    let r = Recorded::new(&py, &[]);
    let prof = r.dir.host.join("run.prof");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut server = Server(
        Command::new(&snakeviz)
            .args(["-s", "-H", "127.0.0.1", "-p", &port.to_string()])
            .arg(&prof)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start snakeviz"),
    );
    let quoted: String = prof
        .to_string_lossy()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let page = http_get(port, &format!("/snakeviz/{quoted}"), &mut server);
    assert!(
        page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/1.0 200"),
        "{}",
        &page[..page.len().min(2000)]
    );
    // The call tree snakeviz computed from the file (its `callees`): outer's
    // children are exactly inner, and inner is in the stats table with its line.
    // (the page holds Python's repr of the dict).
    let children = format!("'{}': {{'children': {{'{}': [", r.outer, r.inner);
    assert!(
        page.contains(&children),
        "no {children} in the page:\n{}",
        &page[..page.len().min(4000)]
    );
    let row_name = r.inner.rsplit('/').next().expect("label");
    assert!(page.contains(row_name), "no {row_name} in the stats table");
}

/// Exact numbers on a recording written through the public API: with every sample
/// weighing 10 ms of wall time, 30 samples of main → rec → rec → rec → leaf (the edge
/// rec → rec twice), 10 of main → leaf
/// and 5 of main alone give, as pstats reads them (CPython 3.8 and 3.15): leaf 40 calls,
/// tottime = cumtime = 0.4 s; rec 30 calls, cumtime 0.3 s (its recursion counted once);
/// main 45 calls, tottime 0.05 s, cumtime 0.45 s; and the callers of each edge, each
/// counted once a sample too.
#[test]
fn pstats_numbers_are_exact_and_recursion_counts_once() {
    use framescope::python::stack::{CodeInfo, CodeTable, RawFrame, ThreadStack};
    use framescope::recording::{RecordingMeta, RecordingSummary, RecordingWriter, TickTime};

    let _cpu = among_others();
    let all = matrix();
    for name in ["pyenv-3.8", "sid-3.15"] {
        let py = all.iter().find(|p| p.name == name).expect("interpreter");
        let dir = ScenarioDir::new(py);
        let fsr = dir.host.join("exact.fsr");
        let mut codes = CodeTable::default();
        let mut code = |name: &str, line: u32| {
            codes.push(CodeInfo {
                name: name.into(),
                qualname: name.into(),
                filename: "/app/x.py".into(),
                first_line: line,
            })
        };
        let (main, rec, leaf) = (code("main", 1), code("rec", 10), code("leaf", 20));
        let frame = |code, line| RawFrame { code, line };
        let shapes = [
            (
                30,
                vec![
                    frame(leaf, 21),
                    frame(rec, 12),
                    frame(rec, 12),
                    frame(rec, 12),
                    frame(main, 3),
                ],
            ),
            (10, vec![frame(leaf, 21), frame(main, 4)]),
            (5, vec![frame(main, 5)]),
        ];
        let meta = RecordingMeta {
            pid: 1,
            rate_hz: 100.0,
            ..RecordingMeta::default()
        };
        let mut writer = RecordingWriter::create(&fsr, &meta).expect("create");
        let mut tick = 0u64;
        for (count, frames) in &shapes {
            for _ in 0..*count {
                let thread = ThreadStack {
                    os_tid: Some(1),
                    python_thread_id: 1,
                    on_cpu: Some(true),
                    frames: frames.clone(),
                    ..ThreadStack::default()
                };
                tick += 1;
                let time = TickTime {
                    elapsed_ns: tick * 10_000_000,
                    interval_ns: 10_000_000,
                };
                writer.write_tick(time, &[thread], &codes).expect("tick");
            }
        }
        writer
            .write_summary(&RecordingSummary {
                samples: tick,
                ..RecordingSummary::default()
            })
            .expect("summary");
        writer.finish().expect("finish");
        let prof = dir.host.join("exact.prof");
        let out = framescope(&[
            "report",
            fsr.to_str().expect("path"),
            "-o",
            prof.to_str().expect("path"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump = r#"
import pstats, sys
s = pstats.Stats(sys.argv[1])
for (f, l, n), (cc, nc, tt, ct, callers) in sorted(s.stats.items()):
    print("%s:%d(%s) %d %d %.4f %.4f" % (f, l, n, cc, nc, tt, ct))
    for (cf, cl, cn), (c_nc, c_cc, c_tt, c_ct) in sorted(callers.items()):
        print("  <- %s %d %d %.4f %.4f" % (cn, c_nc, c_cc, c_tt, c_ct))
"#;
        let got = python(py, &["-c", dump, &format!("{}/exact.prof", dir.inner)], "");
        let expected = "\
/app/x.py:1(main) 45 45 0.0500 0.4500
/app/x.py:10(rec) 30 30 0.0000 0.3000
  <- main 30 30 0.0000 0.3000
  <- rec 30 30 0.0000 0.3000
/app/x.py:20(leaf) 40 40 0.4000 0.4000
  <- main 10 10 0.1000 0.1000
  <- rec 30 30 0.3000 0.3000
";
        assert_eq!(got, expected, "{name}");
    }
}
