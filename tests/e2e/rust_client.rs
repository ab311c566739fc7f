//! The Rust client `mq-client` (issue 9) against the real server: every method, the typed
//! errors, the Server-Sent Events stream, tokens and audit with an admin token, and retries
//! across a restart.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use mq_client::{
    AuditQuery, Browse, Client, Consume, ConsumerQuery, CreateGroup, CreateToken, CreateTopic,
    DeadLetterFilter, DeadLetterStatus, Delay, Delivery, DeliveryMode, DeliveryStream, ErrorKind,
    GroupQuery, MessageType, MonitoringQuery, MonitoringSection, Nack, Publish, PublishStatus,
    RetryPolicy, RetrySelection, Role, StartFrom, StreamConsume, TopicQuery, TopicStatus,
    TransactionQuery, TransactionState, TxnOptions, UpdateGroup, UpdateTopic,
};
use serde_json::{json, Value};

use crate::server::{StartOptions, TestServer};

/// Bound on waiting for messages that should arrive.
const ARRIVE_WITHIN: Duration = Duration::from_secs(10);

/// A client of `server`, plain HTTP on loopback.
fn client(server: &TestServer) -> Client {
    Client::builder(format!("http://127.0.0.1:{}", server.port())).build().unwrap()
}

/// A group reading from the earliest message, retrying at once (as `support::create_group`).
fn group(topic: &str, id: &str) -> CreateGroup {
    CreateGroup {
        retry_policy: Some(RetryPolicy { initial_backoff_ms: 0, ..RetryPolicy::default() }),
        ..CreateGroup::new(topic, id).start_from(StartFrom::Earliest)
    }
}

/// Long-polls as consumer `c` until `n` deliveries arrived or [`ARRIVE_WITHIN`] passed.
async fn consume_n(mq: &Client, topic: &str, group: &str, n: usize) -> Vec<Delivery> {
    let started = Instant::now();
    let mut got = Vec::new();
    while got.len() < n && started.elapsed() < ARRIVE_WITHIN {
        let request =
            Consume::new(topic, group, "c").max_messages(10).wait(Duration::from_millis(300));
        got.extend(mq.consume(&request).await.unwrap());
    }
    assert_eq!(got.len(), n, "deliveries of {topic}/{group}: {got:?}");
    got
}

/// The next delivery of a stream, which must come within [`ARRIVE_WITHIN`].
async fn next(stream: &mut DeliveryStream) -> Delivery {
    let item = tokio::time::timeout(ARRIVE_WITHIN, stream.next()).await;
    item.expect("a delivery within the bound").expect("the stream goes on").unwrap()
}

fn receipts(deliveries: &[Delivery]) -> Vec<String> {
    deliveries.iter().map(|d| d.receipt.clone()).collect()
}

pub async fn publish_consume_and_settle_through_the_client(server: TestServer) {
    let mq = client(&server);
    let topic = "rc-orders";
    mq.create_topic(&CreateTopic::new(topic).partitions(2)).await.unwrap();
    mq.create_group(&group(topic, "g")).await.unwrap();

    // One message, a batch in request order, a delayed one.
    let first = mq
        .publish(topic, &Publish::new(json!({"n": 1})).key("k").header("source", "test"))
        .await
        .unwrap();
    assert_eq!(first.status, PublishStatus::Appended);
    assert!(first.message_id.starts_with("msg_"), "{first:?}");
    assert_eq!(first.topic_name, topic);
    assert!(first.timestamp.is_some() && first.deliver_at.is_none(), "{first:?}");
    let offset = first.offset.unwrap();
    let batch = mq
        .publish_batch(topic, &[Publish::new(2).key("k"), Publish::new("three").key("k")])
        .await
        .unwrap();
    assert_eq!(batch.len(), 2);
    for (i, sent) in batch.iter().enumerate() {
        assert_eq!((sent.topic_name.as_str(), sent.partition), (topic, first.partition));
        assert_eq!(sent.offset, Some(offset + 1 + i as u64), "same key, same partition, in order");
    }
    let soon =
        mq.publish(topic, &Publish::new("soon").delay(Duration::from_millis(200))).await.unwrap();
    assert_eq!((soon.status, soon.offset), (PublishStatus::Scheduled, None));
    assert!(soon.deliver_at.is_some(), "{soon:?}");

    // Scheduled messages: listed, moved, cancelled.
    let later =
        mq.publish(topic, &Publish::new("later").delay(Duration::from_secs(600))).await.unwrap();
    let listed = mq.list_scheduled(topic, Some(10), None).await.unwrap();
    assert!(listed.items.iter().any(|m| m.message_id == later.message_id), "{listed:?}");
    let moved =
        mq.reschedule(&later.message_id, Delay::After(Duration::from_secs(1200))).await.unwrap();
    assert!(Some(moved.deliver_at) > later.deliver_at, "{moved:?} vs {later:?}");
    mq.cancel_scheduled(&later.message_id).await.unwrap();
    let gone = mq.cancel_scheduled(&later.message_id).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");

    // Consume all four (the delayed one once due); values come back as published.
    let mut got = consume_n(&mq, topic, "g", 4).await;
    got.sort_by_key(|d| (d.partition, d.offset));
    let by_value =
        |v: Value| got.iter().find(|d| d.value == v).unwrap_or_else(|| panic!("{v} in {got:?}"));
    let one = by_value(json!({"n": 1}));
    assert_eq!(one.headers.get("source").map(String::as_str), Some("test"));
    assert_eq!(one.key.as_deref(), Some("k"));
    assert_eq!(one.bytes().unwrap(), br#"{"n":1}"#);
    assert_eq!(one.delivery_count, 1);
    assert_eq!(one.message_type, MessageType::Normal);
    assert_eq!(by_value(json!(2)).value_as::<u32>().unwrap(), 2);
    assert_eq!(by_value(json!("three")).bytes().unwrap(), b"three");
    by_value(json!("soon"));

    // A nack brings a message back at once (no backoff in this group), counted.
    let nacked_id = one.message_id.clone();
    assert_eq!(mq.nack(topic, "g", &[&one.receipt], &Nack::reason("try again")).await.unwrap(), 1);
    let again = consume_n(&mq, topic, "g", 1).await;
    assert_eq!((again[0].message_id.as_str(), again[0].delivery_count), (nacked_id.as_str(), 2));
    // A long job extends its lease, then everything is acked, once.
    assert_eq!(mq.extend(topic, "g", &receipts(&again), Duration::from_secs(20)).await.unwrap(), 1);
    let mut settle: Vec<String> =
        got.iter().filter(|d| d.message_id != nacked_id).map(|d| d.receipt.clone()).collect();
    settle.extend(receipts(&again));
    assert_eq!(mq.ack(topic, "g", &settle).await.unwrap(), 4);
    assert_eq!(mq.ack(topic, "g", &settle).await.unwrap(), 0, "a receipt settles once");

    // Release gives a delivery back without a failed attempt.
    mq.publish(topic, &Publish::new("released")).await.unwrap();
    let held = consume_n(&mq, topic, "g", 1).await;
    assert_eq!(mq.release(topic, "g", &receipts(&held)).await.unwrap(), 1);
    let back = consume_n(&mq, topic, "g", 1).await;
    assert_eq!((back[0].value.clone(), back[0].delivery_count), (json!("released"), 1));
    assert_eq!(mq.ack(topic, "g", &receipts(&back)).await.unwrap(), 1);

    // Browsing reads a partition without delivering.
    let browsed = mq
        .browse(
            topic,
            &Browse { partition: Some(first.partition), from_offset: Some(offset), limit: Some(3) },
        )
        .await
        .unwrap();
    let offsets: Vec<u64> = browsed.messages.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, [offset, offset + 1, offset + 2]);
    assert_eq!(browsed.messages[0].message_id, first.message_id);
    assert_eq!(browsed.messages[0].bytes().unwrap(), br#"{"n":1}"#);
    assert_eq!(browsed.next_offset, offset + 3);

    // The consumer that fetched is listed.
    let query = ConsumerQuery { topic_name: Some(topic.into()), ..ConsumerQuery::default() };
    let consumers = mq.list_consumers(&query).await.unwrap();
    assert_eq!(consumers.total, 1, "{consumers:?}");
    let consumer = &consumers.items[0];
    assert_eq!((consumer.consumer_id.as_str(), consumer.group_id.as_str()), ("c", "g"));
    assert_eq!(consumer.lag, 0, "{consumer:?}");
}

pub async fn the_client_streams_deliveries_and_ends_on_shutdown(mut server: TestServer) {
    let mq = client(&server);
    let topic = "rc-live";
    mq.create_topic(&CreateTopic::new(topic)).await.unwrap();
    mq.create_group(&group(topic, "g")).await.unwrap();
    for i in 0..3 {
        mq.publish(topic, &Publish::new(i)).await.unwrap();
    }
    let request = StreamConsume {
        heartbeat_ms: Some(200),
        ..StreamConsume::new(topic, "g", "s1").max_in_flight(2)
    };
    let mut stream = mq.stream(&request).await.unwrap();
    // Two in flight at most; acking makes room for the third, and a new message follows.
    let (a, b) = (next(&mut stream).await, next(&mut stream).await);
    assert_eq!((a.value.clone(), b.value.clone()), (json!(0), json!(1)));
    assert!(a.delivery_count == 1 && !a.receipt.is_empty(), "{a:?}");
    assert_eq!(mq.ack(topic, "g", &[a.receipt, b.receipt]).await.unwrap(), 2);
    assert_eq!(next(&mut stream).await.value, json!(2));
    mq.publish(topic, &Publish::new(3)).await.unwrap();
    let d = next(&mut stream).await;
    assert_eq!(d.value, json!(3));
    mq.ack(topic, "g", &[d.receipt]).await.unwrap();

    // Refusals come before the stream, typed.
    let unknown = mq.stream(&StreamConsume::new("rc-nope", "g", "s")).await.unwrap_err();
    assert!(unknown.is_not_found(), "{unknown:?}");
    let bad = mq.stream(&StreamConsume::new(topic, "g", "s").max_in_flight(0)).await.unwrap_err();
    assert!(bad.is_bad_request() && bad.api_message().unwrap().contains("maxInFlight"), "{bad:?}");

    // Shutdown ends the stream cleanly: `event: end` is the end, not an error.
    let stopping = tokio::spawn(async move {
        server.stop().await;
        server
    });
    let last = tokio::time::timeout(Duration::from_secs(30), stream.next()).await.unwrap();
    assert!(last.is_none(), "the stream should end cleanly, got {last:?}");
    assert!(stream.next().await.is_none(), "and stay ended");
    let _server = stopping.await.unwrap();
}

pub async fn topics_groups_and_typed_errors_through_the_client(server: TestServer) {
    let mq = client(&server);
    let created = mq
        .create_topic(&CreateTopic {
            description: Some("orders".into()),
            ..CreateTopic::new("rc-admin").partitions(2)
        })
        .await
        .unwrap();
    assert_eq!((created.name.as_str(), created.status), ("rc-admin", TopicStatus::Active));
    assert!(created.topic_id.starts_with("topic_"), "{created:?}");
    let taken = mq.create_topic(&CreateTopic::new("rc-admin")).await.unwrap_err();
    assert_eq!((taken.kind(), taken.status()), (ErrorKind::Conflict, Some(409)), "{taken:?}");
    assert!(taken.is_conflict());

    let topic = mq.get_topic("rc-admin").await.unwrap();
    assert_eq!((topic.partitions, topic.description.as_str()), (2, "orders"));
    mq.create_topic(&CreateTopic::new("other")).await.unwrap();
    let query = TopicQuery { prefix: Some("rc-".into()), ..TopicQuery::default() };
    let listed = mq.list_topics(&query).await.unwrap();
    assert_eq!(listed.total, 1, "{listed:?}");
    assert_eq!(listed.items[0].name, "rc-admin");
    let paged = mq
        .list_topics(&TopicQuery { page_size: Some(1), page: Some(2), ..TopicQuery::default() })
        .await
        .unwrap();
    assert_eq!((paged.total, paged.items.len(), paged.page, paged.page_size), (2, 1, 2, 1));
    let grown = mq
        .update_topic("rc-admin", &UpdateTopic { partitions: Some(3), ..UpdateTopic::default() })
        .await
        .unwrap();
    assert_eq!(grown.partitions, 3);
    let shrink = mq
        .update_topic("rc-admin", &UpdateTopic { partitions: Some(1), ..UpdateTopic::default() })
        .await
        .unwrap_err();
    assert!(
        shrink.is_bad_request() && shrink.api_message().unwrap().contains("shrink"),
        "{shrink:?}"
    );

    // 400s name the field; 404s and 413 have their kinds.
    let bad_name = mq.create_topic(&CreateTopic::new("bad name")).await.unwrap_err();
    assert_eq!(bad_name.kind(), ErrorKind::BadRequest);
    assert!(bad_name.api_message().unwrap().contains("name"), "{bad_name}");
    let empty = mq.publish_batch("rc-admin", &[]).await.unwrap_err();
    assert!(empty.is_bad_request() && empty.api_message().unwrap().contains("messages"), "{empty}");
    let missing = mq.get_topic("rc-missing").await.unwrap_err();
    assert_eq!((missing.kind(), missing.status()), (ErrorKind::NotFound, Some(404)));
    assert!(missing.to_string().contains("404"), "{missing}");
    assert!(mq.publish("rc-missing", &Publish::new(1)).await.unwrap_err().is_not_found());
    mq.create_topic(&CreateTopic { max_message_size: Some(16), ..CreateTopic::new("rc-small") })
        .await
        .unwrap();
    let large = mq.publish("rc-small", &Publish::new("x".repeat(100))).await.unwrap_err();
    assert_eq!(large.kind(), ErrorKind::PayloadTooLarge, "{large:?}");

    // Groups.
    let spec = CreateGroup {
        delivery_mode: Some(DeliveryMode::Ordered),
        retry_policy: Some(RetryPolicy { max_retries: 2, ..RetryPolicy::default() }),
        ..CreateGroup::new("rc-admin", "billing")
    };
    let made = mq.create_group(&spec).await.unwrap();
    assert_eq!((made.delivery_mode, made.retry_policy.max_retries), (DeliveryMode::Ordered, 2));
    assert!(mq.create_group(&spec).await.unwrap_err().is_conflict());
    assert_eq!(mq.get_group("rc-admin", "billing").await.unwrap().group_id, "billing");
    let groups = mq
        .list_groups(&GroupQuery { topic_name: Some("rc-admin".into()), ..GroupQuery::default() })
        .await
        .unwrap();
    assert_eq!(groups.total, 1);
    let updated = mq
        .update_group(
            "rc-admin",
            "billing",
            &UpdateGroup { ack_timeout_ms: Some(5_000), ..UpdateGroup::default() },
        )
        .await
        .unwrap();
    assert_eq!(updated.ack_timeout_ms, 5_000);
    let parts = mq.group_partitions("rc-admin", "billing").await.unwrap();
    assert!(!parts.is_empty() && parts.iter().all(|p| p.owner.is_none()), "{parts:?}");
    assert!(parts.iter().enumerate().all(|(i, p)| p.position.partition as usize == i));
    assert!(mq.group_partitions("rc-admin", "nobody").await.unwrap_err().is_not_found());
    let no_group = Consume::new("rc-admin", "nobody", "c");
    assert!(mq.consume(&no_group).await.unwrap_err().is_not_found());
    mq.delete_group("rc-admin", "billing").await.unwrap();
    assert!(mq.get_group("rc-admin", "billing").await.unwrap_err().is_not_found());

    mq.delete_topic("rc-admin").await.unwrap();
    assert!(mq.get_topic("rc-admin").await.unwrap_err().is_not_found());
    assert!(mq.delete_topic("rc-admin").await.unwrap_err().is_not_found());
}

pub async fn dead_letters_retry_and_purge_through_the_client(server: TestServer) {
    let mq = client(&server);
    let topic = "rc-dlq";
    mq.create_topic(&CreateTopic::new(topic)).await.unwrap();
    // The first failed delivery is the last: a nack dead-letters.
    let policy = RetryPolicy { max_retries: 0, ..RetryPolicy::default() };
    mq.create_group(&CreateGroup { retry_policy: Some(policy), ..group(topic, "g") })
        .await
        .unwrap();
    for i in 0..2 {
        mq.publish(topic, &Publish::new(json!({"order": i})).header("source", "checkout"))
            .await
            .unwrap();
    }
    let failed = consume_n(&mq, topic, "g", 2).await;
    assert_eq!(
        mq.nack(topic, "g", &receipts(&failed), &Nack::reason("card declined")).await.unwrap(),
        2
    );

    let filter = DeadLetterFilter {
        topic_name: Some(topic.into()),
        group_id: Some("g".into()),
        ..DeadLetterFilter::default()
    };
    let listed = mq.list_dead_letters(&filter, None, Some(100)).await.unwrap();
    assert_eq!(listed.total, 2, "{listed:?}");
    for dead in &listed.items {
        assert_eq!(
            (dead.original_topic_name.as_str(), dead.consumer_group_id.as_str()),
            (topic, "g")
        );
        assert_eq!(
            (dead.failure_reason.as_str(), dead.status),
            ("card declined", DeadLetterStatus::Dead)
        );
        assert!(dead.content_as::<Value>().unwrap()["order"].is_u64(), "{dead:?}");
        assert!(dead.bytes().unwrap().starts_with(br#"{"order":"#));
        assert_eq!(dead.headers.get("source").map(String::as_str), Some("checkout"));
        assert_eq!(dead.attempts.len(), 1);
        assert_eq!(mq.get_dead_letter(&dead.id).await.unwrap(), *dead);
    }
    let ids: Vec<String> = listed.items.iter().map(|d| d.id.clone()).collect();

    // Retry one by id (once only), then the rest of the group.
    let retried =
        mq.retry_dead_letters(&RetrySelection::Ids(vec![ids[0].clone()]), None).await.unwrap();
    assert_eq!(retried.retried, 1, "{retried:?}");
    let again =
        mq.retry_dead_letters(&RetrySelection::Ids(vec![ids[0].clone()]), None).await.unwrap();
    assert_eq!((again.retried, again.not_found.clone()), (0, vec![ids[0].clone()]));
    let group_wide = RetrySelection::Group {
        topic_name: topic.into(),
        group_id: "g".into(),
        from: None,
        to: None,
    };
    assert_eq!(mq.retry_dead_letters(&group_wide, Some(100.0)).await.unwrap().retried, 1);
    let back = consume_n(&mq, topic, "g", 2).await;
    let mut from: Vec<String> =
        back.iter().map(|d| d.headers["x-mq-redriven-from"].clone()).collect();
    from.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(from, want);
    assert_eq!(mq.ack(topic, "g", &receipts(&back)).await.unwrap(), 2);

    // Two more, dead-lettered on purpose; one deleted, one purged.
    for i in 2..4 {
        mq.publish(topic, &Publish::new(json!({"order": i}))).await.unwrap();
    }
    let failed = consume_n(&mq, topic, "g", 2).await;
    let now = Nack { dead_letter: true, ..Nack::reason("unprocessable") };
    assert_eq!(mq.nack(topic, "g", &receipts(&failed), &now).await.unwrap(), 2);
    let listed = mq.list_dead_letters(&filter, None, None).await.unwrap();
    assert_eq!(listed.total, 2, "{listed:?}");
    mq.delete_dead_letter(&listed.items[0].id).await.unwrap();
    assert!(mq.get_dead_letter(&listed.items[0].id).await.unwrap_err().is_not_found());
    assert_eq!(mq.purge_dead_letters(&filter).await.unwrap(), 1);
    assert_eq!(mq.list_dead_letters(&filter, None, None).await.unwrap().total, 0);
    let unfiltered = mq.purge_dead_letters(&DeadLetterFilter::default()).await.unwrap_err();
    assert!(
        unfiltered.is_bad_request() && unfiltered.api_message().unwrap().contains("all=true"),
        "{unfiltered}"
    );
    assert_eq!(mq.purge_all_dead_letters().await.unwrap(), 0);
}

pub async fn transactions_and_monitoring_through_the_client(server: TestServer) {
    let mq = client(&server);
    let topic = "rc-pay";
    mq.create_topic(&CreateTopic::new(topic)).await.unwrap();
    mq.create_group(&group(topic, "wallet")).await.unwrap();

    let kept = mq
        .prepare_transaction(topic, &Publish::new(json!({"paid": true})), &TxnOptions::default())
        .await
        .unwrap();
    assert!(kept.transaction_id.starts_with("txn_"), "{kept:?}");
    assert_eq!(
        mq.get_transaction(&kept.transaction_id).await.unwrap().state,
        TransactionState::Prepared
    );
    let committed = mq.commit_transaction(&kept.transaction_id).await.unwrap();
    assert_eq!(committed.state, TransactionState::Committed);
    let offset = committed.offset.expect("a committed transaction has its offset");
    assert_eq!(mq.commit_transaction(&kept.transaction_id).await.unwrap().offset, Some(offset));
    assert!(mq.rollback_transaction(&kept.transaction_id).await.unwrap_err().is_conflict());

    let options = TxnOptions { checkback_url: None, timeout: Some(Duration::from_secs(600)) };
    let dropped = mq
        .prepare_transaction(topic, &Publish::new(json!({"paid": false})), &options)
        .await
        .unwrap();
    assert_eq!(
        mq.rollback_transaction(&dropped.transaction_id).await.unwrap().state,
        TransactionState::RolledBack
    );
    assert!(mq.commit_transaction(&dropped.transaction_id).await.unwrap_err().is_conflict());
    assert!(mq.get_transaction("txn_nope").await.unwrap_err().is_not_found());
    let delayed = Publish::new(1).delay(Duration::from_secs(5));
    assert!(mq.prepare_transaction(topic, &delayed, &options).await.unwrap_err().is_bad_request());
    let query = TransactionQuery { topic_name: Some(topic.into()), ..TransactionQuery::default() };
    assert_eq!(mq.list_transactions(&query).await.unwrap().total, 2);
    let only_committed = TransactionQuery { state: Some(TransactionState::Committed), ..query };
    assert_eq!(mq.list_transactions(&only_committed).await.unwrap().total, 1);

    let got = consume_n(&mq, topic, "wallet", 1).await;
    assert_eq!((got[0].value.clone(), got[0].offset), (json!({"paid": true}), offset));
    mq.ack(topic, "wallet", &receipts(&got)).await.unwrap();

    // Monitoring, alerts, metrics and health.
    let query = MonitoringQuery { topic_name: Some(topic.into()), ..MonitoringQuery::default() };
    let view = mq.monitoring(&query).await.unwrap();
    let topics = view.topics.expect("topics by default");
    assert_eq!((topics.len(), topics[0].name.as_str(), topics[0].message_count), (1, topic, 1));
    let groups = view.consumers.expect("consumers by default");
    assert!(groups.iter().any(|g| g.group_id == "wallet" && g.total_lag == 0), "{groups:?}");
    assert_eq!(view.time_range, "1h");
    let sections = MonitoringQuery {
        sections: vec![MonitoringSection::Consumers],
        time_range: Some("5m".into()),
        ..MonitoringQuery::default()
    };
    let view = mq.monitoring(&sections).await.unwrap();
    assert!(view.topics.is_none() && view.consumers.is_some(), "{view:?}");
    let bad_range = MonitoringQuery { time_range: Some("7x".into()), ..MonitoringQuery::default() };
    assert!(mq.monitoring(&bad_range).await.unwrap_err().is_bad_request());
    let history = mq.rate_history(Some(topic), Some("5m")).await.unwrap();
    assert_eq!((history.published, history.step_secs), (1, 10), "{history:?}");
    assert_eq!(history.points.iter().map(|p| p.published).sum::<u64>(), 1);
    assert!(mq.rate_history(None, Some("2d")).await.unwrap_err().is_bad_request());
    let me = mq.whoami().await.unwrap();
    // The test server has no token: protected mode, as admin from loopback.
    assert!(me.role == mq_client::Role::Admin && me.protected_mode, "{me:?}");
    assert_eq!(me.name, "local");
    let alerts = mq.alerts(Some(10)).await.unwrap();
    assert!(alerts.history.len() <= 10, "{alerts:?}");
    let metrics = mq.metrics().await.unwrap();
    assert!(metrics.contains("mq_messages_published_total"), "{metrics}");
    mq.healthz().await.unwrap();
    assert!(mq.readyz().await.unwrap());
}

pub async fn retrying_get_survives_a_restart_and_refused_calls_end_in_connect(
    mut server: TestServer,
) {
    let url = format!("http://127.0.0.1:{}", server.port());
    // Retries enough to outlast a start-up (about 25 s of pauses).
    let patient = Client::builder(&url)
        .retries(60)
        .backoff(Duration::from_millis(50), Duration::from_millis(500))
        .build()
        .unwrap();
    let impatient = Client::builder(&url)
        .retries(2)
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .build()
        .unwrap();
    patient.create_topic(&CreateTopic::new("rc-restart")).await.unwrap();

    server.kill();
    // Nobody listens: after its retries, any call ends in `Connect`, a publish too (it never
    // reached a server, so repeating it was safe).
    let refused = impatient.list_topics(&TopicQuery::default()).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Connect, "{refused:?}");
    assert!(refused.is_connection() && refused.is_transient());
    let refused = impatient.publish("rc-restart", &Publish::new(1)).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Connect, "{refused:?}");
    assert!(!impatient.readyz().await.is_ok_and(|ready| ready));

    // A GET sent while the server is down succeeds once it is back.
    let pending = tokio::spawn(async move { patient.list_topics(&TopicQuery::default()).await });
    // Not a timing assertion: the pause only makes sure the GET meets the closed port first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.start_again().await;
    let listed = pending.await.unwrap();
    assert!(listed.is_ok(), "{listed:?}");
    assert!(impatient.readyz().await.unwrap());
}

const ADMIN: &str = "admin-secret-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_audit_and_auth_errors_through_the_client() {
    let tokens =
        format!("auth:\n  tokens:\n    - {{name: admin, token: \"{ADMIN}\", role: admin}}\n");
    let server =
        TestServer::start_with(StartOptions { top_yaml: tokens, ..StartOptions::default() }).await;
    let url = format!("http://127.0.0.1:{}", server.port());
    let admin = Client::builder(&url).token(ADMIN).build().unwrap();
    let anonymous = Client::new(&url).unwrap();

    let denied = anonymous.list_topics(&TopicQuery::default()).await.unwrap_err();
    assert_eq!(
        (denied.kind(), denied.status()),
        (ErrorKind::Unauthorized, Some(401)),
        "{denied:?}"
    );
    assert!(denied.is_auth() && denied.api_message().unwrap().contains("Bearer"), "{denied}");
    let wrong = Client::builder(&url).token("not-a-token").build().unwrap();
    assert_eq!(wrong.get_topic("x").await.unwrap_err().kind(), ErrorKind::Unauthorized);
    assert!(anonymous.metrics().await.unwrap_err().is_auth());
    anonymous.healthz().await.unwrap();

    admin.create_topic(&CreateTopic::new("orders")).await.unwrap();
    let created = admin
        .create_token(&CreateToken {
            name: "runtime".into(),
            produce: vec!["orders".into()],
            ..CreateToken::default()
        })
        .await
        .unwrap();
    assert_eq!((created.token.name.as_str(), created.token.role), ("runtime", Role::Service));
    assert!(!format!("{created:?}").contains(&created.secret), "the secret stays out of Debug");
    let listed = admin.list_tokens().await.unwrap();
    assert!(listed.iter().any(|t| t.name == "runtime" && t.produce == ["orders"]), "{listed:?}");
    assert!(admin
        .create_token(&CreateToken { name: "runtime".into(), ..CreateToken::default() })
        .await
        .unwrap_err()
        .is_conflict());

    let service = Client::builder(&url).token(&created.secret).build().unwrap();
    service.publish("orders", &Publish::new(1)).await.unwrap();
    let forbidden = service.list_topics(&TopicQuery::default()).await.unwrap_err();
    assert_eq!(forbidden.kind(), ErrorKind::Forbidden, "{forbidden:?}");
    admin.revoke_token("runtime").await.unwrap();
    let revoked = service.publish("orders", &Publish::new(2)).await.unwrap_err();
    assert_eq!(revoked.kind(), ErrorKind::Unauthorized, "{revoked:?}");
    assert!(admin.revoke_token("runtime").await.unwrap_err().is_not_found());

    let query = AuditQuery {
        actor: Some("admin".into()),
        action: Some("POST /tokens".into()),
        page_size: Some(100),
        ..AuditQuery::default()
    };
    let audit = admin.list_audit_logs(&query).await.unwrap();
    assert!(!audit.items.is_empty(), "{audit:?}");
    assert!(
        audit.items.iter().all(|r| r.actor == "admin" && r.action == "POST /tokens"),
        "{audit:?}"
    );
    let since = AuditQuery {
        from: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        page_size: Some(1000),
        ..AuditQuery::default()
    };
    assert!(admin.list_audit_logs(&since).await.unwrap().total >= audit.total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limited_calls_are_typed_with_their_retry_after() {
    let limited = format!(
        "auth:\n  tokens:\n    - {{name: admin, token: \"{ADMIN}\", role: admin}}\n\
         security:\n  rate_limit:\n    per_token_per_second: 1\n    per_token_burst: 2\n"
    );
    let server =
        TestServer::start_with(StartOptions { top_yaml: limited, ..StartOptions::default() }).await;
    let url = format!("http://127.0.0.1:{}", server.port());
    let admin = Client::builder(&url).token(ADMIN).build().unwrap();
    let mut limited = None;
    for _ in 0..5 {
        if let Err(error) = admin.list_topics(&TopicQuery::default()).await {
            limited = Some(error);
            break;
        }
    }
    // 429 is not retried by the client: the caller sees it, with the server's hint.
    let error = limited.expect("a burst of 2 per second is exceeded by 5 calls");
    assert_eq!(error.kind(), ErrorKind::RateLimited, "{error:?}");
    assert!(error.is_transient());
    assert!(error.retry_after().is_some_and(|after| after >= Duration::from_secs(1)), "{error:?}");
}
