//! The few git operations `compare` needs, each one `git` process with a one-line error:
//! find the repository, resolve a ref to a commit, add and remove a detached worktree,
//! and the line ranges the diff between two commits touches. Never writes the user's
//! working tree or index (worktrees only add administrative files under `.git/worktrees`).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};

/// The repository `compare` works in.
#[derive(Clone, Debug)]
pub struct Repo {
    /// The top-level directory of its working tree.
    pub top: PathBuf,
    /// Where the command runs, relative to the top (the directory `compare` was started
    /// in, or `-C DIR`); empty at the top.
    pub prefix: String,
}

/// Runs `git -C dir ARGS`, its output captured.
fn git<I, S>(dir: &Path, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Git("compare needs git, and there is no `git` on PATH; install git".into())
            } else {
                Error::Git(format!("could not run git: {e}"))
            }
        })
}

/// The first line of git's complaint.
fn complaint(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message");
    line.trim().trim_start_matches("fatal: ").to_string()
}

impl Repo {
    /// The repository `dir` is in.
    pub fn find(dir: &Path) -> Result<Repo> {
        if !dir.is_dir() {
            return Err(Error::Git(format!("{}: no such directory", dir.display())));
        }
        let out = git(dir, ["rev-parse", "--show-toplevel", "--show-prefix"])?;
        if !out.status.success() {
            return Err(Error::Git(format!(
                "{} is not in a git repository ({}); run compare inside one, or give -C DIR",
                dir.display(),
                complaint(&out)
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let top = lines.next().unwrap_or("").trim_end();
        if top.is_empty() {
            return Err(Error::Git(format!(
                "{} is in a git repository without a working tree (bare?); compare needs one",
                dir.display()
            )));
        }
        let prefix = lines.next().unwrap_or("").trim_end_matches('/').to_string();
        Ok(Repo {
            top: PathBuf::from(top),
            prefix,
        })
    }

    /// The commit `reference` names.
    pub fn resolve(&self, reference: &str) -> Result<String> {
        if reference.starts_with('-') || reference.is_empty() {
            return Err(Error::Git(format!("`{reference}` is not a git ref")));
        }
        let out = git(
            &self.top,
            [
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{reference}^{{commit}}"),
            ],
        )?;
        let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || sha.is_empty() {
            return Err(Error::Git(format!(
                "unknown git ref `{reference}` in {}: no branch, tag or commit of that name",
                self.top.display()
            )));
        }
        Ok(sha)
    }

    /// Checks `commit` out, detached, into the new directory `path`.
    pub fn add_worktree(&self, path: &Path, commit: &str) -> Result<()> {
        let out = git(
            &self.top,
            [
                OsStr::new("worktree"),
                OsStr::new("add"),
                OsStr::new("--detach"),
                OsStr::new("--quiet"),
                path.as_os_str(),
                OsStr::new(commit),
            ],
        )?;
        if !out.status.success() {
            return Err(Error::Git(format!(
                "could not check {commit} out into {}: {}",
                path.display(),
                complaint(&out)
            )));
        }
        Ok(())
    }

    /// Removes the worktree at `path` (whatever its state), then forgets removed ones.
    pub fn remove_worktree(&self, path: &Path) {
        let _ = git(
            &self.top,
            [
                OsStr::new("worktree"),
                OsStr::new("remove"),
                OsStr::new("--force"),
                OsStr::new("--force"),
                path.as_os_str(),
            ],
        );
    }

    /// Forgets worktrees whose directories are gone.
    pub fn prune_worktrees(&self) {
        let _ = git(&self.top, ["worktree", "prune"]);
    }

    /// The lines the change from `base` to `head` touches, per file on each side.
    pub fn changed_lines(&self, base: &str, head: &str) -> Result<ChangedLines> {
        let out = git(
            &self.top,
            [
                "-c",
                "core.quotePath=false",
                "diff",
                "--no-color",
                "--no-ext-diff",
                "--no-textconv",
                "-U0",
                "-M",
                "--src-prefix=a/",
                "--dst-prefix=b/",
                base,
                head,
                "--",
            ],
        )?;
        if !out.status.success() {
            return Err(Error::Git(format!(
                "could not diff {base} and {head}: {}",
                complaint(&out)
            )));
        }
        Ok(parse_diff(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// Inclusive line ranges, 1-based.
pub type Ranges = Vec<(u32, u32)>;

/// Per repository-relative path, the lines the change removed or replaced (base side, old
/// line numbers) and the lines it added or replaced (head side, new line numbers). A pure
/// deletion touches no head line, a pure insertion no base line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangedLines {
    pub base: HashMap<String, Ranges>,
    pub head: HashMap<String, Ranges>,
}

impl ChangedLines {
    /// Whether `file`'s lines `first..=last` on `side`'s ranges meet a change.
    pub fn touches(ranges: &HashMap<String, Ranges>, file: &str, first: u32, last: u32) -> bool {
        ranges
            .get(file)
            .is_some_and(|r| r.iter().any(|&(a, b)| a <= last && first <= b))
    }
}

/// Parses `git diff -U0` output.
pub fn parse_diff(text: &str) -> ChangedLines {
    let mut changed = ChangedLines::default();
    let (mut old, mut new): (Option<String>, Option<String>) = (None, None);
    // Between a `diff --git` line and its first hunk: where the file names are. A removed
    // line `-- x` shows as `--- x` inside a hunk, and is not one.
    let mut in_header = false;
    for line in text.lines() {
        if line.starts_with("diff --git ") {
            in_header = true;
        } else if let (true, Some(path)) = (in_header, line.strip_prefix("--- ")) {
            old = diff_path(path, "a/");
        } else if let (true, Some(path)) = (in_header, line.strip_prefix("+++ ")) {
            new = diff_path(path, "b/");
        } else if let Some(hunk) = line.strip_prefix("@@ -") {
            in_header = false;
            let Some((ranges, _)) = hunk.split_once(" @@") else {
                continue;
            };
            let mut parts = ranges.split(" +");
            let (Some(o), Some(n)) = (parts.next(), parts.next()) else {
                continue;
            };
            for (range, path, side) in [(o, &old, &mut changed.base), (n, &new, &mut changed.head)]
            {
                if let (Some((start, count)), Some(path)) = (hunk_range(range), path) {
                    if count > 0 {
                        side.entry(path.clone())
                            .or_default()
                            .push((start, start + count - 1));
                    }
                }
            }
        }
    }
    changed
}

/// `12,3` or `12` (one line) as (start, count).
fn hunk_range(text: &str) -> Option<(u32, u32)> {
    let (start, count) = match text.split_once(',') {
        Some((s, c)) => (s.parse().ok()?, c.parse().ok()?),
        None => (text.parse().ok()?, 1),
    };
    Some((start, count))
}

/// The path of a `---`/`+++` line: `None` for /dev/null.
fn diff_path(text: &str, prefix: &str) -> Option<String> {
    let text = text.trim_end_matches('\t');
    let unquoted = if text.starts_with('"') {
        unquote(text)?
    } else {
        text.to_string()
    };
    unquoted.strip_prefix(prefix).map(str::to_string)
}

/// Undoes git's C-style quoting of a path (`"a/t\303\244st\tx"`).
fn unquote(text: &str) -> Option<String> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.bytes();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        let e = chars.next()?;
        bytes.push(match e {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'v' => 11,
            b'0'..=b'7' => {
                let d2 = chars.next()?;
                let d3 = chars.next()?;
                let digits = [e, d2, d3];
                let text = std::str::from_utf8(&digits).ok()?;
                u8::from_str_radix(text, 8).ok()?
            }
            other => other,
        });
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_become_ranges_on_both_sides() {
        let diff = "\
diff --git a/app.py b/app.py
index 1..2 100644
--- a/app.py
+++ b/app.py
@@ -3 +3 @@ def f():
-    return 1
+    return 2
@@ -10,0 +11,2 @@ def g():
+    x = 1
+    y = 2
@@ -20,3 +21,0 @@
-a
-b
-c
diff --git a/old.py b/new.py
similarity index 90%
rename from old.py
rename to new.py
--- a/old.py
+++ b/new.py
@@ -1,2 +1,2 @@
diff --git a/gone.py b/gone.py
--- a/gone.py
+++ /dev/null
@@ -1,4 +0,0 @@
diff --git \"a/t\\303\\244st.py\" \"b/t\\303\\244st.py\"
--- \"a/t\\303\\244st.py\"
+++ \"b/t\\303\\244st.py\"
@@ -5 +5 @@
";
        let c = parse_diff(diff);
        assert_eq!(c.base["app.py"], [(3, 3), (20, 22)]);
        assert_eq!(c.head["app.py"], [(3, 3), (11, 12)]);
        assert_eq!(c.base["old.py"], [(1, 2)]);
        assert_eq!(c.head["new.py"], [(1, 2)]);
        assert_eq!(c.base["gone.py"], [(1, 4)]);
        assert!(!c.head.contains_key("gone.py"));
        assert_eq!(c.head["täst.py"], [(5, 5)]);
        assert!(ChangedLines::touches(&c.head, "app.py", 10, 11));
        assert!(!ChangedLines::touches(&c.head, "app.py", 4, 10));
        assert!(!ChangedLines::touches(&c.head, "other.py", 1, 100));
    }

    #[test]
    fn a_removed_line_that_looks_like_a_file_header_is_a_line() {
        let diff = "\
diff --git a/app.py b/app.py
--- a/app.py
+++ b/app.py
@@ -3 +3 @@
--- x
+++ y
@@ -9 +9 @@
-a
+b
";
        let c = parse_diff(diff);
        assert_eq!(c.base["app.py"], [(3, 3), (9, 9)], "{c:?}");
        assert_eq!(c.head["app.py"], [(3, 3), (9, 9)], "{c:?}");
    }
}
