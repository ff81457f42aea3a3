//! SIGINT and SIGTERM while `record` runs. Either stops the sampling (everything recorded
//! so far is written). The handler also notes whether the signal was meant for framescope
//! alone: a Ctrl-C typed at the terminal reaches the whole foreground process group, the
//! command included, and the kernel marks it `SI_KERNEL`; a `kill` aimed at framescope's
//! pid does not reach the command, so `record` passes that one on (see record.rs).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use crate::error::{Error, Result};

static STOP: AtomicBool = AtomicBool::new(false);
static RECEIVED: AtomicU32 = AtomicU32::new(0);
/// The last signal that did not come from the terminal, or 0.
static DIRECT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // Only atomics here: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
    RECEIVED.fetch_add(1, Ordering::SeqCst);
    let code = if info.is_null() {
        0
    } else {
        // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t; this one is not null.
        unsafe { (*info).si_code }
    };
    if code != libc::SI_KERNEL {
        DIRECT.store(signal, Ordering::SeqCst);
    }
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() -> Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; we fill in the handler, flags and an empty
        // mask, and the handler touches only atomics.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal
                as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(Error::Read(format!(
                "cannot install a signal handler: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// Set once SIGINT or SIGTERM arrived.
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

/// How many SIGINT/SIGTERM arrived so far.
pub fn received() -> u32 {
    RECEIVED.load(Ordering::SeqCst)
}

/// The signal to pass on to a started command: the last one sent to framescope alone,
/// not typed at the terminal (which the command got itself).
pub fn to_pass_on() -> Option<libc::c_int> {
    match DIRECT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// `SIGTERM`, `SIGINT`, or the number.
pub fn name(signal: libc::c_int) -> String {
    match signal {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGKILL => "SIGKILL".into(),
        s => format!("signal {s}"),
    }
}
