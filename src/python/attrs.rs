//! One attribute of many instances at once (e.g. `_name` of every `threading.Thread`),
//! wherever the version keeps instance attributes:
//!
//! - ≤3.10, and types without a managed dict: a `__dict__` at `tp_dictoffset`;
//! - 3.11: a values pointer and a dict pointer behind the object;
//! - 3.12: one word behind the object, a dict pointer or a tagged values pointer;
//! - 3.13+: values inline after `tp_basicsize` while valid, else the dict behind the object.
//!
//! Values without a dict are found through the type's shared keys (`ht_cached_keys`).
//! Every stage reads all instances together, so the cost does not grow with their number.

use std::collections::HashMap;

use super::dicts::{self, lookup_str, read_dict_heads, Mapping, ValuesAt};
use super::layout::{Layout, ManagedValues};
use super::many_reads::ManyReads;
use crate::limits::MAX_TYPE_BASICSIZE;
use crate::process::{Bytes, Memory, ReadError};

/// The parts of a type object that say where its instances keep attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeInfo {
    pub flags: u64,
    pub dictoffset: i64,
    pub basicsize: u64,
    pub cached_keys: u64,
}

/// Reads the types at `addrs` (one syscall).
pub fn read_types(
    mem: &dyn Memory,
    layout: &Layout,
    addrs: &[u64],
) -> Result<HashMap<u64, TypeInfo>, ReadError> {
    let fields = [
        Some(layout.type_flags),
        Some(layout.type_dictoffset),
        layout.type_basicsize,
        layout.heap_type_cached_keys,
    ];
    let len = fields.iter().flatten().max().map_or(0, |m| *m as usize + 8);
    let mut batch = ManyReads::new();
    for addr in addrs {
        batch.push(*addr, len);
    }
    batch.run(mem)?;
    let mut types = HashMap::new();
    for (i, addr) in addrs.iter().enumerate() {
        if let Some(b) = batch.get(i) {
            let info = TypeInfo {
                flags: b.u64_at(layout.type_flags as usize),
                dictoffset: b.u64_at(layout.type_dictoffset as usize) as i64,
                basicsize: layout.type_basicsize.map_or(0, |o| b.u64_at(o as usize)),
                cached_keys: layout
                    .heap_type_cached_keys
                    .map_or(0, |o| b.u64_at(o as usize)),
            };
            types.insert(*addr, info);
        }
    }
    Ok(types)
}

/// Where one instance's attributes are: the stage-1 batch regions that will say so.
enum Where {
    Nowhere,
    /// A word holding the dict pointer (≤3.10 `tp_dictoffset`, or a managed dict).
    Dict {
        word: usize,
    },
    /// 3.11: the values-pointer word and the dict-pointer word.
    Pointers {
        values: usize,
        dict: usize,
        keys: u64,
    },
    /// 3.12: one word, holding a dict pointer or a tagged values pointer.
    Tagged {
        word: usize,
        tag: i64,
        keys: u64,
    },
    /// 3.13+: the inline values block (its header read here) and the dict word.
    Inline {
        block: u64,
        header: usize,
        dict: usize,
        keys: u64,
    },
}

/// What stage 1 found for one instance.
enum Located {
    Nothing,
    Values(Mapping),
    Dict(u64),
}

/// The attribute `name` of each object (given with its type): pointers to the values,
/// `None` where an object does not have it or cannot be read (with the target's `str`
/// type, as for [`lookup_str`]). Costs about eight syscalls, however many objects.
pub fn attr_many(
    mem: &dyn Memory,
    layout: &Layout,
    objects: &[(u64, u64)],
    name: &str,
) -> Result<dicts::StrLookup, ReadError> {
    let Some(table) = layout.dict_table.as_ref() else {
        return Ok(dicts::StrLookup {
            values: vec![None; objects.len()],
            str_type: None,
        });
    };
    let mut type_addrs: Vec<u64> = objects
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| *t != 0)
        .collect();
    type_addrs.sort_unstable();
    type_addrs.dedup();
    let types = read_types(mem, layout, &type_addrs)?;

    // Stage 1: the words (and 3.13+ value-block headers) that say where attributes are.
    let mut words = ManyReads::new();
    let plans: Vec<Where> = objects
        .iter()
        .map(|(obj, ty)| match types.get(ty) {
            Some(info) => plan(layout, &mut words, *obj, info),
            None => Where::Nowhere,
        })
        .collect();
    words.run(mem)?;
    let word = |i: usize| words.get(i).map_or(0, |b| b.u64_at(0));
    let dict_or_nothing = |d: u64| {
        if d == 0 {
            Located::Nothing
        } else {
            Located::Dict(d)
        }
    };
    let found: Vec<Located> = plans
        .iter()
        .map(|p| match *p {
            Where::Nowhere => Located::Nothing,
            Where::Dict { word: w } => dict_or_nothing(word(w)),
            Where::Pointers { values, dict, keys } => match word(values) {
                0 => dict_or_nothing(word(dict)),
                v => values_mapping(keys, v),
            },
            Where::Tagged { word: w, tag, keys } => match word(w) {
                v if v & 1 == 1 => values_mapping(keys, v.wrapping_sub(tag as u64)),
                v => dict_or_nothing(v),
            },
            Where::Inline {
                block,
                header,
                dict,
                keys,
            } => {
                let valid = table
                    .values_valid
                    .zip(words.get(header))
                    .is_some_and(|(o, h)| h.u8_at(o as usize) != 0);
                if valid {
                    values_mapping(keys, block)
                } else {
                    dict_or_nothing(word(dict))
                }
            }
        })
        .collect();

    // Stage 2: the headers of the dicts, for instances whose attributes live in one.
    let dict_addrs: Vec<u64> = found
        .iter()
        .map(|f| if let Located::Dict(d) = f { *d } else { 0 })
        .collect();
    let heads = read_dict_heads(mem, layout, &dict_addrs)?;
    let mappings: Vec<Option<Mapping>> = found
        .iter()
        .zip(heads)
        .map(|(f, head)| match f {
            Located::Nothing => None,
            Located::Values(m) => Some(*m),
            Located::Dict(_) => head.map(|h| h.mapping),
        })
        .collect();

    // Stage 3: one lookup over every keys table involved.
    lookup_str(mem, layout, &mappings, name)
}

fn values_mapping(keys: u64, values: u64) -> Located {
    if keys != 0 && values != 0 {
        Located::Values(Mapping {
            keys,
            values: ValuesAt::Block(values),
        })
    } else {
        Located::Nothing
    }
}

/// Decides where `obj` keeps attributes and queues the reads that will tell.
fn plan(layout: &Layout, words: &mut ManyReads, obj: u64, info: &TypeInfo) -> Where {
    let at = |offset: i64| obj.wrapping_add(offset as u64);
    if let Some(m) = layout.managed_dict.filter(|m| info.flags & m.flag != 0) {
        return match m.values {
            ManagedValues::Pointer { offset } => Where::Pointers {
                values: words.push(at(offset), 8),
                dict: words.push(at(m.dict_offset), 8),
                keys: info.cached_keys,
            },
            ManagedValues::Tagged { tag } => Where::Tagged {
                word: words.push(at(m.dict_offset), 8),
                tag,
                keys: info.cached_keys,
            },
            ManagedValues::Inline { flag } => {
                let header_len = layout.dict_table.map_or(0, |t| t.values_items as usize);
                let inline = info.flags & flag != 0
                    && info.basicsize > 0
                    && info.basicsize <= MAX_TYPE_BASICSIZE
                    && info.basicsize % 8 == 0
                    && header_len > 0;
                let dict = words.push(at(m.dict_offset), 8);
                if inline {
                    let block = obj + info.basicsize;
                    Where::Inline {
                        block,
                        header: words.push(block, header_len),
                        dict,
                        keys: info.cached_keys,
                    }
                } else {
                    Where::Dict { word: dict }
                }
            }
        };
    }
    if info.dictoffset > 0
        && (info.dictoffset as u64) < MAX_TYPE_BASICSIZE
        && info.dictoffset % 8 == 0
    {
        return Where::Dict {
            word: words.push(obj + info.dictoffset as u64, 8),
        };
    }
    Where::Nowhere
}
