//! Differential flamegraphs, drawn by inferno in its differential mode: each side's stacks
//! (in matched functions, as mean microseconds per run) are merged by
//! [`inferno::differential`] into `stack base head` lines, and the flamegraph is drawn with
//! the widths of one side and a colour for the change of every frame: red grew, blue
//! shrank, the deeper the larger the change. The head view (widths of the head profile)
//! shows where time went; the "gone" view (widths of the base profile, colours negated so
//! red still means grew) shows what shrank or disappeared. Not for statistics.

use std::collections::BTreeMap;
use std::io::Write;

use inferno::differential;
use inferno::flamegraph::{self, Options, TextTruncateDirection};

use super::identity::Identities;
use super::wording::{describe_side, label};
use crate::diff::compare::Comparison;
use crate::error::{Error, Result};
use crate::escape::visible;
use crate::output::Destination;

/// Which side gives the widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Widths of the head profile.
    Head,
    /// Widths of the base profile (what disappeared stays visible).
    Gone,
}

/// Writes the differential flamegraph of `view` to `dest`.
pub fn write(
    dest: &Destination,
    view: View,
    comparison: &Comparison,
    ids: &Identities,
    base: &BTreeMap<Vec<u32>, f64>,
    head: &BTreeMap<Vec<u32>, f64>,
) -> Result<()> {
    let svg = draw(view, comparison, ids, base, head)?;
    crate::output::write_to(dest, &svg)
}

/// The SVG of `view`.
pub fn draw(
    view: View,
    comparison: &Comparison,
    ids: &Identities,
    base: &BTreeMap<Vec<u32>, f64>,
    head: &BTreeMap<Vec<u32>, f64>,
) -> Result<Vec<u8>> {
    let labels: Vec<String> = ids.functions.iter().map(|f| clean(&label(f))).collect();
    let folded = |stacks: &BTreeMap<Vec<u32>, f64>| {
        let mut text = String::new();
        for (path, seconds) in stacks {
            let micros = (seconds * 1e6).round() as u64;
            if micros == 0 || path.is_empty() {
                continue;
            }
            let names: Vec<&str> = path.iter().map(|&f| labels[f as usize].as_str()).collect();
            text.push_str(&names.join(";"));
            text.push_str(&format!(" {micros}\n"));
        }
        text
    };
    let (base_text, head_text) = (folded(base), folded(head));
    // inferno draws the widths of its second input and colours by second minus first.
    let (first, second) = match view {
        View::Head => (&base_text, &head_text),
        View::Gone => (&head_text, &base_text),
    };
    let mut merged = Vec::new();
    differential::from_readers(
        differential::Options::default(),
        first.as_bytes(),
        second.as_bytes(),
        &mut merged,
    )
    .map_err(|e| Error::io("merging the profiles for the flamegraph", e))?;
    let merged = String::from_utf8_lossy(&merged);

    let mut opt = Options::default();
    opt.title = match view {
        View::Head => "framescope diff: head profile, coloured by change".into(),
        View::Gone => "framescope diff: base profile, coloured by change".into(),
    };
    opt.subtitle = Some(
        visible(&format!(
            "base {} · head {} · red grew, blue shrank (time per run)",
            describe_side(&comparison.base),
            describe_side(&comparison.head)
        ))
        .into_owned(),
    );
    opt.count_name = "µs per run".into();
    opt.name_type = "Function:".into();
    opt.text_truncate_direction = TextTruncateDirection::Right;
    opt.negate_differentials = view == View::Gone;
    let mut svg = Vec::new();
    flamegraph::from_lines(&mut opt, merged.lines(), &mut svg)
        .map_err(|e| Error::io("drawing the differential flamegraph", e))?;
    svg.flush()
        .map_err(|e| Error::io("drawing the differential flamegraph", e))?;
    Ok(svg)
}

/// A frame label that cannot break the collapsed format (no `;`, no line breaks) or the
/// SVG (no character XML forbids): control characters shown as escapes.
fn clean(label: &str) -> String {
    visible(label).replace(';', ":")
}
