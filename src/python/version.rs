//! Which CPython a process runs: major, minor, patch, and the build flavour (debug,
//! free-threaded). Found from `_Py_DebugOffsets.version` (3.13+), `Py_Version` (3.11+), or
//! the version string in the binary's read-only data and the file name (older).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// Pre-release suffix such as `a1`, `rc2`, or empty for a final release.
    pub suffix: String,
    pub debug: bool,
    pub free_threaded: bool,
}

impl Version {
    pub fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
            suffix: String::new(),
            debug: false,
            free_threaded: false,
        }
    }

    /// From a `PY_VERSION_HEX` value such as 0x030e0af0.
    pub fn from_hex(hex: u64) -> Option<Version> {
        let major = ((hex >> 24) & 0xff) as u32;
        let minor = ((hex >> 16) & 0xff) as u32;
        let patch = ((hex >> 8) & 0xff) as u32;
        let level = ((hex >> 4) & 0xf) as u32;
        let serial = (hex & 0xf) as u32;
        if major != 3 || minor > 99 {
            return None;
        }
        let suffix = match level {
            0xa => format!("a{serial}"),
            0xb => format!("b{serial}"),
            0xc => format!("rc{serial}"),
            0xf => String::new(),
            _ => return None,
        };
        Some(Version {
            major,
            minor,
            patch,
            suffix,
            debug: false,
            free_threaded: false,
        })
    }

    /// Finds `3.X.Y` followed by an optional suffix and ` (` — the start of the string that
    /// `sys.version` is made of — in a binary's read-only data, for the given minor version.
    pub fn find_in_rodata(rodata: &[u8], minor: Option<u32>) -> Option<Version> {
        let needle: &[u8] = b"3.";
        let mut at = 0;
        while let Some(pos) = find(&rodata[at..], needle) {
            let start = at + pos;
            at = start + 2;
            if start > 0 && rodata[start - 1].is_ascii_alphanumeric() {
                continue;
            }
            let rest = &rodata[start..rodata.len().min(start + 32)];
            let Some(v) = parse_version_prefix(rest) else {
                continue;
            };
            if minor.is_none_or(|m| m == v.minor) {
                return Some(v);
            }
        }
        None
    }

    /// From a file name such as `libpython3.9d.so.1.0` or `python3.12`: (minor, debug).
    pub fn minor_from_file_name(name: &str) -> Option<(u32, bool)> {
        let idx = name.find("python3.")?;
        let rest = &name[idx + "python3.".len()..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let minor = digits.parse().ok()?;
        let flags = &rest[digits.len()..];
        let debug = flags.starts_with('d') || flags.starts_with("td");
        Some((minor, debug))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses `3.X.Y[suffix] (` at the start of `s`.
fn parse_version_prefix(s: &[u8]) -> Option<Version> {
    let text = std::str::from_utf8(s).ok().or_else(|| {
        let valid = s.iter().position(|b| !b.is_ascii()).unwrap_or(s.len());
        std::str::from_utf8(&s[..valid]).ok()
    })?;
    // `sys.version` starts with "3.X.Y (" at run time, but the binary may only hold the
    // bare PY_VERSION string, ended by a NUL.
    let head = match (text.find(" ("), text.find('\0')) {
        (Some(a), Some(b)) => &text[..a.min(b)],
        (Some(a), None) => &text[..a],
        (None, Some(b)) => &text[..b],
        (None, None) => return None,
    };
    let mut parts = head.splitn(3, '.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    let last = parts.next()?;
    let digits: String = last.chars().take_while(|c| c.is_ascii_digit()).collect();
    let patch: u32 = digits.parse().ok()?;
    let suffix = &last[digits.len()..];
    if !suffix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '+')
        || suffix.len() > 8
    {
        return None;
    }
    Some(Version {
        major,
        minor,
        patch,
        suffix: suffix.to_string(),
        debug: false,
        free_threaded: false,
    })
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}{}",
            self.major, self.minor, self.patch, self.suffix
        )?;
        match (self.debug, self.free_threaded) {
            (true, true) => write!(f, " (free-threaded debug build)"),
            (true, false) => write!(f, " (debug build)"),
            (false, true) => write!(f, " (free-threaded)"),
            (false, false) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_versions() {
        assert_eq!(
            Version::from_hex(0x030E0AF0).map(|v| v.to_string()),
            Some("3.14.10".into())
        );
        assert_eq!(
            Version::from_hex(0x030F00A2).map(|v| v.to_string()),
            Some("3.15.0a2".into())
        );
        assert_eq!(Version::from_hex(0x02070000), None);
    }

    #[test]
    fn finds_the_version_string_among_other_data() {
        let data = b"xx 13.1.2 (no)\x003.9.18 (main, Jan 1 2024, 00:00:00)\x00";
        assert_eq!(
            Version::find_in_rodata(b"%s\x003.8.18\x00", Some(8)).map(|v| v.to_string()),
            Some("3.8.18".into())
        );
        assert_eq!(
            Version::find_in_rodata(data, Some(9)).map(|v| v.to_string()),
            Some("3.9.18".into())
        );
        assert_eq!(Version::find_in_rodata(data, Some(8)), None);
    }

    #[test]
    fn file_names() {
        assert_eq!(
            Version::minor_from_file_name("libpython3.9d.so.1.0"),
            Some((9, true))
        );
        assert_eq!(
            Version::minor_from_file_name("/usr/bin/python3.12"),
            Some((12, false))
        );
        assert_eq!(Version::minor_from_file_name("/bin/sleep"), None);
    }
}
