//! The real-time scheduling class for the `--subprocesses` sampling thread, bounded by
//! its own cost.
//!
//! With several busy Python processes on few cores, a time-shared sampler (even at
//! nice -10) wakes up behind them often enough to miss one tick in two on a loaded
//! machine; at the lowest `SCHED_FIFO` priority it runs the moment its timer fires. The
//! risk of the real-time class, a loop that never sleeps starving the machine, is bounded
//! twice: [`RealTime::keep_within`] drops back to the time-shared class for good once the
//! ticks' own work takes more than [`MAX_SHARE`] of the period on average (a tree too big
//! for the rate), and the kernel's real-time throttling (95% of each second by default)
//! stands behind that. `SCHED_RESET_ON_FORK` keeps threads and processes started from it
//! out of the class.

use std::time::Duration;

/// The most of each period the ticks may take, on average, for the sampler to stay
/// real-time.
pub const MAX_SHARE: f64 = 0.5;

/// How many ticks the average of their work spans (about a second at 1 kHz): a single
/// slow tick (a new process's first read) does not end the class, a lasting cost does.
const AVERAGE_OVER: f64 = 1000.0;

/// This thread in the real-time class, until its ticks cost too much.
pub struct RealTime {
    /// The ticks' work over the period, averaged.
    share: f64,
    active: bool,
    /// Left the class because the work took more than [`MAX_SHARE`].
    pub dropped: bool,
}

impl RealTime {
    /// Moves the calling thread to `SCHED_FIFO` at the lowest priority. `None` where that
    /// is not permitted (not root and no `CAP_SYS_NICE`, or a container's limit): the
    /// thread stays as it was.
    pub fn enter() -> Option<RealTime> {
        set_policy(libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, 1).then_some(RealTime {
            share: 0.0,
            active: true,
            dropped: false,
        })
    }

    /// Counts one tick that took `work` of a `period`; leaves the class (back to the
    /// time-shared class, at the nice value the thread had) when the average share is over
    /// [`MAX_SHARE`]. Returns whether it left just now.
    pub fn keep_within(&mut self, work: Duration, period: Duration) -> bool {
        if !self.active || period.is_zero() {
            return false;
        }
        let share = (work.as_secs_f64() / period.as_secs_f64()).min(1.0);
        self.share += (share - self.share) / AVERAGE_OVER;
        if self.share <= MAX_SHARE {
            return false;
        }
        self.leave();
        self.dropped = true;
        true
    }

    fn leave(&mut self) {
        if self.active {
            set_policy(libc::SCHED_OTHER, 0);
            self.active = false;
        }
    }
}

impl Drop for RealTime {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Sets the calling thread's scheduling policy; whether the kernel accepted it.
fn set_policy(policy: libc::c_int, priority: libc::c_int) -> bool {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread (Linux applies the policy per thread); the
    // parameter is a plain struct we own.
    unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_few_slow_ticks_keep_the_class_a_lasting_cost_ends_it() {
        let Some(mut rt) = RealTime::enter() else {
            eprintln!("skipped: SCHED_FIFO not permitted here");
            return;
        };
        assert_eq!(
            // SAFETY: sched_getscheduler(0) only reads the calling thread's policy.
            unsafe { libc::sched_getscheduler(0) } & 0xff,
            libc::SCHED_FIFO
        );
        for _ in 0..100 {
            assert!(
                !rt.keep_within(MS, MS),
                "100 whole periods of 1000 are not half"
            );
        }
        let mut ticks = 100;
        while !rt.keep_within(MS, MS) {
            ticks += 1;
            assert!(ticks < 5000, "never left");
        }
        // The average passes one half after about ln 2 × 1000 whole-period ticks.
        assert!((650..=750).contains(&ticks), "{ticks}");
        assert!(rt.dropped && !rt.active);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }
}
