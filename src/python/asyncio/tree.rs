//! `dump --async`: every task as `dump` shows it (JSON fields, frames with file and line),
//! and the text form, a tree of which task awaits which: each task under the tasks that
//! await it, roots first. Names are escaped at the text edge.

use super::all_tasks::TaskSet;
use crate::escape::visible;
use crate::python::stack::CodeTable;
use serde::Serialize;

/// One task of `dump --async --json`.
#[derive(Serialize, Debug, Clone)]
pub struct DumpAsyncTask {
    /// The task object's address (`id(task)`).
    pub id: u64,
    pub name: String,
    /// The task's coroutine's qualified name.
    pub coroutine: String,
    /// "running" or "waiting".
    pub state: &'static str,
    /// The Python thread id running it (running tasks only).
    pub thread: Option<u64>,
    /// Where it waits, innermost first (empty for a running task: see its thread).
    pub frames: Vec<TaskFrame>,
    /// Ids of the tasks it awaits, and of those awaiting it.
    pub awaits: Vec<u64>,
    pub awaited_by: Vec<u64>,
}

/// One coroutine frame of a waiting task.
#[derive(Serialize, Debug, Clone)]
pub struct TaskFrame {
    pub function: String,
    pub name: String,
    pub file: String,
    pub line: u32,
    pub first_line: u32,
}

/// The tasks of `set` in the dump's terms.
pub fn dump_tasks(set: &TaskSet, codes: &CodeTable) -> Vec<DumpAsyncTask> {
    set.tasks
        .iter()
        .map(|t| DumpAsyncTask {
            id: t.id,
            name: t.name.clone(),
            coroutine: t.coroutine.clone(),
            state: if t.running_on.is_some() {
                "running"
            } else {
                "waiting"
            },
            thread: t.running_on,
            frames: t
                .frames
                .iter()
                .map(|f| {
                    let c = codes.get(f.code);
                    TaskFrame {
                        function: c.qualname.clone(),
                        name: c.name.clone(),
                        file: c.filename.clone(),
                        line: f.line,
                        first_line: c.first_line,
                    }
                })
                .collect(),
            awaits: t.awaits.clone(),
            awaited_by: t.awaited_by.clone(),
        })
        .collect()
}

use crate::limits::MAX_TASK_TREE_DEPTH as MAX_TREE_DEPTH;

/// The text tree: tasks nobody awaits at the top, each followed by the tasks it awaits,
/// indented. A task awaited by several shows under each.
pub fn render_tree(s: &mut String, tasks: &[DumpAsyncTask], capped: bool) {
    use std::fmt::Write;
    let running = tasks.iter().filter(|t| t.thread.is_some()).count();
    let _ = writeln!(
        s,
        "\nasyncio tasks: {} ({running} running, {} waiting){}",
        tasks.len(),
        tasks.len() - running,
        if capped {
            format!(" (capped: only the first {} read)", tasks.len())
        } else {
            String::new()
        }
    );
    let index: rustc_hash::FxHashMap<u64, usize> =
        tasks.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let mut shown = vec![false; tasks.len()];
    let mut path = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        if t.awaited_by.iter().all(|p| !index.contains_key(p)) {
            render_task(s, tasks, &index, i, &mut path, &mut shown);
        }
    }
    // Tasks only on cycles (or under a cut) have no root: shown at the top.
    for i in 0..tasks.len() {
        if !shown[i] {
            render_task(s, tasks, &index, i, &mut path, &mut shown);
        }
    }
}

fn render_task(
    s: &mut String,
    tasks: &[DumpAsyncTask],
    index: &rustc_hash::FxHashMap<u64, usize>,
    i: usize,
    path: &mut Vec<usize>,
    shown: &mut [bool],
) {
    use std::fmt::Write;
    let t = &tasks[i];
    let pad = "    ".repeat(path.len());
    let state = match t.thread {
        Some(th) => format!("running on thread {th:#x}"),
        None => "waiting".to_string(),
    };
    let _ = writeln!(
        s,
        "{pad}{}task {} (coroutine {}, id {:#x}) {state}",
        if path.is_empty() { "" } else { "└ awaits " },
        visible(&t.name),
        visible(&t.coroutine),
        t.id
    );
    shown[i] = true;
    for f in &t.frames {
        let _ = writeln!(
            s,
            "{pad}      at {} ({}:{})",
            visible(&f.function),
            visible(&f.file),
            f.line
        );
    }
    if path.contains(&i) {
        let _ = writeln!(s, "{pad}    (awaits a task above it: a cycle)");
        return;
    }
    if path.len() >= MAX_TREE_DEPTH {
        let _ = writeln!(s, "{pad}    (deeper tasks not shown)");
        return;
    }
    path.push(i);
    for child in &t.awaits {
        if let Some(c) = index.get(child) {
            render_task(s, tasks, index, *c, path, shown);
        }
    }
    path.pop();
}
