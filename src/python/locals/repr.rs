//! Short, bounded reprs of objects in the target, for `dump --locals`: int (any size),
//! float, bool, None, str and bytes (truncated, with a marker), and one level of tuple,
//! list and dict (the first [`MAX_REPR_ITEMS`] items; containers inside them are only named,
//! `<list of 3>`). Anything else is `<typename at 0x…>`; what cannot be read is
//! `<unreadable>`. Types are told apart by the exact type pointer (a subclass of int is
//! not an int here), so no method of the target ever matters. Every read is charged to a
//! per-frame [`Budget`]: no repr reads more than it shows, and nothing recurses.

use super::layout::LocalsLayout;
use crate::limits::{
    MAX_CLAIMED_CONTAINER_LEN, MAX_REPR_DICT_ENTRIES_SCANNED, MAX_REPR_INT_DIGITS, MAX_REPR_ITEMS,
    MAX_REPR_NESTED_TEXT, MAX_REPR_TEXT, MAX_REPR_TYPE_NAME,
};
use crate::process::{Bytes, Memory};
use crate::python::dicts;
use crate::python::layout::Layout;
use crate::python::many_reads::ManyReads;
use crate::python::objects::{decode_str, str_head, str_head_len};

/// Why a repr could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// The memory is not mapped, or not a sane object.
    Unreadable,
    /// The frame's read budget is spent.
    Budget,
}

impl Fail {
    pub fn repr(self) -> String {
        match self {
            Fail::Unreadable => "<unreadable>".into(),
            Fail::Budget => "<not read: frame budget spent>".into(),
        }
    }
}

/// Bytes a frame's locals may still read; every read is charged before it is made.
#[derive(Debug)]
pub struct Budget {
    left: usize,
}

impl Budget {
    pub fn new(bytes: usize) -> Budget {
        Budget { left: bytes }
    }

    fn charge(&mut self, n: usize) -> Result<(), Fail> {
        if n > self.left {
            self.left = 0;
            return Err(Fail::Budget);
        }
        self.left -= n;
        Ok(())
    }
}

/// The target's builtin objects and types (their addresses, from the binary's symbols),
/// by which objects are recognised.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Builtins {
    pub none: Option<u64>,
    pub true_: Option<u64>,
    pub false_: Option<u64>,
    pub int: Option<u64>,
    pub bool_: Option<u64>,
    pub float: Option<u64>,
    pub str_: Option<u64>,
    pub bytes: Option<u64>,
    pub tuple: Option<u64>,
    pub list: Option<u64>,
    pub dict: Option<u64>,
    pub cell: Option<u64>,
    pub none_type: Option<u64>,
}

/// The symbols [`Builtins::from_symbols`] wants from the CPython binary.
pub const BUILTIN_SYMBOLS: &[&str] = &[
    "_Py_NoneStruct",
    "_Py_TrueStruct",
    "_Py_FalseStruct",
    "PyLong_Type",
    "PyBool_Type",
    "PyFloat_Type",
    "PyUnicode_Type",
    "PyBytes_Type",
    "PyTuple_Type",
    "PyList_Type",
    "PyDict_Type",
    "PyCell_Type",
    "_PyNone_Type",
];

impl Builtins {
    /// From a symbol lookup (name → address).
    pub fn from_symbols(lookup: impl Fn(&str) -> Option<u64>) -> Builtins {
        Builtins {
            none: lookup("_Py_NoneStruct"),
            true_: lookup("_Py_TrueStruct"),
            false_: lookup("_Py_FalseStruct"),
            int: lookup("PyLong_Type"),
            bool_: lookup("PyBool_Type"),
            float: lookup("PyFloat_Type"),
            str_: lookup("PyUnicode_Type"),
            bytes: lookup("PyBytes_Type"),
            tuple: lookup("PyTuple_Type"),
            list: lookup("PyList_Type"),
            dict: lookup("PyDict_Type"),
            cell: lookup("PyCell_Type"),
            none_type: lookup("_PyNone_Type"),
        }
    }
}

/// What kind of object a type pointer says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Float,
    None,
    Str,
    Bytes,
    Tuple,
    List,
    Dict,
    Cell,
    /// Anything else, by its type's name.
    Other(String),
}

/// Reads reprs out of one target, charging one frame's budget.
pub struct Reprs<'a> {
    pub mem: &'a dyn Memory,
    pub layout: &'a Layout,
    pub locals: &'a LocalsLayout,
    pub builtins: &'a Builtins,
    pub budget: Budget,
}

impl Reprs<'_> {
    /// Reads `buf.len()` bytes at `addr`, charged to the budget.
    pub fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Fail> {
        if addr == 0 {
            return Err(Fail::Unreadable);
        }
        self.budget.charge(buf.len())?;
        self.mem.read(addr, buf).map_err(|_| Fail::Unreadable)
    }

    pub fn read_u64(&mut self, addr: u64) -> Result<u64, Fail> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn read_vec(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, Fail> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }

    /// The repr of the object at `addr` (top level: containers show their items).
    pub fn repr(&mut self, addr: u64) -> String {
        self.repr_at(addr, false).unwrap_or_else(Fail::repr)
    }

    /// The repr of an int a 3.14+ stack reference holds inline.
    pub fn tagged_int(value: i64) -> String {
        value.to_string()
    }

    /// `Some(referent)` when `addr` is a cell object (a closure variable's box); its
    /// referent may be 0 (empty cell).
    pub fn cell_contents(&mut self, addr: u64) -> Result<Option<u64>, Fail> {
        let ob_type = self.read_u64(addr + self.layout.ob_type)?;
        if self.builtins.cell.is_some_and(|c| c == ob_type) {
            return self.read_u64(addr + self.locals.cell_ref).map(Some);
        }
        if self.builtins.cell.is_none() && self.kind_of(ob_type)? == Kind::Cell {
            return self.read_u64(addr + self.locals.cell_ref).map(Some);
        }
        Ok(None)
    }

    fn repr_at(&mut self, addr: u64, nested: bool) -> Result<String, Fail> {
        if addr == 0 || addr % 8 != 0 {
            return Err(Fail::Unreadable);
        }
        // The singletons are known by address: no read needed.
        if Some(addr) == self.builtins.none {
            return Ok("None".into());
        }
        if Some(addr) == self.builtins.true_ {
            return Ok("True".into());
        }
        if Some(addr) == self.builtins.false_ {
            return Ok("False".into());
        }
        let ob_type = self.read_u64(addr + self.layout.ob_type)?;
        let text_limit = if nested {
            MAX_REPR_NESTED_TEXT
        } else {
            MAX_REPR_TEXT
        };
        match self.kind_of(ob_type)? {
            Kind::None => Ok("None".into()),
            Kind::Int => self.int_repr(addr),
            Kind::Bool => Ok(if self.int_repr(addr)? == "0" {
                "False".into()
            } else {
                "True".into()
            }),
            Kind::Float => {
                let mut b = [0u8; 8];
                self.read(addr + self.locals.float_value, &mut b)?;
                Ok(float_repr(f64::from_le_bytes(b)))
            }
            Kind::Str => self.str_repr(addr, text_limit),
            Kind::Bytes => self.bytes_repr(addr, text_limit),
            Kind::Tuple | Kind::List | Kind::Dict if nested => {
                let (kind, len) = self.container_len(addr, ob_type)?;
                Ok(format!("<{kind} of {len}>"))
            }
            Kind::Tuple => {
                let len = self.var_len(addr + self.layout.tuple_size)?;
                let items = self.pointers(addr + self.layout.tuple_items, len)?;
                Ok(self.sequence("(", ")", len, &items, len == 1))
            }
            Kind::List => {
                let len = self.var_len(addr + self.locals.list_size)?;
                let array = self.read_u64(addr + self.locals.list_items)?;
                let items = self.pointers(array, len)?;
                Ok(self.sequence("[", "]", len, &items, false))
            }
            Kind::Dict => self.dict_repr(addr),
            Kind::Cell => Ok(format!("<cell at {addr:#x}>")),
            Kind::Other(name) => Ok(format!("<{name} at {addr:#x}>")),
        }
    }

    /// Exact type match against the builtins; a type whose symbol the binary lacks is
    /// recognised by its name when it is a static (non-heap) type.
    fn kind_of(&mut self, ob_type: u64) -> Result<Kind, Fail> {
        let b = self.builtins;
        let by_address = [
            (b.int, Kind::Int),
            (b.bool_, Kind::Bool),
            (b.float, Kind::Float),
            (b.str_, Kind::Str),
            (b.bytes, Kind::Bytes),
            (b.tuple, Kind::Tuple),
            (b.list, Kind::List),
            (b.dict, Kind::Dict),
            (b.cell, Kind::Cell),
            (b.none_type, Kind::None),
        ];
        if let Some((_, kind)) = by_address.iter().find(|(a, _)| *a == Some(ob_type)) {
            return Ok(kind.clone());
        }
        let name = self.type_name(ob_type)?;
        let mut flags = [0u8; 8];
        self.read(ob_type + self.layout.type_flags, &mut flags)?;
        let heap = u64::from_le_bytes(flags) & self.locals.heaptype_flag != 0;
        let fallback = by_address
            .into_iter()
            .find(|(a, k)| a.is_none() && !heap && builtin_name(k) == Some(name.as_str()));
        Ok(fallback.map_or(Kind::Other(name), |(_, k)| k))
    }

    /// The type's `tp_name`, at most [`MAX_REPR_TYPE_NAME`] bytes, lossily decoded.
    fn type_name(&mut self, ob_type: u64) -> Result<String, Fail> {
        let name_at = self.read_u64(ob_type + self.locals.type_name)?;
        if name_at == 0 {
            return Err(Fail::Unreadable);
        }
        let mut buf = [0u8; MAX_REPR_TYPE_NAME];
        self.budget.charge(buf.len())?;
        let got = self
            .mem
            .read_partial(name_at, &mut buf)
            .map_err(|_| Fail::Unreadable)?;
        let raw = &buf[..got];
        let end = raw.iter().position(|b| *b == 0);
        let text = String::from_utf8_lossy(&raw[..end.unwrap_or(raw.len())]).into_owned();
        Ok(if end.is_none() { text + "…" } else { text })
    }

    /// A container's kind and length, for `<list of 3>`.
    fn container_len(&mut self, addr: u64, ob_type: u64) -> Result<(&'static str, i64), Fail> {
        Ok(match self.kind_of(ob_type)? {
            Kind::Tuple => ("tuple", self.var_len(addr + self.layout.tuple_size)?),
            Kind::List => ("list", self.var_len(addr + self.locals.list_size)?),
            _ => ("dict", self.var_len(addr + self.locals.dict_used)?),
        })
    }

    /// A length field (`Py_ssize_t`), checked to be sane.
    fn var_len(&mut self, at: u64) -> Result<i64, Fail> {
        let len = self.read_u64(at)? as i64;
        if !(0..=MAX_CLAIMED_CONTAINER_LEN).contains(&len) {
            return Err(Fail::Unreadable);
        }
        Ok(len)
    }

    /// The first [`MAX_REPR_ITEMS`] of `len` item pointers at `array`.
    fn pointers(&mut self, array: u64, len: i64) -> Result<Vec<u64>, Fail> {
        let n = (len as usize).min(MAX_REPR_ITEMS);
        if n == 0 {
            return Ok(Vec::new());
        }
        let raw = self.read_vec(array, n * 8)?;
        Ok((0..n).map(|i| raw.u64_at(i * 8)).collect())
    }

    fn sequence(&mut self, open: &str, close: &str, len: i64, items: &[u64], one: bool) -> String {
        let mut parts: Vec<String> = items
            .iter()
            .map(|a| self.repr_at(*a, true).unwrap_or_else(Fail::repr))
            .collect();
        if (items.len() as i64) < len {
            parts.push("...".into());
        }
        let comma = if one && items.len() == 1 { "," } else { "" };
        format!("{open}{}{comma}{close}", parts.join(", "))
    }

    fn dict_repr(&mut self, addr: u64) -> Result<String, Fail> {
        let used = self.var_len(addr + self.locals.dict_used)?;
        if used == 0 {
            return Ok("{}".into());
        }
        let Some(t) = self.layout.dict_table else {
            return Ok(format!("<dict of {used}>"));
        };
        let keys = self.read_u64(addr + self.layout.dict_keys)?;
        let values = self.read_u64(addr + self.layout.dict_values)?;
        let head = self.read_vec(keys, dicts::keys_header_len(&t))?;
        let Ok(header) = dicts::decode_keys_header(&t, &head) else {
            // A table larger than framescope walks: its size is all it shows.
            return Ok(format!("<dict of {used}>"));
        };
        let scanned = header.nentries.min(MAX_REPR_DICT_ENTRIES_SCANNED);
        let entry = header.entry;
        let raw = self.read_vec(keys + header.entries, (scanned * entry.size) as usize)?;
        let mut pairs = Vec::new();
        let mut slots = ManyReads::new();
        let mut wanted = Vec::new();
        for i in 0..scanned as usize {
            let at = i * entry.size as usize;
            let key = raw.u64_at(at + entry.key as usize);
            if key == 0 {
                continue;
            }
            if values == 0 {
                let value = raw.u64_at(at + entry.value as usize);
                if value != 0 {
                    pairs.push((key, value));
                }
            } else {
                wanted.push((key, dicts::push_value_slot(&mut slots, &t, values, i)));
            }
            if pairs.len() + wanted.len() >= MAX_REPR_ITEMS {
                break;
            }
        }
        if !wanted.is_empty() {
            self.budget.charge(wanted.len() * 8 + 64)?;
            slots.run(self.mem).map_err(|_| Fail::Unreadable)?;
            for (key, slot) in wanted {
                if let Some(v) = dicts::value_from_slot(&slots, &t, slot) {
                    pairs.push((key, v));
                }
            }
        }
        let mut parts: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                let k = self.repr_at(*k, true).unwrap_or_else(Fail::repr);
                let v = self.repr_at(*v, true).unwrap_or_else(Fail::repr);
                format!("{k}: {v}")
            })
            .collect();
        if (pairs.len() as i64) < used {
            parts.push("...".into());
        }
        Ok(format!("{{{}}}", parts.join(", ")))
    }

    /// An int of any size, in decimal; past [`MAX_REPR_INT_DIGITS`] digits, its size.
    fn int_repr(&mut self, addr: u64) -> Result<String, Fail> {
        let l = self.layout;
        let raw = self.read_u64(addr + l.long_size_or_tag)?;
        let (negative, ndigits) = match l.long_tag {
            Some(tag) => {
                let sign = raw & tag.sign_mask;
                let n = raw >> tag.size_shift;
                if sign == tag.zero {
                    return Ok("0".into());
                }
                (sign == tag.negative, n)
            }
            None => {
                let size = raw as i64;
                (size < 0, size.unsigned_abs())
            }
        };
        if ndigits == 0 {
            return Ok("0".into());
        }
        if ndigits > MAX_REPR_INT_DIGITS {
            if ndigits > 1 << 32 {
                return Err(Fail::Unreadable);
            }
            let decimal =
                (ndigits as f64 * l.long_digit_bits as f64 * std::f64::consts::LOG10_2) as u64;
            let sign = if negative { "negative " } else { "" };
            return Ok(format!("<{sign}int of about {decimal} digits>"));
        }
        let size = l.long_digit_size as usize;
        let raw = self.read_vec(addr + l.long_digits, ndigits as usize * size)?;
        let digits: Vec<u32> = raw
            .chunks_exact(size.max(1))
            .map(|c| match size {
                2 => u16::from_le_bytes([c[0], c[1]]) as u32,
                _ => c.u32_at(0),
            })
            .collect();
        let text = digits_to_decimal(&digits, l.long_digit_bits);
        Ok(if negative { format!("-{text}") } else { text })
    }

    /// A str's first `limit` code points, the count of those left off, and its length.
    fn str_text(&mut self, addr: u64, limit: u64) -> Result<(String, u64, u64), Fail> {
        let head_len = str_head_len(self.layout);
        let head = self.read_vec(addr, head_len)?;
        let shape = str_head(self.layout, &head).map_err(|_| Fail::Unreadable)?;
        let (kept, dropped) = shape.keep(limit);
        let raw = self.read_vec(addr + shape.data_offset(self.layout), kept.data_len())?;
        let text = decode_str(kept, &raw).ok_or(Fail::Unreadable)?;
        Ok((text, dropped, shape.length))
    }

    fn str_repr(&mut self, addr: u64, limit: u64) -> Result<String, Fail> {
        let (text, dropped, length) = self.str_text(addr, limit)?;
        Ok(truncated(quote_str(&text), dropped, length, "chars"))
    }

    /// A variable's name (a str, not quoted): at most `limit` code points, then `…`.
    pub fn name(&mut self, addr: u64, limit: u64) -> Result<String, Fail> {
        let (text, dropped, _) = self.str_text(addr, limit)?;
        Ok(if dropped > 0 { text + "…" } else { text })
    }

    fn bytes_repr(&mut self, addr: u64, limit: u64) -> Result<String, Fail> {
        let size = self.var_len(addr + self.layout.bytes_size)? as u64;
        let kept = size.min(limit);
        let data = self.read_vec(addr + self.layout.bytes_data, kept as usize)?;
        Ok(truncated(quote_bytes(&data), size - kept, size, "bytes"))
    }
}

/// The name a builtin kind has as a static type (`tp_name`).
fn builtin_name(k: &Kind) -> Option<&'static str> {
    Some(match k {
        Kind::Int => "int",
        Kind::Bool => "bool",
        Kind::Float => "float",
        Kind::Str => "str",
        Kind::Bytes => "bytes",
        Kind::Tuple => "tuple",
        Kind::List => "list",
        Kind::Dict => "dict",
        Kind::Cell => "cell",
        Kind::None => "NoneType",
        Kind::Other(_) => return None,
    })
}

/// `repr` with the marker of a cut: `'aaaa'… (truncated, 5000 chars)`.
fn truncated(repr: String, dropped: u64, total: u64, unit: &str) -> String {
    if dropped == 0 {
        repr
    } else {
        format!("{repr}… (truncated, {total} {unit})")
    }
}

/// Little-endian digits of `bits` bits each, in decimal (schoolbook division by 10^9).
pub fn digits_to_decimal(digits: &[u32], bits: u32) -> String {
    let mut n: Vec<u32> = digits.to_vec();
    while n.last() == Some(&0) {
        n.pop();
    }
    if n.is_empty() {
        return "0".into();
    }
    let mut chunks: Vec<u32> = Vec::new();
    while !n.is_empty() {
        let mut rem: u64 = 0;
        for d in n.iter_mut().rev() {
            let cur = (rem << bits) | *d as u64;
            *d = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        chunks.push(rem as u32);
        while n.last() == Some(&0) {
            n.pop();
        }
    }
    let mut s = chunks.last().map_or(String::new(), |c| c.to_string());
    for c in chunks.iter().rev().skip(1) {
        s.push_str(&format!("{c:09}"));
    }
    s
}

/// Python's `repr(float)`: the shortest digits that read back the same, fixed notation
/// for exponents from -4 to 15, else `1e+16` style; always a `.0` when whole.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let decpt = exp + 1;
    let body = if x == 0.0 {
        "0.0".to_string()
    } else if -4 < decpt && decpt <= 16 {
        let n = digits.len() as i32;
        if decpt <= 0 {
            format!("0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt >= n {
            format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
        } else {
            let (a, b) = digits.split_at(decpt as usize);
            format!("{a}.{b}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{first}{frac}e{esign}{:02}", exp.abs())
    };
    format!("{sign}{body}")
}

/// Python's `repr(str)`: single quotes unless the text has one and no double quote;
/// backslash, the quote, and control characters escaped as Python does.
pub fn quote_str(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if ('\u{2028}'..='\u{2029}').contains(&c) || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(bytes)`: printable ASCII as is, the rest `\xNN`.
pub fn quote_bytes(data: &[u8]) -> String {
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::from("b");
    out.push(quote as char);
    for &b in data {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b if b == quote => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote as char);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_python_prints_them() {
        for (x, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (2.75, "2.75"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (1e300, "1e+300"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(float_repr(x), want, "{x:e}");
        }
    }

    #[test]
    fn ints_of_any_size_in_decimal() {
        assert_eq!(digits_to_decimal(&[], 30), "0");
        assert_eq!(digits_to_decimal(&[7], 30), "7");
        // 2**30 = one digit of 0 and one of 1.
        assert_eq!(digits_to_decimal(&[0, 1], 30), "1073741824");
        // 2**100.
        let mut d = vec![0u32; 4];
        d[3] = 1 << 10;
        assert_eq!(digits_to_decimal(&d, 30), "1267650600228229401496703205376");
        // 2**60 - 1 with 15-bit digits.
        assert_eq!(digits_to_decimal(&[0x7fff; 4], 15), "1152921504606846975");
    }

    #[test]
    fn strs_and_bytes_quote_as_python_does() {
        assert_eq!(quote_str("hello"), "'hello'");
        assert_eq!(quote_str("it's"), "\"it's\"");
        assert_eq!(quote_str("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(
            quote_str("t\ta\nb\\\u{1b}\u{7f}"),
            "'t\\ta\\nb\\\\\\x1b\\x7f'"
        );
        assert_eq!(quote_str("ünï 名前 😀"), "'ünï 名前 😀'");
        assert_eq!(quote_bytes(b"ab\x00\xff'"), "b\"ab\\x00\\xff'\"");
        assert_eq!(
            truncated("'aa'".into(), 3, 5, "chars"),
            "'aa'… (truncated, 5 chars)"
        );
    }

    /// Memory made of a few regions, for objects laid out by hand.
    struct FakeMemory(Vec<(u64, Vec<u8>)>);

    impl Memory for FakeMemory {
        fn syscalls(&self) -> u64 {
            0
        }
        unsafe fn readv(
            &self,
            locals: &[libc::iovec],
            remotes: &[libc::iovec],
        ) -> Result<Option<usize>, crate::process::ReadError> {
            let mut done = 0;
            for (l, r) in locals.iter().zip(remotes) {
                let addr = r.iov_base as u64;
                let Some((start, bytes)) = self
                    .0
                    .iter()
                    .find(|(s, b)| addr >= *s && addr < s + b.len() as u64)
                else {
                    return Ok((done > 0).then_some(done));
                };
                let from = (addr - start) as usize;
                let n = l.iov_len.min(bytes.len() - from);
                // SAFETY: the caller guarantees `l` points to `l.iov_len` writable bytes.
                let dest = unsafe { std::slice::from_raw_parts_mut(l.iov_base.cast::<u8>(), n) };
                dest.copy_from_slice(&bytes[from..from + n]);
                done += n;
                if n < l.iov_len {
                    break;
                }
            }
            Ok(Some(done))
        }
    }

    fn object(ob_type: u64, fields: &[(usize, u64)], len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[8..16].copy_from_slice(&ob_type.to_le_bytes());
        for (at, v) in fields {
            b[*at..*at + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn garbage_and_cycles_give_bounded_reprs_not_errors() {
        let v = crate::python::version::Version::new(3, 12, 0);
        let table = crate::python::layout::table_for(&v).unwrap().unwrap();
        let layout = Layout::from_table(&v, &table).unwrap();
        let locals = LocalsLayout::for_version(&v, None).unwrap();
        let (int_t, list_t, thing_t, name) = (0x100, 0x200, 0x300, 0x800);
        let builtins = Builtins {
            int: Some(int_t),
            list: Some(list_t),
            ..Builtins::default()
        };
        // 3.12 int: lv_tag = digits << 3 (positive), then 30-bit digits: 2**30 + 5.
        let mut big = object(int_t, &[(16, 2 << 3)], 32);
        big[24..28].copy_from_slice(&5u32.to_le_bytes());
        big[28..32].copy_from_slice(&1u32.to_le_bytes());
        // A list of 4: the int, an unmapped pointer, itself, an object of a foreign type.
        let list = object(list_t, &[(16, 4), (24, 0x6000)], 32);
        let items = [0x1000u64, 0x9000, 0x2000, 0x3000]
            .iter()
            .flat_map(|a| a.to_le_bytes())
            .collect();
        let thing = object(thing_t, &[], 16);
        let thing_type = object(0, &[(locals.type_name as usize, name)], 512);
        let mem = FakeMemory(vec![
            (0x1000, big),
            (0x2000, list),
            (0x6000, items),
            (0x3000, thing),
            (thing_t, thing_type),
            (name, b"Thing\0".to_vec()),
        ]);
        let mut reprs = Reprs {
            mem: &mem,
            layout: &layout,
            locals: &locals,
            builtins: &builtins,
            budget: Budget::new(1 << 16),
        };
        assert_eq!(reprs.repr(0x1000), "1073741829");
        assert_eq!(
            reprs.repr(0x2000),
            "[1073741829, <unreadable>, <list of 4>, <Thing at 0x3000>]"
        );
        assert_eq!(reprs.repr(0x9000), "<unreadable>");
        assert_eq!(reprs.repr(0x2001), "<unreadable>");
        // A budget that pays for the list but not its items.
        let mut poor = Reprs {
            budget: Budget::new(64),
            ..reprs
        };
        let spent = "<not read: frame budget spent>";
        assert_eq!(
            poor.repr(0x2000),
            format!("[{spent}, {spent}, {spent}, {spent}]")
        );
        assert_eq!(poor.repr(0x1000), spent);
    }

    #[test]
    fn the_budget_refuses_what_it_cannot_pay() {
        let mut b = Budget::new(10);
        assert_eq!(b.charge(8), Ok(()));
        assert_eq!(b.charge(3), Err(Fail::Budget));
        assert_eq!(b.charge(1), Err(Fail::Budget));
    }
}
