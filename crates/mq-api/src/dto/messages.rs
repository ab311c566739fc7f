//! Shapes of sending and consuming: messages in, where they landed, messages out, settling.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mq_broker::{OutgoingMessage, Published, ReceivedMessage, StoredMessage, MAX_BATCH};
use mq_model::MessageType;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::delay::DelayFields;
use crate::value::{self, ValueOut};
use crate::ApiError;

/// `POST /messages` (design §5.2.1).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SendMessage {
    /// The topic to publish to.
    #[schema(min_length = 1)]
    pub(crate) topic_name: String,
    /// Messages with the same key go to the same partition (in order); without a key,
    /// partitions take turns. At most 1024 bytes.
    #[schema(max_length = 1024)]
    pub(crate) key: Option<String>,
    /// Any JSON value, `null` included; required. Arrays and objects nest at most the server's
    /// `max_value_depth` (default 64) levels deep. Value, key and headers together are at most
    /// the topic's `maxMessageSize` bytes (the value counted as its JSON text without
    /// whitespace).
    #[serde(default, deserialize_with = "value::present")]
    #[schema(value_type = crate::openapi::AnyValue, required = true)]
    pub(crate) value: Option<Box<RawValue>>,
    /// Text headers, delivered with the message: at most 64, names of at most 256 bytes,
    /// values of at most 8192 bytes.
    pub(crate) headers: Option<BTreeMap<String, String>>,
    /// `normal` (default), `delay` (with `delaySeconds` or `deliverAt`) or `transaction`
    /// (a half message, delivered once committed).
    pub(crate) message_type: Option<MessageType>,
    /// Seconds from now, fractions allowed; only with `messageType: "delay"` (or 0).
    pub(crate) delay_seconds: Option<f64>,
    /// An RFC 3339 time; only with `messageType: "delay"`.
    #[schema(format = DateTime)]
    pub(crate) deliver_at: Option<String>,
    /// Only with `messageType: "transaction"`: where to ask about an undecided transaction.
    pub(crate) checkback_url: Option<String>,
    /// Only with `messageType: "transaction"`: seconds before the first check-back.
    #[schema(exclusive_minimum = 0, maximum = 1_000_000_000)]
    pub(crate) transaction_timeout_seconds: Option<f64>,
    /// Makes the publish safe to repeat: within the topic's dedup window (default 10 minutes)
    /// a publish with the same key stores nothing and answers the first one, with
    /// `"duplicate": true`. 1 to 128 bytes; the `Idempotency-Key` header does the same.
    /// Without a `key`, the message goes to the partition of its idempotency key.
    #[schema(min_length = 1, max_length = 128)]
    pub(crate) idempotency_key: Option<String>,
}

impl SendMessage {
    /// Whether this prepares a transaction.
    pub(crate) fn is_transaction(&self) -> bool {
        self.message_type == Some(MessageType::Transaction)
    }

    /// The check-back settings of a transactional message; refused on other messages.
    pub(crate) fn txn_options(&self) -> Result<mq_broker::TxnOptions, ApiError> {
        if !self.is_transaction() {
            for (field, given) in [
                ("checkbackUrl", self.checkback_url.is_some()),
                ("transactionTimeoutSeconds", self.transaction_timeout_seconds.is_some()),
            ] {
                if given {
                    return Err(ApiError::field(
                        field,
                        "applies only to messageType \"transaction\"",
                    ));
                }
            }
        }
        let timeout = match self.transaction_timeout_seconds {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 && s <= 1e9 => {
                Some(std::time::Duration::from_secs_f64(s))
            }
            Some(s) => {
                return Err(ApiError::field(
                    "transactionTimeoutSeconds",
                    format!("must be a number of seconds greater than 0, got {s}"),
                ))
            }
        };
        Ok(mq_broker::TxnOptions { checkback_url: self.checkback_url.clone(), timeout })
    }

    /// The message to publish; `value` is required, and a delay needs `messageType: "delay"`.
    /// `header_key` is the request's `Idempotency-Key` header, if any: it must agree with the
    /// body's `idempotencyKey` when both are given.
    pub(crate) fn outgoing(
        &self,
        header_key: Option<&str>,
        max_depth: usize,
    ) -> Result<OutgoingMessage, ApiError> {
        let fields = DelayFields {
            prefix: "",
            message_type: self.message_type.unwrap_or_default(),
            delay_seconds: self.delay_seconds,
            deliver_at: self.deliver_at.as_deref(),
        };
        let idempotency_key = match (self.idempotency_key.as_deref(), header_key) {
            (Some(body), Some(header)) if body != header => {
                return Err(ApiError::field(
                    "Idempotency-Key",
                    "differs from the body's idempotencyKey; give one, or the same in both",
                ))
            }
            (Some(body), _) => Some(idempotency("idempotencyKey", body)?),
            (None, Some(header)) => Some(idempotency("Idempotency-Key", header)?),
            (None, None) => None,
        };
        let mut message = outgoing(
            "",
            self.key.as_ref(),
            self.value.as_deref(),
            self.headers.as_ref(),
            fields,
            max_depth,
        )?;
        message.idempotency_key = idempotency_key;
        Ok(message)
    }
}

/// `POST /messages/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SendBatch {
    /// The topic to publish to.
    #[schema(min_length = 1)]
    pub(crate) topic_name: String,
    /// 1 to 1000 messages, published all or none, in this order.
    #[schema(min_items = 1, max_items = 1000)]
    pub(crate) messages: Vec<BatchItem>,
}

/// One message of a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BatchItem {
    /// As in `POST /messages`: at most 1024 bytes.
    #[schema(max_length = 1024)]
    key: Option<String>,
    /// Any JSON value, `null` included; required; nested and sized as in `POST /messages`.
    #[serde(default, deserialize_with = "value::present")]
    #[schema(value_type = crate::openapi::AnyValue, required = true)]
    value: Option<Box<RawValue>>,
    /// Text headers, as in `POST /messages`: at most 64, names of at most 256 bytes, values of
    /// at most 8192 bytes.
    headers: Option<BTreeMap<String, String>>,
    /// `normal` (default) or `delay`; a batch cannot hold transactional messages.
    message_type: Option<MessageType>,
    /// Seconds from now; only with `messageType: "delay"` (or 0).
    delay_seconds: Option<f64>,
    /// An RFC 3339 time; only with `messageType: "delay"`.
    #[schema(format = DateTime)]
    deliver_at: Option<String>,
    /// As in `POST /messages`: a repeat within the window stores nothing and answers the
    /// first, with `"duplicate": true`.
    #[schema(min_length = 1, max_length = 128)]
    idempotency_key: Option<String>,
}

impl SendBatch {
    /// The messages to publish, all checked before any is built.
    pub(crate) fn outgoing(&self, max_depth: usize) -> Result<Vec<OutgoingMessage>, ApiError> {
        let count = self.messages.len();
        if count == 0 || count > MAX_BATCH {
            return Err(ApiError::field(
                "messages",
                format!("a batch holds 1 to {MAX_BATCH} messages, got {count}"),
            ));
        }
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let prefix = format!("messages[{i}].");
                let fields = DelayFields {
                    prefix: &prefix,
                    message_type: m.message_type.unwrap_or_default(),
                    delay_seconds: m.delay_seconds,
                    deliver_at: m.deliver_at.as_deref(),
                };
                let mut message = outgoing(
                    &prefix,
                    m.key.as_ref(),
                    m.value.as_deref(),
                    m.headers.as_ref(),
                    fields,
                    max_depth,
                )?;
                message.idempotency_key = m
                    .idempotency_key
                    .as_deref()
                    .map(|key| idempotency(&format!("{prefix}idempotencyKey"), key))
                    .transpose()?;
                Ok(message)
            })
            .collect()
    }
}

/// An idempotency key, checked (1 to 128 bytes, no control characters) with `field` named in
/// the error.
fn idempotency(field: &str, key: &str) -> Result<String, ApiError> {
    mq_model::validate_idempotency_key("idempotencyKey", key).map_err(|error| {
        let reason = match error {
            mq_model::ModelError::InvalidId { reason, .. } => reason.to_owned(),
            other => other.to_string(),
        };
        ApiError::field(field, reason)
    })?;
    Ok(key.to_owned())
}

/// A message of a request, its fields named with `prefix` (`""` or `messages[i].`) in errors:
/// `value` is required and nests at most `max_depth` deep; key and headers within their bounds.
fn outgoing(
    prefix: &str,
    key: Option<&String>,
    value: Option<&RawValue>,
    headers: Option<&BTreeMap<String, String>>,
    delay: DelayFields<'_>,
    max_depth: usize,
) -> Result<OutgoingMessage, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::field(
            format!("{prefix}value"),
            "is required; it may be any JSON value, null included",
        )
    })?;
    let value = value::to_stored(value, max_depth).map_err(|_| {
        ApiError::field(
            format!("{prefix}value"),
            format!(
                "nests arrays and objects more than {max_depth} levels deep (the server's \
                 max_value_depth)"
            ),
        )
    })?;
    let headers = headers.cloned().unwrap_or_default();
    mq_model::validate_message_parts(key.map(String::as_str), &headers).map_err(
        |error| match error {
            mq_model::ModelError::Invalid { field, reason } => {
                ApiError::field(format!("{prefix}{field}"), reason)
            }
            other => ApiError::field(format!("{prefix}{}", other.field()), other.to_string()),
        },
    )?;
    Ok(OutgoingMessage {
        key: key.cloned(),
        value,
        headers,
        producer_id: None,
        message_type: delay.message_type,
        delay: delay.delay()?,
        idempotency_key: None,
    })
}

/// `appended` for a message in its partition's log, `scheduled` for one waiting to be due.
fn status(p: &Published) -> &'static str {
    if p.is_scheduled() {
        "scheduled"
    } else {
        "appended"
    }
}

/// Where a message landed (`POST /messages`): `offset` and `timestamp` once appended,
/// `deliverAt` while scheduled.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PublishedOut {
    /// The fields a batch result has; a single send adds only its topic.
    #[serde(flatten)]
    result: BatchResult,
    /// The topic it was published to.
    topic_name: String,
}

impl From<Published> for PublishedOut {
    fn from(p: Published) -> Self {
        let topic_name = p.topic_name.clone();
        Self { result: BatchResult::from(p), topic_name }
    }
}

/// What `POST /messages` answers: where the message landed or, for `messageType:
/// "transaction"`, the prepared half message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum SentOut {
    /// A normal or delayed message.
    Published(PublishedOut),
    /// A half message.
    Prepared(PreparedOut),
}

/// Where each message of a batch landed, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchOut {
    /// One per message, in request order.
    results: Vec<BatchResult>,
}

/// Where one message landed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BatchResult {
    /// The message's id (`msg_…`).
    message_id: String,
    /// Its partition.
    partition: u32,
    /// Its offset in the partition, once appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    /// When it was appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<DateTime<Utc>>,
    /// `appended`, or `scheduled` for a delayed message not yet due.
    #[schema(pattern = "^(appended|scheduled)$")]
    status: &'static str,
    /// When a scheduled message becomes visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    deliver_at: Option<DateTime<Utc>>,
    /// `true` when this repeated an idempotency key: nothing was stored, and the fields are
    /// the first publish's. Left out otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

impl From<Published> for BatchResult {
    fn from(p: Published) -> Self {
        let status = status(&p);
        let scheduled = p.is_scheduled();
        Self {
            message_id: p.message_id,
            partition: p.partition,
            offset: p.offset,
            // A scheduled message's timestamp is only when it was accepted; it gets its own
            // when it is appended, so none is shown until then.
            timestamp: (!scheduled).then_some(p.timestamp),
            status,
            deliver_at: if scheduled { p.deliver_at } else { None },
            duplicate: p.duplicate,
        }
    }
}

impl From<Vec<Published>> for BatchOut {
    fn from(all: Vec<Published>) -> Self {
        Self { results: all.into_iter().map(BatchResult::from).collect() }
    }
}

/// `POST /consume`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Consume {
    /// The topic to read.
    #[schema(min_length = 1)]
    pub(crate) topic_name: String,
    /// The consumer group, which must exist.
    #[schema(min_length = 1)]
    group_id: String,
    /// This consumer's id (1 to 255 characters, no control characters); a fetch is also its
    /// heartbeat.
    #[schema(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,255}$")]
    consumer_id: String,
    /// Most messages to return, 1 to 1000 (default 10).
    #[schema(minimum = 1, maximum = 1000)]
    max_messages: Option<usize>,
    /// How long to wait for a first message when none is available, 0 to 30000 ms
    /// (default 0: answer at once).
    #[schema(minimum = 0, maximum = 30000)]
    wait_ms: Option<u64>,
}

/// `maxMessages` when none is given.
const DEFAULT_MAX_MESSAGES: usize = 10;

impl From<Consume> for mq_broker::FetchRequest {
    fn from(c: Consume) -> Self {
        Self {
            topic_name: c.topic_name,
            group_id: c.group_id,
            consumer_id: c.consumer_id,
            max_messages: c.max_messages.unwrap_or(DEFAULT_MAX_MESSAGES),
            wait: std::time::Duration::from_millis(c.wait_ms.unwrap_or(0)),
        }
    }
}

/// `POST /ack` and `POST /release`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Settle {
    /// The topic the messages came from.
    #[schema(min_length = 1)]
    pub(crate) topic_name: String,
    /// The group they were delivered to.
    #[schema(min_length = 1)]
    pub(crate) group_id: String,
    /// The receipts of the deliveries, as consume gave them; unknown or stale ones count
    /// nothing.
    pub(crate) receipts: Vec<String>,
}

/// `POST /nack`: like an ack's body, plus how the failure is handled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NackBody {
    /// The topic the messages came from.
    #[schema(min_length = 1)]
    pub(crate) topic_name: String,
    /// The group they were delivered to.
    #[schema(min_length = 1)]
    pub(crate) group_id: String,
    /// The receipts of the deliveries, as consume gave them; unknown or stale ones count
    /// nothing.
    pub(crate) receipts: Vec<String>,
    /// Why processing failed: kept in the attempt history and as a dead letter's reason.
    pub(crate) reason: Option<String>,
    /// Redeliver after this many milliseconds instead of the group's backoff (at most
    /// 604800000, 7 days).
    #[schema(minimum = 0, maximum = 604_800_000)]
    pub(crate) delay_ms: Option<u64>,
    /// Do not retry: dead-letter now.
    #[serde(default)]
    pub(crate) dead_letter: bool,
}

impl NackBody {
    pub(crate) fn nack(&self) -> mq_broker::Nack {
        mq_broker::Nack {
            reason: self.reason.clone(),
            delay: self.delay_ms.map(std::time::Duration::from_millis),
            dead_letter: self.dead_letter,
        }
    }
}

/// A message as consume and browse show it; `receipt` and `deliveryCount` only on consume.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageOut {
    /// The message's id.
    message_id: String,
    /// What settles this delivery (`POST /ack`, `/nack`, `/release`, `/extend`); consume only.
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<String>,
    /// Its topic.
    topic_name: String,
    /// Its partition.
    partition: u32,
    /// Its offset in the partition.
    offset: u64,
    /// Its key, if it has one.
    key: Option<String>,
    /// The value as published: any JSON value. Values published as bytes through the Rust
    /// library come as a string: their text, or base64 with `valueEncoding: "base64"`.
    #[schema(value_type = crate::openapi::AnyValue)]
    value: ValueOut,
    /// `base64` when `value` is base64 of bytes that are not text.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^base64$")]
    value_encoding: Option<&'static str>,
    /// Its headers.
    headers: BTreeMap<String, String>,
    /// When it was appended.
    timestamp: DateTime<Utc>,
    /// Which delivery this is to the group, from 1; consume only.
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery_count: Option<u32>,
    /// Its kind.
    message_type: MessageType,
}

impl From<StoredMessage> for MessageOut {
    fn from(m: StoredMessage) -> Self {
        let (value, value_encoding) = value::render(m.value);
        Self {
            message_id: m.message_id,
            receipt: None,
            topic_name: m.topic_name,
            partition: m.partition,
            offset: m.offset,
            key: m.key,
            value,
            value_encoding,
            headers: m.headers,
            timestamp: m.timestamp,
            delivery_count: None,
            message_type: m.message_type,
        }
    }
}

impl From<ReceivedMessage> for MessageOut {
    fn from(r: ReceivedMessage) -> Self {
        Self {
            receipt: Some(r.receipt),
            delivery_count: Some(r.delivery_count),
            ..Self::from(r.message)
        }
    }
}

/// Messages of a consume or browse; `nextOffset` only on browse.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessagesOut {
    /// The messages, in delivery (or offset) order.
    pub(crate) messages: Vec<MessageOut>,
    /// Where the next browse of the partition starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_offset: Option<u64>,
}

/// `{acked: n}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Acked {
    /// How many deliveries were acknowledged.
    pub(crate) acked: u64,
}

/// `{nacked: n}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Nacked {
    /// How many deliveries failed and will be retried or dead-lettered.
    pub(crate) nacked: u64,
}

/// `{released: n}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Released {
    /// How many deliveries were given back without a failed attempt.
    pub(crate) released: u64,
}

/// `POST /messages` with `messageType: "transaction"`: the half message is stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreparedOut {
    /// The half message's id.
    message_id: String,
    /// Commit or roll back with this id.
    transaction_id: String,
    /// Its topic.
    topic_name: String,
    /// The partition it will be appended to when committed.
    partition: u32,
    /// `prepared`; for a repeat of an idempotency key, the first transaction's state
    /// (`prepared`, `committed` or `rolled_back`).
    #[schema(pattern = "^(prepared|committed|rolled_back)$")]
    status: &'static str,
    /// When the check-back asks the producer, if the transaction is still undecided.
    check_at: DateTime<Utc>,
    /// `true` when this repeated an idempotency key: nothing was stored, and this is the first
    /// transaction. Left out otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

impl From<mq_broker::Prepared> for PreparedOut {
    fn from(prepared: mq_broker::Prepared) -> Self {
        let t = prepared.transaction;
        Self {
            message_id: t.message_id,
            transaction_id: t.transaction_id,
            topic_name: t.topic_name,
            partition: t.partition,
            status: t.state.as_str(),
            check_at: t.check_at,
            duplicate: prepared.duplicate,
        }
    }
}

/// `POST /extend`: push back the redelivery of in-flight messages.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ExtendBody {
    /// The topic the messages came from.
    #[schema(min_length = 1)]
    pub(crate) topic_name: String,
    /// The group they were delivered to.
    #[schema(min_length = 1)]
    pub(crate) group_id: String,
    /// The receipts of the deliveries, as consume gave them; unknown or stale ones count
    /// nothing.
    pub(crate) receipts: Vec<String>,
    /// Milliseconds from now before an unacknowledged message is delivered again (1 to the
    /// group's `ackTimeoutMs`).
    #[schema(minimum = 1)]
    pub(crate) extend_ms: u64,
}

/// `{extended: n}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Extended {
    /// How many deliveries got the new deadline.
    pub(crate) extended: u64,
}
