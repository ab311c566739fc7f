//! Half messages of transactions: held beside a partition's log, invisible to consumers, until
//! the transaction is committed (appended to the log in one atomic step, exactly once) or
//! rolled back (discarded).

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{Appended, NewRecord, Original, RepoResult, TopicRef};

/// Per-partition holds of half messages.
#[async_trait]
pub trait HalfMessageStore: Send + Sync + Debug {
    /// Holds a half message for a partition, durably; one with the same id is replaced. When the
    /// partition stored its idempotency key ([`NewRecord::dedup`]) within the window, nothing
    /// is held and the answer says what the key's first record became.
    async fn prepare(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        record: NewRecord,
    ) -> RepoResult<Option<Original>>;

    /// Appends the half message to its partition's log (offset and timestamp as any append)
    /// and drops the hold, in one atomic step: however many callers race, it is appended once.
    /// `None` if no such half message is held (committed or rolled back already, or never
    /// prepared).
    async fn commit(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<Option<Appended>>;

    /// Discards a half message; false if none was held.
    async fn rollback(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<bool>;

    /// Whether a half message is held.
    async fn holds(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<bool>;

    /// How many half messages a partition holds.
    async fn held(&self, topic: TopicRef<'_>, partition: u32) -> RepoResult<u64>;

    /// Drops the half messages of partitions `0..partitions` of a topic.
    async fn delete_topic(&self, topic: TopicRef<'_>, partitions: u32) -> RepoResult<()>;
}
