//! At-least-once: an unacked message comes back after `ackTimeoutMs`, a nacked one at once,
//! and a server restart (Redis + MongoDB) loses neither acked nor unacked messages.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::TestServer;
use crate::support::{
    ack, ack_all, browse, consume, consume_n, create_group, create_topic, ids, int, nack, receipts,
    send, text,
};

const ACK_TIMEOUT_MS: u64 = 500;

pub async fn unacked_message_comes_back_after_ack_timeout_and_nack_is_immediate(
    server: TestServer,
) {
    let api = server.api();
    let (topic, group) = ("retry", "g");
    create_topic(&api, topic, 1).await;
    create_group(&api, topic, group, json!({"ackTimeoutMs": ACK_TIMEOUT_MS})).await;
    let id = text(&send(&api, topic, None, json!({"job": 1})).await, "messageId");

    let asked = Instant::now();
    let first = consume(&api, topic, group, "c1", 10, 2_000).await;
    assert_eq!(ids(&first), std::slice::from_ref(&id), "the one message");
    assert_eq!(int(&first[0], "deliveryCount"), 1, "{}", first[0]);

    // Before the ack timeout: nothing.
    let early = consume(&api, topic, group, "c1", 10, 0).await;
    let early_at = asked.elapsed();
    assert!(
        early.is_empty(),
        "redelivered {early_at:?} after the first fetch began, before ackTimeoutMs \
         {ACK_TIMEOUT_MS}: {early:?}"
    );

    // After it: the same message, delivery 2.
    let second = poll_until_some(&server, topic, group, "c1", Duration::from_secs(10)).await;
    let second_at = asked.elapsed();
    assert_eq!(ids(&second), std::slice::from_ref(&id), "the same message again");
    assert_eq!(int(&second[0], "deliveryCount"), 2, "{}", second[0]);
    assert!(
        second_at >= Duration::from_millis(ACK_TIMEOUT_MS),
        "redelivered {second_at:?} after the first fetch began, before ackTimeoutMs"
    );

    // Nack: available again at once, delivery 3; the nacked receipt is settled.
    assert_eq!(nack(&api, topic, group, &receipts(&second)).await, 1, "nack of a fresh receipt");
    let third = consume(&api, topic, group, "c2", 10, 0).await;
    assert_eq!(ids(&third), std::slice::from_ref(&id), "a nacked message is available at once");
    assert_eq!(int(&third[0], "deliveryCount"), 3, "{}", third[0]);

    // Acked: settled (a second ack or nack counts nothing) and never delivered again, also
    // long after the ack timeout.
    assert_eq!(ack(&api, topic, group, &receipts(&third)).await, 1);
    assert_eq!(ack(&api, topic, group, &receipts(&third)).await, 0, "ack of a settled receipt");
    assert_eq!(nack(&api, topic, group, &receipts(&third)).await, 0, "nack of a settled receipt");
    tokio::time::sleep(Duration::from_millis(3 * ACK_TIMEOUT_MS)).await;
    let after = consume(&api, topic, group, "c1", 10, 0).await;
    assert!(after.is_empty(), "an acked message came back: {after:?}");
}

pub async fn stale_receipt_does_not_settle_a_later_delivery(server: TestServer) {
    let api = server.api();
    let (topic, group) = ("stale", "g");
    create_topic(&api, topic, 1).await;
    create_group(&api, topic, group, Value::Null).await;
    let id = text(&send(&api, topic, None, json!("job")).await, "messageId");
    let first = consume(&api, topic, group, "c1", 10, 2_000).await;
    assert_eq!(ids(&first), std::slice::from_ref(&id));
    assert_eq!(nack(&api, topic, group, &receipts(&first)).await, 1, "nack of a fresh receipt");
    let second = consume(&api, topic, group, "c2", 10, 0).await;
    assert_eq!(ids(&second), std::slice::from_ref(&id), "a nacked message is available at once");

    // The first delivery's receipt was settled by its nack: using it again must not touch the
    // second delivery, which c2 is still working on.
    let stale = receipts(&first);
    assert_eq!(nack(&api, topic, group, &stale).await, 0, "nack with a settled receipt");
    assert_eq!(ack(&api, topic, group, &stale).await, 0, "ack with a settled receipt");
    let meanwhile = consume(&api, topic, group, "c3", 10, 0).await;
    assert!(meanwhile.is_empty(), "c2's delivery was released by a stale receipt: {meanwhile:?}");
    assert_eq!(ack(&api, topic, group, &receipts(&second)).await, 1, "c2's ack");
}

/// Consumes (without waiting on the server) every 100 ms until something arrives.
async fn poll_until_some(
    server: &TestServer,
    topic: &str,
    group: &str,
    consumer: &str,
    within: Duration,
) -> Vec<Value> {
    let api = server.api();
    let deadline = Instant::now() + within;
    loop {
        let got = consume(&api, topic, group, consumer, 10, 0).await;
        if !got.is_empty() {
            return got;
        }
        assert!(Instant::now() < deadline, "nothing was redelivered within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn restart_loses_no_acked_or_unacked_message(server: TestServer) {
    const DURABLE_ACK_TIMEOUT_MS: u64 = 3_000;
    let mut server = server;
    let api = server.api();
    let (topic, group) = ("durable", "g");
    create_topic(&api, topic, 3).await;
    create_group(&api, topic, group, json!({"ackTimeoutMs": DURABLE_ACK_TIMEOUT_MS})).await;
    create_group(&api, topic, "idle", Value::Null).await;
    let messages: Vec<Value> = (0..30).map(|n| json!({"value": {"n": n}})).collect();
    let data =
        api.post_ok("/messages/batch", &json!({"topicName": topic, "messages": messages})).await;
    let sent: Vec<String> =
        data["results"].as_array().unwrap().iter().map(|r| text(r, "messageId")).collect();

    // Take 10, ack 5, leave 5 unacked; 20 are never fetched.
    let fetched_at = Instant::now();
    let mut taken = Vec::new();
    while taken.len() < 10 {
        let want = (10 - taken.len()) as u32;
        let batch = consume(&api, topic, group, "c1", want, 2_000).await;
        assert!(!batch.is_empty(), "30 messages are waiting, yet a fetch returned none");
        taken.extend(batch);
    }
    let (acked, unacked) = taken.split_at(5);
    assert_eq!(ack_all(&api, topic, group, acked).await, 5);
    let acked: BTreeSet<String> = ids(acked).into_iter().collect();
    let unacked: BTreeSet<String> = ids(unacked).into_iter().collect();
    let taken_ids: BTreeSet<String> = ids(&taken).into_iter().collect();
    let untouched: BTreeSet<String> =
        sent.iter().filter(|id| !taken_ids.contains(*id)).cloned().collect();
    assert_eq!(untouched.len(), 20);

    server.restart().await;
    let api = server.api();

    // Topics and groups survived.
    let topic_data = api.get_ok(&format!("/topics/{topic}")).await;
    assert_eq!(topic_data["partitions"], 3, "topic after the restart: {topic_data}");
    let groups = api.get_ok(&format!("/consumer-groups?topicName={topic}")).await;
    let group_ids: BTreeSet<String> = groups["items"]
        .as_array()
        .unwrap_or_else(|| panic!("consumer-groups: data.items: {groups}"))
        .iter()
        .map(|g| text(g, "groupId"))
        .collect();
    let expected_groups: BTreeSet<String> = [group, "idle"].map(String::from).into();
    assert_eq!(group_ids, expected_groups, "groups after the restart");

    // The 20 never fetched and the 5 unacked arrive (the latter after the ack timeout), the
    // 5 acked never do.
    let mut seen: BTreeMap<String, (u64, Duration)> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    let wanted = untouched.len() + unacked.len();
    while seen.len() < wanted && Instant::now() < deadline {
        let batch = consume(&api, topic, group, "c2", 100, 500).await;
        if batch.is_empty() {
            continue;
        }
        assert_eq!(ack_all(&api, topic, group, &batch).await, batch.len() as u64);
        for message in &batch {
            let id = text(message, "messageId");
            let count = int(message, "deliveryCount");
            let previous = seen.insert(id.clone(), (count, fetched_at.elapsed()));
            assert!(previous.is_none(), "{id} delivered twice after the restart");
            assert!(!acked.contains(&id), "{id} was acked before the restart, yet came back");
        }
    }
    for id in &untouched {
        let (count, _) = seen.get(id).unwrap_or_else(|| panic!("never-fetched {id} was lost"));
        assert_eq!(*count, 1, "{id} was never delivered before the restart");
    }
    for id in &unacked {
        let (count, at) = seen.get(id).unwrap_or_else(|| panic!("unacked {id} was lost"));
        assert!(*count >= 2, "{id} was delivered before the restart, deliveryCount {count}");
        assert!(
            *at >= Duration::from_millis(DURABLE_ACK_TIMEOUT_MS),
            "unacked {id} came back {at:?} after it was fetched, before ackTimeoutMs"
        );
    }

    // Offsets go on where they were, and a group that never fetched sees every message.
    let after = send(&api, topic, Some("after-restart"), json!("after")).await;
    let partition = int(&after, "partition");
    let stored = browse(&api, topic, partition as u32, 0, 1000).await;
    assert_eq!(int(&after, "offset") + 1, stored.len() as u64, "offsets after the restart");
    let got = consume_n(&api, topic, group, "c2", 1, Duration::from_secs(10), true).await;
    assert_eq!(ids(&got), [text(&after, "messageId")], "group {group} after the restart");
    let idle = consume_n(&api, topic, "idle", "i", 31, Duration::from_secs(30), true).await;
    let idle: BTreeSet<String> = ids(&idle).into_iter().collect();
    let mut everything: BTreeSet<String> = sent.into_iter().collect();
    everything.insert(text(&after, "messageId"));
    assert_eq!(idle, everything, "group `idle` after the restart");

    // Everything acked: nothing comes back once the ack timeout has passed.
    tokio::time::sleep(Duration::from_millis(DURABLE_ACK_TIMEOUT_MS + 500)).await;
    let late = consume(&api, topic, group, "c2", 100, 0).await;
    assert!(late.is_empty(), "acked messages came back: {late:?}");
}
