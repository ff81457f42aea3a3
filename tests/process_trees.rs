//! `--subprocesses` against the process trees Python really makes (issue 11): multiprocessing
//! pools under the spawn, fork and forkserver start methods, a pytest-xdist session, a
//! gunicorn prefork server under load (attached by its master's pid, with workers restarted
//! by `--max-requests`), and a worker killed with SIGKILL mid-recording. Every program is a
//! real CPython of the matrix; the truth comes from the programs themselves (their own
//! `time.process_time()`, the pids they write down) and from /proc. pytest, pytest-xdist and
//! gunicorn come from PyPI through `scripts/provision`.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{alone, python_named, running_freely, Python, ScenarioDir};

/// The PYTHONPATH (as the interpreter sees it) holding the PyPI packages scripts/provision
/// installs for `py`.
fn pypi_path(py: &Python) -> String {
    let (host, inner) = if py.in_chroot() {
        let inner = format!("/opt/framescope-pypi/{}", py.name);
        (py.root.join(inner.trim_start_matches('/')), inner)
    } else {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
            });
        let dir = cache.join("framescope/pypi").join(&py.name);
        (dir.clone(), dir.to_string_lossy().into_owned())
    };
    assert!(
        host.join(".framescope-complete").exists(),
        "pytest, pytest-xdist and gunicorn are not installed for {} at {}: run scripts/provision as root",
        py.name,
        host.display()
    );
    inner
}

/// The command line that runs `py` with `args` (through chroot for a chroot interpreter).
fn py_argv(py: &Python, args: &[&str]) -> Vec<String> {
    let mut argv = Vec::new();
    if py.in_chroot() {
        argv.push("chroot".to_string());
        argv.push(py.root.to_string_lossy().into_owned());
    }
    argv.push(py.python.clone());
    argv.extend(args.iter().map(|a| a.to_string()));
    argv
}

/// Runs framescope with `args` (and `env` added to its environment, which a command it
/// starts inherits), failing the test if it takes longer than `limit`.
fn framescope_within(args: &[String], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_framescope"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("framescope starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for framescope") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "framescope {args:?} still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A successful `framescope report` of `path` with `extra` options: its standard output.
fn report(path: &Path, extra: &[&str]) -> String {
    let mut args = strings(&["report", &path.to_string_lossy(), "--limit", "100000"]);
    args.extend(strings(extra));
    let out = framescope_within(&args, &[], Duration::from_secs(60));
    assert!(
        out.status.success(),
        "report {extra:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One row of a table report.
#[derive(Debug, Clone, Copy)]
struct Row {
    own: u64,
    cumtime: f64,
}

/// The rows of a table report (the first table when there are several), keyed by the
/// whole function column: `name (file:line)`.
fn rows(text: &str) -> HashMap<String, Row> {
    let mut rows = HashMap::new();
    let mut in_rows = false;
    for line in text.lines() {
        if line.trim_start().starts_with("own ") && line.contains("function") {
            in_rows = true;
            continue;
        }
        if !in_rows {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 7 || f[0].parse::<u64>().is_err() {
            in_rows = false;
            continue;
        }
        rows.entry(f[6..].join(" ")).or_insert(Row {
            own: f[0].parse().unwrap_or(0),
            cumtime: f[5].parse().unwrap_or(f64::NAN),
        });
    }
    rows
}

/// The seconds a table stands for, from its "N samples, S s of ..." line.
fn table_seconds(text: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(" samples, ")?;
            rest.split(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no 'N samples, S s' line in:\n{text}"))
}

/// The pids a `--processes` report has a section for ("pid 1234: ..."), with the label.
fn process_sections(text: &str) -> HashMap<u32, String> {
    let mut found = HashMap::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("pid ") {
            let after = &rest[at + 4..];
            let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
            if !digits.is_empty() && after[digits.len()..].starts_with(':') {
                if let Ok(pid) = digits.parse() {
                    found.entry(pid).or_insert_with(|| line.to_string());
                }
                break;
            }
            rest = after;
        }
    }
    found
}

/// The line of `def NAME(` in a scenario file: the line framescope names a function by.
fn def_line(dir: &ScenarioDir, file: &str, name: &str) -> usize {
    let text = std::fs::read_to_string(dir.host.join(file)).expect("scenario file");
    let needle = format!("def {name}(");
    text.lines()
        .position(|l| l.trim_start().starts_with(&needle))
        .unwrap_or_else(|| panic!("no {needle} in {file}"))
        + 1
}

/// The function column framescope prints for `name` defined in scenario `file`.
fn label(dir: &ScenarioDir, file: &str, name: &str) -> String {
    format!(
        "{name} ({}/{file}:{})",
        dir.inner,
        def_line(dir, file, name)
    )
}

/// Pids whose parent is `pid`, from /proc.
fn children(pid: u32) -> BTreeSet<u32> {
    let mut found = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.insert(child);
        }
    }
    found
}

/// The one-letter state of a process ('T'/'t' stopped, 'Z' zombie), if it exists.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Asserts that no process of the tree under `root` (itself included) is stopped.
fn none_stopped(root: u32) {
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        if let Some(s) = state(pid) {
            assert!(
                !matches!(s, 'T' | 't'),
                "pid {pid} was left stopped (state {s})"
            );
        }
        todo.extend(children(pid));
    }
}

// --- multiprocessing pools -------------------------------------------------------------------

/// Records `tree_pool.py` under `method` on `py` with --subprocesses and checks each
/// worker function's share, and each worker's seconds, against the workers' own clocks.
fn pool_matches_process_time(py: &Python, method: &str) {
    let dir = ScenarioDir::new(py);
    let fsr = dir.host.join("pool.fsr");
    let mut args = strings(&[
        "record",
        "--subprocesses",
        "-o",
        &fsr.to_string_lossy(),
        "--",
    ]);
    args.extend(dir.argv(py, "tree_pool.py", &[method, "{dir}", "0.3"]));
    let out = framescope_within(&args, &[], Duration::from_secs(90));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: record failed: {stderr}", py.name);
    let truth_text =
        std::fs::read_to_string(dir.host.join("pool-truth.txt")).expect("the pool wrote its truth");
    let mut truth = HashMap::new();
    for line in truth_text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let pid: u32 = f[1].parse().expect("pid");
        let secs: f64 = f[2].parse().expect("seconds");
        let warm: f64 = f[3].parse().expect("warm-up seconds");
        truth.insert(f[0].to_string(), (pid, secs, warm));
    }
    let merged = report(&fsr, &[]);
    let merged_rows = rows(&merged);
    let names = ["worker_a", "worker_b"];
    let measured: Vec<f64> = names
        .iter()
        .map(|n| {
            let l = label(&dir, "tree_pool.py", n);
            merged_rows
                .get(&l)
                .unwrap_or_else(|| {
                    panic!("{}/{method}: no row {l} in\n{merged}\n{stderr}", py.name)
                })
                .cumtime
        })
        .collect();
    let used: Vec<f64> = names.iter().map(|n| truth[*n].1).collect();
    let share = |v: &[f64]| 100.0 * v[0] / (v[0] + v[1]);
    let (got, want) = (share(&measured), share(&used));
    assert!(
        (got - want).abs() <= 5.0,
        "{}/{method}: worker_a has {got:.1}% of the two workers' time, its clock says {want:.1}% \
         (recorded {measured:?} s, measured by the workers {used:?} s)\n{merged}",
        py.name
    );
    // Each worker alone: its samples are under its own pid, and they account for the CPU
    // time it measured (a worker found late, or one whose start-up is charged to its
    // first sample, would be off by much more). Its first 20% are in warm_up, which a
    // worker found late has no samples of, or too few.
    for name in names {
        let (pid, secs, _) = truth[name];
        // Both tasks may have gone to the same worker: its warm-ups add up.
        let warm: f64 = truth.values().filter(|t| t.0 == pid).map(|t| t.2).sum();
        let one = report(&fsr, &["--pid", &pid.to_string()]);
        let one_rows = rows(&one);
        let l = label(&dir, "tree_pool.py", name);
        let got = one_rows
            .get(&l)
            .unwrap_or_else(|| panic!("{}/{method}: no {l} in pid {pid}'s table\n{one}", py.name))
            .cumtime;
        let got_warm = one_rows
            .get(&label(&dir, "tree_pool.py", "warm_up"))
            .map_or(0.0, |r| r.cumtime);
        let head: String = one.lines().take(30).collect::<Vec<_>>().join("\n");
        assert!(
            got >= secs * 0.85 - 0.02
                && got <= secs * 1.1 + 0.02
                && got_warm >= warm * 0.7 - 0.01
                && got_warm <= warm * 1.3 + 0.02,
            "{}/{method}: pid {pid}: {name} {got:.3} s recorded, {secs:.3} s by its clock; \
             warm_up {got_warm:.3} s recorded, {warm:.3} s by its clock\n{}\n{head}",
            py.name,
            stderr.lines().last().unwrap_or_default()
        );
    }
}

#[test]
fn spawn_pool_workers_match_their_own_clocks() {
    let _cpu = alone();
    let pythons = common::pythons_named(&["pyenv-3.8", "pyenv-3.12", "sid-3.14"]);
    common::for_each_of(&pythons, |py| pool_matches_process_time(py, "spawn"));
}

#[test]
fn fork_pool_workers_match_their_own_clocks() {
    let _cpu = alone();
    pool_matches_process_time(&python_named("pyenv-3.12"), "fork");
}

#[test]
fn forkserver_pool_workers_match_their_own_clocks() {
    let _cpu = alone();
    pool_matches_process_time(&python_named("pyenv-3.12"), "forkserver");
}

// --- pytest-xdist ------------------------------------------------------------------------------

fn xdist_hot_tests_in_workers(py: &Python) {
    let pypi = pypi_path(py);
    let dir = ScenarioDir::new(py);
    let fsr = dir.host.join("xdist.fsr");
    let module = format!("{}/tree_xdist_hot.py", dir.inner);
    let rootdir = format!("--rootdir={}", dir.inner);
    let mut args = strings(&[
        "record",
        "--subprocesses",
        "-o",
        &fsr.to_string_lossy(),
        "--",
    ]);
    args.extend(py_argv(
        py,
        &[
            "-m",
            "pytest",
            "-n",
            "2",
            "-p",
            "no:cacheprovider",
            "-q",
            &rootdir,
            &module,
        ],
    ));
    let out = framescope_within(&args, &[("PYTHONPATH", &pypi)], Duration::from_secs(90));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: record failed: {stderr}\n{stdout}",
        py.name
    );
    assert!(
        stdout.contains("2 passed"),
        "{}: pytest said:\n{stdout}",
        py.name
    );
    let merged = report(&fsr, &[]);
    let merged_rows = rows(&merged);
    let split = report(&fsr, &["--processes"]);
    let sections = process_sections(&split);
    // The controller (the pytest command itself) ran no test: it is in the recording, and
    // it is neither of the processes the tests say they ran in.
    let controller: Vec<u32> = sections
        .iter()
        .filter(|(_, l)| l.contains("pytest") && l.contains("-n"))
        .map(|(p, _)| *p)
        .collect();
    assert!(
        !controller.is_empty(),
        "{}: no section for the pytest command in\n{split}",
        py.name
    );
    for test in ["test_hot_a", "test_hot_b"] {
        let l = label(&dir, "tree_xdist_hot.py", test);
        let row = merged_rows
            .get(&l)
            .unwrap_or_else(|| panic!("{}: no row {l} in\n{merged}", py.name));
        assert!(
            (0.28..=0.6).contains(&row.cumtime),
            "{}: {l} has {:.3} s, the test spins 0.4 s of CPU\n{merged}",
            py.name,
            row.cumtime
        );
        let pid: u32 = std::fs::read_to_string(dir.host.join(format!("{test}.pid")))
            .expect("the test wrote its pid")
            .trim()
            .parse()
            .expect("pid");
        assert!(
            !controller.contains(&pid),
            "{}: {test} ran in the controller {pid}?",
            py.name
        );
        assert!(
            sections.contains_key(&pid),
            "{}: the worker {pid} that ran {test} has no section in\n{split}",
            py.name
        );
        let one = report(&fsr, &["--pid", &pid.to_string()]);
        let got = rows(&one).get(&l).map_or(0.0, |r| r.cumtime);
        assert!(
            (0.28..=0.6).contains(&got),
            "{}: {test} has {got:.3} s under its worker's pid {pid}\n{one}",
            py.name
        );
    }
}

#[test]
fn pytest_xdist_hot_tests_are_found_in_their_workers() {
    let _cpu = alone();
    xdist_hot_tests_in_workers(&python_named("pyenv-3.12"));
}

#[test]
fn pytest_xdist_on_a_chroot_interpreter() {
    let _cpu = alone();
    xdist_hot_tests_in_workers(&python_named("sid-3.14"));
}

// --- gunicorn ----------------------------------------------------------------------------------

/// A gunicorn master with its workers, in a process group of its own: the whole group is
/// killed on drop.
struct Gunicorn {
    child: Child,
    master: u32,
    port: u16,
    dir: ScenarioDir,
    py: Python,
}

impl Gunicorn {
    fn start(py: &Python, workers: u32, max_requests: Option<u32>) -> Gunicorn {
        let pypi = pypi_path(py);
        let dir = ScenarioDir::new(py);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let bind = format!("127.0.0.1:{port}");
        let workers = workers.to_string();
        let mut args = vec![
            "-m",
            "gunicorn",
            "--chdir",
            &dir.inner,
            "-w",
            &workers,
            "-b",
            &bind,
            "--log-level",
            "warning",
        ];
        let max = max_requests.map(|m| m.to_string());
        if let Some(m) = &max {
            args.extend(["--max-requests", m, "--max-requests-jitter", "0"]);
        }
        args.push("tree_wsgi:application");
        let argv = py_argv(py, &args);
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .env("PYTHONPATH", &pypi)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gunicorn starts");
        let master = child.id();
        Gunicorn {
            child,
            master,
            port,
            dir,
            py: py.clone(),
        }
    }

    /// Starts a client loading the server for `seconds`; returns once the server answers
    /// and all `workers` are up.
    fn load(&self, seconds: f64, workers: usize) -> Client {
        let argv = py_argv(
            &self.py,
            &[
                &format!("{}/tree_client.py", self.dir.inner),
                &self.port.to_string(),
                &seconds.to_string(),
                "4",
            ],
        );
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the client starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the client prints");
        assert_eq!(line.trim(), "ready", "the client never got an answer");
        let start = Instant::now();
        while children(self.master).len() < workers {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "gunicorn has {:?} workers, not {workers}",
                children(self.master)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Client { child, stdout }
    }
}

impl Drop for Gunicorn {
    fn drop(&mut self) {
        // SAFETY: kill takes plain integers; at worst the group is already gone.
        unsafe { libc::kill(-(self.master as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

struct Client {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Client {
    /// Waits for the client's end: (answers from /fast, answers from /slow).
    fn finish(mut self) -> (u64, u64) {
        let mut line = String::new();
        let _ = self.stdout.read_line(&mut line);
        let _ = self.child.wait();
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["fast", a, "slow", b] => (a.parse().unwrap_or(0), b.parse().unwrap_or(0)),
            _ => panic!("the client said {line:?}"),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn record_master(g: &Gunicorn, seconds: &str) -> PathBuf {
    let fsr = g.dir.host.join("gunicorn.fsr");
    let args = strings(&[
        "record",
        "--subprocesses",
        "--pid",
        &g.master.to_string(),
        "--duration",
        seconds,
        "-o",
        &fsr.to_string_lossy(),
    ]);
    let out = framescope_within(&args, &[], Duration::from_secs(60));
    assert!(
        out.status.success(),
        "record --subprocesses --pid {} failed: {}",
        g.master,
        String::from_utf8_lossy(&out.stderr)
    );
    fsr
}

#[test]
fn gunicorn_workers_show_both_handlers_in_proportion() {
    let _cpu = alone();
    let py = python_named("pyenv-3.12");
    let g = Gunicorn::start(&py, 4, None);
    let client = g.load(5.0, 4);
    let workers = children(g.master);
    let fsr = record_master(&g, "2");

    // dump --subprocesses --json: the master and its four workers, each its own block.
    let out = framescope_within(
        &strings(&[
            "dump",
            "--subprocesses",
            "--json",
            "--pid",
            &g.master.to_string(),
        ]),
        &[],
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "dump --subprocesses failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump: serde_json::Value = serde_json::from_slice(&out.stdout).expect("dump --json is JSON");
    let processes = dump["processes"].as_array().expect("a processes array");
    let master = processes
        .iter()
        .find(|p| p["pid"].as_u64() == Some(g.master as u64))
        .unwrap_or_else(|| panic!("the master is not in {dump:#}"));
    // The command line: its arguments as an array.
    assert!(
        master["command"]
            .as_array()
            .is_some_and(|argv| argv.iter().any(|a| a == "gunicorn")),
        "{master:#}"
    );
    for worker in &workers {
        let p = processes
            .iter()
            .find(|p| p["pid"].as_u64() == Some(*worker as u64))
            .unwrap_or_else(|| panic!("worker {worker} is not in {dump:#}"));
        assert_eq!(p["ppid"].as_u64(), Some(g.master as u64), "{p:#}");
        assert!(
            p["python_version"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.12")),
            "{p:#}"
        );
        assert!(
            p["threads"].as_array().is_some_and(|t| !t.is_empty()),
            "{p:#}"
        );
    }
    let (fast, slow) = client.finish();
    assert!(
        fast > 20 && slow > 20,
        "too little load: {fast} fast, {slow} slow"
    );

    let merged = report(&fsr, &[]);
    let merged_rows = rows(&merged);
    let cum = |name: &str| {
        let l = label(&g.dir, "tree_wsgi.py", name);
        merged_rows
            .get(&l)
            .unwrap_or_else(|| panic!("no row {l} in\n{merged}"))
            .cumtime
    };
    let ratio = cum("handle_slow") / cum("handle_fast");
    assert!(
        (2.2..=4.0).contains(&ratio),
        "handle_slow has {ratio:.2} times handle_fast's time; each /slow costs 3 times a /fast \
         and the client asked as often for both\n{merged}"
    );
    // The work was spread over the workers, and each is its own process in the recording.
    let busy = workers
        .iter()
        .filter(|w| {
            let one = report(&fsr, &["--pid", &w.to_string()]);
            rows_with(&one, "handle_")
        })
        .count();
    assert!(
        busy >= 3,
        "only {busy} of the workers {workers:?} have handler samples"
    );
    none_stopped(g.master);
}

/// Whether a table has a row whose function name starts with `prefix`.
fn rows_with(table: &str, prefix: &str) -> bool {
    rows(table)
        .iter()
        .any(|(k, r)| k.starts_with(prefix) && r.own > 0)
}

#[test]
fn gunicorn_workers_restarted_by_max_requests_are_picked_up() {
    let _cpu = alone();
    let py = python_named("pyenv-3.12");
    let g = Gunicorn::start(&py, 4, Some(5));
    let client = g.load(5.0, 4);
    let before = children(g.master);
    let fsr = record_master(&g, "3");
    let after = children(g.master);
    let (fast, slow) = client.finish();
    let split = report(&fsr, &["--processes"]);
    let recorded: BTreeSet<u32> = process_sections(&split).into_keys().collect();
    assert!(recorded.contains(&g.master), "no master in\n{split}");
    let new: Vec<u32> = recorded
        .iter()
        .copied()
        .filter(|p| *p != g.master && !before.contains(p))
        .collect();
    let working: Vec<u32> = new
        .iter()
        .copied()
        .filter(|p| rows_with(&report(&fsr, &["--pid", &p.to_string()]), "handle_"))
        .collect();
    assert!(
        !working.is_empty(),
        "no worker started during the recording has handler samples: workers before \
         {before:?}, after {after:?}, recorded {recorded:?}, new {new:?} ({fast} fast, {slow} \
         slow answered)\n{split}"
    );
    none_stopped(g.master);
}

// --- a worker killed mid-recording -----------------------------------------------------------

fn kill_one_worker(mode: &str) {
    let py = python_named("pyenv-3.12");
    let mut target = common::spawn(&py, "tree_busy.py", &["3"]);
    let mut line = String::new();
    BufReader::new(target.child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("the parent prints its children");
    let kids: Vec<u32> = line
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("the parent said {line:?}"))
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect();
    assert_eq!(kids.len(), 3);
    let fsr = target.host_path("busy.fsr");
    let args = strings(&[
        "record",
        "--subprocesses",
        mode,
        "--pid",
        &target.pid.to_string(),
        "--duration",
        "2.5",
        "-o",
        &fsr.to_string_lossy(),
    ]);
    let recorder =
        std::thread::spawn(move || framescope_within(&args, &[], Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(1000));
    // SAFETY: kill takes plain integers; at worst the child is already gone.
    unsafe { libc::kill(kids[0] as i32, libc::SIGKILL) };
    let out = recorder.join().expect("the recorder thread");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{mode}: record failed: {stderr}");
    none_stopped(target.pid);
    for kid in &kids[1..] {
        assert!(
            running_freely(*kid),
            "{mode}: worker {kid} is not running freely"
        );
    }
    assert!(
        running_freely(target.pid),
        "{mode}: the parent is not running freely"
    );
    let seconds = |pid: u32| {
        table_seconds(&report(
            &fsr,
            &["--pid", &pid.to_string(), "--clock", "wall", "--idle"],
        ))
    };
    let killed = seconds(kids[0]);
    assert!(
        (0.4..=1.4).contains(&killed),
        "{mode}: the worker killed after 1 s was sampled for {killed:.3} s\n{stderr}"
    );
    for kid in &kids[1..] {
        let s = seconds(*kid);
        assert!(
            s >= 2.1,
            "{mode}: worker {kid} was sampled for {s:.3} s of the 2.5 s recording\n{stderr}"
        );
        let one = report(&fsr, &["--pid", &kid.to_string()]);
        let l = format!("busy_child ({}/tree_busy.py:{})", target.inner_dir, {
            let text = std::fs::read_to_string(target.host_path("tree_busy.py")).expect("file");
            text.lines()
                .position(|l| l.starts_with("def busy_child("))
                .expect("def busy_child")
                + 1
        });
        assert!(rows(&one).contains_key(&l), "{mode}: no {l} in\n{one}");
    }
}

#[test]
fn a_worker_killed_mid_recording_does_not_disturb_the_others() {
    let _cpu = alone();
    kill_one_worker("--nonblocking");
    kill_one_worker("--blocking");
}
