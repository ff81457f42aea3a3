//! Collapsed ("folded") stacks: one line per distinct stack, frames from the root down
//! separated by `;`, then a space and the number of samples — the input of flamegraph.pl,
//! inferno and many other tools. The flamegraph is drawn from these same lines.

use std::collections::BTreeMap;
use std::io::Write;

use super::profile::{Functions, Profile, ViewOptions};
use super::{write_error, RenderOptions};
use crate::error::Result;
use crate::escape::visible;
use crate::recording::Recording;

/// The collapsed lines of a profile, sorted, without their newlines. Threads kept apart get
/// a root frame of their own, named after the thread.
pub fn lines(rec: &Recording, profile: &Profile, lines: bool) -> Vec<String> {
    let functions = Functions::new(rec, lines);
    let mut labels: Vec<Option<String>> = vec![None; functions.keys.len()];
    let mut merged: BTreeMap<String, u64> = BTreeMap::new();
    let mut path: Vec<usize> = Vec::new();
    for group in &profile.groups {
        let root = group.thread.map(|t| clean(&rec.thread_label(t)));
        for tally in &group.stacks {
            path.clear();
            path.extend(rec.stack_frames(tally.stack).map(|f| functions.of(f)));
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
            *merged.entry(line).or_insert(0) += tally.samples;
        }
    }
    merged
        .into_iter()
        .map(|(stack, n)| format!("{stack} {n}"))
        .collect()
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
