//! Names of Python threads (`threading.Thread.name`: "MainThread", "worker-1"), read from
//! the target's own `threading` module: `sys.modules["threading"].__dict__["_active"]`
//! maps each thread's ident (`threading.get_ident()`, the thread state's `thread_id`) to
//! its `Thread` object, whose `_name` attribute is the name. Every interpreter of the
//! process is looked at, for sub-interpreters have their own `threading`; an OS thread
//! that runs code in several of them has one ident, and the main interpreter's name wins
//! (it is read last).
//!
//! Names cost no reads on an ordinary sample. They are cached by ident, and `_active` is
//! read again only when a thread shows up that was not there at the last read (a new
//! ident, or a known ident on a new OS thread: glibc reuses idents), while some thread has
//! no name yet (it may not have registered itself, or `threading` is not imported yet) after
//! [`FIRST_MISS_RETRY`], then twice as long each time up to [`MISS_RETRY`], and every
//! [`RENAME_INTERVAL`] to see renames. So a program that runs for a fraction of a second
//! has its names too. Where `_active` is, is itself cached and found again every
//! [`RESOLVE_INTERVAL`], when it stops looking like the dict it was, and on every read while
//! it has not been found.
//!
//! A thread without a name (not started by `threading`, `threading` not imported, or a
//! layout whose shapes do not check out) simply gets `None`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::attrs::attr_many;
use super::dicts::{decode_unsigned_long, long_read_len, lookup_str, read_dict_heads, read_items};
use super::interpreter::Interpreter;
use super::many_reads::{read_strs, ManyReads};
use super::stack::ThreadStack;
use crate::limits::{MAX_INTERPRETERS, MAX_NAMED_THREADS};
use crate::process::{Bytes, ReadError};
use rustc_hash::FxHashMap;

/// How often names are read again, to see `thread.name = ...`.
pub const RENAME_INTERVAL: Duration = Duration::from_secs(1);
/// How soon names are read again when a thread has none, the first time.
pub const FIRST_MISS_RETRY: Duration = Duration::from_millis(10);
/// How often names are read again while a thread has none, at most (the wait doubles from
/// [`FIRST_MISS_RETRY`] to this).
pub const MISS_RETRY: Duration = Duration::from_millis(250);
/// How often `_active` is looked up again from `sys.modules`.
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(10);

/// Where one interpreter's `_active` dict is.
#[derive(Debug, Clone, Copy)]
struct ActiveDict {
    addr: u64,
    /// Its type when found (`dict`); a different type later means it is gone.
    ob_type: u64,
    /// The target's `str` type, which every name must have.
    str_type: Option<u64>,
}

/// The cache of thread names of one target.
#[derive(Default)]
pub struct ThreadNames {
    names: FxHashMap<u64, Arc<str>>,
    /// The threads present at the last read: ident → OS thread id.
    seen: FxHashMap<u64, Option<u32>>,
    last_read: Option<Instant>,
    active: Vec<ActiveDict>,
    resolved_at: Option<Instant>,
    /// Reads in a row after which some thread still had no name.
    misses: u32,
}

impl ThreadNames {
    pub fn new() -> ThreadNames {
        ThreadNames::default()
    }

    /// Reads names again when [`ThreadNames::due`] says so; otherwise costs nothing.
    pub fn refresh(&mut self, interp: &Interpreter, threads: &[ThreadStack]) {
        let now = Instant::now();
        if !self.due(threads, now) {
            return;
        }
        // A failed read (process gone, torn tables) keeps the names we had.
        if let Ok(found) = self.read(interp, now) {
            let old = std::mem::take(&mut self.names);
            self.names = found
                .into_iter()
                .map(|(ident, name)| {
                    // Keep the same Arc for an unchanged name, so consumers can compare cheaply.
                    let arc = old
                        .get(&ident)
                        .filter(|o| ***o == *name)
                        .cloned()
                        .unwrap_or_else(|| Arc::from(name));
                    (ident, arc)
                })
                .collect();
            // A thread still running on the same OS thread keeps the name it had when a
            // read no longer finds it: at exit `threading` is torn down (its `_active`
            // emptied or freed) while the main thread still runs for a while.
            for t in threads {
                let ident = t.python_thread_id;
                let same_thread = self.seen.get(&ident).is_some_and(|tid| *tid == t.os_tid);
                if same_thread && !self.names.contains_key(&ident) {
                    if let Some(name) = old.get(&ident) {
                        self.names.insert(ident, name.clone());
                    }
                }
            }
        }
        self.seen = threads
            .iter()
            .map(|t| (t.python_thread_id, t.os_tid))
            .collect();
        let unnamed = threads
            .iter()
            .any(|t| t.python_thread_id != 0 && !self.names.contains_key(&t.python_thread_id));
        self.misses = if unnamed {
            self.misses.saturating_add(1)
        } else {
            0
        };
        self.last_read = Some(now);
    }

    pub fn get(&self, python_thread_id: u64) -> Option<&Arc<str>> {
        self.names.get(&python_thread_id)
    }

    /// Whether the names must be read again for `threads` at `now`.
    pub fn due(&self, threads: &[ThreadStack], now: Instant) -> bool {
        let Some(last) = self.last_read else {
            return true;
        };
        let age = now.saturating_duration_since(last);
        if age >= RENAME_INTERVAL {
            return true;
        }
        threads.iter().filter(|t| t.python_thread_id != 0).any(|t| {
            match self.seen.get(&t.python_thread_id) {
                None => true,
                Some(tid) if *tid != t.os_tid => true,
                Some(_) => {
                    !self.names.contains_key(&t.python_thread_id) && age >= self.miss_retry()
                }
            }
        })
    }

    /// How long after a read that left a thread without a name to read again.
    fn miss_retry(&self) -> Duration {
        let doublings = self.misses.saturating_sub(1).min(8);
        (FIRST_MISS_RETRY * (1 << doublings)).min(MISS_RETRY)
    }

    /// Every name in the `_active` dicts: ident → name.
    fn read(
        &mut self,
        interp: &Interpreter,
        now: Instant,
    ) -> Result<HashMap<u64, String>, ReadError> {
        // Look again for `_active` now and then, and on every read while there is none
        // (`threading` may be imported later; `due` spaces the reads).
        let since = self.resolved_at.map(|at| now.saturating_duration_since(at));
        let again = if self.active.is_empty() {
            Duration::ZERO
        } else {
            RESOLVE_INTERVAL
        };
        if since.is_none_or(|s| s >= again) {
            self.resolve(interp, now)?;
        }
        let mut items = Vec::new();
        if !self.read_active(interp, &mut items)? {
            // `_active` moved or went away: look for it again, once.
            self.resolve(interp, now)?;
            items.clear();
            self.read_active(interp, &mut items)?;
        }
        let layout = &interp.layout;
        let mem = &*interp.mem;

        // The idents (ints) and the types of the Thread objects, in one read.
        let mut batch = ManyReads::new();
        for (ident, thread, _) in &items {
            batch.push(*ident, long_read_len(layout));
            batch.push(thread + layout.ob_type, 8);
        }
        batch.run(mem)?;
        let mut idents = Vec::with_capacity(items.len());
        let mut objects = Vec::with_capacity(items.len());
        for (i, (_, thread, _)) in items.iter().enumerate() {
            idents.push(
                batch
                    .get(2 * i)
                    .and_then(|b| decode_unsigned_long(layout, b)),
            );
            objects.push((*thread, batch.get(2 * i + 1).map_or(0, |b| b.u64_at(0))));
        }

        let name_ptrs = attr_many(mem, layout, &objects, "_name")?.values;
        let name_addrs: Vec<u64> = name_ptrs.iter().map(|p| p.unwrap_or(0)).collect();
        let texts = read_strs(mem, layout, &name_addrs, None)?;
        let mut names = HashMap::with_capacity(items.len());
        for ((ident, text), (_, _, str_type)) in idents.into_iter().zip(texts).zip(&items) {
            if let (Some(ident), Some(s)) = (ident, text) {
                if str_type.is_none_or(|t| t == s.ob_type) {
                    names.insert(ident, s.text);
                }
            }
        }
        Ok(names)
    }

    /// Reads the cached `_active` dicts into `items` as (ident, Thread, str type).
    /// False when one no longer looks like the dict it was.
    fn read_active(
        &self,
        interp: &Interpreter,
        items: &mut Vec<(u64, u64, Option<u64>)>,
    ) -> Result<bool, ReadError> {
        for active in &self.active {
            match read_items(&*interp.mem, &interp.layout, active.addr)? {
                Some(found) if found.ob_type == active.ob_type => {
                    let room = MAX_NAMED_THREADS.saturating_sub(items.len());
                    items.extend(
                        found
                            .items
                            .into_iter()
                            .take(room)
                            .map(|(k, v)| (k, v, active.str_type)),
                    );
                }
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Finds `sys.modules["threading"].__dict__["_active"]` of every interpreter.
    fn resolve(&mut self, interp: &Interpreter, now: Instant) -> Result<(), ReadError> {
        self.active.clear();
        self.resolved_at = Some(now);
        let layout = &interp.layout;
        let mem = &*interp.mem;
        let Some(module_dict) = layout.module_dict else {
            return Ok(());
        };

        let mut modules = Vec::new();
        let mut addr = mem.read_u64(interp.runtime + layout.runtime_interpreters_head)?;
        while addr != 0 && modules.len() < MAX_INTERPRETERS {
            let mut words = ManyReads::new();
            let m = words.push(addr + layout.interp_modules, 8);
            let n = words.push(addr + layout.interp_next, 8);
            words.run(mem)?;
            modules.push(words.get(m).map_or(0, |b| b.u64_at(0)));
            addr = words.get(n).map_or(0, |b| b.u64_at(0));
        }

        let heads = read_dict_heads(mem, layout, &modules)?;
        let mappings: Vec<_> = heads.iter().map(|h| h.map(|h| h.mapping)).collect();
        let threading = lookup_str(mem, layout, &mappings, "threading")?.values;

        let mut words = ManyReads::new();
        let slots: Vec<usize> = threading
            .iter()
            .map(|m| words.push(m.map_or(0, |m| m + module_dict), 8))
            .collect();
        words.run(mem)?;
        let globals: Vec<u64> = slots
            .iter()
            .map(|s| words.get(*s).map_or(0, |b| b.u64_at(0)))
            .collect();
        let heads = read_dict_heads(mem, layout, &globals)?;
        let mappings: Vec<_> = heads.iter().map(|h| h.map(|h| h.mapping)).collect();
        let found = lookup_str(mem, layout, &mappings, "_active")?;
        for (value, head) in found.values.iter().zip(&heads) {
            // `_active` is a plain dict, like the module's globals.
            if let (Some(addr), Some(head)) = (value, head) {
                self.active.push(ActiveDict {
                    addr: *addr,
                    ob_type: head.ob_type,
                    str_type: found.str_type,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(id: u64, tid: u32) -> ThreadStack {
        ThreadStack {
            python_thread_id: id,
            os_tid: Some(tid),
            ..ThreadStack::default()
        }
    }

    fn names_read_at(at: Instant, threads: &[ThreadStack], named: &[(u64, &str)]) -> ThreadNames {
        ThreadNames {
            names: named.iter().map(|(id, n)| (*id, Arc::from(*n))).collect(),
            seen: threads
                .iter()
                .map(|t| (t.python_thread_id, t.os_tid))
                .collect(),
            last_read: Some(at),
            ..ThreadNames::default()
        }
    }

    #[test]
    fn first_refresh_always_reads() {
        assert!(ThreadNames::new().due(&[], Instant::now()));
    }

    #[test]
    fn known_threads_cost_nothing_until_the_rename_interval() {
        let t0 = Instant::now();
        let threads = [thread(0x7f00, 10), thread(0x7f01, 11)];
        let names = names_read_at(
            t0,
            &threads,
            &[(0x7f00, "MainThread"), (0x7f01, "worker-1")],
        );
        assert!(!names.due(&threads, t0 + Duration::from_millis(10)));
        assert!(!names.due(&threads, t0 + RENAME_INTERVAL - Duration::from_millis(1)));
        assert!(names.due(&threads, t0 + RENAME_INTERVAL));
    }

    #[test]
    fn a_new_thread_or_a_reused_ident_reads_at_once() {
        let t0 = Instant::now();
        let threads = [thread(0x7f00, 10)];
        let names = names_read_at(t0, &threads, &[(0x7f00, "MainThread")]);
        let soon = t0 + Duration::from_millis(1);
        assert!(names.due(&[thread(0x7f00, 10), thread(0x7f02, 12)], soon));
        // Same ident, another OS thread: the old thread ended and glibc reused its ident.
        assert!(names.due(&[thread(0x7f00, 13)], soon));
    }

    #[test]
    fn a_thread_without_a_name_is_retried_soon_then_less_often() {
        let t0 = Instant::now();
        let threads = [thread(0x7f00, 10), thread(0x7f05, 15)];
        let mut names = names_read_at(t0, &threads, &[(0x7f00, "MainThread")]);
        let waits: Vec<u64> = (1..=8)
            .map(|misses| {
                names.misses = misses;
                let wait = names.miss_retry();
                assert!(!names.due(&threads, t0 + wait - Duration::from_millis(1)));
                assert!(names.due(&threads, t0 + wait));
                wait.as_millis() as u64
            })
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 250, 250, 250]);
        // Named again: nothing to retry.
        let named = names_read_at(t0, &threads, &[(0x7f00, "MainThread"), (0x7f05, "w")]);
        assert!(!named.due(&threads, t0 + MISS_RETRY));
    }
}
