//! The few types of Python's `marshal` format that a pstats file holds — dict, tuple, str,
//! int and float — written as CPython's own `marshal.dump` writes them (the codes of
//! marshal version 4, which every CPython from 3.4 on reads; later versions add codes for
//! types a pstats file does not use). No back-references are written: they are optional
//! for a reader. Nothing here reads marshal data.

/// `{`: a dict, its key/value pairs, then [`NULL`].
const DICT: u8 = b'{';
/// `0`: the end of a dict.
const NULL: u8 = b'0';
/// `)`: a tuple of fewer than 256 items, its length in one byte.
const SMALL_TUPLE: u8 = b')';
/// `(`: a tuple, its length in four bytes.
const TUPLE: u8 = b'(';
/// `z`: an ASCII str of fewer than 256 bytes, its length in one byte.
const SHORT_ASCII: u8 = b'z';
/// `u`: a str as UTF-8, its length in four bytes.
const UNICODE: u8 = b'u';
/// `i`: an int that fits in 32 bits, signed.
const INT: u8 = b'i';
/// `l`: a larger int, in base-2^15 digits.
const LONG: u8 = b'l';
/// `g`: a float, as an IEEE 754 double, little-endian.
const BINARY_FLOAT: u8 = b'g';

/// A marshal stream under construction.
#[derive(Default)]
pub struct Marshal {
    pub bytes: Vec<u8>,
}

impl Marshal {
    /// Starts a dict: write `dict_end` after its pairs, each written as key then value.
    pub fn dict_start(&mut self) {
        self.bytes.push(DICT);
    }

    pub fn dict_end(&mut self) {
        self.bytes.push(NULL);
    }

    /// Starts a tuple of `len` items, to be written next.
    pub fn tuple(&mut self, len: usize) {
        match u8::try_from(len) {
            Ok(n) => self.bytes.extend([SMALL_TUPLE, n]),
            Err(_) => {
                self.bytes.push(TUPLE);
                self.len32(len);
            }
        }
    }

    pub fn str(&mut self, text: &str) {
        match u8::try_from(text.len()) {
            Ok(n) if text.is_ascii() => self.bytes.extend([SHORT_ASCII, n]),
            _ => {
                self.bytes.push(UNICODE);
                self.len32(text.len());
            }
        }
        self.bytes.extend_from_slice(text.as_bytes());
    }

    pub fn int(&mut self, value: u64) {
        if let Ok(small) = i32::try_from(value) {
            self.bytes.push(INT);
            self.bytes.extend(small.to_le_bytes());
            return;
        }
        // Base 2^15 digits, least significant first, after their count (positive: the
        // number is not negative).
        let mut digits = Vec::new();
        let mut rest = value;
        while rest != 0 {
            digits.push((rest & 0x7fff) as u16);
            rest >>= 15;
        }
        self.bytes.push(LONG);
        self.bytes.extend((digits.len() as i32).to_le_bytes());
        for digit in digits {
            self.bytes.extend(digit.to_le_bytes());
        }
    }

    pub fn float(&mut self, value: f64) {
        self.bytes.push(BINARY_FLOAT);
        self.bytes.extend(value.to_le_bytes());
    }

    /// A length in four bytes. Lengths here are of strings and tuples framescope made,
    /// far below 2^31; a longer one is cut to what the field holds (never reached).
    fn len32(&mut self, len: usize) {
        let len = u32::try_from(len).unwrap_or(u32::MAX).min(i32::MAX as u32);
        self.bytes.extend(len.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn matches_cpython_for_the_types_pstats_uses() {
        // CPython 3.12: marshal.dumps({("a.py", 1, "f"): (3, 2, 0.5, 1.5)}, 4).hex() is
        // 7ba903fa04612e7079e901000000da0166a904e903000000e902000000
        // e7000000000000e03fe7000000000000f83f30: the same but for the back-reference flag
        // (0x80) on most codes, and "f" as an interned short string (`Z`, read alike).
        let expected = hex(
            "7b29037a04612e707969010000007a016629046903000000690200000067\
             000000000000e03f67000000000000f83f30",
        );
        let mut m = Marshal::default();
        m.dict_start();
        m.tuple(3);
        m.str("a.py");
        m.int(1);
        m.str("f");
        m.tuple(4);
        m.int(3);
        m.int(2);
        m.float(0.5);
        m.float(1.5);
        m.dict_end();
        assert_eq!(m.bytes, expected);
    }

    #[test]
    fn large_ints_and_long_or_unicode_strings() {
        // marshal.dumps(2**40 + 5) = 'l', 3 digits: 5, 0, 2**40 >> 30 = 1024.
        let mut m = Marshal::default();
        m.int((1 << 40) + 5);
        assert_eq!(
            m.bytes,
            [b'l', 3, 0, 0, 0, 5, 0, 0, 0, 0, 4],
            "digits 5, 0, 1024"
        );
        let mut m = Marshal::default();
        m.str("é");
        assert_eq!(m.bytes, [b'u', 2, 0, 0, 0, 0xc3, 0xa9]);
        let mut m = Marshal::default();
        let long = "x".repeat(300);
        m.str(&long);
        assert_eq!(&m.bytes[..5], [b'u', 0x2c, 1, 0, 0]);
        let mut m = Marshal::default();
        m.tuple(300);
        assert_eq!(m.bytes, [b'(', 0x2c, 1, 0, 0]);
    }
}
