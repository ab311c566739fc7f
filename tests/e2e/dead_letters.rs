//! Retries and dead letters over HTTP (issue 5): retry policies on groups, nack options,
//! the dead-letter listing, retry (redrive) and purge, and their errors.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::Api;
use crate::server::TestServer;
use crate::support::{ack_all, consume, create_group, create_topic, ids, int, receipts, text};

/// `POST /nack` with extra fields; returns `data.nacked`.
async fn nack_with(api: &Api, topic: &str, group: &str, receipts: &[String], extra: Value) -> u64 {
    let mut body = json!({"topicName": topic, "groupId": group, "receipts": receipts});
    crate::support::merge(&mut body, extra);
    int(&api.post_ok("/nack", &body).await, "nacked")
}

/// Consumes (long-polling) until `n` messages arrived or `within` passed.
async fn consume_until(
    api: &Api,
    topic: &str,
    group: &str,
    n: usize,
    within: Duration,
) -> Vec<Value> {
    let started = Instant::now();
    let mut got = Vec::new();
    while got.len() < n && started.elapsed() < within {
        got.extend(consume(api, topic, group, "c", 10, 300).await);
    }
    got
}

async fn list_dead(api: &Api, query: &str) -> Value {
    api.get_ok(&format!("/dead-letters?{query}")).await
}

pub async fn a_failing_consumer_dead_letters_and_a_retry_redelivers_once(server: TestServer) {
    let api = server.api();
    let (topic, group) = ("orders-dlq", "billing");
    create_topic(&api, topic, 2).await;
    let policy = json!({"maxRetries": 1, "backoff": "explicit", "delaysMs": [300]});
    let created = create_group(&api, topic, group, json!({"retryPolicy": policy})).await;
    assert_eq!(created["retryPolicy"]["maxRetries"], 1, "{created}");
    assert_eq!(created["retryPolicy"]["delaysMs"], json!([300]), "{created}");
    create_group(&api, topic, "audit", Value::Null).await;
    for i in 0..2 {
        let body = json!({
            "topicName": topic,
            "key": format!("order-{i}"),
            "value": {"order": i},
            "headers": {"source": "checkout"},
        });
        api.post_ok("/messages", &body).await;
    }

    // First delivery fails.
    let first = consume_until(&api, topic, group, 2, Duration::from_secs(5)).await;
    assert_eq!(first.len(), 2);
    let failed_at = Instant::now();
    let reason = json!({"reason": "card declined"});
    assert_eq!(nack_with(&api, topic, group, &receipts(&first), reason).await, 2);
    assert!(consume(&api, topic, group, "c", 10, 0).await.is_empty(), "in backoff");
    // The retry comes after the 300 ms backoff, and fails too: that was the last.
    let second = consume_until(&api, topic, group, 2, Duration::from_secs(5)).await;
    assert!(failed_at.elapsed() >= Duration::from_millis(300), "retried before its backoff");
    assert!(second.iter().all(|m| int(m, "deliveryCount") == 2), "{second:?}");
    let reason = json!({"reason": "card declined again"});
    assert_eq!(nack_with(&api, topic, group, &receipts(&second), reason).await, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(consume(&api, topic, group, "c", 10, 0).await.is_empty(), "never a third time");

    // The other group is not affected.
    let audited = consume_until(&api, topic, "audit", 2, Duration::from_secs(5)).await;
    assert_eq!(ack_all(&api, topic, "audit", &audited).await, 2);

    let listed = list_dead(&api, &format!("topicName={topic}&groupId={group}")).await;
    assert_eq!(listed["total"], 2, "{listed}");
    let items = listed["items"].as_array().unwrap().clone();
    for dead in &items {
        assert_eq!(dead["originalTopicName"], topic);
        assert_eq!(dead["consumerGroupId"], group);
        assert_eq!(dead["failureReason"], "card declined again");
        assert_eq!(dead["retryCount"], 1);
        assert_eq!(dead["status"], "dead");
        assert_eq!(dead["headers"]["source"], "checkout");
        assert!(dead["messageContent"]["order"].is_u64(), "JSON content as JSON: {dead}");
        let attempts = dead["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "{dead}");
        assert_eq!(attempts[0]["reason"], "card declined");
        assert_eq!(attempts[0]["consumerId"], "c");
        assert_eq!(attempts[1]["delivery"], 2);
        assert!(text(dead, "originalMessageId").starts_with("msg_"));
        let id = text(dead, "id");
        assert_eq!(api.get_ok(&format!("/dead-letters/{id}")).await, *dead);
    }
    let dead_ids: Vec<String> = items.iter().map(|d| text(d, "id")).collect();

    // Retry one by id, twice: once only.
    let retried = api.post_ok("/dead-letters/retry", &json!({"ids": [dead_ids[0]]})).await;
    assert_eq!(retried["retried"], 1, "{retried}");
    let again = api.post_ok("/dead-letters/retry", &json!({"ids": [dead_ids[0]]})).await;
    assert_eq!(again["retried"], 0, "{again}");
    assert_eq!(again["notFound"], json!([dead_ids[0]]), "{again}");
    // The rest of the group.
    let body = json!({"topicName": topic, "groupId": group, "ratePerSecond": 100});
    let rest = api.post_ok("/dead-letters/retry", &body).await;
    assert_eq!(rest["retried"], 1, "{rest}");

    let back = consume_until(&api, topic, group, 2, Duration::from_secs(5)).await;
    assert_eq!(back.len(), 2, "each dead letter redelivered once");
    let mut from: Vec<String> =
        back.iter().map(|m| text(&m["headers"], "x-mq-redriven-from")).collect();
    from.sort();
    let mut expected = dead_ids.clone();
    expected.sort();
    assert_eq!(from, expected);
    for m in &back {
        assert_eq!(int(m, "deliveryCount"), 1, "a fresh retry budget: {m}");
        assert_eq!(m["headers"]["x-mq-original-failure"], "card declined again");
        assert_eq!(m["headers"]["source"], "checkout");
    }
    assert_eq!(ack_all(&api, topic, group, &back).await, 2);
    assert_eq!(list_dead(&api, &format!("topicName={topic}")).await["total"], 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(consume(&api, topic, group, "c", 10, 0).await.is_empty(), "no duplicates");
    assert!(consume(&api, topic, "audit", "a", 10, 0).await.is_empty(), "audit never sees them");
}

pub async fn nack_options_and_policy_updates(server: TestServer) {
    let api = server.api();
    let (topic, group) = ("nack-options", "g");
    create_topic(&api, topic, 1).await;
    let policy = json!({"maxRetries": 5, "initialBackoffMs": 60000});
    create_group(&api, topic, group, json!({"retryPolicy": policy})).await;
    for i in 0..3 {
        api.post_ok("/messages", &json!({"topicName": topic, "value": i})).await;
    }
    let got = consume_until(&api, topic, group, 3, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 3);
    // delayMs overrides the one-minute backoff; deadLetter skips the retries.
    let soon = json!({"delayMs": 200, "reason": "busy"});
    assert_eq!(nack_with(&api, topic, group, &receipts(&got[..1]), soon).await, 1);
    let never = json!({"deadLetter": true, "reason": "malformed"});
    assert_eq!(nack_with(&api, topic, group, &receipts(&got[1..2]), never).await, 1);
    let back = consume_until(&api, topic, group, 1, Duration::from_secs(5)).await;
    assert_eq!(ids(&back), ids(&got[..1]));
    let dead = list_dead(&api, &format!("topicName={topic}&groupId={group}")).await;
    assert_eq!(dead["total"], 1);
    assert_eq!(dead["items"][0]["failureReason"], "malformed");
    assert_eq!(dead["items"][0]["retryCount"], 0);

    // The policy is shown with the group and can change.
    let path = format!("/consumer-groups/{group}?topicName={topic}");
    assert_eq!(api.get_ok(&path).await["retryPolicy"]["initialBackoffMs"], 60000);
    let update = json!({"retryPolicy": {"maxRetries": 2, "backoff": "explicit", "delaysMs": [5]}});
    let updated = api.put_ok(&path, &update).await;
    assert_eq!(updated["retryPolicy"]["maxRetries"], 2, "{updated}");
    assert_eq!(api.get_ok(&path).await["retryPolicy"]["delaysMs"], json!([5]));
    let timeouts = api.put_ok(&path, &json!({"ackTimeoutMs": 1234})).await;
    assert_eq!(timeouts["ackTimeoutMs"], 1234);
    assert_eq!(timeouts["retryPolicy"]["maxRetries"], 2, "other settings kept");

    // Purge by filter, and delete one.
    let id = text(&dead["items"][0], "id");
    assert_eq!(api.delete_ok(&format!("/dead-letters/{id}")).await["deleted"], 1);
    let (status, _) = api.delete(&format!("/dead-letters/{id}")).await;
    assert_eq!(status, 404);
    let rest = receipts(&got[2..]);
    nack_with(&api, topic, group, &rest, json!({"deadLetter": true})).await;
    let purged = api.delete_ok(&format!("/dead-letters?topicName={topic}")).await;
    assert_eq!(purged["deleted"], 1, "{purged}");
}

pub async fn dead_letter_and_retry_policy_errors_name_the_field(server: TestServer) {
    let api = server.api();
    create_topic(&api, "dlq-errors", 1).await;
    create_group(&api, "dlq-errors", "g", Value::Null).await;
    let field_error = |status: u16, body: &Value, field: &str| {
        assert_eq!(status, 400, "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(field), "{field} not named: {message}");
    };
    let bad_group =
        |policy: Value| json!({"groupId": "h", "topicName": "dlq-errors", "retryPolicy": policy});
    for (policy, field) in [
        (json!({"maxRetries": 1001}), "retryPolicy.maxRetries"),
        (json!({"multiplier": 0.5}), "retryPolicy.multiplier"),
        (json!({"jitter": 2}), "retryPolicy.jitter"),
        (json!({"backoff": "explicit"}), "retryPolicy.delaysMs"),
        (json!({"delaysMs": [10]}), "retryPolicy.delaysMs"),
        (json!({"initialBackoffMs": -1}), "retryPolicy.initialBackoffMs"),
        (json!({"maxRetry": 3}), "retryPolicy"),
        (json!({"backoff": "linear"}), "retryPolicy.backoff"),
    ] {
        let (status, body) = api.post("/consumer-groups", &bad_group(policy)).await;
        field_error(status, &body, field);
    }
    let path = "/consumer-groups/g?topicName=dlq-errors";
    let (status, body) = api.put(path, &json!({"retryPolicy": {"multiplier": 500}})).await;
    field_error(status, &body, "retryPolicy.multiplier");
    let (status, body) = api.put(path, &json!({"retryPolicy": 3})).await;
    field_error(status, &body, "retryPolicy");
    let (status, body) = api.put("/consumer-groups/g", &json!({})).await;
    field_error(status, &body, "topicName");
    let (status, _) = api.put("/consumer-groups/nope?topicName=dlq-errors", &json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = api.get("/consumer-groups/nope?topicName=dlq-errors").await;
    assert_eq!(status, 404);

    let nack = json!({"topicName": "dlq-errors", "groupId": "g", "receipts": ["x"], "delayMs": 604800001u64});
    let (status, body) = api.post("/nack", &nack).await;
    field_error(status, &body, "delayMs");

    let (status, body) = api.get("/dead-letters/dlq_missing").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = api.delete("/dead-letters/dlq_missing").await;
    assert_eq!(status, 404);
    let (status, body) = api.get("/dead-letters?from=yesterday").await;
    field_error(status, &body, "from");
    let (status, body) = api.get("/dead-letters?pageSize=0").await;
    field_error(status, &body, "pageSize");
    let (status, body) = api.delete("/dead-letters").await;
    field_error(status, &body, "all=true");
    assert_eq!(api.delete_ok("/dead-letters?all=true").await["deleted"], 0);

    for (body, field) in [
        (json!({}), "topicName"),
        (json!({"ids": []}), "ids"),
        (json!({"ids": ["a"], "topicName": "dlq-errors"}), "ids"),
        (json!({"topicName": "dlq-errors"}), "groupId"),
        (json!({"topicName": "dlq-errors", "groupId": "g", "ratePerSecond": 0}), "ratePerSecond"),
        (json!({"idz": ["a"]}), "idz"),
    ] {
        let (status, reply) = api.post("/dead-letters/retry", &body).await;
        field_error(status, &reply, field);
    }
    let (status, _) =
        api.post("/dead-letters/retry", &json!({"topicName": "nope", "groupId": "g"})).await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post("/dead-letters/retry", &json!({"topicName": "dlq-errors", "groupId": "nope"}))
        .await;
    assert_eq!(status, 404);
}

pub async fn release_gives_messages_back_without_a_failed_attempt(server: TestServer) {
    let api = server.api();
    let (topic, group) = ("release", "g");
    create_topic(&api, topic, 1).await;
    let policy = json!({"maxRetries": 0});
    create_group(&api, topic, group, json!({"deliveryMode": "ordered", "retryPolicy": policy}))
        .await;
    for i in 0..3 {
        api.post_ok("/messages", &json!({"topicName": topic, "value": i})).await;
    }
    let batch = consume_until(&api, topic, group, 3, Duration::from_secs(5)).await;
    assert_eq!(batch.len(), 3);
    let body = |r: &[String]| json!({"topicName": topic, "groupId": group, "receipts": r});
    // The first fails for good; the rest of the ordered batch goes back unprocessed.
    let never = json!({"deadLetter": true, "reason": "bad"});
    assert_eq!(nack_with(&api, topic, group, &receipts(&batch[..1]), never).await, 1);
    let released = api.post_ok("/release", &body(&receipts(&batch[1..]))).await;
    assert_eq!(released["released"], 2, "{released}");
    let again = api.post_ok("/release", &body(&receipts(&batch[1..]))).await;
    assert_eq!(again["released"], 0, "a released receipt is settled");
    let back = consume_until(&api, topic, group, 2, Duration::from_secs(5)).await;
    assert_eq!(ids(&back), ids(&batch[1..]), "in order, after the failed one");
    // maxRetries 0 and still delivered: a release is not a failed attempt.
    assert!(back.iter().all(|m| int(m, "deliveryCount") == 1), "{back:?}");
    assert_eq!(ack_all(&api, topic, group, &back).await, 2);
    assert_eq!(list_dead(&api, &format!("topicName={topic}")).await["total"], 1);
}

pub async fn extend_pushes_back_the_redelivery_of_a_long_job(server: TestServer) {
    let api = server.api();
    let (topic, group) = ("long-jobs", "g");
    create_topic(&api, topic, 1).await;
    create_group(&api, topic, group, json!({"ackTimeoutMs": 800})).await;
    api.post_ok("/messages", &json!({"topicName": topic, "value": "job"})).await;
    let got = consume_until(&api, topic, group, 1, Duration::from_secs(5)).await;
    let started = Instant::now();
    let body = |ms: u64| json!({"topicName": topic, "groupId": group, "receipts": receipts(&got), "extendMs": ms});
    for bad in [0, 801] {
        let (status, reply) = api.post("/extend", &body(bad)).await;
        assert_eq!(status, 400, "{reply}");
        assert!(reply["message"].as_str().unwrap().contains("extendMs"), "{reply}");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(api.post_ok("/extend", &body(800)).await["extended"], 1);
    // The original timeout (800 ms) passes: still held.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(consume(&api, topic, group, "other", 10, 0).await.is_empty(), "extended");
    // The extended one (400 + 800 ms) passes: delivered again.
    let again = consume_until(&api, topic, group, 1, Duration::from_secs(5)).await;
    assert!(started.elapsed() >= Duration::from_millis(1200), "{:?}", started.elapsed());
    assert_eq!(int(&again[0], "deliveryCount"), 2);
    assert_eq!(
        api.post_ok("/extend", &body(500)).await["extended"],
        0,
        "a stale receipt extends nothing"
    );
}
