//! Choosing a partition: a keyed message goes to `murmur2(key) % partitions`, the same hash and
//! formula as Kafka's default partitioner, so the same key lands on the same partition across
//! restarts, versions and even a migration from or to Kafka with the same partition count.

/// Kafka's murmur2 (32-bit, seed `0x9747b28c`), as in `org.apache.kafka.common.utils.Utils`.
fn murmur2(data: &[u8]) -> i32 {
    const M: i32 = 0x5bd1_e995;
    const R: u32 = 24;
    // The design fixes the length as a Java int; keys are far below 2 GiB.
    let length = i32::try_from(data.len()).unwrap_or(i32::MAX);
    let mut h: i32 = 0x9747_b28c_u32 as i32 ^ length;

    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= ((k as u32) >> R) as i32;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= i32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= i32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= i32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(M);
    h ^= ((h as u32) >> 15) as i32;
    h
}

/// The partition of a keyed message: `(murmur2(key) & 0x7fffffff) % partitions`.
///
/// Stable by contract: changing it would send existing keys to other partitions and break
/// per-key order for every user, so it is pinned by tests against Kafka's own test vectors.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    positive % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka_test_vectors() {
        // From Kafka's UtilsTest.testMurmur2.
        for (key, expected) in [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ] {
            assert_eq!(murmur2(key.as_bytes()), expected, "murmur2({key:?})");
        }
    }

    #[test]
    fn same_key_same_partition_and_spread() {
        let p = partition_for_key(b"user_123456", 6);
        for _ in 0..10 {
            assert_eq!(partition_for_key(b"user_123456", 6), p);
        }
        let mut used = [false; 6];
        for i in 0..200 {
            used[partition_for_key(format!("key-{i}").as_bytes(), 6) as usize] = true;
        }
        assert!(used.iter().all(|u| *u), "200 keys reach all 6 partitions");
        assert_eq!(partition_for_key(b"anything", 1), 0);
        assert_eq!(partition_for_key(b"", 0), 0, "zero partitions never divides by zero");
    }
}
