//! The message log: partitioned, append-only streams with per-partition offsets and consumer
//! groups, the part of the design that Redis Streams carry.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use mq_model::MessageType;

use crate::{Backend, RepoResult, TopicRef};

/// A message to append; the log assigns its offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// The message's unique id.
    pub message_id: String,
    /// Routing key, if any.
    pub key: Option<String>,
    /// Payload bytes.
    pub value: Vec<u8>,
    /// Application headers.
    pub headers: BTreeMap<String, String>,
    /// Producer id, if known.
    pub producer_id: Option<String>,
    /// Normal, delayed or transactional.
    pub message_type: MessageType,
    /// Makes storing it idempotent: a record whose key was stored in the same partition within
    /// the window is not stored again, and the store answers what the first one got.
    pub dedup: Option<Dedup>,
}

/// An idempotency key and how long the partition remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dedup {
    /// The key, 1 to 128 bytes.
    pub key: String,
    /// How long after the first store a repeat is still recognised, in milliseconds (more than
    /// 0).
    pub window_ms: u64,
}

/// What the first record with an idempotency key became, answered again for its repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Original {
    /// Appended to the log.
    Appended {
        /// Its message id.
        message_id: String,
        /// Its offset.
        offset: u64,
        /// Its append time in ms.
        timestamp_ms: i64,
    },
    /// Put in the partition's schedule of delayed messages.
    Scheduled {
        /// Its message id.
        message_id: String,
        /// When it was due, in ms.
        due_ms: i64,
    },
    /// Held as the half message of a transaction.
    Held {
        /// Its message id.
        message_id: String,
    },
}

/// Where an appended record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Its offset in the partition (the first store's, for a repeat of an appended record).
    pub offset: u64,
    /// Its append time in milliseconds since the epoch; never decreases within a partition.
    pub timestamp_ms: i64,
    /// For a repeat of an idempotency key: what the first record with it became; nothing was
    /// stored. For an original appended to the log, `offset` and `timestamp_ms` are its own.
    pub duplicate_of: Option<Original>,
}

impl Appended {
    /// A record stored now at `offset`.
    pub fn stored(offset: u64, timestamp_ms: i64) -> Appended {
        Appended { offset, timestamp_ms, duplicate_of: None }
    }

    /// A repeat of `original`: nothing stored.
    pub fn repeat_of(original: Original) -> Appended {
        let (offset, timestamp_ms) = match &original {
            Original::Appended { offset, timestamp_ms, .. } => (*offset, *timestamp_ms),
            Original::Scheduled { .. } | Original::Held { .. } => (0, 0),
        };
        Appended { offset, timestamp_ms, duplicate_of: Some(original) }
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Offset in the partition, from 0.
    pub offset: u64,
    /// Append time in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The message's unique id.
    pub message_id: String,
    /// Routing key, if any.
    pub key: Option<String>,
    /// Payload bytes.
    pub value: Vec<u8>,
    /// Application headers.
    pub headers: BTreeMap<String, String>,
    /// Producer id, if known.
    pub producer_id: Option<String>,
    /// Normal, delayed or transactional.
    pub message_type: MessageType,
}

/// A record handed to a consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The record.
    pub record: Record,
    /// How many times the group has delivered it, this delivery included (1 on first delivery).
    pub delivery_count: u32,
}

/// Where a new consumer group starts in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// At the oldest record still stored.
    Earliest,
    /// After the last record appended so far.
    Latest,
    /// At this offset (records before it are skipped).
    Offset(u64),
}

/// A delivered record not yet acknowledged by its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The record's offset.
    pub offset: u64,
    /// The consumer that holds it.
    pub consumer: String,
    /// How many times it has been delivered.
    pub delivery_count: u32,
    /// Milliseconds since it was last delivered (or, in Redis, since a scan last looked at it
    /// while it waited for a retry; see [`MessageLog::redeliver`]).
    pub idle_ms: u64,
    /// While it waits to be delivered again after a failed delivery: when it may be, in ms
    /// since the epoch. `None` while it is in flight.
    pub retry_at_ms: Option<i64>,
}

/// A failed delivery to report with [`MessageLog::fail`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The record's offset.
    pub offset: u64,
    /// The delivery count the failed delivery had; the failure applies only while the record
    /// is pending with exactly this count.
    pub delivery_count: u32,
    /// When it failed, in ms since the epoch.
    pub failed_at_ms: i64,
    /// When it may be delivered again, in ms since the epoch.
    pub retry_at_ms: i64,
    /// Why it failed.
    pub reason: String,
}

/// One failed delivery in a pending record's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The delivery count of the delivery that failed (1 for the first delivery).
    pub delivery_count: u32,
    /// When it failed, in ms since the epoch.
    pub failed_at_ms: i64,
    /// The consumer that held the record then.
    pub consumer: String,
    /// Why it failed.
    pub reason: String,
}

/// What [`MessageLog::redeliver`] did and found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Redelivery {
    /// Records whose retry time had come, now delivered again, in offset order.
    pub deliveries: Vec<Delivery>,
    /// In-flight records whose ack timeout ran out, in offset order, untouched: the caller
    /// decides whether each is retried (see [`MessageLog::fail`]) or dead-lettered.
    pub expired: Vec<PendingEntry>,
}

/// The extent of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionStats {
    /// Offset of the oldest stored record (equal to `end_offset` when empty).
    pub first_offset: u64,
    /// The offset the next appended record will get.
    pub end_offset: u64,
    /// Records currently stored.
    pub length: u64,
    /// The last time the partition would have handed out offsets again (writes lost by a
    /// failover or a restart), and skipped them instead; `None` if that never happened.
    pub last_rollback: Option<OffsetRollback>,
}

/// Offsets a partition skipped because it had lost the writes that took them (see
/// [`MessageLog::append`]): `from..to` were handed out before and are never handed out again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRollback {
    /// When it was found, in ms since the epoch.
    pub at_ms: i64,
    /// The offset the partition would have handed out next.
    pub from: u64,
    /// The offset it handed out instead: one past the highest known to have been handed out.
    pub to: u64,
}

/// How far a group is behind in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLag {
    /// The offset the next appended record will get.
    pub end_offset: u64,
    /// The offset the group will read next (one past the last delivered).
    pub next_offset: u64,
    /// Stored records the group has not been delivered yet:
    /// `end_offset - max(next_offset, first_offset)`.
    pub lag: u64,
    /// Delivered records not yet acknowledged.
    pub pending: u64,
}

/// Partitioned append-only logs with consumer groups.
///
/// A partition is addressed by topic name and partition number; it exists once something is
/// appended to it or a group is created on it. Offsets start at 0 and increase by exactly one
/// per record, atomically, whatever the number of concurrent writers.
#[async_trait]
pub trait MessageLog: Send + Sync + Debug {
    /// Which store this is.
    fn backend(&self) -> Backend;

    /// Appends records to a partition in one atomic step, in order; returns where each landed.
    /// A record with an idempotency key ([`NewRecord::dedup`]) that the partition stored (or
    /// scheduled, or held) within the window is not stored again: its answer says what the
    /// first one became ([`Appended::duplicate_of`]), and later records of the batch take the
    /// offsets it did not. A key repeated within one batch is stored once, at its first place.
    ///
    /// A partition never hands out an offset again that this store handed out before, even
    /// when the data behind it lost the writes (a Redis failover to a replica that lagged, a
    /// restart that lost the last writes): it skips to past the highest it knows of and
    /// records the skip in [`PartitionStats::last_rollback`].
    async fn append(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        records: Vec<NewRecord>,
    ) -> RepoResult<Vec<Appended>>;

    /// Up to `limit` stored records with offsets from `from_offset`, in offset order. Touches no
    /// group.
    async fn read_range(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        from_offset: u64,
        limit: usize,
    ) -> RepoResult<Vec<Record>>;

    /// First and end offsets and length of a partition (all zero if it never existed).
    async fn partition_stats(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
    ) -> RepoResult<PartitionStats>;

    /// Creates a consumer group on a partition. `AlreadyExists` if it exists.
    async fn create_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        start: StartPosition,
    ) -> RepoResult<()>;

    /// Deletes a consumer group with its pending list, waiting states and failure histories;
    /// false if it did not exist.
    async fn delete_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
    ) -> RepoResult<bool>;

    /// Delivers up to `max` records the group has never delivered to `consumer`, in offset
    /// order, and adds them to the group's pending list. `NotFound` if the group does not exist.
    async fn read_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        consumer: &str,
        max: usize,
    ) -> RepoResult<Vec<Delivery>>;

    /// Acknowledges records by offset, dropping their waiting state and failure history;
    /// returns how many were pending (others, and every offset of a group that does not exist,
    /// are ignored).
    async fn ack(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        offsets: &[u64],
    ) -> RepoResult<u64>;

    /// Acknowledges deliveries given as `(offset, delivery count)`: a record is acknowledged
    /// only while it is pending with exactly that count (waiting for a retry or not; its
    /// waiting state and failure history go with it), so the receipt of an earlier delivery
    /// of a record now delivered again settles nothing. Returns how many were acknowledged; a
    /// repeated offset counts once, and every delivery of a group that does not exist is
    /// ignored.
    async fn ack_deliveries(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        deliveries: &[(u64, u32)],
    ) -> RepoResult<u64>;

    /// Up to `limit` pending records of a group (in flight or waiting for a retry), in offset
    /// order.
    async fn pending(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        limit: usize,
    ) -> RepoResult<Vec<PendingEntry>>;

    /// Moves the given pending records to `consumer` now, whatever their idle time, raising
    /// their delivery counts, and returns them in offset order. Offsets that are not pending,
    /// or that wait for a retry (those are [`redeliver`](Self::redeliver)'s), are skipped; records trimmed away meanwhile are dropped from the pending list instead.
    /// `NotFound` if the group does not exist.
    async fn claim(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        consumer: &str,
        offsets: &[u64],
    ) -> RepoResult<Vec<Delivery>>;

    /// Records failed deliveries: each given `(offset, delivery count)` that is pending with
    /// exactly that count and in flight (not already waiting for a retry) waits until its
    /// `retry_at_ms`, keeping its holder and delivery count, and gets an [`Attempt`] (with its
    /// holder as the consumer) appended to its history. Returns how many were recorded; a
    /// repeated offset counts once (its first failure is used), and every failure of a group
    /// that does not exist is ignored.
    async fn fail(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        failures: &[Failure],
    ) -> RepoResult<u64>;

    /// Gives deliveries back unprocessed: each given `(offset, delivery count)` that is pending
    /// with exactly that count and in flight waits until `retry_at_ms` like a failed one, but
    /// gets no attempt in its history, and its delivery count goes back by one, so that its
    /// next delivery has the count this one had. Returns how many were deferred; a repeated
    /// offset counts once, and every delivery of a group that does not exist is ignored.
    async fn defer(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        deliveries: &[(u64, u32)],
        retry_at_ms: i64,
    ) -> RepoResult<u64>;

    /// Restarts the ack timeout of in-flight deliveries: each given `(offset, delivery count)`
    /// that is pending with exactly that count and not waiting for a retry gets its idle time
    /// set to `idle` (as if delivered `idle` ago), keeping its holder and count. Returns how
    /// many; a repeated offset counts once, and a group that does not exist touches nothing.
    async fn touch(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        deliveries: &[(u64, u32)],
        idle: Duration,
    ) -> RepoResult<u64>;

    /// Delivers again, to `consumer`, up to `max` waiting records whose retry time is at or
    /// before `now_ms`, lowest offsets first, raising their delivery counts (records trimmed
    /// away meanwhile are dropped from the pending list, their waiting state and history
    /// instead); and lists up to `max` in-flight records delivered at least `ack_timeout` ago,
    /// without changing them. `NotFound` if the group does not exist.
    ///
    /// In Redis the scan for expired records passes over waiting ones; each waiting record it
    /// passes has its idle time reset (which is why [`PendingEntry::idle_ms`] of a waiting
    /// record may be less than the time since its last delivery), so waiting records cannot
    /// hide expired ones from later scans.
    #[allow(clippy::too_many_arguments)]
    async fn redeliver(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        consumer: &str,
        now_ms: i64,
        ack_timeout: Duration,
        max: usize,
    ) -> RepoResult<Redelivery>;

    /// The failure history of a pending record, oldest first; empty if it has none or is not
    /// pending.
    async fn attempts(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        offset: u64,
    ) -> RepoResult<Vec<Attempt>>;

    /// How far a group is behind. `NotFound` if the group does not exist.
    async fn group_lag(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
    ) -> RepoResult<GroupLag>;

    /// Removes records appended before `min_timestamp_ms`; returns how many went.
    async fn trim_before(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        min_timestamp_ms: i64,
    ) -> RepoResult<u64>;

    /// Removes the oldest records so that about `max_len` remain; returns how many went.
    /// Approximate: Redis trims whole stream nodes, so up to one node (100 records by default)
    /// more than `max_len` may stay; never fewer.
    async fn trim_to_len(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        max_len: u64,
    ) -> RepoResult<u64>;

    /// Deletes partitions `0..partitions` of a topic with their groups and offset counters.
    /// Groups' waiting states and failure histories are not covered in Redis (their keys are
    /// per group): delete each group first.
    async fn delete_topic(&self, topic: TopicRef<'_>, partitions: u32) -> RepoResult<()>;
}
