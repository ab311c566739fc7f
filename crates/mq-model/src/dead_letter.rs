//! The dead-letter model (design §4.1 `DeadLetterMessage`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A message a consumer group gave up on after its retries, kept for inspection and retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterMessage {
    /// Stable id, e.g. `dlq_0190...`.
    pub id: String,
    /// The topic the message was published to.
    pub original_topic_name: String,
    /// The message's own id.
    pub original_message_id: String,
    /// The group that failed to process it.
    pub consumer_group_id: String,
    /// The last failure reason given.
    pub failure_reason: String,
    /// How many retries were made.
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
}
