//! The dead-letter model (design §4.1 `DeadLetterMessage`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A message a consumer group gave up on after its retries, kept for inspection and retry.
///
/// The design's fields come first; the rest say where the message was, how each delivery
/// failed, and whether a retry of it is under way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterMessage {
    /// Stable id, `dlq_` + 32 hex digits, derived from the group and the message's place in
    /// its partition, so recording the same failure twice yields the same id.
    pub id: String,
    /// The topic the message was published to.
    pub original_topic_name: String,
    /// The message's own id.
    pub original_message_id: String,
    /// The group that failed to process it.
    pub consumer_group_id: String,
    /// The last failure reason given.
    pub failure_reason: String,
    /// How many retries were made (deliveries minus one).
    pub retry_count: u32,
    /// The message value (base64 in JSON).
    #[serde(with = "crate::serde_bytes_b64")]
    pub message_content: Vec<u8>,
    /// The message headers.
    pub headers: BTreeMap<String, String>,
    /// When it was dead-lettered.
    pub failed_at: DateTime<Utc>,
    /// When this record was written.
    pub created_at: DateTime<Utc>,
    /// The partition the message was in.
    #[serde(default)]
    pub partition: u32,
    /// Its offset in that partition.
    #[serde(default)]
    pub offset: u64,
    /// Its routing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_key: Option<String>,
    /// When it was first published (appended to its partition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    /// Each failed delivery, oldest first.
    #[serde(default)]
    pub attempts: Vec<DeliveryAttempt>,
    /// Set while a retry of this dead letter is under way; the record is deleted once the
    /// message is scheduled for redelivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive: Option<Redrive>,
}

/// One failed delivery of a message to a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    /// Which delivery failed: 1 for the first.
    pub delivery: u32,
    /// When it failed (the nack, or the moment its ack timeout ran out).
    pub failed_at: DateTime<Utc>,
    /// The consumer that held it.
    pub consumer_id: String,
    /// Why: the nack's reason, or an ack timeout.
    pub reason: String,
}

/// A retry of a dead letter that has begun.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Redrive {
    /// The id the message is redelivered under.
    pub message_id: String,
    /// When the retry began.
    pub started_at: DateTime<Utc>,
}
