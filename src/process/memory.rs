//! Where the walker's bytes come from. [`Memory`] is the one seam every read of the
//! target goes through: a live process ([`RemoteMemory`], `process_vm_readv`, one syscall
//! per call, counted so the sampler can report reads per sample) or a saved image of one
//! (a core file, a memory snapshot in a test). Many regions in one call go through
//! [`super::Gather`], which builds on [`Memory::readv`]. Knows nothing about Python.

use std::cell::Cell;

/// Why a remote read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The process is gone (ESRCH).
    Gone,
    /// Not allowed to read it (EPERM).
    Permission,
    /// The address is not mapped in the target (EFAULT, or a short read).
    BadAddress(u64),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Gone => write!(f, "the process exited"),
            ReadError::Permission => write!(f, "permission denied"),
            ReadError::BadAddress(a) => write!(f, "address {a:#x} is not readable"),
        }
    }
}

/// Largest number of iovecs one `process_vm_readv` accepts (IOV_MAX on Linux).
pub(crate) const MAX_IOVECS: usize = 1024;

/// The memory of one process, live or saved. Implementations provide the vectored read;
/// every other read is built on it here, so a new source of memory is one method.
pub trait Memory {
    /// How many read calls (syscalls, for a live process) were made so far.
    fn syscalls(&self) -> u64;

    /// Reads `remotes` into `locals` in order, like `process_vm_readv`: the bytes
    /// transferred, stopping at the first byte that is not mapped; `None` when the first
    /// remote region is not mapped at all; an error that stops all reading (the process
    /// is gone, or may not be read).
    ///
    /// # Safety
    /// Every local iovec must point into a live buffer, exclusively borrowed for the call,
    /// of at least its stated length.
    unsafe fn readv(
        &self,
        locals: &[libc::iovec],
        remotes: &[libc::iovec],
    ) -> Result<Option<usize>, ReadError>;

    /// Fills `buf` from `addr`; a short read is an error.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let got = self.read_partial(addr, buf)?;
        if got == buf.len() {
            Ok(())
        } else {
            Err(ReadError::BadAddress(addr + got as u64))
        }
    }

    /// Reads as much of `buf` as is mapped starting at `addr`; returns the byte count.
    fn read_partial(&self, addr: u64, buf: &mut [u8]) -> Result<usize, ReadError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: `local` points into `buf`, borrowed mutably for this call.
        match unsafe { self.readv(std::slice::from_ref(&local), std::slice::from_ref(&remote)) }? {
            Some(n) => Ok(n),
            None => Err(ReadError::BadAddress(addr)),
        }
    }

    fn read_u64(&self, addr: u64) -> Result<u64, ReadError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn read_u32(&self, addr: u64) -> Result<u32, ReadError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads every region of `g`; returns how many regions were read completely. Errors
    /// only when the process is gone or may not be read; an unmapped region is just left
    /// unfilled.
    fn gather(&self, g: &mut super::Gather) -> Result<usize, ReadError> {
        super::gather::fill(self, g)
    }
}

/// A boxed memory reads like what it holds (an `Interpreter` owns its memory boxed).
impl<M: Memory + ?Sized> Memory for Box<M> {
    fn syscalls(&self) -> u64 {
        (**self).syscalls()
    }

    unsafe fn readv(
        &self,
        locals: &[libc::iovec],
        remotes: &[libc::iovec],
    ) -> Result<Option<usize>, ReadError> {
        // SAFETY: the same contract, passed on.
        unsafe { (**self).readv(locals, remotes) }
    }
}

/// A live process's memory, read with `process_vm_readv`.
pub struct RemoteMemory {
    pid: libc::pid_t,
    syscalls: Cell<u64>,
}

impl RemoteMemory {
    pub fn new(pid: u32) -> RemoteMemory {
        RemoteMemory {
            pid: pid as libc::pid_t,
            syscalls: Cell::new(0),
        }
    }
}

impl Memory for RemoteMemory {
    fn syscalls(&self) -> u64 {
        self.syscalls.get()
    }

    unsafe fn readv(
        &self,
        locals: &[libc::iovec],
        remotes: &[libc::iovec],
    ) -> Result<Option<usize>, ReadError> {
        self.syscalls.set(self.syscalls.get() + 1);
        // SAFETY: the caller's local iovecs point into live, exclusively borrowed buffers
        // of the stated lengths (this method's contract); remote ones are only
        // interpreted by the kernel.
        let n = unsafe {
            libc::process_vm_readv(
                self.pid,
                locals.as_ptr(),
                locals.len() as libc::c_ulong,
                remotes.as_ptr(),
                remotes.len() as libc::c_ulong,
                0,
            )
        };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        match errno_to_error(0) {
            ReadError::BadAddress(_) => Ok(None),
            other => Err(other),
        }
    }
}

/// Bytes saved at their addresses (a memory snapshot, a core file), served by [`Replay`].
pub trait SavedBytes {
    /// Copies what is saved from `addr` on into `buf`, up to the first byte not saved;
    /// returns how many bytes that was.
    fn read_contiguous(&self, addr: u64, buf: &mut [u8]) -> usize;
}

/// A [`Memory`] over saved bytes: reads them the way `process_vm_readv` reads a live
/// process ([`readv_saved`]), and counts each read as the syscall it stands for.
pub struct Replay<S> {
    saved: S,
    reads: Cell<u64>,
}

impl<S> Replay<S> {
    pub fn of(saved: S) -> Replay<S> {
        Replay {
            saved,
            reads: Cell::new(0),
        }
    }
}

impl<S: SavedBytes> Memory for Replay<S> {
    fn syscalls(&self) -> u64 {
        self.reads.get()
    }

    unsafe fn readv(
        &self,
        locals: &[libc::iovec],
        remotes: &[libc::iovec],
    ) -> Result<Option<usize>, ReadError> {
        self.reads.set(self.reads.get() + 1);
        // SAFETY: the caller's contract, passed on.
        unsafe {
            readv_saved(locals, remotes, |addr, buf| {
                self.saved.read_contiguous(addr, buf)
            })
        }
    }
}

/// [`Memory::readv`] for memory held locally (a core file, a snapshot): `read_at(addr,
/// buf)` fills as much of `buf` as is saved from `addr` on and says how much. Regions are
/// transferred in order, like `process_vm_readv`, stopping at the first byte not saved.
///
/// # Safety
/// The contract of [`Memory::readv`]: every local iovec points into a live buffer,
/// exclusively borrowed for the call, of at least its stated length.
pub(crate) unsafe fn readv_saved(
    locals: &[libc::iovec],
    remotes: &[libc::iovec],
    mut read_at: impl FnMut(u64, &mut [u8]) -> usize,
) -> Result<Option<usize>, ReadError> {
    let (mut local, mut local_used, mut total) = (0usize, 0usize, 0usize);
    for remote in remotes {
        let mut addr = remote.iov_base as u64;
        let mut left = remote.iov_len;
        while left > 0 {
            while locals.get(local).is_some_and(|l| local_used == l.iov_len) {
                local += 1;
                local_used = 0;
            }
            let Some(l) = locals.get(local) else {
                return Ok(Some(total));
            };
            let n = left.min(l.iov_len - local_used);
            // SAFETY: `local_used + n <= l.iov_len`, inside the caller's buffer (contract).
            let buf = unsafe {
                std::slice::from_raw_parts_mut(l.iov_base.cast::<u8>().add(local_used), n)
            };
            let got = read_at(addr, buf).min(n);
            total += got;
            local_used += got;
            addr = addr.wrapping_add(got as u64);
            left -= got;
            if got < n {
                return Ok((total > 0).then_some(total));
            }
        }
    }
    Ok(Some(total))
}

fn errno_to_error(addr: u64) -> ReadError {
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ESRCH) => ReadError::Gone,
        Some(libc::EPERM) | Some(libc::EACCES) => ReadError::Permission,
        _ => ReadError::BadAddress(addr),
    }
}

/// Little-endian field access into a local copy of remote memory. Out-of-range offsets
/// read as zero, which the callers treat as a null pointer: garbage in, rejection out.
pub trait Bytes {
    fn u64_at(&self, offset: usize) -> u64;
    fn u32_at(&self, offset: usize) -> u32;
    fn i32_at(&self, offset: usize) -> i32 {
        self.u32_at(offset) as i32
    }
    fn u8_at(&self, offset: usize) -> u8;
}

impl Bytes for [u8] {
    fn u64_at(&self, offset: usize) -> u64 {
        self.get(offset..offset + 8)
            .and_then(|s| s.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    }
    fn u32_at(&self, offset: usize) -> u32 {
        self.get(offset..offset + 4)
            .and_then(|s| s.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    }
    fn u8_at(&self, offset: usize) -> u8 {
        self.get(offset).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory_singly_and_in_batches() {
        let mem = RemoteMemory::new(std::process::id());
        let a: [u8; 5] = *b"hello";
        let b: u64 = 0x1122_3344_5566_7788;
        let mut out = [0u8; 5];
        mem.read(a.as_ptr() as u64, &mut out).unwrap();
        assert_eq!(&out, b"hello");
        assert_eq!(mem.read_u64(&b as *const u64 as u64).unwrap(), b);
        let before = mem.syscalls();
        let mut g = crate::process::Gather::separate(0);
        let x = g.push(a.as_ptr() as u64, a.len());
        let y = g.push(&b as *const u64 as u64, 8);
        assert_eq!(mem.gather(&mut g).unwrap(), 2);
        assert_eq!(mem.syscalls() - before, 1);
        assert_eq!(g.get(x), Some(&b"hello"[..]));
        assert_eq!(g.get(y).map(|y| y.u64_at(0)), Some(b));
    }

    #[test]
    fn bad_address_is_an_error_not_a_crash() {
        let mem = RemoteMemory::new(std::process::id());
        let mut out = [0u8; 8];
        assert!(matches!(
            mem.read(8, &mut out),
            Err(ReadError::BadAddress(_))
        ));
        let good = [1u8; 8];
        let mut g = crate::process::Gather::separate(1);
        let ok = g.push(good.as_ptr() as u64, 8);
        let bad = g.push(16, 8);
        assert_eq!(mem.gather(&mut g).unwrap(), 1);
        assert_eq!(g.get(ok), Some(&good[..]));
        assert_eq!(g.get(bad), None);
    }
}
