//! Writes the hostile inputs of the resource-limit tests at full size, to measure framescope
//! on them by hand (`/usr/bin/time -v framescope report ...`):
//!
//! ```text
//! cargo run --release --example hostile_inputs -- deep-chain /tmp/chain.fsr 12000
//! cargo run --release --example hostile_inputs -- deep-stack /tmp/deep.fsr 100000
//! cargo run --release --example hostile_inputs -- alternating /tmp/many.fsr 4096 33000
//! cargo run --release --example hostile_inputs -- many-samples /tmp/dense.fsr 15000
//! cargo run --release --example hostile_inputs -- collapsed-line /tmp/line.txt 1000000
//! ```

#[path = "../tests/hostile/mod.rs"]
mod hostile;

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = |s: &str| s.parse::<u32>().map_err(|e| format!("bad size `{s}`: {e}"));
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["deep-chain", path, ticks] => {
            size(ticks).map(|n| hostile::deep_prefix_chain(Path::new(path), n, 7))
        }
        ["deep-stack", path, depth] => {
            size(depth).map(|n| hostile::one_deep_stack(Path::new(path), n, 100))
        }
        ["alternating", path, depth, ticks] => size(depth)
            .and_then(|d| size(ticks).map(|t| hostile::alternating_deep_stacks(Path::new(path), d, t))),
        ["many-samples", path, ticks] => {
            size(ticks).map(|n| hostile::many_samples(Path::new(path), n, 1000))
        }
        ["collapsed-line", path, frames] => size(frames).and_then(|n| {
            std::fs::write(path, hostile::collapsed_deep_line(n)).map_err(|e| e.to_string())
        }),
        _ => Err(
            "usage: hostile_inputs deep-chain|deep-stack|many-samples|collapsed-line PATH N, or alternating PATH DEPTH TICKS".into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hostile_inputs: {e}");
            ExitCode::FAILURE
        }
    }
}
