//! A process and its descendants as `/proc` shows them: one scan of every process's parent
//! (the fallback when fork events cannot be had, and the start of every tree), and the
//! few cheap facts looked up about a member: command line, program, state, exit status.
//! Nothing here knows about Python beyond [`maps_python`], a quick look at the mappings.

use crate::limits::MAX_SCANNED_PROCESSES;
use std::collections::{HashMap, HashSet};

/// The live processes below `roots` (not the roots themselves), each with its parent,
/// found by one scan of `/proc/*/stat`. Processes that start during the scan may be
/// missed: callers scan again or watch fork events.
pub fn descendants(roots: &[u32]) -> Vec<(u32, u32)> {
    let parents = all_parents();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &ppid) in &parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut seen: HashSet<u32> = roots.iter().copied().collect();
    let mut todo = roots.to_vec();
    while let Some(pid) = todo.pop() {
        for &child in children.get(&pid).map_or(&[][..], Vec::as_slice) {
            if seen.insert(child) {
                found.push((child, pid));
                todo.push(child);
            }
        }
    }
    found.sort_unstable();
    found
}

/// Every process's parent, from `/proc/PID/stat`.
fn all_parents() -> HashMap<u32, u32> {
    let mut parents = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return parents;
    };
    let mut buf = Vec::with_capacity(512);
    for entry in dir.flatten().take(MAX_SCANNED_PROCESSES) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(stat) = read_stat(pid, &mut buf) {
            parents.insert(pid, stat.ppid);
        }
    }
    parents
}

/// The fields of `/proc/PID/stat` used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: u8,
    pub ppid: u32,
    /// The raw wait status of a zombie (field 52, `exit_code`); 0 while running.
    pub exit_status: u32,
}

impl Stat {
    pub fn zombie(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Reads `/proc/PID/stat`; `None` when the process is gone.
pub fn stat(pid: u32) -> Option<Stat> {
    read_stat(pid, &mut Vec::with_capacity(512))
}

fn read_stat(pid: u32, buf: &mut Vec<u8>) -> Option<Stat> {
    use std::io::Read;
    buf.clear();
    let file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    file.take(4096).read_to_end(buf).ok()?;
    parse_stat(buf)
}

/// Parses a stat line; the command name (field 2) may hold any byte, `)` included.
fn parse_stat(text: &[u8]) -> Option<Stat> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    Some(Stat {
        state: *fields.first()?.as_bytes().first()?,
        ppid: fields.get(1)?.parse().ok()?,
        exit_status: fields.get(49).and_then(|f| f.parse().ok()).unwrap_or(0),
    })
}

/// A raw wait status as (exit code, signal): one of them is set.
pub fn split_wait_status(status: u32) -> (Option<i32>, Option<i32>) {
    let signal = (status & 0x7f) as i32;
    if signal == 0 {
        (Some(((status >> 8) & 0xff) as i32), None)
    } else {
        (None, Some(signal))
    }
}

/// The command line (argv) of `pid`; empty when it cannot be read (a zombie, a kernel
/// thread). At most 64 KiB and 4096 arguments are kept.
pub fn cmdline(pid: u32) -> Vec<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = std::fs::File::open(format!("/proc/{pid}/cmdline"))
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut bytes));
    if read.is_err() {
        return Vec::new();
    }
    bytes
        .split(|c| *c == 0)
        .filter(|a| !a.is_empty())
        .take(4096)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The program `pid` runs (`/proc/PID/exe`), or its command name when that link cannot
/// be read; for messages and for noticing an exec without fork events.
pub fn program(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .or_else(|_| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim().to_string())
        })
        .unwrap_or_else(|_| "?".into())
}

/// A quick guess, without parsing any ELF file, whether `pid` runs CPython: a
/// `libpython3` is mapped, or the program's name starts with `python`.
pub fn maps_python(pid: u32) -> bool {
    let exe = program(pid);
    let name = exe.rsplit('/').next().unwrap_or("");
    if name.starts_with("python") {
        return true;
    }
    use std::io::Read;
    let mut text = String::new();
    let read = std::fs::File::open(format!("/proc/{pid}/maps"))
        .and_then(|f| f.take(4 << 20).read_to_string(&mut text));
    read.is_ok() && text.contains("/libpython3")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_a_hostile_command_name() {
        let mut line = b"42 (a) b) Z 7 42 42 0 -1".to_vec();
        for i in 0..43 {
            line.extend_from_slice(format!(" {i}").as_bytes());
        }
        line.extend_from_slice(b" 2304\n");
        let stat = parse_stat(&line).expect("parses");
        assert_eq!(stat.state, b'Z');
        assert_eq!(stat.ppid, 7);
        assert_eq!(stat.exit_status, 2304);
        assert!(stat.zombie());
        assert_eq!(parse_stat(b"42 (x"), None);
        assert_eq!(split_wait_status(2304), (Some(9), None));
        assert_eq!(split_wait_status(9), (None, Some(9)));
    }

    #[test]
    fn a_child_of_this_process_is_a_descendant() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep starts");
        let me = std::process::id();
        let found = descendants(&[me]);
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.contains(&(child.id(), me)), "{found:?}");
    }
}
