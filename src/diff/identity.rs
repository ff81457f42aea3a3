//! Which functions of different runs are the same function. A function is its qualified
//! name and its file; line numbers are ignored (an edit above a function moves it). Files
//! are compared by their trailing path components, as few as tell apart the files one run
//! holds: the same script run from two checkouts (`/ci/base/app.py`, `/ci/head/app.py`), the
//! standard library of two CPython versions (`…/python3.11/json/decoder.py`,
//! `…/python3.13/json/decoder.py`) and py-spy's shortened names (`json/decoder.py`) all
//! match, while two files of one run never merge (`pkg_a/__init__.py`, `pkg_b/__init__.py`).
//! Not for reading inputs or adding up time.

use std::collections::BTreeMap;

use super::input::{FunctionName, Run};

/// A function matched across runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Function {
    pub qualname: String,
    /// The file as the first run naming it (head runs first) spells it.
    pub file: String,
    /// The `def` line in that run, when known.
    pub line: Option<u32>,
}

/// The functions of all runs, and per run the function each of its own functions is.
#[derive(Clone, Debug)]
pub struct Identities {
    pub functions: Vec<Function>,
    /// Per run (in the order given), per function of that run: an index into `functions`.
    pub of_run: Vec<Vec<u32>>,
}

/// The components of a path, last first (`/` and `\` both separate).
fn components_reversed(file: &str) -> Vec<&str> {
    file.rsplit(['/', '\\']).filter(|c| !c.is_empty()).collect()
}

/// The last `k` components of a path, joined with `/`.
fn suffix(file: &str, k: usize) -> String {
    let mut parts = components_reversed(file);
    parts.truncate(k);
    parts.reverse();
    parts.join("/")
}

/// Matches the functions of `runs`. `display_order` lists run indexes in the order whose
/// spelling of a file and line wins (head runs first, so labels read like the new code).
pub fn match_functions(runs: &[&Run], display_order: &[usize]) -> Identities {
    // Group the distinct (qualname, file) pairs by qualname and file name.
    type Group = BTreeMap<String, Vec<usize>>; // full file -> runs naming it
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for (r, run) in runs.iter().enumerate() {
        for f in &run.functions {
            let basename = suffix(&f.file, 1);
            let runs_of_file = groups
                .entry((f.qualname.clone(), basename))
                .or_default()
                .entry(f.file.clone())
                .or_default();
            if runs_of_file.last() != Some(&r) {
                runs_of_file.push(r);
            }
        }
    }

    // Per group: how many trailing components tell its files apart within every run.
    // Key of a function: (qualname, that many trailing components of its file).
    let mut key_of: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for ((qualname, _), files) in &groups {
        let depth = distinguishing_depth(files, runs.len());
        for file in files.keys() {
            let key = (qualname.clone(), suffix(file, depth));
            key_of.insert((qualname.clone(), file.clone()), key);
        }
    }

    // Number the keys, spelled by the first run in display order that names them.
    let mut index: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut functions: Vec<Function> = Vec::new();
    let mut of_run: Vec<Vec<u32>> = runs.iter().map(|r| vec![0; r.functions.len()]).collect();
    let order = display_order
        .iter()
        .copied()
        .chain(0..runs.len())
        .filter(|&r| r < runs.len());
    let mut done = vec![false; runs.len()];
    for r in order {
        if std::mem::replace(&mut done[r], true) {
            continue;
        }
        for (i, f) in runs[r].functions.iter().enumerate() {
            let key = key_of
                .get(&(f.qualname.clone(), f.file.clone()))
                .cloned()
                .unwrap_or_else(|| (f.qualname.clone(), f.file.clone()));
            let id = *index.entry(key).or_insert_with(|| {
                functions.push(display(f));
                (functions.len() - 1) as u32
            });
            of_run[r][i] = id;
        }
    }
    Identities { functions, of_run }
}

fn display(f: &FunctionName) -> Function {
    Function {
        qualname: f.qualname.clone(),
        file: f.file.clone(),
        line: f.line,
    }
}

/// The fewest trailing path components that keep apart the files any one run holds in
/// this group (1 when no run holds two of them).
fn distinguishing_depth(files: &BTreeMap<String, Vec<usize>>, runs: usize) -> usize {
    let mut per_run: Vec<Vec<&str>> = vec![Vec::new(); runs];
    for (file, in_runs) in files {
        for &r in in_runs {
            per_run[r].push(file);
        }
    }
    let deepest = files
        .keys()
        .map(|f| components_reversed(f).len())
        .max()
        .unwrap_or(1)
        .max(1);
    (1..=deepest)
        .find(|&k| {
            per_run.iter().all(|files| {
                let mut suffixes: Vec<String> = files.iter().map(|f| suffix(f, k)).collect();
                suffixes.sort();
                suffixes.windows(2).all(|w| w[0] != w[1])
            })
        })
        .unwrap_or(deepest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::input::InputKind;

    fn run(functions: &[(&str, &str)]) -> Run {
        Run {
            path: "x".into(),
            kind: InputKind::Collapsed,
            command: None,
            python_version: None,
            functions: functions
                .iter()
                .map(|&(q, f)| FunctionName {
                    qualname: q.into(),
                    file: f.into(),
                    line: None,
                })
                .collect(),
            stacks: vec![],
            weights: vec![],
            windows: None,
            clock: crate::report::profile::Clock::Wall,
            samples: 0,
            seconds: 0.0,
        }
    }

    #[test]
    fn checkouts_versions_and_short_names_match() {
        let base = run(&[
            ("fib", "/ci/base/app.py"),
            ("JSONDecoder.decode", "/usr/lib/python3.11/json/decoder.py"),
        ]);
        let head = run(&[
            ("fib", "/ci/head/app.py"),
            (
                "JSONDecoder.decode",
                "/opt/py/lib/python3.13/json/decoder.py",
            ),
        ]);
        let spy = run(&[("fib", "app.py"), ("JSONDecoder.decode", "json/decoder.py")]);
        let ids = match_functions(&[&base, &head, &spy], &[1]);
        assert_eq!(ids.functions.len(), 2);
        assert_eq!(ids.of_run, [vec![0, 1], vec![0, 1], vec![0, 1]]);
        // Spelled as the head spells them.
        assert_eq!(ids.functions[0].file, "/ci/head/app.py");
    }

    #[test]
    fn files_of_one_run_never_merge() {
        let a = run(&[
            ("<module>", "/a/pkg_a/__init__.py"),
            ("<module>", "/a/pkg_b/__init__.py"),
        ]);
        let b = run(&[
            ("<module>", "/b/pkg_b/__init__.py"),
            ("<module>", "/b/pkg_a/__init__.py"),
        ]);
        let ids = match_functions(&[&a, &b], &[0]);
        assert_eq!(ids.functions.len(), 2);
        assert_eq!(ids.of_run[0], [0, 1]);
        assert_eq!(ids.of_run[1], [1, 0]);
    }

    #[test]
    fn different_names_stay_apart() {
        let a = run(&[
            ("fib", "app.py"),
            ("fib", "other.py"),
            ("fibonacci", "app.py"),
        ]);
        let ids = match_functions(&[&a], &[0]);
        assert_eq!(ids.functions.len(), 3);
    }
}
