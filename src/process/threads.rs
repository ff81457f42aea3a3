//! The target's OS threads as the kernel sees them: their ids, and whether each is on a
//! CPU (running or runnable) right now. The `/proc/PID/task/TID/stat` files are kept open
//! and re-read with `pread`, so asking again costs one syscall, not an open.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Kernel thread ids of `pid` (empty when the process is gone).
pub fn thread_ids(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut ids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// Open `stat` files of the target's threads, for repeated on-CPU checks.
pub struct CpuStates {
    pid: u32,
    files: HashMap<u32, File>,
    buf: Vec<u8>,
}

impl CpuStates {
    pub fn new(pid: u32) -> CpuStates {
        CpuStates {
            pid,
            files: HashMap::new(),
            buf: vec![0; 512],
        }
    }

    /// `Some(true)` when thread `tid` is running or runnable (state `R`), `Some(false)`
    /// when it sleeps or waits, `None` when the thread is gone.
    pub fn on_cpu(&mut self, tid: u32) -> Option<bool> {
        if !self.files.contains_key(&tid) {
            let file = File::open(format!("/proc/{}/task/{tid}/stat", self.pid)).ok()?;
            self.files.insert(tid, file);
        }
        let file = self.files.get(&tid)?;
        let n = match file.read_at(&mut self.buf, 0) {
            Ok(n) if n > 0 => n,
            _ => {
                self.files.remove(&tid);
                return None;
            }
        };
        state_is_running(&self.buf[..n])
    }

    /// Forgets threads that are not in `alive`, closing their files.
    pub fn retain(&mut self, alive: impl Fn(u32) -> bool) {
        self.files.retain(|tid, _| alive(*tid));
    }
}

/// The state letter follows the last ')' of the command name in a stat line.
fn state_is_running(stat: &[u8]) -> Option<bool> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let state = *stat.get(close + 2)?;
    Some(state == b'R')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_state_even_with_parens_in_the_name() {
        assert_eq!(state_is_running(b"12 (a) b) R 1 2"), Some(true));
        assert_eq!(state_is_running(b"12 (python3) S 1 2"), Some(false));
        assert_eq!(state_is_running(b"garbage"), None);
    }

    #[test]
    fn our_own_thread_is_on_cpu() {
        let pid = std::process::id();
        let mut states = CpuStates::new(pid);
        let tid = unsafe { libc::gettid() } as u32;
        assert!(thread_ids(pid).contains(&tid));
        assert_eq!(states.on_cpu(tid), Some(true));
    }
}
