//! The API operations the tests repeat (create a topic, send, create a group, consume, ack),
//! each asserting success, and checks of the JSON shapes issue 3 specifies.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::client::Api;

/// Creates a topic with `partitions` and every other setting at its default; returns `data`.
pub async fn create_topic(api: &Api, name: &str, partitions: u32) -> Value {
    api.post_ok("/topics", &json!({"name": name, "partitions": partitions})).await
}

/// Sends one message; returns `data` (`{messageId, topicName, partition, offset, timestamp}`).
pub async fn send(api: &Api, topic: &str, key: Option<&str>, value: Value) -> Value {
    let mut body = json!({"topicName": topic, "value": value});
    if let Some(key) = key {
        body["key"] = json!(key);
    }
    api.post_ok("/messages", &body).await
}

/// Creates a consumer group reading from the earliest message, with no backoff before
/// retries (a nacked message is available at once) and `extra` fields (`deliveryMode`,
/// `ackTimeoutMs`, `retryPolicy`, ...) merged over that; returns `data`.
pub async fn create_group(api: &Api, topic: &str, group: &str, extra: Value) -> Value {
    let mut body = json!({
        "groupId": group,
        "topicName": topic,
        "startFrom": "earliest",
        "retryPolicy": {"initialBackoffMs": 0},
    });
    merge(&mut body, extra);
    api.post_ok("/consumer-groups", &body).await
}

/// One `POST /consume`; returns `data.messages`, each checked by [`check_delivered`].
pub async fn consume(
    api: &Api,
    topic: &str,
    group: &str,
    consumer: &str,
    max_messages: u32,
    wait_ms: u64,
) -> Vec<Value> {
    let body = json!({
        "topicName": topic,
        "groupId": group,
        "consumerId": consumer,
        "maxMessages": max_messages,
        "waitMs": wait_ms,
    });
    let data = api.post_ok("/consume", &body).await;
    let messages = data["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("consume: data.messages should be an array: {data}"))
        .clone();
    assert!(
        messages.len() <= max_messages as usize,
        "consume returned {} messages for maxMessages {max_messages}",
        messages.len()
    );
    for message in &messages {
        check_delivered(message, topic);
    }
    messages
}

/// Consumes as `consumer` until `count` messages arrived or `within` passed, acking each batch
/// at once when `ack` is set; returns the messages in delivery order.
pub async fn consume_n(
    api: &Api,
    topic: &str,
    group: &str,
    consumer: &str,
    count: usize,
    within: Duration,
    ack: bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    while received.len() < count && Instant::now() < deadline {
        let batch = consume(api, topic, group, consumer, 100, 500).await;
        if ack && !batch.is_empty() {
            let acked = ack_all(api, topic, group, &batch).await;
            assert_eq!(acked, batch.len() as u64, "every fresh receipt should be acked");
        }
        received.extend(batch);
    }
    assert_eq!(
        received.len(),
        count,
        "{consumer} of group {group} should receive {count} messages within {within:?}, got {}",
        received.len()
    );
    received
}

/// Acks the receipts of `messages`; returns `data.acked`.
pub async fn ack_all(api: &Api, topic: &str, group: &str, messages: &[Value]) -> u64 {
    ack(api, topic, group, &receipts(messages)).await
}

/// `POST /ack`; returns `data.acked`.
pub async fn ack(api: &Api, topic: &str, group: &str, receipts: &[String]) -> u64 {
    let body = json!({"topicName": topic, "groupId": group, "receipts": receipts});
    let data = api.post_ok("/ack", &body).await;
    data["acked"].as_u64().unwrap_or_else(|| panic!("ack: data.acked should be a count: {data}"))
}

/// `POST /nack`; returns `data.nacked`.
pub async fn nack(api: &Api, topic: &str, group: &str, receipts: &[String]) -> u64 {
    let body = json!({"topicName": topic, "groupId": group, "receipts": receipts});
    let data = api.post_ok("/nack", &body).await;
    data["nacked"].as_u64().unwrap_or_else(|| panic!("nack: data.nacked should be a count: {data}"))
}

/// `GET /topics/{topic}/messages`: the messages of one partition from `from`, and `nextOffset`.
pub async fn browse(api: &Api, topic: &str, partition: u32, from: u64, limit: u32) -> Vec<Value> {
    let path =
        format!("/topics/{topic}/messages?partition={partition}&fromOffset={from}&limit={limit}");
    let data = api.get_ok(&path).await;
    assert!(data.get("nextOffset").is_some(), "browse: data should have nextOffset: {data}");
    let messages = data["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("browse: data.messages should be an array: {data}"))
        .clone();
    for message in &messages {
        check_stored(message, topic);
        assert_eq!(int(message, "partition"), u64::from(partition), "browsed {message}");
    }
    messages
}

/// The receipts of delivered messages.
pub fn receipts(messages: &[Value]) -> Vec<String> {
    messages.iter().map(|m| text(m, "receipt")).collect()
}

/// A string field, asserted to be there.
pub fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` should be a string in {value}"))
        .to_owned()
}

/// A non-negative integer field, asserted to be there.
pub fn int(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("`{field}` should be a non-negative integer in {value}"))
}

/// Asserts that `field` is an RFC 3339 time, as the seed's examples show.
pub fn check_time(value: &Value, field: &str) {
    let time = text(value, field);
    assert!(
        chrono::DateTime::parse_from_rfc3339(&time).is_ok(),
        "`{field}` should be an RFC 3339 time, got {time:?} in {value}"
    );
}

/// Asserts the shape of a consumed message (issue 3, `POST /consume`): `messageId`,
/// `receipt`, `topicName`, `partition`, `offset`, `key`, `value`, `headers`, `timestamp`,
/// `deliveryCount` (at least 1) and `messageType`.
pub fn check_delivered(message: &Value, topic: &str) {
    assert!(!text(message, "receipt").is_empty(), "empty receipt in {message}");
    check_stored(message, topic);
    assert!(int(message, "deliveryCount") >= 1, "deliveryCount should be >= 1 in {message}");
}

/// Asserts the fields a delivered and a browsed message share (everything but `receipt` and
/// `deliveryCount`).
pub fn check_stored(message: &Value, topic: &str) {
    assert!(!text(message, "messageId").is_empty(), "empty messageId in {message}");
    assert_eq!(text(message, "topicName"), topic, "topicName of {message}");
    int(message, "partition");
    int(message, "offset");
    assert!(
        message.get("key").is_some_and(|k| k.is_string() || k.is_null()),
        "`key` should be a string or null in {message}"
    );
    assert!(message.get("value").is_some(), "`value` missing in {message}");
    assert!(
        message.get("headers").is_some_and(|h| h.is_object() || h.is_null()),
        "`headers` should be an object in {message}"
    );
    check_time(message, "timestamp");
    assert!(!text(message, "messageType").is_empty(), "empty messageType in {message}");
}

/// The `messageId`s of messages, in order.
pub fn ids(messages: &[Value]) -> Vec<String> {
    messages.iter().map(|m| text(m, "messageId")).collect()
}

/// Merges the fields of `extra` (an object, or null) into `base` (an object).
pub fn merge(base: &mut Value, extra: Value) {
    let Value::Object(extra) = extra else {
        assert!(extra.is_null(), "merge: extra should be an object or null: {extra}");
        return;
    };
    let base: &mut Map<String, Value> = base.as_object_mut().expect("merge: base is an object");
    base.extend(extra);
}
