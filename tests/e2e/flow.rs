//! The README's flow with the seed's examples verbatim (create topic -> send -> create group
//! -> consume -> ack), and message values of every JSON kind.

use serde_json::{json, Value};

use crate::server::TestServer;
use crate::support::{
    ack, check_time, consume, consume_n, create_group, create_topic, int, receipts, send, text,
};

/// Seed §5.2.2, verbatim.
fn seed_create_topic() -> Value {
    json!({
        "name": "payment-events",
        "description": "支付相关事件主题",
        "partitions": 6,
        "replicationFactor": 3,
        "retentionMs": 604800000,
        "maxMessageSize": 1048576,
        "config": {
            "cleanup.policy": "delete",
            "compression.type": "gzip"
        }
    })
}

/// Seed §5.2.1, verbatim.
fn seed_send_message() -> Value {
    json!({
        "topicName": "user-events",
        "key": "user_123456",
        "value": {
            "eventType": "user_registered",
            "userId": "123456",
            "timestamp": "2024-01-15T10:30:00Z",
            "data": {
                "email": "user@example.com",
                "username": "testuser"
            }
        },
        "headers": {
            "source": "user-service",
            "version": "1.0"
        },
        "messageType": "normal",
        "delaySeconds": 0
    })
}

pub async fn readme_flow_works_as_written(server: TestServer) {
    let api = server.api();

    // Create a topic: the seed's body, the seed's answer.
    let created = api.post_ok("/topics", &seed_create_topic()).await;
    assert!(!text(&created, "topicId").is_empty(), "topicId in {created}");
    assert_eq!(created["name"], "payment-events", "{created}");
    assert_eq!(created["status"], "active", "{created}");
    check_time(&created, "createdAt");
    let topic = api.get_ok("/topics/payment-events").await;
    for (field, expected) in [
        ("name", json!("payment-events")),
        ("description", json!("支付相关事件主题")),
        ("partitions", json!(6)),
        ("replicationFactor", json!(3)),
        ("retentionMs", json!(604800000)),
        ("maxMessageSize", json!(1048576)),
        ("config", json!({"cleanup.policy": "delete", "compression.type": "gzip"})),
        ("status", json!("active")),
    ] {
        assert_eq!(topic[field], expected, "GET /topics/payment-events: `{field}` in {topic}");
    }

    // Send the seed's message to the topic it names.
    create_topic(&api, "user-events", 3).await;
    let sent = api.post_ok("/messages", &seed_send_message()).await;
    let message_id = text(&sent, "messageId");
    assert!(!message_id.is_empty(), "{sent}");
    assert_eq!(sent["topicName"], "user-events", "{sent}");
    let partition = int(&sent, "partition");
    assert!(partition < 3, "partition {partition} of a 3-partition topic: {sent}");
    assert_eq!(int(&sent, "offset"), 0, "first message of its partition: {sent}");
    check_time(&sent, "timestamp");

    // Create a group and consume: every field comes back as sent.
    create_group(&api, "user-events", "readme-group", Value::Null).await;
    let messages = consume(&api, "user-events", "readme-group", "readme-consumer", 10, 5_000).await;
    assert_eq!(messages.len(), 1, "the one message sent: {messages:?}");
    let got = &messages[0];
    let seed = seed_send_message();
    assert_eq!(got["messageId"], json!(message_id), "{got}");
    assert_eq!(got["topicName"], "user-events", "{got}");
    assert_eq!(got["partition"], sent["partition"], "{got}");
    assert_eq!(got["offset"], sent["offset"], "{got}");
    assert_eq!(got["key"], seed["key"], "{got}");
    assert_eq!(got["value"], seed["value"], "value deep-equal: {got}");
    assert_eq!(got["headers"], seed["headers"], "{got}");
    assert_eq!(int(got, "deliveryCount"), 1, "{got}");
    assert_eq!(got["messageType"], "normal", "{got}");
    let sent_at = chrono::DateTime::parse_from_rfc3339(&text(&sent, "timestamp")).unwrap();
    let got_at = chrono::DateTime::parse_from_rfc3339(&text(got, "timestamp")).unwrap();
    assert_eq!(got_at, sent_at, "consume's timestamp should be the send's: {got} vs {sent}");

    // Ack counts settled receipts once.
    let receipts = receipts(&messages);
    assert_eq!(ack(&api, "user-events", "readme-group", &receipts).await, 1);
    assert_eq!(ack(&api, "user-events", "readme-group", &receipts).await, 0, "acked twice");
    let again = consume(&api, "user-events", "readme-group", "readme-consumer", 10, 0).await;
    assert!(again.is_empty(), "an acked message is not delivered again: {again:?}");
    // Receipts are opaque to a client, which cannot tell one the server never issued from
    // one it forgot: both are unknown, "not counted and not an error".
    let unknown = vec!["no-such-receipt".to_owned()];
    assert_eq!(ack(&api, "user-events", "readme-group", &unknown).await, 0, "unknown receipt");
}

pub async fn values_of_every_json_kind_come_back_deep_equal(server: TestServer) {
    let api = server.api();
    let values = [
        json!({"nested": {"list": [1, 2, {"deep": true}]}, "unicode": "héllo 你好 ✓"}),
        json!({}),
        json!([1, "two", null, {"x": false}, [3.5]]),
        json!([]),
        json!("a plain string with \"quotes\" and a \\ backslash"),
        json!(""),
        json!(42),
        json!(-7),
        json!(3.5),
        json!(1234567890123_i64),
        json!(true),
        json!(false),
        json!(null),
    ];
    create_topic(&api, "kinds", 1).await;
    let mut sent_ids = Vec::new();
    for value in &values {
        sent_ids.push(text(&send(&api, "kinds", None, value.clone()).await, "messageId"));
    }
    create_group(&api, "kinds", "g", Value::Null).await;
    let got =
        consume_n(&api, "kinds", "g", "c", values.len(), std::time::Duration::from_secs(20), true)
            .await;
    for (value, id) in values.iter().zip(&sent_ids) {
        let message = got
            .iter()
            .find(|m| m["messageId"] == json!(id))
            .unwrap_or_else(|| panic!("message {id} (value {value}) was not delivered"));
        assert_eq!(&message["value"], value, "value should come back deep-equal: {message}");
    }
    // Browsing sees the same values, in offset order on the one partition.
    let browsed = crate::support::browse(&api, "kinds", 0, 0, 100).await;
    let browsed_values: Vec<&Value> = browsed.iter().map(|m| &m["value"]).collect();
    let expected: Vec<&Value> = values.iter().collect();
    assert_eq!(browsed_values, expected, "browse of partition 0");
}
