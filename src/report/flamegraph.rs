//! The interactive SVG flamegraph, drawn by inferno from the collapsed stacks. Colours come
//! from inferno's Python palette (your code red, the standard library yellow, site-packages
//! aqua), varied by a hash of the frame label, so the same recording always gives the same
//! bytes.

use std::io::Write;

use inferno::flamegraph::color::{MultiPalette, Palette};
use inferno::flamegraph::{self, Direction, Options, TextTruncateDirection};

use super::profile::{Profile, ViewOptions};
use super::{collapsed, write_error, RenderOptions};
use crate::error::Result;
use crate::escape::visible;
use crate::recording::Recording;

/// Writes the flamegraph of `rec` as SVG. A view without samples gives a small SVG saying so.
pub fn render(
    rec: &Recording,
    view: &ViewOptions,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let profile = Profile::build(rec, view);
    // Names in the collapsed lines are escaped already; so are these.
    let subject = super::subject(rec, view);
    let title = visible(&format!("framescope: {}", subject.command_line)).into_owned();
    let subtitle = visible(&subtitle(rec, &profile, &subject)).into_owned();
    let lines = collapsed::lines(rec, &profile, options.lines);
    if lines.is_empty() {
        return write_empty(&title, &subtitle, out);
    }

    let mut opt = Options::default();
    opt.colors = Palette::Multi(MultiPalette::Python);
    opt.hash = true;
    opt.title = title;
    opt.subtitle = Some(subtitle);
    opt.count_name = collapsed::unit(profile.clock).into();
    opt.name_type = "Function:".into();
    opt.text_truncate_direction = TextTruncateDirection::Right;
    if options.icicle {
        opt.direction = Direction::Inverted;
    }
    flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), out).map_err(write_error)
}

fn subtitle(rec: &Recording, profile: &Profile, subject: &super::Subject) -> String {
    let mut parts = vec![
        format!("pid {}", subject.pid),
        format!("{} samples at {} Hz", profile.samples, rec.meta.rate_hz),
        format!(
            "{:.2} s of {}",
            profile.seconds + 0.0,
            profile.clock.describe()
        ),
    ];
    if !subject.python_version.is_empty() {
        parts.push(format!("CPython {}", subject.python_version));
    }
    if rec.truncated {
        parts.push("recording incomplete".into());
    }
    parts.join(" · ")
}

fn write_empty(title: &str, subtitle: &str, out: &mut dyn Write) -> Result<()> {
    let svg = format!(
        concat!(
            "<?xml version=\"1.0\" standalone=\"no\"?>\n",
            "<svg version=\"1.1\" width=\"1200\" height=\"110\" viewBox=\"0 0 1200 110\" ",
            "xmlns=\"http://www.w3.org/2000/svg\">\n",
            "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#eeeeee\"/>\n",
            "<text x=\"600\" y=\"24\" text-anchor=\"middle\" font-family=\"Verdana\" font-size=\"17\">{}</text>\n",
            "<text x=\"600\" y=\"50\" text-anchor=\"middle\" font-family=\"Verdana\" font-size=\"12\">{}</text>\n",
            "<text x=\"600\" y=\"85\" text-anchor=\"middle\" font-family=\"Verdana\" font-size=\"14\">",
            "No samples to show: the recording has none, or the view left them all out ",
            "(idle threads are left out unless asked for).</text>\n",
            "</svg>\n"
        ),
        escape(title),
        escape(subtitle)
    );
    out.write_all(svg.as_bytes()).map_err(write_error)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
