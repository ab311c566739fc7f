//! The config models (design §3.5): what a client asks for when it creates a topic, joins as a
//! consumer or produces. Each has serde defaults, rejects unknown fields and has `validate()`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validate::{
    validate_client_id, validate_max_message_size, validate_partitions,
    validate_replication_factor, validate_retention_ms, validate_topic_name,
    DEFAULT_MAX_MESSAGE_SIZE,
};
use crate::{ModelError, Placement, Topic, TopicStatus};

/// Seven days, the design's `retention_hours: 168`.
const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// The settings of a topic to create (the body of `POST /topics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TopicConfig {
    /// Unique name, `^[A-Za-z0-9][A-Za-z0-9._-]{0,248}$`.
    pub name: String,
    /// Free text for operators.
    pub description: String,
    /// Number of partitions, 1..=1024 (default 1).
    pub partitions: u32,
    /// Replication factor, at least 1 (default 1).
    pub replication_factor: u32,
    /// Retention in milliseconds, more than 0 (default 7 days).
    pub retention_ms: i64,
    /// Largest message value in bytes, 1..=16 MiB (default 1 MiB).
    pub max_message_size: i64,
    /// Free-form extra settings.
    pub config: BTreeMap<String, String>,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            partitions: 1,
            replication_factor: 1,
            retention_ms: DEFAULT_RETENTION_MS,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            config: BTreeMap::new(),
        }
    }
}

impl TopicConfig {
    /// A config with the given name and every other setting at its default.
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }

    /// Checks every field rule; the first broken one is returned.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_topic_name(&self.name)?;
        validate_partitions(self.partitions)?;
        validate_replication_factor(self.replication_factor)?;
        validate_retention_ms(self.retention_ms)?;
        validate_max_message_size(self.max_message_size)
    }

    /// The active topic this config describes, validated first.
    pub fn into_topic(
        self,
        id: String,
        created_by: String,
        now: DateTime<Utc>,
    ) -> Result<Topic, ModelError> {
        self.validate()?;
        Ok(Topic {
            id,
            name: self.name,
            description: self.description,
            partitions: self.partitions,
            replication_factor: self.replication_factor,
            retention_ms: self.retention_ms,
            max_message_size: self.max_message_size,
            config: self.config,
            status: TopicStatus::Active,
            created_by,
            created_at: now,
            updated_at: now,
            placement: Placement::spread(self.partitions),
        })
    }
}

/// Where a new consumer group starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    /// From the oldest message still stored.
    Earliest,
    /// Only messages published after the group was created.
    #[default]
    Latest,
}

/// How a consumer joins a group and reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ConsumerConfig {
    /// The topic to read.
    pub topic_name: String,
    /// The group to join.
    pub group_id: String,
    /// This consumer's own id.
    pub consumer_id: String,
    /// Where a group created by this consumer starts (default `latest`).
    pub start_from: StartFrom,
    /// Most messages one fetch returns, 1..=1000 (default 10).
    pub max_poll_messages: u32,
    /// How long a delivered message may stay unacknowledged before redelivery, 1 ms to one day
    /// (default 30 s).
    pub ack_timeout_ms: i64,
    /// How long a consumer may stay silent before it is considered gone, 1 ms to one day
    /// (default 10 s).
    pub session_timeout_ms: i64,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            topic_name: String::new(),
            group_id: String::new(),
            consumer_id: String::new(),
            start_from: StartFrom::Latest,
            max_poll_messages: 10,
            ack_timeout_ms: crate::DEFAULT_ACK_TIMEOUT_MS,
            session_timeout_ms: crate::DEFAULT_SESSION_TIMEOUT_MS,
        }
    }
}

impl ConsumerConfig {
    /// Checks every field rule; the first broken one is returned.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_topic_name(&self.topic_name)?;
        validate_client_id("groupId", &self.group_id)?;
        validate_client_id("consumerId", &self.consumer_id)?;
        positive_range(
            "maxPollMessages",
            "between 1 and 1000",
            self.max_poll_messages.into(),
            1000,
        )?;
        crate::validate_timeout_ms("ackTimeoutMs", self.ack_timeout_ms)?;
        crate::validate_timeout_ms("sessionTimeoutMs", self.session_timeout_ms)
    }
}

/// How a producer sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ProducerConfig {
    /// Recorded on each message as `producerId`, if set.
    pub producer_id: Option<String>,
    /// Most messages in one batch, 1..=1000 (default 1000).
    pub max_batch_size: u32,
    /// How long one send may take before it fails, in milliseconds (default 5 s).
    pub request_timeout_ms: i64,
    /// Headers added to every message unless the message sets them itself.
    pub default_headers: BTreeMap<String, String>,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            producer_id: None,
            max_batch_size: 1000,
            request_timeout_ms: 5_000,
            default_headers: BTreeMap::new(),
        }
    }
}

impl ProducerConfig {
    /// Checks every field rule; the first broken one is returned.
    pub fn validate(&self) -> Result<(), ModelError> {
        if let Some(id) = &self.producer_id {
            validate_client_id("producerId", id)?;
        }
        positive_range("maxBatchSize", "between 1 and 1000", self.max_batch_size.into(), 1000)?;
        positive_range("requestTimeoutMs", "greater than 0", self.request_timeout_ms, i64::MAX)
    }
}

fn positive_range(
    field: &'static str,
    expected: &'static str,
    value: i64,
    max: i64,
) -> Result<(), ModelError> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(ModelError::OutOfRange { field, expected, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_config_defaults_and_seed_example() {
        // The body of the design's §5.2.2 example, verbatim.
        let body = r#"{
          "name": "payment-events",
          "description": "支付相关事件主题",
          "partitions": 6,
          "replicationFactor": 3,
          "retentionMs": 604800000,
          "maxMessageSize": 1048576,
          "config": {"cleanup.policy": "delete", "compression.type": "gzip"}
        }"#;
        let cfg: TopicConfig = serde_json::from_str(body).unwrap();
        assert_eq!(cfg.partitions, 6);
        assert_eq!(cfg.replication_factor, 3);
        cfg.validate().unwrap();

        let minimal: TopicConfig = serde_json::from_str(r#"{"name":"t"}"#).unwrap();
        assert_eq!(minimal, TopicConfig::named("t"));
        assert_eq!(minimal.max_message_size, 1024 * 1024);
        assert_eq!(minimal.retention_ms, 604_800_000);
    }

    #[test]
    fn topic_config_rejects_unknown_fields_and_bad_values() {
        let err = serde_json::from_str::<TopicConfig>(r#"{"name":"t","partitons":3}"#).unwrap_err();
        assert!(err.to_string().contains("partitons"), "{err}");
        for (cfg, field) in [
            (TopicConfig { partitions: 0, ..TopicConfig::named("t") }, "partitions"),
            (TopicConfig { partitions: 1025, ..TopicConfig::named("t") }, "partitions"),
            (TopicConfig { replication_factor: 0, ..TopicConfig::named("t") }, "replicationFactor"),
            (TopicConfig { retention_ms: 0, ..TopicConfig::named("t") }, "retentionMs"),
            (TopicConfig { max_message_size: 0, ..TopicConfig::named("t") }, "maxMessageSize"),
            (TopicConfig::named("bad name"), "name"),
        ] {
            assert_eq!(cfg.validate().unwrap_err().field(), field);
        }
    }

    #[test]
    fn into_topic_is_active_and_validated() {
        let now = chrono::Utc::now();
        let topic =
            TopicConfig::named("orders").into_topic("topic_1".into(), "ops".into(), now).unwrap();
        assert_eq!(topic.status, TopicStatus::Active);
        assert_eq!(topic.created_at, now);
        assert!(TopicConfig::named("").into_topic("x".into(), String::new(), now).is_err());
    }

    #[test]
    fn consumer_and_producer_configs() {
        let ok = ConsumerConfig {
            topic_name: "t".into(),
            group_id: "g".into(),
            consumer_id: "c".into(),
            ..ConsumerConfig::default()
        };
        ok.validate().unwrap();
        for (cfg, field) in [
            (ConsumerConfig { group_id: String::new(), ..ok.clone() }, "groupId"),
            (ConsumerConfig { consumer_id: "a\u{7}".into(), ..ok.clone() }, "consumerId"),
            (ConsumerConfig { max_poll_messages: 0, ..ok.clone() }, "maxPollMessages"),
            (ConsumerConfig { max_poll_messages: 1001, ..ok.clone() }, "maxPollMessages"),
            (ConsumerConfig { ack_timeout_ms: 0, ..ok.clone() }, "ackTimeoutMs"),
            (ConsumerConfig { session_timeout_ms: -1, ..ok.clone() }, "sessionTimeoutMs"),
        ] {
            assert_eq!(cfg.validate().unwrap_err().field(), field);
        }
        let start: ConsumerConfig = serde_json::from_str(r#"{"startFrom":"earliest"}"#).unwrap();
        assert_eq!(start.start_from, StartFrom::Earliest);

        ProducerConfig::default().validate().unwrap();
        let bad = ProducerConfig { max_batch_size: 0, ..ProducerConfig::default() };
        assert_eq!(bad.validate().unwrap_err().field(), "maxBatchSize");
        let bad = ProducerConfig { producer_id: Some(String::new()), ..ProducerConfig::default() };
        assert_eq!(bad.validate().unwrap_err().field(), "producerId");
    }
}
