//! Where a spread topic's partitions live in Redis Cluster's hash-slot space, and the short hash
//! tags that put a key into a chosen slot.
//!
//! Redis Cluster stores a key in slot `CRC16(tag) mod 16384`, the tag being the part of the key
//! between its first `{` and the next `}`. A tag made of the topic name and the partition, as
//! topics placed by name use, lands consecutive partitions wherever CRC16 throws them: twelve
//! partitions fell 7 / 3 / 2 on three masters. A spread topic instead picks each partition's
//! slot ([`partition_slot`]) and then a tag that hashes to exactly that slot ([`slot_tag`]).
//!
//! # The rule
//!
//! The partitions created together (a *generation*: all `P` partitions at creation, then those
//! added by each growth) are `d = 16384 / G` slots apart, `G` being the generation's size:
//! partition `i` of the generation sits at `start + i * d` (mod 16384). `start` comes from a
//! hash of the topic name and the generation, so that different topics use different slots,
//! moved if need be so that it lies in the middle half of a `d`-wide cell: its distance to any
//! multiple of `d` is at least `d / 4`.
//!
//! That margin is what makes the spread even on real clusters: when the masters own equal
//! contiguous ranges (as `redis-cli --cluster create` and `rebalance` leave them) and `M`
//! divides `P`, every range boundary lies within one slot of a multiple of `d` (it is a multiple
//! of `16384 / M = (P / M) * d`), so no partition sits near a boundary and each master holds
//! exactly `P / M`; when `M` does not divide `P`, a range of `16384 / M` slots holds
//! `floor(P / M)` or `ceil(P / M)` points `d` apart. With at most 1024 partitions the margin is
//! at least 4 slots. The arithmetic is in integers (units of `1 / G` slot), so every instance
//! and every version computes the same slots.

use std::sync::OnceLock;

/// Redis Cluster's number of hash slots.
pub(super) const SLOTS: u64 = 16_384;

/// The slot of partition `partition` of a spread topic with these generations (the partition
/// counts after creation and after each growth; not empty).
///
/// A partition beyond the last generation (which the broker never creates: it records each
/// growth) falls in further generations of the last generation's size, so it still has a
/// well-defined place.
pub(super) fn partition_slot(topic: &str, generations: &[u32], partition: u32) -> u16 {
    let (generation, start, size) = generation_of(generations, partition);
    let size = u64::from(size.max(1));
    let index = u64::from(partition - start);
    // Positions in units of 1/size slot: a cell (the gap between partitions) is SLOTS units.
    let base = topic_hash(topic, generation) % (SLOTS * size);
    let within = base % SLOTS;
    let within = match within {
        w if w < SLOTS / 4 => w + SLOTS / 2,
        w if w >= SLOTS * 3 / 4 => w - SLOTS / 2,
        w => w,
    };
    let position = base - base % SLOTS + within + index * SLOTS;
    // `position / size` is below SLOTS * (size + index) / size, so the remainder is a slot.
    u16::try_from((position / size) % SLOTS).unwrap_or(0)
}

/// The generation `partition` belongs to: its number, first partition and size.
fn generation_of(generations: &[u32], partition: u32) -> (u32, u32, u32) {
    let mut start = 0;
    for (number, &end) in generations.iter().enumerate() {
        if partition < end {
            return (u32::try_from(number).unwrap_or(u32::MAX), start, end - start);
        }
        start = end.max(start);
    }
    // Past the recorded generations: further ones, each as large as the last recorded one.
    let last_size = match generations {
        [.., before, last] => last - before,
        [only] => *only,
        [] => 1,
    }
    .max(1);
    let beyond = (partition - start) / last_size;
    let number = u32::try_from(generations.len()).unwrap_or(u32::MAX).saturating_add(beyond);
    (number, start + beyond * last_size, last_size)
}

/// FNV-1a (64 bit) of the topic name and the generation number: fixed here, not a library's,
/// because stored data depends on it never changing.
fn topic_hash(topic: &str, generation: u32) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for byte in topic.bytes().chain([0]).chain(generation.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// A short tag (1 to 4 characters of `[0-9a-z]`) that Redis Cluster hashes to `slot`: the first
/// such string in counting order, so the table is the same everywhere.
pub(super) fn slot_tag(slot: u16) -> &'static str {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        // About 170,000 candidates fill every slot; a few milliseconds, once per process.
        let mut table = vec![String::new(); SLOTS as usize];
        let mut missing = table.len();
        let mut n: u64 = 0;
        while missing > 0 {
            let tag = base36(n);
            let entry = &mut table[usize::from(fred::util::redis_keyslot(tag.as_bytes()))];
            if entry.is_empty() {
                *entry = tag;
                missing -= 1;
            }
            n += 1;
        }
        table
    });
    &table[usize::from(slot) % table.len()]
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slot ranges `redis-cli --cluster create` gives `masters` masters.
    fn ranges(masters: u64) -> Vec<(u64, u64)> {
        let per = SLOTS as f64 / masters as f64;
        let mut first = 0;
        let mut cursor = 0.0;
        (0..masters)
            .map(|i| {
                let mut last = (cursor + per - 1.0).round() as u64;
                if last > SLOTS - 1 || i == masters - 1 {
                    last = SLOTS - 1;
                }
                let range = (first, last);
                first = last + 1;
                cursor += per;
                range
            })
            .collect()
    }

    fn per_master(topic: &str, generations: &[u32], masters: u64) -> Vec<u32> {
        let ranges = ranges(masters);
        let mut counts = vec![0; ranges.len()];
        let total = *generations.last().unwrap();
        for p in 0..total {
            let slot = u64::from(partition_slot(topic, generations, p));
            let at = ranges.iter().position(|(a, b)| (*a..=*b).contains(&slot)).unwrap();
            counts[at] += 1;
        }
        counts
    }

    #[test]
    fn twelve_partitions_are_four_per_master_of_three_and_two_per_master_of_six() {
        for topic in ["orders", "user-events", "payments", "a", "mq-bench.x"] {
            assert_eq!(per_master(topic, &[12], 3), [4, 4, 4], "{topic}");
            assert_eq!(per_master(topic, &[12], 6), [2; 6], "{topic}");
        }
    }

    /// The promise of the module docs, for many topics, partition counts and cluster sizes.
    #[test]
    fn every_master_holds_floor_or_ceil_of_p_over_m() {
        for t in 0..60 {
            let topic = format!("topic-{t}");
            for partitions in 1..=64u32 {
                for masters in 1..=16u64.min(u64::from(partitions)) {
                    let counts = per_master(&topic, &[partitions], masters);
                    let (lo, hi) =
                        (partitions / masters as u32, partitions.div_ceil(masters as u32));
                    assert!(
                        counts.iter().all(|c| (lo..=hi).contains(c)),
                        "{topic}, {partitions} partitions on {masters} masters: {counts:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn slots_are_distinct_stable_and_grow_without_moving() {
        let slots: Vec<u16> = (0..12).map(|p| partition_slot("orders", &[12], p)).collect();
        let mut unique = slots.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 12, "{slots:?}");
        // Growing adds a generation and leaves the first one where it was.
        for p in 0..12 {
            assert_eq!(partition_slot("orders", &[12, 16], p), slots[p as usize]);
        }
        let grown: Vec<u16> = (12..16).map(|p| partition_slot("orders", &[12, 16], p)).collect();
        assert!(grown.iter().all(|s| !slots.contains(s)), "{grown:?}");
        // Fixed values: stored data depends on them never changing.
        assert_eq!(slots[..4], [1843, 3208, 4573, 5939]);
        // Another topic, other slots.
        assert_ne!(partition_slot("payments", &[12], 0), slots[0]);
    }

    #[test]
    fn partitions_past_the_generations_still_have_a_place() {
        assert_eq!(generation_of(&[4], 3), (0, 0, 4));
        assert_eq!(generation_of(&[4, 6], 5), (1, 4, 2));
        assert_eq!(generation_of(&[4, 6], 6), (2, 6, 2));
        assert_eq!(generation_of(&[4, 6], 9), (3, 8, 2));
        assert_eq!(generation_of(&[4], 9), (2, 8, 4));
    }

    #[test]
    fn every_slot_has_a_short_tag_that_hashes_to_it() {
        for slot in 0..SLOTS as u16 {
            let tag = slot_tag(slot);
            assert!((1..=4).contains(&tag.len()), "{tag}");
            let key = format!("mq:{{{tag}}}:orders:3:s");
            assert_eq!(fred::util::redis_keyslot(key.as_bytes()), slot, "{key}");
        }
        assert_eq!(slot_tag(0), slot_tag(0));
    }
}
