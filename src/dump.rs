//! `framescope dump`: one look at every thread of a process (or, with `--subprocesses`,
//! of every Python process of its tree), printed as text or JSON. Each process is paused
//! only while it is read (unless `--nonblocking`). With `--core`, the look is at a core
//! file instead (`process/core.rs`), through the same walker and into the same report:
//! nothing runs, so nothing is paused, and no thread is known to be on a CPU (`on_cpu` is
//! null).

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::escape::visible;
use crate::process::core::{CoreFile, CoreImage};
use crate::process::pause::Pause;
use crate::python::locals::LocalsReader;
use crate::python::{CodeTable, Interpreter, SampleOptions, StackReader, ThreadStack};

/// The JSON document `dump --json` prints (documented in README).
#[derive(Serialize, Debug)]
pub struct DumpReport {
    pub pid: u32,
    pub python_version: String,
    pub debug_build: bool,
    pub binary: String,
    pub layout_source: String,
    /// The process was stopped while read (always for a core: it cannot move).
    pub blocking: bool,
    /// The core file read instead of a live process (`dump --core`); null for a live one.
    pub core: Option<String>,
    /// `--async`: why no asyncio task could be read, when none could.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asyncio_note: Option<String>,
    /// `--async`: every asyncio task, running or waiting (README "dump --async").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<crate::python::asyncio::tree::DumpAsyncTask>>,
    /// `--async`: the process had more tasks than framescope reads.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tasks_capped: bool,
    pub threads: Vec<DumpThread>,
}

/// `--async`: the asyncio task a thread is running.
#[derive(Serialize, Debug, Clone)]
pub struct DumpTask {
    /// The task object's address (`id(task)`).
    pub id: u64,
    pub name: String,
    /// The coroutine's qualified name.
    pub coroutine: String,
}

#[derive(Serialize, Debug)]
pub struct DumpThread {
    pub os_tid: Option<u32>,
    pub python_thread_id: u64,
    pub name: Option<String>,
    pub holds_gil: bool,
    pub on_cpu: Option<bool>,
    pub error: Option<String>,
    /// The stack was deeper than framescope follows: `frames` are its innermost ones.
    pub truncated: bool,
    /// `--async`: the task the thread is running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<DumpTask>,
    /// Innermost first.
    pub frames: Vec<DumpFrame>,
}

#[derive(Serialize, Debug)]
pub struct DumpFrame {
    pub function: String,
    pub name: String,
    pub file: String,
    pub line: u32,
    pub first_line: u32,
    /// With `--locals` only: the frame's arguments, then its other variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locals: Option<Vec<DumpLocal>>,
    /// With `--locals`: why this frame's variables could not be read at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locals_error: Option<String>,
}

/// One variable of a frame (`dump --locals`).
#[derive(Serialize, Debug)]
pub struct DumpLocal {
    pub name: String,
    /// A short repr, bounded (see README "Locals").
    pub repr: String,
    pub argument: bool,
}

/// The JSON document `dump --subprocesses --json` prints: one entry per Python process of
/// the tree, the target first, then by pid.
#[derive(Serialize, Debug)]
pub struct TreeDump {
    pub processes: Vec<ProcessDump>,
    /// Members of the tree that were not dumped: pid and why (not Python, a zombie, ...).
    #[serde(skip)]
    pub skipped: Vec<(u32, String)>,
}

#[derive(Serialize, Debug)]
pub struct ProcessDump {
    pub pid: u32,
    pub ppid: u32,
    /// The command line (argv).
    pub command: Vec<String>,
    pub python_version: String,
    pub threads: Vec<DumpThread>,
    #[serde(skip)]
    pub binary: String,
}

/// Reads all threads of every Python process in the tree of `pid` (`pid` included) once.
/// Processes that are not Python, zombies, and those gone meanwhile are skipped; an error
/// when no process of the tree is Python.
pub fn take_tree(pid: u32, blocking: bool) -> Result<TreeDump> {
    use crate::process::tree;
    let root = crate::process::status::process_to_profile(pid)?;
    let mut members = vec![(root, tree::stat(root).map_or(0, |s| s.ppid))];
    members.extend(tree::descendants(&[root]));
    let mut dump = TreeDump {
        processes: Vec::new(),
        skipped: Vec::new(),
    };
    for (member, ppid) in members {
        match take_attached(member, blocking, DumpExtras::default()) {
            Ok(report) => dump.processes.push(ProcessDump {
                pid: member,
                ppid,
                command: tree::cmdline(member),
                python_version: report.python_version,
                threads: report.threads,
                binary: report.binary,
            }),
            Err(e) => {
                let why = match e {
                    Error::NotPython { .. } => tree::program(member),
                    Error::Zombie { .. } => "zombie".into(),
                    other => other.to_string(),
                };
                dump.skipped.push((member, why));
            }
        }
    }
    if dump.processes.is_empty() {
        let found: Vec<String> = dump
            .skipped
            .iter()
            .take(8)
            .map(|(pid, why)| format!("pid {pid} {why}"))
            .collect();
        return Err(Error::NotPython {
            pid: root,
            found: format!(
                "no process of its tree runs CPython; found {}",
                found.join(", ")
            ),
        });
    }
    Ok(dump)
}

/// What a dump reads beyond the stacks.
#[derive(Debug, Clone, Copy, Default)]
pub struct DumpExtras {
    /// Every frame's variables (`--locals`).
    pub locals: bool,
    /// The asyncio task each thread runs (`--async`).
    pub tasks: bool,
}

/// Reads all threads of `pid` once, and what `extras` asks for (while the process is
/// still paused, when `blocking`).
pub fn take_with(pid: u32, blocking: bool, extras: DumpExtras) -> Result<DumpReport> {
    let pid = crate::process::status::process_to_profile(pid)?;
    take_attached(pid, blocking, extras)
}

fn take_attached(pid: u32, blocking: bool, extras: DumpExtras) -> Result<DumpReport> {
    let interp = Interpreter::attach(pid)?;
    let mut reader = StackReader::new(&interp);
    let mut threads = Vec::new();
    let opts = SampleOptions {
        cpu_time: false,
        cpu_state: true,
        thread_names: true,
        paused: blocking,
    };
    let mut variables = Vec::new();
    let mut running = None;
    let mut all = None;
    {
        // Paused (when blocking) for the stacks and everything read with them.
        let _pause = if blocking {
            let tids = reader.note_cpu_states_before_pause(pid);
            Some(Pause::with_threads(pid, tids)?)
        } else {
            None
        };
        reader.sample(&interp, opts, &mut threads)?;
        if extras.locals {
            variables = read_locals(&interp, &threads, &reader.frame_addresses);
        }
        if extras.tasks {
            let found = crate::python::asyncio::running::running_tasks(&interp);
            if let Ok(Ok(r)) = &found {
                all = Some(read_all_tasks(&interp, &mut reader, r));
            }
            running = Some(found);
        }
    }
    let mut dump = report(&interp, &reader, &threads, blocking, None, variables);
    let (running, asyncio_note) = match running {
        None => (Vec::new(), None),
        Some(Ok(Ok(found))) => (found, None),
        Some(Ok(Err(why))) => (Vec::new(), Some(why.to_string())),
        Some(Err(e)) => (Vec::new(), Some(format!("asyncio tasks unreadable: {e}"))),
    };
    dump.asyncio_note = asyncio_note;
    match all {
        Some(Ok(set)) => {
            dump.tasks = Some(crate::python::asyncio::tree::dump_tasks(
                &set,
                &reader.codes.table,
            ));
            dump.tasks_capped = set.capped;
        }
        Some(Err(why)) => dump.asyncio_note = Some(why),
        None => {}
    }
    for (thread, stack) in dump.threads.iter_mut().zip(&threads) {
        thread.task = running
            .iter()
            .find(|r| r.python_thread_id == stack.python_thread_id)
            .map(|r| DumpTask {
                id: r.id,
                name: r.name.clone(),
                coroutine: r.coroutine.clone(),
            });
    }
    Ok(dump)
}

/// `--async`: every task of the process (what each awaits, where each waits).
fn read_all_tasks(
    interp: &Interpreter,
    reader: &mut StackReader,
    running: &[crate::python::asyncio::running::RunningTask],
) -> std::result::Result<crate::python::asyncio::all_tasks::TaskSet, String> {
    use crate::python::asyncio::all_tasks::AllTasksReader;
    let mut all = AllTasksReader::new(interp).map_err(|why| why.to_string())?;
    match all.read(interp, &mut reader.codes, running, true) {
        Ok(Ok(set)) => Ok(set),
        Ok(Err(why)) => Err(why.to_string()),
        Err(e) => Err(format!("asyncio tasks unreadable: {e}")),
    }
}

/// Reads all threads saved in the core file `path` once. `python_binary` stands in for
/// the file CPython ran from when it has moved since; with `locals`, every frame's
/// variables as the core holds them.
pub fn take_core(path: &Path, python_binary: Option<&Path>, locals: bool) -> Result<DumpReport> {
    let core = CoreFile::open(path)?;
    let image = CoreImage::new(core, python_binary.map(Path::to_path_buf));
    let interp = Interpreter::attach_image(&image)?;
    let mut reader = StackReader::new(&interp);
    let mut threads = Vec::new();
    let opts = SampleOptions {
        cpu_time: false,
        // A core has no scheduler state to ask.
        cpu_state: false,
        thread_names: true,
        // Nothing moves in a core: one read is consistent.
        paused: true,
    };
    reader.sample(&interp, opts, &mut threads)?;
    let variables = if locals {
        read_locals(&interp, &threads, &reader.frame_addresses)
    } else {
        Vec::new()
    };
    let core = Some(path.display().to_string());
    Ok(report(&interp, &reader, &threads, true, core, variables))
}

fn report(
    interp: &Interpreter,
    reader: &StackReader,
    threads: &[ThreadStack],
    blocking: bool,
    core: Option<String>,
    // Each thread's frames' variables (`--locals`), else empty.
    mut variables: Vec<Vec<FrameLocals>>,
) -> DumpReport {
    DumpReport {
        pid: interp.pid,
        python_version: interp.version.to_string(),
        debug_build: interp.version.debug,
        binary: interp.binary.clone(),
        layout_source: interp.layout_source.clone(),
        blocking,
        core,
        asyncio_note: None,
        tasks: None,
        tasks_capped: false,
        threads: threads
            .iter()
            .enumerate()
            .map(|(i, t)| to_dump_thread(t, &reader.codes.table, variables.get_mut(i)))
            .collect(),
    }
}

/// One frame's variables, or why they could not be read.
type FrameLocals = std::result::Result<Vec<DumpLocal>, String>;

/// Every frame's variables, by thread and frame (innermost first).
fn read_locals(
    interp: &Interpreter,
    threads: &[ThreadStack],
    addresses: &[Vec<u64>],
) -> Vec<Vec<FrameLocals>> {
    let layout = match &interp.locals_layout {
        Ok(l) => l,
        Err(why) => {
            let why = format!("locals cannot be read on this CPython: {why}");
            return threads
                .iter()
                .map(|t| t.frames.iter().map(|_| Err(why.clone())).collect())
                .collect();
        }
    };
    let reader = LocalsReader {
        mem: &*interp.mem,
        layout: &interp.layout,
        locals: layout,
        builtins: &interp.builtins,
    };
    threads
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let frames = addresses.get(i).map_or(&[][..], Vec::as_slice);
            if frames.len() != t.frames.len() {
                return t
                    .frames
                    .iter()
                    .map(|_| Err("frame addresses unknown".to_string()))
                    .collect();
            }
            frames
                .iter()
                .map(|&frame| {
                    reader.read(frame).map(|vars| {
                        vars.into_iter()
                            .map(|v| DumpLocal {
                                name: v.name,
                                repr: v.repr,
                                argument: v.argument,
                            })
                            .collect()
                    })
                })
                .collect()
        })
        .collect()
}

fn to_dump_thread(
    t: &ThreadStack,
    codes: &CodeTable,
    mut locals: Option<&mut Vec<FrameLocals>>,
) -> DumpThread {
    DumpThread {
        os_tid: t.os_tid,
        python_thread_id: t.python_thread_id,
        name: t.name.as_deref().map(str::to_string),
        holds_gil: t.holds_gil,
        on_cpu: t.on_cpu,
        error: t.error.as_ref().map(ToString::to_string),
        truncated: t.truncated,
        task: None,
        frames: t
            .frames
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let c = codes.get(f.code);
                let (locals, locals_error) = match locals.as_deref_mut().map(|l| {
                    l.get_mut(i)
                        .map(|r| std::mem::replace(r, Ok(Vec::new())))
                        .unwrap_or_else(|| Err("frame address unknown".into()))
                }) {
                    None => (None, None),
                    Some(Ok(vars)) => (Some(vars), None),
                    Some(Err(why)) => (Some(Vec::new()), Some(why)),
                };
                DumpFrame {
                    function: c.qualname.clone(),
                    name: c.name.clone(),
                    file: c.filename.clone(),
                    line: f.line,
                    first_line: c.first_line,
                    locals,
                    locals_error,
                }
            })
            .collect(),
    }
}

/// The human-readable form. Everything the target chose (names, files, the binary's path,
/// error text quoting them) is shown with control characters escaped.
pub fn render_text(report: &DumpReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let core = report
        .core
        .as_deref()
        .map(|c| format!(" (core file {})", visible(c)))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "Process {}{core}: CPython {} ({})",
        report.pid,
        visible(&report.python_version),
        visible(&report.binary)
    );
    render_threads(&mut s, &report.threads);
    if let Some(tasks) = &report.tasks {
        crate::python::asyncio::tree::render_tree(&mut s, tasks, report.tasks_capped);
    }
    s
}

/// The human-readable form of `dump --subprocesses`: one block per process, headed by its
/// pid, parent, command and CPython version.
pub fn render_tree_text(dump: &TreeDump) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for (i, p) in dump.processes.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "Process {} (parent {}): {}\nCPython {} ({})",
            p.pid,
            p.ppid,
            visible(&crate::recording::command_line(p.pid, &p.command)),
            visible(&p.python_version),
            visible(&p.binary)
        );
        render_threads(&mut s, &p.threads);
    }
    if !dump.skipped.is_empty() {
        let _ = writeln!(
            s,
            "\n{} other processes in the tree are not Python (or could not be read)",
            dump.skipped.len()
        );
    }
    s
}

fn render_threads(s: &mut String, threads: &[DumpThread]) {
    use std::fmt::Write;
    for t in threads {
        let tid = t.os_tid.map_or_else(|| "?".to_string(), |t| t.to_string());
        let name = t
            .name
            .as_deref()
            .map(|n| format!(" \"{}\"", visible(n)))
            .unwrap_or_default();
        let gil = if t.holds_gil { " [holds GIL]" } else { "" };
        let cpu = match t.on_cpu {
            Some(true) => " [on CPU]",
            Some(false) => " [idle]",
            None => "",
        };
        let _ = writeln!(
            s,
            "\nThread {tid}{name}{gil}{cpu} (python id {:#x})",
            t.python_thread_id
        );
        if let Some(e) = &t.error {
            let _ = writeln!(s, "    !! {}", visible(e));
        }
        if let Some(task) = &t.task {
            let _ = writeln!(
                s,
                "    task: {} (coroutine {}, id {:#x})",
                visible(&task.name),
                visible(&task.coroutine),
                task.id
            );
        }
        for f in &t.frames {
            let _ = writeln!(
                s,
                "    {} ({}:{})",
                visible(&f.function),
                visible(&f.file),
                f.line
            );
            if let Some(e) = &f.locals_error {
                let _ = writeln!(s, "        !! {}", visible(e));
            }
            let locals = f.locals.as_deref().unwrap_or_default();
            let (args, others): (Vec<&DumpLocal>, Vec<&DumpLocal>) =
                locals.iter().partition(|v| v.argument);
            for (title, group) in [("Arguments:", args), ("Locals:", others)] {
                if group.is_empty() {
                    continue;
                }
                let _ = writeln!(s, "        {title}");
                for v in group {
                    let _ = writeln!(s, "            {} = {}", visible(&v.name), visible(&v.repr));
                }
            }
        }
        if t.truncated {
            let _ = writeln!(
                s,
                "    ... older frames not shown (stack deeper than {} frames)",
                crate::limits::MAX_STACK_DEPTH
            );
        }
    }
}
