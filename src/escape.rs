//! Making hostile text safe to show. Function, file and thread names, command lines and
//! anything read from a recording are chosen by whoever controls the target or wrote the
//! file. Before such text reaches a terminal, a text table, markdown or an SVG it goes
//! through [`visible`]: control characters become visible escapes (`\x1b`, `\n`, `\0`,
//! `\u{85}` …), so a name can neither drive the terminal nor forge a line, and every
//! character left is one XML 1.0 allows. JSON outputs do not use this: their escaping is
//! exact and lossless.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every character that could act on a terminal, break a line-based format or
/// is not allowed in XML 1.0 written out as a visible escape; other text unchanged
/// (borrowed when there is nothing to escape). Backslashes are left as they are.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        if !needs_escape(ch) {
            out.push(ch);
            continue;
        }
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// Control characters (C0, DEL, C1), the Unicode line and paragraph separators, the
/// bidirectional controls that reorder what a terminal shows, and the two characters XML
/// 1.0 forbids that a Rust string can hold (U+FFFE, U+FFFF).
fn needs_escape(ch: char) -> bool {
    ch.is_control()
        || matches!(
            ch,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{fffe}'
                | '\u{ffff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in [
            "main",
            "wide-chars-ünï-名前",
            "a\\x1b",
            "関数_𠀋 (módulo_ñ.py:6)",
            "",
        ] {
            assert!(matches!(visible(s), Cow::Borrowed(b) if b == s), "{s}");
        }
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(visible("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(
            visible("bell\x07 nul\0 nl\n cr\r tab\t del\x7f"),
            "bell\\x07 nul\\0 nl\\n cr\\r tab\\t del\\x7f"
        );
        assert_eq!(visible("c1\u{85}\u{9b}"), "c1\\u{85}\\u{9b}");
        assert_eq!(
            visible("ls\u{2028}bidi\u{202e}x\u{2066}"),
            "ls\\u{2028}bidi\\u{202e}x\\u{2066}"
        );
        assert_eq!(visible("xml\u{fffe}\u{ffff}"), "xml\\u{fffe}\\u{ffff}");
    }

    #[test]
    fn nothing_escaped_is_left_that_a_terminal_or_xml_would_act_on() {
        let every: String = (0u32..0x3000)
            .chain([0xfffe, 0xffff, 0x1_0000])
            .filter_map(char::from_u32)
            .collect();
        let shown = visible(&every);
        assert!(shown.chars().all(|c| !c.is_control()
            && !matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{fffe}' | '\u{ffff}'
            )));
        // Exactly the XML 1.0 Char production, minus the whitespace controls we escape too.
        assert!(shown.chars().all(|c| matches!(c as u32,
            0x20..=0xd7ff | 0xe000..=0xfffd | 0x1_0000..=0x10_ffff)));
    }
}
