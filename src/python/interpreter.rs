//! Finding the interpreter inside a process: which mapped file is CPython (the executable
//! or a `libpython3.X.so`), where `_PyRuntime` is, which version and build it is, and the
//! [`Layout`] to read it with (built-in table, overridden by the target's own
//! `_Py_DebugOffsets` on 3.13+).

use super::debug_offsets::DebugOffsets;
use super::layout::{table_for, Layout, NEWEST_TABLE_MINOR};
use super::locals::layout::LocalsLayout;
use super::locals::repr::Builtins;
use super::version::Version;
use crate::error::{Error, Result};
use crate::process::elf::LoadedElf;
use crate::process::image::{LiveProcess, ProcessImage, Source};
use crate::process::maps::{executable_path, mapped_files, MappedFile};
use crate::process::Memory;
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
    /// Where its memory is read from: the live process, or a saved image of it.
    pub mem: Box<dyn Memory + Send>,
    /// Where the process is known from (live, or saved with a fixed thread list).
    pub source: Source,
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
    /// Where locals are kept and named (`dump --locals`), or why they cannot be read.
    pub locals_layout: std::result::Result<LocalsLayout, String>,
    /// The builtin objects and types by address, for showing locals.
    pub builtins: Builtins,
    /// Where `binary`'s ELF header is mapped, and the process's root directory (as
    /// `/proc/PID/root` links to it): what [`Interpreter::attach_like`] compares.
    pub binary_base: Option<u64>,
    pub root_dir: String,
}

/// What attaching found before reading the interpreter itself: enough to build an
/// [`Interpreter`] on any memory that holds the process (a memory snapshot records
/// exactly these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Address of `_PyRuntime`.
    pub runtime: u64,
    /// Address of `PyCode_Type`.
    pub code_type: Option<u64>,
    /// The file CPython lives in, as the target sees it.
    pub binary: String,
    /// The version as the binary tells it without `_Py_DebugOffsets` (`Py_Version`, or
    /// the version string of `.rodata`).
    pub version: Option<Version>,
    /// The binary is a debug build (its name, or symbols only debug builds define).
    pub debug_build: bool,
}

impl Interpreter {
    /// Attaches to the live process `pid`.
    pub fn attach(pid: u32) -> Result<Interpreter> {
        if !crate::process::status::process_exists(pid) {
            return Err(Error::NoSuchProcess { pid });
        }
        crate::process::status::refuse_zombie(pid)?;
        let mut interp = Interpreter::attach_image(&LiveProcess { pid })?;
        interp.root_dir = root_dir(pid);
        Ok(interp)
    }

    /// Finds CPython in a process image (a live process or a core file): the mapped file
    /// that holds it, its symbols, then the interpreter in the image's memory.
    pub fn attach_image(image: &dyn ProcessImage) -> Result<Interpreter> {
        let pid = image.pid();
        let files = image.mapped_files()?;
        let exe = image.executable().unwrap_or_else(|| String::from("?"));
        let candidate = python_binary(&files, &exe).ok_or_else(|| {
            image.not_python(format!("{exe} maps no CPython executable or libpython"))
        })?;
        let wanted: Vec<&str> = WANTED_SYMBOLS
            .iter()
            .chain(super::locals::BUILTIN_SYMBOLS)
            .copied()
            .collect();
        let bytes = image.open(candidate)?;
        let elf = LoadedElf::parse(&bytes, candidate, &wanted, &[".PyRuntime", ".rodata"])?;
        drop(bytes);
        let runtime = elf
            .symbol(&["_PyRuntime"])
            .map(|(addr, _)| addr)
            .or_else(|| elf.section(".PyRuntime").map(|(addr, _)| addr))
            .ok_or_else(|| {
                image.not_python(format!(
                    "{} has no _PyRuntime symbol (CPython before 3.7, or not CPython: {exe})",
                    elf.path
                ))
            })?;
        let mem = image.memory()?;
        let source = image.source();
        // Probe readability first so permission problems are reported as such.
        mem.read_u64(runtime)
            .map_err(|e| source.read_error(pid, e, "the interpreter runtime"))?;
        let facts = Facts {
            runtime,
            code_type: elf.symbol(&["PyCode_Type"]).map(|(a, _)| a),
            binary: elf.path.clone(),
            version: binary_version(&*mem, &elf, candidate),
            debug_build: is_debug_build(&elf, candidate),
        };
        let mut interp = Interpreter::from_facts(pid, mem, source, facts).map_err(|e| match e {
            Error::NotPython { found, .. } => image.not_python(found),
            other => other,
        })?;
        interp.builtins = Builtins::from_symbols(|name| elf.symbol(&[name]).map(|(a, _)| a));
        interp.binary_base = candidate.base;
        Ok(interp)
    }

    /// Builds the interpreter from what attaching found, on memory that holds it: reads
    /// and checks `_Py_DebugOffsets` (3.13+), settles the version and the [`Layout`].
    pub fn from_facts(
        pid: u32,
        mem: Box<dyn Memory + Send>,
        origin: Source,
        facts: Facts,
    ) -> Result<Interpreter> {
        let runtime = facts.runtime;
        let debug = DebugOffsets::read(&mem, runtime)
            .map_err(|(version, why)| Error::UnsupportedPython { pid, version, why })?;
        let mut version = match (&debug, &facts.version) {
            (Some(d), _) => d.version.clone(),
            (None, Some(v)) => v.clone(),
            (None, None) => {
                return Err(Error::NotPython {
                    pid,
                    found: format!("{} has no recognisable CPython version", facts.binary),
                })
            }
        };
        version.debug = facts.debug_build;
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
        let locals_layout = LocalsLayout::for_version(&version, debug.as_ref());
        Ok(Interpreter {
            pid,
            mem,
            source: origin,
            version,
            layout,
            runtime,
            code_type: facts.code_type,
            binary: facts.binary,
            layout_differences,
            layout_source: source,
            locals_layout,
            // Known by address only from the binary's symbols (see `attach_image`); a
            // snapshot's interpreter tells builtins by their type names.
            builtins: Builtins::default(),
            // Set by `attach_image` from the mapping (a snapshot has none).
            binary_base: None,
            root_dir: String::new(),
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
            mem: Box::new(RemoteMemory::new(pid)),
            source: Source::Live,
            version: self.version.clone(),
            layout: self.layout.clone(),
            runtime: self.runtime,
            code_type: self.code_type,
            binary: self.binary.clone(),
            layout_differences: self.layout_differences.clone(),
            layout_source: self.layout_source.clone(),
            locals_layout: self.locals_layout.clone(),
            builtins: self.builtins.clone(),
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

/// Whether the binary is a debug build: its name says so (`python3.14d`,
/// `libpython3.14d.so`), or it defines symbols only debug builds have.
fn is_debug_build(elf: &LoadedElf, file: &MappedFile) -> bool {
    Version::minor_from_file_name(file.file_name()).is_some_and(|(_, d)| d)
        || elf.has_symbol("_Py_NegativeRefcount")
        || elf.has_symbol("_Py_RefTotal")
}

/// The version the binary tells without `_Py_DebugOffsets`: `Py_Version` (3.11+), else
/// the version string in `.rodata`.
fn binary_version(mem: &dyn Memory, elf: &LoadedElf, file: &MappedFile) -> Option<Version> {
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
