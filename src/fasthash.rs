//! A small non-cryptographic hasher for the maps on hot paths: the sampler's caches (code
//! objects by address, open `/proc` files by thread), the writer's interning maps (looked up
//! for every frame of every sample) and the report's per-stack tallies. Keys are addresses and
//! small integers, so resistance to crafted collisions is not needed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` using [`WordHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;
/// A `HashSet` using [`WordHasher`].
pub type FastSet<K> = std::collections::HashSet<K, BuildHasherDefault<WordHasher>>;

/// Mixes each written word with a rotate, xor and multiply, then folds the well-mixed high
/// bits down in `finish` (the table indexes buckets by the low bits).
#[derive(Default, Clone, Copy)]
pub struct WordHasher {
    state: u64,
}

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl WordHasher {
    fn mix(&mut self, word: u64) {
        self.state = (self.state.rotate_left(23) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        self.state.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_differing_in_high_bits_spread_over_buckets() {
        let buckets: std::collections::HashSet<u64> = (0..64u32)
            .map(|i| {
                let mut h = WordHasher::default();
                h.write_u32(7);
                h.write_u32(i << 20);
                h.finish() & 0xff
            })
            .collect();
        assert!(
            buckets.len() > 32,
            "only {} distinct buckets",
            buckets.len()
        );
    }
}
