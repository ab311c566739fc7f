//! Sending and consuming: the design's §5.2.1 and §5.2.2 bodies verbatim, the value round trip
//! of every JSON kind, batches, browse, ack and nack, long polls.

use std::time::{Duration, Instant};

use mq_broker::OutgoingMessage;
use serde_json::{json, Value};

use crate::harness::api;

/// Design §5.2.2, verbatim.
const SEED_CREATE_TOPIC: &str = r#"{
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
}"#;

/// Design §5.2.1, verbatim.
const SEED_SEND: &str = r#"{
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
}"#;

fn is_time(value: &Value) -> bool {
    value.as_str().is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
}

#[actix_web::test]
async fn seed_create_topic_body_works_verbatim() {
    let api = api().await;
    let reply = api.call("POST", "/api/v1/mq/topics", Some(SEED_CREATE_TOPIC)).await.ok();
    let data = reply.data().as_object().unwrap();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["createdAt", "name", "status", "topicId"]);
    assert!(data["topicId"].as_str().unwrap().starts_with("topic_"));
    assert_eq!(data["name"], "payment-events");
    assert_eq!(data["status"], "active");
    assert!(is_time(&data["createdAt"]));

    let topic = api.get("/api/v1/mq/topics/payment-events").await.ok();
    let t = topic.data();
    assert_eq!(t["id"], data["topicId"]);
    assert_eq!(t["description"], "支付相关事件主题");
    assert_eq!(t["partitions"], 6);
    assert_eq!(t["replicationFactor"], 3);
    assert_eq!(t["retentionMs"], 604_800_000);
    assert_eq!(t["maxMessageSize"], 1_048_576);
    assert_eq!(t["config"], json!({"cleanup.policy": "delete", "compression.type": "gzip"}));
}

#[actix_web::test]
async fn seed_send_body_works_verbatim_and_round_trips() {
    let api = api().await;
    api.topic("user-events", 3).await;
    api.group("user-events", "user-service-group").await;
    let reply = api.call("POST", "/api/v1/mq/messages", Some(SEED_SEND)).await.ok();
    let sent = reply.data();
    assert!(sent["messageId"].as_str().unwrap().starts_with("msg_"), "{}", reply.text);
    assert_eq!(sent["topicName"], "user-events");
    assert!(sent["partition"].as_u64().unwrap() < 3);
    assert_eq!(sent["offset"], 0);
    assert!(is_time(&sent["timestamp"]));

    let got = api.consume("user-events", "user-service-group", "worker-1", 10).await;
    let messages = got.data()["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{}", got.text);
    let m = &messages[0];
    let seed: Value = serde_json::from_str(SEED_SEND).unwrap();
    assert_eq!(m["messageId"], sent["messageId"]);
    assert_eq!(m["topicName"], "user-events");
    assert_eq!(m["partition"], sent["partition"]);
    assert_eq!(m["offset"], 0);
    assert_eq!(m["key"], "user_123456");
    assert_eq!(m["value"], seed["value"]);
    assert_eq!(m["headers"], seed["headers"]);
    assert_eq!(m["timestamp"], sent["timestamp"]);
    assert_eq!(m["deliveryCount"], 1);
    assert_eq!(m["messageType"], "normal");
    assert!(m.get("valueEncoding").is_none());
    let receipt = m["receipt"].as_str().unwrap();

    let settle =
        json!({"topicName": "user-events", "groupId": "user-service-group", "receipts": [receipt]});
    assert_eq!(api.post("/api/v1/mq/ack", &settle).await.ok().data(), &json!({"acked": 1}));
    assert_eq!(
        api.post("/api/v1/mq/ack", &settle).await.ok().data(),
        &json!({"acked": 0}),
        "settled receipts are not counted"
    );
}

#[actix_web::test]
async fn every_json_kind_comes_back_deep_equal() {
    let api = api().await;
    api.topic("kinds", 1).await;
    api.group("kinds", "g").await;
    let values = [
        "null",
        "true",
        "false",
        "0",
        "-12.5",
        "1e300",
        "123456789012345678901234567890",
        r#""""#,
        r#""text with \"quotes\", \\ backslash, \n newline, é and 😀""#,
        "[]",
        "{}",
        r#"[1, "two", [3], {"four": 4}, null]"#,
        r#"{ "z": 1, "a": { "nested": [true, false] }, "m": null }"#,
    ];
    for value in values {
        let body = format!(r#"{{"topicName": "kinds", "value": {value}}}"#);
        api.call("POST", "/api/v1/mq/messages", Some(&body)).await.ok();
    }
    let got = api.consume("kinds", "g", "c", 100).await;
    let messages = got.data()["messages"].as_array().unwrap();
    assert_eq!(messages.len(), values.len(), "{}", got.text);
    for (message, sent) in messages.iter().zip(values) {
        let sent: Value = serde_json::from_str(sent).unwrap();
        assert_eq!(message["value"], sent, "{}", got.text);
        assert_eq!(message["key"], Value::Null);
        assert_eq!(message["headers"], json!({}));
    }
    // What `Value` cannot see: digits beyond f64 and the order of keys survive as sent.
    assert!(got.text.contains(r#""value":123456789012345678901234567890,"#), "{}", got.text);
    assert!(
        got.text.contains(r#""value":{"z":1,"a":{"nested":[true,false]},"m":null}"#),
        "{}",
        got.text
    );
}

#[actix_web::test]
async fn max_message_size_counts_the_compact_json_text() {
    let api = api().await;
    api.post("/api/v1/mq/topics", &json!({"name": "small", "maxMessageSize": 10})).await.ok();
    // `[1,2,3,44]` is 10 bytes; the spaces around it are not stored.
    let body = r#"{"topicName": "small", "value": [ 1, 2, 3, 44 ] }"#;
    api.call("POST", "/api/v1/mq/messages", Some(body)).await.ok();
    let body = r#"{"topicName": "small", "value": [1,2,3,444]}"#;
    let reply = api.call("POST", "/api/v1/mq/messages", Some(body)).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert!(reply.message().contains("11 bytes"), "{}", reply.text);
    let browse = api.get("/api/v1/mq/topics/small/messages").await.ok();
    assert_eq!(browse.data()["messages"][0]["value"], json!([1, 2, 3, 44]));
}

#[actix_web::test]
async fn bytes_from_the_rust_library_show_as_text_or_base64() {
    let api = api().await;
    api.topic("raw", 1).await;
    api.group("raw", "g").await;
    api.broker
        .publish("raw", OutgoingMessage::new(b"plain text, not JSON".to_vec()))
        .await
        .unwrap();
    api.broker.publish("raw", OutgoingMessage::new(vec![0xff, 0x00, 0x01])).await.unwrap();
    api.broker.publish("raw", OutgoingMessage::new(br#"{"json": true}"#.to_vec())).await.unwrap();
    let got = api.consume("raw", "g", "c", 10).await;
    let m = got.data()["messages"].as_array().unwrap();
    assert_eq!(m[0]["value"], "plain text, not JSON");
    assert!(m[0].get("valueEncoding").is_none());
    assert_eq!(m[1]["value"], "/wAB");
    assert_eq!(m[1]["valueEncoding"], "base64");
    assert_eq!(m[2]["value"], json!({"json": true}));
}

#[actix_web::test]
async fn batches_answer_in_request_order_and_browse_shows_them() {
    let api = api().await;
    api.topic("b", 4).await;
    let messages: Vec<Value> = (0..30)
        .map(|i| {
            let headers = json!({"i": i.to_string()});
            json!({"key": format!("k{}", i % 5), "value": {"n": i}, "headers": headers})
        })
        .collect();
    let reply = api
        .post("/api/v1/mq/messages/batch", &json!({"topicName": "b", "messages": messages}))
        .await
        .ok();
    let results = reply.data()["results"].as_array().unwrap();
    assert_eq!(results.len(), 30);
    let mut offsets = std::collections::BTreeMap::<u64, Vec<u64>>::new();
    for (i, r) in results.iter().enumerate() {
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["messageId", "offset", "partition", "status", "timestamp"]);
        assert_eq!(r["status"], "appended");
        // Same key, same partition.
        assert_eq!(r["partition"], results[i % 5]["partition"]);
        offsets
            .entry(r["partition"].as_u64().unwrap())
            .or_default()
            .push(r["offset"].as_u64().unwrap());
    }
    for (partition, offsets) in &offsets {
        assert_eq!(
            offsets,
            &(0..offsets.len() as u64).collect::<Vec<_>>(),
            "partition {partition} in request order"
        );
    }

    let (&partition, partition_offsets) = offsets.iter().next().unwrap();
    let path = format!("/api/v1/mq/topics/b/messages?partition={partition}&fromOffset=1&limit=2");
    let browse = api.get(&path).await.ok();
    let page = browse.data()["messages"].as_array().unwrap();
    assert_eq!(page.len(), 2.min(partition_offsets.len() - 1));
    assert_eq!(page[0]["offset"], 1);
    assert_eq!(browse.data()["nextOffset"], 1 + page.len() as u64);
    let mut keys: Vec<&str> = page[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "headers",
            "key",
            "messageId",
            "messageType",
            "offset",
            "partition",
            "timestamp",
            "topicName",
            "value"
        ]
    );
    let n = page[0]["value"]["n"].as_u64().unwrap() as usize;
    assert_eq!(page[0]["messageId"], results[n]["messageId"]);
    assert_eq!(page[0]["headers"]["i"], n.to_string());

    // Defaults: partition 0 from offset 0; past the end is empty and keeps the offset.
    let all = api.get("/api/v1/mq/topics/b/messages").await.ok();
    assert_eq!(
        all.data()["messages"].as_array().unwrap().len() as u64,
        all.data()["nextOffset"].as_u64().unwrap()
    );
    let past = api.get("/api/v1/mq/topics/b/messages?fromOffset=500").await.ok();
    assert_eq!(past.data(), &json!({"messages": [], "nextOffset": 500}));
}

#[actix_web::test]
async fn nack_with_no_delay_redelivers_at_once_with_a_higher_count() {
    let api = api().await;
    api.topic("n", 1).await;
    api.group("n", "g").await;
    api.post("/api/v1/mq/messages", &json!({"topicName": "n", "value": "again"})).await.ok();
    let first = api.consume("n", "g", "c", 1).await;
    let receipt = first.data()["messages"][0]["receipt"].clone();
    let settle = json!({
        "topicName": "n", "groupId": "g", "receipts": [receipt], "reason": "not now", "delayMs": 0
    });
    assert_eq!(api.post("/api/v1/mq/nack", &settle).await.ok().data(), &json!({"nacked": 1}));
    let again = api.consume("n", "g", "c", 1).await;
    assert_eq!(again.data()["messages"][0]["value"], "again");
    assert_eq!(again.data()["messages"][0]["deliveryCount"], 2);
}

#[actix_web::test]
async fn consume_defaults_and_long_polls() {
    let api = api().await;
    api.topic("w", 1).await;
    api.group("w", "g").await;
    let body = json!({"topicName": "w", "groupId": "g", "consumerId": "c"});
    // Nothing there and no waitMs: at once, empty.
    let reply = api.post("/api/v1/mq/consume", &body).await.ok();
    assert_eq!(reply.data(), &json!({"messages": []}));
    // maxMessages defaults to 10.
    for i in 0..12 {
        api.post("/api/v1/mq/messages", &json!({"topicName": "w", "value": i})).await.ok();
    }
    assert_eq!(
        api.post("/api/v1/mq/consume", &body).await.ok().data()["messages"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        api.post("/api/v1/mq/consume", &body).await.ok().data()["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // An empty wait lasts about waitMs.
    let waiting = json!({"topicName": "w", "groupId": "g", "consumerId": "c", "waitMs": 150});
    let started = Instant::now();
    assert_eq!(
        api.post("/api/v1/mq/consume", &waiting).await.ok().data(),
        &json!({"messages": []})
    );
    assert!(started.elapsed() >= Duration::from_millis(150));

    // A publish during a long wait ends it early.
    let waiting = json!({"topicName": "w", "groupId": "g", "consumerId": "c", "waitMs": 10_000});
    let started = Instant::now();
    let publish = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        api.post("/api/v1/mq/messages", &json!({"topicName": "w", "value": "late"})).await.ok()
    };
    let (got, _) = tokio::join!(api.post("/api/v1/mq/consume", &waiting), publish);
    assert_eq!(got.ok().data()["messages"][0]["value"], "late");
    assert!(started.elapsed() < Duration::from_secs(5));
}
