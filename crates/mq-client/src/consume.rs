//! Consuming: `POST /consume` (with a long poll), `POST /ack`, `POST /nack`, `POST /release`,
//! `POST /extend`, browsing a partition, and the consumers view.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mq_model::{ConsumerStatus, MessageType};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::value::{payload, read_as, ValueEncoding};
use crate::{Client, Paged};

/// A fetch of messages (`POST /consume`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consume {
    /// The topic.
    pub topic_name: String,
    /// The consumer group; it must exist.
    pub group_id: String,
    /// This consumer; a fetch is its heartbeat.
    pub consumer_id: String,
    /// At most this many messages (server default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u32>,
    /// With nothing waiting, wait up to this long for a message (long poll; 0 to 30000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
}

impl Consume {
    /// A fetch by `consumer` of `group` on `topic` with the server's defaults.
    pub fn new(
        topic: impl Into<String>,
        group: impl Into<String>,
        consumer: impl Into<String>,
    ) -> Consume {
        Consume {
            topic_name: topic.into(),
            group_id: group.into(),
            consumer_id: consumer.into(),
            ..Consume::default()
        }
    }

    /// At most `max` messages.
    pub fn max_messages(mut self, max: u32) -> Consume {
        self.max_messages = Some(max);
        self
    }

    /// Waits up to `wait` for a message when none is waiting.
    pub fn wait(mut self, wait: Duration) -> Consume {
        self.wait_ms = Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        self
    }
}

/// A delivered message: what it is (every field of [`StoredMessage`], reached through
/// `Deref`: `delivery.value`, `delivery.bytes()`), and the receipt that settles this delivery.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Delivery {
    /// Settles this delivery: pass it to ack, nack, release or extend.
    pub receipt: String,
    /// 1 for the first delivery to the group, more for retries.
    pub delivery_count: u32,
    /// The message, with the same fields browsing shows.
    #[serde(flatten)]
    pub message: StoredMessage,
}

impl std::ops::Deref for Delivery {
    type Target = StoredMessage;

    fn deref(&self) -> &StoredMessage {
        &self.message
    }
}

/// A message as browsing a partition shows it (no receipt: browsing delivers nothing).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StoredMessage {
    /// `msg_…`.
    pub message_id: String,
    /// The topic.
    pub topic_name: String,
    /// The partition.
    pub partition: u32,
    /// The offset in the partition.
    pub offset: u64,
    /// The key.
    pub key: Option<String>,
    /// The value: the JSON as published; for bytes that are not JSON, a string (see
    /// `value_encoding`).
    pub value: Value,
    /// `Some(Base64)` when `value` is base64 of bytes that are neither JSON nor text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_encoding: Option<ValueEncoding>,
    /// Headers (redriven dead letters carry `x-mq-redriven-from` and others).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// When it was appended.
    pub timestamp: DateTime<Utc>,
    /// Normal, delayed or transactional, as published.
    pub message_type: MessageType,
}

impl StoredMessage {
    /// The payload as bytes: base64-decoded when `value_encoding` says so, a string value's
    /// text (without quotes), any other value as its JSON text.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        payload(&self.value, self.value_encoding)
    }

    /// The value read as `T`.
    pub fn value_as<T: DeserializeOwned>(&self) -> Result<T> {
        read_as(&self.value)
    }
}

#[derive(Debug, Deserialize)]
struct Fetched<T> {
    messages: Vec<T>,
}

/// A page of a partition (`GET /topics/{name}/messages`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Browsed {
    /// The messages, by offset.
    pub messages: Vec<StoredMessage>,
    /// Where the next page starts.
    pub next_offset: u64,
}

/// How a nacked delivery is handled (`POST /nack`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nack {
    /// Why processing failed; kept in the attempt history and as a dead letter's reason.
    pub reason: Option<String>,
    /// Redeliver after this many milliseconds instead of the group's backoff.
    pub delay_ms: Option<u64>,
    /// Do not retry: dead-letter now.
    pub dead_letter: bool,
}

impl Nack {
    /// A nack with a reason.
    pub fn reason(reason: impl Into<String>) -> Nack {
        Nack { reason: Some(reason.into()), ..Nack::default() }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Settle<'a> {
    topic_name: &'a str,
    group_id: &'a str,
    receipts: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dead_letter: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    extend_ms: Option<u64>,
}

impl<'a> Settle<'a> {
    fn new<S: AsRef<str>>(topic_name: &'a str, group_id: &'a str, receipts: &'a [S]) -> Self {
        Settle {
            topic_name,
            group_id,
            receipts: receipts.iter().map(AsRef::as_ref).collect(),
            reason: None,
            delay_ms: None,
            dead_letter: false,
            extend_ms: None,
        }
    }
}

/// Which part of a partition to browse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Browse {
    /// The partition (default 0).
    pub partition: Option<u32>,
    /// The first offset (default 0).
    pub from_offset: Option<u64>,
    /// At most this many messages (default 100).
    pub limit: Option<u32>,
}

/// Which consumers to list (`GET /consumers`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerQuery {
    /// Only this topic's.
    pub topic_name: Option<String>,
    /// Only this group's.
    pub group_id: Option<String>,
    /// The page, from 1.
    pub page: Option<u64>,
    /// Items per page (server default 20, at most 1000).
    pub page_size: Option<u64>,
}

/// A consumer with its assignment and positions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConsumerInfo {
    /// The consumer.
    pub consumer_id: String,
    /// Its group.
    pub group_id: String,
    /// The group's topic.
    pub topic_name: String,
    /// Live (`active`) while its last heartbeat is younger than the session timeout.
    pub status: ConsumerStatus,
    /// Its last fetch.
    pub last_heartbeat: DateTime<Utc>,
    /// Partitions it owns (ordered groups) or reads (shared groups).
    pub assigned_partitions: Vec<u32>,
    /// The group's position in each of those partitions.
    pub partitions: Vec<PartitionPosition>,
    /// Messages not yet delivered, over its partitions.
    pub lag: u64,
    /// When it first fetched.
    pub created_at: DateTime<Utc>,
}

/// A group's position in one partition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PartitionPosition {
    /// The partition.
    pub partition: u32,
    /// Everything before it is acknowledged.
    pub committed_offset: u64,
    /// The next offset to deliver.
    pub next_offset: u64,
    /// The partition's next offset to append.
    pub end_offset: u64,
    /// `end_offset − next_offset`.
    pub lag: u64,
    /// Delivered and not yet acknowledged.
    pub pending: u64,
}

impl Client {
    /// `POST /consume`: up to `max_messages` messages for `consumer_id`, waiting up to
    /// `wait_ms` when none is waiting. The call's timeout is the client's plus the wait. Not
    /// retried once sent: a repeat would leave the first answer's messages in flight until
    /// their ack timeout.
    pub async fn consume(&self, request: &Consume) -> Result<Vec<Delivery>> {
        let wait = Duration::from_millis(request.wait_ms.unwrap_or(0));
        let call = self
            .api(Method::POST, &["consume"])
            .json(request)?
            .timeout(self.timeout().saturating_add(wait));
        let fetched: Fetched<Delivery> = self.data(call).await?;
        Ok(fetched.messages)
    }

    /// `POST /ack`: the deliveries are done; returns how many receipts settled a delivery still
    /// pending (a receipt of an earlier delivery settles nothing). Retried: acking twice is
    /// harmless.
    pub async fn ack<S: AsRef<str>>(
        &self,
        topic: &str,
        group: &str,
        receipts: &[S],
    ) -> Result<u64> {
        let call = self
            .api(Method::POST, &["ack"])
            .json(&Settle::new(topic, group, receipts))?
            .idempotent();
        Ok(self.data::<Counted>(call).await?.acked)
    }

    /// `POST /nack`: the deliveries failed; they come back after the group's backoff (or
    /// `delay_ms`), or become dead letters past the retry limit or with `dead_letter`.
    /// Returns how many were pending. Retried: a repeat finds them no longer in flight.
    pub async fn nack<S: AsRef<str>>(
        &self,
        topic: &str,
        group: &str,
        receipts: &[S],
        nack: &Nack,
    ) -> Result<u64> {
        let body = Settle {
            reason: nack.reason.as_deref(),
            delay_ms: nack.delay_ms,
            dead_letter: nack.dead_letter,
            ..Settle::new(topic, group, receipts)
        };
        let call = self.api(Method::POST, &["nack"]).json(&body)?.idempotent();
        Ok(self.data::<Counted>(call).await?.nacked)
    }

    /// `POST /release`: gives deliveries back without counting a failed attempt (a consumer
    /// shutting down). Returns how many were pending. Retried.
    pub async fn release<S: AsRef<str>>(
        &self,
        topic: &str,
        group: &str,
        receipts: &[S],
    ) -> Result<u64> {
        let call = self
            .api(Method::POST, &["release"])
            .json(&Settle::new(topic, group, receipts))?
            .idempotent();
        Ok(self.data::<Counted>(call).await?.released)
    }

    /// `POST /extend`: pushes back the redelivery of in-flight deliveries to `by` from now (1 ms
    /// to the group's ack timeout), for long jobs. Returns how many were extended. Retried.
    pub async fn extend<S: AsRef<str>>(
        &self,
        topic: &str,
        group: &str,
        receipts: &[S],
        by: Duration,
    ) -> Result<u64> {
        let body = Settle {
            extend_ms: Some(u64::try_from(by.as_millis()).unwrap_or(u64::MAX)),
            ..Settle::new(topic, group, receipts)
        };
        let call = self.api(Method::POST, &["extend"]).json(&body)?.idempotent();
        Ok(self.data::<Counted>(call).await?.extended)
    }

    /// `GET /topics/{name}/messages`: reads a partition without delivering anything.
    pub async fn browse(&self, topic: &str, browse: &Browse) -> Result<Browsed> {
        let call = self
            .api(Method::GET, &["topics", topic, "messages"])
            .query("partition", browse.partition)
            .query("fromOffset", browse.from_offset)
            .query("limit", browse.limit);
        self.data(call).await
    }

    /// `GET /consumers`: consumers that fetched, with their group, assignment and positions.
    pub async fn list_consumers(&self, query: &ConsumerQuery) -> Result<Paged<ConsumerInfo>> {
        let call = self
            .api(Method::GET, &["consumers"])
            .query("topicName", query.topic_name.as_deref())
            .query("groupId", query.group_id.as_deref())
            .query("page", query.page)
            .query("pageSize", query.page_size);
        self.data(call).await
    }
}

/// `{acked: n}`, `{nacked: n}`, `{released: n}` or `{extended: n}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Counted {
    acked: u64,
    nacked: u64,
    released: u64,
    extended: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn deliveries_read_the_api_shape() {
        let delivery: Delivery = serde_json::from_value(json!({
            "messageId": "msg_1", "receipt": "r1", "topicName": "t", "partition": 1,
            "offset": 7, "key": null, "value": "/wAB", "valueEncoding": "base64",
            "headers": {"a": "b"}, "timestamp": "2024-01-15T10:30:00.000Z",
            "deliveryCount": 2, "messageType": "normal"
        }))
        .unwrap();
        assert_eq!(delivery.bytes().unwrap(), [0xff, 0x00, 0x01]);
        assert_eq!(delivery.delivery_count, 2);
        let body =
            serde_json::to_value(Settle { dead_letter: true, ..Settle::new("t", "g", &["r"]) })
                .unwrap();
        assert_eq!(
            body,
            json!({"topicName": "t", "groupId": "g", "receipts": ["r"], "deadLetter": true})
        );
        let consume = Consume::new("t", "g", "c").max_messages(5).wait(Duration::from_secs(1));
        assert_eq!(
            serde_json::to_value(consume).unwrap(),
            json!({"topicName": "t", "groupId": "g", "consumerId": "c", "maxMessages": 5, "waitMs": 1000})
        );
    }

    #[test]
    fn answers_serialize_back_to_the_api_shape() {
        // Answers are `Serialize` too, so that a program (mqctl --json) can pass them on.
        let api = json!({
            "receipt": "r1", "deliveryCount": 1, "messageId": "msg_1", "topicName": "t",
            "partition": 0, "offset": 7, "key": null, "value": {"a": 1}, "headers": {},
            "timestamp": "2024-01-15T10:30:00Z", "messageType": "normal"
        });
        let delivery: Delivery = serde_json::from_value(api.clone()).unwrap();
        assert_eq!(serde_json::to_value(&delivery).unwrap(), api);
    }
}
