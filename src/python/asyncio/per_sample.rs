//! `record --async`: the task each sampled thread was running, looked up once per sample
//! through a [`TaskReader`] (which remembers what does not change between samples), and
//! matched to the sampled threads by Python thread id. Why no task can be read is said
//! once; a program that has not imported asyncio yet is asked again every
//! [`RETRY_SAMPLES`] samples, not at every one.

use super::running::{NoTasks, RunningTask, TaskReader};
use crate::python::interpreter::Interpreter;
use crate::python::stack::ThreadStack;
use crate::recording::TickTask;

/// Samples between two looks for `asyncio.tasks` in a program that has not imported it.
pub const RETRY_SAMPLES: u64 = 256;

/// Per-sample task lookups for one recording.
pub struct SampleTasks {
    reader: Option<TaskReader>,
    running: Vec<RunningTask>,
    wait: u64,
    noted: bool,
    quiet: bool,
}

impl SampleTasks {
    /// Lookups for `interp`; `quiet` keeps the one-time note off standard error.
    pub fn new(interp: &Interpreter, quiet: bool) -> SampleTasks {
        let mut tasks = SampleTasks {
            reader: None,
            running: Vec::new(),
            wait: 0,
            noted: false,
            quiet,
        };
        match TaskReader::new(interp) {
            Ok(r) => tasks.reader = Some(r),
            Err(why) => tasks.note(&why),
        }
        tasks
    }

    fn note(&mut self, why: &NoTasks) {
        if !self.noted && !self.quiet {
            eprintln!("framescope: --async: {why}");
        }
        self.noted = true;
    }

    /// Reads the running tasks now; then [`SampleTasks::of`] gives each thread's.
    pub fn look(&mut self, interp: &Interpreter) {
        self.running.clear();
        let Some(reader) = self.reader.as_mut() else {
            return;
        };
        if self.wait > 0 {
            self.wait -= 1;
            return;
        }
        match reader.read(interp) {
            Ok(Ok(running)) => self.running = running,
            Ok(Err(NoTasks::NotImported)) => self.wait = RETRY_SAMPLES,
            Ok(Err(why)) => self.note(&why),
            // The dict changed under the read: this sample goes without a task.
            Err(_) => {}
        }
    }

    /// The task each of `threads` was running at the last look.
    pub fn of<'a>(&'a self, threads: &[ThreadStack], out: &mut Vec<Option<TickTask<'a>>>) {
        out.clear();
        out.extend(threads.iter().map(|t| {
            self.running
                .iter()
                .find(|r| r.python_thread_id == t.python_thread_id)
                .map(|r| TickTask {
                    address: r.id,
                    name: &r.name,
                    coroutine: &r.coroutine,
                })
        }));
    }
}
