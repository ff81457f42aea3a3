//! The kernel thread id of a ≤3.10 thread. Those thread states have no native thread id;
//! their `thread_id` is the address of glibc's `struct pthread`, which holds the tid at a
//! fixed offset. The offset is found once, by looking in one thread's `struct pthread`
//! for a word equal to one of the process's thread ids, then read with each sample.

use crate::process::Bytes;
use crate::python::interpreter::Interpreter;

/// glibc's offset of `tid` in `struct pthread` on x86-64, tried first when calibrating.
const GLIBC_PTHREAD_TID_OFFSET: u64 = 0x2d0;
/// How much of a `struct pthread` is searched for the tid.
const PTHREAD_SEARCHED: usize = 2048;

/// Where the tid sits in `struct pthread`, once calibrated.
#[derive(Debug, Default)]
pub(super) struct PthreadTid {
    offset: Option<u64>,
}

impl PthreadTid {
    /// Where the kernel tid of a ≤3.10 thread is (0: the thread state has it, or
    /// unknown yet).
    pub(super) fn addr(&self, native_tid: Option<u32>, pthread: u64) -> u64 {
        match (native_tid, self.offset) {
            (None, Some(off)) if pthread != 0 => pthread + off,
            _ => 0,
        }
    }

    /// Reads the tid out of the `struct pthread` at `pthread`, calibrating the offset
    /// first if this is the first time.
    pub(super) fn read(&mut self, interp: &Interpreter, pthread: u64) -> Option<u32> {
        if pthread == 0 {
            return None;
        }
        if self.offset.is_none() {
            self.offset = calibrate(interp, pthread);
        }
        let off = self.offset?;
        interp.mem.read_u32(pthread + off).ok().filter(|t| *t != 0)
    }
}

/// The offset in the `struct pthread` at `pthread` of a word that is one of the
/// process's thread ids: glibc's usual one if it matches, else the first that does.
fn calibrate(interp: &Interpreter, pthread: u64) -> Option<u64> {
    // A live process's threads from /proc, a core's from its notes.
    let tids = interp.source.thread_ids(interp.pid);
    let mut buf = vec![0u8; PTHREAD_SEARCHED];
    interp.mem.read(pthread, &mut buf).ok()?;
    let matches = |off: u64| tids.contains(&buf.u32_at(off as usize));
    if matches(GLIBC_PTHREAD_TID_OFFSET) {
        return Some(GLIBC_PTHREAD_TID_OFFSET);
    }
    (0..buf.len() as u64 - 4)
        .step_by(4)
        .find(|o| matches(*o) && buf.u32_at(*o as usize) > 1)
}
