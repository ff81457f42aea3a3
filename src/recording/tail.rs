//! Following a recording while it is written: [`Tail`] reads what the writer appended
//! since its last look and decodes every whole chunk of it, with the checks of
//! [`super::read`], into a [`Recording`] whose samples its owner takes away as it uses
//! them (the tables stay: later samples refer to them). The Pyroscope push
//! ([`crate::sinks`]) reads the recording this way, so it never touches the sampler.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::format;
use super::reader::{check_header, decode_chunk, sequenced, split_chunk};
use super::Recording;
use crate::limits::MAX_CHUNK_LEN;

/// How much of the file one read takes.
const READ_SIZE: usize = 1 << 20;

/// A recording being followed; see the [module documentation](self).
#[derive(Default)]
pub struct Tail {
    rec: Recording,
    /// The file's format version, once its header is read.
    version: Option<u16>,
    have_meta: bool,
    chunk_number: u64,
    /// Bytes read and not yet decoded (the start of a chunk still being written).
    pending: Vec<u8>,
    /// How far into the file has been read.
    offset: u64,
}

impl Tail {
    pub fn new() -> Tail {
        Tail::default()
    }

    /// Reads what was appended to `file` since the last call and decodes each whole chunk.
    /// An error means the file is not a recording that can be followed (damaged, or not
    /// written the way framescope writes): nothing more will be decoded.
    pub fn poll(&mut self, file: &File) -> Result<(), String> {
        let mut buf = vec![0u8; READ_SIZE];
        loop {
            let n = file
                .read_at(&mut buf, self.offset)
                .map_err(|e| format!("cannot read the recording: {e}"))?;
            if n == 0 {
                return Ok(());
            }
            self.offset += n as u64;
            self.pending.extend_from_slice(&buf[..n]);
            self.decode_pending()?;
        }
    }

    /// The recording so far: its tables, and the samples not taken away yet.
    pub fn recording(&mut self) -> &mut Recording {
        &mut self.rec
    }

    /// Decodes the whole chunks at the front of `pending`.
    fn decode_pending(&mut self) -> Result<(), String> {
        let mut start = 0;
        if self.version.is_none() {
            if self.pending.len() < format::HEADER_LEN {
                return Ok(());
            }
            let (version, _) = check_header(&self.pending)?;
            self.version = Some(version);
            self.rec.version = version;
            start = format::HEADER_LEN;
        }
        let version = self.rec.version;
        loop {
            let rest = &self.pending[start..];
            let Some(len_bytes) = rest.first_chunk::<4>() else {
                break;
            };
            let len = u32::from_le_bytes(*len_bytes) as usize;
            if len > MAX_CHUNK_LEN {
                return Err(format!("chunk length {len} is implausible (damaged file)"));
            }
            if rest.len() < format::CHUNK_HEADER_LEN + len {
                break;
            }
            let (payload, after) = split_chunk(rest)?;
            let records = sequenced(version, payload, self.chunk_number)?;
            decode_chunk(&mut self.rec, &mut self.have_meta, records)?;
            self.chunk_number += 1;
            start = self.pending.len() - after.len();
        }
        self.pending.drain(..start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::recording::testutil::{meta, write, Synth, TempPath};

    #[test]
    fn a_file_read_in_pieces_decodes_as_a_whole() {
        let mut synth = Synth::default();
        let ticks: Vec<_> = (0..300u64)
            .map(|i| {
                (
                    i * 10_000_000,
                    vec![synth.thread(1, "MainThread", "main:1;work:2")],
                )
            })
            .collect();
        let whole = TempPath::new("tail-whole");
        write(&whole, &synth, &ticks, None);
        let bytes = std::fs::read(&whole.0).expect("read");
        let expected = crate::recording::read(&whole.0).expect("reads");

        // Appended a few bytes at a time, as a writer might leave it between two looks.
        let growing = TempPath::new("tail-growing");
        let mut out = File::create(&growing.0).expect("create");
        let reader = File::open(&growing.0).expect("open");
        let mut tail = Tail::new();
        let mut taken = Vec::new();
        for piece in bytes.chunks(777) {
            out.write_all(piece).expect("write");
            tail.poll(&reader).expect("a growing recording is followed");
            taken.append(&mut tail.recording().samples);
        }
        assert_eq!(taken, expected.samples);
        assert_eq!(tail.recording().meta, meta());
        assert_eq!(tail.recording().frames, expected.frames);
    }

    #[test]
    fn a_damaged_chunk_is_an_error() {
        let mut synth = Synth::default();
        let ticks = vec![(0, vec![synth.thread(1, "MainThread", "main:1")])];
        let path = TempPath::new("tail-damaged");
        write(&path, &synth, &ticks, None);
        let mut bytes = std::fs::read(&path.0).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path.0, &bytes).expect("write");
        let err = Tail::new()
            .poll(&File::open(&path.0).expect("open"))
            .expect_err("a damaged chunk");
        assert!(err.contains("checksum"), "{err}");
    }
}
