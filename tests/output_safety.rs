//! What framescope does to the files around it and to the command it runs when things go
//! wrong: symbolic links planted by another user in a world-writable directory are never
//! followed; an output that cannot be written is refused before the command starts; a
//! full disk never leaves a half-written output and always says where the recording is;
//! a disk that fills while recording ends the command; SIGTERM or SIGINT sent to
//! framescope alone is passed on to the command, which gets SIGKILL after a grace period,
//! and the output is written.
//!
//! These are about files and processes, not interpreters: each runs one CPython of the
//! matrix (pyenv 3.12 when present). They need root (tmpfs mounts, `runuser`).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{among_others, Python};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_framescope"))
}

/// One interpreter of the host (not a chroot): pyenv 3.12 when there.
fn host_python() -> Python {
    let all: Vec<Python> = common::matrix()
        .into_iter()
        .filter(|p| !p.in_chroot())
        .collect();
    all.iter()
        .find(|p| p.name == "pyenv-3.12")
        .or_else(|| all.first())
        .cloned()
        .expect("a host interpreter")
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under /tmp, removed (after unmounting what was mounted in it) on drop.
struct Scratch {
    dir: PathBuf,
    mounts: Vec<PathBuf>,
}

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir = PathBuf::from(format!(
            "/tmp/framescope-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch {
            dir,
            mounts: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A tmpfs of `kib` KiB at `name`.
    fn tmpfs(&mut self, name: &str, kib: u32) -> PathBuf {
        let at = self.path(name);
        std::fs::create_dir_all(&at).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&at)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount a tmpfs (needs root)");
        self.mounts.push(at.clone());
        at
    }

    /// A Python script written here.
    fn script(&self, name: &str, source: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, source).expect("write script");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for m in &self.mounts {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills a process by pid when dropped, if it still runs (a command framescope should
/// have ended; the test fails on its own if it did not).
struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            if alive(pid) {
                // SAFETY: kill takes plain integers; at worst the process is already gone.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// The process exists and is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, r)| r.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

/// Waits for `path` to hold a pid (written by a script), up to 20 s.
fn read_pid(path: &Path) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no pid in {path:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for framescope, whose stderr goes to `stderr` (a file: a command it left
/// running would hold a pipe open), up to `timeout`.
fn wait_with_timeout(child: &mut std::process::Child, stderr: &Path, timeout: Duration) -> Output {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("framescope did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: Vec::new(),
        stderr: std::fs::read(stderr).unwrap_or_default(),
    }
}

/// A file for a background framescope's stderr.
fn stderr_file(path: &Path) -> std::fs::File {
    std::fs::File::create(path).expect("stderr file")
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The SVG parses as XML and has a frame whose title starts with `function`.
fn assert_flamegraph_has(path: &Path, function: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&text, options)
        .unwrap_or_else(|e| panic!("{path:?} is not XML: {e}"));
    assert!(
        doc.descendants()
            .filter(|n| n.has_tag_name("title"))
            .filter_map(|n| n.text())
            .any(|t| t.starts_with(function)),
        "{path:?} has no frame {function}"
    );
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A program that writes its pid to argv[1] and spins (in `spin`) until killed; with
/// `ignore-term` as argv[2] it ignores SIGTERM.
const LOOP: &str = r#"
import os, signal, sys, time
if len(sys.argv) > 2 and sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
def spin():
    t = 0
    for i in range(20000):
        t += i
    return t
while True:
    spin()
    time.sleep(0.001)
"#;

/// Another user plants links, named as framescope would name its files, to a file only
/// root may read or write, in a sticky world-writable directory (fs.protected_symlinks
/// is 0 on this machine, so only framescope stands between them and the file). framescope,
/// run as root there, must never write through them.
#[test]
fn links_planted_by_another_user_never_lead_to_a_root_only_file() {
    let _cpu = among_others();
    let py = host_python();
    let scratch = Scratch::new("planted");
    let shared = scratch.path("shared");
    std::fs::create_dir(&shared).expect("shared");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let vault = scratch.path("vault");
    std::fs::create_dir(&vault).expect("vault");
    std::fs::set_permissions(&vault, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let secret = vault.join("secret");
    std::fs::write(&secret, "root only\n").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let script = scratch.script("loop.py", LOOP);
    let pid_file = scratch.path("target.pid");
    let mut target = Command::new(&py.python)
        .arg(&script)
        .arg(&pid_file)
        .stdin(Stdio::null())
        .spawn()
        .expect("target starts");
    let _target_guard = KillOnDrop(Some(target.id() as i32));
    let pid = read_pid(&pid_file);
    std::thread::sleep(Duration::from_millis(200));

    // The attacker's guesses: the default recording name of this pid for the next two
    // minutes, the hidden recording behind `-o out.svg` for the next 3000 pids (it used
    // framescope's own pid), and the names a user would give.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let last_pid: u64 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let plant = format!(
        "import os\n\
         os.chdir({shared:?})\n\
         s = {secret:?}\n\
         for t in range({from_t}, {to_t}):\n    os.symlink(s, 'framescope-{pid}-%d.fsr' % t)\n\
         for p in range({last_pid}, {last_pid} + 3000):\n    os.symlink(s, '.out.svg.%d.fsr' % p)\n\
         for n in ['named.fsr', 'named.svg', 'report.txt']:\n    os.symlink(s, n)\n",
        shared = shared.to_string_lossy(),
        secret = secret.to_string_lossy(),
        from_t = now - 2,
        to_t = now + 120,
    );
    // (The system's Python: nobody cannot reach pyenv's under /root.)
    let planted = Command::new("runuser")
        .args(["-u", "nobody", "--", "/usr/bin/python3"])
        .args(["-c", &plant])
        .status()
        .expect("runuser runs");
    assert!(planted.success(), "planting links as nobody");
    let planted_links = listing(&shared);
    let link_owner = std::fs::symlink_metadata(shared.join("named.fsr"))
        .expect("planted")
        .uid();
    assert_ne!(link_owner, 0, "the links belong to another user");

    let record = |args: &[&str]| -> Output {
        bin()
            .args(["record", "--pid", &pid.to_string(), "--duration", "0.5"])
            .args(args)
            .current_dir(&shared)
            .stdin(Stdio::null())
            .output()
            .expect("framescope runs")
    };
    let unchanged = || {
        assert!(
            std::fs::read(&secret).expect("secret") == b"root only\n",
            "the root-only file was overwritten through a planted link"
        );
    };

    // The default name: taken (by a link), so framescope picks another.
    let out = record(&[]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    unchanged();
    let wrote = stderr
        .rsplit_once("; wrote ")
        .map(|(_, w)| w.lines().next().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no 'wrote': {stderr}"));
    assert!(
        wrote.starts_with(&format!("framescope-{pid}-")) && wrote.ends_with(".fsr"),
        "{wrote}"
    );
    let written = std::fs::symlink_metadata(shared.join(&wrote)).expect("written");
    assert!(
        written.is_file() && written.uid() == 0,
        "{wrote}: a new file"
    );

    // A flamegraph: its hidden recording is never one of the guessed names.
    let out = record(&["-o", "out.svg"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    unchanged();
    assert_flamegraph_has(&shared.join("out.svg"), "spin");

    // A path the user names that is such a link is refused, before sampling.
    for named in ["named.fsr", "named.svg"] {
        let out = record(&["-o", named]);
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(10), "{named}: {stderr}");
        assert!(stderr.contains("symbolic link"), "{named}: {stderr}");
        unchanged();
    }
    let recording = shared.join(&wrote).to_string_lossy().into_owned();
    let out = bin()
        .args(["report", &recording, "-o", "report.txt"])
        .current_dir(&shared)
        .output()
        .expect("report runs");
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    unchanged();

    // Nothing else appeared, and every planted link is still a link.
    let mut expected = planted_links.clone();
    expected.extend([wrote.clone(), "out.svg".to_string()]);
    expected.sort();
    assert_eq!(listing(&shared), expected);
    for name in &planted_links {
        assert!(
            std::fs::symlink_metadata(shared.join(name))
                .expect("still there")
                .file_type()
                .is_symlink(),
            "{name}"
        );
    }

    // A link the user made (the same owner) is followed, as named.
    let mine = scratch.path("mine-target.svg");
    std::os::unix::fs::symlink(&mine, shared.join("mine.svg")).expect("own link");
    std::fs::write(&mine, "old").expect("old");
    let out = record(&["-o", "mine.svg"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_flamegraph_has(&mine, "spin");
    unchanged();
    let _ = target.kill();
    let _ = target.wait();
}

/// `-o X.svg` where X.svg is a directory (or in a directory that does not exist) is an
/// error at once: the command never starts. `report` and `diff` check their outputs
/// before reading their inputs too.
#[test]
fn an_output_that_cannot_be_written_is_refused_before_the_command_starts() {
    let py = host_python();
    let scratch = Scratch::new("unwritable");
    let marker = scratch.path("started");
    let program = format!("open({:?}, 'w').write('ran')", marker.to_string_lossy());
    for (output, why) in [
        (scratch.path("out.svg"), "is a directory"),
        (scratch.path("missing/out.svg"), "missing"),
        (scratch.path("rec.fsr"), "is a directory"),
    ] {
        if why == "is a directory" {
            std::fs::create_dir_all(&output).expect("dir");
        }
        let start = Instant::now();
        let out = bin()
            .args(["record", "-o"])
            .arg(&output)
            .args(["--", &py.python, "-c", &program])
            .stdin(Stdio::null())
            .output()
            .expect("framescope runs");
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(10), "{output:?}: {stderr}");
        assert!(
            stderr.contains(why) && stderr.contains("cannot write"),
            "{output:?}: {stderr}"
        );
        assert!(!marker.exists(), "{output:?}: the command ran");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
    let out = bin()
        .args(["report", "/nonexistent.fsr", "-o"])
        .arg(scratch.path("out.svg"))
        .output()
        .expect("report runs");
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    let out = bin()
        .args([
            "diff",
            "/nonexistent-a.fsr",
            "/nonexistent-b.fsr",
            "--flamegraph",
        ])
        .arg(scratch.path("out.svg"))
        .output()
        .expect("diff runs");
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
    // No hidden files were left behind.
    assert_eq!(listing(&scratch.dir), ["out.svg", "rec.fsr"]);
}

/// A disk with room for the recording but not for the flamegraph: exit 10, the old
/// out.svg untouched (never a truncated one), and the recording kept where framescope
/// says, readable.
#[test]
fn a_full_disk_leaves_no_half_written_output_and_says_where_the_recording_is() {
    let _cpu = among_others();
    let py = host_python();
    let mut scratch = Scratch::new("fulldisk");
    let disk = scratch.tmpfs("disk", 256);
    let program = scratch.script(
        "short.py",
        "import time\n\
         def spin():\n    t = 0\n    for i in range(20000):\n        t += i\n    return t\n\
         end = time.time() + 1.5\n\
         while time.time() < end:\n    spin()\n",
    );
    // Leave 12 KiB: a short recording at 200 Hz fits, a flamegraph (~19 KiB) does not.
    let free = |p: &Path| {
        let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).expect("path");
        // SAFETY: statvfs is all integers, so all zeroes is a valid value.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is NUL-terminated and `st` is ours to fill.
        let ok = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
        assert_eq!(ok, 0);
        st.f_bavail as u64 * st.f_frsize as u64
    };
    let filler = vec![b'x'; (free(&disk) - 12 * 1024) as usize];
    std::fs::write(disk.join("filler"), filler).expect("filler");
    let svg = disk.join("out.svg");
    std::fs::write(&svg, "old").expect("old output");

    let out = bin()
        .args(["record", "--rate", "200", "-o"])
        .arg(&svg)
        .args(["--", &py.python])
        .arg(&program)
        .stdin(Stdio::null())
        .output()
        .expect("framescope runs");
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(stderr.contains("No space left"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&svg).expect("out.svg"),
        "old",
        "out.svg must stay as it was"
    );
    let kept = stderr
        .split("the recording is kept in ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or_else(|| panic!("where is the recording? {stderr}"));
    let kept = PathBuf::from(kept);
    let report = bin()
        .arg("report")
        .arg(&kept)
        .output()
        .expect("report runs");
    assert!(report.status.success(), "{}", stderr_of(&report));
    assert!(
        String::from_utf8_lossy(&report.stdout).contains("spin"),
        "the kept recording has the samples"
    );
    let kept_name = kept
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut expected = vec![kept_name, "filler".to_string(), "out.svg".to_string()];
    expected.sort();
    assert_eq!(listing(&disk), expected, "nothing else left on the disk");
}

/// A disk that fills while recording a command: framescope exits 10 and ends the command
/// (SIGTERM, then SIGKILL), saying so, instead of leaving it running without a parent.
#[test]
fn a_disk_that_fills_while_recording_ends_the_command() {
    let _cpu = among_others();
    let py = host_python();
    let mut scratch = Scratch::new("filling");
    let disk = scratch.tmpfs("disk", 64);
    // Ever new functions with 2 KB names: each adds its name to the recording.
    let program = scratch.script(
        "fill.py",
        "import itertools, os, sys\n\
         open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid()))\n\
         os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n\
         ns = {}\n\
         exec('def f():\\n    t = 0\\n    for i in range(100000):\\n        t += i\\n    return t\\n', ns)\n\
         code = ns['f'].__code__\n\
         for i in itertools.count():\n    \
             name = 'f_%d_%s' % (i, 'x' * 2000)\n    \
             named = code.replace(co_name=name)\n    \
             if hasattr(named, 'co_qualname'):\n        named = named.replace(co_qualname=name)\n    \
             type(ns['f'])(named, ns, name)()\n",
    );
    let pid_file = scratch.path("command.pid");
    let recording = disk.join("run.fsr");
    let log = scratch.path("stderr.txt");
    let mut fs = bin()
        .args(["record", "-o"])
        .arg(&recording)
        .args(["--", &py.python])
        .arg(&program)
        .arg(&pid_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file(&log))
        .spawn()
        .expect("framescope starts");
    let command = read_pid(&pid_file);
    let _guard = KillOnDrop(Some(command));
    let out = wait_with_timeout(&mut fs, &log, Duration::from_secs(60));
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(stderr.contains("No space left"), "{stderr}");
    assert!(
        stderr.contains(&format!("ending the command (pid {command})")),
        "{stderr}"
    );
    assert!(!alive(command), "the command runs on after framescope left");
    let report = bin()
        .arg("report")
        .arg(&recording)
        .output()
        .expect("report runs");
    assert!(report.status.success(), "{}", stderr_of(&report));
    assert!(stderr_of(&report).contains("cut off"));
}

/// SIGTERM or SIGINT sent to framescope alone (not to the command) while it records a
/// command: passed on to the command, SIGKILL after the grace period if it does not
/// end, the output written, framescope gone promptly with the command's status.
#[test]
fn a_signal_to_framescope_alone_is_passed_on_and_the_output_written() {
    let _cpu = among_others();
    let py = host_python();
    let scratch = Scratch::new("signals");
    let script = scratch.script("loop.py", LOOP);
    // (signal, the command ignores SIGTERM, output, framescope's exit status, at most
    // this long after the signal)
    let cases = [
        (libc::SIGTERM, false, "term.svg", 128 + libc::SIGTERM, 3.0),
        (
            libc::SIGTERM,
            true,
            "ignored.speedscope.json",
            128 + libc::SIGKILL,
            5.0,
        ),
        (libc::SIGINT, false, "int.txt", 128 + libc::SIGINT, 3.0),
    ];
    for (signal, ignore, output, status, within) in cases {
        let pid_file = scratch.path(&format!("{output}.pid"));
        let out_path = scratch.path(output);
        let log = scratch.path(&format!("{output}.stderr"));
        let mut fs = bin()
            .args(["record", "-o"])
            .arg(&out_path)
            .args(["--", &py.python])
            .arg(&script)
            .arg(&pid_file)
            .args(if ignore { &["ignore-term"][..] } else { &[] })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr_file(&log))
            .spawn()
            .expect("framescope starts");
        let command = read_pid(&pid_file);
        let _guard = KillOnDrop(Some(command));
        std::thread::sleep(Duration::from_millis(1000));
        // SAFETY: kill takes plain integers; at worst the process is already gone.
        unsafe { libc::kill(fs.id() as i32, signal) };
        let sent = Instant::now();
        let out = wait_with_timeout(&mut fs, &log, Duration::from_secs(20));
        let took = sent.elapsed().as_secs_f64();
        let stderr = stderr_of(&out);
        assert!(
            took < within,
            "{output}: framescope took {took:.1} s: {stderr}"
        );
        assert_eq!(out.status.code(), Some(status), "{output}: {stderr}");
        assert!(stderr.contains("passing it on"), "{output}: {stderr}");
        if ignore {
            assert!(stderr.contains("sent SIGKILL"), "{output}: {stderr}");
        }
        assert!(!alive(command), "{output}: the command runs on");
        let text = std::fs::read_to_string(&out_path).expect("output written");
        match output {
            o if o.ends_with(".svg") => assert_flamegraph_has(&out_path, "spin"),
            o if o.ends_with(".json") => {
                let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                assert!(json["shared"]["frames"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f["name"].as_str() == Some("spin"))));
            }
            _ => assert!(text.lines().any(|l| l.contains("spin")), "{text}"),
        }
    }
}
