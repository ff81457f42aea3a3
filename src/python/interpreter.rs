//! Finding the interpreter inside a process: which mapped file is CPython (the executable
//! or a `libpython3.X.so`), where `_PyRuntime` is, which version and build it is, and the
//! [`Layout`] to read it with (built-in table, overridden by the target's own
//! `_Py_DebugOffsets` on 3.13+).

use super::debug_offsets::DebugOffsets;
use super::layout::{table_for, Layout, NEWEST_TABLE_MINOR};
use super::version::Version;
use crate::error::{Error, Result};
use crate::process::elf::LoadedElf;
use crate::process::maps::{executable_path, mapped_files, MappedFile};
use crate::process::{ReadError, RemoteMemory};

/// The symbols attaching looks at: the runtime, the version, the code type (to tell code
/// objects from garbage) and two that only debug builds define.
const WANTED_SYMBOLS: &[&str] = &[
    "_PyRuntime",
    "Py_Version",
    "PyCode_Type",
    "_Py_NegativeRefcount",
    "_Py_RefTotal",
];

/// Oldest minor version framescope reads.
pub const OLDEST_MINOR: u32 = 8;

/// A CPython interpreter found in a process, ready to be read.
pub struct Interpreter {
    pub pid: u32,
    pub mem: RemoteMemory,
    pub version: Version,
    pub layout: Layout,
    /// Address of `_PyRuntime`.
    pub runtime: u64,
    /// Address of `PyCode_Type`, to tell code objects from garbage.
    pub code_type: Option<u64>,
    /// The file CPython lives in (executable or libpython), as the target sees it.
    pub binary: String,
    /// Where the target's debug offsets disagreed with the built-in table (3.13+).
    pub layout_differences: Vec<String>,
    /// Where the layout came from, for `dump` and the recording.
    pub layout_source: String,
    /// Where `binary`'s ELF header is mapped, and the process's root directory (as
    /// `/proc/PID/root` links to it): what [`Interpreter::attach_like`] compares.
    pub binary_base: Option<u64>,
    pub root_dir: String,
}

impl Interpreter {
    pub fn attach(pid: u32) -> Result<Interpreter> {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return Err(Error::NoSuchProcess { pid });
        }
        crate::process::status::refuse_zombie(pid)?;
        let files = mapped_files(pid)?;
        let exe = executable_path(pid).unwrap_or_else(|_| String::from("?"));
        let candidate = python_binary(&files, &exe).ok_or_else(|| Error::NotPython {
            pid,
            found: format!("{exe} maps no CPython executable or libpython"),
        })?;
        let elf = LoadedElf::load(pid, candidate, WANTED_SYMBOLS, &[".PyRuntime", ".rodata"])?;
        let runtime = elf
            .symbol(&["_PyRuntime"])
            .map(|(addr, _)| addr)
            .or_else(|| elf.section(".PyRuntime").map(|(addr, _)| addr))
            .ok_or_else(|| Error::NotPython {
                pid,
                found: format!(
                    "{} has no _PyRuntime symbol (CPython before 3.7, or not CPython: {exe})",
                    elf.path
                ),
            })?;
        let mem = RemoteMemory::new(pid);
        let read_err = |e: ReadError| match e {
            ReadError::Gone => Error::ProcessExited { pid },
            ReadError::Permission => Error::PermissionDenied {
                pid,
                detail: "process_vm_readv refused".into(),
            },
            ReadError::BadAddress(a) => Error::Read(format!("cannot read process {pid} at {a:#x}")),
        };
        // Probe readability first so permission problems are reported as such.
        mem.read_u64(runtime).map_err(read_err)?;

        let debug = DebugOffsets::read(&mem, runtime)
            .map_err(|(version, why)| Error::UnsupportedPython { pid, version, why })?;
        let mut version =
            detect_version(&mem, &elf, candidate, debug.as_ref()).ok_or_else(|| {
                Error::NotPython {
                    pid,
                    found: format!("{} has no recognisable CPython version", elf.path),
                }
            })?;
        let name_says_debug =
            Version::minor_from_file_name(candidate.file_name()).is_some_and(|(_, d)| d);
        version.debug = name_says_debug
            || elf.has_symbol("_Py_NegativeRefcount")
            || elf.has_symbol("_Py_RefTotal");
        version.free_threaded = debug.as_ref().is_some_and(|d| d.free_threaded);

        let unsupported = |why: String| Error::UnsupportedPython {
            pid,
            version: version.to_string(),
            why,
        };
        if version.major != 3 || version.minor < OLDEST_MINOR {
            return Err(unsupported("framescope reads CPython 3.8 and newer".into()));
        }
        if version.free_threaded {
            return Err(unsupported(
                "free-threaded builds are not supported yet".into(),
            ));
        }
        let (mut layout, mut source) = match table_for(&version) {
            Some(Ok(table)) => (
                Layout::from_table(&version, &table).map_err(unsupported)?,
                format!("python-offsets/3.{}.toml", version.minor),
            ),
            Some(Err(why)) => return Err(unsupported(why)),
            None => {
                // Newer than every table: start from the newest and let the debug offsets
                // supply every offset they know.
                if debug.is_none() {
                    return Err(unsupported(
                        "no offsets table for this version and no _Py_DebugOffsets in the target"
                            .into(),
                    ));
                }
                let newest = Version::new(3, NEWEST_TABLE_MINOR, 0);
                let table = table_for(&newest)
                    .and_then(|t| t.ok())
                    .ok_or_else(|| unsupported("built-in table missing".into()))?;
                let mut layout = Layout::from_table(&newest, &table).map_err(unsupported)?;
                // A private code-object field the debug offsets do not cover may have
                // moved: rather show a version's not-yet-started frames than guess.
                layout.code_first_traceable = None;
                // Opcodes are renumbered between versions.
                layout.bytecode = None;
                (
                    layout,
                    format!("python-offsets/3.{NEWEST_TABLE_MINOR}.toml as a base"),
                )
            }
        };
        let mut layout_differences = Vec::new();
        if let Some(d) = &debug {
            layout_differences = d.apply(&mut layout);
            source = format!("_Py_DebugOffsets of the target, checked against {source}");
        }
        let code_type = elf.symbol(&["PyCode_Type"]).map(|(a, _)| a);
        Ok(Interpreter {
            pid,
            mem,
            version,
            layout,
            runtime,
            code_type,
            binary: elf.path.clone(),
            layout_differences,
            layout_source: source,
            binary_base: candidate.base,
            root_dir: root_dir(pid),
        })
    }

    /// Attaches to `pid` as [`Interpreter::attach`] does, but when it maps the same
    /// CPython file (same path under the same root) as one of `known`, takes that one's
    /// version and layout and moves its addresses by the difference of the two load
    /// addresses, reading no ELF file: many workers of one Python are attached in
    /// microseconds instead of milliseconds each.
    pub fn attach_like(pid: u32, known: &[Interpreter]) -> Result<Interpreter> {
        if known.is_empty() {
            return Interpreter::attach(pid);
        }
        let files = mapped_files(pid)?;
        let exe = executable_path(pid).unwrap_or_else(|_| String::from("?"));
        let root = root_dir(pid);
        let same = python_binary(&files, &exe).and_then(|candidate| {
            let base = candidate.base?;
            known.iter().find_map(|k| {
                (k.binary == candidate.path && k.root_dir == root)
                    .then_some((k, base.wrapping_sub(k.binary_base?)))
            })
        });
        let Some((like, shift)) = same else {
            return Interpreter::attach(pid);
        };
        crate::process::status::refuse_zombie(pid)?;
        let mut interp = like.for_fork(pid);
        interp.runtime = like.runtime.wrapping_add(shift);
        interp.code_type = like.code_type.map(|c| c.wrapping_add(shift));
        interp.binary_base = like.binary_base.map(|b| b.wrapping_add(shift));
        interp.mem.read_u64(interp.runtime).map_err(|e| match e {
            ReadError::Gone => Error::ProcessExited { pid },
            ReadError::Permission => Error::PermissionDenied {
                pid,
                detail: "process_vm_readv refused".into(),
            },
            ReadError::BadAddress(a) => Error::Read(format!("cannot read process {pid} at {a:#x}")),
        })?;
        Ok(interp)
    }

    /// The same interpreter in `pid`, a child `fork` made of this process (not yet
    /// replaced by an exec): its memory is a copy, so every address and offset holds and
    /// no ELF file needs reading again.
    pub fn for_fork(&self, pid: u32) -> Interpreter {
        Interpreter {
            pid,
            mem: RemoteMemory::new(pid),
            version: self.version.clone(),
            layout: self.layout.clone(),
            runtime: self.runtime,
            code_type: self.code_type,
            binary: self.binary.clone(),
            layout_differences: self.layout_differences.clone(),
            layout_source: self.layout_source.clone(),
            binary_base: self.binary_base,
            root_dir: self.root_dir.clone(),
        }
    }

    /// The runtime has an interpreter with at least one thread state: CPython is up far
    /// enough to be sampled (a process just started maps libpython well before that).
    pub fn is_up(&self) -> bool {
        let head = self
            .mem
            .read_u64(self.runtime + self.layout.runtime_interpreters_head)
            .unwrap_or(0);
        head != 0
            && self
                .mem
                .read_u64(head + self.layout.interp_threads_head)
                .is_ok_and(|t| t != 0)
    }
}

/// The mapped file that holds CPython: a `libpython3.X` if one is mapped (the executable
/// is then only a launcher), else the executable itself when it looks like Python.
/// Where `/proc/PID/root` leads ("/" outside any chroot or container).
fn root_dir(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/root"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn python_binary<'a>(files: &'a [MappedFile], exe: &str) -> Option<&'a MappedFile> {
    let is_libpython = |f: &&MappedFile| f.file_name().starts_with("libpython3.");
    if let Some(lib) = files.iter().find(is_libpython) {
        return Some(lib);
    }
    let exe_name = exe.trim_end_matches(" (deleted)");
    files
        .iter()
        .find(|f| {
            f.path.trim_end_matches(" (deleted)") == exe_name
                && exe_name
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.contains("python"))
        })
        .or_else(|| {
            files
                .iter()
                .find(|f| f.path.trim_end_matches(" (deleted)") == exe_name)
        })
}

fn detect_version(
    mem: &RemoteMemory,
    elf: &LoadedElf,
    file: &MappedFile,
    debug: Option<&DebugOffsets>,
) -> Option<Version> {
    if let Some(d) = debug {
        return Some(d.version.clone());
    }
    if let Some((addr, _)) = elf.symbol(&["Py_Version"]) {
        if let Some(v) = mem
            .read_u32(addr)
            .ok()
            .and_then(|hex| Version::from_hex(hex as u64))
        {
            return Some(v);
        }
    }
    let minor = Version::minor_from_file_name(file.file_name()).map(|(m, _)| m);
    let rodata = elf.section_bytes(".rodata")?;
    Version::find_in_rodata(rodata, minor)
}
