//! `top --subprocesses`: where the tree sampler ([`crate::tree_sampler`]) hands its ticks.
//! Each tick goes to the session's recording (with `-o`) and to [`Ingest`], which keeps
//! every process's code ids apart and tallies their threads into one window; processes
//! joining and ending reach the display with the next window, for the header and the
//! process filter.

use std::sync::mpsc::SyncSender;

use rustc_hash::FxHashMap;

use super::ingest::{Ingest, Part};
use super::model::{self, Update};
use super::{deliver, Msg};
use crate::error::Result;
use crate::recording::{ProcessEnd, ProcessInfo, ProcessTick, RecordingWriter, TickTime};
use crate::tree_sampler::TreeSink;

/// The tree sampler's sink for `top`.
pub(super) struct TreeFeed<'a> {
    pub writer: Option<&'a mut RecordingWriter>,
    pub ingest: &'a mut Ingest,
    pub tx: &'a SyncSender<Msg>,
    pub held: &'a mut Option<Box<Update>>,
    /// The pid of each process id handed out, while it is sampled.
    pids: FxHashMap<u32, u32>,
    /// The next id, when there is no recording to hand them out.
    next_id: u32,
}

impl<'a> TreeFeed<'a> {
    pub fn new(
        writer: Option<&'a mut RecordingWriter>,
        ingest: &'a mut Ingest,
        tx: &'a SyncSender<Msg>,
        held: &'a mut Option<Box<Update>>,
    ) -> TreeFeed<'a> {
        TreeFeed {
            writer,
            ingest,
            tx,
            held,
            pids: FxHashMap::default(),
            next_id: 0,
        }
    }
}

impl TreeSink for TreeFeed<'_> {
    fn process(&mut self, info: &ProcessInfo) -> Result<u32> {
        let id = match self.writer.as_deref_mut() {
            Some(w) => w.define_process(info)?,
            None => {
                self.next_id += 1;
                self.next_id
            }
        };
        self.pids.insert(id, info.pid);
        self.ingest.process_joined(model::ProcessInfo {
            key: id,
            pid: info.pid,
            command: info.command.clone(),
            python_version: info.python_version.clone(),
            running: true,
        });
        Ok(id)
    }

    fn process_end(&mut self, end: &ProcessEnd) -> Result<()> {
        if let Some(w) = self.writer.as_deref_mut() {
            w.end_process(end)?;
        }
        if self.pids.remove(&end.process).is_some() {
            self.ingest.process_ended(end.process);
        }
        Ok(())
    }

    fn tick(&mut self, time: TickTime, parts: &[ProcessTick]) -> Result<()> {
        if let Some(w) = self.writer.as_deref_mut() {
            w.write_processes_tick(time, parts)?;
        }
        let parts: Vec<Part> = parts
            .iter()
            .filter_map(|p| {
                let key = p.process?;
                Some(Part {
                    key,
                    pid: *self.pids.get(&key)?,
                    threads: p.threads,
                    codes: p.codes,
                })
            })
            .collect();
        if let Some(update) = self.ingest.push_parts(time, &parts) {
            deliver(self.tx, self.held, update);
        }
        Ok(())
    }
}
