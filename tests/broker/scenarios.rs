//! Broker scenarios, each a plain async function over a [`BrokerUnderTest`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mq_broker::{
    Broker, BrokerError, Delay, FetchRequest, GroupSpec, Nack, OutgoingMessage, ReceivedMessage,
    SubscribeOptions, TopicUpdate,
};
use mq_model::{
    ConsumerStatus, DeliveryMode, MessageType, Page, RetryPolicy, StartFrom, TopicConfig,
};
use mq_repo::TopicFilter;
use mq_tests::BrokerUnderTest;

pub(crate) async fn topic(broker: &Broker, name: &str, partitions: u32) {
    let cfg = TopicConfig { partitions, ..broker.topic_defaults(name) };
    broker.create_topic(cfg, "test").await.unwrap();
}

async fn group(
    broker: &Broker,
    topic: &str,
    id: &str,
    mode: DeliveryMode,
    ack_timeout_ms: i64,
    session_timeout_ms: i64,
) {
    let spec = GroupSpec {
        start_from: StartFrom::Earliest,
        delivery_mode: mode,
        ack_timeout_ms,
        session_timeout_ms,
        // No backoff: a failed delivery is available again at once, so these scenarios are
        // about delivery, not retry pacing (which `retries.rs` covers).
        retry_policy: RetryPolicy { initial_backoff_ms: 0, ..RetryPolicy::default() },
        ..GroupSpec::new(topic, id)
    };
    broker.create_group(spec).await.unwrap();
}

pub(crate) fn fetch_req(
    topic: &str,
    group: &str,
    consumer: &str,
    max: usize,
    wait_ms: u64,
) -> FetchRequest {
    FetchRequest {
        topic_name: topic.into(),
        group_id: group.into(),
        consumer_id: consumer.into(),
        max_messages: max,
        wait: Duration::from_millis(wait_ms),
    }
}

pub(crate) async fn fetch(
    broker: &Broker,
    topic: &str,
    group: &str,
    consumer: &str,
    max: usize,
) -> Vec<ReceivedMessage> {
    broker.fetch(&fetch_req(topic, group, consumer, max, 0)).await.unwrap()
}

pub(crate) async fn ack_all(
    broker: &Broker,
    topic: &str,
    group: &str,
    messages: &[ReceivedMessage],
) -> u64 {
    if messages.is_empty() {
        return 0;
    }
    let receipts: Vec<String> = messages.iter().map(|m| m.receipt.clone()).collect();
    broker.ack(topic, group, &receipts).await.unwrap()
}

pub(crate) async fn publish_n(broker: &Broker, topic: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let batch = chunk.iter().map(|i| OutgoingMessage::new(format!("m{i}"))).collect();
        broker.publish_batch(topic, batch).await.unwrap();
    }
}

pub(crate) fn text(m: &ReceivedMessage) -> String {
    String::from_utf8(m.message.value.clone()).unwrap()
}

pub async fn publish_routes_by_key_and_round_robin(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "orders", 6).await;
    let mut partitions = BTreeSet::new();
    let mut last_offset = None;
    for i in 0..20 {
        let message = OutgoingMessage::new(format!("v{i}")).with_key("user_123456");
        let published = b.publish("orders", message).await.unwrap();
        partitions.insert(published.partition);
        if let Some(last) = last_offset {
            assert_eq!(published.offset, Some(last + 1), "offsets in a partition grow by one");
        }
        last_offset = published.offset;
        assert!(published.message_id.starts_with("msg_"));
    }
    assert_eq!(partitions.len(), 1, "one key, one partition");
    assert_eq!(partitions.first().copied(), Some(mq_broker::partition_for_key(b"user_123456", 6)));

    let spread: BTreeSet<u32> = {
        let mut seen = BTreeSet::new();
        for i in 0..12 {
            seen.insert(
                b.publish("orders", OutgoingMessage::new(format!("nokey{i}")))
                    .await
                    .unwrap()
                    .partition,
            );
        }
        seen
    };
    assert_eq!(spread.len(), 6, "messages without a key go round-robin over all partitions");

    let headers = BTreeMap::from([("source".to_owned(), "user-service".to_owned())]);
    let full = OutgoingMessage {
        headers: headers.clone(),
        producer_id: Some("p1".into()),
        ..OutgoingMessage::new("x").with_key("k")
    };
    let published = b.publish("orders", full).await.unwrap();
    let offset = published.offset.unwrap();
    let browsed = b.browse("orders", published.partition, offset, 1).await.unwrap();
    let stored = &browsed.messages[0];
    assert_eq!(
        (stored.message_id.as_str(), stored.key.as_deref(), &stored.headers),
        (published.message_id.as_str(), Some("k"), &headers)
    );
    assert_eq!(stored.producer_id.as_deref(), Some("p1"));
    assert_eq!(stored.timestamp, published.timestamp);
    assert_eq!(browsed.next_offset, offset + 1);
}

pub async fn message_size_and_batch_limits_are_all_or_nothing(t: &BrokerUnderTest) {
    let b = &t.broker;
    let cfg = TopicConfig { max_message_size: 10, ..b.topic_defaults("small") };
    b.create_topic(cfg, "test").await.unwrap();
    b.publish("small", OutgoingMessage::new(vec![b'x'; 10])).await.unwrap();
    let err = b.publish("small", OutgoingMessage::new(vec![b'x'; 11])).await.unwrap_err();
    assert!(matches!(err, BrokerError::MessageTooLarge { size: 11, max: 10, .. }), "{err:?}");
    // Key and headers count too: a 1-byte value cannot carry the rest in its headers.
    let mut heavy = OutgoingMessage::new("v").with_key("kk");
    heavy.headers.insert("h".into(), "x".repeat(9));
    let err = b.publish("small", heavy).await.unwrap_err();
    assert!(
        matches!(&err, BrokerError::MessageTooLarge { size: 13, max: 10, field, .. } if field == "headers"),
        "{err:?}"
    );
    // Key and headers have bounds of their own, whatever the topic allows.
    let long_key = OutgoingMessage::new("v").with_key("k".repeat(mq_model::MAX_KEY_LEN + 1));
    let err = b.publish("small", long_key).await.unwrap_err();
    assert!(matches!(&err, BrokerError::Invalid(e) if e.field() == "key"), "{err:?}");

    let batch = vec![
        OutgoingMessage::new("ok"),
        OutgoingMessage::new(vec![b'y'; 11]),
        OutgoingMessage::new("ok"),
    ];
    let err = b.publish_batch("small", batch).await.unwrap_err();
    assert!(
        matches!(&err, BrokerError::MessageTooLarge { field, .. } if field == "messages[1].value"),
        "{err:?}"
    );
    let stored = b.browse("small", 0, 0, 100).await.unwrap();
    assert_eq!(stored.messages.len(), 1, "the failed batch stored nothing");

    for size in [0, 1001] {
        let batch = vec![OutgoingMessage::new("m"); size];
        let err = b.publish_batch("small", batch).await.unwrap_err();
        assert!(matches!(err, BrokerError::InvalidRequest { field: "messages", .. }), "{err:?}");
    }
    let thousand = vec![OutgoingMessage::new("m"); 1000];
    let results = b.publish_batch("small", thousand).await.unwrap();
    let offsets: Vec<u64> = results.iter().map(|r| r.offset.unwrap()).collect();
    assert_eq!(offsets, (1..=1000).collect::<Vec<_>>(), "results in request order");
    let err = b.publish("nowhere", OutgoingMessage::new("x")).await.unwrap_err();
    assert!(matches!(err, BrokerError::TopicNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("create it"), "{err}");
}

pub async fn topic_lifecycle_and_errors(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "payments", 2).await;
    let err = b.create_topic(b.topic_defaults("payments"), "test").await.unwrap_err();
    assert!(matches!(err, BrokerError::TopicExists { .. }), "{err:?}");
    let err = b.create_topic(b.topic_defaults("bad name"), "test").await.unwrap_err();
    assert!(matches!(err, BrokerError::Invalid(_)), "{err:?}");
    group(b, "payments", "g", DeliveryMode::Shared, 30_000, 10_000).await;
    let spec = GroupSpec::new("payments", "g");
    assert!(matches!(b.create_group(spec).await.unwrap_err(), BrokerError::GroupExists { .. }));
    assert!(matches!(
        b.create_group(GroupSpec::new("nope", "g")).await.unwrap_err(),
        BrokerError::TopicNotFound { .. }
    ));
    assert!(matches!(
        b.fetch(&fetch_req("payments", "ghost", "c", 1, 0)).await.unwrap_err(),
        BrokerError::GroupNotFound { .. }
    ));
    for (max, wait) in [(0, 0), (1001, 0), (1, 30_001)] {
        let err = b.fetch(&fetch_req("payments", "g", "c", max, wait)).await.unwrap_err();
        assert!(matches!(err, BrokerError::InvalidRequest { .. }), "{err:?}");
    }

    let update = TopicUpdate {
        description: Some("money".into()),
        retention_ms: Some(1000),
        ..TopicUpdate::default()
    };
    let updated = b.update_topic("payments", update).await.unwrap();
    assert_eq!((updated.description.as_str(), updated.retention_ms), ("money", 1000));
    let err = b
        .update_topic("payments", TopicUpdate { partitions: Some(1), ..TopicUpdate::default() })
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::PartitionsShrink { current: 2, requested: 1 }), "{err:?}");

    publish_n(b, "payments", 5).await;
    b.delete_topic("payments").await.unwrap();
    assert!(matches!(
        b.get_topic("payments").await.unwrap_err(),
        BrokerError::TopicNotFound { .. }
    ));
    assert!(
        b.list_groups(None, Page::default()).await.unwrap().items.is_empty(),
        "its groups went too"
    );
    topic(b, "payments", 2).await;
    assert!(b.browse("payments", 0, 0, 10).await.unwrap().messages.is_empty(), "and its messages");
    let listed = b.list_topics(&TopicFilter::default(), Page::default()).await.unwrap();
    assert_eq!(listed.total, 1);
}

pub async fn growing_partitions_reaches_existing_groups(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "grow", 1).await;
    group(b, "grow", "g", DeliveryMode::Shared, 30_000, 10_000).await;
    b.update_topic("grow", TopicUpdate { partitions: Some(3), ..TopicUpdate::default() })
        .await
        .unwrap();
    // Right after an update, another instance's topic cache could still say 1 partition; this
    // instance forgot its cached copy, so the new partitions are used at once.
    publish_n(b, "grow", 30).await;
    let got = fetch(b, "grow", "g", "c", 100).await;
    assert_eq!(got.len(), 30);
    let partitions: BTreeSet<u32> = got.iter().map(|m| m.message.partition).collect();
    assert_eq!(partitions, BTreeSet::from([0, 1, 2]));
}

pub async fn shared_group_spreads_work_and_delivers_everything_once(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "jobs", 4).await;
    group(b, "jobs", "workers", DeliveryMode::Shared, 30_000, 10_000).await;
    publish_n(b, "jobs", 300).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for consumer in ["c1", "c2", "c3"] {
        let (b, seen) = (b.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = 0;
            loop {
                let got = fetch(&b, "jobs", "workers", consumer, 7).await;
                if got.is_empty() {
                    break mine;
                }
                mine += got.len();
                ack_all(&b, "jobs", "workers", &got).await;
                seen.lock().unwrap().extend(got.iter().map(|m| m.message.message_id.clone()));
                // The work each batch stands for; without it the in-memory store is fast enough
                // for one consumer to drain everything before the others start.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap() > 0, "every consumer got a share");
    }
    let seen = seen.lock().unwrap();
    let unique: BTreeSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (300, 300), "each message exactly once");
}

pub async fn every_group_sees_every_message(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "events", 3).await;
    for g in ["email", "sms"] {
        group(b, "events", g, DeliveryMode::Shared, 30_000, 10_000).await;
    }
    publish_n(b, "events", 50).await;
    for g in ["email", "sms"] {
        let got = fetch(b, "events", g, "c", 1000).await;
        let values: BTreeSet<String> = got.iter().map(text).collect();
        assert_eq!(values.len(), 50, "group {g}");
        assert_eq!(ack_all(b, "events", g, &got).await, 50);
    }
    let late = GroupSpec { start_from: StartFrom::Latest, ..GroupSpec::new("events", "late") };
    b.create_group(late).await.unwrap();
    assert!(fetch(b, "events", "late", "c", 10).await.is_empty(), "a latest group skips the past");
    publish_n(b, "events", 1).await;
    assert_eq!(fetch(b, "events", "late", "c", 10).await.len(), 1);
}

pub async fn unacked_messages_come_back_after_the_ack_timeout(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "slow", 1).await;
    group(b, "slow", "g", DeliveryMode::Shared, 300, 10_000).await;
    publish_n(b, "slow", 2).await;
    let first = fetch(b, "slow", "g", "c1", 10).await;
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|m| m.delivery_count == 1));
    assert!(fetch(b, "slow", "g", "c2", 10).await.is_empty(), "in flight, not yet timed out");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = fetch(b, "slow", "g", "c2", 10).await;
    assert_eq!(
        again.iter().map(|m| m.message.message_id.clone()).collect::<Vec<_>>(),
        first.iter().map(|m| m.message.message_id.clone()).collect::<Vec<_>>()
    );
    assert!(again.iter().all(|m| m.delivery_count == 2));
    assert_eq!(ack_all(b, "slow", "g", &again).await, 2);
    assert_eq!(ack_all(b, "slow", "g", &first).await, 0, "settled receipts count nothing");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(fetch(b, "slow", "g", "c1", 10).await.is_empty(), "acked messages never come back");
    let unknown = b.ack("slow", "g", &["not-a-receipt".to_owned()]).await.unwrap();
    assert_eq!(unknown, 0, "unknown receipts count nothing");
    let err = b.ack("slow", "g", &[]).await.unwrap_err();
    assert!(matches!(err, BrokerError::InvalidRequest { field: "receipts", .. }), "{err:?}");
}

pub async fn nack_makes_a_message_available_at_once(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "flaky", 1).await;
    group(b, "flaky", "g", DeliveryMode::Shared, 60_000, 10_000).await;
    publish_n(b, "flaky", 1).await;
    let got = fetch(b, "flaky", "g", "c1", 1).await;
    let receipts = vec![got[0].receipt.clone()];
    assert_eq!(b.nack("flaky", "g", &receipts, &Nack::because("boom")).await.unwrap(), 1);
    let again = fetch(b, "flaky", "g", "c2", 1).await;
    assert_eq!(again.len(), 1, "no need to wait for the 60 s ack timeout");
    assert_eq!(
        (again[0].message.message_id.as_str(), again[0].delivery_count),
        (got[0].message.message_id.as_str(), 2)
    );
    let stale = b.nack("flaky", "g", &receipts, &Nack::default()).await.unwrap();
    assert_eq!(stale, 0, "a stale nack releases nothing");
    assert!(fetch(b, "flaky", "g", "c3", 1).await.is_empty(), "c2 keeps its delivery");
}

pub async fn ordered_group_owns_partitions_and_hands_them_over_in_order(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "ledger", 4).await;
    group(b, "ledger", "g", DeliveryMode::Ordered, 60_000, 800).await;
    // Both join before anything is published.
    assert!(fetch(b, "ledger", "g", "a", 1).await.is_empty());
    assert!(fetch(b, "ledger", "g", "b", 1).await.is_empty());
    let keys: Vec<String> = (0..8).map(|k| format!("account-{k}")).collect();
    for seq in 0..10 {
        let batch = keys
            .iter()
            .map(|k| OutgoingMessage::new(format!("{k}:{seq}")).with_key(k.clone()))
            .collect();
        b.publish_batch("ledger", batch).await.unwrap();
    }

    let a_first = fetch(b, "ledger", "g", "a", 1000).await;
    let b_first = fetch(b, "ledger", "g", "b", 1000).await;
    let parts =
        |ms: &[ReceivedMessage]| ms.iter().map(|m| m.message.partition).collect::<BTreeSet<_>>();
    assert!(!a_first.is_empty() && !b_first.is_empty());
    assert!(parts(&a_first).is_disjoint(&parts(&b_first)), "a partition has one owner");
    assert!(
        fetch(b, "ledger", "g", "a", 1000).await.is_empty(),
        "one batch in flight per partition"
    );

    // a acks half of what it got and goes silent; b keeps fetching and takes over.
    let (a_acked, a_left) = a_first.split_at(a_first.len() / 2);
    ack_all(b, "ledger", "g", a_acked).await;
    let mut delivered: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    record(&mut delivered, a_acked);
    record(&mut delivered, &b_first);
    ack_all(b, "ledger", "g", &b_first).await;
    let started = Instant::now();
    let mut took_over = false;
    while started.elapsed() < Duration::from_secs(20) {
        let got = fetch(b, "ledger", "g", "b", 1000).await;
        if got.is_empty() {
            if took_over && delivered.values().map(Vec::len).sum::<usize>() == 80 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if got.iter().any(|m| parts(a_left).contains(&m.message.partition)) && !took_over {
            took_over = true;
            let inherited: BTreeSet<_> =
                a_left.iter().map(|m| m.message.message_id.clone()).collect();
            let first_ids: BTreeSet<_> = got
                .iter()
                .filter(|m| parts(a_left).contains(&m.message.partition))
                .map(|m| m.message.message_id.clone())
                .collect();
            assert_eq!(
                first_ids, inherited,
                "the new owner first gets the old owner's unacked messages"
            );
            assert!(got
                .iter()
                .filter(|m| inherited.contains(&m.message.message_id))
                .all(|m| m.delivery_count == 2));
        }
        record(&mut delivered, &got);
        ack_all(b, "ledger", "g", &got).await;
    }
    assert!(took_over, "b took over a's partitions after a's session timeout");
    for (key, seqs) in delivered {
        assert_eq!(seqs, (0..10).collect::<Vec<_>>(), "key {key}: every message once, in order");
    }
}

/// Notes each message's per-key sequence number (values are `key:seq`) in delivery order.
fn record(delivered: &mut BTreeMap<String, Vec<u32>>, messages: &[ReceivedMessage]) {
    for m in messages {
        let value = text(m);
        let (key, seq) = value.split_once(':').unwrap();
        delivered.entry(key.to_owned()).or_default().push(seq.parse().unwrap());
    }
}

pub async fn long_poll_returns_when_a_message_arrives(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "wait", 2).await;
    group(b, "wait", "g", DeliveryMode::Shared, 30_000, 10_000).await;
    let publisher = {
        let b = b.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            b.publish("wait", OutgoingMessage::new("hello")).await.unwrap();
        })
    };
    let started = Instant::now();
    let got = b.fetch(&fetch_req("wait", "g", "c", 10, 10_000)).await.unwrap();
    assert_eq!(got.len(), 1);
    // Generous: this checks that the wait ends on arrival, not how fast it is.
    assert!(started.elapsed() < Duration::from_secs(8), "returned on arrival, not at the deadline");
    publisher.await.unwrap();

    let started = Instant::now();
    assert!(b.fetch(&fetch_req("wait", "g", "c", 10, 400)).await.unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(400), "an empty long poll waits it out");

    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.fetch(&fetch_req("wait", "g", "c", 10, 30_000)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.shutdown().await;
    let ended = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("shutdown ends long polls");
    assert!(ended.unwrap().unwrap().is_empty());
    assert!(matches!(
        b.publish("wait", OutgoingMessage::new("x")).await,
        Err(BrokerError::ShuttingDown)
    ));
}

pub async fn subscribe_acks_retries_and_stops_cleanly(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "tasks", 2).await;
    group(b, "tasks", "g", DeliveryMode::Shared, 30_000, 10_000).await;
    publish_n(b, "tasks", 40).await;
    let done = Arc::new(Mutex::new(BTreeSet::new()));
    let attempts = Arc::new(AtomicUsize::new(0));
    let options =
        SubscribeOptions { wait: Duration::from_millis(200), ..SubscribeOptions::new("worker") };
    let sub = {
        let (done, attempts) = (done.clone(), attempts.clone());
        b.subscribe("tasks", "g", options, move |m: ReceivedMessage| {
            let (done, attempts) = (done.clone(), attempts.clone());
            async move {
                attempts.fetch_add(1, Ordering::SeqCst);
                // Every message fails on its first delivery and succeeds on the second.
                if m.delivery_count == 1 {
                    return Err("not yet".into());
                }
                done.lock().unwrap().insert(String::from_utf8(m.message.value).unwrap());
                Ok(())
            }
        })
    };
    let started = Instant::now();
    while done.lock().unwrap().len() < 40 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::timeout(Duration::from_secs(10), sub.stop()).await.expect("stop is prompt");
    assert_eq!(done.lock().unwrap().len(), 40, "every message handled");
    assert_eq!(attempts.load(Ordering::SeqCst), 80, "one failure and one success each");
    assert!(fetch(b, "tasks", "g", "other", 100).await.is_empty(), "all acked");
    let members = b.consumers(Some("tasks"), Some("g")).await.unwrap();
    assert!(
        members.iter().all(|c| c.consumer_id != "worker"),
        "a stopped subscription leaves its group"
    );
}

pub async fn retention_trims_expired_messages(t: &BrokerUnderTest) {
    let b = &t.broker;
    let cfg = TopicConfig { retention_ms: 200, partitions: 2, ..b.topic_defaults("short") };
    b.create_topic(cfg, "test").await.unwrap();
    topic(b, "long", 1).await;
    publish_n(b, "short", 10).await;
    publish_n(b, "long", 10).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    publish_n(b, "short", 1).await;
    let removed = b.trim_all().await.unwrap();
    assert_eq!(removed, 10);
    let left = b.browse("short", 0, 0, 100).await.unwrap().messages.len()
        + b.browse("short", 1, 0, 100).await.unwrap().messages.len();
    assert_eq!(left, 1, "only the fresh message stays");
    assert_eq!(
        b.browse("long", 0, 0, 100).await.unwrap().messages.len(),
        10,
        "7-day retention keeps all"
    );
}

pub async fn consumers_view_shows_assignment_and_lag(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "view", 4).await;
    group(b, "view", "ordered", DeliveryMode::Ordered, 30_000, 10_000).await;
    group(b, "view", "shared", DeliveryMode::Shared, 30_000, 10_000).await;
    publish_n(b, "view", 40).await;
    fetch(b, "view", "ordered", "x", 1).await;
    fetch(b, "view", "ordered", "y", 1).await;
    let got = fetch(b, "view", "shared", "z", 5).await;
    ack_all(b, "view", "shared", &got[..2]).await;

    let all = b.consumers(Some("view"), None).await.unwrap();
    let by_id: BTreeMap<_, _> = all.iter().map(|c| (c.consumer_id.as_str(), c)).collect();
    assert_eq!(by_id.keys().copied().collect::<Vec<_>>(), ["x", "y", "z"]);
    assert_eq!(by_id["x"].assigned_partitions, vec![0, 2]);
    assert_eq!(by_id["y"].assigned_partitions, vec![1, 3]);
    assert_eq!(by_id["z"].assigned_partitions, vec![0, 1, 2, 3]);
    assert!(all.iter().all(|c| c.status == ConsumerStatus::Active));
    let z = by_id["z"];
    assert_eq!(z.lag, 35, "40 published, 5 delivered");
    assert_eq!(z.partitions.iter().map(|p| p.pending).sum::<u64>(), 3);
    let only = b.consumers(Some("view"), Some("shared")).await.unwrap();
    assert_eq!(only.len(), 1);
    let groups = b.list_groups(Some("view"), Page::default()).await.unwrap();
    let counts: Vec<_> =
        groups.items.iter().map(|g| (g.group_id.as_str(), g.consumer_count)).collect();
    assert_eq!(counts, [("ordered", 2), ("shared", 1)]);
    assert_eq!(b.consumers(None, None).await.unwrap().len(), 3);
}

pub async fn a_restart_loses_no_acked_or_unacked_message(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "durable", 2).await;
    group(b, "durable", "g", DeliveryMode::Shared, 500, 10_000).await;
    publish_n(b, "durable", 20).await;
    let got = fetch(b, "durable", "g", "c", 10).await;
    ack_all(b, "durable", "g", &got[..6]).await;
    let unacked: BTreeSet<String> = got[6..].iter().map(text).collect();
    b.shutdown().await;

    let reopened = Broker::open(t.config.as_ref().unwrap()).await.unwrap();
    assert_eq!(reopened.get_topic("durable").await.unwrap().partitions, 2);
    reopened.get_group("durable", "g").await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut after = BTreeSet::new();
    let mut redelivered = BTreeSet::new();
    loop {
        let more = fetch(&reopened, "durable", "g", "c2", 100).await;
        if more.is_empty() {
            break;
        }
        for m in &more {
            if m.delivery_count > 1 {
                redelivered.insert(text(m));
            }
            after.insert(text(m));
        }
        ack_all(&reopened, "durable", "g", &more).await;
    }
    let acked: BTreeSet<String> = got[..6].iter().map(text).collect();
    assert_eq!(redelivered, unacked, "unacked messages come back after the ack timeout");
    assert!(after.is_disjoint(&acked), "acked messages never come back");
    assert_eq!(after.len() + acked.len(), 20, "nothing lost");
    reopened.shutdown().await;
}

/// Fetches (long-polling) until `n` messages arrived or `within` passed.
async fn fetch_until(
    b: &Broker,
    topic: &str,
    group: &str,
    n: usize,
    within: Duration,
) -> Vec<ReceivedMessage> {
    let started = Instant::now();
    let mut got = Vec::new();
    while got.len() < n && started.elapsed() < within {
        let more = b.fetch(&fetch_req(topic, group, "c", 100, 500)).await.unwrap();
        ack_all(b, topic, group, &more).await;
        got.extend(more);
    }
    got
}

pub async fn delayed_messages_wait_then_arrive_once(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "later", 2).await;
    group(b, "later", "g", DeliveryMode::Shared, 30_000, 10_000).await;
    let soon = b
        .publish("later", OutgoingMessage::new("in 0.8 s").delayed_by(Duration::from_millis(800)))
        .await
        .unwrap();
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(1200);
    let timed = b
        .publish("later", OutgoingMessage::new("at a time").with_key("k").deliver_at(at))
        .await
        .unwrap();
    let now = b.publish("later", OutgoingMessage::new("now")).await.unwrap();
    assert!(soon.is_scheduled() && timed.is_scheduled() && !now.is_scheduled());
    assert_eq!(timed.deliver_at.map(|d| d.timestamp_millis()), Some(at.timestamp_millis()));

    let first = fetch(b, "later", "g", "c", 100).await;
    assert_eq!(
        first.iter().map(text).collect::<Vec<_>>(),
        ["now"],
        "delayed messages are invisible until due"
    );
    ack_all(b, "later", "g", &first).await;
    let listed = b.list_scheduled("later", None, 10).await.unwrap();
    let ids: Vec<&str> = listed.items.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, [soon.message_id.as_str(), timed.message_id.as_str()], "earliest first");
    assert_eq!(listed.items[1].key.as_deref(), Some("k"));
    assert_eq!(b.scheduled_counts("later").await.unwrap().scheduled, 2);

    let later = fetch_until(b, "later", "g", 2, Duration::from_secs(15)).await;
    let mut texts: Vec<String> = later.iter().map(text).collect();
    texts.sort();
    assert_eq!(texts, ["at a time", "in 0.8 s"]);
    assert!(later.iter().all(|m| m.message.message_type == MessageType::Delay));
    for m in &later {
        let due = if text(m) == "at a time" { timed.deliver_at } else { soon.deliver_at };
        assert!(
            m.message.timestamp >= due.unwrap(),
            "never early: appended {} due {:?}",
            m.message.timestamp,
            due
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fetch(b, "later", "g", "c", 100).await.is_empty(), "each fired once");
    assert_eq!(b.scheduled_counts("later").await.unwrap().scheduled, 0);
    assert!(b.delay_stats().fired_total >= 2);
}

pub async fn scheduled_messages_can_be_cancelled_and_rescheduled(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "orders-timeout", 1).await;
    group(b, "orders-timeout", "g", DeliveryMode::Shared, 30_000, 10_000).await;
    let hour = Duration::from_secs(3600);
    let mut ids = Vec::new();
    for name in ["cancel me", "sooner", "stay"] {
        ids.push(
            b.publish("orders-timeout", OutgoingMessage::new(name).delayed_by(hour))
                .await
                .unwrap()
                .message_id,
        );
    }
    // Found in the topic named, or searched for in every topic.
    b.cancel_scheduled(&ids[0], Some("orders-timeout")).await.unwrap();
    let again = b.cancel_scheduled(&ids[0], None).await.unwrap_err();
    assert!(matches!(again, BrokerError::ScheduledNotFound { .. }), "{again:?}");
    assert!(matches!(
        b.cancel_scheduled("msg_unknown", None).await,
        Err(BrokerError::ScheduledNotFound { .. })
    ));
    assert!(matches!(
        b.cancel_scheduled(&ids[2], Some("no-such-topic")).await,
        Err(BrokerError::TopicNotFound { .. })
    ));

    let moved = b.reschedule(&ids[1], Delay::Seconds(0.3), None).await.unwrap();
    assert_eq!(moved.topic_name, "orders-timeout");
    let got = fetch_until(b, "orders-timeout", "g", 1, Duration::from_secs(15)).await;
    assert_eq!(got.iter().map(text).collect::<Vec<_>>(), ["sooner"]);
    assert!(
        matches!(
            b.reschedule(&ids[1], Delay::Seconds(5.0), Some("orders-timeout")).await,
            Err(BrokerError::ScheduledNotFound { .. })
        ),
        "fired already"
    );

    let left = b.list_scheduled("orders-timeout", None, 10).await.unwrap();
    assert_eq!(
        left.items.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(),
        [ids[2].as_str()]
    );

    for bad in [
        OutgoingMessage::new("x").delayed_by(Duration::ZERO),
        OutgoingMessage {
            delay: Some(Delay::Seconds(-1.0)),
            ..OutgoingMessage::new("x").delayed_by(hour)
        },
        OutgoingMessage {
            delay: Some(Delay::Seconds(31.0 * 86_400.0)),
            ..OutgoingMessage::new("x").delayed_by(hour)
        },
        OutgoingMessage::new("x").deliver_at(chrono::Utc::now() - chrono::Duration::seconds(60)),
        OutgoingMessage {
            message_type: MessageType::Normal,
            ..OutgoingMessage::new("x").delayed_by(hour)
        },
        OutgoingMessage { message_type: MessageType::Delay, ..OutgoingMessage::new("x") },
    ] {
        let err = b.publish("orders-timeout", bad.clone()).await.unwrap_err();
        assert!(
            matches!(err, BrokerError::Delay(_) | BrokerError::InvalidRequest { .. }),
            "{bad:?}: {err:?}"
        );
    }
}

pub async fn a_restart_with_a_full_schedule_delivers_every_delayed_message_once(
    t: &BrokerUnderTest,
) {
    const TOTAL: usize = 100_000;
    let b = &t.broker;
    topic(b, "backlog", 4).await;
    group(b, "backlog", "g", DeliveryMode::Shared, 60_000, 10_000).await;
    // Due a few seconds out, so most are still scheduled when the broker stops.
    let due = chrono::Utc::now() + chrono::Duration::seconds(8);
    for chunk in 0..TOTAL / 1000 {
        let batch = (0..1000)
            .map(|i| OutgoingMessage::new(format!("d{}", chunk * 1000 + i)).deliver_at(due))
            .collect();
        b.publish_batch("backlog", batch).await.unwrap();
    }
    let waiting = b.scheduled_counts("backlog").await.unwrap().scheduled;
    assert!(waiting >= (TOTAL / 2) as u64, "most are still scheduled at the stop: {waiting}");
    b.shutdown().await;

    let reopened = Broker::open(t.config.as_ref().unwrap()).await.unwrap();
    let mut seen = BTreeSet::new();
    let mut duplicates = 0;
    let started = Instant::now();
    while seen.len() < TOTAL && started.elapsed() < Duration::from_secs(120) {
        let got = reopened.fetch(&fetch_req("backlog", "g", "c", 1000, 1000)).await.unwrap();
        for m in &got {
            if !seen.insert(text(m)) {
                duplicates += 1;
            }
        }
        ack_all(&reopened, "backlog", "g", &got).await;
    }
    assert_eq!((seen.len(), duplicates), (TOTAL, 0), "every scheduled message delivered, once");
    assert_eq!(reopened.scheduled_counts("backlog").await.unwrap().scheduled, 0);
    reopened.shutdown().await;
}

pub async fn a_group_deleted_elsewhere_is_not_brought_back(t: &BrokerUnderTest) {
    let a = &t.broker;
    let b = t.second_instance().await;
    topic(a, "shared-state", 2).await;
    group(a, "shared-state", "g", DeliveryMode::Shared, 30_000, 10_000).await;
    publish_n(a, "shared-state", 4).await;
    // b reads (and caches) the group, then a deletes it.
    assert_eq!(fetch(&b, "shared-state", "g", "c", 1).await.len(), 1);
    a.delete_group("shared-state", "g").await.unwrap();
    // Within b's cache window its fetch finds the log group gone and must not recreate it.
    let err = b.fetch(&fetch_req("shared-state", "g", "c", 10, 0)).await.unwrap_err();
    assert!(matches!(err, BrokerError::GroupNotFound { .. }), "{err:?}");
    let topic = a.get_topic("shared-state").await.unwrap();
    for partition in 0..2 {
        let lag = a.message_log().group_lag((&topic).into(), partition, "g").await;
        assert!(lag.is_err(), "partition {partition}: the deleted group came back in the log");
    }
    b.shutdown().await;
}
