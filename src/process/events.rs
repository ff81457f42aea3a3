//! The kernel's process-events connector (netlink `NETLINK_CONNECTOR`, group `CN_IDX_PROC`):
//! a message for every fork, exec and exit on the machine, as it happens. Subscribing needs
//! root (`CAP_NET_ADMIN`) in the initial network namespace; where it is refused the caller
//! falls back to polling `/proc`. This module only opens the socket and decodes events;
//! which of them matter (the descendants of one process) is `discover`'s business.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// `NETLINK_CONNECTOR` and the connector ids of the process-events channel.
const NETLINK_CONNECTOR: libc::c_int = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `enum proc_cn_mcast_op`.
const PROC_CN_MCAST_LISTEN: u32 = 1;
/// `enum what` of `struct proc_event`.
const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// `struct nlmsghdr` and `struct cn_msg` in front of each event.
const NLMSG_HDR: usize = 16;
const CN_MSG_HDR: usize = 20;
/// `struct proc_event` up to its union: what, cpu, timestamp_ns.
const EVENT_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_OVERRUN: u16 = 4;
/// Asked for as the socket's receive buffer, so a burst of forks elsewhere on the machine
/// does not overflow it while the reader sleeps.
const RECEIVE_BUFFER: libc::c_int = 4 << 20;

/// One event about a process (pids and tgids as the initial pid namespace sees them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// `child_pid` is a new task of `child_tgid`, made by a task of `parent_tgid`; a new
    /// process when `child_pid == child_tgid` (else a new thread).
    Fork {
        parent_tgid: u32,
        child_pid: u32,
        child_tgid: u32,
    },
    /// `pid` (a task of process `tgid`) replaced its program; `at_ns` is the kernel's
    /// CLOCK_MONOTONIC time of the exec.
    Exec { pid: u32, tgid: u32, at_ns: u64 },
    /// Task `pid` of `tgid` ended with the raw wait status `status`.
    Exit { pid: u32, tgid: u32, status: u32 },
}

/// A subscription to the process-events connector.
pub struct ProcEvents {
    fd: OwnedFd,
    buf: Vec<u8>,
}

/// What one [`ProcEvents::read`] found besides its events: whether some were lost.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Events were dropped (the socket's buffer overflowed): whatever they told must be
    /// found out another way, by a scan.
    pub lost: bool,
}

impl ProcEvents {
    /// Subscribes; an error when the kernel or our privileges do not allow it.
    pub fn subscribe() -> io::Result<ProcEvents> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                NETLINK_CONNECTOR,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor we just opened and nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: setsockopt reads an int we own; a refusal only leaves the default size.
        unsafe {
            let size = RECEIVE_BUFFER;
            let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            let p = (&size as *const libc::c_int).cast();
            if libc::setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, p, len) != 0 {
                libc::setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, p, len);
            }
        }
        // SAFETY: sockaddr_nl is plain data; zeroed is a valid value of it.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = CN_IDX_PROC;
        // SAFETY: bind reads the address we own, of the size we pass.
        let rc = unsafe {
            libc::bind(
                raw,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut msg = Vec::with_capacity(NLMSG_HDR + CN_MSG_HDR + 4);
        let total = (NLMSG_HDR + CN_MSG_HDR + 4) as u32;
        msg.extend_from_slice(&total.to_ne_bytes());
        msg.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&std::process::id().to_ne_bytes());
        msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
        msg.extend_from_slice(&4u16.to_ne_bytes()); // len
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        // SAFETY: send reads `msg`, which we own, for its length.
        let sent = unsafe { libc::send(raw, msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ProcEvents {
            fd,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Waits up to `timeout` for events, then takes every one already queued, appending
    /// them to `out` in the order the kernel sent them.
    pub fn read(&mut self, timeout: Duration, out: &mut Vec<ProcEvent>) -> io::Result<ReadOutcome> {
        let mut outcome = ReadOutcome::default();
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: poll reads and writes the one pollfd we own.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready <= 0 {
            return Ok(outcome);
        }
        loop {
            // SAFETY: recv writes at most `buf.len()` bytes into the buffer we own.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(outcome),
                    Some(libc::EINTR) => continue,
                    Some(libc::ENOBUFS) => {
                        outcome.lost = true;
                        continue;
                    }
                    _ => return Err(err),
                }
            }
            if n == 0 {
                return Ok(outcome);
            }
            if decode(&self.buf[..n as usize], out) {
                outcome.lost = true;
            }
        }
    }
}

/// Decodes the netlink messages of one datagram into `out`; true when one said events
/// were lost.
fn decode(mut data: &[u8], out: &mut Vec<ProcEvent>) -> bool {
    let u32_at = |d: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(d.get(at..at + 4)?.try_into().ok()?))
    };
    let mut lost = false;
    while data.len() >= NLMSG_HDR {
        let Some(len) = u32_at(data, 0).map(|l| l as usize) else {
            break;
        };
        if len < NLMSG_HDR || len > data.len() {
            break;
        }
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        let msg = &data[..len];
        if kind == NLMSG_OVERRUN {
            lost = true;
        } else if kind != NLMSG_ERROR {
            if let Some(event) = decode_event(&msg[NLMSG_HDR..]) {
                out.push(event);
            }
        }
        let step = (len + 3) & !3;
        data = data.get(step..).unwrap_or(&[]);
    }
    lost
}

/// One `cn_msg` carrying a `proc_event`; `None` for events we do not use (or garbage).
fn decode_event(cn: &[u8]) -> Option<ProcEvent> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(cn.get(at..at + 4)?.try_into().ok()?))
    };
    if u32_at(0)? != CN_IDX_PROC || u32_at(4)? != CN_VAL_PROC {
        return None;
    }
    let ev = CN_MSG_HDR;
    let data = ev + EVENT_HDR;
    let at_ns = u64::from_ne_bytes(cn.get(ev + 8..ev + 16)?.try_into().ok()?);
    match u32_at(ev)? {
        PROC_EVENT_FORK => Some(ProcEvent::Fork {
            parent_tgid: u32_at(data + 4)?,
            child_pid: u32_at(data + 8)?,
            child_tgid: u32_at(data + 12)?,
        }),
        PROC_EVENT_EXEC => Some(ProcEvent::Exec {
            pid: u32_at(data)?,
            tgid: u32_at(data + 4)?,
            at_ns,
        }),
        PROC_EVENT_EXIT => Some(ProcEvent::Exit {
            pid: u32_at(data)?,
            tgid: u32_at(data + 4)?,
            status: u32_at(data + 8)?,
        }),
        _ => None,
    }
}

/// CLOCK_MONOTONIC now, in ns: the clock of [`ProcEvent::Exec`]'s `at_ns`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: u32, fields: &[u32]) -> Vec<u8> {
        let mut cn = Vec::new();
        for v in [CN_IDX_PROC, CN_VAL_PROC, 0, 0] {
            cn.extend_from_slice(&v.to_ne_bytes());
        }
        cn.extend_from_slice(&((EVENT_HDR + fields.len() * 4) as u16).to_ne_bytes());
        cn.extend_from_slice(&0u16.to_ne_bytes());
        cn.extend_from_slice(&what.to_ne_bytes());
        cn.extend_from_slice(&0u32.to_ne_bytes());
        cn.extend_from_slice(&77u64.to_ne_bytes());
        for f in fields {
            cn.extend_from_slice(&f.to_ne_bytes());
        }
        let mut msg = Vec::new();
        msg.extend_from_slice(&((NLMSG_HDR + cn.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&3u16.to_ne_bytes());
        msg.extend_from_slice(&[0; 10]);
        msg.extend_from_slice(&cn);
        msg
    }

    #[test]
    fn decodes_fork_exec_and_exit_and_skips_the_rest() {
        let mut data = message(PROC_EVENT_FORK, &[10, 10, 11, 11]);
        data.extend(message(0x200, &[1, 2]));
        data.extend(message(PROC_EVENT_EXEC, &[11, 11]));
        data.extend(message(PROC_EVENT_EXIT, &[11, 11, 9, 17, 10, 10]));
        let mut out = Vec::new();
        assert!(!decode(&data, &mut out));
        assert_eq!(
            out,
            vec![
                ProcEvent::Fork {
                    parent_tgid: 10,
                    child_pid: 11,
                    child_tgid: 11
                },
                ProcEvent::Exec {
                    pid: 11,
                    tgid: 11,
                    at_ns: 77
                },
                ProcEvent::Exit {
                    pid: 11,
                    tgid: 11,
                    status: 9
                },
            ]
        );
    }

    #[test]
    fn garbage_decodes_to_nothing() {
        let mut out = Vec::new();
        let mut short = message(PROC_EVENT_FORK, &[10, 10, 11, 11]);
        short.truncate(40);
        assert!(!decode(&short, &mut out));
        assert!(!decode(&[0xff; 64], &mut out));
        assert!(!decode(&[], &mut out));
        assert!(out.is_empty());
    }
}
