use prost::Message;

use super::*;
use crate::recording::testutil::{record, Synth};

fn decode(rec: &Recording, view: &ViewOptions) -> proto::Profile {
    let mut bytes = Vec::new();
    render(rec, view, &RenderOptions::default(), &mut bytes).expect("render");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut raw)
        .expect("gunzip");
    proto::Profile::decode(&raw[..]).expect("decode")
}

fn s(p: &proto::Profile, i: i64) -> &str {
    &p.string_table[i as usize]
}

/// Per sample: its stack as `function:line` innermost first, its labels as `key=value`,
/// and its values.
fn samples(p: &proto::Profile) -> Vec<(Vec<String>, Vec<String>, Vec<i64>)> {
    let mut out: Vec<_> = p
        .sample
        .iter()
        .map(|sample| {
            let stack = sample
                .location_id
                .iter()
                .map(|&id| {
                    let loc = &p.location[id as usize - 1];
                    assert_eq!(loc.id, id);
                    let line = &loc.line[0];
                    let f = &p.function[line.function_id as usize - 1];
                    format!("{}:{}", s(p, f.name), line.line)
                })
                .collect();
            let labels = sample
                .label
                .iter()
                .map(|l| match l.str {
                    0 => format!("{}={}", s(p, l.key), l.num),
                    v => format!("{}={}", s(p, l.key), s(p, v)),
                })
                .collect();
            (stack, labels, sample.value.clone())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn samples_are_stacks_of_line_locations_labelled_by_thread() {
    let mut synth = Synth::default();
    let ticks: Vec<_> = (0..4u64)
        .map(|i| {
            let mut main = synth.thread(1, "MainThread", "main:3;work:12");
            main.cpu_ns = Some(2_000_000);
            let mut other =
                synth.thread(2, "worker", if i < 3 { "main:3;work:13" } else { "main:3" });
            other.cpu_ns = Some(1_000_000);
            (i * 10_000_000, vec![main, other])
        })
        .collect();
    let rec = record(&synth, &ticks);
    let p = decode(&rec, &ViewOptions::default());
    assert_eq!(s(&p, 0), "");
    let types: Vec<String> = p
        .sample_type
        .iter()
        .map(|t| format!("{}/{}", s(&p, t.r#type), s(&p, t.unit)))
        .collect();
    assert_eq!(
        types,
        ["samples/count", "wall/nanoseconds", "cpu/nanoseconds"]
    );
    let got = samples(&p);
    let labels = |name: &str, tid: u32| {
        vec![
            format!("thread_name={name}"),
            format!("thread_id={tid}"),
            "pid=4242".to_string(),
        ]
    };
    // Wall: 10 ms a tick (the test recordings run at 100 Hz). CPU: the amounts, spread.
    assert_eq!(
        got,
        [
            (
                vec!["main:3".to_string()],
                labels("worker", 2),
                vec![1, 10_000_000, 1_000_000]
            ),
            (
                vec!["work:12".to_string(), "main:3".to_string()],
                labels("MainThread", 1),
                vec![4, 40_000_000, 8_000_000]
            ),
            (
                vec!["work:13".to_string(), "main:3".to_string()],
                labels("worker", 2),
                vec![3, 30_000_000, 3_000_000]
            ),
        ]
    );
    // One function per qualname, one location per function and line.
    assert_eq!(p.function.len(), 2);
    assert_eq!(p.location.len(), 3);
    assert_eq!(p.period, 10_000_000);
    assert_eq!(p.time_nanos, 1_700_000_000_000_000_000);
    assert_eq!(p.duration_nanos, 30_000_000);
    assert_eq!(s(&p, p.default_sample_type), "wall");
    let cpu_view = ViewOptions {
        clock: Clock::Cpu,
        ..ViewOptions::default()
    };
    assert_eq!(
        s(
            &decode(&rec, &cpu_view),
            decode(&rec, &cpu_view).default_sample_type
        ),
        "cpu"
    );
}

#[test]
fn an_empty_recording_is_a_valid_empty_profile() {
    let rec = record(&Synth::default(), &[]);
    let p = decode(&rec, &ViewOptions::default());
    assert!(p.sample.is_empty() && p.location.is_empty());
    assert_eq!(s(&p, p.default_sample_type), "wall");
}

#[test]
fn filters_of_the_view_apply_and_no_cpu_type_without_cpu_times() {
    let mut synth = Synth::default();
    let ticks: Vec<_> = (0..3u64)
        .map(|i| {
            let mut idle = synth.thread(7, "sleeper", "main:1;wait:2");
            idle.on_cpu = Some(false);
            idle.holds_gil = false;
            (
                i * 10_000_000,
                vec![synth.thread(1, "MainThread", "main:1"), idle],
            )
        })
        .collect();
    let rec = record(&synth, &ticks);
    let p = decode(&rec, &ViewOptions::default());
    assert_eq!(p.sample_type.len(), 2);
    assert_eq!(samples(&p).len(), 1, "the idle thread is left out");
    let with_idle = ViewOptions {
        idle: true,
        ..ViewOptions::default()
    };
    assert_eq!(samples(&decode(&rec, &with_idle)).len(), 2);
    let only = ViewOptions {
        idle: true,
        thread_filter: Some(7),
        ..ViewOptions::default()
    };
    let got = samples(&decode(&rec, &only));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, ["wait:2", "main:1"]);
    let gil = ViewOptions {
        idle: true,
        gil_only: true,
        ..ViewOptions::default()
    };
    assert_eq!(samples(&decode(&rec, &gil))[0].0, ["main:1"]);
}
