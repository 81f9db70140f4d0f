//! A fast hasher for the crate's internal maps ([`FastMap`], [`FastSet`]): the multiply-and-rotate
//! hash of the Rust compiler's `FxHasher`, a few instructions per word. The standard library's
//! SipHash resists keys chosen to collide (hash flooding), which costs a round of mixing per
//! eight bytes; these maps are keyed by row numbers and by the users of the admin's own job or
//! tenant, which no outsider chooses, and they are hashed several times per Graph request (the
//! executor's batching, the per-user driver, the journal's rows).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A [`HashMap`] with the [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A [`HashSet`] with the [`FastHasher`].
pub type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

/// The multiplier of `FxHasher` (a 64-bit constant with well-spread bits).
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// `FxHasher`: each word is xor-ed into the state, which is rotated and multiplied.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        // The rest in pieces of 4, 2 and 1 bytes, each a word of its own (as `FxHasher`), so
        // `"ab"` and `"ab\0"` differ.
        let mut rest = chunks.remainder();
        if rest.len() >= 4 {
            let (piece, tail) = rest.split_at(4);
            self.add(u64::from(u32::from_le_bytes([
                piece[0], piece[1], piece[2], piece[3],
            ])));
            rest = tail;
        }
        if rest.len() >= 2 {
            let (piece, tail) = rest.split_at(2);
            self.add(u64::from(u16::from_le_bytes([piece[0], piece[1]])));
            rest = tail;
        }
        if let Some(&byte) = rest.first() {
            self.add(u64::from(byte));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash + ?Sized>(value: &T) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(value)
    }

    #[test]
    fn equal_keys_hash_alike_and_near_keys_apart() {
        assert_eq!(hash("user00001@contoso.com"), hash("user00001@contoso.com"));
        assert_ne!(hash("user00001@contoso.com"), hash("user00002@contoso.com"));
        assert_ne!(hash("ab"), hash("ab\0"));
        assert_ne!(hash(&1u64), hash(&2u64));
    }

    #[test]
    fn maps_and_sets_work_as_with_the_default_hasher() {
        let mut map: FastMap<u64, &str> = FastMap::default();
        for n in 0..10_000u64 {
            map.insert(n, "x");
        }
        assert_eq!(map.len(), 10_000);
        assert!((0..10_000).all(|n| map.contains_key(&n)));
        let mut set: FastSet<&str> = FastSet::default();
        assert!(set.insert("a") && set.insert("b") && !set.insert("a"));
    }
}
