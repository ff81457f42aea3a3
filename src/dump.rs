//! `framescope dump`: one look at every thread of a process (or, with `--subprocesses`,
//! of every Python process of its tree), printed as text or JSON. Each process is paused
//! only while it is read (unless `--nonblocking`).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::escape::visible;
use crate::process::pause::Pause;
use crate::python::{CodeTable, Interpreter, SampleOptions, StackReader, ThreadStack};

/// The JSON document `dump --json` prints (documented in README).
#[derive(Serialize, Debug)]
pub struct DumpReport {
    pub pid: u32,
    pub python_version: String,
    pub debug_build: bool,
    pub binary: String,
    pub layout_source: String,
    pub blocking: bool,
    pub threads: Vec<DumpThread>,
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
        match take_attached(member, blocking) {
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

/// Reads all threads of `pid` once.
pub fn take(pid: u32, blocking: bool) -> Result<DumpReport> {
    let pid = crate::process::status::process_to_profile(pid)?;
    take_attached(pid, blocking)
}

fn take_attached(pid: u32, blocking: bool) -> Result<DumpReport> {
    let interp = Interpreter::attach(pid)?;
    let mut reader = StackReader::new(&interp);
    let mut threads = Vec::new();
    let opts = SampleOptions {
        cpu_time: false,
        cpu_state: true,
        thread_names: true,
        paused: blocking,
    };
    if blocking {
        let tids = reader.note_cpu_states_before_pause(pid);
        let _pause = Pause::with_threads(pid, tids)?;
        reader.sample(&interp, opts, &mut threads)?;
    } else {
        reader.sample(&interp, opts, &mut threads)?;
    }
    Ok(DumpReport {
        pid,
        python_version: interp.version.to_string(),
        debug_build: interp.version.debug,
        binary: interp.binary.clone(),
        layout_source: interp.layout_source.clone(),
        blocking,
        threads: threads
            .iter()
            .map(|t| to_dump_thread(t, &reader.codes.table))
            .collect(),
    })
}

fn to_dump_thread(t: &ThreadStack, codes: &CodeTable) -> DumpThread {
    DumpThread {
        os_tid: t.os_tid,
        python_thread_id: t.python_thread_id,
        name: t.name.as_deref().map(str::to_string),
        holds_gil: t.holds_gil,
        on_cpu: t.on_cpu,
        error: t.error.clone(),
        truncated: t.truncated,
        frames: t
            .frames
            .iter()
            .map(|f| {
                let c = codes.get(f.code);
                DumpFrame {
                    function: c.qualname.clone(),
                    name: c.name.clone(),
                    file: c.filename.clone(),
                    line: f.line,
                    first_line: c.first_line,
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
    let _ = writeln!(
        s,
        "Process {}: CPython {} ({})",
        report.pid,
        visible(&report.python_version),
        visible(&report.binary)
    );
    render_threads(&mut s, &report.threads);
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
        for f in &t.frames {
            let _ = writeln!(
                s,
                "    {} ({}:{})",
                visible(&f.function),
                visible(&f.file),
                f.line
            );
        }
        if t.truncated {
            let _ = writeln!(
                s,
                "    ... older frames not shown (stack deeper than {} frames)",
                crate::python::MAX_DEPTH
            );
        }
    }
}
