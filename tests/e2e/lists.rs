//! Lists: topics and consumer groups paged as `{items, total, page, pageSize}`, and the
//! consumers of a group with their assignment, lag, status and last heartbeat.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::client::Api;
use crate::server::TestServer;
use crate::support::{check_time, consume, create_group, create_topic, send, text};

/// `GET` of a list; asserts the paged shape and returns (`items`, `total`).
async fn list(api: &Api, path: &str, page: u64, page_size: u64) -> (Vec<Value>, u64) {
    let data = api.get_ok(path).await;
    assert_eq!(data["page"], page, "GET {path}: page in {data}");
    assert_eq!(data["pageSize"], page_size, "GET {path}: pageSize in {data}");
    let total =
        data["total"].as_u64().unwrap_or_else(|| panic!("GET {path}: total should be a count"));
    let items =
        data["items"].as_array().unwrap_or_else(|| panic!("GET {path}: items in {data}")).clone();
    assert!(items.len() as u64 <= page_size, "GET {path}: more items than pageSize: {data}");
    (items, total)
}

fn names(items: &[Value], field: &str) -> Vec<String> {
    items.iter().map(|item| text(item, field)).collect()
}

pub async fn lists_are_paged(server: TestServer) {
    let api = server.api();
    let topics = ["t-a", "t-b", "t-c", "t-d", "t-e"];
    for name in topics {
        create_topic(&api, name, 1).await;
    }
    // Defaults: page 1 of 20.
    let (items, total) = list(&api, "/topics", 1, 20).await;
    assert_eq!(total, 5);
    assert_eq!(items.len(), 5);
    for item in &items {
        assert_eq!(item["partitions"], 1, "a topic in the list: {item}");
        assert_eq!(item["status"], "active", "a topic in the list: {item}");
    }
    // Pages of 2: 2 + 2 + 1 + 0, every topic once.
    let mut seen = Vec::new();
    for (page, expected) in [(1, 2), (2, 2), (3, 1), (4, 0)] {
        let path = format!("/topics?page={page}&pageSize=2");
        let (items, total) = list(&api, &path, page, 2).await;
        assert_eq!(total, 5, "GET {path}: total");
        assert_eq!(items.len(), expected, "GET {path}: items {items:?}");
        seen.extend(names(&items, "name"));
    }
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), distinct.len(), "a topic on two pages: {seen:?}");
    let expected: BTreeSet<String> = topics.iter().map(|t| t.to_string()).collect();
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected, "all topics over the pages");

    // Consumer groups of one topic, with their settings.
    for group in ["g1", "g2", "g3"] {
        create_group(&api, "t-a", group, json!({"deliveryMode": "ordered"})).await;
    }
    create_group(&api, "t-b", "g-other", Value::Null).await;
    let (items, total) = list(&api, "/consumer-groups?topicName=t-a", 1, 20).await;
    assert_eq!(total, 3);
    let groups: BTreeSet<String> = names(&items, "groupId").into_iter().collect();
    let expected: BTreeSet<String> = ["g1", "g2", "g3"].map(String::from).into();
    assert_eq!(groups, expected, "groups of t-a");
    for item in &items {
        assert_eq!(item["topicName"], "t-a", "{item}");
        assert_eq!(item["deliveryMode"], "ordered", "{item}");
    }
    let (items, total) = list(&api, "/consumer-groups?topicName=t-a&page=2&pageSize=2", 2, 2).await;
    assert_eq!((items.len(), total), (1, 3), "second page of t-a's groups: {items:?}");

    // Deleting a group takes it out of the list.
    api.delete_ok("/consumer-groups/g2?topicName=t-a").await;
    let (items, total) = list(&api, "/consumer-groups?topicName=t-a", 1, 20).await;
    assert_eq!(total, 2, "after deleting g2: {items:?}");
}

pub async fn consumers_that_fetched_are_listed(server: TestServer) {
    let api = server.api();
    create_topic(&api, "watched", 2).await;
    create_group(&api, "watched", "g", json!({"deliveryMode": "ordered"})).await;
    for i in 0..6 {
        send(&api, "watched", None, json!(i)).await;
    }
    // Two consumers fetch (which is how they join); c1 twice, so the assignment settles.
    for consumer in ["c1", "c2", "c1", "c2"] {
        consume(&api, "watched", "g", consumer, 1, 0).await;
    }
    let (items, total) = list(&api, "/consumers?topicName=watched&groupId=g", 1, 20).await;
    let ids: BTreeSet<String> = names(&items, "consumerId").into_iter().collect();
    let expected: BTreeSet<String> = ["c1", "c2"].map(String::from).into();
    assert_eq!(ids, expected, "consumers of g: {items:?}");
    assert_eq!(total, 2);
    for item in &items {
        assert_eq!(item["groupId"], "g", "{item}");
        assert!(item["assignedPartitions"].is_array(), "assigned partitions in {item}");
        // The issue names no shape for these: a `committedOffsets` map or per-partition
        // `committedOffset` fields both say it.
        assert!(has_key_starting(item, "committedOffset"), "committed offsets in {item}");
        assert!(item.get("lag").is_some(), "lag in {item}");
        assert!(item["status"].is_string(), "status in {item}");
        check_time(item, "lastHeartbeat");
    }
    // In ordered mode the two share the two partitions between them.
    let assigned: Vec<u64> = items
        .iter()
        .flat_map(|item| item["assignedPartitions"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p.as_u64())
        .collect();
    let mut sorted = assigned.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 1], "each partition assigned to one live consumer: {items:?}");
}

/// Whether `value` has, at any depth, an object key starting with `prefix`.
fn has_key_starting(value: &Value, prefix: &str) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, inner)| key.starts_with(prefix) || has_key_starting(inner, prefix)),
        Value::Array(items) => items.iter().any(|inner| has_key_starting(inner, prefix)),
        _ => false,
    }
}
