//! Mutation fuzzing of everything that reads a file: recordings (bit flips, bytes changed
//! under a fixed-up checksum, truncations, chunks deleted, duplicated and swapped, huge
//! varints, damaged chunk lengths) and collapsed-stack files, each run through the real
//! reader, the limit checks `report` and `diff` apply, every `report` format and the whole
//! `diff` pipeline (inputs, matching, statistics, every diff format, the differential
//! flamegraphs). Nothing may panic and no output may grow past a bound. Fixed seeds, a
//! fixed number of rounds and a deadline keep it to a few seconds in a release build.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::diff::compare::{self, Settings};
use crate::diff::input::{self, LoadOptions, Run};
use crate::diff::options::{DiffFormat, SortBy};
use crate::diff::{aggregate, flamegraph, render};
use crate::limits;
use crate::recording::testutil::{write, Rng, Synth, TempPath};
use crate::recording::{read_bytes, Recording, RecordingSummary};
use crate::report::profile::Clock;
use crate::report::{self, Format, RenderOptions, ViewOptions};

/// The most output any one rendering of these small inputs may write.
const MAX_OUTPUT: usize = 4 << 20;
/// Each fuzz loop stops after this long even if rounds remain (a debug build is slow).
const DEADLINE: Duration = Duration::from_secs(4);

/// Header bytes before the first chunk, and bytes in front of each chunk's payload.
const HEADER_LEN: usize = 7;
const CHUNK_HEADER_LEN: usize = 8;

/// A recording of three threads over a dozen stacks, a few of them errors or idle, in
/// several chunks, with a summary.
fn seed_recording() -> Vec<u8> {
    let mut synth = Synth::default();
    let specs = [
        "main:1;serve:4;parse:9;json:2",
        "main:1;serve:4;parse:10",
        "main:1;serve:5;render:3;escape:8",
        "main:2;wait:7",
        "main:1;serve:4;parse:9;json:2;scan:1;scan:1;scan:1",
    ];
    let ticks: Vec<_> = (0..160u64)
        .map(|i| {
            let mut a = synth.thread(1, "MainThread", specs[(i % 5) as usize]);
            let mut b = synth.thread(2, "worker", specs[((i / 3) % 5) as usize]);
            b.on_cpu = Some(i % 4 != 0);
            b.holds_gil = i % 2 == 0;
            let c = synth.thread(3, "bg", specs[((i * 7) % 5) as usize]);
            if i % 11 == 0 {
                a.error = Some(crate::python::ThreadError::KeptChanging { reads: 3 });
            }
            (i * 10_000_000, vec![a, b, c])
        })
        .collect();
    let path = TempPath::new("fuzz-seed");
    write(
        &path,
        &synth,
        &ticks,
        Some(&RecordingSummary {
            samples: 160,
            duration_ns: 1_600_000_000,
            ..Default::default()
        }),
    );
    std::fs::read(&path.0).expect("read the seed recording")
}

/// The chunks of a well-formed recording, as byte ranges of the whole chunk.
fn chunks(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while pos + CHUNK_HEADER_LEN <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let end = pos + CHUNK_HEADER_LEN + len;
        out.push(pos..end);
        pos = end;
    }
    out
}

/// A chunk around `payload` with a correct length and checksum.
fn chunk(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len);
    hasher.update(payload);
    let mut out = len.to_vec();
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reassembles `bytes` from its header and `order` (indexes into `ranges`).
fn with_chunks(bytes: &[u8], ranges: &[std::ops::Range<usize>], order: &[usize]) -> Vec<u8> {
    let mut out = bytes[..HEADER_LEN].to_vec();
    for &i in order {
        out.extend_from_slice(&bytes[ranges[i].clone()]);
    }
    out
}

/// Varints that decode to huge values, or run on too long.
const HUGE_VARINTS: [&[u8]; 5] = [
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
    &[
        0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    ],
    &[0xfe, 0xff, 0xff, 0xff, 0x07],
];

/// One mutation of a well-formed recording.
fn mutate_recording(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let ranges = chunks(bytes);
    let n = ranges.len();
    let pick = |rng: &mut Rng| rng.below(n as u64) as usize;
    let mut order: Vec<usize> = (0..n).collect();
    match rng.below(8) {
        // Bit flips anywhere, checksums left as they are.
        0 => {
            let mut out = bytes.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(out.len() as u64) as usize;
                out[at] ^= 1 << rng.below(8);
            }
            out
        }
        // Cut off anywhere.
        1 => bytes[..rng.below(bytes.len() as u64 + 1) as usize].to_vec(),
        // A chunk deleted, duplicated, or two swapped.
        2 => {
            order.remove(pick(rng));
            with_chunks(bytes, &ranges, &order)
        }
        3 => {
            let i = pick(rng);
            order.insert(rng.below(n as u64 + 1) as usize, i);
            with_chunks(bytes, &ranges, &order)
        }
        4 => {
            let (a, b) = (pick(rng), pick(rng));
            order.swap(a, b);
            with_chunks(bytes, &ranges, &order)
        }
        // A chunk length made huge or wrong.
        5 => {
            let mut out = bytes.to_vec();
            let at = ranges[pick(rng)].start;
            let len = match rng.below(3) {
                0 => u32::MAX,
                1 => 64 << 20,
                _ => rng.next() as u32 % 4096,
            };
            out[at..at + 4].copy_from_slice(&len.to_le_bytes());
            out
        }
        // Payload bytes changed, a huge varint put in, or bytes dropped, under a correct
        // checksum, so the record decoder sees them.
        _ => {
            let i = pick(rng);
            let range = ranges[i].clone();
            let mut payload = bytes[range.start + CHUNK_HEADER_LEN..range.end].to_vec();
            let at = rng.below(payload.len() as u64 + 1) as usize;
            match rng.below(3) {
                0 => {
                    for _ in 0..1 + rng.below(3) {
                        if !payload.is_empty() {
                            let at = rng.below(payload.len() as u64) as usize;
                            payload[at] = rng.next() as u8;
                        }
                    }
                }
                1 => {
                    let huge = HUGE_VARINTS[rng.below(HUGE_VARINTS.len() as u64) as usize];
                    if rng.below(2) == 0 && at < payload.len() {
                        // Over an existing byte (a varint's place), else inserted.
                        payload.remove(at);
                    }
                    payload.splice(at..at, huge.iter().copied());
                }
                _ => {
                    let end = (at + 1 + rng.below(8) as usize).min(payload.len());
                    payload.drain(at..end);
                }
            }
            let mut out = bytes[..range.start].to_vec();
            out.extend_from_slice(&chunk(&payload));
            out.extend_from_slice(&bytes[range.end..]);
            out
        }
    }
}

/// Whether `file` is made of whole chunks of `seed` in an order that is not a prefix of
/// the seed's own.
fn reordered_chunks(seed: &[u8], file: &[u8]) -> bool {
    if file.len() < HEADER_LEN || file[..HEADER_LEN] != seed[..HEADER_LEN] {
        return false;
    }
    let seed_chunks: Vec<&[u8]> = chunks(seed).into_iter().map(|r| &seed[r]).collect();
    let ranges = chunks(file);
    if ranges.last().map_or(HEADER_LEN, |r| r.end) != file.len() {
        return false;
    }
    let mut in_order = true;
    for (i, range) in ranges.iter().enumerate() {
        let Some(at) = seed_chunks.iter().position(|c| *c == &file[range.clone()]) else {
            return false;
        };
        in_order &= at == i;
    }
    !in_order
}

/// A writer that refuses to grow past [`MAX_OUTPUT`].
#[derive(Default)]
struct Bounded(usize);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        assert!(self.0 <= MAX_OUTPUT, "output grew past {MAX_OUTPUT} bytes");
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `report` does with a recording it has read: the limit checks, then each format.
fn report_every_format(rec: &Recording, round: usize) {
    for format in [
        Format::Table,
        Format::Flamegraph,
        Format::Speedscope,
        Format::Collapsed,
        Format::Pprof,
        Format::Pstats,
    ] {
        let spell_out = format != Format::Table;
        if limits::check(rec, spell_out, Path::new("x.fsr")).is_err() {
            continue;
        }
        let view = ViewOptions {
            clock: if round % 2 == 0 {
                Clock::Cpu
            } else {
                Clock::Wall
            },
            idle: round % 2 == 0,
            per_thread: round % 3 == 0,
            gil_only: round % 5 == 0,
            thread_filter: (round % 7 == 0).then_some(2),
            per_process: round % 4 == 0,
            process_filter: (round % 11 == 0).then_some(1),
            tasks: match round % 3 {
                0 => None,
                1 => Some(crate::report::profile::TasksBy::Name),
                _ => Some(crate::report::profile::TasksBy::Coroutine),
            },
        };
        let path = Path::new("x.fsr");
        if format == Format::Speedscope && limits::check_samples(rec, &view, path).is_err() {
            continue;
        }
        let options = RenderOptions {
            lines: round % 4 == 0,
            limit: Some(20),
            ..RenderOptions::default()
        };
        let mut out = Bounded::default();
        let rendered = report::render(rec, format, &view, &options, &mut out);
        // A pstats file of an empty view is refused (pstats cannot load one).
        if !(format == Format::Pstats && crate::report::Profile::build(rec, &view).samples == 0) {
            rendered.expect("render");
        }
    }
}

/// What `diff` does with two inputs: load, match, compare, render, draw.
fn diff_pipeline(base: &[u8], head: &[u8], round: usize) {
    let options = LoadOptions {
        view: ViewOptions {
            clock: if round % 2 == 0 {
                Clock::Cpu
            } else {
                Clock::Wall
            },
            ..ViewOptions::default()
        },
        clock_required: false,
        collapsed_rate: 100.0,
    };
    let load = |bytes: &[u8]| -> Option<Run> {
        input::load_bytes(Path::new("x"), bytes, &options, &mut |_| {}).ok()
    };
    let (Some(base), Some(head)) = (load(base), load(head)) else {
        return;
    };
    let (base, head) = (vec![base], vec![head]);
    let matched = compare::match_runs(&base, &head);
    let settings = Settings {
        alpha: 0.05,
        threshold: 2.0,
        min_share: 0.0,
        sort: if round % 2 == 0 {
            SortBy::Cumulative
        } else {
            SortBy::Own
        },
        resamples: 50,
        fail_on_regression: (round % 3 == 0).then_some(5.0),
        normalize: round % 4 == 0,
        clock: options.view.clock,
    };
    let comparison = compare::compare(&base, &head, &matched, settings);
    for format in [DiffFormat::Table, DiffFormat::Markdown, DiffFormat::Json] {
        let mut out = Bounded::default();
        render::render(&comparison, format, Some(30), false, None, &mut out).expect("render diff");
    }
    let numbered: Vec<(&Run, usize)> = matched.runs.iter().copied().zip(0..).collect();
    let (base_runs, head_runs) = numbered.split_at(matched.base_count);
    let base_stacks = aggregate::mean_stacks(base_runs, &matched.ids);
    let head_stacks = aggregate::mean_stacks(head_runs, &matched.ids);
    for view in [flamegraph::View::Head, flamegraph::View::Gone] {
        if let Ok(svg) =
            flamegraph::draw(view, &comparison, &matched.ids, &base_stacks, &head_stacks)
        {
            assert!(
                svg.len() <= MAX_OUTPUT,
                "differential flamegraph of {} bytes",
                svg.len()
            );
        }
    }
}

#[test]
fn mutated_recordings_never_panic_in_any_reader_or_renderer() {
    let seed = seed_recording();
    assert!(chunks(&seed).len() >= 4, "the seed spans several chunks");
    let start = Instant::now();
    let mut rng = Rng::seeded(0x5eed_f00d);
    let (mut rounds, mut read, mut reordered) = (0, 0, 0);
    for round in 0..4000 {
        if start.elapsed() > DEADLINE {
            break;
        }
        rounds += 1;
        let file = mutate_recording(&seed, &mut rng);
        if let Ok(rec) = read_bytes(&file, Path::new("x.fsr")) {
            read += 1;
            // Whole chunks of the seed, put together in another order or with one left
            // out or repeated: the chunk numbers must give it away (format 2).
            if reordered_chunks(&seed, &file) {
                reordered += 1;
                assert!(
                    rec.truncation
                        .as_deref()
                        .is_some_and(|why| why.contains("chunk")),
                    "a recording with its chunks reordered read as {:?}",
                    rec.truncation
                );
            }
            report_every_format(&rec, round);
        }
        if round % 5 == 0 {
            diff_pipeline(&seed, &file, round);
        }
    }
    assert!(rounds >= 100, "only {rounds} rounds before the deadline");
    assert!(reordered >= 10, "only {reordered} reordered recordings");
    assert!(
        read * 4 > rounds,
        "only {read} of {rounds} mutated recordings were readable"
    );
}

/// One mutation of collapsed-stack text.
fn mutate_text(text: &str, rng: &mut Rng) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    let at = rng.below(bytes.len() as u64 + 1) as usize;
    const PIECES: [&str; 12] = [
        ";",
        " ",
        "\n",
        ";;",
        " 18446744073709551615",
        "99999999999999999999999",
        "1e9",
        "-",
        "+",
        ".5",
        "\t",
        "P1;T2;",
    ];
    match rng.below(5) {
        0 => {
            let piece = PIECES[rng.below(PIECES.len() as u64) as usize];
            bytes.splice(at..at, piece.bytes());
        }
        1 => {
            if at < bytes.len() {
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        2 => bytes.truncate(at),
        3 => {
            let line_start = bytes[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let line_end = bytes[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |p| at + p + 1);
            let line = bytes[line_start..line_end].to_vec();
            for _ in 0..1 + rng.below(4) {
                bytes.splice(line_start..line_start, line.iter().copied());
            }
        }
        _ => {
            let end = (at + 1 + rng.below(12) as usize).min(bytes.len());
            bytes.drain(at..end);
        }
    }
    bytes
}

#[test]
fn mutated_collapsed_files_never_panic_in_diff() {
    let seeds = [
        "<module> (app.py:1);main (app.py:3);work (app.py:9) 25\n\
         <module> (app.py:1);main (app.py:3) 4\n\
         process 7:\"python app.py\";thread (0x7f01);main (app.py:3);idle (lib.py) 3\n",
        "# austin: 3.7.0\nP12;T0:7f;/a.py:<module>:1;/a.py:f:5 120\nP12;T0:7f;/a.py:<module>:1 80\n",
        "main;compute;sqrt 7\nmain;compute 3\nmain 1\n",
    ];
    let start = Instant::now();
    let mut rng = Rng::seeded(0xc011_a95e);
    let (mut rounds, mut loaded) = (0, 0);
    for round in 0..6000 {
        if start.elapsed() > DEADLINE {
            break;
        }
        rounds += 1;
        let seed = seeds[round % seeds.len()];
        let mut text = mutate_text(seed, &mut rng);
        if round % 3 == 0 {
            let again = String::from_utf8_lossy(&text).into_owned();
            text = mutate_text(&again, &mut rng);
        }
        if let Ok(run) = input::load_bytes(
            Path::new("x.txt"),
            &text,
            &LoadOptions {
                view: ViewOptions::default(),
                clock_required: false,
                collapsed_rate: 100.0,
            },
            &mut |_| {},
        ) {
            loaded += 1;
            assert!(run.samples > 0);
        }
        diff_pipeline(seed.as_bytes(), &text, round);
    }
    assert!(rounds >= 100, "only {rounds} rounds before the deadline");
    assert!(
        loaded * 4 > rounds,
        "only {loaded} of {rounds} mutated files were usable"
    );
}
