//! The durable schedule of delayed messages: each partition has its own schedule, and a due
//! message moves from it into the partition's log in one atomic step, so that however many
//! broker instances fire the same message, it is appended exactly once.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    Appended, HalfMessageStore, MessageLog, NewRecord, Original, RepoResult, StatsStore, TopicRef,
};

/// A message to deliver later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledRecord {
    /// When it becomes due, in milliseconds since the epoch.
    pub due_ms: i64,
    /// The message; its `message_id` identifies the schedule entry.
    pub record: NewRecord,
}

/// A schedule entry as listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledEntry {
    /// The message id.
    pub message_id: String,
    /// The partition it will be appended to.
    pub partition: u32,
    /// Its routing key, if any.
    pub key: Option<String>,
    /// When it is due, in milliseconds since the epoch.
    pub due_ms: i64,
}

/// A scheduled message that was moved into its partition's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The message id.
    pub message_id: String,
    /// When it was due.
    pub due_ms: i64,
    /// Where it landed.
    pub appended: Appended,
}

/// Where a listing of a schedule continues: after this (due time, message id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleCursor {
    /// Due time of the last entry seen.
    pub due_ms: i64,
    /// Message id of the last entry seen.
    pub message_id: String,
}

/// Per-partition schedules of delayed messages.
#[async_trait]
pub trait ScheduleStore: Send + Sync + Debug {
    /// Adds messages to a partition's schedule, durably. A message id already scheduled there
    /// is replaced. A message whose idempotency key ([`NewRecord::dedup`]) the partition stored
    /// within its window is not scheduled: its place in the answer says what the first record
    /// with the key became (`None` for messages scheduled now).
    async fn schedule(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        records: Vec<ScheduledRecord>,
    ) -> RepoResult<Vec<Option<Original>>>;

    /// Up to `limit` entries of a partition due at or before `until_ms`, earliest first, as
    /// (message id, due time).
    async fn due(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        until_ms: i64,
        limit: usize,
    ) -> RepoResult<Vec<(String, i64)>>;

    /// Moves the given messages that are due by the store's clock (Redis: server time) from
    /// the schedule into the partition's log, in one atomic step: each is appended exactly
    /// once, whoever else fires it. Ids not scheduled (cancelled, fired already) or not yet due
    /// are skipped. Returns what was appended, in append order.
    async fn fire(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_ids: &[String],
    ) -> RepoResult<Vec<Fired>>;

    /// Removes a scheduled message; false if it is not scheduled (fired, cancelled, unknown).
    async fn cancel(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<bool>;

    /// Moves a scheduled message to a new due time; false if it is not scheduled.
    async fn reschedule(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
        due_ms: i64,
    ) -> RepoResult<bool>;

    /// Up to `limit` entries of a partition by due time (then id), after `after` if given.
    async fn list(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        after: Option<&ScheduleCursor>,
        limit: usize,
    ) -> RepoResult<Vec<ScheduledEntry>>;

    /// How many messages a partition has scheduled, all or only those due by `until_ms`.
    async fn count(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        until_ms: Option<i64>,
    ) -> RepoResult<u64>;

    /// The partition of a topic (among `0..partitions`) where a message is scheduled, and its
    /// due time in ms, if it is still scheduled there. The partitions are looked at together,
    /// not one after another.
    async fn find(
        &self,
        topic: TopicRef<'_>,
        partitions: u32,
        message_id: &str,
    ) -> RepoResult<Option<(u32, i64)>>;

    /// Deletes the schedules of partitions `0..partitions` of a topic.
    async fn delete_topic(&self, topic: TopicRef<'_>, partitions: u32) -> RepoResult<()>;
}

/// A message log and what feeds it, from one store (firing and committing touch both): the
/// schedules of delayed messages and the half messages of transactions.
#[derive(Debug, Clone)]
pub struct MessageStores {
    /// The partitioned logs.
    pub log: Arc<dyn MessageLog>,
    /// The schedules of delayed messages.
    pub schedule: Arc<dyn ScheduleStore>,
    /// The half messages of transactions.
    pub half: Arc<dyn HalfMessageStore>,
    /// Time-bucketed counters for message rates.
    pub stats: Arc<dyn StatsStore>,
}

impl MessageStores {
    /// All served by one store that implements every trait.
    pub fn from_shared<T>(store: Arc<T>) -> Self
    where
        T: MessageLog + ScheduleStore + HalfMessageStore + StatsStore + 'static,
    {
        Self { log: store.clone(), schedule: store.clone(), half: store.clone(), stats: store }
    }
}
