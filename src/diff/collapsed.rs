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
    pub frames: Vec<FoldedFrame>,
    pub value: f64,
}

/// A parsed collapsed-stack file.
#[derive(Clone, Debug, PartialEq)]
pub struct Folded {
    pub stacks: Vec<FoldedStack>,
    /// Austin's format: each line is one sample, its value in microseconds.
    pub austin: bool,
}

/// Parses collapsed-stack text. Blank lines and `#` comments (Austin's metadata) are
/// skipped; the error names the first line that is not a stack and a number.
pub fn parse(text: &str) -> Result<Folded, String> {
    let mut stacks = Vec::new();
    let mut austin = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (stack, value) = split_value(line).ok_or_else(|| {
            format!(
                "line {} is not a collapsed stack (`frame;frame;... COUNT`): `{}`",
                n + 1,
                shorten(line)
            )
        })?;
        let mut parts: Vec<&str> = stack.split(';').filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            // A sample without frames (py-spy writes these as ` COUNT`).
            continue;
        }
        let is_austin = *austin.get_or_insert_with(|| is_austin_root(&parts));
        if is_austin && is_austin_root(&parts) {
            parts.drain(..2);
        }
        let frames = parts
            .into_iter()
            .filter(|p| !is_py_spy_root(p))
            .map(|p| {
                if is_austin {
                    austin_frame(p)
                } else {
                    labelled_frame(p)
                }
            })
            .collect();
        stacks.push(FoldedStack { frames, value });
    }
    Ok(Folded {
        stacks,
        austin: austin.unwrap_or(false),
    })
}

/// The stack (perhaps empty) and the number after its last space.
fn split_value(line: &str) -> Option<(&str, f64)> {
    let (stack, number) = line.rsplit_once([' ', '\t'])?;
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some((stack.trim_end(), value))
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

/// `name (file:line)`, `name (file)`, or a bare name.
fn labelled_frame(part: &str) -> FoldedFrame {
    if let Some(inner) = part.strip_suffix(')') {
        // Python names hold no spaces, so the first ` (` ends the name (files may hold it).
        if let Some((name, location)) = inner.split_once(" (") {
            let file = match location.rsplit_once(':') {
                Some((file, line)) if is_number(line) => file,
                _ => location,
            };
            return FoldedFrame {
                name: name.to_string(),
                file: file.to_string(),
            };
        }
    }
    FoldedFrame {
        name: part.to_string(),
        file: String::new(),
    }
}

/// Austin's `file:name:line` (the file may hold colons itself).
fn austin_frame(part: &str) -> FoldedFrame {
    let mut pieces = part.rsplitn(3, ':');
    match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(line), Some(name), Some(file)) if is_number(line) => FoldedFrame {
            name: name.to_string(),
            file: file.to_string(),
        },
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

    #[test]
    fn py_spy_raw_lines() {
        let text = "<module> (fibt.py:9);main (fibt.py:8);A.fib (fibt.py:4) 25\n\
                    <module> (fibt.py:9);main (fibt.py:8) 2\n";
        let folded = parse(text).unwrap();
        assert!(!folded.austin);
        assert_eq!(folded.stacks.len(), 2);
        assert_eq!(
            folded.stacks[0].frames,
            [
                frame("<module>", "fibt.py"),
                frame("main", "fibt.py"),
                frame("A.fib", "fibt.py")
            ]
        );
        assert_eq!(folded.stacks[0].value, 25.0);
    }

    #[test]
    fn py_spy_thread_roots_and_odd_names() {
        let text =
            "process 42:\"python a.py\";thread (0x7f3a2b);run (<frozen runpy>:88);f (x (1).py) 3";
        let folded = parse(text).unwrap();
        assert_eq!(
            folded.stacks[0].frames,
            [frame("run", "<frozen runpy>"), frame("f", "x (1).py")]
        );
    }

    #[test]
    fn flamegraph_pl_folded_lines_have_bare_names() {
        let folded = parse("main;compute;sqrt 7\n\n# comment\nmain 1.5\n 4\n").unwrap();
        assert_eq!(folded.stacks.len(), 2);
        assert_eq!(folded.stacks[0].frames[2], frame("sqrt", ""));
        assert_eq!(folded.stacks[1].value, 1.5);
    }

    #[test]
    fn austin_samples() {
        let text = "# austin: 3.7.0\n# interval: 100\n\
                    P4317;T0:7fe1;/srv/app.py:<module>:1;C:\\w\\lib.py:Parser.run:12 104\n";
        let folded = parse(text).unwrap();
        assert!(folded.austin);
        assert_eq!(
            folded.stacks[0].frames,
            [
                frame("<module>", "/srv/app.py"),
                frame("Parser.run", "C:\\w\\lib.py")
            ]
        );
        assert_eq!(folded.stacks[0].value, 104.0);
    }

    #[test]
    fn lines_without_a_count_are_refused() {
        let err = parse("main;work 3\n{\"not\": \"folded\"}\n").unwrap_err();
        assert!(err.starts_with("line 2 is not a collapsed stack"), "{err}");
        assert!(parse("main;work -3").is_err());
        assert!(parse("12").is_err());
    }
}
