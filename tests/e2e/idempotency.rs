//! Idempotent publishing over HTTP: a repeat of an idempotency key (body `idempotencyKey` or
//! the `Idempotency-Key` header) within the topic's window stores nothing and answers the
//! first publish with `duplicate: true`, for single, batch, delayed and transactional messages.

use serde_json::{json, Value};

use crate::server::TestServer;
use crate::support::{consume_n, create_group};

async fn send(server: &TestServer, body: Value) -> Value {
    server.api().post_ok("/messages", &body).await
}

pub async fn repeated_publishes_store_once_and_answer_the_first(server: TestServer) {
    let api = server.api();
    api.post_ok("/topics", &json!({"name": "idem", "partitions": 3})).await;
    create_group(&api, "idem", "g", json!({})).await;

    let first =
        send(&server, json!({"topicName": "idem", "value": 1, "idempotencyKey": "a"})).await;
    assert!(first.get("duplicate").is_none(), "{first}");
    let again =
        send(&server, json!({"topicName": "idem", "value": 1, "idempotencyKey": "a"})).await;
    assert_eq!(again["duplicate"], json!(true), "{again}");
    for field in ["messageId", "partition", "offset", "timestamp", "status"] {
        assert_eq!(again[field], first[field], "{field}");
    }
    // The header does the same; body and header must agree when both are given.
    let header = api.with_header("idempotency-key", "a");
    let by_header = header.post_ok("/messages", &json!({"topicName": "idem", "value": 1})).await;
    assert_eq!(
        (&by_header["messageId"], &by_header["duplicate"]),
        (&first["messageId"], &json!(true))
    );
    let (status, body) = api
        .with_header("idempotency-key", "b")
        .post("/messages", &json!({"topicName": "idem", "value": 1, "idempotencyKey": "c"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("Idempotency-Key"), "{body}");
    for (bad, field) in [
        (
            json!({"topicName": "idem", "value": 1, "idempotencyKey": "k".repeat(129)}),
            "idempotencyKey",
        ),
        (json!({"topicName": "idem", "value": 1, "idempotencyKey": ""}), "idempotencyKey"),
        (
            json!({"topicName": "idem", "messages": [{"value": 1}, {"value": 2, "idempotencyKey": "k".repeat(129)}]}),
            "messages[1].idempotencyKey",
        ),
    ] {
        let path = if bad.get("messages").is_some() { "/messages/batch" } else { "/messages" };
        let (status, body) = api.post(path, &bad).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{field}: {body}");
    }

    // A batch: a repeat of an earlier publish, and a key repeated within the batch.
    let batch = api
        .post_ok(
            "/messages/batch",
            &json!({"topicName": "idem", "messages": [
                {"value": 1, "idempotencyKey": "a"},
                {"value": 2, "idempotencyKey": "d"},
                {"value": 3, "idempotencyKey": "d"},
            ]}),
        )
        .await;
    let results = batch["results"].as_array().unwrap();
    assert_eq!(
        (&results[0]["messageId"], &results[0]["duplicate"]),
        (&first["messageId"], &json!(true))
    );
    assert!(results[1].get("duplicate").is_none(), "{batch}");
    assert_eq!(
        (&results[2]["messageId"], &results[2]["duplicate"]),
        (&results[1]["messageId"], &json!(true))
    );

    // Delayed and transactional messages repeat the same way.
    let delayed = json!({"topicName": "idem", "value": 4, "messageType": "delay", "delaySeconds": 3600, "idempotencyKey": "e"});
    let scheduled = send(&server, delayed.clone()).await;
    let repeat = send(&server, delayed).await;
    assert_eq!(
        (&repeat["messageId"], &repeat["status"], &repeat["duplicate"]),
        (&scheduled["messageId"], &json!("scheduled"), &json!(true))
    );
    assert_eq!(repeat["deliverAt"], scheduled["deliverAt"]);
    let txn = json!({"topicName": "idem", "value": 5, "messageType": "transaction", "idempotencyKey": "f"});
    let prepared = send(&server, txn.clone()).await;
    let repeat = send(&server, txn).await;
    assert_eq!(
        (&repeat["transactionId"], &repeat["duplicate"]),
        (&prepared["transactionId"], &json!(true))
    );
    let listed = api.get_ok("/transactions?topicName=idem&state=prepared").await;
    assert_eq!(listed["total"], json!(1), "{listed}");

    // Consumers see each message once: the first publish and the first "d".
    let got = consume_n(&api, "idem", "g", "c", 2, std::time::Duration::from_secs(10), true).await;
    let mut ids: Vec<&str> = got.iter().map(|m| m["messageId"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut expected =
        vec![first["messageId"].as_str().unwrap(), results[1]["messageId"].as_str().unwrap()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let more = api
        .post_ok("/consume", &json!({"topicName": "idem", "groupId": "g", "consumerId": "c", "maxMessages": 10, "waitMs": 300}))
        .await;
    assert_eq!(more["messages"], json!([]), "nothing stored twice");
}

pub async fn the_dedup_window_ends(server: TestServer) {
    let api = server.api();
    let (status, body) = api
        .post("/topics", &json!({"name": "short", "config": {"dedup.window.secs": "a week"}}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("dedup.window.secs"), "{body}");
    api.post_ok("/topics", &json!({"name": "short", "config": {"dedup.window.secs": "1"}})).await;
    let body = json!({"topicName": "short", "value": 1, "idempotencyKey": "w"});
    let first = send(&server, body.clone()).await;
    assert_eq!(send(&server, body.clone()).await["duplicate"], json!(true));
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let later = send(&server, body).await;
    assert!(later.get("duplicate").is_none(), "{later}");
    assert_ne!(later["messageId"], first["messageId"]);
}

/// A producer that sends every message three times with the same idempotency key, going on
/// through three SIGKILLs of mq-server (a publish that fails is sent again until answered),
/// ends with each key stored exactly once.
pub async fn retried_publishes_through_server_kills_store_each_key_once(mut server: TestServer) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    const KEYS: usize = 600;
    let api = server.api();
    api.post_ok("/topics", &json!({"name": "retried", "partitions": 2})).await;
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let (api, done) = (api.clone(), done.clone());
        tokio::spawn(async move {
            for k in 0..KEYS {
                let body = json!({"topicName": "retried", "value": {"k": k}, "idempotencyKey": format!("key-{k}")});
                let mut answered = 0;
                while answered < 3 {
                    match api.try_post("/messages", &body).await {
                        Ok((200, _)) => answered += 1,
                        // Down or restarting: send it again.
                        _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                    }
                }
            }
            done.store(true, Ordering::Release);
        })
    };
    let mut kills = 0;
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        if done.load(Ordering::Acquire) {
            break;
        }
        server.crash_and_restart().await;
        kills += 1;
    }
    producer.await.unwrap();
    assert!(kills >= 2, "the producer finished before the server was killed twice");
    let mut seen = std::collections::BTreeMap::<u64, usize>::new();
    for partition in 0..2 {
        for message in crate::support::browse(&api, "retried", partition, 0, 1000).await {
            *seen.entry(message["value"]["k"].as_u64().unwrap()).or_default() += 1;
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(seen.len(), KEYS, "every key stored");
}
