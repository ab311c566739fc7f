//! Publishing: batches of 1..=1000 in request order and all-or-nothing, and partition choice
//! (same key, same partition; no key, round-robin).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::server::TestServer;
use crate::support::{browse, check_time, create_topic, int, send, text};

async fn publish_batch(api: &crate::client::Api, topic: &str, messages: &[Value]) -> Vec<Value> {
    let body = json!({"topicName": topic, "messages": messages});
    let data = api.post_ok("/messages/batch", &body).await;
    let results = data["results"]
        .as_array()
        .unwrap_or_else(|| panic!("batch: data.results should be an array: {data}"))
        .clone();
    assert_eq!(results.len(), messages.len(), "one result per message, got {data}");
    for result in &results {
        assert!(!text(result, "messageId").is_empty(), "{result}");
        int(result, "partition");
        int(result, "offset");
        check_time(result, "timestamp");
    }
    results
}

pub async fn batch_publish_is_in_request_order_and_all_or_nothing(server: TestServer) {
    let api = server.api();

    // 1000 messages on one partition: results in request order, offsets 0..=999, stored as
    // sent.
    create_topic(&api, "batch", 1).await;
    let messages: Vec<Value> =
        (0..1000).map(|i| json!({"key": format!("k{}", i % 7), "value": {"i": i}})).collect();
    let results = publish_batch(&api, "batch", &messages).await;
    for (i, result) in results.iter().enumerate() {
        assert_eq!(int(result, "offset"), i as u64, "result {i} should be offset {i}: {result}");
        assert_eq!(int(result, "partition"), 0, "{result}");
    }
    let stored = browse(&api, "batch", 0, 0, 1000).await;
    assert_eq!(stored.len(), 1000, "browse should show the 1000 messages");
    for (i, message) in stored.iter().enumerate() {
        assert_eq!(int(message, "offset"), i as u64, "{message}");
        assert_eq!(message["value"], json!({"i": i}), "offset {i}: {message}");
        assert_eq!(message["key"], json!(format!("k{}", i % 7)), "offset {i}: {message}");
        assert_eq!(message["messageId"], results[i]["messageId"], "offset {i}: {message}");
    }
    let one = publish_batch(&api, "batch", &[json!({"value": "one"})]).await;
    assert_eq!(int(&one[0], "offset"), 1000, "a batch of one: {one:?}");

    // On several partitions: each key in one partition, offsets rising in request order, and
    // the partition a single send of the same key picks.
    create_topic(&api, "batch3", 3).await;
    let keys = ["a", "b", "c", "d"];
    let messages: Vec<Value> = (0..40).map(|i| json!({"key": keys[i % 4], "value": i})).collect();
    let results = publish_batch(&api, "batch3", &messages).await;
    let mut partition_of_key = BTreeMap::new();
    let mut last_offset: BTreeMap<u64, u64> = BTreeMap::new();
    for (i, result) in results.iter().enumerate() {
        let partition = int(result, "partition");
        let offset = int(result, "offset");
        let key_partition = *partition_of_key.entry(keys[i % 4]).or_insert(partition);
        assert_eq!(partition, key_partition, "key {} moved partitions: {result}", keys[i % 4]);
        if let Some(last) = last_offset.insert(partition, offset) {
            assert_eq!(offset, last + 1, "offsets in partition {partition} follow request order");
        }
    }
    for key in keys {
        let single = send(&api, "batch3", Some(key), json!("single")).await;
        assert_eq!(int(&single, "partition"), partition_of_key[key], "key {key}: {single}");
    }

    // All or nothing: one bad message fails the batch and stores nothing.
    let body = api
        .post_ok("/topics", &json!({"name": "atomic", "partitions": 1, "maxMessageSize": 100}))
        .await;
    assert_eq!(body["name"], "atomic");
    let good = |i: usize| json!({"key": "k", "value": {"i": i}});
    let with_bad = |bad: Value| vec![good(0), good(1), bad, good(3), good(4)];
    let cases: [(&str, Vec<Value>, u16, &str); 5] = [
        ("a message without value", with_bad(json!({"key": "k"})), 400, "value"),
        // Whether such errors name the field is checked in errors.rs; here: nothing stored.
        ("headers that are not a map", with_bad(json!({"value": 1, "headers": 5})), 400, ""),
        ("a value over maxMessageSize", with_bad(json!({"value": "x".repeat(200)})), 413, ""),
        ("zero messages", Vec::new(), 400, "messages"),
        ("1001 messages", (0..1001).map(good).collect(), 400, "messages"),
    ];
    for (what, messages, status, field) in cases {
        let (got, reply) = api
            .post("/messages/batch", &json!({"topicName": "atomic", "messages": messages}))
            .await;
        assert_eq!(got, status, "a batch with {what} should be {status}: {reply}");
        let message = text(&reply, "message");
        assert!(message.contains(field), "the error for {what} should name `{field}`: {reply}");
        let stored = browse(&api, "atomic", 0, 0, 1000).await;
        assert!(stored.is_empty(), "a batch with {what} stored messages: {stored:?}");
    }
    let results = publish_batch(&api, "atomic", &[good(0), good(1)]).await;
    let offsets: Vec<u64> = results.iter().map(|r| int(r, "offset")).collect();
    assert_eq!(offsets, [0, 1], "failed batches should not use up offsets");
}

pub async fn same_key_same_partition_and_keyless_round_robin(server: TestServer) {
    let api = server.api();
    create_topic(&api, "keys", 6).await;
    let mut partitions = BTreeSet::new();
    let mut offsets = Vec::new();
    for seq in 0..50 {
        let sent = send(&api, "keys", Some("k1"), json!({"seq": seq})).await;
        partitions.insert(int(&sent, "partition"));
        offsets.push(int(&sent, "offset"));
    }
    assert_eq!(partitions.len(), 1, "50 messages with key k1 went to partitions {partitions:?}");
    let expected: Vec<u64> = (0..50).collect();
    assert_eq!(offsets, expected, "offsets in k1's partition should rise by one");
    let k1_partition = partitions.into_iter().next().unwrap();

    // Other keys: each sticks to one partition; together they use more than one.
    let mut used = BTreeSet::new();
    for key in (2..10).map(|k| format!("k{k}")) {
        let mut key_partitions = BTreeSet::new();
        for _ in 0..5 {
            key_partitions
                .insert(int(&send(&api, "keys", Some(&key), json!(key)).await, "partition"));
        }
        assert_eq!(key_partitions.len(), 1, "key {key} went to partitions {key_partitions:?}");
        used.extend(key_partitions);
    }
    assert!(used.len() > 1, "9 keys all hashed to one partition of 6: {used:?}");

    // The partition depends on the key and the partition count only, not on the topic.
    create_topic(&api, "keys-again", 6).await;
    let again = send(&api, "keys-again", Some("k1"), json!(null)).await;
    assert_eq!(int(&again, "partition"), k1_partition, "k1 on another 6-partition topic");

    // Without a key: round-robin, so 12 messages fill each of 6 partitions twice.
    create_topic(&api, "no-keys", 6).await;
    let mut per_partition = BTreeMap::new();
    for i in 0..12 {
        let sent = send(&api, "no-keys", None, json!(i)).await;
        *per_partition.entry(int(&sent, "partition")).or_insert(0) += 1;
    }
    let expected: BTreeMap<u64, i32> = (0..6).map(|p| (p, 2)).collect();
    assert_eq!(per_partition, expected, "keyless messages per partition (round-robin)");
}
