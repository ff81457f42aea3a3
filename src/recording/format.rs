//! The byte-level vocabulary of the recording file, shared by the writer and the reader:
//! the magic and version, record tags, sample flag bits, LEB128 varints and chunk framing.
//! The layout itself is described in the parent module's documentation; this file only
//! turns it into constants and a few small encode/decode helpers.

/// The first five bytes of every recording.
pub const MAGIC: &[u8; 5] = b"FSREC";
/// The format version this build writes, and the highest it reads.
pub const VERSION: u16 = 2;
/// The first version whose chunks carry a sequence number, whose ticks carry the wall
/// time they stand for, and whose sample entries may carry CPU time and a task.
pub const VERSION_2: u16 = 2;
/// Magic plus the two version bytes.
pub const HEADER_LEN: usize = MAGIC.len() + 2;
/// Bytes in front of each chunk's payload: its length and its checksum.
pub const CHUNK_HEADER_LEN: usize = 8;

pub const TAG_META: u8 = 1;
pub const TAG_STRING: u8 = 2;
pub const TAG_FRAME: u8 = 3;
pub const TAG_STACK: u8 = 4;
pub const TAG_THREAD: u8 = 5;
pub const TAG_TICK: u8 = 6;
pub const TAG_SUMMARY: u8 = 7;
/// Version 2: a process of a recording of several (JSON: [`super::ProcessInfo`]).
pub const TAG_PROCESS: u8 = 8;
/// Version 2: how a process of a recording ended (JSON: [`super::ProcessEnd`]).
pub const TAG_PROCESS_END: u8 = 9;
/// Version 2: an asyncio task a sample entry can name.
pub const TAG_TASK: u8 = 10;

/// Sample flag: the thread held the GIL.
pub const FLAG_GIL: u8 = 1;
/// Sample flags, bits 1-2: the on-CPU state (0 unknown, 1 running, 2 not running).
pub const ON_CPU_SHIFT: u8 = 1;
pub const ON_CPU_MASK: u8 = 0b11 << ON_CPU_SHIFT;
/// Sample flag: the thread's stack could not be read consistently.
pub const FLAG_ERROR: u8 = 1 << 3;
/// Every bit a version-1 writer may set.
pub const KNOWN_FLAGS_V1: u8 = FLAG_GIL | ON_CPU_MASK | FLAG_ERROR;
/// Sample flag (version 2): a varint of CPU nanoseconds follows the flag byte.
pub const FLAG_CPU_TIME: u8 = 1 << 4;
/// Sample flag (version 2): a varint task id + 1 follows (after the CPU time, if any).
pub const FLAG_TASK: u8 = 1 << 5;
/// Sample flag (version 2): the stack was deeper than framescope follows; it holds the
/// innermost frames only.
pub const FLAG_TRUNCATED: u8 = 1 << 6;
/// Every bit a version-2 writer may set; bit 7 stays zero.
pub const KNOWN_FLAGS_V2: u8 = KNOWN_FLAGS_V1 | FLAG_CPU_TIME | FLAG_TASK | FLAG_TRUNCATED;

/// Packs one thread's state at one tick into its flag byte (the version-1 bits).
pub fn encode_flags(holds_gil: bool, on_cpu: Option<bool>, error: bool) -> u8 {
    let cpu = match on_cpu {
        None => 0,
        Some(true) => 1,
        Some(false) => 2,
    };
    u8::from(holds_gil) | (cpu << ON_CPU_SHIFT) | if error { FLAG_ERROR } else { 0 }
}

/// The flag bits a file of `version` may use.
pub fn known_flags(version: u16) -> u8 {
    if version >= VERSION_2 {
        KNOWN_FLAGS_V2
    } else {
        KNOWN_FLAGS_V1
    }
}

/// Appends `value` as an unsigned LEB128 varint.
pub fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// Appends a varint length followed by the bytes themselves.
pub fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// The checksum stored in a chunk header: CRC-32 (IEEE) of the length bytes, then the payload.
pub fn chunk_checksum(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(payload);
    hasher.finalize()
}

/// A read position in a byte slice; every read is bounds-checked and reports damage as an
/// error string instead of panicking.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or("record runs past the end of its chunk")?;
        self.pos += 1;
        Ok(b)
    }

    pub fn varint(&mut self) -> Result<u64, String> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err("varint does not fit in 64 bits".into());
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    pub fn varint_u32(&mut self) -> Result<u32, String> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| format!("value {v} does not fit in 32 bits"))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| "length too large".to_string())?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or("record runs past the end of its chunk")?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let values = [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX];
        let mut buf = Vec::new();
        for v in values {
            put_varint(&mut buf, v);
        }
        let mut cur = Cursor::new(&buf);
        for v in values {
            assert_eq!(cur.varint(), Ok(v));
        }
        assert!(cur.is_empty());
    }

    #[test]
    fn overlong_varints_are_rejected() {
        let too_big = [0xff; 9].iter().copied().chain([0x02]).collect::<Vec<_>>();
        assert!(Cursor::new(&too_big).varint().is_err());
        assert!(Cursor::new(&[0x80; 11]).varint().is_err());
        assert!(Cursor::new(&[0x80]).varint().is_err());
    }

    #[test]
    fn flags_pack_each_state() {
        assert_eq!(encode_flags(false, None, false), 0);
        assert_eq!(encode_flags(true, Some(true), false), 0b011);
        assert_eq!(encode_flags(false, Some(false), true), 0b1100);
    }
}
