//! `pip install framescope`: maturin (from the venv scripts/provision makes) builds the
//! wheel from pyproject.toml in the test's own target directory, so the release build
//! `cargo test --release` just made is reused; the wheel is installed into a fresh venv
//! without the network, and the installed `framescope` profiles a real program.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{among_others, matrix, table_rows, ScenarioDir};

fn tools_venv() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    cache.join("framescope/pytools")
}

fn ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_wheel_installs_with_pip_and_its_binary_profiles_a_program() {
    let _cpu = among_others();
    let maturin = tools_venv().join("bin/maturin");
    assert!(
        maturin.exists(),
        "{} is missing; run scripts/provision",
        maturin.display()
    );
    // The binary under test lives in <target>/<profile>/framescope: build there.
    let bin = Path::new(env!("CARGO_BIN_EXE_framescope"));
    let target_dir = bin
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wheel");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    let wheels = work.join("wheels");
    let started = Instant::now();
    ok(
        Command::new(&maturin)
            .args(["build", "--release", "--quiet", "--out"])
            .arg(&wheels)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO_TARGET_DIR", target_dir),
        "maturin build",
    );
    eprintln!(
        "maturin build --release: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let wheel = std::fs::read_dir(&wheels)
        .expect("wheels dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a .whl built");
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("framescope-{}-", env!("CARGO_PKG_VERSION"))),
        "{name}"
    );

    // A fresh venv of an interpreter of the matrix; no index: the wheel alone.
    let py = matrix()
        .into_iter()
        .find(|p| p.name == "pyenv-3.11")
        .expect("pyenv-3.11; run scripts/provision");
    let venv = work.join("venv");
    ok(
        Command::new(&py.python).args(["-m", "venv"]).arg(&venv),
        "python -m venv",
    );
    ok(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--no-index"])
            .arg(&wheel),
        "pip install the wheel",
    );
    let installed = venv.join("bin/framescope");
    assert!(installed.exists(), "pip put no framescope in the venv");
    assert_ne!(
        std::fs::canonicalize(&installed).ok(),
        std::fs::canonicalize(bin).ok()
    );

    // The installed binary profiles a real program: inner is the hottest function.
    let dir = ScenarioDir::new(&py);
    let table = dir.host.join("table.txt");
    let mut record = Command::new(&installed);
    record
        .args(["record", "-q", "--format", "table", "-o"])
        .arg(&table)
        .arg("--")
        .args(dir.argv(&py, "pstats_target.py", &["1.0"]));
    ok(&mut record, "the installed framescope record");
    let text = std::fs::read_to_string(&table).expect("the table");
    let rows = table_rows(&text);
    let hottest = rows
        .iter()
        .max_by_key(|(_, r)| r.0)
        .map(|(name, _)| name.as_str());
    assert_eq!(hottest, Some("inner"), "{text}");
    assert!(
        text.contains(&format!("{}/pstats_target.py:8)", dir.inner)),
        "inner's def line: {text}"
    );
}
