//! `framescope dump --locals` against real interpreters of the whole matrix: a frame's
//! arguments and locals of every kind, with their exact reprs and argument flags, in JSON
//! and text (tests/scenarios/locals.py); and locals built to hang or flood a reader
//! (tests/scenarios/locals_hostile.py) answered in bounded time, blocking or not.

mod common;

use std::time::{Duration, Instant};

use common::{for_each_python, framescope, spawn, Python};
use serde_json::Value;

/// (name, repr, argument) as the dump shows them, addresses replaced by `ADDR`.
type Vars = Vec<(String, String, bool)>;

fn vars(list: &[(&str, &str, bool)]) -> Vars {
    list.iter()
        .map(|(n, r, a)| (n.to_string(), r.to_string(), *a))
        .collect()
}

/// `<Custom at 0x7f…>` → `<Custom at ADDR>`, so the rest of the repr is compared exactly.
fn without_address(repr: &str) -> String {
    match repr.split_once(" at 0x") {
        Some((head, tail)) if tail.ends_with('>') => {
            let hex = &tail[..tail.len() - 1];
            assert!(
                !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
                "{repr}"
            );
            format!("{head} at ADDR>")
        }
        _ => repr.to_string(),
    }
}

fn expected_show(py: &Python) -> Vars {
    let mut expected = vars(&[
        ("name", "'hello'", true),
        ("count", "42", true),
        ("ratio", "3.5", true),
        ("nothing", "None", true),
        ("flag", "True", true),
        ("items", "[1, 2]", true),
        ("pair", "(1, 'two')", true),
        ("mapping", "{'a': 1, 'b': <list of 1>}", true),
        ("big", "1267650600228229401496703205376", true),
        ("text", "'ünïcödé'", true),
        ("option", "-7", true),
        ("rest", "('extra-positional',)", true),
        ("extra", "{'more': 0.25}", true),
        ("local_str", "'hello'", false),
        ("negative", "-12345678901234567890123", false),
        ("zero", "0", false),
        ("small", "-5", false),
        ("falsy", "False", false),
        (
            "nested",
            "[1, 2.5, 'x', None, <list of 3>, <tuple of 1>, <dict of 1>]",
            false,
        ),
        ("empty", "()", false),
        ("one", "(1,)", false),
        ("blob", "b\"ab\\x00\\xff'\"", false),
        ("quoted", "\"it's\\n\"", false),
        ("wide", "'名前 😀'", false),
        ("latin", "'café'", false),
        (
            "long_text",
            &format!("'{}'… (truncated, 5000 chars)", "a".repeat(200)),
            false,
        ),
        ("many", "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]", false),
        ("custom", "<Custom at ADDR>", false),
        ("evil", "<evil\u{1b}[2J at ADDR>", false),
        ("subclassed", "<MyInt at ADDR>", false),
        ("huge_float", "1e+300", false),
        ("tiny", "1e-05", false),
        ("whole", "2.0", false),
        ("wait", "<function at ADDR>", false),
        ("closure_var", "'captured'", false),
    ]);
    // 3.12+ runs the list comprehension inside show()'s own frame (before, in a frame of
    // its own): its variable is show's while it runs, as show's `locals()` says too.
    if py.minor() >= 12 {
        expected.push(("_".into(), "1".into(), false));
    }
    expected
}

fn expected_wait() -> Vars {
    vars(&[
        ("waiting", "'captured42'", false),
        ("closure_var", "'captured'", false),
        ("count", "42", false),
    ])
}

/// The frames of the scenario's main thread (innermost first), by bare function name.
fn frame<'a>(dump: &'a Value, name: &str) -> &'a Value {
    let threads = dump["threads"].as_array().expect("threads");
    threads
        .iter()
        .flat_map(|t| t["frames"].as_array().into_iter().flatten())
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no frame {name} in {dump}"))
}

/// Arguments in their order, then the other variables sorted by name: their slot order
/// is the compiler's (cells after plain locals, and which variables are cells differs
/// between versions: a 3.12+ comprehension is inlined, an older one is a closure).
fn canonical(mut vars: Vars) -> Vars {
    let first_local = vars.iter().position(|v| !v.2).unwrap_or(vars.len());
    assert!(
        vars[first_local..].iter().all(|v| !v.2),
        "arguments come first: {vars:?}"
    );
    vars[first_local..].sort();
    vars
}

fn locals_of(frame: &Value) -> Vars {
    assert!(frame["locals_error"].is_null(), "{}", frame["locals_error"]);
    frame["locals"]
        .as_array()
        .unwrap_or_else(|| panic!("no locals in {frame}"))
        .iter()
        .map(|v| {
            (
                v["name"].as_str().expect("name").to_string(),
                without_address(v["repr"].as_str().expect("repr")),
                v["argument"].as_bool().expect("argument"),
            )
        })
        .collect()
}

fn dump(pid: u32, args: &[&str]) -> String {
    let pid = pid.to_string();
    let mut argv = vec!["dump", "--pid", &pid];
    argv.extend_from_slice(args);
    let out = framescope(&argv);
    assert!(
        out.status.success(),
        "dump {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn check_every_kind(py: &Python) {
    let mut target = spawn(py, "locals.py", &[]);
    target.wait_ready();
    for mode in [
        &["--locals", "--json"][..],
        &["--locals", "--json", "--nonblocking"],
    ] {
        let json: Value = serde_json::from_str(&dump(target.pid, mode)).expect("JSON");
        assert_eq!(
            canonical(locals_of(frame(&json, "show"))),
            canonical(expected_show(py)),
            "{mode:?}"
        );
        assert_eq!(
            canonical(locals_of(frame(&json, "wait"))),
            canonical(expected_wait()),
            "{mode:?}"
        );
        // The module's frame keeps its variables in a dict, not in slots.
        assert_eq!(locals_of(frame(&json, "<module>")), vec![], "{mode:?}");
    }

    // Text: arguments and locals under their headings, every repr escaped.
    let text = dump(target.pid, &["--locals"]);
    assert!(
        !text.contains('\u{1b}'),
        "a raw escape reached the terminal:\n{text}"
    );
    let show = text
        .split_once("show (")
        .map(|(_, rest)| rest)
        .expect("the show frame");
    let lines: Vec<&str> = show.lines().skip(1).take(4).collect();
    assert_eq!(
        lines,
        [
            "        Arguments:",
            "            name = 'hello'",
            "            count = 42",
            "            ratio = 3.5"
        ],
        "{text}"
    );
    for line in [
        "        Locals:\n            local_str = 'hello'\n",
        "            evil = <evil\\x1b[2J at 0x",
        "            quoted = \"it's\\n\"\n",
        "            extra = {'more': 0.25}\n        Locals:",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }

    // Never without asking.
    let plain = dump(target.pid, &["--json"]);
    assert!(!plain.contains("\"locals\""), "{plain}");
    assert!(!dump(target.pid, &[]).contains("Arguments:"));
}

#[test]
fn locals_of_every_kind_with_exact_reprs_on_every_interpreter() {
    let _cpu = common::among_others();
    for_each_python(check_every_kind);
}

fn check_hostile(py: &Python) {
    let mut target = spawn(py, "locals_hostile.py", &[]);
    target.wait_ready();
    for mode in [
        &["--locals", "--json"][..],
        &["--locals", "--json", "--nonblocking"],
    ] {
        let start = Instant::now();
        let json: Value = serde_json::from_str(&dump(target.pid, mode)).expect("JSON");
        let took = start.elapsed();
        // A walk of the million items or the 10 MB would take far longer than this on a
        // loaded machine too; a bounded read takes milliseconds.
        assert!(took < Duration::from_secs(10), "{mode:?} took {took:?}");
        let vars = locals_of(frame(&json, "hostile"));
        let get = |name: &str| {
            vars.iter()
                .find(|v| v.0 == name)
                .unwrap_or_else(|| panic!("no {name} in {vars:?}"))
                .clone()
        };
        assert_eq!(
            get("huge").1,
            format!("'{}'… (truncated, 10000000 chars)", "x".repeat(200))
        );
        assert_eq!(get("million").1, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]");
        assert_eq!(get("big_dict").1, "<dict of 1000000>");
        assert_eq!(get("loop").1, "[<list of 1>]");
        assert!(get("shared").2, "the mutated dict is an argument");
        // The dict another thread keeps changing: a dict repr; read while it runs
        // (nonblocking), also unreadable when torn, or named by its size when its table
        // was being rebuilt under the read; never a failed dump.
        let shared = get("shared").1;
        let running = mode.contains(&"--nonblocking");
        assert!(
            shared.starts_with('{')
                || (running && (shared == "<unreadable>" || shared.starts_with("<dict of "))),
            "{mode:?}: {shared}"
        );
        let json_text = serde_json::to_string(&json).unwrap_or_default();
        assert!(
            json_text.len() < 64 * 1024,
            "{} bytes of JSON",
            json_text.len()
        );
    }
}

#[test]
fn hostile_locals_are_read_in_bounded_time_and_size() {
    let _cpu = common::among_others();
    for_each_python(check_hostile);
}
