//! Memory snapshots of a CPython process, for testing the walker without one: exactly the
//! regions a look at a paused process read (attaching included), the few facts
//! attaching found in the binary (runtime and code-type addresses, version, binary name,
//! threads), and what the program said about its own stacks (the stacks scenario's
//! truth). `Snapshot::interpreter` (tests only) rebuilds the interpreter on the saved
//! bytes alone, through the same `_Py_DebugOffsets` and layout code as a live attach.
//!
//! Files under tests/snapshots/ are made by `cargo test --release --test core --
//! --ignored generate_snapshots` (see tests/core.rs) and read by the unit tests below.
//! Format: the line `framescope memory snapshot 1`, a little-endian u32 length and that
//! many bytes of JSON (the facts), a u32 region count, then each region as its u64
//! address, u32 length and bytes.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::interpreter::{Facts, Interpreter};
use super::version::Version;
use super::walker::{SampleOptions, StackReader};
use crate::error::{Error, Result};
#[cfg(test)]
use crate::limits::MAX_SNAPSHOT_BYTES;
use crate::process::image::LiveProcess;
#[cfg(test)]
use crate::process::image::Source;
use crate::process::pause::Pause;
#[cfg(test)]
use crate::process::saved::SavedMemory;
use crate::process::saved::{merge, RecordedImage, Regions};

const MAGIC: &[u8] = b"framescope memory snapshot 1\n";

/// A saved look at one interpreter.
pub struct Snapshot {
    pub(crate) pid: u32,
    pub(crate) tids: Vec<u32>,
    pub(crate) facts: Facts,
    /// What the program reported about its own threads (free-form, from the scenario).
    pub(crate) truth: Value,
    pub regions: Regions,
}

impl Snapshot {
    /// Pauses the live process `pid`, attaches and takes a blocking and a nonblocking
    /// sample with thread names, keeping every byte read.
    pub fn record(pid: u32, truth: Value) -> Result<Snapshot> {
        let live = LiveProcess { pid };
        let tids = crate::process::threads::thread_ids(pid);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let _pause = Pause::with_threads(pid, tids.clone())?;
        let image = RecordedImage {
            inner: &live,
            seen: Arc::clone(&seen),
        };
        let interp = Interpreter::attach_image(&image)?;
        for paused in [true, false] {
            let mut reader = StackReader::new(&interp);
            let opts = SampleOptions {
                thread_names: true,
                paused,
                ..SampleOptions::default()
            };
            reader.sample(&interp, opts, &mut Vec::new())?;
        }
        let facts = Facts {
            runtime: interp.runtime,
            code_type: interp.code_type,
            binary: interp.binary.clone(),
            version: Some(interp.version.clone()),
            debug_build: interp.version.debug,
        };
        drop(interp);
        let regions = merge(std::mem::take(&mut *seen.lock().map_err(|_| {
            Error::Read("the recording of the snapshot was poisoned".into())
        })?));
        Ok(Snapshot {
            pid,
            tids,
            facts,
            truth,
            regions,
        })
    }

    /// The interpreter on the saved memory alone (on `regions` instead, when given: a
    /// test's altered copy).
    #[cfg(test)]
    pub(crate) fn interpreter(&self, regions: Option<Regions>) -> Result<Interpreter> {
        let mem = SavedMemory::new(regions.unwrap_or_else(|| self.regions.clone()));
        let source = Source::Saved {
            what: format!("memory snapshot of process {}", self.pid),
            tids: self.tids.clone(),
        };
        Interpreter::from_facts(self.pid, Box::new(mem), source, self.facts.clone())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let v = self
            .facts
            .version
            .clone()
            .unwrap_or_else(|| Version::new(0, 0, 0));
        let header = json!({
            "pid": self.pid,
            "tids": self.tids,
            "runtime": self.facts.runtime,
            "code_type": self.facts.code_type,
            "binary": self.facts.binary,
            "version": [v.major, v.minor, v.patch],
            "version_suffix": v.suffix,
            "debug_build": self.facts.debug_build,
            "truth": self.truth,
        })
        .to_string();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&(self.regions.len() as u32).to_le_bytes());
        for (addr, bytes) in &self.regions {
            out.extend_from_slice(&addr.to_le_bytes());
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out
    }

    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: &[u8]) -> std::result::Result<Snapshot, String> {
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err("larger than a snapshot can be".into());
        }
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or("not a framescope memory snapshot")?;
        let mut cursor = Cursor(rest);
        let header_len = cursor.u32()? as usize;
        let header: Value = serde_json::from_slice(cursor.take(header_len)?)
            .map_err(|e| format!("snapshot header: {e}"))?;
        let count = cursor.u32()?;
        let mut regions = Vec::new();
        for _ in 0..count {
            let addr = cursor.u64()?;
            let len = cursor.u32()? as usize;
            regions.push((addr, cursor.take(len)?.to_vec()));
        }
        let num = |key: &str| header[key].as_u64().ok_or(format!("snapshot lacks {key}"));
        let v = &header["version"];
        let part = |i: usize| v[i].as_u64().map(|n| n as u32).ok_or("bad version");
        let mut version = Version::new(part(0)?, part(1)?, part(2)?);
        version.suffix = header["version_suffix"].as_str().unwrap_or("").to_string();
        let debug_build = header["debug_build"].as_bool().unwrap_or(false);
        version.debug = debug_build;
        Ok(Snapshot {
            pid: num("pid")? as u32,
            tids: header["tids"]
                .as_array()
                .ok_or("snapshot lacks tids")?
                .iter()
                .filter_map(|t| t.as_u64().map(|t| t as u32))
                .collect(),
            facts: Facts {
                runtime: num("runtime")?,
                code_type: header["code_type"].as_u64(),
                binary: header["binary"].as_str().unwrap_or("?").to_string(),
                version: Some(version),
                debug_build,
            },
            truth: header["truth"].clone(),
            regions,
        })
    }
}

#[cfg(test)]
struct Cursor<'a>(&'a [u8]);

#[cfg(test)]
impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("snapshot cut short".into());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "cut short")?))
    }
}
