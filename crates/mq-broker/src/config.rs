//! The broker's config: where messages and metadata live, and retention.

use mq_delay::DelayConfig;
use mq_repo::{LogProvider, MetadataProvider, MongoConfig, RedisConfig};
use mq_txn::TxnConfig;
use serde::{Deserialize, Serialize};

use crate::{BrokerError, BrokerResult};

/// Everything [`Broker::open`](crate::Broker::open) needs, in the server's config sections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// `message_queue`: the message store and retention.
    pub message_queue: MessageQueueConfig,
    /// `metadata`: the metadata store.
    pub metadata: MetadataConfig,
    /// `mongodb`: how to reach MongoDB when `metadata.provider` is `mongodb`.
    pub mongodb: MongoConfig,
}

impl BrokerConfig {
    /// Checks every section.
    pub fn validate(&self) -> BrokerResult<()> {
        self.message_queue.validate()?;
        if self.metadata.provider == MetadataProvider::Mongodb {
            self.mongodb.validate()?;
        }
        Ok(())
    }
}

/// The design's `message_queue` section (§9.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageQueueConfig {
    /// `memory` (default) or `redis_streams`.
    pub provider: LogProvider,
    /// How to reach Redis when the provider is `redis_streams`.
    pub redis: RedisConfig,
    /// Retention of topics created without `retentionMs`, in hours (default 168, 7 days).
    pub retention_hours: u64,
    /// Streams are trimmed to about this many messages per partition; 0 turns length trimming
    /// off. Trimming drops the oldest messages whether or not every group consumed them, so
    /// keep it well above the backlog you expect (default 1,000,000).
    pub max_len: u64,
    /// Publishing to an unknown topic creates it with defaults instead of failing with 404.
    pub auto_create_topics: bool,
    /// How often retention runs, in seconds (default 60).
    pub retention_interval_secs: u64,
    /// Delayed messages: the time wheel, the loader and the limits.
    pub delay: DelayConfig,
    /// Transactional messages: check-back timing, final action, allowed check-back URLs.
    pub transactions: TxnConfig,
    /// Alert rules, their thresholds and webhooks.
    pub alerts: crate::AlertConfig,
    /// Encryption at rest: the keys of topics with `config.encryption` (design §7.2).
    pub encryption: crate::EncryptionConfig,
    /// How long a partition remembers an idempotency key, in seconds (default 600): a publish
    /// repeating a key within this window stores nothing and answers the first publish. 0 turns
    /// the check off; a topic's `config["dedup.window.secs"]` overrides it.
    pub dedup_window_secs: u64,
}

impl Default for MessageQueueConfig {
    fn default() -> Self {
        Self {
            provider: LogProvider::Memory,
            redis: RedisConfig::default(),
            retention_hours: 168,
            max_len: 1_000_000,
            auto_create_topics: false,
            retention_interval_secs: 60,
            delay: DelayConfig::default(),
            transactions: TxnConfig::default(),
            alerts: crate::AlertConfig::default(),
            encryption: crate::EncryptionConfig::default(),
            dedup_window_secs: 600,
        }
    }
}

impl MessageQueueConfig {
    /// Checks the values that could not work.
    pub fn validate(&self) -> BrokerResult<()> {
        if self.provider == LogProvider::RedisStreams {
            self.redis.validate()?;
        }
        if self.retention_hours == 0 || self.retention_hours > 24 * 365 * 100 {
            return Err(BrokerError::invalid(
                "message_queue.retention_hours",
                "must be between 1 and 876000",
            ));
        }
        self.delay.validate()?;
        self.transactions.validate()?;
        self.alerts.validate()?;
        self.encryption.validate()?;
        if self.dedup_window_secs > crate::dedup::MAX_WINDOW_SECS {
            return Err(BrokerError::invalid(
                "message_queue.dedup_window_secs",
                format!("must be at most {} (7 days)", crate::dedup::MAX_WINDOW_SECS),
            ));
        }
        if self.retention_interval_secs == 0 {
            return Err(BrokerError::invalid(
                "message_queue.retention_interval_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The retention of topics created without one, in milliseconds.
    pub fn default_retention_ms(&self) -> i64 {
        i64::try_from(self.retention_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX)
    }
}

/// The `metadata` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetadataConfig {
    /// `memory` (default) or `mongodb`.
    pub provider: MetadataProvider,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        BrokerConfig::default().validate().unwrap();
        let bad = MessageQueueConfig { retention_hours: 0, ..MessageQueueConfig::default() };
        let err = bad.validate().unwrap_err();
        assert!(err.to_string().contains("retention_hours"), "{err}");
        assert_eq!(MessageQueueConfig::default().default_retention_ms(), 604_800_000);
    }
}
