//! The cost of waking up, alone: the sampler's own sleep loop (absolute deadlines, no timer
//! slack) at a given rate for a given time, sampling nothing. `scripts/bench` runs it next
//! to the profilers, so that the CPU per sample they report can be read against what this
//! machine charges any process for a wake-up at that rate (on a virtual machine, several
//! microseconds of it are the hypervisor's).
//!
//!     cargo run --release --example sleep_floor -- RATE_HZ SECONDS
//!
//! Prints the wake-ups done and the CPU per wake-up (user + system, from its rusage).

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(rate), Some(seconds)) = (
        args.first().and_then(|a| a.parse::<f64>().ok()),
        args.get(1).and_then(|a| a.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: sleep_floor RATE_HZ SECONDS");
        std::process::exit(2);
    };
    if !(rate > 0.0 && seconds > 0.0 && rate <= 100_000.0) {
        eprintln!("sleep_floor: RATE_HZ must be in (0, 100000] and SECONDS positive");
        std::process::exit(2);
    }
    framescope::sampler::precise_timers();
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut deadline = start;
    let mut wakeups = 0u64;
    while deadline < end {
        deadline += period;
        framescope::sampler::sleep_until(deadline);
        wakeups += 1;
    }
    // SAFETY: getrusage fills the struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into `usage`, which we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let micros = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    let cpu = micros(usage.ru_utime) + micros(usage.ru_stime);
    println!(
        "sleep_floor: {wakeups} wake-ups at {rate} Hz, {:.2} us CPU per wake-up",
        cpu / wakeups.max(1) as f64
    );
}
