//! Reading simple Python objects out of the target: `str` (compact ASCII, latin-1, UCS-2
//! and UCS-4 alike) and `bytes`. Every length is bounded, so garbage pointers give an
//! error, never a huge allocation.

use super::layout::Layout;
use crate::limits::{MAX_BYTES_OBJECT_LEN, MAX_CLAIMED_STR_CHARS, MAX_CODE_STR_CHARS};
use crate::process::{Bytes, Memory};

/// Reads a str object, keeping at most `MAX_CODE_STR_CHARS` code points (see [`shortened`]).
pub fn read_str(mem: &dyn Memory, layout: &Layout, addr: u64) -> Result<String, String> {
    if addr == 0 {
        return Err("null string pointer".into());
    }
    let mut head = [0u8; 128];
    let head_len = str_head_len(layout).min(head.len());
    mem.read(addr, &mut head[..head_len])
        .map_err(|e| e.to_string())?;
    let shape =
        str_head(layout, &head[..head_len]).map_err(|why| format!("string at {addr:#x} {why}"))?;
    let (kept, dropped) = shape.keep(MAX_CODE_STR_CHARS);
    let mut raw = vec![0u8; kept.data_len()];
    mem.read(addr + shape.data_offset(layout), &mut raw)
        .map_err(|e| e.to_string())?;
    let text = decode_str(kept, &raw)
        .ok_or_else(|| format!("ASCII string at {addr:#x} holds non-ASCII bytes"))?;
    Ok(shortened(text, dropped))
}

/// `text` with a visible marker when `dropped` code points were left off its end:
/// `"ffff…[+34464 chars]"`.
pub fn shortened(mut text: String, dropped: u64) -> String {
    if dropped > 0 {
        use std::fmt::Write;
        let _ = write!(text, "…[+{dropped} chars]");
    }
    text
}

/// The shape of a compact str, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrHead {
    /// Code points.
    pub length: u64,
    /// Bytes per code point: 1, 2 or 4.
    pub kind: u32,
    pub ascii: bool,
}

impl StrHead {
    /// Where the text starts, from the start of the object.
    pub fn data_offset(&self, layout: &Layout) -> u64 {
        if self.ascii {
            layout.unicode_ascii_size
        } else {
            layout.unicode_compact_size
        }
    }

    /// Bytes of text.
    pub fn data_len(&self) -> usize {
        (self.length * self.kind as u64) as usize
    }

    /// The shape of this str's first `max_chars` code points at most, and how many code
    /// points that leaves off.
    pub fn keep(self, max_chars: u64) -> (StrHead, u64) {
        let kept = self.length.min(max_chars);
        (
            StrHead {
                length: kept,
                ..self
            },
            self.length - kept,
        )
    }
}

/// Bytes to read from a str object to see its shape (and its type).
pub fn str_head_len(layout: &Layout) -> usize {
    [
        layout.unicode_ascii_size,
        layout.unicode_length + 8,
        layout.unicode_state + 4,
        layout.ob_type + 8,
    ]
    .into_iter()
    .max()
    .unwrap_or(0) as usize
}

/// Decodes the header of a str object; an error says why it is not a sane compact str.
/// Its length may be anything a real str can have: read it through [`StrHead::keep`].
pub fn str_head(layout: &Layout, head: &[u8]) -> Result<StrHead, String> {
    let state = head.u32_at(layout.unicode_state as usize);
    let kind = (state >> layout.unicode_kind_shift) & 0x7;
    let compact = (state >> layout.unicode_compact_shift) & 1 == 1;
    let ascii = (state >> layout.unicode_ascii_shift) & 1 == 1;
    let length = head.u64_at(layout.unicode_length as usize);
    if !compact {
        return Err("is not compact".into());
    }
    if length > MAX_CLAIMED_STR_CHARS || !matches!(kind, 1 | 2 | 4) || (ascii && kind != 1) {
        return Err(format!("is malformed (kind {kind}, length {length})"));
    }
    Ok(StrHead {
        length,
        kind,
        ascii,
    })
}

/// Decodes the text of a str whose header said `head`: code points, not UTF-16, so a lone
/// surrogate (legal in a str, not in Rust) becomes U+FFFD, as does anything past
/// U+10FFFF. `None` when the length is wrong or an ASCII str holds other bytes.
pub fn decode_str(head: StrHead, raw: &[u8]) -> Option<String> {
    if raw.len() != head.data_len() {
        return None;
    }
    let char_or_replacement = |cp: u32| char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
    match head.kind {
        1 if head.ascii => raw
            .is_ascii()
            .then(|| raw.iter().map(|b| char::from(*b)).collect()),
        1 => Some(raw.iter().map(|b| char::from(*b)).collect()),
        2 => Some(
            raw.chunks_exact(2)
                .map(|c| char_or_replacement(u16::from_le_bytes([c[0], c[1]]) as u32))
                .collect(),
        ),
        4 => Some(
            raw.chunks_exact(4)
                .map(|c| char_or_replacement(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        _ => None,
    }
}

pub fn read_bytes(mem: &dyn Memory, layout: &Layout, addr: u64) -> Result<Vec<u8>, String> {
    if addr == 0 {
        return Err("null bytes pointer".into());
    }
    let size = mem
        .read_u64(addr + layout.bytes_size)
        .map_err(|e| e.to_string())?;
    if size > MAX_BYTES_OBJECT_LEN {
        return Err(format!("bytes object at {addr:#x} claims {size} bytes"));
    }
    let mut data = vec![0u8; size as usize];
    mem.read(addr + layout.bytes_data, &mut data)
        .map_err(|e| e.to_string())?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strs_keep_their_start_and_say_how_much_is_left_off() {
        let long = StrHead {
            length: 100_000,
            kind: 2,
            ascii: false,
        };
        let (kept, dropped) = long.keep(MAX_CODE_STR_CHARS);
        assert_eq!((kept.length, kept.kind, dropped), (65_536, 2, 34_464));
        assert_eq!(kept.data_len(), 131_072);
        assert_eq!(long.keep(200_000), (long, 0));
        assert_eq!(shortened("ab".into(), 0), "ab");
        assert_eq!(shortened("ab".into(), 34_464), "ab…[+34464 chars]");
    }

    #[test]
    fn decodes_every_str_kind() {
        let ascii = StrHead {
            length: 5,
            kind: 1,
            ascii: true,
        };
        assert_eq!(decode_str(ascii, b"hello").as_deref(), Some("hello"));
        assert_eq!(decode_str(ascii, b"h\xe9llo"), None);
        assert_eq!(decode_str(ascii, b"hell"), None);
        let latin1 = StrHead {
            length: 2,
            kind: 1,
            ascii: false,
        };
        assert_eq!(decode_str(latin1, b"\xdcn").as_deref(), Some("Ün"));
        let text = "名前";
        let ucs2: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(
            decode_str(
                StrHead {
                    length: 2,
                    kind: 2,
                    ascii: false
                },
                &ucs2
            )
            .as_deref(),
            Some(text)
        );
        let ucs4: Vec<u8> = "a😀"
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        assert_eq!(
            decode_str(
                StrHead {
                    length: 2,
                    kind: 4,
                    ascii: false
                },
                &ucs4
            )
            .as_deref(),
            Some("a😀")
        );
        let surrogate = 0xd800u16.to_le_bytes();
        assert_eq!(
            decode_str(
                StrHead {
                    length: 1,
                    kind: 2,
                    ascii: false
                },
                &surrogate
            )
            .as_deref(),
            Some("\u{fffd}")
        );
    }
}
