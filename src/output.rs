//! Every file framescope writes goes through here, so that none of them follows or
//! clobbers a file it was not told to write, and none is ever seen half-written.
//!
//! - A path the user names is checked first ([`Destination::resolve`]): a directory, a
//!   missing directory or a symbolic link another user planted in a sticky world-writable
//!   directory (the rule of the kernel's `fs.protected_symlinks`, applied whatever that
//!   setting) is refused before any work starts.
//! - Its content is written to a new file beside it, created exclusively under a random
//!   hidden name (`O_EXCL`, which never follows a link, mode 0600), synced, and renamed
//!   over the path when complete: the path shows the old content or all of the new.
//!   A FIFO, terminal or `/dev/stdout` is written directly instead.
//! - A name framescope picks itself (`framescope-PID-SECONDS.fsr`) is given to an
//!   exclusively created file without replacing anything: when taken, another is chosen.
//!
//! Files are written with the mode a plain create would give (0666 less the umask), or
//! the mode of the file they replace.

use std::borrow::Cow;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::escape::visible;

/// A path the user named for output, checked and resolved.
#[derive(Debug, Clone)]
pub struct Destination {
    /// As the user named it (for messages).
    named: PathBuf,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A regular file, or none yet, at this path (a link the user named, followed):
    /// replaced as a whole.
    File(PathBuf),
    /// A FIFO, device, socket or file descriptor link (`/dev/stdout`): written directly,
    /// appended to.
    Stream(PathBuf),
}

impl Destination {
    /// Checks that `named` can take output: its directory exists, it is not a directory,
    /// and it is not a link planted by another user in a sticky world-writable directory.
    pub fn resolve(named: &Path) -> Result<Destination> {
        let fail = |why: String| Err(cannot_write(named, why));
        let kind = match std::fs::symlink_metadata(named) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let dir = directory_of(named);
                match std::fs::metadata(dir) {
                    Ok(m) if m.is_dir() => Kind::File(named.to_path_buf()),
                    Ok(_) => return fail(format!("{} is not a directory", show(dir))),
                    Err(e) => return fail(format!("directory {}: {e}", show(dir))),
                }
            }
            Err(e) => return fail(e.to_string()),
            Ok(m) if m.is_dir() => return fail("it is a directory".into()),
            Ok(m) if m.file_type().is_symlink() => {
                if planted_link(named, &m) {
                    return fail(
                        "it is a symbolic link owned by another user in a world-writable \
                         sticky directory; framescope does not follow such links (remove it, \
                         or name another path)"
                            .into(),
                    );
                }
                match std::fs::metadata(named) {
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        return fail("it is a symbolic link to nothing".into())
                    }
                    Err(e) => return fail(e.to_string()),
                    Ok(t) if t.is_dir() => return fail("it links to a directory".into()),
                    Ok(t) if t.is_file() && !is_descriptor_link(named) => {
                        match std::fs::canonicalize(named) {
                            Ok(real) => Kind::File(real),
                            Err(e) => return fail(e.to_string()),
                        }
                    }
                    Ok(_) => Kind::Stream(named.to_path_buf()),
                }
            }
            Ok(m) if m.is_file() => Kind::File(named.to_path_buf()),
            Ok(_) => Kind::Stream(named.to_path_buf()),
        };
        Ok(Destination {
            named: named.to_path_buf(),
            kind,
        })
    }

    /// The path as the user named it.
    pub fn named(&self) -> &Path {
        &self.named
    }

    /// The directory the output file goes to, or `None` when it is written as a stream.
    pub fn directory(&self) -> Option<&Path> {
        match &self.kind {
            Kind::File(path) => Some(directory_of(path)),
            Kind::Stream(_) => None,
        }
    }

    /// The file path to rename a finished file over, or `None` for a stream.
    pub fn file_path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::File(path) => Some(path),
            Kind::Stream(_) => None,
        }
    }

    /// Writes what `write` produces. A file is replaced only once all of it is written
    /// and synced; on any failure it is left as it was and nothing else remains.
    pub fn write_with(&self, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
        let named = &self.named;
        let rewrap = |e: Error| match e {
            Error::Io { source, .. } => cannot_write(named, source.to_string()),
            other => other,
        };
        match &self.kind {
            Kind::File(path) => {
                let staged =
                    Staged::new(directory_of(path), &file_name_of(path), ".tmp").map_err(rewrap)?;
                {
                    let mut out = BufWriter::with_capacity(1 << 16, staged.file());
                    write(&mut out).map_err(rewrap)?;
                    out.flush()
                        .map_err(|e| cannot_write(named, e.to_string()))?;
                }
                staged
                    .file()
                    .sync_all()
                    .map_err(|e| cannot_write(named, e.to_string()))?;
                staged.replace(path).map_err(rewrap)?;
                Ok(())
            }
            Kind::Stream(path) => {
                let file = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|e| cannot_write(named, e.to_string()))?;
                let mut out = BufWriter::with_capacity(1 << 16, file);
                write(&mut out).map_err(rewrap)?;
                out.flush().map_err(|e| cannot_write(named, e.to_string()))
            }
        }
    }
}

/// Writes what `write` produces to a new file in `dir` under the first name of
/// `names(0)`, `names(1)`, … that is free (never replacing anything, a link included),
/// once all of it is written and synced. Returns its path.
pub fn write_new(
    dir: &Path,
    names: impl Fn(u32) -> String,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<PathBuf> {
    let staged = Staged::new(dir, "framescope", ".tmp")?;
    let fail = |e: std::io::Error| cannot_write(staged.path(), e.to_string());
    {
        let mut out = BufWriter::with_capacity(1 << 16, staged.file());
        write(&mut out)?;
        out.flush().map_err(fail)?;
    }
    staged.file().sync_all().map_err(fail)?;
    staged.name_exclusively(dir, names).map(|(_, path)| path)
}

/// Where a command writes its one output: the file named with `-o` (checked when this is
/// made, so before any work) or standard output. `report`, `diff` and `dump` write
/// through it; `record` names its file itself (a default name when none is given).
#[derive(Debug, Clone)]
pub enum CommandOutput {
    File(Destination),
    Stdout,
}

impl CommandOutput {
    /// Checks `named` (see [`Destination::resolve`]); `None` is standard output.
    pub fn resolve(named: Option<&Path>) -> Result<CommandOutput> {
        Ok(match named {
            Some(path) => CommandOutput::File(Destination::resolve(path)?),
            None => CommandOutput::Stdout,
        })
    }

    /// Writes `bytes`.
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        match self {
            CommandOutput::File(dest) => write_to(dest, bytes),
            CommandOutput::Stdout => to_stdout(bytes),
        }
    }

    /// Writes what `write` produces: a file is replaced only once all of it is written;
    /// standard output gets it once it is whole (so an error leaves nothing half-written).
    pub fn write_with(&self, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
        match self {
            CommandOutput::File(dest) => dest.write_with(write),
            CommandOutput::Stdout => {
                let mut bytes = Vec::new();
                write(&mut bytes)?;
                to_stdout(&bytes)
            }
        }
    }
}

/// Writes `bytes` to a destination already resolved.
pub fn write_to(dest: &Destination, bytes: &[u8]) -> Result<()> {
    dest.write_with(|out| {
        out.write_all(bytes)
            .map_err(|e| Error::io("writing output", e))
    })
}

/// Writes `bytes` to standard output; a closed pipe (`| head`) is not an error.
pub fn to_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(Error::io("writing standard output", e)),
        _ => Ok(()),
    }
}

/// A file being written under a random hidden name, created exclusively with mode 0600.
/// Dropped without being given its final name (or kept), it is removed.
#[derive(Debug)]
pub struct Staged {
    file: File,
    guard: RemoveOnDrop,
}

/// Removes its path when dropped, unless disarmed.
#[derive(Debug)]
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Staged {
    /// Creates `DIR/.HINT.RANDOM SUFFIX`, never an existing file or link.
    pub fn new(dir: &Path, hint: &str, suffix: &str) -> Result<Staged> {
        // Room for the dot, the token and the suffix within NAME_MAX (255 bytes).
        let mut cut = hint.len().min(200);
        while !hint.is_char_boundary(cut) {
            cut -= 1;
        }
        let hint = &hint[..cut];
        let mut last = None;
        for _ in 0..16 {
            let path = dir.join(format!(".{hint}.{}{suffix}", random_token()));
            match OpenOptions::new()
                .write(true)
                .read(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(Staged {
                        file,
                        guard: RemoveOnDrop(Some(path)),
                    })
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => {
                    return Err(cannot_write(
                        dir,
                        format!("cannot create a file there: {e}"),
                    ))
                }
            }
        }
        Err(cannot_write(
            dir,
            format!(
                "no free temporary name after 16 tries ({})",
                last.map_or_else(String::new, |e| e.to_string())
            ),
        ))
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where it is now.
    pub fn path(&self) -> &Path {
        self.guard.0.as_deref().unwrap_or(Path::new(""))
    }

    /// Keeps the file under its hidden name (it holds something worth keeping).
    pub fn keep(mut self) -> (File, PathBuf) {
        let path = self.guard.0.take().unwrap_or_default();
        (self.file, path)
    }

    /// Renames the file over `target` (replacing what is there, a link itself rather than
    /// what it points to), with the mode a plain create, or the replaced file, would have.
    pub fn replace(mut self, target: &Path) -> Result<File> {
        let mode = std::fs::symlink_metadata(target)
            .ok()
            .filter(|m| m.is_file())
            .map_or_else(default_mode, |m| m.mode() & 0o7777);
        self.set_mode(mode, target)?;
        std::fs::rename(self.path(), target).map_err(|e| cannot_write(target, e.to_string()))?;
        self.guard.0 = None;
        Ok(self.file)
    }

    /// Gives the file the first name of `names(0)`, `names(1)`, … in `dir` that is not
    /// taken, never replacing anything. Returns the open file and its new path.
    pub fn name_exclusively(
        mut self,
        dir: &Path,
        names: impl Fn(u32) -> String,
    ) -> Result<(File, PathBuf)> {
        self.set_mode(default_mode(), dir)?;
        for attempt in 0..64 {
            let target = match dir == Path::new(".") {
                true => PathBuf::from(names(attempt)),
                false => dir.join(names(attempt)),
            };
            match rename_noreplace(self.path(), &target) {
                Ok(()) => {
                    self.guard.0 = None;
                    return Ok((self.file, target));
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(cannot_write(&target, e.to_string())),
            }
        }
        Err(cannot_write(dir, "every name tried was taken".into()))
    }

    fn set_mode(&self, mode: u32, for_path: &Path) -> Result<()> {
        self.file
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| cannot_write(for_path, e.to_string()))
    }
}

/// Moves `from` to `to` unless `to` exists (as anything, a dangling link included).
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::new(ErrorKind::InvalidInput, "path with a NUL byte"))
    };
    let (cf, ct) = (c(from)?, c(to)?);
    // SAFETY: two valid NUL-terminated paths; renameat2 reads them and nothing else.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cf.as_ptr(),
            libc::AT_FDCWD,
            ct.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        // A file system without RENAME_NOREPLACE: a hard link is just as exclusive.
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => {
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        _ => Err(e),
    }
}

/// The kernel's rule for following links (`fs.protected_symlinks`): a link in a sticky
/// world-writable directory is followed only by its owner, or when the directory's owner
/// owns it too.
fn planted_link(link: &Path, meta: &std::fs::Metadata) -> bool {
    let Ok(dir) = std::fs::metadata(directory_of(link)) else {
        return true;
    };
    let sticky_and_open = dir.mode() & 0o1002 == 0o1002;
    // SAFETY: geteuid cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    sticky_and_open && meta.uid() != me && meta.uid() != dir.uid()
}

/// A link to an open file descriptor (`/dev/stdout`, `/proc/self/fd/1`): written through,
/// so that a shell's redirection (`>>`) keeps its meaning.
fn is_descriptor_link(path: &Path) -> bool {
    let in_proc = |p: &Path| p.starts_with("/proc");
    std::fs::read_link(path).is_ok_and(|t| in_proc(&t))
        || std::fs::canonicalize(directory_of(path)).is_ok_and(|d| in_proc(&d))
}

/// The directory a path is in (`.` for a bare name).
pub fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned())
}

/// 0666 less the process's umask (read without changing it).
fn default_mode() -> u32 {
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022);
    0o666 & !umask
}

/// Twelve random characters from the kernel's generator (a name nobody can predict).
fn random_token() -> String {
    let mut bytes = [0u8; 12];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if usize::try_from(got).ok() != Some(bytes.len()) {
        // No getrandom: mix the clock and pid; the exclusive create still never follows
        // or replaces anything, the name is merely less unpredictable.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mixed = t ^ (u128::from(std::process::id()) << 64);
        bytes.copy_from_slice(&mixed.to_le_bytes()[..12]);
    }
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect()
}

/// The error for an output that cannot be written (exit status 10).
fn cannot_write(path: &Path, why: String) -> Error {
    Error::Io {
        what: format!("cannot write {}", show(path)),
        source: std::io::Error::other(why),
    }
}

/// A path as messages show it.
pub fn show(path: &Path) -> Cow<'_, str> {
    match visible(&path.to_string_lossy()) {
        Cow::Borrowed(_) => path.to_string_lossy(),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "framescope-output-{name}-{}-{}",
            std::process::id(),
            random_token()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn a_directory_or_a_missing_directory_is_refused_up_front() {
        let dir = scratch("dirs");
        let e = Destination::resolve(&dir).expect_err("a directory");
        assert!(e.to_string().contains("is a directory"), "{e}");
        assert_eq!(e.exit_code(), 10);
        let e = Destination::resolve(&dir.join("missing/out.svg")).expect_err("no such dir");
        assert!(e.to_string().contains("missing"), "{e}");
        assert_eq!(e.exit_code(), 10);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_is_replaced_whole_and_nothing_else_is_left() {
        let dir = scratch("replace");
        let out = dir.join("out.txt");
        std::fs::write(&out, "old").expect("write");
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let output = CommandOutput::resolve(Some(&out)).expect("resolve");
        output.write(b"new content").expect("written");
        assert_eq!(std::fs::read_to_string(&out).expect("read"), "new content");
        let mode = std::fs::metadata(&out).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o640, "keeps the mode of the file it replaces");
        // A failing writer leaves the old content and no temporary file.
        let dest = Destination::resolve(&out).expect("resolve");
        let failed = dest.write_with(|w| {
            w.write_all(b"partial").map_err(|e| Error::io("x", e))?;
            Err(Error::io("x", std::io::Error::other("disk full")))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&out).expect("read"), "new content");
        let names: Vec<_> = std::fs::read_dir(&dir).expect("ls").collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn staged_files_are_private_and_named_exclusively() {
        let dir = scratch("staged");
        let staged = Staged::new(&dir, "x.svg", ".fsr").expect("staged");
        let mode = std::fs::metadata(staged.path()).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o600);
        let name = staged
            .path()
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(".x.svg.") && name.ends_with(".fsr"),
            "{name}"
        );
        std::fs::write(dir.join("taken-0"), "mine").expect("write");
        std::os::unix::fs::symlink("/nonexistent", dir.join("taken-1")).expect("link");
        let (_, path) = staged
            .name_exclusively(&dir, |i| format!("taken-{i}"))
            .expect("named");
        assert_eq!(path, dir.join("taken-2"));
        assert_eq!(
            std::fs::read_to_string(dir.join("taken-0")).expect("read"),
            "mine"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_long_name_still_gets_a_temporary_file() {
        let dir = scratch("long");
        let out = dir.join(format!("{}.svg", "ä".repeat(120)));
        write_to(&Destination::resolve(&out).expect("resolve"), b"svg").expect("written");
        assert_eq!(std::fs::read(&out).expect("read"), b"svg");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dev_stdout_and_dev_null_are_streams() {
        for p in ["/dev/null", "/dev/stdout"] {
            let d = Destination::resolve(Path::new(p)).expect(p);
            assert!(d.file_path().is_none(), "{p}: {d:?}");
        }
    }
}
