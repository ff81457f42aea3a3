//! `framescope compare BASE_REF HEAD_REF -- CMD...`: the benchmark of two git refs, diffed.
//! Both refs are checked out into temporary worktrees ([`checkouts`]), the command is
//! recorded in each, alternating sides ([`runs`]), and the recordings go to `diff` with
//! every option `diff` has. File names in the recordings are turned into paths in the
//! repository, and every function whose lines the git diff between the refs touches is
//! marked changed ([`spans`], [`git::ChangedLines`]). Only orchestration lives here: the
//! recording is `record`'s, the statistics and the gate are `diff`'s.

pub(crate) mod checkouts;
pub(crate) mod git;
pub(crate) mod runs;
pub(crate) mod spans;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::cli::CompareArgs;
use crate::diff::input::Run;
use crate::diff::options::DiffOptions;
use crate::diff::{SideName, SourceKnowledge, Whereabouts};
use crate::error::{Error, Result};
use checkouts::{inside, Checkouts};
use git::{ChangedLines, Repo};
use runs::{RunPlan, SideSetup};
use spans::Source;

/// The most runs per side.
pub(crate) const MAX_RUNS: usize = 1000;

/// Runs `framescope compare`; returns the exit status of its diff (0, or 1 when the gate
/// failed).
pub fn run(args: &CompareArgs) -> Result<i32> {
    if !(1..=MAX_RUNS).contains(&args.runs) {
        return Err(Error::Usage(format!(
            "--runs must be between 1 and {MAX_RUNS}, not {}",
            args.runs
        )));
    }
    if args.command.is_empty() {
        return Err(Error::Usage(
            "compare needs the command to run after `--`".into(),
        ));
    }
    if args.warmup > MAX_RUNS {
        return Err(Error::Usage(format!(
            "--warmup must be at most {MAX_RUNS}, not {}",
            args.warmup
        )));
    }
    let tty = std::io::stdout().is_terminal();
    // Every diff option is checked before anything runs.
    DiffOptions::new(Vec::new(), Vec::new(), &args.options, tty)?;
    if let Some(keep) = &args.keep {
        std::fs::create_dir_all(keep)
            .map_err(|e| Error::io(format!("creating --keep directory {}", keep.display()), e))?;
    }
    let stop = runs::stop_flag();
    let result = check_out_record_and_diff(args, tty, stop);
    match result {
        // A git command killed by the same Ctrl-C fails in its own words: say why.
        Err(Error::Git(_)) if stop.load(Ordering::SeqCst) => Err(Error::Interrupted(
            "interrupted while checking the refs out; the checkouts are removed".into(),
        )),
        other => other,
    }
}

/// Everything after the options are checked: the checkouts, the runs, the diff.
fn check_out_record_and_diff(
    args: &CompareArgs,
    tty: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<i32> {
    let here = match &args.repo {
        Some(dir) => dir.clone(),
        None => {
            std::env::current_dir().map_err(|e| Error::io("finding the current directory", e))?
        }
    };
    let repo = Repo::find(&here)?;
    let base_commit = repo.resolve(&args.base_ref)?;
    let head_commit = repo.resolve(&args.head_ref)?;
    let changed = repo.changed_lines(&base_commit, &head_commit)?;

    let checkouts = Checkouts::create(&repo, &base_commit, &head_commit)?;
    if stop.load(Ordering::SeqCst) {
        return Err(Error::Interrupted(
            "interrupted while checking the refs out; the checkouts are removed".into(),
        ));
    }
    let cwd = |root: &Path, reference: &str| -> Result<PathBuf> {
        let dir = root.join(&repo.prefix);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::Git(format!(
                "the directory {} the command should run in does not exist in {reference}",
                repo.prefix
            )))
        }
    };
    let base = SideSetup {
        name: SideName::Base,
        reference: &args.base_ref,
        commit: &base_commit,
        cwd: cwd(&checkouts.base, &args.base_ref)?,
    };
    let head = SideSetup {
        name: SideName::Head,
        reference: &args.head_ref,
        commit: &head_commit,
        cwd: cwd(&checkouts.head, &args.head_ref)?,
    };
    let plan = RunPlan {
        command: args.command.clone(),
        runs: args.runs,
        warmup: args.warmup,
        rate: args.rate,
        blocking: !args.nonblocking,
    };
    eprintln!(
        "framescope: comparing {} ({}) with {} ({}): {} runs each of `{}`{}",
        args.base_ref,
        runs::short(&base_commit),
        args.head_ref,
        runs::short(&head_commit),
        args.runs,
        args.command.join(" "),
        if repo.prefix.is_empty() {
            String::new()
        } else {
            format!(" in {}/", repo.prefix)
        }
    );
    let recorded = runs::record_all(&plan, &base, &head, &checkouts.dir, stop)?;
    let (base_files, head_files) = match &args.keep {
        Some(keep) => (
            keep_all(&recorded.base, keep)?,
            keep_all(&recorded.head, keep)?,
        ),
        None => (recorded.base, recorded.head),
    };

    let options = DiffOptions::new(base_files, head_files, &args.options, tty)?;
    let knowledge = Checkedout {
        base_root: checkouts.base.clone(),
        head_root: checkouts.head.clone(),
        base_cwd: base.cwd.clone(),
        head_cwd: head.cwd.clone(),
        changed,
        kept: args.keep.is_some(),
        sources: RefCell::new(HashMap::new()),
    };
    let status = crate::diff::run(&options, Some(&knowledge))?;
    drop(checkouts);
    Ok(status)
}

/// Copies the recordings into `dir` (replacing files of the same name there).
fn keep_all(files: &[PathBuf], dir: &Path) -> Result<Vec<PathBuf>> {
    files
        .iter()
        .map(|from| {
            let name = from.file_name().unwrap_or_default();
            let to = dir.join(name);
            if std::fs::symlink_metadata(&to).is_ok_and(|m| m.is_file() || m.is_symlink()) {
                let _ = std::fs::remove_file(&to);
            }
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&to)
                .map_err(|e| Error::io(format!("keeping the recording as {}", to.display()), e))?;
            let mut input = std::fs::File::open(from)
                .map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
            std::io::copy(&mut input, &mut out)
                .map_err(|e| Error::io(format!("writing {}", to.display()), e))?;
            Ok(to)
        })
        .collect()
}

/// What the checkouts tell the diff: paths in the repository, and changed functions.
struct Checkedout {
    base_root: PathBuf,
    head_root: PathBuf,
    base_cwd: PathBuf,
    head_cwd: PathBuf,
    changed: ChangedLines,
    kept: bool,
    /// Sources read so far, per side and repository path (`None`: unreadable).
    sources: RefCell<HashMap<(SideName, String), Option<Source>>>,
}

impl Checkedout {
    fn root(&self, side: SideName) -> &Path {
        match side {
            SideName::Base => &self.base_root,
            SideName::Head => &self.head_root,
        }
    }

    /// The repository path of a file a run names, when it lies in the checkout.
    fn repo_path(&self, side: SideName, file: &str) -> Option<String> {
        let path = Path::new(file);
        if path.is_absolute() {
            return inside(path, self.root(side));
        }
        if file.starts_with('<') || file.is_empty() {
            return None;
        }
        // A relative name (the script itself on CPython 3.8): relative to where it ran.
        let cwd = match side {
            SideName::Base => &self.base_cwd,
            SideName::Head => &self.head_cwd,
        };
        let joined = cwd.join(path);
        let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
        if plain && joined.is_file() {
            inside(&joined, self.root(side))
        } else {
            None
        }
    }

    /// Whether the change touched `places` (a function's file and first lines) on `side`.
    fn touched(&self, side: SideName, places: &[(String, Option<u32>)], qualname: &str) -> bool {
        let ranges = match side {
            SideName::Base => &self.changed.base,
            SideName::Head => &self.changed.head,
        };
        places.iter().any(|(file, line)| {
            if !ranges.contains_key(file) {
                return false;
            }
            let Some(line) = *line else {
                // No first line known: the file changed, so may the function have.
                return true;
            };
            let mut sources = self.sources.borrow_mut();
            let source = sources.entry((side, file.clone())).or_insert_with(|| {
                std::fs::read(self.root(side).join(file))
                    .ok()
                    .map(|bytes| Source::new(&String::from_utf8_lossy(&bytes)))
            });
            match source {
                Some(source) => source
                    .span(qualname, line)
                    .iter()
                    .any(|&(a, b)| ChangedLines::touches(ranges, file, a, b)),
                None => true,
            }
        })
    }
}

impl SourceKnowledge for Checkedout {
    fn rename_files(&self, side: SideName, run: &mut Run) {
        for f in &mut run.functions {
            if let Some(rel) = self.repo_path(side, &f.file) {
                f.file = rel;
            }
        }
        if !self.kept {
            // The temporary recording is gone once compare ends: name it as it was made.
            if let Some(name) = run.path.file_name() {
                run.path = PathBuf::from(name);
            }
        }
    }

    fn changed(&self, function: &Whereabouts) -> bool {
        self.touched(SideName::Base, &function.base, &function.qualname)
            || self.touched(SideName::Head, &function.head, &function.qualname)
    }
}
