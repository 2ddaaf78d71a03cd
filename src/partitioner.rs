//! Choosing a partition for a key: Kafka's default partitioner, bit for bit.
//!
//! `partition = (murmur2(key) & 0x7fffffff) % partitions`, with Kafka's murmur2 (seed
//! `0x9747b28c`). It is defined on bytes with wrapping 32-bit arithmetic, so it gives the same
//! answer on every platform and in every release, and the same answer Kafka's Java producer
//! gives: a keyed stream keeps its partition when it moves to Kafka.

/// Kafka's `Utils.murmur2` (`MurmurHash2`, 32-bit), returned as Java's signed `int`.
#[must_use]
#[expect(
    clippy::cast_possible_truncation,
    reason = "the length is mixed in as Java's 32-bit int, as Kafka does"
)]
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        if rest.len() >= 3 {
            h ^= u32::from(rest[2]) << 16;
        }
        if rest.len() >= 2 {
            h ^= u32::from(rest[1]) << 8;
        }
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h.cast_signed()
}

/// The partition Kafka's default partitioner picks for `key` among `partitions` (> 0).
#[must_use]
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key).cast_unsigned() & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn matches_kafka() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), want, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partition_is_in_range_and_stable() {
        for p in 1..20 {
            let a = partition_for_key(b"user-42", p);
            assert!(a < p);
            assert_eq!(a, partition_for_key(b"user-42", p));
        }
    }
}
