//! Delivery modes: `shared` spreads a group's messages over competing consumers, each message
//! once; every group sees every message; `ordered` keeps per-key order across a rebalance.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::Api;
use crate::server::TestServer;
use crate::support::{
    ack, ack_all, consume, consume_n, create_group, create_topic, ids, int, receipts, send, text,
};

/// Publishes `values` in one batch; returns the message ids in request order.
async fn publish(api: &Api, topic: &str, messages: Vec<Value>) -> Vec<String> {
    let data =
        api.post_ok("/messages/batch", &json!({"topicName": topic, "messages": messages})).await;
    let results = data["results"].as_array().unwrap_or_else(|| panic!("batch: {data}"));
    results.iter().map(|r| text(r, "messageId")).collect()
}

pub async fn shared_mode_spreads_load_and_delivers_each_message_once(server: TestServer) {
    const TOTAL: usize = 300;
    let api = server.api();
    create_topic(&api, "work", 4).await;
    let mut sent = BTreeSet::new();
    for chunk in 0..3 {
        let messages = (0..100).map(|i| json!({"value": {"n": chunk * 100 + i}})).collect();
        sent.extend(publish(&api, "work", messages).await);
    }
    assert_eq!(sent.len(), TOTAL);
    create_group(&api, "work", "workers", json!({"deliveryMode": "shared"})).await;

    let delivered = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut consumers = Vec::new();
    for consumer in ["c1", "c2", "c3"] {
        let (api, delivered) = (api.clone(), delivered.clone());
        consumers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while delivered.load(Ordering::SeqCst) < TOTAL && Instant::now() < deadline {
                let batch = consume(&api, "work", "workers", consumer, 5, 500).await;
                if !batch.is_empty() {
                    let acked = ack_all(&api, "work", "workers", &batch).await;
                    assert_eq!(acked, batch.len() as u64, "{consumer}: fresh receipts acked");
                    delivered.fetch_add(batch.len(), Ordering::SeqCst);
                    got.extend(batch);
                }
                // A little work per batch, as a real consumer does, so that the others get a
                // turn on a two-core machine.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (consumer, got)
        }));
    }
    let mut all = Vec::new();
    for handle in consumers {
        let (consumer, got) = handle.await.expect("a consumer task panicked");
        assert!(!got.is_empty(), "consumer {consumer} got no message: the load was not shared");
        all.extend(got);
    }
    let got_ids = ids(&all);
    let distinct: BTreeSet<String> = got_ids.iter().cloned().collect();
    assert_eq!(got_ids.len(), distinct.len(), "some message was delivered twice: {got_ids:?}");
    assert_eq!(distinct, sent, "every message should be delivered once");
    for message in &all {
        assert_eq!(int(message, "deliveryCount"), 1, "acked promptly, delivered once: {message}");
    }
    let more = consume(&api, "work", "workers", "c1", 10, 1_000).await;
    assert!(more.is_empty(), "nothing should be left after all were acked: {more:?}");
}

pub async fn every_group_receives_every_message(server: TestServer) {
    let api = server.api();
    create_topic(&api, "events", 3).await;
    create_group(&api, "events", "billing", Value::Null).await;
    create_group(&api, "events", "audit", json!({"deliveryMode": "ordered"})).await;
    let mut sent: BTreeSet<String> =
        publish(&api, "events", (0..60).map(|i| json!({"value": i})).collect())
            .await
            .into_iter()
            .collect();
    // A group starting from the latest message sees only what comes after it.
    create_group(&api, "events", "late", json!({"startFrom": "latest"})).await;
    let last = text(&send(&api, "events", None, json!("after late joined")).await, "messageId");
    sent.insert(last.clone());

    for group in ["billing", "audit"] {
        let got = consume_n(&api, "events", group, "c", 61, Duration::from_secs(30), true).await;
        let got: BTreeSet<String> = ids(&got).into_iter().collect();
        assert_eq!(got, sent, "group {group} should receive every message");
    }
    let late = consume_n(&api, "events", "late", "c", 1, Duration::from_secs(10), true).await;
    assert_eq!(ids(&late), [last], "group `late` (startFrom latest)");
    let more = consume(&api, "events", "late", "c", 100, 500).await;
    assert!(more.is_empty(), "group `late` should see nothing from before it: {more:?}");
}

/// Keys and messages per key of the ordered-mode test.
const KEYS: usize = 8;
const PER_KEY: u64 = 10;
/// Short, so the test waits little for the takeover; long enough that the consumers below,
/// which call at least every few hundred milliseconds, never miss it on a busy machine.
const SESSION_TIMEOUT_MS: u64 = 2_000;

pub async fn ordered_mode_keeps_per_key_order_across_a_rebalance(server: TestServer) {
    let api = server.api();
    let (topic, group) = ("orders", "in-order");
    create_topic(&api, topic, 4).await;
    let settings = json!({
        "deliveryMode": "ordered",
        "sessionTimeoutMs": SESSION_TIMEOUT_MS,
        // Far beyond the test: redelivery here comes from the rebalance alone.
        "ackTimeoutMs": 600_000,
    });
    create_group(&api, topic, group, settings).await;

    // Both consumers join while the topic is empty, so the rebalances of the joins move no
    // delivered work; two rounds let each see its settled assignment.
    for _ in 0..2 {
        for consumer in ["A", "B"] {
            let got = consume(&api, topic, group, consumer, 10, 0).await;
            assert!(got.is_empty(), "the topic is empty yet {consumer} got {got:?}");
        }
    }
    // One batch: quick (the consumers stay alive) and, per key, in sequence order.
    let messages: Vec<Value> = (0..PER_KEY)
        .flat_map(|seq| {
            (0..KEYS).map(move |k| json!({"key": format!("key-{k}"), "value": {"seq": seq}}))
        })
        .collect();
    let sent = publish(&api, topic, messages).await;

    // A takes some messages, acks the first half of them in delivery order, and stops.
    let mut a_got = consume(&api, topic, group, "A", 6, 2_000).await;
    a_got.extend(consume(&api, topic, group, "A", 6, 0).await);
    assert!(a_got.len() >= 2, "A should own partitions with messages, got {a_got:?}");
    let (a_acked, a_unacked) = a_got.split_at(a_got.len() / 2);
    let acked = ack(&api, topic, group, &receipts(a_acked)).await;
    assert_eq!(acked, a_acked.len() as u64, "A's acks");
    let a_stopped = Instant::now();

    // B fetches (each fetch is its heartbeat) and acks everything in delivery order until every
    // message is acked; after A's session times out, B takes A's partitions over.
    let mut b_got: Vec<Value> = Vec::new();
    let mut acked_ids: BTreeSet<String> = ids(a_acked).into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_ids.len() < sent.len() && Instant::now() < deadline {
        let batch = consume(&api, topic, group, "B", 10, 200).await;
        if batch.is_empty() {
            continue;
        }
        let acked = ack_all(&api, topic, group, &batch).await;
        assert_eq!(acked, batch.len() as u64, "B's acks of {batch:?}");
        acked_ids.extend(ids(&batch));
        b_got.extend(batch);
    }
    let missing: Vec<&String> = sent.iter().filter(|id| !acked_ids.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} messages were never delivered to B after A stopped {:?} ago (session timeout \
         {SESSION_TIMEOUT_MS} ms); missing {missing:?}; A got {} and left {} unacked",
        missing.len(),
        sent.len(),
        a_stopped.elapsed(),
        a_got.len(),
        a_unacked.len()
    );

    // Shown with a failure (and with --nocapture), to tell a vacuous run from a real one.
    let redelivered = b_got.iter().filter(|m| int(m, "deliveryCount") > 1).count();
    eprintln!(
        "ordered: A got {} and acked {}; B got {} ({redelivered} redeliveries), done {:?} after \
         A stopped",
        a_got.len(),
        a_acked.len(),
        b_got.len(),
        a_stopped.elapsed()
    );

    // Nothing twice: B got no message A acked, nor any message twice.
    let b_ids = ids(&b_got);
    let b_distinct: BTreeSet<&String> = b_ids.iter().collect();
    assert_eq!(b_ids.len(), b_distinct.len(), "B got a message twice: {b_ids:?}");
    for id in ids(a_acked) {
        assert!(!b_distinct.contains(&id), "B got {id}, which A had acked");
    }
    // A's unacked entries went to B, as redeliveries.
    for message in a_unacked {
        let id = text(message, "messageId");
        let again = b_got.iter().find(|m| m["messageId"] == json!(id));
        let again = again.unwrap_or_else(|| panic!("A's unacked {message} never reached B"));
        assert!(int(again, "deliveryCount") >= 2, "a redelivery counts: {again}");
    }
    // Each consumer's stream is in offset order per partition, and the new owner of a
    // partition starts with the previous owner's first unacked entry.
    check_offsets_rise("A", &a_got);
    check_offsets_rise("B", &b_got);
    let a_partitions: BTreeSet<u64> = a_unacked.iter().map(|m| int(m, "partition")).collect();
    for partition in a_partitions {
        let first_on_b = b_got.iter().find(|m| int(m, "partition") == partition);
        let first_on_b = first_on_b.unwrap_or_else(|| panic!("B never got partition {partition}"));
        let first_unacked = a_unacked.iter().find(|m| int(m, "partition") == partition).unwrap();
        assert_eq!(
            first_on_b["offset"], first_unacked["offset"],
            "B's first message of partition {partition} should be A's first unacked one"
        );
    }
    // Per key, the sequence numbers as acked (A's, then B's, each in delivery order) are
    // exactly 0, 1, 2, ...: nothing lost, nothing reordered.
    let mut per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for message in a_acked.iter().chain(&b_got) {
        per_key.entry(text(message, "key")).or_default().push(int(&message["value"], "seq"));
    }
    let expected: Vec<u64> = (0..PER_KEY).collect();
    assert_eq!(per_key.len(), KEYS, "keys acked: {per_key:?}");
    for (key, seqs) in &per_key {
        assert_eq!(seqs, &expected, "key {key}: sequence numbers in the order acked");
    }
    let more = consume(&api, topic, group, "B", 10, 500).await;
    assert!(more.is_empty(), "nothing is left once everything was acked: {more:?}");
}

/// Asserts that within one consumer's stream the offsets of each partition strictly rise.
fn check_offsets_rise(consumer: &str, messages: &[Value]) {
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    for message in messages {
        let (partition, offset) = (int(message, "partition"), int(message, "offset"));
        if let Some(previous) = last.insert(partition, offset) {
            assert!(
                offset > previous,
                "{consumer} got offset {offset} of partition {partition} after offset {previous}"
            );
        }
    }
}
