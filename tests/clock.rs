//! The two clocks of a recording, checked against real programs: CPU time per thread
//! must add up to what the kernel charged each thread, wall and CPU time must agree on a
//! program that never waits, and the jittered schedule must measure work locked to the
//! sampling period correctly where a fixed schedule cannot.

mod common;

use std::time::Duration;

use common::{alone, for_each_python, framescope, spawn};

/// `== label: N samples, S s` headings of a `--threads` table: label → seconds.
fn thread_seconds(table: &str) -> Vec<(String, f64)> {
    table
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("== ")?;
            let (label, tail) = rest.rsplit_once(": ")?;
            let secs = tail.split(", ").nth(1)?.trim_end_matches(" s");
            Some((label.to_string(), secs.parse().ok()?))
        })
        .collect()
}

#[test]
fn cpu_time_per_thread_is_what_the_kernel_charged() {
    let _cpu = alone();
    for_each_python(|py| {
        let mut target = spawn(py, "cputhreads.py", &["{dir}"]);
        target.wait_ready();
        let path = target.host_path("cpu.fsr");
        let out = framescope(&[
            "record",
            "--pid",
            &target.pid.to_string(),
            "-o",
            &path.to_string_lossy(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = framescope(&[
            "report",
            &path.to_string_lossy(),
            "--clock",
            "cpu",
            "--threads",
            "--limit",
            "1",
            "--idle",
        ]);
        let table = String::from_utf8_lossy(&report.stdout);
        assert!(table.contains("of CPU time (--clock cpu)"), "{table}");
        let seconds = thread_seconds(&table);
        for name in ["short", "long"] {
            let truth = target.wait_for_file(&format!("cpu-{name}.txt"), Duration::from_secs(5));
            let mut parts = truth.split_whitespace();
            let tid = parts.next().expect("tid");
            let used: f64 = parts.next().and_then(|s| s.parse().ok()).expect("seconds");
            // A thread seen before its name was can have two labels: add up its tid's.
            let label = format!("(tid {tid})");
            let measured: f64 = seconds
                .iter()
                .filter(|(l, _)| l.ends_with(&label))
                .map(|(_, s)| *s)
                .sum();
            // The thread's own clock covers its work only; the recording also has its
            // start and its last few lines (a few ms more), and leaves out the samples
            // taken while it had no Python frame yet (a little less).
            assert!(
                measured >= used * 0.95 && measured <= used * 1.05 + 0.01,
                "{name} {label}: {measured:.4} s of CPU recorded, the thread measured {used:.4} s\n{table}"
            );
        }
    });
}

/// The main thread's CPU time and run-queue wait so far, in seconds (schedstat).
fn cpu_and_wait(pid: u32) -> (f64, f64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/schedstat"))
        .expect("schedstat of the target");
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<f64>().unwrap_or(0.0) * 1e-9);
    (fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0))
}

#[test]
fn wall_and_cpu_time_agree_on_a_program_that_never_waits() {
    let _cpu = alone();
    for_each_python(|py| {
        let mut target = spawn(py, "busy.py", &[]);
        target.wait_ready();
        let path = target.host_path("busy.fsr");
        let before = cpu_and_wait(target.pid);
        let started = std::time::Instant::now();
        let out = framescope(&[
            "record",
            "--pid",
            &target.pid.to_string(),
            "--duration",
            "1",
            "-o",
            &path.to_string_lossy(),
        ]);
        let after = cpu_and_wait(target.pid);
        let elapsed = started.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let total = |clock: &str| {
            let out = framescope(&[
                "report",
                &path.to_string_lossy(),
                "--clock",
                clock,
                "--idle",
                "--thread",
                &target.pid.to_string(),
            ]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let line = text.lines().nth(1).unwrap_or_default().to_string();
            let secs: f64 = line
                .split(", ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no total in {text}"));
            secs
        };
        let (wall, cpu) = (total("wall"), total("cpu"));
        let default = framescope(&["report", &path.to_string_lossy()]);
        assert!(
            String::from_utf8_lossy(&default.stdout).contains("of CPU time (--clock cpu)"),
            "a new recording is reported on the CPU clock by default"
        );
        assert!(
            (0.95..=1.05).contains(&wall),
            "a 1 s recording stands for {wall} s of wall time: every interval is attributed"
        );
        // The two clocks against each other and against the kernel: CPU time never
        // exceeds wall time, and it is what the kernel says the thread ran during the
        // recording, which lies inside the framescope command's run (the rest of that run,
        // attach and write-out, is at most `elapsed - wall`). Debug builds do not "never
        // wait": they sleep now and then, so the kernel's figure is the truth, not wall time.
        let (ran, waited) = (after.0 - before.0, after.1 - before.1);
        assert!(
            cpu <= wall * 1.01,
            "{cpu:.3} s of CPU in {wall:.3} s of wall time"
        );
        assert!(
            cpu <= ran + 0.02 && cpu >= ran - (elapsed - wall) - 0.02,
            "CPU {cpu:.3} s recorded in {wall:.3} s; the kernel: ran {ran:.3} s (waited \
             {waited:.3} s) in the {elapsed:.3} s the command took"
        );
    });
}

/// in_window's share of a `phase.py` recording made with `extra` record options.
fn phase_share(py: &common::Python, extra: &[&str]) -> f64 {
    let mut target = spawn(py, "phase.py", &["1.5"]);
    target.wait_ready();
    let path = target.host_path("phase.fsr");
    let pid = target.pid.to_string();
    let path_arg = path.to_string_lossy().into_owned();
    let mut args = vec!["record", "--pid", &pid, "--duration", "1", "-o", &path_arg];
    args.extend_from_slice(extra);
    let out = framescope(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = framescope(&[
        "report", &path_arg, "--clock", "wall", "--idle", "--limit", "1000",
    ]);
    let rows = common::table_rows(&String::from_utf8_lossy(&out.stdout));
    let own = |name: &str| rows.get(name).map_or(0, |r| r.0) as f64;
    let (inside, outside) = (own("in_window"), own("out_of_window"));
    assert!(inside + outside > 300.0, "too few samples: {rows:?}");
    100.0 * inside / (inside + outside)
}

#[test]
fn jitter_measures_work_locked_to_the_sampling_period() {
    let _cpu = alone();
    // The schedule is the sampler's, not the interpreter's: three interpreters of
    // different eras are enough to show it.
    for py in common::matrix()
        .iter()
        .filter(|p| ["pyenv-3.9", "pyenv-3.12", "sid-3.14"].contains(&p.name.as_str()))
    {
        let jittered = phase_share(py, &[]);
        assert!(
            (jittered - 30.0).abs() <= 8.0,
            "{}: jittered samples put in_window at {jittered:.1}%, truly 30%",
            py.name
        );
        // A fixed schedule sees one phase; which one depends on when it started. Two
        // tries, so that a start right at a window's edge cannot pass for no bias.
        let fixed: Vec<f64> = (0..2).map(|_| phase_share(py, &["--no-jitter"])).collect();
        assert!(
            fixed.iter().any(|share| (share - 30.0).abs() > 15.0),
            "{}: fixed intervals should alias with the 1 ms work and did not: {fixed:?}",
            py.name
        );
    }
}
