//! asyncio tasks against real interpreters of the whole matrix: `dump --async` names the
//! task each thread's event loop is running (3.11 to 3.13 through the `_asyncio` layouts
//! generated from DWARF, 3.14+ through the offsets `_asyncio` publishes), `record --async`
//! splits a service's work per task, and both say once why they cannot where they cannot
//! (older versions, pure-Python tasks), still giving the plain stacks.

mod common;

use std::time::Duration;

use common::{for_each_python, framescope, number_before, spawn, Python};
use serde_json::Value;

/// Versions whose C tasks framescope reads.
fn reads_tasks(py: &Python) -> bool {
    py.minor() >= 11
}

fn dump_async(pid: u32) -> Value {
    let pid = pid.to_string();
    let out = framescope(&["dump", "--pid", &pid, "--json", "--async"]);
    assert!(
        out.status.success(),
        "dump --async failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("dump --async --json is JSON")
}

#[test]
fn dump_async_names_the_task_each_thread_runs() {
    for_each_python(|py| {
        let mut target = spawn(py, "aiotasks.py", &["{dir}/truth.json"]);
        let truth: Value =
            serde_json::from_str(&target.wait_for_file("truth.json", Duration::from_secs(60)))
                .expect("truth");
        let dump = dump_async(target.pid);
        let threads = dump["threads"].as_array().expect("threads");
        let main = "spin_main";
        let side = "Side.spin";
        if !reads_tasks(py) {
            let note = dump["asyncio_note"].as_str().unwrap_or("");
            assert!(
                note.contains("not read on CPython"),
                "{}: expected the version note, got {dump}",
                py.name
            );
            assert!(threads.iter().all(|t| t.get("task").is_none()));
            // The plain stacks are still there.
            assert!(threads.iter().any(|t| t["frames"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["function"] == main))));
            return;
        }
        assert!(dump.get("asyncio_note").is_none(), "{}: {dump}", py.name);
        let truth = truth.as_object().expect("truth object");
        assert_eq!(truth.len(), 2);
        for (ident, want) in truth {
            let ident: u64 = ident.parse().expect("ident");
            let thread = threads
                .iter()
                .find(|t| t["python_thread_id"].as_u64() == Some(ident))
                .unwrap_or_else(|| panic!("{}: thread {ident} not in {dump}", py.name));
            let task = &thread["task"];
            assert_eq!(task["name"], want["name"], "{}: {thread}", py.name);
            assert_eq!(
                task["coroutine"], want["coroutine"],
                "{}: {thread}",
                py.name
            );
            assert_eq!(task["id"], want["id"], "{}: {thread}", py.name);
        }
        let names: Vec<&str> = truth
            .values()
            .filter_map(|t| t["coroutine"].as_str())
            .collect();
        assert!(names.contains(&main) && names.contains(&side));
        // The text form shows the same.
        let pid = target.pid.to_string();
        let text = framescope(&["dump", "--pid", &pid, "--async"]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("task: main-spinner (coroutine spin_main, id 0x"),
            "{}: {text}",
            py.name
        );
        assert!(text.contains("task: side-spinner (coroutine Side.spin, id 0x"));
    });
}

#[test]
fn dump_async_says_once_that_pure_python_tasks_cannot_be_read() {
    for_each_python(|py| {
        // aiotasks.py's swap to _PyTask does not run on 3.14+ (the program exits).
        if !(11..=13).contains(&py.minor()) {
            return;
        }
        let mut target = spawn(py, "aiotasks.py", &["{dir}/truth.json", "py"]);
        target.wait_for_file("truth.json", Duration::from_secs(60));
        let dump = dump_async(target.pid);
        let note = dump["asyncio_note"].as_str().unwrap_or("");
        assert!(note.contains("pure-Python tasks"), "{}: {dump}", py.name);
        let threads = dump["threads"].as_array().expect("threads");
        assert!(threads.iter().all(|t| t.get("task").is_none()));
        assert!(threads.iter().any(|t| t["frames"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["function"] == "spin_main"))));
    });
}

/// Per task: the share of the client tasks' samples (by the collapsed stacks' weights) in
/// lines holding its `task: NAME` frame.
fn task_weights(collapsed: &str) -> std::collections::HashMap<String, f64> {
    let mut weights = std::collections::HashMap::new();
    for line in collapsed.lines() {
        let Some((stack, weight)) = line.rsplit_once(' ') else {
            continue;
        };
        let weight: f64 = weight.parse().expect("collapsed weight");
        for frame in stack.split(';') {
            if let Some(name) = frame.strip_prefix("task: ") {
                *weights.entry(name.to_string()).or_insert(0.0) += weight;
            }
        }
    }
    weights
}

/// An asyncio.start_server service with client tasks `client-a` (1 unit of CPU work per
/// request) and `client-b` (3 units): `record --async` then `report --async --format
/// collapsed` split the CPU time between them as the program's own thread_time says,
/// within 6 points, with the task frame between the event loop and the task's coroutine;
/// `--tasks-by coroutine` merges both into one `task: client` frame. Elsewhere `record
/// --async` says once that it cannot read tasks and records the plain stacks.
#[test]
fn record_async_splits_a_service_per_task_like_its_own_clock() {
    for_each_python(|py| {
        let dir = common::ScenarioDir::new(py);
        let rec = dir.host.join("svc.fsr");
        let rec_arg = rec.to_string_lossy().into_owned();
        if !reads_tasks(py) {
            // Said once, and the plain stacks recorded.
            let mut argv = vec!["record".to_string(), "--async".into(), "-o".into()];
            argv.push(rec_arg.clone());
            argv.push("--".into());
            argv.extend(dir.argv(py, "aioservice.py", &["{dir}/truth.json", "1"]));
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let out = framescope(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{}: {stderr}", py.name);
            assert_eq!(
                stderr
                    .matches("asyncio tasks are not read on CPython")
                    .count(),
                1,
                "{}: {stderr}",
                py.name
            );
            let report = framescope(&["report", &rec_arg, "--async", "--format", "collapsed"]);
            let collapsed = String::from_utf8_lossy(&report.stdout);
            assert!(!collapsed.contains("task: "), "{}: {collapsed}", py.name);
            assert!(collapsed.contains(";burn ("), "{}: {collapsed}", py.name);
            return;
        }
        let mut argv = vec!["record", "--async", "-o", &rec_arg, "--"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        argv.extend(dir.argv(py, "aioservice.py", &["{dir}/truth.json", "3"]));
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = framescope(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{}: record --async: {stderr}",
            py.name
        );
        // The running task rides along with the stacks' read: beyond the stacks' own
        // reads (one a sample, one more for each sample read again), reading tasks
        // costs next to nothing (about 3 reads a sample when read on its own).
        let summary = stderr
            .lines()
            .find(|l| l.starts_with("framescope: "))
            .unwrap_or_else(|| panic!("{}: no summary: {stderr}", py.name));
        let samples = number_before(summary, " samples,");
        let reads = number_before(summary, " reads/sample") * samples;
        let reread = number_before(summary, " re-read");
        let beyond = (reads - samples - reread) / samples;
        assert!(
            beyond < 1.0,
            "{}: {beyond:.2} reads a sample beyond the stacks': {summary}",
            py.name
        );
        let truth: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.host.join("truth.json")).expect("truth"),
        )
        .expect("truth json");
        let (a, b) = (
            truth["client-a"].as_f64().expect("a"),
            truth["client-b"].as_f64().expect("b"),
        );

        let report = framescope(&["report", &rec_arg, "--async", "--format", "collapsed"]);
        assert!(report.status.success(), "{}", py.name);
        let collapsed = String::from_utf8_lossy(&report.stdout);
        let weights = task_weights(&collapsed);
        let (wa, wb) = (
            weights.get("client-a").copied().unwrap_or(0.0),
            weights.get("client-b").copied().unwrap_or(0.0),
        );
        assert!(
            wa + wb > 0.0,
            "{}: no client task frames:\n{collapsed}",
            py.name
        );
        let (want, got) = (a / (a + b), wa / (wa + wb));
        assert!(
            (want - got).abs() < 0.06,
            "{}: client-a did {:.1}% of the client work by its own clock, the report says \
             {:.1}% ({weights:?})",
            py.name,
            want * 100.0,
            got * 100.0
        );
        // The task frame sits between the event loop and the task's coroutine.
        assert!(
            collapsed.lines().any(|l| l.contains("Handle._run")
                && l.contains(";task: client-b;client (")
                && l.contains(";burn (")),
            "{}: no Handle._run;task: client-b;client;...;burn stack:\n{collapsed}",
            py.name
        );
        // Without --async the same recording has no task frames.
        let plain = framescope(&["report", &rec_arg, "--format", "collapsed"]);
        assert!(!String::from_utf8_lossy(&plain.stdout).contains("task: "));
        // Merged by coroutine function: both clients are one `task: client`.
        let merged = framescope(&[
            "report",
            &rec_arg,
            "--async",
            "--tasks-by",
            "coroutine",
            "--format",
            "collapsed",
        ]);
        let merged = task_weights(&String::from_utf8_lossy(&merged.stdout));
        let client = merged.get("client").copied().unwrap_or(0.0);
        assert!(
            (client - (wa + wb)).abs() < 1e-6 * client.max(1.0) + 2.0,
            "{}: merged {client} vs {wa} + {wb} ({merged:?})",
            py.name
        );
        assert!(!merged.contains_key("client-a"), "{merged:?}");
    });
}

/// The waiting-task program's truth: what it set up (tasks by name, with ids, coroutines,
/// `await` lines and the tasks each awaits).
fn waiting_program(py: &Python, args: &[&str]) -> (common::Target, Value) {
    let mut all = vec!["{dir}/truth.json"];
    all.extend_from_slice(args);
    let mut target = spawn(py, "aiowait.py", &all);
    let truth: Value =
        serde_json::from_str(&target.wait_for_file("truth.json", Duration::from_secs(60)))
            .expect("truth");
    (target, truth)
}

/// The task of `dump`'s `tasks` with id `id`.
fn task_by_id(dump: &Value, id: u64) -> Option<&Value> {
    dump["tasks"]
        .as_array()?
        .iter()
        .find(|t| t["id"].as_u64() == Some(id))
}

fn ids(v: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = v
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

#[test]
fn dump_async_shows_every_waiting_task_where_it_waits_and_who_awaits_it() {
    for_each_python(|py| {
        if !reads_tasks(py) {
            return;
        }
        let (target, truth) = waiting_program(py, &[]);
        let dump = dump_async(target.pid);
        let tasks = truth["tasks"].as_object().expect("tasks");
        assert_eq!(tasks.contains_key("eager"), py.minor() >= 12);
        let id_of = |name: &str| tasks[name]["id"].as_u64().expect("id");
        for (name, want) in tasks {
            let id = want["id"].as_u64().expect("id");
            let got = task_by_id(&dump, id)
                .unwrap_or_else(|| panic!("{}: task {name} not in {dump}", py.name));
            assert_eq!(got["name"], name.as_str(), "{}: {got}", py.name);
            assert_eq!(got["state"], "waiting", "{}: {got}", py.name);
            assert_eq!(got["coroutine"], want["coroutine"], "{}: {got}", py.name);
            // The task's own coroutine is the outermost frame, at its `await` line.
            let frames = got["frames"].as_array().expect("frames");
            let outer = frames
                .last()
                .unwrap_or_else(|| panic!("{}: {name} has no frames: {got}", py.name));
            assert_eq!(outer["function"], want["coroutine"], "{}: {got}", py.name);
            assert_eq!(outer["file"], truth["file"], "{}: {got}", py.name);
            assert_eq!(outer["line"], want["line"], "{}: {name}: {got}", py.name);
            // Which task it awaits, exactly, and the other way round.
            let awaits: Vec<u64> = {
                let mut v: Vec<u64> = want["awaits"]
                    .as_array()
                    .expect("awaits")
                    .iter()
                    .map(|c| id_of(c.as_str().expect("name")))
                    .collect();
                v.sort_unstable();
                v
            };
            assert_eq!(ids(&got["awaits"]), awaits, "{}: {name}: {got}", py.name);
            let parents: Vec<u64> = tasks
                .values()
                .filter(|t| {
                    t["awaits"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|c| c == name.as_str()))
                })
                .map(|t| t["id"].as_u64().expect("id"))
                .collect();
            assert_eq!(
                ids(&got["awaited_by"]),
                parents,
                "{}: {name}: {got}",
                py.name
            );
        }
        assert_whole_chains(py, &dump, &truth);
        // The text form: the trees.
        let pid = target.pid.to_string();
        let text = framescope(&["dump", "--pid", &pid, "--async"]);
        let text = String::from_utf8_lossy(&text.stdout);
        for parent in ["gather", "group"] {
            let at = text
                .find(&format!("task {parent}-parent "))
                .unwrap_or_else(|| panic!("{}: no {parent}-parent in {text}", py.name));
            let below = &text[at..];
            for child in 1..=2 {
                assert!(
                    below.contains(&format!("    └ awaits task {parent}-child-{child} ")),
                    "{}: {parent}-child-{child} not under its parent:\n{text}",
                    py.name
                );
            }
        }
    });
}

/// Each waiting task's chain goes down to the library coroutine it is parked in, under the
/// user's `await`: the lock, queue and sleep waiters', and the main task's (`Event.wait`
/// under `main`, whose code is quickened by then: on 3.11 a `RESUME_QUICK` follows its
/// yield).
fn assert_whole_chains(py: &Python, dump: &Value, truth: &Value) {
    let tasks = &truth["tasks"];
    for (want, inner, outer) in [
        (&tasks["lock-waiter"], "Lock.acquire", "hold_lock"),
        (&tasks["queue-waiter"], "Queue.get", "get_item"),
        (&tasks["sleeper"], "sleep", "nap"),
        (&truth["main"], "Event.wait", "main"),
    ] {
        let id = want["id"].as_u64().expect("id");
        let got = task_by_id(dump, id)
            .unwrap_or_else(|| panic!("{}: task {id:#x} ({outer}) not in {dump}", py.name));
        let frames = got["frames"].as_array().expect("frames");
        let names: Vec<&str> = frames
            .iter()
            .map(|f| f["function"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(names.first(), Some(&inner), "{}: {outer}: {got}", py.name);
        assert_eq!(names.last(), Some(&outer), "{}: {outer}: {got}", py.name);
        let last = frames.last().expect("frames");
        assert_eq!(last["line"], want["line"], "{}: {outer}: {got}", py.name);
    }
}

/// Under a profiler (a no-op `sys.setprofile`) 3.12+ instrument every `RESUME`: the
/// waiting tasks' chains stay whole.
#[test]
fn waiting_chains_stay_whole_under_a_profiler() {
    for_each_python(|py| {
        if !reads_tasks(py) {
            return;
        }
        let (target, truth) = waiting_program(py, &["profiled"]);
        let dump = dump_async(target.pid);
        assert_whole_chains(py, &dump, &truth);
    });
}

/// The row of a `report` table whose function column starts with `at`: (total samples,
/// cumulative seconds).
fn table_row(table: &str, at: &str) -> Option<(u64, f64)> {
    table.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 7 {
            return None;
        }
        let function = f[6..].join(" ");
        function
            .starts_with(at)
            .then(|| Some((f[1].parse().ok()?, f[5].parse().ok()?)))
            .flatten()
    })
}

/// Largest resident size of the waited-for children so far, in MB.
fn children_max_rss_mb() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_maxrss as f64 / 1024.0
}

#[test]
fn ten_thousand_tasks_are_read_in_bounded_time_and_memory() {
    for_each_python(|py| {
        if !reads_tasks(py) {
            return;
        }
        let (target, truth) = waiting_program(py, &["many", "10000"]);
        assert_eq!(truth["many"], 10000);
        let start = std::time::Instant::now();
        let dump = dump_async(target.pid);
        let took = start.elapsed();
        let tasks = dump["tasks"].as_array().expect("tasks");
        let want = 10000 + truth["tasks"].as_object().expect("tasks").len() + 1;
        assert_eq!(tasks.len(), want, "{}", py.name);
        assert!(tasks.iter().all(|t| t["state"] == "waiting"));
        assert!(
            took < Duration::from_secs(20),
            "{}: dump took {took:?}",
            py.name
        );

        let rec = common::scratch("asyncio", &format!("many-{}.fsr", py.name));
        let rec_arg = rec.to_string_lossy().to_string();
        let pid = target.pid.to_string();
        let start = std::time::Instant::now();
        let out = framescope(&[
            "record", "--pid", &pid, "--async", "--idle", "-d", "2", "-o", &rec_arg, "--quiet",
        ]);
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "{}: {}",
            py.name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            took < Duration::from_secs(20),
            "{}: record took {took:?}",
            py.name
        );
        let rss = children_max_rss_mb();
        assert!(rss < 500.0, "{}: a child reached {rss:.0} MB", py.name);
        let report = framescope(&[
            "report", &rec_arg, "--async", "--idle", "--lines", "--limit", "0",
        ]);
        let table = String::from_utf8_lossy(&report.stdout);
        // The 10,000 unnamed sleepers and the named one, each counted where it sleeps.
        let file = truth["file"].as_str().expect("file");
        let at = format!("nap ({file}:{})", truth["tasks"]["sleeper"]["line"]);
        let row = table_row(&table, &at)
            .unwrap_or_else(|| panic!("{}: no row {at} in\n{table}", py.name));
        assert!(row.0 > 10000, "{}: {at}: {row:?}", py.name);
    });
}

#[test]
fn record_async_idle_gives_each_waiting_task_wall_time_at_its_await() {
    for_each_python(|py| {
        if !reads_tasks(py) {
            return;
        }
        let (target, truth) = waiting_program(py, &[]);
        let rec = common::scratch("asyncio", &format!("idle-{}.fsr", py.name));
        let rec_arg = rec.to_string_lossy().to_string();
        let pid = target.pid.to_string();
        let out = framescope(&[
            "record", "--pid", &pid, "--async", "--idle", "-d", "2", "-o", &rec_arg, "--quiet",
        ]);
        assert!(
            out.status.success(),
            "{}: {}",
            py.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let report = framescope(&[
            "report", &rec_arg, "--async", "--idle", "--clock", "wall", "--lines", "--limit", "0",
        ]);
        let table = String::from_utf8_lossy(&report.stdout);
        let seconds = |at: &str| {
            table_row(&table, at)
                .unwrap_or_else(|| panic!("{}: no row {at} in\n{table}", py.name))
                .1
        };
        let file = truth["file"].as_str().expect("file");
        // The event loop's thread, idle in select all along: the whole recording.
        let whole = seconds(&format!("<module> ({file}:"));
        assert!(whole > 1.0, "{}: {table}", py.name);
        for name in ["lock-waiter", "queue-waiter", "sleeper"] {
            let want = &truth["tasks"][name];
            let at = format!(
                "{} ({file}:{})",
                want["coroutine"].as_str().expect("coroutine"),
                want["line"]
            );
            // Waiting all along, at that one line: as much wall time as the loop's thread.
            for row in [at, format!("task: {name} ()")] {
                let share = seconds(&row) / whole;
                assert!(
                    (0.9..=1.1).contains(&share),
                    "{}: {row} got {share:.2} of the loop thread's wall time:\n{table}",
                    py.name
                );
            }
        }
    });
}
