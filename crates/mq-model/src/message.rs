//! The message model (design §4.1 `Message`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One message as stored in a topic partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Unique id, e.g. `msg_0190...`.
    pub id: String,
    /// The topic it belongs to.
    pub topic_name: String,
    /// The partition it was appended to.
    pub partition: u32,
    /// Its offset in the partition: from 0, one more for each message.
    pub offset: u64,
    /// Routing key; messages with the same key go to the same partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The payload bytes (base64 in JSON, like Go's `[]byte`).
    #[serde(with = "crate::serde_bytes_b64")]
    pub value: Vec<u8>,
    /// Application headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// When it was appended to the partition.
    pub timestamp: DateTime<Utc>,
    /// Who produced it, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer_id: Option<String>,
    /// Normal, delayed or transactional.
    pub message_type: MessageType,
    /// For delayed messages: when it becomes visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_until: Option<DateTime<Utc>>,
    /// How many times delivery was retried.
    #[serde(default)]
    pub retry_count: u32,
    /// Delivery state.
    pub status: MessageStatus,
    /// When the producer's request created it.
    pub created_at: DateTime<Utc>,
}

/// The kind of a message, serialized as the design's lowercase strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    /// Visible as soon as it is appended.
    #[default]
    Normal,
    /// Visible after a delay.
    Delay,
    /// Visible once its transaction commits.
    Transaction,
}

impl MessageType {
    /// The lowercase name used in JSON and BSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Normal => "normal",
            MessageType::Delay => "delay",
            MessageType::Transaction => "transaction",
        }
    }
}

/// Delivery state of a message, serialized as the design's lowercase strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Stored, not yet delivered.
    #[default]
    Pending,
    /// Delivered, not yet acknowledged.
    Sent,
    /// Acknowledged.
    Consumed,
    /// Given up on.
    Failed,
}
