//! The two temporary checkouts of a `compare` and the private directory that holds them
//! and the recordings: created exclusively under an unpredictable name, removed with
//! `git worktree remove` and `git worktree prune` when the guard is dropped — on success,
//! on error, on a panic, and after Ctrl-C or SIGTERM (which end the runs, then return).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::git::Repo;
use crate::error::{Error, Result};

/// The checkouts of both sides; removed on drop.
pub struct Checkouts {
    repo: Repo,
    /// The private directory (mode 0700) holding everything below.
    pub dir: PathBuf,
    pub base: PathBuf,
    pub head: PathBuf,
    added: Vec<PathBuf>,
}

impl Checkouts {
    /// Creates the private directory and checks `base` and `head` (commits) out in it.
    pub fn create(repo: &Repo, base: &str, head: &str) -> Result<Checkouts> {
        let dir = private_dir()?;
        let mut checkouts = Checkouts {
            repo: repo.clone(),
            base: dir.join("base"),
            head: dir.join("head"),
            dir,
            added: Vec::new(),
        };
        for (path, commit) in [
            (checkouts.base.clone(), base),
            (checkouts.head.clone(), head),
        ] {
            // Counted before it exists: a failed add may leave a half-made worktree.
            checkouts.added.push(path.clone());
            repo.add_worktree(&path, commit)?;
        }
        Ok(checkouts)
    }
}

impl Drop for Checkouts {
    fn drop(&mut self) {
        for path in &self.added {
            self.repo.remove_worktree(path);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        self.repo.prune_worktrees();
    }
}

/// A new directory `framescope-compare-XXXXXX` in the temporary directory, made by
/// mkdtemp(3): an unpredictable name, created exclusively, readable by us alone.
fn private_dir() -> Result<PathBuf> {
    let template = std::env::temp_dir().join("framescope-compare-XXXXXX");
    let c = CString::new(template.as_os_str().as_bytes())
        .map_err(|_| Error::Usage("the temporary directory's path holds a NUL byte".into()))?;
    let mut bytes = c.into_bytes_with_nul();
    // SAFETY: `bytes` is a NUL-terminated, writable template that mkdtemp fills in place.
    let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
    if made.is_null() {
        return Err(Error::io(
            format!(
                "creating a temporary directory in {}",
                std::env::temp_dir().display()
            ),
            std::io::Error::last_os_error(),
        ));
    }
    bytes.pop();
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
    // A temporary directory reached through a symlink (/tmp -> /private/tmp) is named by
    // its real path, the one the recorded file names will carry.
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

/// `path` relative to `root`, with `/` separators, when it lies inside.
pub fn inside(path: &Path, root: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rest
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}
