//! Reading dicts and ints out of the target, for every keys layout from 3.8 to 3.15: the
//! table size as `dk_size` (≤3.10, index width derived from it) or as logarithms (3.11+),
//! entries with and without a hash (`dk_kind`), combined tables and split ones whose
//! values live elsewhere (`ma_values`, or an instance's own values).
//!
//! Lookups scan entries instead of hashing (a str's hash is salted per process) and compare
//! keys by reading them; they work on many tables at once so that the reads batch: the
//! cost of a lookup is a handful of syscalls whether it looks in one dict or in fifty.
//! Everything read is bounded and checked; garbage gives `None`, never a panic.
//! Decoding (index width, where entries start, int digits) is pure, for tests.

use std::collections::{HashMap, HashSet};

use super::layout::{DictKeysLayout, EntryLayout, KeysSize, Layout};
use super::many_reads::{read_strs, ManyReads};
use crate::limits::{MAX_DICT_ENTRIES, MAX_DICT_KEYS_COMPARED, MAX_DICT_TABLE_SLOTS};
use crate::process::{Bytes, Memory, ReadError};

/// Bytes per index of a hash table of `size` slots: the smallest signed integer that holds
/// every entry number (the same rule in every version; 3.11+ also records it).
pub fn index_width(size: u64) -> u64 {
    match size {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xffff_ffff => 4,
        _ => 8,
    }
}

/// A keys object's header, decoded and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysHeader {
    /// Entries used so far (live or deleted).
    pub nentries: u64,
    /// Offset of the first entry from the start of the keys object.
    pub entries: u64,
    pub entry: EntryLayout,
}

impl KeysHeader {
    pub fn entries_len(&self) -> usize {
        (self.nentries * self.entry.size) as usize
    }
}

/// Bytes of a keys object before its indices: every header field.
pub fn keys_header_len(t: &DictKeysLayout) -> usize {
    t.indices as usize
}

/// Decodes the header of a keys object; an error says why it cannot be one.
pub fn decode_keys_header(t: &DictKeysLayout, head: &[u8]) -> Result<KeysHeader, String> {
    let nentries = head.u64_at(t.nentries as usize);
    let (size, entries) = match t.size {
        KeysSize::Size { offset } => {
            let size = head.u64_at(offset as usize);
            if !size.is_power_of_two() || size > MAX_DICT_TABLE_SLOTS {
                return Err(format!("table size {size}"));
            }
            (size, t.indices + size * index_width(size))
        }
        KeysSize::Log2 {
            log2_size,
            log2_index_bytes,
        } => {
            let log2 = head.u8_at(log2_size as usize) as u32;
            let log2_bytes = head.u8_at(log2_index_bytes as usize) as u64;
            if log2 > MAX_DICT_TABLE_SLOTS.trailing_zeros() {
                return Err(format!("table size 2^{log2}"));
            }
            let size = 1u64 << log2;
            if log2_bytes != log2 as u64 + index_width(size).trailing_zeros() as u64 {
                return Err(format!("2^{log2_bytes} index bytes for 2^{log2} slots"));
            }
            (size, t.indices + (1u64 << log2_bytes))
        }
    };
    if nentries > size || nentries > MAX_DICT_ENTRIES {
        return Err(format!("{nentries} entries in a table of {size}"));
    }
    let entry = match t.kind {
        None => t.entry,
        Some(k) => {
            let kind = head.u8_at(k.offset as usize);
            match t.unicode_entry {
                _ if kind == k.general => t.entry,
                Some(u) if kind == k.unicode || kind == k.split => u,
                _ => return Err(format!("unknown keys kind {kind}")),
            }
        }
    };
    Ok(KeysHeader {
        nentries,
        entries,
        entry,
    })
}

/// One keys object: its header and a copy of its entries.
pub struct KeysTable {
    header: KeysHeader,
    entries: Vec<u8>,
}

impl KeysTable {
    pub fn len(&self) -> usize {
        self.header.nentries as usize
    }

    /// Key and value pointers of entry `i` (either may be null: deleted, or split).
    pub fn entry(&self, i: usize) -> (u64, u64) {
        let at = i * self.header.entry.size as usize;
        (
            self.entries.u64_at(at + self.header.entry.key as usize),
            self.entries.u64_at(at + self.header.entry.value as usize),
        )
    }
}

/// Reads the keys objects at `addrs` (two syscalls); the ones that are not sane keys
/// objects are absent from the result.
pub fn read_tables(
    mem: &dyn Memory,
    t: &DictKeysLayout,
    addrs: &[u64],
) -> Result<HashMap<u64, KeysTable>, ReadError> {
    let unique: Vec<u64> = dedup(addrs.iter().copied().filter(|a| *a != 0));
    let mut heads = ManyReads::new();
    for addr in &unique {
        heads.push(*addr, keys_header_len(t));
    }
    heads.run(mem)?;
    let mut bodies = ManyReads::new();
    let mut found = Vec::new();
    for (i, addr) in unique.iter().enumerate() {
        if let Some(header) = heads.get(i).and_then(|h| decode_keys_header(t, h).ok()) {
            let slot = bodies.push(addr + header.entries, header.entries_len());
            found.push((*addr, header, slot));
        }
    }
    bodies.run(mem)?;
    let mut tables = HashMap::with_capacity(found.len());
    for (addr, header, slot) in found {
        let entries = if header.nentries == 0 {
            Some(&[][..])
        } else {
            bodies.get(slot)
        };
        if let Some(entries) = entries {
            tables.insert(
                addr,
                KeysTable {
                    header,
                    entries: entries.to_vec(),
                },
            );
        }
    }
    Ok(tables)
}

/// Where a str key was found: entry index by keys object, and the type of the key (the
/// target's `str` type, for checking other strs against).
#[derive(Debug, Default)]
pub struct KeyMatches {
    pub index: HashMap<u64, usize>,
    pub str_type: Option<u64>,
}

/// Finds the entry whose key is the str `key` in each table. Reads every distinct key
/// pointer's header, then the text of those of the right length (two syscalls).
pub fn find_str_key(
    mem: &dyn Memory,
    layout: &Layout,
    tables: &HashMap<u64, KeysTable>,
    key: &str,
) -> Result<KeyMatches, ReadError> {
    let candidates: Vec<u64> = dedup(
        tables
            .values()
            .flat_map(|t| (0..t.len()).map(|i| t.entry(i).0))
            .filter(|k| *k != 0)
            .take(MAX_DICT_KEYS_COMPARED),
    );
    let texts = read_strs(mem, layout, &candidates, Some(key.chars().count() as u64))?;
    let mut found = KeyMatches::default();
    let mut matching = HashSet::new();
    for (addr, text) in candidates.iter().zip(texts) {
        if let Some(s) = text.filter(|s| s.text == key) {
            matching.insert(*addr);
            found.str_type = Some(s.ob_type);
        }
    }
    for (addr, table) in tables {
        if let Some(i) = (0..table.len()).find(|i| matching.contains(&table.entry(*i).0)) {
            found.index.insert(*addr, i);
        }
    }
    Ok(found)
}

/// Where the values of one table are, for one dict or instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValuesAt {
    /// In the entries (a combined table).
    Entries,
    /// In a values block at this address (`ma_values`, or an instance's own values).
    Block(u64),
}

/// Keys and values of one mapping: a dict, or an instance with values but no dict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub keys: u64,
    pub values: ValuesAt,
}

/// The parts of a dict object's header we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DictHead {
    pub ob_type: u64,
    pub mapping: Mapping,
}

/// Reads the headers of the dicts at `addrs` (one syscall).
pub fn read_dict_heads(
    mem: &dyn Memory,
    layout: &Layout,
    addrs: &[u64],
) -> Result<Vec<Option<DictHead>>, ReadError> {
    let len = [layout.ob_type, layout.dict_keys, layout.dict_values]
        .iter()
        .max()
        .map_or(0, |m| *m as usize + 8);
    let mut batch = ManyReads::new();
    for addr in addrs {
        batch.push(*addr, len);
    }
    batch.run(mem)?;
    Ok((0..addrs.len())
        .map(|i| {
            let b = batch.get(i)?;
            let keys = b.u64_at(layout.dict_keys as usize);
            let values = b.u64_at(layout.dict_values as usize);
            (keys != 0).then_some(DictHead {
                ob_type: b.u64_at(layout.ob_type as usize),
                mapping: Mapping {
                    keys,
                    values: if values == 0 {
                        ValuesAt::Entries
                    } else {
                        ValuesAt::Block(values)
                    },
                },
            })
        })
        .collect())
}

/// What [`lookup_str`] found: a value per mapping, and the target's `str` type when the
/// key was seen at all.
#[derive(Debug, Default)]
pub struct StrLookup {
    pub values: Vec<Option<u64>>,
    pub str_type: Option<u64>,
}

/// The value of the str key `key` in each mapping (four or five syscalls for all of them).
pub fn lookup_str(
    mem: &dyn Memory,
    layout: &Layout,
    mappings: &[Option<Mapping>],
    key: &str,
) -> Result<StrLookup, ReadError> {
    let Some(t) = layout.dict_table.as_ref() else {
        return Ok(StrLookup {
            values: vec![None; mappings.len()],
            str_type: None,
        });
    };
    let keys: Vec<u64> = mappings.iter().flatten().map(|m| m.keys).collect();
    let tables = read_tables(mem, t, &keys)?;
    let index = find_str_key(mem, layout, &tables, key)?;
    let mut slots = ManyReads::new();
    let mut plan = Vec::with_capacity(mappings.len());
    for m in mappings {
        let found = m.and_then(|m| Some((m, *index.index.get(&m.keys)?, tables.get(&m.keys)?)));
        plan.push(match found {
            None => Pending::Missing,
            Some((m, i, table)) => match m.values {
                ValuesAt::Entries => Pending::Value(table.entry(i).1),
                ValuesAt::Block(block) => Pending::Slot(push_value_slot(&mut slots, t, block, i)),
            },
        });
    }
    slots.run(mem)?;
    let values = plan
        .into_iter()
        .map(|p| match p {
            Pending::Missing => None,
            Pending::Value(v) => Some(v).filter(|v| *v != 0),
            Pending::Slot(slot) => value_from_slot(&slots, t, slot),
        })
        .collect();
    Ok(StrLookup {
        values,
        str_type: index.str_type,
    })
}

enum Pending {
    Missing,
    Value(u64),
    Slot(ValueSlot),
}

/// The batch regions that hold value `i` of a values block: the slot, and on 3.13+ the
/// block's header, whose capacity bounds the slots and whose flag says they are in use.
pub struct ValueSlot {
    header: Option<usize>,
    slot: usize,
    index: usize,
}

pub fn push_value_slot(
    batch: &mut ManyReads,
    t: &DictKeysLayout,
    block: u64,
    i: usize,
) -> ValueSlot {
    let header = (t.values_capacity.is_some() || t.values_valid.is_some())
        .then(|| batch.push(block, t.values_items as usize));
    let slot = batch.push(block + t.values_items + 8 * i as u64, 8);
    ValueSlot {
        header,
        slot,
        index: i,
    }
}

/// The value read for `s`, unless it is null or outside the block's capacity.
pub fn value_from_slot(batch: &ManyReads, t: &DictKeysLayout, s: ValueSlot) -> Option<u64> {
    if let Some(h) = s.header {
        let head = batch.get(h)?;
        if t.values_capacity
            .is_some_and(|c| s.index >= head.u8_at(c as usize) as usize)
        {
            return None;
        }
        if t.values_valid.is_some_and(|v| head.u8_at(v as usize) == 0) {
            return None;
        }
    }
    Some(batch.get(s.slot)?.u64_at(0)).filter(|v| *v != 0)
}

/// The live entries of one dict, and the dict's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictItems {
    pub ob_type: u64,
    /// (key, value) pointers, in the dict's order.
    pub items: Vec<(u64, u64)>,
}

/// Every live entry of the dict at `addr` (three or four syscalls); `None` when it is not
/// a sane dict.
pub fn read_items(
    mem: &dyn Memory,
    layout: &Layout,
    addr: u64,
) -> Result<Option<DictItems>, ReadError> {
    let Some(t) = layout.dict_table.as_ref() else {
        return Ok(None);
    };
    let Some(head) = read_dict_heads(mem, layout, &[addr])?
        .into_iter()
        .next()
        .flatten()
    else {
        return Ok(None);
    };
    let tables = read_tables(mem, t, &[head.mapping.keys])?;
    let Some(table) = tables.get(&head.mapping.keys) else {
        return Ok(None);
    };
    let values = match head.mapping.values {
        ValuesAt::Entries => (0..table.len()).map(|i| table.entry(i).1).collect(),
        ValuesAt::Block(block) => {
            let mut slots = ManyReads::new();
            let wanted: Vec<ValueSlot> = (0..table.len())
                .map(|i| push_value_slot(&mut slots, t, block, i))
                .collect();
            slots.run(mem)?;
            wanted
                .into_iter()
                .map(|s| value_from_slot(&slots, t, s).unwrap_or(0))
                .collect::<Vec<u64>>()
        }
    };
    let items = (0..table.len())
        .map(|i| (table.entry(i).0, values[i]))
        .filter(|(k, v)| *k != 0 && *v != 0)
        .collect();
    Ok(Some(DictItems {
        ob_type: head.ob_type,
        items,
    }))
}

/// Bytes to read from an int object to decode any value that fits 64 bits.
pub fn long_read_len(layout: &Layout) -> usize {
    let digits = 64u64.div_ceil(layout.long_digit_bits.max(1) as u64);
    (layout.long_digits + digits * layout.long_digit_size) as usize
}

/// The value of a non-negative int that fits 64 bits, from the first
/// [`long_read_len`] bytes of the object; `None` for anything else.
pub fn decode_unsigned_long(layout: &Layout, b: &[u8]) -> Option<u64> {
    let at = layout.long_size_or_tag as usize;
    let ndigits = match layout.long_tag {
        // 3.12+: digit count and sign bits in lv_tag.
        Some(tag) => {
            let raw = b.u64_at(at);
            match raw & tag.sign_mask {
                s if s == tag.zero => return Some(0),
                s if s == tag.negative => return None,
                _ => raw >> tag.size_shift,
            }
        }
        // Before: ob_size is the digit count, negative for negative numbers.
        None => u64::try_from(b.u64_at(at) as i64).ok()?,
    };
    let bits = layout.long_digit_bits;
    let size = layout.long_digit_size as usize;
    if !(1..=32).contains(&bits) || !matches!(size, 2 | 4) || ndigits > 64u64.div_ceil(bits as u64)
    {
        return None;
    }
    let mut value: u128 = 0;
    for i in (0..ndigits as usize).rev() {
        let at = layout.long_digits as usize + i * size;
        let digit = if size == 4 {
            b.get(at..at + 4)?.u32_at(0)
        } else {
            u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]) as u32
        };
        if bits < 32 && digit >> bits != 0 {
            return None;
        }
        value = (value << bits) | digit as u128;
    }
    u64::try_from(value).ok()
}

fn dedup(addrs: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut seen = HashSet::new();
    addrs.filter(|a| seen.insert(*a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::layout::{table_for, Layout};
    use crate::python::version::Version;

    fn layout(minor: u32) -> Layout {
        let version = Version::new(3, minor, 0);
        Layout::from_table(&version, &table_for(&version).unwrap().unwrap()).unwrap()
    }

    #[test]
    fn index_width_follows_the_table_size() {
        assert_eq!(index_width(8), 1);
        assert_eq!(index_width(128), 1);
        assert_eq!(index_width(256), 2);
        assert_eq!(index_width(1 << 15), 2);
        assert_eq!(index_width(1 << 16), 4);
        assert_eq!(index_width(1 << 31), 4);
        assert_eq!(index_width(1 << 32), 8);
    }

    #[test]
    fn keys_header_3_8_entries_follow_indices_of_derived_width() {
        let t = layout(8).dict_table.unwrap();
        let mut head = vec![0u8; keys_header_len(&t)];
        let size_at = match t.size {
            KeysSize::Size { offset } => offset as usize,
            _ => panic!("3.8 records dk_size"),
        };
        head[size_at..size_at + 8].copy_from_slice(&512u64.to_le_bytes());
        head[t.nentries as usize..t.nentries as usize + 8].copy_from_slice(&300u64.to_le_bytes());
        let h = decode_keys_header(&t, &head).unwrap();
        assert_eq!(h.nentries, 300);
        assert_eq!(h.entries, t.indices + 512 * 2);
        assert_eq!(h.entry.size, 24);
        // Not a power of two, or more entries than slots: not a keys object.
        head[size_at..size_at + 8].copy_from_slice(&500u64.to_le_bytes());
        assert!(decode_keys_header(&t, &head).is_err());
        head[size_at..size_at + 8].copy_from_slice(&256u64.to_le_bytes());
        assert!(decode_keys_header(&t, &head).is_err());
    }

    #[test]
    fn keys_header_3_11_plus_checks_index_bytes_and_kind() {
        for minor in [11, 12, 13, 14, 15] {
            let t = layout(minor).dict_table.unwrap();
            let KeysSize::Log2 {
                log2_size,
                log2_index_bytes,
            } = t.size
            else {
                panic!("3.{minor} records log2 sizes")
            };
            let kind = t.kind.unwrap();
            let mut head = vec![0u8; keys_header_len(&t)];
            head[log2_size as usize] = 10; // 1024 slots: 2-byte indices
            head[log2_index_bytes as usize] = 11;
            head[kind.offset as usize] = kind.unicode;
            head[t.nentries as usize] = 100;
            let h = decode_keys_header(&t, &head).unwrap();
            assert_eq!(h.entries, t.indices + 2048);
            assert_eq!(h.entry, t.unicode_entry.unwrap());
            head[kind.offset as usize] = kind.general;
            assert_eq!(decode_keys_header(&t, &head).unwrap().entry, t.entry);
            head[kind.offset as usize] = 9;
            assert!(decode_keys_header(&t, &head).is_err());
            head[kind.offset as usize] = kind.split;
            head[log2_index_bytes as usize] = 10;
            assert!(
                decode_keys_header(&t, &head).is_err(),
                "3.{minor}: 1-byte indices for 1024 slots"
            );
        }
    }

    /// CPython objects built in this process's own memory, read back through
    /// `process_vm_readv` on ourselves: the whole lookup path without a Python.
    struct Fakes {
        layout: Layout,
        blocks: Vec<Vec<u64>>,
    }

    impl Fakes {
        fn new(minor: u32) -> Fakes {
            Fakes {
                layout: layout(minor),
                blocks: Vec::new(),
            }
        }

        fn alloc(&mut self, bytes: Vec<u8>) -> u64 {
            let mut words = vec![0u64; bytes.len().div_ceil(8) + 1];
            for (i, chunk) in bytes.chunks(8).enumerate() {
                let mut w = [0u8; 8];
                w[..chunk.len()].copy_from_slice(chunk);
                words[i] = u64::from_le_bytes(w);
            }
            let addr = words.as_ptr() as u64;
            self.blocks.push(words);
            addr
        }

        fn put(b: &mut Vec<u8>, at: u64, v: u64, len: usize) {
            let at = at as usize;
            if b.len() < at + len {
                b.resize(at + len, 0);
            }
            b[at..at + len].copy_from_slice(&v.to_le_bytes()[..len]);
        }

        fn ascii_str(&mut self, text: &str) -> u64 {
            let l = &self.layout;
            let mut b = vec![0u8; l.unicode_ascii_size as usize];
            Self::put(&mut b, l.ob_type, 0x5757, 8);
            Self::put(&mut b, l.unicode_length, text.len() as u64, 8);
            let state = (1u64 << l.unicode_kind_shift)
                | (1 << l.unicode_compact_shift)
                | (1 << l.unicode_ascii_shift);
            Self::put(&mut b, l.unicode_state, state, 4);
            b.extend_from_slice(text.as_bytes());
            b.push(0);
            self.alloc(b)
        }

        /// A keys object of 8 slots holding `entries` (key, value); general entries when
        /// `general`, else str-only (3.11+).
        fn keys(&mut self, entries: &[(u64, u64)], general: bool) -> u64 {
            let t = self.layout.dict_table.unwrap();
            let mut b = vec![0u8; t.indices as usize + 8];
            match t.size {
                KeysSize::Size { offset } => Self::put(&mut b, offset, 8, 8),
                KeysSize::Log2 {
                    log2_size,
                    log2_index_bytes,
                } => {
                    Self::put(&mut b, log2_size, 3, 1);
                    Self::put(&mut b, log2_index_bytes, 3, 1);
                }
            }
            let entry = match t.kind {
                Some(k) if !general => {
                    Self::put(&mut b, k.offset, k.unicode as u64, 1);
                    t.unicode_entry.unwrap()
                }
                Some(k) => {
                    Self::put(&mut b, k.offset, k.general as u64, 1);
                    t.entry
                }
                None => t.entry,
            };
            Self::put(&mut b, t.nentries, entries.len() as u64, 8);
            let base = t.indices + 8;
            for (i, (k, v)) in entries.iter().enumerate() {
                let at = base + i as u64 * entry.size;
                Self::put(&mut b, at + entry.key, *k, 8);
                Self::put(&mut b, at + entry.value, *v, 8);
            }
            self.alloc(b)
        }

        fn dict(&mut self, keys: u64, values: u64) -> u64 {
            let l = &self.layout;
            let mut b = Vec::new();
            Self::put(&mut b, l.ob_type, 0xd1c7, 8);
            Self::put(&mut b, l.dict_keys, keys, 8);
            Self::put(&mut b, l.dict_values, values, 8);
            self.alloc(b)
        }

        /// A values block (3.13+ header when the layout has one) holding `values`.
        fn values(&mut self, values: &[u64], capacity: u64, valid: bool) -> u64 {
            let t = self.layout.dict_table.unwrap();
            let mut b = vec![0u8; t.values_items as usize];
            if let Some(c) = t.values_capacity {
                Self::put(&mut b, c, capacity, 1);
            }
            if let Some(v) = t.values_valid {
                Self::put(&mut b, v, valid as u64, 1);
            }
            for v in values {
                b.extend_from_slice(&v.to_le_bytes());
            }
            self.alloc(b)
        }

        fn lookup(&self, dict: u64, key: &str) -> Option<u64> {
            let mem = crate::process::RemoteMemory::new(std::process::id());
            let heads = read_dict_heads(&mem, &self.layout, &[dict]).unwrap();
            let mappings: Vec<_> = heads.iter().map(|h| h.map(|h| h.mapping)).collect();
            lookup_str(&mem, &self.layout, &mappings, key)
                .unwrap()
                .values[0]
        }
    }

    #[test]
    fn finds_str_keys_in_combined_tables_of_every_layout() {
        for minor in [8, 10, 11, 12, 13, 15] {
            let mut f = Fakes::new(minor);
            let (sys, threading, thread) = (
                f.ascii_str("sys"),
                f.ascii_str("threading"),
                f.ascii_str("threadinG"),
            );
            // A deleted entry (null key) before the live one.
            let keys = f.keys(
                &[(sys, 0x1000), (0, 0), (thread, 0x2000), (threading, 0x3000)],
                false,
            );
            let dict = f.dict(keys, 0);
            assert_eq!(f.lookup(dict, "threading"), Some(0x3000), "3.{minor}");
            assert_eq!(f.lookup(dict, "sys"), Some(0x1000), "3.{minor}");
            assert_eq!(f.lookup(dict, "os"), None, "3.{minor}");
            let general = f.keys(&[(0x9999_0000, 1), (threading, 0x4000)], true);
            let dict = f.dict(general, 0);
            assert_eq!(
                f.lookup(dict, "threading"),
                Some(0x4000),
                "3.{minor} general entries"
            );
            let mem = crate::process::RemoteMemory::new(std::process::id());
            let found = read_items(&mem, &f.layout, dict).unwrap().unwrap();
            assert_eq!(found.items, vec![(0x9999_0000, 1), (threading, 0x4000)]);
        }
    }

    #[test]
    fn split_tables_take_values_from_their_block() {
        for minor in [8, 11, 12, 13, 14] {
            let mut f = Fakes::new(minor);
            let (target, name) = (f.ascii_str("_target"), f.ascii_str("_name"));
            let keys = f.keys(&[(target, 0), (name, 0)], false);
            let values = f.values(&[0x7000, 0x8000], 2, true);
            let dict = f.dict(keys, values);
            assert_eq!(f.lookup(dict, "_name"), Some(0x8000), "3.{minor}");
            if f.layout.dict_table.unwrap().values_capacity.is_some() {
                // 3.13+: a slot beyond the block's capacity, or a block no longer valid.
                let small = f.values(&[0x7000, 0x8000], 1, true);
                let dict = f.dict(keys, small);
                assert_eq!(f.lookup(dict, "_name"), None, "3.{minor} capacity");
                let invalid = f.values(&[0x7000, 0x8000], 2, false);
                let dict = f.dict(keys, invalid);
                assert_eq!(f.lookup(dict, "_name"), None, "3.{minor} invalid");
            }
        }
    }

    #[test]
    fn garbage_gives_nothing_and_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for minor in [8, 11, 12, 13, 15] {
            let mut f = Fakes::new(minor);
            let name = f.ascii_str("_name");
            for round in 0..200 {
                let mut junk: Vec<u8> = (0..256).flat_map(|_| next().to_le_bytes()).collect();
                if round % 2 == 0 {
                    // Some pointers into real memory, some to the one real key.
                    for at in (0..junk.len()).step_by(40) {
                        junk[at..at + 8].copy_from_slice(&name.to_le_bytes());
                    }
                }
                let keys = f.alloc(junk);
                let values = if round % 3 == 0 { keys } else { 0 };
                let dict = f.dict(keys, values);
                let _ = f.lookup(dict, "_name");
                let mem = crate::process::RemoteMemory::new(std::process::id());
                let _ = read_items(&mem, &f.layout, dict).unwrap();
            }
        }
    }

    fn long_bytes(layout: &Layout, size_or_tag: u64, digits: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; long_read_len(layout)];
        let at = layout.long_size_or_tag as usize;
        b[at..at + 8].copy_from_slice(&size_or_tag.to_le_bytes());
        for (i, d) in digits.iter().enumerate() {
            let at = layout.long_digits as usize + 4 * i;
            b[at..at + 4].copy_from_slice(&d.to_le_bytes());
        }
        b
    }

    /// The 30-bit digits of `v`, least significant first.
    fn digits_of(mut v: u64) -> Vec<u32> {
        let mut d = Vec::new();
        while v != 0 {
            d.push((v & ((1 << 30) - 1)) as u32);
            v >>= 30;
        }
        d
    }

    #[test]
    fn decodes_thread_idents_from_ob_size_ints() {
        let l = layout(11);
        for v in [0u64, 1, 0x7f12_3456_7640, u64::MAX] {
            let d = digits_of(v);
            assert_eq!(
                decode_unsigned_long(&l, &long_bytes(&l, d.len() as u64, &d)),
                Some(v)
            );
        }
        assert_eq!(
            decode_unsigned_long(&l, &long_bytes(&l, (-1i64) as u64, &[5])),
            None
        );
        assert_eq!(
            decode_unsigned_long(&l, &long_bytes(&l, 2, &[1 << 30, 0])),
            None,
            "digit overflows 30 bits"
        );
        assert_eq!(
            decode_unsigned_long(&l, &long_bytes(&l, 3, &[0, 0, 1 << 5])),
            None,
            "more than 64 bits"
        );
    }

    #[test]
    fn decodes_thread_idents_from_lv_tag_ints() {
        for minor in [12, 13, 14, 15] {
            let l = layout(minor);
            let tag = l.long_tag.unwrap();
            let v = 0x7f12_3456_7640u64;
            let d = digits_of(v);
            let positive = (d.len() as u64) << tag.size_shift;
            assert_eq!(
                decode_unsigned_long(&l, &long_bytes(&l, positive, &d)),
                Some(v)
            );
            assert_eq!(
                decode_unsigned_long(&l, &long_bytes(&l, tag.zero, &[])),
                Some(0)
            );
            assert_eq!(
                decode_unsigned_long(&l, &long_bytes(&l, positive | tag.negative, &d)),
                None
            );
        }
    }
}
