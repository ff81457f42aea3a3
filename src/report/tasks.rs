//! `--async` views: each sample's stack rooted at the asyncio task its thread was running.
//!
//! A sample with a task gets a frame `task: NAME` (or `task: COROUTINE` with
//! `--tasks-by coroutine`) inserted just outside the task's own coroutine frame: the
//! event loop's frames (`run_forever`, `_run_once`, `Handle._run`, ...) stay above it, the
//! coroutine chain the task runs below it. When the coroutine's frame is not on the stack
//! (the loop is stepping the task in C code, its name is unknown, or the stack was
//! truncated) the task frame goes innermost, below the event loop's frames. Samples
//! without a task are left as they are. This rewrites the recording's stacks once, so
//! every format (table, flamegraph, speedscope, collapsed) splits work per task alike.
//! Task names come from the target: the formats escape them like every other name.

use super::profile::TasksBy;
use rustc_hash::FxHashMap;

use crate::recording::{Frame, FrameId, Recording, StackId, StackNode, StringId};

/// Prefix of the frames that stand for tasks.
pub const TASK_PREFIX: &str = "task: ";

/// `rec` with every sample's stack rooted at its task.
pub fn root_at_tasks(rec: &Recording, by: TasksBy) -> Recording {
    let mut out = rec.clone();
    if rec.tasks.is_empty() {
        return out;
    }
    let mut strings: FxHashMap<String, StringId> = FxHashMap::default();
    let empty = intern(&mut out, &mut strings, "");
    // Per task: its frame, and the qualname its coroutine frame carries.
    let mut task_frames: FxHashMap<String, FrameId> = FxHashMap::default();
    let mut per_task: Vec<(FrameId, Option<StringId>)> = Vec::with_capacity(rec.tasks.len());
    for task in &rec.tasks {
        let coroutine = task.coroutine.map(|c| rec.string(c));
        let shown = match (by, coroutine) {
            (TasksBy::Coroutine, Some(c)) => c,
            _ => rec.string(task.name),
        };
        let label = format!("{TASK_PREFIX}{shown}");
        let frame = match task_frames.get(&label) {
            Some(f) => *f,
            None => {
                let text = intern(&mut out, &mut strings, &label);
                out.frames.push(Frame {
                    qualname: text,
                    name: text,
                    filename: empty,
                    first_line: 0,
                    line: 0,
                });
                let f = FrameId((out.frames.len() - 1) as u32);
                task_frames.insert(label, f);
                f
            }
        };
        per_task.push((frame, task.coroutine));
    }

    // New stacks, keyed by (original stack, task frame).
    let mut made: FxHashMap<(StackId, FrameId, Option<StringId>), StackId> = FxHashMap::default();
    let mut nodes: FxHashMap<(Option<StackId>, FrameId), StackId> = FxHashMap::default();
    let mut path: Vec<StackId> = Vec::new();
    for i in 0..out.samples.len() {
        let sample = out.samples[i];
        let (Some(task), Some(stack)) = (sample.task, sample.stack) else {
            continue;
        };
        let (task_frame, coroutine) = per_task[task.0 as usize];
        if let Some(s) = made.get(&(stack, task_frame, coroutine)) {
            out.samples[i].stack = Some(*s);
            continue;
        }
        // The path from the outermost frame down to the sample's frame.
        path.clear();
        let mut at = Some(stack);
        while let Some(s) = at {
            path.push(s);
            at = rec.stack(s).parent;
        }
        path.reverse();
        let split = coroutine
            .map(|c| rec.string(c))
            .and_then(|c| {
                path.iter()
                    .position(|s| rec.string(rec.frame(rec.stack(*s).frame).qualname) == c)
            })
            .unwrap_or(path.len());
        // Above the split the stacks are the original ones; then the task; then the rest.
        let mut parent = if split == 0 {
            None
        } else {
            Some(path[split - 1])
        };
        for frame in
            std::iter::once(task_frame).chain(path[split..].iter().map(|s| rec.stack(*s).frame))
        {
            parent = Some(node(&mut out, &mut nodes, parent, frame));
        }
        if let Some(s) = parent {
            made.insert((stack, task_frame, coroutine), s);
            out.samples[i].stack = Some(s);
        }
    }
    out
}

/// The stack `frame` called from `parent`, made once.
fn node(
    out: &mut Recording,
    nodes: &mut FxHashMap<(Option<StackId>, FrameId), StackId>,
    parent: Option<StackId>,
    frame: FrameId,
) -> StackId {
    *nodes.entry((parent, frame)).or_insert_with(|| {
        let depth = parent.map_or(0, |p| out.stack(p).depth) + 1;
        out.stacks.push(StackNode {
            parent,
            frame,
            depth,
        });
        StackId((out.stacks.len() - 1) as u32)
    })
}

fn intern(out: &mut Recording, strings: &mut FxHashMap<String, StringId>, text: &str) -> StringId {
    *strings.entry(text.to_string()).or_insert_with(|| {
        out.strings.push(text.to_string());
        StringId((out.strings.len() - 1) as u32)
    })
}
