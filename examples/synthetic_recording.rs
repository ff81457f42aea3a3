//! A large synthetic recording, to measure the recording and report code without a live
//! Python: 250,000 ticks of four threads (1,000,000 samples) over a few hundred distinct
//! stacks about 20 frames deep, 1 ms apart.
//!
//! ```text
//! cargo run --release --example synthetic_recording -- write /tmp/big.fsr
//! cargo run --release --example synthetic_recording -- render /tmp/big.fsr table /tmp/big.txt
//! cargo run --release --example synthetic_recording -- render /tmp/big.fsr flamegraph /tmp/big.svg
//! ```
//!
//! Each step prints how long it took; run it under `/usr/bin/time -v` for the peak memory.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use framescope::python::stack::{CodeInfo, CodeTable, RawFrame, ThreadStack};
use framescope::recording::{self, RecordingMeta, RecordingSummary, RecordingWriter};
use framescope::report::{self, Format, RenderOptions, ViewOptions};

const TICKS: u64 = 250_000;
const THREADS: u32 = 4;
const FUNCTIONS: u32 = 150;
const STACKS: usize = 300;

/// Stacks (innermost first) that share prefixes, as real call trees do: each new stack
/// copies the outer part of an earlier one and grows its own inner frames.
fn make_stacks(codes: &mut CodeTable, rng: &mut fastrand::Rng) -> Vec<Vec<RawFrame>> {
    let ids: Vec<_> = (0..FUNCTIONS)
        .map(|i| {
            let module = i % 12;
            codes.push(CodeInfo {
                name: format!("func_{i}"),
                qualname: format!("Class{}.func_{i}", i % 7),
                filename: if module < 4 {
                    format!("/usr/lib/python3.12/module_{module}.py")
                } else if module < 8 {
                    format!("/venv/lib/python3.12/site-packages/pkg/module_{module}.py")
                } else {
                    format!("/srv/app/module_{module}.py")
                },
                first_line: 10 + i * 13,
            })
        })
        .collect();
    let mut stacks: Vec<Vec<RawFrame>> = Vec::with_capacity(STACKS);
    while stacks.len() < STACKS {
        // Root first while building.
        let mut frames: Vec<RawFrame> = match stacks.len() {
            0 => vec![RawFrame {
                code: ids[0],
                line: 11,
            }],
            n => {
                let base = &stacks[rng.u64(..n as u64) as usize];
                let keep = 1 + rng.u64(..base.len() as u64) as usize;
                base.iter().rev().take(keep).copied().collect()
            }
        };
        let depth = 15 + rng.u64(..11) as usize;
        while frames.len() < depth {
            let code = ids[rng.u64(..u64::from(FUNCTIONS)) as usize];
            frames.push(RawFrame {
                code,
                line: 10 + rng.u64(..2000) as u32,
            });
        }
        frames.reverse();
        stacks.push(frames);
    }
    stacks
}

fn write(path: &Path) -> Result<(), String> {
    let start = Instant::now();
    // The same numbers on every run.
    let mut rng = fastrand::Rng::with_seed(0x00f5_2ec0);
    let mut codes = CodeTable::default();
    let stacks = make_stacks(&mut codes, &mut rng);
    let meta = RecordingMeta {
        pid: 1,
        command: vec!["python3".into(), "synthetic.py".into()],
        python_version: "3.12.3".into(),
        rate_hz: 1000.0,
        start_unix_ns: 0,
        blocking: false,
    };
    let mut writer = RecordingWriter::create(path, &meta).map_err(|e| e.to_string())?;
    let names: Vec<Arc<str>> = (0..THREADS)
        .map(|t| Arc::from(format!("thread-{t}")))
        .collect();
    let mut threads: Vec<ThreadStack> = (0..THREADS)
        .map(|t| ThreadStack {
            os_tid: Some(1000 + t),
            python_thread_id: 0x7f00_0000_0000 + u64::from(t) * 0x1000,
            name: Some(names[t as usize].clone()),
            ..Default::default()
        })
        .collect();
    for tick in 0..TICKS {
        for (t, thread) in threads.iter_mut().enumerate() {
            // Skewed towards the first stacks: the square of a uniform number in [0, 1).
            let u = rng.u64(..1 << 16) as usize;
            let index = (u * u * STACKS) >> 32;
            thread.frames.clear();
            thread.frames.extend_from_slice(&stacks[index]);
            thread.holds_gil = t == (tick % u64::from(THREADS)) as usize;
            thread.on_cpu = Some(rng.u64(..10) != 0);
        }
        writer
            .write_sample(tick * 1_000_000, &threads, &codes)
            .map_err(|e| e.to_string())?;
    }
    writer
        .write_summary(&RecordingSummary {
            samples: TICKS,
            duration_ns: TICKS * 1_000_000,
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} samples ({TICKS} ticks x {THREADS} threads, {STACKS} stacks) to {}: {size} bytes in {:.3} s",
        TICKS * u64::from(THREADS),
        path.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn render(path: &Path, format: &str, out_path: &Path) -> Result<(), String> {
    let format: Format = format.parse()?;
    let start = Instant::now();
    let rec = recording::read(path).map_err(|e| e.to_string())?;
    let read_s = start.elapsed().as_secs_f64();
    let mut out = std::fs::File::create(out_path).map_err(|e| e.to_string())?;
    let view = ViewOptions::default();
    let options = RenderOptions {
        limit: Some(50),
        ..Default::default()
    };
    report::render(&rec, format, &view, &options, &mut out).map_err(|e| e.to_string())?;
    let total_s = start.elapsed().as_secs_f64();
    println!(
        "read {} samples in {read_s:.3} s; {} rendered in {:.3} s; {total_s:.3} s in all",
        rec.samples.len(),
        format.name(),
        total_s - read_s
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["write", path] => write(Path::new(path)),
        ["render", path, format, out] => render(Path::new(path), format, Path::new(out)),
        _ => Err("usage: synthetic_recording write PATH | render PATH FORMAT OUT".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synthetic_recording: {e}");
            ExitCode::FAILURE
        }
    }
}
