//! Collapsed-stack ("folded") files written by other profilers, read so that teams can diff
//! what they already have: py-spy's `-f raw`, flamegraph.pl/inferno folded stacks (and
//! framescope's own `--format collapsed`), and Austin's text samples. One line is one stack,
//! root first, frames separated by `;`, then a space and a number.
//!
//! Frames written `name (file:line)` or `name (file)` (py-spy, framescope) give a function
//! name and a file; Austin frames `file:name:line` likewise; any other frame is a function
//! name without a file. The number is a sample count, except in Austin files (recognised by
//! their `P<pid>;T<thread>` roots), where each line is one sample and the number is its
//! duration in microseconds. This module only parses text; it knows nothing of runs,
//! weights or statistics.

use crate::limits::{MAX_DIFF_FUNCTIONS, MAX_STACK_DEPTH};
use std::collections::HashMap;

/// A frame as a collapsed file names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FoldedFrame {
    pub name: String,
    /// Empty when the frame names no file.
    pub file: String,
}

/// One line: a stack, root first, and its number.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldedStack {
    /// Indexes into [`Folded::frames`], root first; never empty.
    pub frames: Vec<u32>,
    pub value: u64,
}

/// A parsed collapsed-stack file.
#[derive(Clone, Debug, PartialEq)]
pub struct Folded {
    /// Each distinct frame once, in the order of first appearance.
    pub frames: Vec<FoldedFrame>,
    /// One per line that holds a stack, in file order.
    pub stacks: Vec<FoldedStack>,
    /// Austin's format: each line is one sample, its value in microseconds.
    pub austin: bool,
    /// Lines of more than [`MAX_STACK_DEPTH`] frames, cut to their innermost frames.
    pub deep_lines: u64,
    /// The counts of lines that are a count alone: samples with no Python frames, which
    /// py-spy writes as ` COUNT`. Left out, as framescope leaves out such samples.
    pub frameless: u64,
}

/// Parses collapsed-stack text. Blank lines and `#` comments (Austin's metadata) are
/// skipped. Every other line must be frames separated by `;`, none of them empty, then
/// whitespace and a count of ASCII digits, or the count alone (a sample without Python
/// frames); the counts of all lines must add up within 64 bits. The error names the first
/// line that breaks a rule, by its number.
pub fn parse(text: &str) -> Result<Folded, BadLine> {
    let mut folded = Folded {
        frames: Vec::new(),
        stacks: Vec::new(),
        austin: false,
        deep_lines: 0,
        frameless: 0,
    };
    // SipHash: the names come from the file, which may be crafted to collide.
    let mut index: HashMap<(&str, &str), u32> = HashMap::new();
    let mut austin = None;
    let mut total: u64 = 0;
    let mut parts: Vec<&str> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let seen_stacks = total > 0 || !folded.stacks.is_empty();
        let bad = |why: &str| BadLine {
            message: format!("line {} {why}: `{}`", n + 1, shorten(line)),
            seen_stacks,
        };
        let Some((stack, number)) = line.rsplit_once([' ', '\t']) else {
            return Err(bad("is not a collapsed stack (`frame;frame;... COUNT`)"));
        };
        if !number.bytes().any(|b| b.is_ascii_digit()) {
            return Err(bad("is not a collapsed stack (`frame;frame;... COUNT`)"));
        }
        let value = count(number).map_err(|why| bad(&why))?;
        total = total.checked_add(value).ok_or_else(|| {
            bad(&format!(
                "brings the counts to more than {} in all",
                u64::MAX
            ))
        })?;
        let stack = stack.trim_end();
        if stack.is_empty() {
            // py-spy writes a sample with no Python frames as ` COUNT`.
            folded.frameless += value;
            continue;
        }
        parts.clear();
        parts.extend(stack.split(';'));
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad(
                "has an empty frame (`;;`, or a `;` at the start or end of the stack)",
            ));
        }
        let is_austin = *austin.get_or_insert_with(|| is_austin_root(&parts));
        let skip = if is_austin && is_austin_root(&parts) {
            2
        } else {
            parts.iter().take_while(|p| is_py_spy_root(p)).count()
        };
        let frames = &parts[skip..];
        if frames.is_empty() {
            // A sample of a thread with no Python frames: only its roots.
            continue;
        }
        let kept = &frames[frames.len().saturating_sub(MAX_STACK_DEPTH)..];
        if kept.len() < frames.len() {
            folded.deep_lines += 1;
        }
        let ids = kept
            .iter()
            .map(|part| {
                let (name, file) = if is_austin {
                    austin_frame(part)
                } else {
                    labelled_frame(part)
                };
                let next = folded.frames.len() as u32;
                let id = *index.entry((name, file)).or_insert(next);
                if id == next {
                    folded.frames.push(FoldedFrame {
                        name: name.to_string(),
                        file: file.to_string(),
                    });
                }
                id
            })
            .collect();
        if folded.frames.len() > MAX_DIFF_FUNCTIONS {
            return Err(bad(&format!(
                "brings the distinct frames past {MAX_DIFF_FUNCTIONS}, more than a diff compares"
            )));
        }
        folded.stacks.push(FoldedStack { frames: ids, value });
    }
    folded.austin = austin.unwrap_or(false);
    Ok(folded)
}

/// The first line of a text that breaks the format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// `line N ...: `the line``.
    pub message: String,
    /// Lines before it were stacks: the text is a collapsed-stack file with a bad line, not
    /// some other kind of file.
    pub seen_stacks: bool,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A line's count: ASCII digits only (no sign, point or exponent), at most `u64::MAX`.
fn count(number: &str) -> Result<u64, String> {
    if !is_number(number) {
        return Err(format!(
            "ends in `{}`, not a count (a whole number, digits only)",
            shorten(number)
        ));
    }
    number
        .parse()
        .map_err(|_| format!("has a count larger than {}", u64::MAX))
}

/// Austin's stacks start with `P<pid>` and `T<thread>`.
fn is_austin_root(parts: &[&str]) -> bool {
    let digits_after = |s: &str, prefix: char| {
        s.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
    };
    parts.len() >= 2 && digits_after(parts[0], 'P') && parts[1].starts_with('T')
}

/// py-spy's `--threads` roots: `process 123:"python app.py"` and `thread (0x7f...)`.
fn is_py_spy_root(part: &str) -> bool {
    let process = part.strip_prefix("process ").is_some_and(|rest| {
        rest.split_once(':')
            .is_some_and(|(pid, _)| !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()))
    });
    let thread = part
        .strip_prefix("thread (0x")
        .and_then(|rest| rest.strip_suffix(')'))
        .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()));
    process || thread
}

/// `name (file:line)`, `name (file)`, or a bare name: the name and the file (empty when
/// none).
fn labelled_frame(part: &str) -> (&str, &str) {
    if let Some(inner) = part.strip_suffix(')') {
        // Python names hold no spaces, so the first ` (` ends the name (files may hold it).
        if let Some((name, location)) = inner.split_once(" (") {
            let file = match location.rsplit_once(':') {
                Some((file, line)) if is_number(line) => file,
                _ => location,
            };
            return (name, file);
        }
    }
    (part, "")
}

/// Austin's `file:name:line` (the file may hold colons itself).
fn austin_frame(part: &str) -> (&str, &str) {
    let mut pieces = part.rsplitn(3, ':');
    match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(line), Some(name), Some(file)) if is_number(line) => (name, file),
        _ => labelled_frame(part),
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// At most 60 characters of a line, for an error message.
fn shorten(line: &str) -> String {
    let mut short: String = line.chars().take(60).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str, file: &str) -> FoldedFrame {
        FoldedFrame {
            name: name.into(),
            file: file.into(),
        }
    }

    /// The frames of line `i` of `folded`, root first.
    fn frames(folded: &Folded, i: usize) -> Vec<FoldedFrame> {
        folded.stacks[i]
            .frames
            .iter()
            .map(|&f| folded.frames[f as usize].clone())
            .collect()
    }

    #[test]
    fn py_spy_raw_lines() {
        let text = "<module> (fibt.py:9);main (fibt.py:8);A.fib (fibt.py:4) 25\n\
                    <module> (fibt.py:9);main (fibt.py:8) 2\n";
        let folded = parse(text).unwrap();
        assert!(!folded.austin);
        assert_eq!(folded.stacks.len(), 2);
        assert_eq!(
            frames(&folded, 0),
            [
                frame("<module>", "fibt.py"),
                frame("main", "fibt.py"),
                frame("A.fib", "fibt.py")
            ]
        );
        assert_eq!(folded.stacks[0].value, 25);
        assert_eq!(folded.stacks[1].frames, [0, 1], "frames are shared");
        assert_eq!(folded.frames.len(), 3);
    }

    #[test]
    fn py_spy_thread_roots_and_odd_names() {
        let text =
            "process 42:\"python a.py\";thread (0x7f3a2b);run (<frozen runpy>:88);f (x (1).py) 3";
        let folded = parse(text).unwrap();
        assert_eq!(
            frames(&folded, 0),
            [frame("run", "<frozen runpy>"), frame("f", "x (1).py")]
        );
    }

    #[test]
    fn flamegraph_pl_folded_lines_have_bare_names() {
        let folded = parse("main;compute;sqrt 7\n\n# comment\nmain\t15\r\n").unwrap();
        assert_eq!(folded.stacks.len(), 2);
        assert_eq!(frames(&folded, 0)[2], frame("sqrt", ""));
        assert_eq!(folded.stacks[1].value, 15);
    }

    #[test]
    fn austin_samples() {
        let text = "# austin: 3.7.0\n# interval: 100\n\
                    P4317;T0:7fe1;/srv/app.py:<module>:1;C:\\w\\lib.py:Parser.run:12 104\n";
        let folded = parse(text).unwrap();
        assert!(folded.austin);
        assert_eq!(
            frames(&folded, 0),
            [
                frame("<module>", "/srv/app.py"),
                frame("Parser.run", "C:\\w\\lib.py")
            ]
        );
        assert_eq!(folded.stacks[0].value, 104);
    }

    #[test]
    fn lines_without_a_count_are_refused() {
        let err = parse("main;work 3\n{\"not\": \"folded\"}\n").unwrap_err();
        assert!(
            err.message.starts_with("line 2 is not a collapsed stack"),
            "{err}"
        );
        assert!(err.seen_stacks);
        assert!(!parse("{\"not\": \"folded\"}\n").unwrap_err().seen_stacks);
        assert!(parse("12").is_err());
    }

    #[test]
    fn counts_are_whole_numbers_of_digits_only() {
        let refused = |count: &str, why: &str| {
            let text = format!("main;work 3\n\nmain;work {count}\n");
            let err = parse(&text).unwrap_err().message;
            assert_eq!(err, format!("line 3 {why}: `main;work {count}`"), "{count}");
        };
        for count in ["1e9", "3.0", "+3", "-3", "0x10", "3_000", "3３"] {
            refused(
                count,
                &format!("ends in `{count}`, not a count (a whole number, digits only)"),
            );
        }
        refused(
            "18446744073709551616",
            "has a count larger than 18446744073709551615",
        );
        refused(
            "99999999999999999999999",
            "has a count larger than 18446744073709551615",
        );
        let max = parse("main 18446744073709551615").unwrap();
        assert_eq!(max.stacks[0].value, u64::MAX);
        assert_eq!(parse("main 0007").unwrap().stacks[0].value, 7);
    }

    #[test]
    fn the_counts_must_add_up_within_64_bits() {
        let err = parse("a 18446744073709551615\nb 0\nc 1\n")
            .unwrap_err()
            .message;
        assert_eq!(
            err,
            "line 3 brings the counts to more than 18446744073709551615 in all: `c 1`"
        );
        assert!(parse("a 18446744073709551614\nc 1\n").is_ok());
    }

    #[test]
    fn stacks_without_frames_or_with_empty_frames_are_refused() {
        let cases = [
            (";;; 3", "line 2 has an empty frame (`;;`, or a `;` at the start or end of the stack): `;;; 3`"),
            ("main;;work 3", "line 2 has an empty frame (`;;`, or a `;` at the start or end of the stack): `main;;work 3`"),
            ("main; 3", "line 2 has an empty frame (`;;`, or a `;` at the start or end of the stack): `main; 3`"),
        ];
        for (line, expected) in cases {
            let err = parse(&format!("main 1\n{line}\n")).unwrap_err().message;
            assert_eq!(err, expected, "{line:?}");
        }
    }

    #[test]
    fn a_count_alone_is_a_sample_without_frames() {
        let folded = parse("main 1\n 4\n\t2\n").unwrap();
        assert_eq!((folded.stacks.len(), folded.frameless), (1, 6));
        let err = parse("main 18446744073709551615\n 1\n")
            .unwrap_err()
            .message;
        assert!(
            err.starts_with("line 2 brings the counts to more than"),
            "{err}"
        );
        let err = parse(" 1e3\n").unwrap_err().message;
        assert!(
            err.starts_with("line 1 ends in `1e3`, not a count"),
            "{err}"
        );
    }

    #[test]
    fn distinct_frames_are_bounded() {
        let line = |l: usize| {
            let names: Vec<String> = (0..1000).map(|i| format!("f{}", l * 1000 + i)).collect();
            format!("{} 1\n", names.join(";"))
        };
        let within: String = (0..MAX_DIFF_FUNCTIONS / 1000).map(line).collect();
        assert_eq!(parse(&within).unwrap().frames.len(), MAX_DIFF_FUNCTIONS);
        let over = within.clone() + &line(MAX_DIFF_FUNCTIONS / 1000);
        let err = parse(&over).unwrap_err().message;
        assert!(
            err.starts_with("line 201 brings the distinct frames past 200000, more than a diff compares: `f200000;"),
            "{err}"
        );
    }

    #[test]
    fn deep_lines_keep_their_innermost_frames() {
        let names: Vec<String> = (0..MAX_STACK_DEPTH + 5).map(|i| format!("f{i}")).collect();
        let text = format!("{} 2\nshort 1\n", names.join(";"));
        let folded = parse(&text).unwrap();
        assert_eq!(folded.deep_lines, 1);
        let kept = frames(&folded, 0);
        assert_eq!(kept.len(), MAX_STACK_DEPTH);
        assert_eq!(kept[0], frame("f5", ""));
        assert_eq!(
            kept[MAX_STACK_DEPTH - 1],
            frame(&names[MAX_STACK_DEPTH + 4], "")
        );
        assert_eq!(
            folded.frames.len(),
            MAX_STACK_DEPTH + 1,
            "cut frames are not kept"
        );
    }
}
