//! `record --pyroscope`: a real Python program recorded while a receiver on 127.0.0.1,
//! inside the test, takes Pyroscope ingest requests, gunzips and decodes each pushed
//! pprof with framescope's own prost types, and keeps what it got. Checked: the name and
//! tags, the time ranges, the functions and thread labels, the Bearer token from the
//! environment, that the pushes add up to the local recording, and that a server down
//! for the first pushes gets them later while stderr says so once.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framescope::report::pprof::proto;
use framescope::report::ViewOptions;
use prost::Message;

/// One ingest request as received.
#[derive(Debug)]
struct Push {
    path: String,
    query: HashMap<String, String>,
    authorization: Option<String>,
    profile: proto::Profile,
    sample_type_config: String,
}

impl Push {
    fn s(&self, i: i64) -> &str {
        &self.profile.string_table[i as usize]
    }

    fn function_names(&self) -> Vec<&str> {
        self.profile
            .function
            .iter()
            .map(|f| self.s(f.name))
            .collect()
    }

    fn label_values(&self, key: &str) -> Vec<String> {
        let mut values = Vec::new();
        for sample in &self.profile.sample {
            for l in &sample.label {
                if self.s(l.key) == key {
                    values.push(if l.str != 0 {
                        self.s(l.str).to_string()
                    } else {
                        l.num.to_string()
                    });
                }
            }
        }
        values
    }

    fn samples(&self) -> i64 {
        self.profile.sample.iter().map(|s| s.value[0]).sum()
    }

    fn time_range(&self) -> (u64, u64) {
        let num = |k: &str| self.query[k].parse::<u64>().expect("a number");
        (num("from"), num("until"))
    }
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// Reads one HTTP request, answers 200, and decodes it.
fn serve(stream: TcpStream) -> Push {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    reader.read_line(&mut request_line).expect("request line");
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').expect("a header");
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let length: usize = headers["content-length"].parse().expect("length");
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).expect("body");
    let mut out = stream;
    out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .expect("answer");

    let target = request_line.split_whitespace().nth(1).expect("target");
    assert!(request_line.starts_with("POST "), "{request_line}");
    let (path, query) = target.split_once('?').expect("a query");
    let query = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), unescape(v)))
        .collect();
    let boundary = headers["content-type"]
        .strip_prefix("multipart/form-data; boundary=")
        .expect("multipart")
        .to_string();
    let mut parts = HashMap::new();
    let delimiter = format!("--{boundary}");
    let text = body.clone();
    let mut rest = &text[..];
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n").expect("part headers");
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("part name")
            .to_string();
        let data_start = head_end + 4;
        let data_end =
            data_start + find(&rest[data_start..], delimiter.as_bytes()).expect("end") - 2;
        parts.insert(name, rest[data_start..data_end].to_vec());
        rest = &rest[data_end..];
    }
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&parts["profile"][..])
        .read_to_end(&mut raw)
        .expect("gunzip");
    Push {
        path: path.to_string(),
        query,
        authorization: headers.get("authorization").cloned(),
        profile: proto::Profile::decode(&raw[..]).expect("pprof decodes"),
        sample_type_config: String::from_utf8_lossy(&parts["sample_type_config"]).into_owned(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Serves ingest requests on `listener` until the test ends, collecting them.
fn receiver(listener: TcpListener) -> Arc<Mutex<Vec<Push>>> {
    let pushes = Arc::new(Mutex::new(Vec::new()));
    let into = pushes.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let push = serve(stream);
            into.lock().expect("lock").push(push);
        }
    });
    pushes
}

fn python() -> common::Python {
    common::matrix()
        .into_iter()
        .find(|p| p.name == "pyenv-3.12")
        .expect("pyenv-3.12 is provisioned")
}

/// Samples the view of `--idle` keeps in the local recording.
fn local_samples(path: &Path) -> (u64, framescope::recording::Recording) {
    let rec = framescope::recording::read(path).expect("the local recording reads");
    let view = ViewOptions {
        idle: true,
        ..ViewOptions::default()
    };
    let kept = rec
        .samples
        .iter()
        .filter(|s| view.keeps(&rec, s).is_some())
        .count() as u64;
    (kept, rec)
}

/// Records pprof_hot.py for `seconds` pushing to `port` every second; returns the
/// recording's path and framescope's stderr. `while_running` runs once it started.
fn record(
    dir: &common::ScenarioDir,
    py: &common::Python,
    port: u16,
    seconds: &str,
    while_running: impl FnOnce(),
) -> (std::path::PathBuf, String) {
    let rec = dir.host.join("run.fsr");
    let argv = dir.argv(py, "pprof_hot.py", &[seconds]);
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_framescope"))
        .args(["record", "-q", "--idle", "-o"])
        .arg(&rec)
        .args(["--pyroscope", &url, "--app-name", "checkout"])
        .args([
            "--tag",
            "region=eu",
            "--tag",
            "env=test",
            "--push-every",
            "1s",
            "--",
        ])
        .args(&argv)
        .env("FRAMESCOPE_PYROSCOPE_TOKEN", "t0ken-from-env")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("framescope starts");
    while_running();
    let out = child.wait_with_output().expect("framescope ends");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "record failed: {stderr}");
    (rec, stderr)
}

/// Checks what every push must be, and that together they are the local recording.
fn check_pushes(pushes: &[Push], rec_path: &Path) {
    let (kept, rec) = local_samples(rec_path);
    assert!(
        rec.summary.is_some() && !rec.truncated,
        "the local recording is whole"
    );
    let start = rec.meta.start_unix_ns / 1_000_000_000;
    let duration = rec.summary.as_ref().map_or(0, |s| s.duration_ns);
    let end = (rec.meta.start_unix_ns + rec.end_ns.max(duration)).div_ceil(1_000_000_000);
    let mut last_until = 0;
    for push in pushes {
        assert_eq!(push.path, "/ingest");
        assert_eq!(push.query["name"], "checkout{region=eu,env=test}");
        assert_eq!(push.query["format"], "pprof");
        assert_eq!(push.authorization.as_deref(), Some("Bearer t0ken-from-env"));
        assert!(push.sample_type_config.contains("\"wall\""));
        let (from, until) = push.time_range();
        assert!(
            from < until && until - from <= 2,
            "a 1 s interval: {from}..{until}"
        );
        assert!(
            from >= start && until <= end,
            "{from}..{until} within {start}..{end}"
        );
        assert!(
            from + 1 >= last_until,
            "in order, not overlapping: {from} after {last_until}"
        );
        last_until = until;
        let p = &push.profile;
        assert!(p.duration_nanos > 0 && p.duration_nanos <= 1_000_000_000);
        assert_eq!(p.time_nanos as u64 / 1_000_000_000, from);
    }
    let functions: Vec<&str> = pushes.iter().flat_map(|p| p.function_names()).collect();
    assert!(
        functions.contains(&"crunch") && functions.contains(&"churn"),
        "{functions:?}"
    );
    let names: Vec<String> = pushes
        .iter()
        .flat_map(|p| p.label_values("thread_name"))
        .collect();
    assert!(names.iter().any(|n| n == "pprof-worker"), "{names:?}");
    let pids: Vec<String> = pushes.iter().flat_map(|p| p.label_values("pid")).collect();
    assert!(
        pids.iter().all(|p| *p == rec.meta.pid.to_string()),
        "{pids:?}"
    );
    let pushed: i64 = pushes.iter().map(Push::samples).sum();
    assert_eq!(
        pushed as u64, kept,
        "every kept sample of the recording was pushed once"
    );
}

#[test]
fn each_interval_is_pushed_as_pprof_with_name_tags_and_range() {
    let _cpu = common::among_others();
    let py = python();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let pushes = receiver(listener);
    let dir = common::ScenarioDir::new(&py);
    let (rec, stderr) = record(&dir, &py, port, "4.5", || {});
    assert!(
        !stderr.contains("Pyroscope"),
        "no complaint when all went well: {stderr}"
    );
    let pushes = pushes.lock().expect("lock");
    assert!(
        pushes.len() >= 4,
        "4.5 s in 1 s intervals: {} pushes",
        pushes.len()
    );
    check_pushes(&pushes, &rec);
}

#[test]
fn a_server_down_at_first_gets_the_intervals_later_and_stderr_says_so_once() {
    let _cpu = common::among_others();
    let py = python();
    // A port nobody listens on, until the server comes up 2.5 s into the recording.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let pushes = Arc::new(Mutex::new(None));
    let dir = common::ScenarioDir::new(&py);
    let started = Instant::now();
    let up = pushes.clone();
    let (rec, stderr) = record(&dir, &py, port, "6", move || {
        std::thread::sleep(Duration::from_millis(2500));
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the port again");
        *up.lock().expect("lock") = Some(receiver(listener));
    });
    assert!(started.elapsed() < Duration::from_secs(20), "bounded end");
    assert_eq!(
        stderr.matches("cannot push to Pyroscope").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.matches("works again").count(), 1, "{stderr}");
    assert!(
        !stderr.contains("could not be sent"),
        "nothing lost: {stderr}"
    );
    let pushes = pushes.lock().expect("lock");
    let pushes = pushes
        .as_ref()
        .expect("the server came up")
        .lock()
        .expect("lock");
    assert!(
        pushes.len() >= 6,
        "6 s in 1 s intervals: {} pushes",
        pushes.len()
    );
    let (first, _) = pushes[0].time_range();
    let (_, rec_meta) = local_samples(&rec);
    assert_eq!(
        first,
        rec_meta.meta.start_unix_ns / 1_000_000_000,
        "the first interval, sent while the server was down, arrived"
    );
    check_pushes(&pushes, &rec);
}
