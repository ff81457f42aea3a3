//! CPython 3.14+: the asyncio offsets the interpreter publishes for external readers. The
//! `_asyncio` extension module carries a `.AsyncioDebug` section (`_AsyncioDebug`, a
//! `_Py_AsyncioModuleDebugOffsets`: thirteen u64s) giving the Task object's size and the
//! offsets of its name and coroutine, and where each thread state keeps the task its loop
//! is running (`asyncio_running_task`). The section's contents are constant, so they are
//! taken from the module's file; the thread states are read from the target.

use crate::process::elf::LoadedElf;
use crate::process::maps::mapped_files;

/// The offsets of `_AsyncioDebug` framescope uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedOffsets {
    /// `sizeof(TaskObj)`.
    pub task_size: u64,
    pub task_name: u64,
    pub task_coro: u64,
    /// `fut_awaited_by`: the task awaiting this one, or a set of them (below).
    pub task_awaited_by: u64,
    /// `fut_awaited_by_is_set` (one byte).
    pub task_awaited_by_is_set: u64,
    /// `task_node`: the task's links in its thread's list of tasks.
    pub task_node: u64,
    /// `sizeof(PyInterpreterState)`.
    pub interp_size: u64,
    /// `PyInterpreterState.asyncio_tasks_head`: the tasks of threads that have ended.
    pub interp_tasks_head: u64,
    /// `sizeof(_PyThreadStateImpl)`.
    pub thread_state_size: u64,
    /// `_PyThreadStateImpl.asyncio_running_task`.
    pub running_task: u64,
    /// `_PyThreadStateImpl.asyncio_tasks_head`: the thread's tasks, a ring of `task_node`s.
    pub thread_tasks_head: u64,
}

use crate::limits::MAX_ASYNC_STRUCT as MAX_STRUCT;

impl PublishedOffsets {
    /// Decodes the section's bytes; `None` when they are not a sane table.
    pub fn decode(bytes: &[u8]) -> Option<PublishedOffsets> {
        let field = |i: usize| -> Option<u64> {
            let b = bytes.get(i * 8..i * 8 + 8)?;
            Some(u64::from_le_bytes(b.try_into().ok()?))
        };
        let offsets = PublishedOffsets {
            task_size: field(0)?,
            task_name: field(1)?,
            task_coro: field(5)?,
            task_awaited_by: field(2)?,
            task_awaited_by_is_set: field(4)?,
            task_node: field(6)?,
            interp_size: field(7)?,
            interp_tasks_head: field(8)?,
            thread_state_size: field(9)?,
            running_task: field(11)?,
            thread_tasks_head: field(12)?,
        };
        let inside = |off: u64, size: u64| size <= MAX_STRUCT && off + 8 <= size;
        (inside(offsets.task_name, offsets.task_size)
            && inside(offsets.task_coro, offsets.task_size)
            && inside(offsets.task_awaited_by, offsets.task_size)
            && inside(offsets.task_awaited_by_is_set, offsets.task_size)
            && inside(offsets.task_node, offsets.task_size)
            && inside(offsets.interp_tasks_head, offsets.interp_size)
            && inside(offsets.thread_tasks_head, offsets.thread_state_size)
            && inside(offsets.running_task, offsets.thread_state_size))
        .then_some(offsets)
    }

    /// The offsets of the `_asyncio` module mapped into `pid` (an extension module, or
    /// built into `binary`, the file holding CPython, when given): `Ok(None)` while it is
    /// not loaded (asyncio not imported yet), `Err` when its table cannot be used.
    pub fn find(pid: u32, binary: Option<&str>) -> Result<Option<PublishedOffsets>, String> {
        let files = mapped_files(pid).map_err(|e| e.to_string())?;
        let module = files
            .iter()
            .find(|f| f.file_name().starts_with("_asyncio.cpython-"));
        let built_in = module.is_none();
        let in_binary = || binary.and_then(|b| files.iter().find(|f| f.path == b));
        let Some(file) = module.or_else(in_binary) else {
            return Ok(None);
        };
        let image = crate::process::image::LiveProcess { pid };
        let bytes =
            crate::process::image::ProcessImage::open(&image, file).map_err(|e| e.to_string())?;
        let elf =
            LoadedElf::parse(&bytes, file, &[], &[".AsyncioDebug"]).map_err(|e| e.to_string())?;
        drop(bytes);
        let Some(bytes) = elf.section_bytes(".AsyncioDebug") else {
            return if built_in {
                Ok(None)
            } else {
                Err(format!("{} has no .AsyncioDebug section", file.path))
            };
        };
        PublishedOffsets::decode(bytes).map(Some).ok_or_else(|| {
            format!(
                "{}: .AsyncioDebug is not a table framescope knows",
                file.path
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_3_14_table_and_refuses_offsets_outside_their_struct() {
        // Debian's 3.14.0 `_asyncio` module's .AsyncioDebug.
        let values: [u64; 13] = [
            168, 136, 96, 108, 109, 128, 152, 225_864, 10_880, 936, 864, 872, 880,
        ];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            PublishedOffsets::decode(&bytes),
            Some(PublishedOffsets {
                task_size: 168,
                task_name: 136,
                task_coro: 128,
                task_awaited_by: 96,
                task_awaited_by_is_set: 109,
                task_node: 152,
                interp_size: 225_864,
                interp_tasks_head: 10_880,
                thread_state_size: 936,
                running_task: 872,
                thread_tasks_head: 880,
            })
        );
        let mut bad = values;
        bad[11] = 936;
        let bytes: Vec<u8> = bad.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(PublishedOffsets::decode(&bytes), None);
        assert_eq!(PublishedOffsets::decode(&bytes[..40]), None);
    }
}
