//! Transactional messages over HTTP (issue 6): prepare, commit, rollback, conflicts, and
//! check-back of undecided transactions, also across a SIGKILL and between two servers.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::Api;
use crate::server::TestServer;
use crate::support::{ack_all, consume, create_group, create_topic, ids, int, text};
use mq_tests::recorder::Recorder as CheckbackServer;

async fn prepare(api: &Api, topic: &str, value: Value, extra: Value) -> Value {
    let mut body = json!({"topicName": topic, "key": "order-1", "value": value,
        "messageType": "transaction", "headers": {"source": "payments"}});
    crate::support::merge(&mut body, extra);
    let prepared = api.post_ok("/messages", &body).await;
    assert_eq!(prepared["status"], "prepared", "{prepared}");
    assert!(text(&prepared, "transactionId").starts_with("txn_"), "{prepared}");
    prepared
}

/// Polls `GET /transactions/{id}` until it is decided and applied, or `within` passes.
async fn wait_settled(api: &Api, id: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let txn = api.get_ok(&format!("/transactions/{id}")).await;
        if (txn["state"] != "prepared" && txn["applied"] == true) || started.elapsed() > within {
            return txn;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn consume_for(api: &Api, topic: &str, group: &str, wait: Duration) -> Vec<Value> {
    let started = Instant::now();
    let mut got = Vec::new();
    while started.elapsed() < wait {
        let more = consume(api, topic, group, "c", 10, 200).await;
        if !more.is_empty() {
            ack_all(api, topic, group, &more).await;
        }
        got.extend(more);
    }
    got
}

pub async fn commit_shows_one_message_and_rollback_none(server: TestServer) {
    let api = server.api();
    create_topic(&api, "pay", 2).await;
    create_group(&api, "pay", "wallet", Value::Null).await;
    let kept = prepare(&api, "pay", json!({"order": 1, "paid": true}), Value::Null).await;
    let dropped = prepare(&api, "pay", json!({"order": 2}), Value::Null).await;
    assert!(
        consume(&api, "pay", "wallet", "c", 10, 300).await.is_empty(),
        "half messages are invisible"
    );

    let kept_id = text(&kept, "transactionId");
    let committed = api.post_ok(&format!("/transactions/{kept_id}/commit"), &json!({})).await;
    assert_eq!(committed["state"], "committed", "{committed}");
    assert_eq!(committed["decidedBy"], "producer");
    assert_eq!(committed["partition"], kept["partition"]);
    let offset = int(&committed, "offset");
    let again = api.post_ok(&format!("/transactions/{kept_id}/commit"), &json!({})).await;
    assert_eq!(again["offset"], committed["offset"], "a repeated commit answers the same");

    let dropped_id = text(&dropped, "transactionId");
    let rolled = api.post_ok(&format!("/transactions/{dropped_id}/rollback"), &json!({})).await;
    assert_eq!(rolled["state"], "rolled_back");
    assert_eq!(
        api.post_ok(&format!("/transactions/{dropped_id}/rollback"), &json!({})).await["state"],
        "rolled_back"
    );
    let (status, body) = api.post(&format!("/transactions/{dropped_id}/commit"), &json!({})).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = api.post(&format!("/transactions/{kept_id}/rollback"), &json!({})).await;
    assert_eq!(status, 409);
    let (status, _) = api.post("/transactions/txn_nope/commit", &json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = api.get("/transactions/txn_nope").await;
    assert_eq!(status, 404);

    let got = consume_for(&api, "pay", "wallet", Duration::from_millis(600)).await;
    assert_eq!(ids(&got), [text(&kept, "messageId")], "exactly the committed message, once");
    assert_eq!(int(&got[0], "offset"), offset);
    assert_eq!(got[0]["messageType"], "transaction");
    assert_eq!(got[0]["value"], json!({"order": 1, "paid": true}));
    assert_eq!(got[0]["headers"]["source"], "payments");

    let shown = api.get_ok(&format!("/transactions/{kept_id}")).await;
    let kinds: Vec<&str> =
        shown["history"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["prepared", "committed", "applied"], "{shown}");
    let listed = api.get_ok("/transactions?topicName=pay&state=rolled_back").await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["transactionId"], dropped_id.as_str());

    // Bad requests name the field.
    for (extra, field) in [
        (json!({"checkbackUrl": "http://example.com/x"}), "checkbackUrl"),
        (json!({"checkbackUrl": "ftp://127.0.0.1:1/"}), "checkbackUrl"),
        (json!({"transactionTimeoutSeconds": 0}), "transactionTimeoutSeconds"),
        (json!({"messageType": "normal", "checkbackUrl": "http://127.0.0.1:1/"}), "checkbackUrl"),
        (json!({"delaySeconds": 5}), "messageType"),
    ] {
        let mut body = json!({"topicName": "pay", "value": 1, "messageType": "transaction"});
        crate::support::merge(&mut body, extra);
        let (status, reply) = api.post("/messages", &body).await;
        assert_eq!(status, 400, "{reply}");
        assert!(reply["message"].as_str().unwrap().contains(field), "{field}: {reply}");
    }
    let batch =
        json!({"topicName": "pay", "messages": [{"value": 1, "messageType": "transaction"}]});
    let (status, reply) = api.post("/messages/batch", &batch).await;
    assert_eq!(status, 400, "{reply}");
}

pub async fn checkback_unknown_twice_then_commit_commits(server: TestServer) {
    let api = server.api();
    let producer = CheckbackServer::start(&["unknown", "unknown", "commit"]).await;
    create_topic(&api, "orders-txn", 1).await;
    create_group(&api, "orders-txn", "g", Value::Null).await;
    let extra = json!({"checkbackUrl": producer.url(), "transactionTimeoutSeconds": 0.5});
    let prepared = prepare(&api, "orders-txn", json!("paid"), extra).await;
    let id = text(&prepared, "transactionId");
    let txn = wait_settled(&api, &id, Duration::from_secs(10)).await;
    assert_eq!(txn["state"], "committed", "{txn}");
    assert_eq!(txn["decidedBy"], "checkback", "{txn}");
    assert_eq!(txn["checkCount"], 3, "{txn}");
    let asked = producer.requests();
    assert_eq!(asked.len(), 3);
    assert_eq!(asked[0]["transactionId"], id.as_str());
    assert_eq!(asked[0]["messageId"], prepared["messageId"]);
    assert_eq!(asked[0]["topicName"], "orders-txn");
    assert_eq!(asked[0]["key"], "order-1");
    assert_eq!(asked[0]["headers"]["source"], "payments");
    let got = consume_for(&api, "orders-txn", "g", Duration::from_millis(600)).await;
    assert_eq!(ids(&got), [text(&prepared, "messageId")]);
}

pub async fn unreachable_checkback_ends_in_the_final_action(server: TestServer) {
    let api = server.api();
    create_topic(&api, "lost", 1).await;
    create_group(&api, "lost", "g", Value::Null).await;
    // Nothing listens on port 9 of loopback.
    let extra =
        json!({"checkbackUrl": "http://127.0.0.1:9/checkback", "transactionTimeoutSeconds": 0.3});
    let prepared = prepare(&api, "lost", json!(1), extra).await;
    let txn = wait_settled(&api, &text(&prepared, "transactionId"), Duration::from_secs(15)).await;
    assert_eq!(txn["state"], "rolled_back", "{txn}");
    assert_eq!(txn["decidedBy"], "final_action", "{txn}");
    assert_eq!(txn["checkCount"], 4, "max_checks of the test config: {txn}");
    assert!(txn["reason"].as_str().unwrap().contains("no decision after 4 check-backs"), "{txn}");
    let checks = txn["history"].as_array().unwrap().iter().filter(|e| e["kind"] == "check").count();
    assert_eq!(checks, 3, "three inconclusive checks recorded before the last: {txn}");
    assert!(consume_for(&api, "lost", "g", Duration::from_millis(400)).await.is_empty());
}

pub async fn a_killed_server_resolves_its_half_message_by_checkback(mut server: TestServer) {
    let api = server.api();
    let producer = CheckbackServer::start(&["commit"]).await;
    create_topic(&api, "crash", 1).await;
    create_group(&api, "crash", "g", Value::Null).await;
    let extra = json!({"checkbackUrl": producer.url(), "transactionTimeoutSeconds": 2});
    let prepared = prepare(&api, "crash", json!("debit"), extra).await;
    // The producer and the server die before any decision.
    server.crash_and_restart().await;
    let api = server.api();
    let txn = wait_settled(&api, &text(&prepared, "transactionId"), Duration::from_secs(15)).await;
    assert_eq!(txn["state"], "committed", "{txn}");
    assert_eq!(txn["decidedBy"], "checkback");
    let got = consume_for(&api, "crash", "g", Duration::from_millis(800)).await;
    assert_eq!(ids(&got), [text(&prepared, "messageId")], "delivered once after the crash");
}

pub async fn two_servers_commit_a_half_message_once(server: TestServer) {
    let other = TestServer::start_sharing(&server).await;
    let (a, b) = (server.api(), other.api());
    create_topic(&a, "race", 1).await;
    create_group(&a, "race", "g", Value::Null).await;
    let mut prepared = Vec::new();
    for i in 0..20 {
        prepared.push(prepare(&a, "race", json!(i), Value::Null).await);
    }
    let commits = prepared.iter().map(|p| {
        let (a, b, id) = (a.clone(), b.clone(), text(p, "transactionId"));
        async move {
            let (path, empty) = (format!("/transactions/{id}/commit"), json!({}));
            tokio::join!(a.post_ok(&path, &empty), b.post_ok(&path, &empty))
        }
    });
    for (x, y) in futures_util::future::join_all(commits).await {
        assert_eq!(x["state"], "committed");
        assert_eq!(y["state"], "committed");
        assert_eq!(x["offset"], y["offset"], "both answer with the one append: {x} {y}");
    }
    let got = consume_for(&a, "race", "g", Duration::from_secs(1)).await;
    let mut seen = ids(&got);
    seen.sort();
    let mut expected: Vec<String> = prepared.iter().map(|p| text(p, "messageId")).collect();
    expected.sort();
    assert_eq!(seen, expected, "each committed message exactly once");
}
