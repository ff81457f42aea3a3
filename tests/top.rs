//! `framescope top` in a real terminal: tmux runs it on a program whose time splits 3:1
//! between `hot_a` and `hot_b`; `capture-pane` reads the screen, `send-keys` sorts and
//! quits, and afterwards the terminal must be restored and the target still running, not
//! stopped. Also the plain-text mode when standard output is a pipe, and `--subprocesses`
//! on a parent with a child busy in its own function each (tests/scenarios/top_tree.py): a
//! late child picked up and dropped, the process filter, `-o`'s PROCESS records. On the
//! oldest and the newest interpreter of the matrix (a pyenv build and the sid chroot).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::Python;

/// The oldest and the newest (release) interpreter of the matrix.
fn ends_of_matrix() -> Vec<Python> {
    let all = common::matrix();
    let newest = all
        .iter()
        .rev()
        .find(|p| !p.name.ends_with('d'))
        .or(all.last())
        .cloned();
    let mut picked: Vec<Python> = all.first().cloned().into_iter().collect();
    picked.extend(newest.filter(|n| picked.iter().all(|p| p.name != n.name)));
    picked
}

fn for_ends(check: impl Fn(&Python)) {
    for py in ends_of_matrix() {
        eprintln!("interpreter: {}", py.name);
        check(&py);
    }
}

/// A tmux server of its own, with one session of a given size; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "framescope-top-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let tmux = Tmux { socket };
        let ok = tmux
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "200",
                "-y",
                "45",
                command,
            ])
            .status
            .success();
        assert!(ok, "tmux starts");
        tmux
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs (scripts/provision installs it)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    fn display(&self, format: &str) -> String {
        let out = self.cmd(&["display-message", "-p", "-t", "t", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until `ready` accepts the screen; its last value otherwise.
    fn wait_for<T>(&self, what: &str, ready: impl Fn(&str) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if let Some(v) = ready(&screen) {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no {what} after 30 s; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// A table row: own%, total%, own s, total s, function name.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    own_pct: f64,
    total_pct: f64,
    name: String,
}

/// The rows under the column titles.
fn rows(screen: &str) -> Vec<Row> {
    screen
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("own%"))
        .skip(1)
        .map_while(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 6 {
                return None;
            }
            Some(Row {
                own_pct: f[0].parse().ok()?,
                total_pct: f[1].parse().ok()?,
                name: f[4].to_string(),
            })
        })
        .collect()
}

fn row<'a>(rows: &'a [Row], name: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.name == name)
}

/// Both hot functions on screen with enough samples behind them.
fn hot_rows(screen: &str) -> Option<(Row, Row)> {
    let rows = rows(screen);
    let (a, b) = (row(&rows, "hot_a")?, row(&rows, "hot_b")?);
    (a.own_pct > 0.0 && b.own_pct > 0.0).then(|| (a.clone(), b.clone()))
}

fn framescope() -> &'static str {
    env!("CARGO_BIN_EXE_framescope")
}

/// `State:` and `TracerPid:` of a process.
fn proc_state(pid: u32) -> (String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    (field("State:"), field("TracerPid:"))
}

/// After top quit: its status, and the terminal back in its normal state.
fn assert_restored(tmux: &Tmux) {
    let screen = tmux.wait_for("exit status", |s| {
        s.lines()
            .find_map(|l| l.strip_prefix("top exited "))
            .map(|code| code.trim().to_string())
    });
    assert_eq!(screen, "0", "top's exit status");
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "0",
        "alternate screen left"
    );
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor shown");
    let settings = tmux.wait_for("stty output", |s| {
        s.contains("icanon").then(|| s.to_string())
    });
    let words: Vec<&str> = settings.split_whitespace().collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo") && words.contains(&"isig"),
        "raw mode left: {settings}"
    );
}

#[test]
fn top_shows_the_hot_functions_sorts_and_quits_leaving_the_target_running() {
    let _cpu = common::among_others();
    for_ends(|py| {
        let mut target = common::spawn(py, "hotspots.py", &[]);
        target.wait_ready();
        let fsr = target.host_path("top.fsr");
        let tmux = Tmux::start(&format!(
            "{} top --pid {} -o {}; echo \"top exited $?\"; stty -a; sleep 600",
            framescope(),
            target.pid,
            fsr.display()
        ));
        // The header: target, interpreter, command, rate, samples, errors.
        let screen = tmux.wait_for("hot_a and hot_b", |s| hot_rows(s).map(|_| s.to_string()));
        let head: Vec<&str> = screen.lines().take(3).collect();
        let version = py
            .name
            .rsplit('-')
            .next()
            .unwrap_or("")
            .trim_end_matches('d');
        assert!(
            head[0].starts_with(&format!(
                "framescope top · pid {} · CPython {version}",
                target.pid
            )) && head[0].contains("hotspots.py"),
            "{screen}"
        );
        assert!(
            head[1].starts_with("rate ")
                && head[1].contains("(asked 1000) · samples ")
                && head[1].contains(" · errors "),
            "{screen}"
        );
        assert!(
            head[2].starts_with("last second · CPU time · on-CPU samples"),
            "{screen}"
        );

        // The whole session: hot_a does three times hot_b's work.
        tmux.keys(&["w"]);
        let (a, b) = tmux.wait_for("the whole session", |s| {
            s.contains("whole session").then(|| hot_rows(s)).flatten()
        });
        // 3 by the work; under a loaded machine's scheduling 5.05 has been seen.
        let ratio = a.own_pct / b.own_pct;
        assert!(
            (1.8..6.0).contains(&ratio) && a.own_pct + b.own_pct > 60.0,
            "hot_a {a:?} hot_b {b:?}"
        );

        // Sorted by total% first: a 100% caller heads the table, not hot_a.
        let first = rows(&tmux.screen())[0].clone();
        assert!(first.total_pct > 99.0 && first.name != "hot_a", "{first:?}");
        tmux.keys(&["1"]);
        let order = tmux.wait_for("sort by own%", |s| {
            let r = rows(s);
            (s.contains("sorted by own% ▼") && r.len() >= 2).then_some(r)
        });
        assert_eq!(
            (order[0].name.as_str(), order[1].name.as_str()),
            ("hot_a", "hot_b"),
            "{order:?}"
        );
        tmux.keys(&["5"]);
        let names = tmux.wait_for("sort by name", |s| {
            s.contains("sorted by function ▲")
                .then(|| rows(s).into_iter().map(|r| r.name).collect::<Vec<_>>())
        });
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);

        tmux.keys(&["q"]);
        assert_restored(&tmux);
        let (state, tracer) = proc_state(target.pid);
        assert!(
            !state.starts_with('T') && !state.starts_with('t') && tracer == "0",
            "target {state}, traced by {tracer}"
        );
        assert!(common::running_freely(target.pid));

        // The session's recording reads, with both functions in it.
        let out = common::framescope(&["report", fsr.to_str().unwrap_or("")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table = common::table_rows(&String::from_utf8_lossy(&out.stdout));
        assert!(
            table.contains_key("hot_a") && table.contains_key("hot_b"),
            "{table:?}"
        );
    });
}

#[test]
fn ctrl_c_quits_and_a_command_top_started_is_ended() {
    let _cpu = common::among_others();
    for_ends(|py| {
        let dir = common::ScenarioDir::new(py);
        let argv = dir.argv(py, "hotspots.py", &[]);
        let tmux = Tmux::start(&format!(
            "{} top -- {}; echo \"top exited $?\"; stty -a; sleep 600",
            framescope(),
            argv.join(" ")
        ));
        let pid: u32 = tmux.wait_for("the command's pid", |s| {
            hot_rows(s)?;
            let head = s.lines().next()?;
            head.split(" · ").nth(1)?.strip_prefix("pid ")?.parse().ok()
        });
        assert!(common::running_freely(pid));
        tmux.keys(&["C-c"]);
        assert_restored(&tmux);
        // Ended (SIGTERM) and reaped.
        let start = Instant::now();
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "pid {pid} still there"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

#[test]
fn without_a_terminal_top_writes_a_snapshot_every_second_and_stops_with_the_pipe() {
    let _cpu = common::among_others();
    for_ends(|py| {
        let mut target = common::spawn(py, "hotspots.py", &[]);
        target.wait_ready();
        let mut top = Command::new(framescope())
            .args(["top", "--pid", &target.pid.to_string(), "--limit", "10"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("top starts");
        let mut lines = BufReader::new(top.stdout.take().expect("stdout")).lines();
        // Snapshots: a header of three lines, the titles, rows, an empty line.
        let mut snapshots: Vec<Vec<String>> = vec![Vec::new()];
        let start = Instant::now();
        while snapshots.len() < 4 {
            assert!(start.elapsed() < Duration::from_secs(30), "{snapshots:?}");
            let line = lines.next().expect("a line").expect("text");
            assert!(!line.contains('\u{1b}'), "no terminal control: {line:?}");
            if line.is_empty() {
                snapshots.push(Vec::new());
            } else if let Some(s) = snapshots.last_mut() {
                s.push(line);
            }
        }
        let elapsed = start.elapsed();
        for s in &snapshots[..3] {
            assert!(
                s[0].starts_with(&format!("framescope top · pid {}", target.pid)),
                "{s:?}"
            );
            assert!(s[2].starts_with("last second"), "{s:?}");
            assert!(s[3].trim_start().starts_with("own%"), "{s:?}");
            assert!(s.len() <= 4 + 10 + 1, "at most 10 rows: {s:?}");
        }
        // One a second (the first after the first whole second).
        assert!(elapsed > Duration::from_millis(2500), "{elapsed:?}");
        let last = snapshots[2].join("\n");
        assert!(hot_rows(&last).is_some(), "{last}");
        // The reader goes away: top ends, quietly and with status 0; the target runs on.
        drop(lines);
        let start = Instant::now();
        let status = loop {
            if let Some(status) = top.try_wait().expect("wait") {
                break status;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "top still runs");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        use std::io::Read;
        let _ = top.stderr.take().map(|mut e| e.read_to_string(&mut err));
        assert!(status.success() && err.is_empty(), "{status} {err}");
        assert!(common::running_freely(target.pid));

        // --duration: the last snapshot is of the whole session.
        let out = common::framescope(&["top", "--pid", &target.pid.to_string(), "--duration", "2"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tail = text.trim_end().rsplit("\n\n").next().unwrap_or("");
        assert!(
            tail.contains("whole session") && tail.contains("sampling ended: --duration reached"),
            "{text}"
        );
        assert!(hot_rows(tail).is_some(), "{tail}");
        assert!(common::running_freely(target.pid));
    });
}

/// The pids tests/scenarios/top_tree.py wrote: (alpha, beta).
fn tree_pids(dir: &std::path::Path) -> (u32, u32) {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("pids")) {
            let pid = |role: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(role)?.trim().parse().ok())
                    .unwrap_or_else(|| panic!("no {role} pid in {text:?}"))
            };
            return (pid("alpha "), pid("beta "));
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no pids file");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each named function has a row with on-CPU time.
fn has_rows(screen: &str, names: &[&str]) -> bool {
    let rows = rows(screen);
    names
        .iter()
        .all(|n| row(&rows, n).is_some_and(|r| r.own_pct > 0.0))
}

/// Not stopped, not traced: running, or gone.
fn not_stopped(pid: u32, who: &str) {
    let (state, tracer) = proc_state(pid);
    assert!(
        !state.starts_with('T') && !state.starts_with('t') && (tracer == "0" || tracer.is_empty()),
        "{who} (pid {pid}) {state}, traced by {tracer}"
    );
}

/// The header's count of Python processes: "N Python processes (R running)".
fn process_count(screen: &str) -> Option<(u32, u32)> {
    let head = screen.lines().next()?;
    let part = head.split(" · ").find(|p| p.contains(" Python process"))?;
    let (n, rest) = part.split_once(" Python process")?;
    let running = rest.split_once('(')?.1.split_once(" running")?.0;
    Some((n.trim().parse().ok()?, running.parse().ok()?))
}

#[test]
fn top_subprocesses_follows_the_tree_filters_a_process_and_quits_leaving_it_unstopped() {
    // Two or three spinning children: they would skew the splits the other tests check.
    let _cpu = common::alone();
    for_ends(|py| {
        let dir = common::ScenarioDir::new(py);
        let argv = dir.argv(py, "top_tree.py", &["{dir}"]);
        let fsr = dir.host.join("top.fsr");
        let tmux = Tmux::start(&format!(
            "{} top --subprocesses -o {} -- {}; echo \"top exited $?\"; stty -a; sleep 600",
            framescope(),
            fsr.display(),
            argv.join(" ")
        ));
        // Both children's hot functions, merged into one table, and three processes.
        let screen = tmux.wait_for("hot_alpha, hot_beta and 3 processes", |s| {
            (has_rows(s, &["hot_alpha", "hot_beta"]) && process_count(s) == Some((3, 3)))
                .then(|| s.to_string())
        });
        let version = py
            .name
            .rsplit('-')
            .next()
            .unwrap_or("")
            .trim_end_matches('d');
        let head = screen.lines().next().unwrap_or("");
        assert!(
            head.starts_with("framescope top --subprocesses · pid ")
                && head.contains(&format!("· CPython {version}"))
                && head.contains("top_tree.py"),
            "{screen}"
        );
        let (alpha, beta) = tree_pids(&dir.host);

        // A process that starts late is picked up; one that exits is dropped.
        std::fs::write(dir.host.join("late"), "").expect("late");
        tmux.wait_for("hot_gamma and 4 running", |s| {
            (has_rows(s, &["hot_gamma"]) && process_count(s) == Some((4, 4))).then_some(())
        });
        std::fs::write(dir.host.join("late-stop"), "").expect("late-stop");
        tmux.wait_for("gamma ended", |s| {
            (process_count(s) == Some((4, 3))).then_some(())
        });
        let gamma_status = std::fs::read_to_string(dir.host.join("gamma-status"))
            .unwrap_or_default()
            .trim()
            .to_string();
        assert_eq!(gamma_status, "0", "the late child exited normally");

        // The process filter: P until alpha's, whose rows have no hot_beta.
        let mut shown = None;
        for _ in 0..6 {
            tmux.keys(&["P"]);
            let previous = shown;
            shown = tmux.wait_for("the process filter", |s| {
                let line = s.lines().nth(2)?;
                let pid: Option<u32> = line
                    .split_once(" · process ")
                    .and_then(|(_, r)| r.split(' ').next()?.parse().ok());
                (pid != previous).then_some(pid)
            });
            if shown == Some(alpha) {
                break;
            }
        }
        assert_eq!(shown, Some(alpha), "P reaches alpha's process");
        let filtered = tmux.wait_for("alpha's rows", |s| {
            has_rows(s, &["hot_alpha"]).then(|| s.to_string())
        });
        assert!(
            row(&rows(&filtered), "hot_beta").is_none(),
            "hot_beta under alpha's filter:\n{filtered}"
        );

        tmux.keys(&["q"]);
        assert_restored(&tmux);
        // Nothing left stopped; the children end on their own once the command top
        // started is ended.
        not_stopped(alpha, "alpha");
        not_stopped(beta, "beta");
        let start = Instant::now();
        for pid in [alpha, beta] {
            while std::path::Path::new(&format!("/proc/{pid}")).exists() {
                not_stopped(pid, "a child");
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "pid {pid} still there"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        // The session's recording: a PROCESS record per child, each with its function.
        let fsr = fsr.to_str().unwrap_or("");
        let split = common::framescope(&["report", fsr, "--processes"]);
        let text = String::from_utf8_lossy(&split.stdout);
        assert!(
            split.status.success(),
            "{}",
            String::from_utf8_lossy(&split.stderr)
        );
        for pid in [alpha, beta] {
            assert!(
                text.contains(&format!("pid {pid}: ")),
                "no pid {pid} in\n{text}"
            );
        }
        for (pid, hot, other) in [
            (alpha, "hot_alpha", "hot_beta"),
            (beta, "hot_beta", "hot_alpha"),
        ] {
            let one = common::framescope(&["report", fsr, "--pid", &pid.to_string()]);
            let table = common::table_rows(&String::from_utf8_lossy(&one.stdout));
            assert!(
                table.contains_key(hot) && !table.contains_key(other),
                "pid {pid}: {table:?}"
            );
        }
    });
}

#[test]
fn top_subprocesses_without_a_terminal_attaches_to_a_tree_and_leaves_it_running() {
    // Two or three spinning children: they would skew the splits the other tests check.
    let _cpu = common::alone();
    for_ends(|py| {
        let mut target = common::spawn(py, "top_tree.py", &["{dir}"]);
        target.wait_ready();
        let (alpha, beta) = tree_pids(&target.host_dir);
        let root = target.pid.to_string();
        let out = common::framescope(&["top", "--subprocesses", "--pid", &root, "--duration", "3"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains('\u{1b}'), "no terminal control: {text}");
        let tail = text.trim_end().rsplit("\n\n").next().unwrap_or("");
        assert!(
            tail.starts_with(&format!("framescope top --subprocesses · pid {root} · "))
                && process_count(tail) == Some((3, 3))
                && tail.contains("whole session")
                && tail.contains("sampling ended: --duration reached"),
            "{text}"
        );
        assert!(has_rows(tail, &["hot_alpha", "hot_beta"]), "{tail}");
        for pid in [target.pid, alpha, beta] {
            assert!(common::running_freely(pid), "pid {pid} not running freely");
        }
    });
}

#[test]
fn top_subprocesses_ctrl_c_on_an_attached_tree_leaves_every_process_running() {
    // Two spinning children: they would skew the splits the other tests check.
    let _cpu = common::alone();
    for_ends(|py| {
        let mut target = common::spawn(py, "top_tree.py", &["{dir}"]);
        target.wait_ready();
        let (alpha, beta) = tree_pids(&target.host_dir);
        let tmux = Tmux::start(&format!(
            "{} top --subprocesses --pid {}; echo \"top exited $?\"; stty -a; sleep 600",
            framescope(),
            target.pid
        ));
        tmux.wait_for("hot_alpha, hot_beta and 3 processes", |s| {
            (has_rows(s, &["hot_alpha", "hot_beta"]) && process_count(s) == Some((3, 3)))
                .then_some(())
        });
        tmux.keys(&["C-c"]);
        assert_restored(&tmux);
        for pid in [target.pid, alpha, beta] {
            not_stopped(pid, "a process of the tree");
            assert!(common::running_freely(pid), "pid {pid} not running freely");
        }
    });
}
