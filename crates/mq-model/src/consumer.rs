//! The consumer group and consumer models (design §4.1 `ConsumerGroup`, `Consumer`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validate::{validate_client_id, validate_topic_name};
use crate::{ModelError, RetryPolicy, StartFrom};

/// Default `ackTimeoutMs`: a delivered message unacknowledged for 30 s is delivered again.
pub const DEFAULT_ACK_TIMEOUT_MS: i64 = 30_000;
/// Default `sessionTimeoutMs`: a consumer silent for 10 s is considered gone.
pub const DEFAULT_SESSION_TIMEOUT_MS: i64 = 10_000;

/// A named set of consumers sharing the work of one topic; each group sees every message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConsumerGroup {
    /// Stable id, e.g. `group_0190...`.
    pub id: String,
    /// The group's name, unique within its topic.
    pub group_id: String,
    /// The topic it reads.
    pub topic_name: String,
    /// How many consumers are members.
    pub consumer_count: u32,
    /// Lifecycle state.
    pub status: GroupStatus,
    /// How messages are spread over the group's consumers.
    #[serde(default)]
    pub delivery_mode: DeliveryMode,
    /// Where the group started reading when it was created.
    #[serde(default)]
    pub start_from: StartFrom,
    /// How long a delivered message may stay unacknowledged before it is delivered again.
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: i64,
    /// How long a consumer may stay silent (no fetch) before it is considered gone.
    #[serde(default = "default_session_timeout_ms")]
    pub session_timeout_ms: i64,
    /// How often and after what pause failed messages are delivered again before they become
    /// dead letters.
    #[serde(default)]
    pub retry_policy: RetryPolicy,
    /// Free-form extra settings.
    pub config: BTreeMap<String, String>,
    /// When a member last acknowledged a message; unset until the first ack. Written at most
    /// once a second per group (and on shutdown) by the server instance that saw the ack, so
    /// it may lag by about a second; it never moves back, whichever instance writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit_time: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

fn default_ack_timeout_ms() -> i64 {
    DEFAULT_ACK_TIMEOUT_MS
}

fn default_session_timeout_ms() -> i64 {
    DEFAULT_SESSION_TIMEOUT_MS
}

impl ConsumerGroup {
    /// Checks the group and topic names, the timeouts and the retry policy.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_client_id("groupId", &self.group_id)?;
        validate_topic_name(&self.topic_name)?;
        validate_timeout_ms("ackTimeoutMs", self.ack_timeout_ms)?;
        validate_timeout_ms("sessionTimeoutMs", self.session_timeout_ms)?;
        self.retry_policy.validate()
    }
}

/// Longest ack or session timeout: one day. Longer would hide lost consumers for too long.
pub const MAX_TIMEOUT_MS: i64 = 24 * 60 * 60 * 1000;

/// Checks an ack or session timeout: 1 ms to one day.
pub fn validate_timeout_ms(field: &'static str, value: i64) -> Result<(), ModelError> {
    if (1..=MAX_TIMEOUT_MS).contains(&value) {
        Ok(())
    } else {
        Err(ModelError::OutOfRange {
            field,
            expected: "between 1 and 86400000 milliseconds",
            value,
        })
    }
}

/// How a group's messages are spread over its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// A work queue: any live consumer may receive any message of any partition.
    #[default]
    Shared,
    /// Each partition belongs to one live consumer at a time and is delivered in offset order,
    /// so messages with the same key are processed in order.
    Ordered,
}

impl DeliveryMode {
    /// The lowercase name used in JSON and BSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::Shared => "shared",
            DeliveryMode::Ordered => "ordered",
        }
    }
}

/// State of a consumer group, serialized as the design's lowercase strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    /// Has live members.
    #[default]
    Active,
    /// Has no live member.
    Inactive,
    /// Partition ownership is moving between members.
    Rebalancing,
}

impl GroupStatus {
    /// The lowercase name used in JSON and BSON.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Active => "active",
            GroupStatus::Inactive => "inactive",
            GroupStatus::Rebalancing => "rebalancing",
        }
    }
}

/// One member of a consumer group. The same client id may be a member of several groups, so a
/// consumer is identified by (consumer id, group id, topic name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    /// Stable id, e.g. `consumer_0190...`.
    pub id: String,
    /// The client's own id.
    pub consumer_id: String,
    /// The group it belongs to.
    pub group_id: String,
    /// The topic the group reads.
    pub topic_name: String,
    /// The partition it last read (design field; the broker tracks full assignments).
    pub partition: u32,
    /// The next offset it will read in that partition.
    pub current_offset: u64,
    /// The offset up to which its reads are acknowledged.
    pub committed_offset: u64,
    /// Messages behind the end of the partition.
    pub lag: u64,
    /// Liveness.
    pub status: ConsumerStatus,
    /// Last sign of life.
    pub last_heartbeat: DateTime<Utc>,
    /// What the client said about itself (host, version, ...).
    pub client_info: BTreeMap<String, String>,
    /// When it first joined.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Consumer {
    /// Checks the consumer, group and topic names.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_client_id("consumerId", &self.consumer_id)?;
        validate_client_id("groupId", &self.group_id)?;
        validate_topic_name(&self.topic_name)
    }
}

/// Liveness of a consumer, serialized as the design's lowercase strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConsumerStatus {
    /// Heartbeating.
    #[default]
    Active,
    /// Missed its session timeout or left.
    Inactive,
    /// Reported a failure.
    Error,
}

impl ConsumerStatus {
    /// The lowercase name used in JSON and BSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerStatus::Active => "active",
            ConsumerStatus::Inactive => "inactive",
            ConsumerStatus::Error => "error",
        }
    }
}
