//! Dead letters on the wire: `GET /dead-letters`, `GET /dead-letters/{id}` and
//! `POST /dead-letters/retry`.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use mq_broker::{RetryReport, RetryRequest, RetrySelection};
use mq_model::{DeadLetterMessage, DeliveryAttempt};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::value::{self, ValueOut};
use crate::ApiError;

/// A dead letter: the design's fields, its content shown like a message value (JSON as is,
/// other bytes as text or base64 with `contentEncoding`), and its history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeadLetterOut {
    /// The dead letter's id (`dlq_…`).
    id: String,
    /// The topic the message was published to.
    original_topic_name: String,
    /// The message's id.
    original_message_id: String,
    /// The group that failed to process it.
    consumer_group_id: String,
    /// The last failure's reason.
    failure_reason: String,
    /// How many times it was retried.
    retry_count: u32,
    /// The message's value, shown like a consumed message's `value`.
    #[schema(value_type = crate::openapi::AnyValue)]
    message_content: ValueOut,
    /// `base64` when `messageContent` is base64 of bytes that are not text.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^base64$")]
    content_encoding: Option<&'static str>,
    /// The message's headers.
    headers: BTreeMap<String, String>,
    /// When it was dead-lettered.
    failed_at: DateTime<Utc>,
    /// When the dead letter was stored.
    created_at: DateTime<Utc>,
    /// The message's partition.
    partition: u32,
    /// The message's offset.
    offset: u64,
    /// The message's key, if it had one.
    message_key: Option<String>,
    /// When the message was published.
    published_at: Option<DateTime<Utc>>,
    /// Every failed delivery, oldest first.
    attempts: Vec<DeliveryAttempt>,
    /// `dead`, or `retrying` while a retry of it is under way.
    #[schema(pattern = "^(dead|retrying)$")]
    status: &'static str,
}

impl From<DeadLetterMessage> for DeadLetterOut {
    fn from(d: DeadLetterMessage) -> Self {
        let (message_content, content_encoding) = value::render(d.message_content);
        Self {
            id: d.id,
            original_topic_name: d.original_topic_name,
            original_message_id: d.original_message_id,
            consumer_group_id: d.consumer_group_id,
            failure_reason: d.failure_reason,
            retry_count: d.retry_count,
            message_content,
            content_encoding,
            headers: d.headers,
            failed_at: d.failed_at,
            created_at: d.created_at,
            partition: d.partition,
            offset: d.offset,
            message_key: d.message_key,
            published_at: d.published_at,
            attempts: d.attempts,
            status: if d.redrive.is_some() { "retrying" } else { "dead" },
        }
    }
}

/// `POST /dead-letters/retry`: either `ids`, or `topicName` and `groupId` (with an optional
/// `from`/`to` range of failure times); optionally `ratePerSecond`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RetryBody {
    /// Dead letters by id (at most 1000); or else `topicName` and `groupId`.
    #[schema(max_items = 1000)]
    ids: Option<Vec<String>>,
    /// With `groupId`: every dead letter of that group (at most 100000).
    topic_name: Option<String>,
    /// With `topicName`.
    group_id: Option<String>,
    /// With `topicName` and `groupId`: only those that failed at or after this time.
    from: Option<DateTime<Utc>>,
    /// With `topicName` and `groupId`: only those that failed before this time.
    to: Option<DateTime<Utc>>,
    /// Spread the redeliveries at this many per second (at most 100000) instead of all at once.
    #[schema(exclusive_minimum = 0, maximum = 100_000)]
    rate_per_second: Option<f64>,
}

impl TryFrom<RetryBody> for RetryRequest {
    type Error = ApiError;

    fn try_from(b: RetryBody) -> Result<Self, ApiError> {
        let selection = match (b.ids, b.topic_name, b.group_id) {
            (Some(ids), None, None) if b.from.is_none() && b.to.is_none() => {
                RetrySelection::Ids(ids)
            }
            (Some(_), _, _) => {
                return Err(ApiError::field(
                    "ids",
                    "give either ids, or topicName and groupId (with from/to), not both",
                ))
            }
            (None, Some(topic_name), Some(group_id)) => {
                RetrySelection::Group { topic_name, group_id, from: b.from, to: b.to }
            }
            (None, None, _) => {
                return Err(ApiError::field(
                    "topicName",
                    "give ids, or topicName and groupId to retry all of that group's",
                ))
            }
            (None, Some(_), None) => {
                return Err(ApiError::field("groupId", "is required with topicName"))
            }
        };
        Ok(RetryRequest { selection, rate_per_second: b.rate_per_second })
    }
}

/// What a retry did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RetryOut {
    /// Sent back to their group.
    retried: u64,
    /// Retried already by another (repeated or racing) request.
    already_retried: u64,
    /// Ids that name no dead letter.
    not_found: Vec<String>,
    /// Those that cannot go back, and why.
    failed: Vec<RetryFailedOut>,
    /// When the last is redelivered (later than now with `ratePerSecond`).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_due_at: Option<DateTime<Utc>>,
}

/// A dead letter that could not go back.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RetryFailedOut {
    /// Its id.
    id: String,
    /// Why.
    reason: String,
}

impl From<RetryReport> for RetryOut {
    fn from(r: RetryReport) -> Self {
        Self {
            retried: r.retried,
            already_retried: r.already_retried,
            not_found: r.not_found,
            failed: r
                .failed
                .into_iter()
                .map(|(id, reason)| RetryFailedOut { id, reason })
                .collect(),
            last_due_at: r.last_due_ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        }
    }
}
