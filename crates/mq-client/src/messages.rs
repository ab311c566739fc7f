//! Publishing: `POST /messages` (immediate, delayed, or a transaction's half message),
//! `POST /messages/batch`, and delayed messages after publishing: list, cancel, reschedule.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use mq_model::MessageType;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::Client;

/// A message to publish: a JSON value with an optional key, headers and delay.
///
/// ```
/// use std::time::Duration;
/// use mq_client::Publish;
/// use serde_json::json;
///
/// let message = Publish::new(json!({"orderId": 42}))
///     .key("customer-7")
///     .header("source", "checkout")
///     .delay(Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Publish {
    /// The value, any JSON (`null` included); it comes back exactly as sent.
    pub value: Value,
    /// Messages with the same key go to the same partition, so they stay in order.
    pub key: Option<String>,
    /// Headers delivered with the message.
    pub headers: BTreeMap<String, String>,
    /// When given, the message is scheduled (`messageType: "delay"`) and delivered then.
    pub delay: Option<Delay>,
    /// Makes publishing it safe to repeat (`idempotencyKey`, 1 to 128 bytes): within the
    /// topic's window the server stores a message with this key once and answers repeats with
    /// the first publish (`duplicate: true`). When `None`, [`Client::publish`] and the other
    /// publishing calls give the message a fresh key of their own (a UUID), so that they can
    /// retry it after a broken connection, a timeout or a 503.
    pub idempotency_key: Option<String>,
}

/// When a delayed message becomes visible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// This long from now (`delaySeconds`; fractions of a second are kept).
    After(Duration),
    /// At this time (`deliverAt`).
    At(DateTime<Utc>),
}

impl Publish {
    /// A message with `value` and nothing else.
    pub fn new(value: impl Into<Value>) -> Publish {
        Publish { value: value.into(), ..Publish::default() }
    }

    /// A message whose value is `value` serialized as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Publish> {
        let value = serde_json::to_value(value)
            .map_err(|source| Error::Encode { what: "message value", source })?;
        Ok(Publish::new(value))
    }

    /// With a key.
    pub fn key(mut self, key: impl Into<String>) -> Publish {
        self.key = Some(key.into());
        self
    }

    /// With one more header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Publish {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// With an idempotency key of the caller's: retries of the same logical message, even from
    /// another process, are then stored once.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Publish {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Delivered `delay` from now.
    pub fn delay(mut self, delay: Duration) -> Publish {
        self.delay = Some(Delay::After(delay));
        self
    }

    /// Delivered at `at`.
    pub fn deliver_at(mut self, at: DateTime<Utc>) -> Publish {
        self.delay = Some(Delay::At(at));
        self
    }

    /// The message's idempotency key, or a fresh one for a message without.
    fn key_for_retries(&self) -> String {
        self.idempotency_key.clone().unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
    }

    fn wire<'a>(
        &'a self,
        topic: Option<&'a str>,
        txn: Option<&'a TxnOptions>,
        idempotency_key: &'a str,
    ) -> WireMessage<'a> {
        let (delay_seconds, deliver_at) = match self.delay {
            None => (None, None),
            Some(delay) => delay.fields(),
        };
        let message_type = match (txn, self.delay) {
            (Some(_), _) => Some(MessageType::Transaction),
            (None, Some(_)) => Some(MessageType::Delay),
            (None, None) => None,
        };
        WireMessage {
            topic_name: topic,
            key: self.key.as_deref(),
            value: &self.value,
            headers: &self.headers,
            message_type,
            delay_seconds,
            deliver_at,
            checkback_url: txn.and_then(|t| t.checkback_url.as_deref()),
            transaction_timeout_seconds: txn.and_then(|t| t.timeout).map(|t| t.as_secs_f64()),
            idempotency_key,
        }
    }
}

impl Delay {
    /// `delaySeconds` or `deliverAt`.
    fn fields(self) -> (Option<f64>, Option<String>) {
        match self {
            Delay::After(after) => (Some(after.as_secs_f64()), None),
            Delay::At(at) => (None, Some(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))),
        }
    }
}

/// Check-back settings of a transaction's half message ([`Client::prepare_transaction`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TxnOptions {
    /// Where the server asks about a transaction still undecided after `timeout`
    /// (`checkbackUrl`; the server's allow-list applies).
    pub checkback_url: Option<String>,
    /// When the first check-back is due (`transactionTimeoutSeconds`; the server's default
    /// when absent).
    pub timeout: Option<Duration>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    topic_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    value: &'a Value,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_type: Option<MessageType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deliver_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkback_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_timeout_seconds: Option<f64>,
    idempotency_key: &'a str,
}

/// Where a published message landed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Published {
    /// `msg_…`.
    pub message_id: String,
    /// The topic.
    #[serde(default)]
    pub topic_name: String,
    /// The partition it went to.
    pub partition: u32,
    /// Its offset in the partition; `None` while scheduled.
    pub offset: Option<u64>,
    /// When it was appended; `None` while scheduled.
    pub timestamp: Option<DateTime<Utc>>,
    /// Appended, or scheduled for later.
    pub status: PublishStatus,
    /// When a scheduled message becomes visible.
    pub deliver_at: Option<DateTime<Utc>>,
    /// True when this publish repeated an idempotency key (a retry of one that reached the
    /// server): nothing new was stored, and the fields are the first publish's.
    #[serde(default)]
    pub duplicate: bool,
}

/// Whether a published message is in its partition already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PublishStatus {
    /// In its partition, with an offset; consumers can see it.
    Appended,
    /// Waiting for its delivery time.
    Scheduled,
}

#[derive(Debug, Deserialize)]
struct BatchOut {
    results: Vec<Published>,
}

/// A transaction's half message, stored until it is committed or rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Prepared {
    /// The message id it will have once committed.
    pub message_id: String,
    /// `txn_…`: what to commit or roll back.
    pub transaction_id: String,
    /// The topic.
    pub topic_name: String,
    /// The partition it will go to.
    pub partition: u32,
    /// When the server first asks the check-back URL, if still undecided.
    pub check_at: DateTime<Utc>,
    /// True when this repeated an idempotency key: this is the transaction prepared first.
    #[serde(default)]
    pub duplicate: bool,
}

/// A rescheduled message (`PUT /messages/{messageId}/schedule`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Scheduled {
    /// The message.
    pub message_id: String,
    /// Its topic.
    pub topic_name: String,
    /// Its partition.
    pub partition: u32,
    /// When it becomes visible now.
    pub deliver_at: DateTime<Utc>,
}

/// A page of a topic's scheduled messages, earliest first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ScheduledPage {
    /// The messages.
    pub items: Vec<ScheduledMessage>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A message waiting for its delivery time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ScheduledMessage {
    /// The message.
    pub message_id: String,
    /// Its partition.
    pub partition: u32,
    /// Its key.
    pub key: Option<String>,
    /// When it becomes visible.
    pub deliver_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RescheduleBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    delay_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deliver_at: Option<String>,
}

impl Client {
    /// `POST /messages`: publishes one message to `topic`, at once or, with a delay, when due.
    /// Retried after a broken connection, a timeout or a 503 with the same idempotency key
    /// (the message's, or one made for this call), so the message is stored once: a retry of
    /// a publish that did reach the server answers it with `duplicate: true`.
    pub async fn publish(&self, topic: &str, message: &Publish) -> Result<Published> {
        let key = message.key_for_retries();
        let call =
            self.api(Method::POST, &["messages"]).json(&message.wire(Some(topic), None, &key))?;
        self.data(call.idempotent()).await
    }

    /// `POST /messages/batch`: publishes 1 to 1000 messages to `topic`, all or none; the results
    /// are in request order. Retried as [`publish`](Self::publish) is: every message carries an
    /// idempotency key (its own or one made for this call).
    pub async fn publish_batch(&self, topic: &str, messages: &[Publish]) -> Result<Vec<Published>> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Body<'a> {
            topic_name: &'a str,
            messages: Vec<WireMessage<'a>>,
        }
        let keys: Vec<String> = messages.iter().map(Publish::key_for_retries).collect();
        let body = Body {
            topic_name: topic,
            messages: messages.iter().zip(&keys).map(|(m, key)| m.wire(None, None, key)).collect(),
        };
        let call = self.api(Method::POST, &["messages", "batch"]).json(&body)?;
        let out: BatchOut = self.data(call.idempotent()).await?;
        Ok(out
            .results
            .into_iter()
            .map(|p| Published { topic_name: topic.to_owned(), ..p })
            .collect())
    }

    /// `POST /messages` with `messageType: "transaction"`: stores `message` as a half message,
    /// invisible until [`Client::commit_transaction`]. A message with a delay is refused.
    /// Retried as [`publish`](Self::publish) is; a retry of one that reached the server
    /// answers the transaction prepared first (`duplicate: true`).
    pub async fn prepare_transaction(
        &self,
        topic: &str,
        message: &Publish,
        options: &TxnOptions,
    ) -> Result<Prepared> {
        let key = message.key_for_retries();
        let body = message.wire(Some(topic), Some(options), &key);
        self.data(self.api(Method::POST, &["messages"]).json(&body)?.idempotent()).await
    }

    /// `GET /topics/{name}/scheduled`: up to `limit` (default 100) scheduled messages of
    /// `topic` after the cursor `after`.
    pub async fn list_scheduled(
        &self,
        topic: &str,
        limit: Option<u32>,
        after: Option<&str>,
    ) -> Result<ScheduledPage> {
        let call = self
            .api(Method::GET, &["topics", topic, "scheduled"])
            .query("limit", limit)
            .query("after", after);
        self.data(call).await
    }

    /// `DELETE /messages/{messageId}`: the scheduled message will not be delivered. A 404 when
    /// it fired already (or, after a retry, when the first attempt cancelled it).
    pub async fn cancel_scheduled(&self, message_id: &str) -> Result<()> {
        let _: Value = self.data(self.api(Method::DELETE, &["messages", message_id])).await?;
        Ok(())
    }

    /// `PUT /messages/{messageId}/schedule`: moves a scheduled message to another time.
    pub async fn reschedule(&self, message_id: &str, delay: Delay) -> Result<Scheduled> {
        let (delay_seconds, deliver_at) = delay.fields();
        let call = self
            .api(Method::PUT, &["messages", message_id, "schedule"])
            .json(&RescheduleBody { delay_seconds, deliver_at })?;
        self.data(call).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wire(message: &Publish, topic: Option<&str>, txn: Option<&TxnOptions>) -> Value {
        serde_json::to_value(message.wire(topic, txn, "ik")).unwrap()
    }

    #[test]
    fn messages_have_the_api_shape() {
        assert_eq!(
            wire(&Publish::new(json!(null)), Some("t"), None),
            json!({"topicName": "t", "value": null, "idempotencyKey": "ik"})
        );
        let full = Publish::new(json!({"a": [1]}))
            .key("k")
            .header("h", "v")
            .delay(Duration::from_millis(1500));
        assert_eq!(
            wire(&full, None, None),
            json!({"key": "k", "value": {"a": [1]}, "headers": {"h": "v"}, "messageType": "delay", "delaySeconds": 1.5, "idempotencyKey": "ik"})
        );
        let at =
            DateTime::parse_from_rfc3339("2030-01-02T03:04:05.250Z").unwrap().with_timezone(&Utc);
        assert_eq!(
            wire(&Publish::new(1).deliver_at(at), Some("t"), None),
            json!({"topicName": "t", "value": 1, "messageType": "delay", "deliverAt": "2030-01-02T03:04:05.250Z", "idempotencyKey": "ik"})
        );
        let txn = TxnOptions {
            checkback_url: Some("http://127.0.0.1:9/check".into()),
            timeout: Some(Duration::from_secs(5)),
        };
        assert_eq!(
            wire(&Publish::new("x"), Some("t"), Some(&txn)),
            json!({"topicName": "t", "value": "x", "messageType": "transaction", "checkbackUrl": "http://127.0.0.1:9/check", "transactionTimeoutSeconds": 5.0, "idempotencyKey": "ik"})
        );
        #[derive(Serialize)]
        struct Order {
            id: u32,
        }
        assert_eq!(Publish::json(&Order { id: 7 }).unwrap().value, json!({"id": 7}));
        // A message without a key gets a fresh one per call, one with a key keeps it.
        let keyless = Publish::new(1);
        assert_ne!(keyless.key_for_retries(), keyless.key_for_retries());
        assert_eq!(Publish::new(1).idempotency_key("mine").key_for_retries(), "mine");
    }

    #[test]
    fn published_reads_both_statuses() {
        let appended: Published = serde_json::from_value(json!({
            "messageId": "msg_1", "topicName": "t", "partition": 2, "offset": 5,
            "timestamp": "2024-01-15T10:30:00.000Z", "status": "appended"
        }))
        .unwrap();
        assert_eq!((appended.offset, appended.status), (Some(5), PublishStatus::Appended));
        let scheduled: Published = serde_json::from_value(json!({
            "messageId": "msg_2", "partition": 0, "status": "scheduled",
            "deliverAt": "2024-01-15T11:00:00Z"
        }))
        .unwrap();
        assert_eq!((scheduled.offset, scheduled.status), (None, PublishStatus::Scheduled));
        assert!(scheduled.deliver_at.is_some() && scheduled.timestamp.is_none());
    }
}
