//! Instruction offset → source line, decoded once per code object from the line table of
//! its era: `co_lnotab` (≤3.9), 3.10's `co_linetable`, and the 3.11+ location table.
//! A decoded table is a sorted list of (first byte offset, line) runs.

use super::layout::LineTableFormat;

/// Line runs of one code object; `line < 0` marks instructions without a line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineTable {
    runs: Vec<(u32, i32)>,
    first_line: u32,
}

impl LineTable {
    pub fn decode(format: LineTableFormat, table: &[u8], first_line: u32) -> LineTable {
        let runs = match format {
            LineTableFormat::Lnotab => decode_lnotab(table, first_line as i32),
            LineTableFormat::Linetable310 => decode_310(table, first_line as i32),
            LineTableFormat::Locations => decode_locations(table, first_line as i32),
        };
        LineTable { runs, first_line }
    }

    /// The line of the instruction at `byte_offset` from the start of the bytecode, or the
    /// `def` line when the offset precedes the code (a frame that has not started yet).
    pub fn line_at(&self, byte_offset: i64) -> u32 {
        if byte_offset < 0 {
            return self.first_line;
        }
        let offset = byte_offset.min(u32::MAX as i64) as u32;
        let idx = self.runs.partition_point(|(start, _)| *start <= offset);
        if idx == 0 {
            return self.first_line;
        }
        let line = self.runs[idx - 1].1;
        if line < 0 {
            // An instruction with no line of its own (cleanup code); report the last
            // real line before it, as tracebacks effectively do.
            self.runs[..idx - 1]
                .iter()
                .rev()
                .find(|(_, l)| *l >= 0)
                .map_or(self.first_line, |(_, l)| *l as u32)
        } else {
            line as u32
        }
    }
}

/// ≤3.9: pairs of (bytecode increment, line increment as a signed byte).
fn decode_lnotab(table: &[u8], first_line: i32) -> Vec<(u32, i32)> {
    let mut runs = vec![(0, first_line)];
    let (mut addr, mut line) = (0u32, first_line);
    for pair in table.chunks_exact(2) {
        addr += pair[0] as u32;
        line += pair[1] as i8 as i32;
        runs.push((addr, line));
    }
    runs
}

/// 3.10: pairs of (byte length of the range, line delta; -128 = no line).
fn decode_310(table: &[u8], first_line: i32) -> Vec<(u32, i32)> {
    let mut runs = Vec::with_capacity(table.len() / 2);
    let (mut end, mut line) = (0u32, first_line);
    for pair in table.chunks_exact(2) {
        let start = end;
        end += pair[0] as u32;
        let delta = pair[1] as i8;
        let this_line = if delta == -128 {
            -1
        } else {
            line += delta as i32;
            line
        };
        runs.push((start, this_line));
    }
    runs
}

/// 3.11+: entries of a header byte `1CCCCLLL` (code, length-1 in code units) and then
/// code-specific varints; only the line is kept.
fn decode_locations(table: &[u8], first_line: i32) -> Vec<(u32, i32)> {
    let mut runs = Vec::with_capacity(table.len() / 2);
    let mut pos = 0usize;
    let mut units = 0u32;
    let mut line = first_line;
    let mut next = |pos: &mut usize| -> Option<u8> {
        let b = table.get(*pos).copied();
        *pos += 1;
        b
    };
    while let Some(header) = next(&mut pos) {
        if header & 0x80 == 0 {
            break; // not an entry start: a corrupt table, stop here
        }
        let code = (header >> 3) & 0x0f;
        let length = (header & 0x07) as u32 + 1;
        let this_line = match code {
            15 => -1,
            14 => {
                line += read_svarint(&mut pos, &mut next);
                read_varint(&mut pos, &mut next); // end line delta
                read_varint(&mut pos, &mut next); // column
                read_varint(&mut pos, &mut next); // end column
                line
            }
            13 => {
                line += read_svarint(&mut pos, &mut next);
                line
            }
            10..=12 => {
                line += (code - 10) as i32;
                next(&mut pos);
                next(&mut pos);
                line
            }
            _ => {
                next(&mut pos);
                line
            }
        };
        runs.push((units * 2, this_line));
        units += length;
    }
    runs
}

fn read_varint(pos: &mut usize, next: &mut impl FnMut(&mut usize) -> Option<u8>) -> u32 {
    let mut value = 0u32;
    let mut shift = 0;
    while let Some(b) = next(pos) {
        if shift < 32 {
            value |= ((b & 0x3f) as u32) << shift;
        }
        shift += 6;
        if b & 0x40 == 0 {
            break;
        }
    }
    value
}

fn read_svarint(pos: &mut usize, next: &mut impl FnMut(&mut usize) -> Option<u8>) -> i32 {
    let v = read_varint(pos, next);
    if v & 1 != 0 {
        -((v >> 1) as i32)
    } else {
        (v >> 1) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lnotab_accumulates_signed_line_steps() {
        // def at line 10; bytes 0-5 line 10, 6-13 line 12, 14- line 11
        let t = LineTable::decode(LineTableFormat::Lnotab, &[6, 2, 8, 0xff], 10);
        assert_eq!(t.line_at(0), 10);
        assert_eq!(t.line_at(5), 10);
        assert_eq!(t.line_at(6), 12);
        assert_eq!(t.line_at(14), 11);
        assert_eq!(t.line_at(-1), 10);
    }

    #[test]
    fn linetable_310_has_ranges_and_lineless_entries() {
        // [0,4) line 5+1=6, [4,8) no line, [8,12) line 6+2=8
        let t = LineTable::decode(LineTableFormat::Linetable310, &[4, 1, 4, 0x80, 4, 2], 5);
        assert_eq!(t.line_at(2), 6);
        assert_eq!(t.line_at(6), 6);
        assert_eq!(t.line_at(8), 8);
    }

    #[test]
    fn location_table_forms() {
        // code 13 (no column) +1 line, 2 units; code 10 one-line form same line, 1 unit;
        // code 15 no location, 1 unit; code 14 long form -1 line.
        let table = [
            0x80 | (13 << 3) | 1,
            2, // svarint +1
            0x80 | (10 << 3),
            1,
            5,
            0x80 | (15 << 3),
            0x80 | (14 << 3),
            3,
            0,
            0,
            0, // svarint -1, end line, col, end col
        ];
        let t = LineTable::decode(LineTableFormat::Locations, &table, 20);
        assert_eq!(t.line_at(0), 21);
        assert_eq!(t.line_at(2), 21);
        assert_eq!(t.line_at(4), 21);
        assert_eq!(t.line_at(6), 21); // no location: last real line
        assert_eq!(t.line_at(8), 20);
    }

    #[test]
    fn garbage_never_panics() {
        for n in 0..64u8 {
            let junk: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
            for f in [
                LineTableFormat::Lnotab,
                LineTableFormat::Linetable310,
                LineTableFormat::Locations,
            ] {
                let t = LineTable::decode(f, &junk, 1);
                let _ = t.line_at(n as i64 * 3);
            }
        }
    }
}
