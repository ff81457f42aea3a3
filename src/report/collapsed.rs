//! Collapsed ("folded") stacks: one line per distinct stack, frames from the root down
//! separated by `;`, then a space and a count — the input of flamegraph.pl, inferno and
//! many other tools. On the wall clock the count is the number of samples (as py-spy
//! writes it; the table and speedscope weigh samples by the time they stand for, missed
//! ticks included); on the CPU clock it is microseconds of CPU time (as Austin writes time),
//! since samples of one thread stand for different amounts of CPU. The flamegraph is drawn
//! from these same lines.

use std::collections::BTreeMap;
use std::io::Write;

use super::profile::{Clock, Functions, Profile, ViewOptions};
use super::{write_error, RenderOptions};
use crate::error::Result;
use crate::escape::visible;
use crate::limits;
use crate::recording::Recording;

/// The collapsed lines of a profile, sorted, without their newlines. Threads kept apart get
/// a root frame of their own, named after the thread.
pub fn lines(rec: &Recording, profile: &Profile, lines: bool) -> Vec<String> {
    let functions = Functions::new(rec, lines);
    let mut labels: Vec<Option<String>> = vec![None; functions.keys.len()];
    let mut merged: BTreeMap<String, u64> = BTreeMap::new();
    let mut path: Vec<usize> = Vec::new();
    for group in &profile.groups {
        let roots: Vec<String> = group.labels(rec).iter().map(|l| clean(l)).collect();
        let root = Some(roots.join(";")).filter(|r| !r.is_empty());
        for tally in &group.stacks {
            path.clear();
            path.extend(limits::stack_frames(rec, tally.stack).map(|f| functions.of(f)));
            let mut line = String::new();
            if let Some(root) = &root {
                line.push_str(root);
            }
            for &function in path.iter().rev() {
                if !line.is_empty() {
                    line.push(';');
                }
                let label =
                    labels[function].get_or_insert_with(|| clean(&functions.label(rec, function)));
                line.push_str(label);
            }
            let count = match profile.clock {
                Clock::Wall => tally.samples,
                Clock::Cpu => (tally.seconds * 1e6).round() as u64,
            };
            *merged.entry(line).or_insert(0) += count;
        }
    }
    merged
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(stack, n)| format!("{stack} {n}"))
        .collect()
}

/// What the counts of collapsed lines are on `clock`.
pub fn unit(clock: Clock) -> &'static str {
    match clock {
        Clock::Wall => "samples",
        Clock::Cpu => "µs of CPU",
    }
}

/// A frame label that cannot break the line format, a terminal or the SVG drawn from it:
/// no `;` (the frame separator), control characters (line breaks among them) shown as
/// escapes.
fn clean(label: &str) -> String {
    visible(label).replace(';', ":")
}

/// Writes the collapsed stacks of `rec`.
pub fn render(
    rec: &Recording,
    view: &ViewOptions,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let profile = Profile::build(rec, view);
    for line in lines(rec, &profile, options.lines) {
        writeln!(out, "{line}").map_err(write_error)?;
    }
    Ok(())
}
