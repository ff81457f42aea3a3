//! Which lines of a Python source file a function occupies, from its first line (the
//! `co_firstlineno` a recording carries: the first decorator of a decorated function) to
//! the end of its body, found by indentation. A light scan keeps track of strings,
//! brackets and backslashes, so a docstring or call that runs over several lines, dedented
//! or not, stays inside. `<module>` is the file without the bodies of its top-level
//! functions and classes (a change inside a function is not a change of the module's own
//! code); a lambda or comprehension is the statement line it starts on. Not a parser: a
//! file it cannot make sense of gives a short span, never an error.

/// One physical line, as the scan saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Line {
    /// Leading spaces (a tab counts to the next multiple of 8).
    indent: usize,
    /// Blank or only a comment.
    blank: bool,
    /// Begins a logical line (not inside a string, brackets or after a backslash).
    starts: bool,
    /// Whether a logical line continues onto the next physical line.
    continues: bool,
    /// The line's text without its indentation.
    text: String,
}

/// A source file's lines, scanned.
#[derive(Clone, Debug)]
pub struct Source {
    lines: Vec<Line>,
}

impl Source {
    pub fn new(text: &str) -> Source {
        let mut lines = Vec::new();
        let mut triple: Option<&'static str> = None;
        let mut depth = 0usize;
        let mut backslash = false;
        for raw in text.lines() {
            let starts = triple.is_none() && depth == 0 && !backslash;
            let indent = raw
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .fold(0, |n, c| if c == '\t' { (n / 8 + 1) * 8 } else { n + 1 });
            let body = raw.trim_start();
            let blank = starts && (body.is_empty() || body.starts_with('#'));
            backslash = false;
            let bytes = raw.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if let Some(q) = triple {
                    if bytes[i..].starts_with(q.as_bytes()) {
                        triple = None;
                        i += 3;
                    } else {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    continue;
                }
                match bytes[i] {
                    b'#' => break,
                    b'(' | b'[' | b'{' => depth += 1,
                    b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                    b'\\' if i + 1 == bytes.len() => backslash = true,
                    q @ (b'"' | b'\'') => {
                        let three = if q == b'"' { "\"\"\"" } else { "'''" };
                        if bytes[i..].starts_with(three.as_bytes()) {
                            triple = Some(three);
                            i += 3;
                            continue;
                        }
                        // A one-line string: to its closing quote, or the end of the line.
                        i += 1;
                        while i < bytes.len() && bytes[i] != q {
                            i += if bytes[i] == b'\\' { 2 } else { 1 };
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            let continues = triple.is_some() || depth > 0 || backslash;
            lines.push(Line {
                indent,
                blank,
                starts,
                continues,
                text: body.to_string(),
            });
        }
        Source { lines }
    }

    /// The last line (1-based) of the logical line starting at `first`.
    fn logical_end(&self, first: usize) -> usize {
        let mut i = first;
        while i <= self.lines.len() && self.lines[i - 1].continues {
            i += 1;
        }
        i.min(self.lines.len())
    }

    /// The lines of the definition whose first line (decorators included) is `first`:
    /// (header's first line, header's last line, body's last line).
    fn definition(&self, first: usize) -> Option<(usize, usize, usize)> {
        let mut header = first;
        // Skip decorators (each a logical line starting with `@`).
        loop {
            let line = self.lines.get(header - 1)?;
            if !(line.starts && line.text.starts_with('@')) {
                break;
            }
            header = self.logical_end(header) + 1;
        }
        let line = self.lines.get(header - 1)?;
        let is_def = ["def ", "async ", "class "]
            .iter()
            .any(|k| line.text.starts_with(k));
        if !(line.starts && is_def) {
            return None;
        }
        let indent = line.indent;
        let header_end = self.logical_end(header);
        let mut end = header_end;
        let mut last_code = header_end;
        for (i, l) in self.lines.iter().enumerate().skip(header_end) {
            if l.starts && !l.blank && l.indent <= indent {
                break;
            }
            end = i + 1;
            if !l.blank {
                last_code = end;
            }
        }
        Some((header, header_end, end.min(last_code)))
    }

    /// The line ranges (1-based, inclusive) of the function `qualname` whose first line is
    /// `first_line`; empty when the file does not have that line.
    pub fn span(&self, qualname: &str, first_line: u32) -> Vec<(u32, u32)> {
        let n = self.lines.len();
        let name = qualname.rsplit('.').next().unwrap_or(qualname);
        if name == "<module>" {
            return self.module_lines();
        }
        let first = first_line as usize;
        if first == 0 || first > n {
            return Vec::new();
        }
        let last = match self.definition(first) {
            Some((_, _, end)) if !name.starts_with('<') => end,
            // A lambda or comprehension (or a line that is no `def`): its statement line.
            _ => self.logical_end(first),
        };
        vec![(first as u32, last as u32)]
    }

    /// The module's own lines: everything but the bodies of top-level functions and classes.
    fn module_lines(&self) -> Vec<(u32, u32)> {
        let mut ranges = Vec::new();
        let mut from = 1;
        let mut i = 1;
        while i <= self.lines.len() {
            let line = &self.lines[i - 1];
            if line.starts && line.indent == 0 && !line.blank {
                if let Some((_, header_end, end)) = self.definition(i) {
                    if end > header_end {
                        if header_end >= from {
                            ranges.push((from as u32, header_end as u32));
                        }
                        from = end + 1;
                    }
                    i = end.max(header_end) + 1;
                    continue;
                }
            }
            i += 1;
        }
        if from <= self.lines.len() {
            ranges.push((from as u32, self.lines.len() as u32));
        }
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = r#"import functools

X = 1


@functools.lru_cache(
    maxsize=None,
)
def cached(n):
    """Docstring
that is dedented.
"""
    return n  # (

    # a comment inside


class Shape:
    def area(self):
        return (1 +
2)

    def name(self): return "x\"y"

squares = [x * x
           for x in range(3)]
f = lambda y: y
"#;

    #[test]
    fn functions_run_from_decorator_to_the_end_of_their_body() {
        let s = Source::new(CODE);
        assert_eq!(s.span("cached", 6), [(6, 13)]);
        assert_eq!(s.span("Shape", 18), [(18, 23)]);
        assert_eq!(s.span("Shape.area", 19), [(19, 21)]);
        assert_eq!(s.span("Shape.name", 23), [(23, 23)]);
        assert_eq!(s.span("<listcomp>", 25), [(25, 26)]);
        assert_eq!(s.span("<lambda>", 27), [(27, 27)]);
        assert!(s.span("gone", 99).is_empty());
    }

    #[test]
    fn the_module_is_what_lies_outside_its_definitions() {
        let s = Source::new(CODE);
        assert_eq!(s.module_lines(), [(1, 9), (14, 18), (24, 27)]);
    }

    #[test]
    fn text_that_is_not_ascii_inside_strings_is_read_byte_by_byte() {
        let code =
            "def f():\n    \"\"\"Café — 5 µs, naïve.\"\"\"\n    return 'é'\n\ndef g():\n    pass\n";
        let s = Source::new(code);
        assert_eq!(s.span("f", 1), [(1, 3)]);
        assert_eq!(s.span("g", 5), [(5, 6)]);
    }
}
