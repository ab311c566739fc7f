//! Storage of mq: small traits, one per resource, each with three implementations side by side:
//! Redis Streams (messages), MongoDB (metadata) and in-memory (the embedded default and unit
//! tests). The binary picks one per trait from config.
//!
//! - [`MessageLog`]: partitioned append-only logs with per-partition offsets from 0 and
//!   consumer groups with pending lists ([`RedisMessageLog`], [`MemoryMessageLog`]).
//! - [`ScheduleStore`]: per-partition schedules of delayed messages, fired into the log
//!   atomically (same two implementations, bundled with the log as [`MessageStores`]).
//! - [`TopicRepository`], [`ConsumerGroupRepository`], [`ConsumerRepository`],
//!   [`DeadLetterRepository`]: metadata ([`MongoMetadata`], [`MemoryMetadata`]), bundled
//!   as [`MetadataStores`].
#![deny(missing_docs)]

mod config;
mod error;
mod half;
mod log;
mod memory;
mod metadata;
mod mongo;
mod open;
mod redis;
mod schedule;
mod stats;
mod timeout;
mod topic_ref;

pub use config::{
    MongoConfig, RedisClusterConfig, RedisConfig, RedisSentinelConfig, RedisTopology,
};
pub use error::{Backend, RepoError, RepoResult};
pub use half::HalfMessageStore;
pub use log::{
    Appended, Attempt, Dedup, Delivery, Failure, GroupLag, MessageLog, NewRecord, OffsetRollback,
    Original, PartitionStats, PendingEntry, Record, Redelivery, StartPosition,
};
pub use memory::{MemoryMessageLog, MemoryMetadata};
pub use metadata::{
    AlertRepository, AuditFilter, AuditRepository, ConsumerFilter, ConsumerGroupRepository,
    ConsumerRepository, DeadLetterFilter, DeadLetterRepository, GroupFilter, MetadataStores,
    TokenRepository, TopicFilter, TopicRepository, TransactionFilter, TransactionRepository,
};
pub use mongo::MongoMetadata;
pub use open::{open_message_stores, open_metadata, LogProvider, MetadataProvider};
pub use redis::RedisMessageLog;
pub use schedule::{
    Fired, MessageStores, ScheduleCursor, ScheduleStore, ScheduledEntry, ScheduledRecord,
};
pub use stats::{Increment, StatsStore};
pub use topic_ref::{TopicKey, TopicRef};

/// Not public API: private hot paths of this crate, reachable from its criterion benchmarks
/// (`benches/`, which are separate crates). Hidden from the docs; may change at any time.
#[doc(hidden)]
pub mod __bench {
    /// The bytes the Redis log stores for a record (the `e` field of its stream entry).
    pub fn encode_envelope(record: crate::NewRecord) -> crate::RepoResult<Vec<u8>> {
        crate::redis::envelope::encode(record)
    }

    /// The record the Redis log reads back from an entry's `e` field.
    pub fn decode_envelope(bytes: &[u8]) -> crate::RepoResult<crate::Record> {
        crate::redis::envelope::decode(bytes, 0, 0)
    }

    /// `SCRIPT LOAD` on the one server or on every master of a cluster, as the Redis log loads
    /// its scripts; the digest.
    pub async fn load_script(
        pool: &fred::prelude::Pool,
        source: &str,
    ) -> Result<String, fred::error::Error> {
        crate::redis::scripts::load_everywhere(pool, source).await
    }

    /// The common start of a partition's Redis keys (`<base>:s` is its stream, `<base>:m` its
    /// meta hash) for a topic spread with these generations: mq-bench's ceiling writes keys
    /// laid out as the broker's are, so that both meet the same masters of a cluster.
    pub fn partition_key_base(
        prefix: &str,
        topic: &str,
        generations: &[u32],
        partition: u32,
    ) -> String {
        let topic = crate::TopicRef::spread(topic, generations);
        crate::redis::keys::PartitionKeys::new(prefix, topic, partition).base().to_owned()
    }
}
