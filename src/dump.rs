//! `framescope dump`: one look at every thread of a process, printed as text or JSON.
//! The process is paused only while it is read (unless `--nonblocking`).

use serde::Serialize;

use crate::error::Result;
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
    /// `--async`: why no asyncio task could be read, when none could.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asyncio_note: Option<String>,
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
}

/// Reads all threads of `pid` once.
pub fn take(pid: u32, blocking: bool) -> Result<DumpReport> {
    take_with(pid, blocking, false)
}

/// Reads all threads of `pid` once, and with `tasks` the asyncio task each runs.
pub fn take_with(pid: u32, blocking: bool, tasks: bool) -> Result<DumpReport> {
    let pid = crate::process::status::process_to_profile(pid)?;
    let interp = Interpreter::attach(pid)?;
    let mut reader = StackReader::new(&interp);
    let mut threads = Vec::new();
    let mut running = None;
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
        if tasks {
            running = Some(crate::python::asyncio::running::running_tasks(&interp));
        }
    } else {
        reader.sample(&interp, opts, &mut threads)?;
        if tasks {
            running = Some(crate::python::asyncio::running::running_tasks(&interp));
        }
    }
    let (running, asyncio_note) = match running {
        None => (Vec::new(), None),
        Some(Ok(Ok(found))) => (found, None),
        Some(Ok(Err(why))) => (Vec::new(), Some(why.to_string())),
        Some(Err(e)) => (Vec::new(), Some(format!("asyncio tasks unreadable: {e}"))),
    };
    Ok(DumpReport {
        pid,
        python_version: interp.version.to_string(),
        debug_build: interp.version.debug,
        binary: interp.binary.clone(),
        layout_source: interp.layout_source.clone(),
        blocking,
        asyncio_note,
        threads: threads
            .iter()
            .map(|t| {
                let mut d = to_dump_thread(t, &reader.codes.table);
                d.task = running
                    .iter()
                    .find(|r| r.python_thread_id == t.python_thread_id)
                    .map(|r| DumpTask {
                        id: r.id,
                        name: r.name.clone(),
                        coroutine: r.coroutine.clone(),
                    });
                d
            })
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
        task: None,
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
    if let Some(note) = &report.asyncio_note {
        let _ = writeln!(s, "asyncio: {}", visible(note));
    }
    for t in &report.threads {
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
        }
        if t.truncated {
            let _ = writeln!(
                s,
                "    ... older frames not shown (stack deeper than {} frames)",
                crate::python::MAX_DEPTH
            );
        }
    }
    s
}
