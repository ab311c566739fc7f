//! Redis key names of a partition (log, its groups' retry state, schedule and half messages) and
//! of counter series, and the mapping between offsets and stream entry IDs.
//!
//! Offset `N` is stored as entry ID `N-1`: the millisecond part carries the offset and the
//! sequence part is always 1, because `0-0` is not a valid entry ID and offsets start at 0.
//! Range starts use sequence 0 (`N-0`), which sorts just before the entry of offset `N`.

use super::slots;
use crate::TopicRef;

/// The keys of one topic partition: its log (stream and meta hash), its schedule of delayed
/// messages (sorted set and payload hash), its transactions' half messages (hash) and, per
/// consumer group, the group's records waiting for a retry and their failure histories
/// ([`waiting`](Self::waiting), [`history`](Self::history)).
///
/// All share one hash tag, so a partition's keys share a Redis Cluster slot (as Lua scripts
/// touching several of them need: firing, committing and retrying) while different partitions
/// spread over the cluster. The keys start with `{prefix}:` and then:
///
/// - for a spread topic, `{<slot tag>}:<topic>:<partition>`, the tag being the short string
///   that puts the key into the slot the topic's placement gives the partition (see
///   `slots.rs`), e.g. `mq:{1ax}:orders:3:s`;
/// - for a topic placed by name (created before placements existed),
///   `{<topic>:<partition>}`, e.g. `mq:{orders:3}:s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionKeys {
    /// The stream holding the records: `<base>:s`.
    pub(super) stream: String,
    /// The hash holding `next` (the next offset) and `ts` (the last append time in ms):
    /// `<base>:m`.
    pub(super) meta: String,
    /// The sorted set of scheduled message ids scored by due time in ms: `<base>:dz`.
    pub(super) due: String,
    /// The hash from scheduled message id to its encoded envelope, the bytes the stream
    /// entry's `e` field will hold: `<base>:dp`.
    pub(super) payloads: String,
    /// The hash from a held half message's id to its encoded envelope, the bytes the stream
    /// entry's `e` field will hold once committed: `<base>:tx`.
    pub(super) half: String,
    /// The common start of the partition's keys (with its hash tag), which the per-group keys
    /// extend.
    base: String,
}

impl PartitionKeys {
    /// The keys of `topic`'s partition `partition` under `prefix`.
    pub(crate) fn new(prefix: &str, topic: TopicRef<'_>, partition: u32) -> Self {
        // Topic names are limited to [A-Za-z0-9._-] by the model, so they cannot contain the
        // braces that would change which part of the key Redis Cluster hashes.
        let name = topic.name();
        let base = if topic.generations().is_empty() {
            format!("{prefix}:{{{name}:{partition}}}")
        } else {
            let slot = slots::partition_slot(name, topic.generations(), partition);
            format!("{prefix}:{{{}}}:{name}:{partition}", slots::slot_tag(slot))
        };
        Self {
            stream: format!("{base}:s"),
            meta: format!("{base}:m"),
            due: format!("{base}:dz"),
            payloads: format!("{base}:dp"),
            half: format!("{base}:tx"),
            base,
        }
    }

    /// The common start of the partition's keys.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The Redis Cluster slot of every key of the partition.
    #[cfg(test)]
    pub(super) fn slot(&self) -> u16 {
        fred::util::redis_keyslot(self.stream.as_bytes())
    }

    /// The sorted set of a group's records waiting for a retry after a failed delivery, entry
    /// ID scored by retry time in ms: `<base>:w:<group>`.
    pub(super) fn waiting(&self, group: &str) -> String {
        // The hash tag is the first `{...}` of the key, so braces in a group name cannot move
        // the key to another slot.
        format!("{}:w:{group}", self.base)
    }

    /// The hash of a group's failure histories, entry ID to one JSON line per failed delivery
    /// (see `fail.lua`): `<base>:h:<group>`.
    pub(super) fn history(&self, group: &str) -> String {
        format!("{}:h:{group}", self.base)
    }

    /// The key remembering idempotency key `key` of the partition for its window:
    /// `<base>:i:<key>`, a string saying what the key's first record became.
    pub(super) fn dedup(&self, key: &str) -> String {
        // The tag is the first `{...}`, so braces in the key cannot move it to another slot.
        format!("{}:i:{key}", self.base)
    }

    /// The stream and a group's two keys, as the group scripts take them: stream, waiting set,
    /// history hash.
    pub(super) fn group(&self, group: &str) -> Vec<String> {
        vec![self.stream.clone(), self.waiting(group), self.history(group)]
    }

    /// The log's two keys, stream first, as Lua scripts take them.
    pub(super) fn both(&self) -> Vec<String> {
        vec![self.stream.clone(), self.meta.clone()]
    }

    /// The schedule's two keys, sorted set first, as Lua scripts take them.
    pub(super) fn schedule(&self) -> Vec<String> {
        vec![self.due.clone(), self.payloads.clone()]
    }

    /// The schedule's and the log's keys, schedule first, as the fire script takes them.
    pub(super) fn fire(&self) -> Vec<String> {
        vec![self.due.clone(), self.payloads.clone(), self.stream.clone(), self.meta.clone()]
    }

    /// The log's keys and the half-message hash, stream first, as the commit script takes them.
    pub(super) fn commit(&self) -> Vec<String> {
        vec![self.stream.clone(), self.meta.clone(), self.half.clone()]
    }

    /// Every key of the partition but the per-group ones, which only their group's name finds:
    /// what deleting the partition unlinks.
    pub(super) fn all(&self) -> Vec<String> {
        let mut all = self.fire();
        all.push(self.half.clone());
        all
    }
}

/// The hash of one counter series, bucket start in seconds (decimal) to count:
/// `{prefix}:stats:{<series>}`. The whole series is the hash tag, so each series lives in one
/// cluster slot and different series spread over the cluster.
pub(super) fn stats(prefix: &str, series: &str) -> String {
    // The series ends the key, so different series never share a key even when a name holds
    // braces (which only move the hash tag, never merge two series).
    format!("{prefix}:stats:{{{series}}}")
}

/// The entry ID of the record at `offset`.
pub(super) fn entry_id(offset: u64) -> String {
    format!("{offset}-1")
}

/// An ID sorting just before the record at `offset`: a range start, or a group position from
/// which the next delivery is `offset`.
pub(super) fn before_id(offset: u64) -> String {
    format!("{offset}-0")
}

/// The offset of the record with entry ID `id`, if `id` is a stream ID.
pub(super) fn offset_of(id: &str) -> Option<u64> {
    split_id(id).map(|(ms, _)| ms)
}

/// The first offset a consumer group delivers after last delivering `id`: IDs `N-0` (set by
/// group creation) come just before offset `N`, entry IDs `N-1` just after it.
pub(super) fn next_after(id: &str) -> Option<u64> {
    let (ms, seq) = split_id(id)?;
    Some(if seq == 0 { ms } else { ms.saturating_add(1) })
}

fn split_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BY_NAME: TopicRef<'static> = TopicRef::named("orders");
    const SPREAD: TopicRef<'static> = TopicRef::spread("orders", &[12]);

    #[test]
    fn spread_keys_carry_the_tag_of_the_partition_slot() {
        for partition in 0..12 {
            let keys = PartitionKeys::new("mq", SPREAD, partition);
            let slot = slots::partition_slot("orders", &[12], partition);
            assert_eq!(keys.slot(), slot);
            let base = format!("mq:{{{}}}:orders:{partition}", slots::slot_tag(slot));
            assert_eq!(keys.stream, format!("{base}:s"));
            for key in keys.all().into_iter().chain(keys.group("a{b}:c")) {
                assert!(key.starts_with(&base), "{key}");
                assert_eq!(fred::util::redis_keyslot(key.as_bytes()), slot, "{key}");
            }
        }
        assert_ne!(PartitionKeys::new("mq", SPREAD, 0), PartitionKeys::new("mq", BY_NAME, 0));
    }

    #[test]
    fn keys_share_a_hash_tag_per_partition() {
        let keys = PartitionKeys::new("mq", BY_NAME, 3);
        assert_eq!(keys.stream, "mq:{orders:3}:s");
        assert_eq!(keys.meta, "mq:{orders:3}:m");
        assert_eq!(keys.due, "mq:{orders:3}:dz");
        assert_eq!(keys.payloads, "mq:{orders:3}:dp");
        assert_eq!(keys.half, "mq:{orders:3}:tx");
        assert_eq!(
            keys.fire(),
            ["mq:{orders:3}:dz", "mq:{orders:3}:dp", "mq:{orders:3}:s", "mq:{orders:3}:m"]
        );
        assert_eq!(keys.commit(), ["mq:{orders:3}:s", "mq:{orders:3}:m", "mq:{orders:3}:tx"]);
        assert_eq!(
            keys.all(),
            [
                "mq:{orders:3}:dz",
                "mq:{orders:3}:dp",
                "mq:{orders:3}:s",
                "mq:{orders:3}:m",
                "mq:{orders:3}:tx"
            ]
        );
        for key in keys.all() {
            assert!(key.starts_with("mq:{orders:3}:"), "{key} shares the partition's slot");
        }
        assert_ne!(PartitionKeys::new("mq", BY_NAME, 4).half, keys.half, "per partition");
    }

    #[test]
    fn stats_keys_tag_the_whole_series() {
        assert_eq!(stats("mq", "published:orders:3"), "mq:stats:{published:orders:3}");
        assert_ne!(stats("mq", "a"), stats("mq", "a:b"));
    }

    #[test]
    fn group_keys_share_the_partition_tag() {
        let keys = PartitionKeys::new("mq", BY_NAME, 3);
        for (group, waiting, history) in [
            ("billing", "mq:{orders:3}:w:billing", "mq:{orders:3}:h:billing"),
            ("a{b}:c", "mq:{orders:3}:w:a{b}:c", "mq:{orders:3}:h:a{b}:c"),
        ] {
            assert_eq!(keys.waiting(group), waiting);
            assert_eq!(keys.history(group), history);
            assert_eq!(keys.group(group), ["mq:{orders:3}:s", waiting, history]);
        }
        let other = PartitionKeys::new("mq", BY_NAME, 4);
        assert_ne!(other.waiting("billing"), keys.waiting("billing"), "per partition");
    }

    #[test]
    fn ids_round_trip_offsets() {
        for (id, offset, next) in [
            ("0-1", Some(0), Some(1)),
            ("41-1", Some(41), Some(42)),
            ("5-0", Some(5), Some(5)),
            ("0-0", Some(0), Some(0)),
            ("x-1", None, None),
            ("7", None, None),
        ] {
            assert_eq!(offset_of(id), offset, "{id}");
            assert_eq!(next_after(id), next, "{id}");
        }
        assert_eq!(entry_id(9), "9-1");
        assert_eq!(before_id(9), "9-0");
        assert_eq!(offset_of(&entry_id(123)), Some(123));
    }
}
