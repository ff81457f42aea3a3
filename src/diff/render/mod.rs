//! Writing a [`Comparison`]: one module per format behind the same `render(comparison,
//! limit, out)` shape — [`table`] for the terminal, [`markdown`] for a pull-request
//! comment, [`json`] for programs; their shared wording is [`super::wording`]. Nothing
//! here computes a statistic.

pub mod json;
pub mod markdown;
pub mod table;

use std::io::Write;

use super::compare::Comparison;
use super::options::DiffFormat;
use crate::error::Result;

/// Writes `comparison` as `format`; `limit` caps the rows (per section in markdown).
/// `gate`: the gate's verdict, when there is a gate (JSON names its causes).
pub fn render(
    comparison: &Comparison,
    format: DiffFormat,
    limit: Option<usize>,
    color: bool,
    gate: Option<&super::gate::Verdict<'_>>,
    out: &mut dyn Write,
) -> Result<()> {
    let text = match format {
        DiffFormat::Table => table::render(comparison, limit, color),
        DiffFormat::Markdown => markdown::render(comparison, limit),
        DiffFormat::Json => json::render_with_gate(comparison, limit, gate)?,
    };
    out.write_all(text.as_bytes())
        .map_err(crate::report::write_error)
}
