//! Retry and dead-letter scenarios, each a plain async function over a [`BrokerUnderTest`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mq_broker::{
    Broker, DoNotRetry, GroupSpec, GroupUpdate, Nack, OutgoingMessage, ReceivedMessage,
    RetryRequest, RetrySelection, SubscribeOptions,
};
use mq_dlq::{ORIGINAL_FAILURE_HEADER, REDRIVEN_FROM_HEADER};
use mq_model::{BackoffKind, DeadLetterMessage, DeliveryMode, Page, RetryPolicy, StartFrom};
use mq_repo::DeadLetterFilter;
use mq_tests::BrokerUnderTest;

use crate::scenarios::{ack_all, fetch, fetch_req, publish_n, text, topic};

/// A group whose retries wait `delays_ms` (the last repeated), `max_retries` of them.
async fn retry_group(
    b: &Broker,
    topic: &str,
    id: &str,
    mode: DeliveryMode,
    ack_timeout_ms: i64,
    max_retries: u32,
    delays_ms: &[i64],
) {
    let spec = GroupSpec {
        start_from: StartFrom::Earliest,
        delivery_mode: mode,
        ack_timeout_ms,
        session_timeout_ms: 10_000,
        retry_policy: RetryPolicy {
            max_retries,
            backoff: BackoffKind::Explicit,
            delays_ms: delays_ms.to_vec(),
            ..RetryPolicy::default()
        },
        ..GroupSpec::new(topic, id)
    };
    b.create_group(spec).await.unwrap();
}

async fn dead_letters(b: &Broker, topic: &str, group: &str) -> Vec<DeadLetterMessage> {
    let filter = DeadLetterFilter {
        topic_name: Some(topic.into()),
        group_id: Some(group.into()),
        ..DeadLetterFilter::default()
    };
    b.list_dead_letters(&filter, Page::new(1, 1000)).await.unwrap().items
}

async fn wait_for_dead_letters(
    b: &Broker,
    topic: &str,
    group: &str,
    n: usize,
    within: Duration,
) -> Vec<DeadLetterMessage> {
    let started = Instant::now();
    loop {
        let found = dead_letters(b, topic, group).await;
        if found.len() >= n || started.elapsed() > within {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn receipts(messages: &[ReceivedMessage]) -> Vec<String> {
    messages.iter().map(|m| m.receipt.clone()).collect()
}

/// Each message's deliveries: (delivery count, when the handler got it).
type Deliveries = BTreeMap<String, Vec<(u32, Instant)>>;

/// How late a retry may come after its backoff: a fetch looks again every 100 ms, and the
/// handler's nack and the next fetch take a few round trips.
const LATE: Duration = Duration::from_millis(600);

pub async fn a_failing_handler_dead_letters_after_its_retries_with_backoff(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "payments", 2).await;
    // Backoff grows 300, 600, 900 ms; three retries, so four deliveries.
    retry_group(b, "payments", "billing", DeliveryMode::Shared, 30_000, 3, &[300, 600, 900]).await;
    retry_group(b, "payments", "audit", DeliveryMode::Shared, 30_000, 3, &[0]).await;
    let headers = BTreeMap::from([("trace".to_owned(), "t-1".to_owned())]);
    for i in 0..2 {
        let message = OutgoingMessage {
            headers: headers.clone(),
            ..OutgoingMessage::new(format!("pay-{i}")).with_key(format!("k{i}"))
        };
        b.publish("payments", message).await.unwrap();
    }

    let seen: Arc<Mutex<Deliveries>> = Arc::default();
    let options =
        SubscribeOptions { wait: Duration::from_millis(300), ..SubscribeOptions::new("worker") };
    let sub = {
        let seen = seen.clone();
        b.subscribe("payments", "billing", options, move |m: ReceivedMessage| {
            let seen = seen.clone();
            async move {
                let at = Instant::now();
                seen.lock().unwrap().entry(text(&m)).or_default().push((m.delivery_count, at));
                Err(format!("card declined on delivery {}", m.delivery_count).into())
            }
        })
    };
    // The other group acks everything meanwhile.
    let mut audited = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let got = b.fetch(&fetch_req("payments", "audit", "a", 10, 200)).await.unwrap();
        ack_all(b, "payments", "audit", &got).await;
        audited.extend(got.iter().map(text));
    }
    let dead = wait_for_dead_letters(b, "payments", "billing", 2, Duration::from_secs(10)).await;
    // Give a wrong extra delivery the chance to happen before looking.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::time::timeout(Duration::from_secs(10), sub.stop()).await.expect("stop is prompt");

    audited.sort();
    assert_eq!(audited, ["pay-0", "pay-1"], "the acking group sees each message once");
    let seen = seen.lock().unwrap().clone();
    for (value, deliveries) in &seen {
        let counts: Vec<u32> = deliveries.iter().map(|(c, _)| *c).collect();
        assert_eq!(counts, [1, 2, 3, 4], "{value}: maxRetries + 1 deliveries, then none");
        for (i, pair) in deliveries.windows(2).enumerate() {
            let gap = pair[1].1 - pair[0].1;
            let backoff = Duration::from_millis([300, 600, 900][i]);
            assert!(
                gap >= backoff,
                "{value}: retry {} after {gap:?}, before its backoff {backoff:?}",
                i + 1
            );
            assert!(
                gap <= backoff + LATE,
                "{value}: retry {} after {gap:?}, backoff {backoff:?}",
                i + 1
            );
        }
    }
    assert_eq!(seen.len(), 2);

    assert_eq!(dead.len(), 2, "exactly one dead letter per message");
    for d in &dead {
        assert_eq!(d.original_topic_name, "payments");
        assert_eq!(d.consumer_group_id, "billing");
        assert_eq!(d.retry_count, 3);
        assert_eq!(d.failure_reason, "card declined on delivery 4");
        assert_eq!(d.headers["trace"], "t-1");
        assert!(d.original_message_id.starts_with("msg_"));
        let value = String::from_utf8(d.message_content.clone()).unwrap();
        assert!(value.starts_with("pay-"), "{value}");
        assert_eq!(d.message_key.as_deref(), Some(&*format!("k{}", &value[4..])));
        let history: Vec<(u32, &str)> =
            d.attempts.iter().map(|a| (a.delivery, a.consumer_id.as_str())).collect();
        assert_eq!(history, [(1, "worker"), (2, "worker"), (3, "worker"), (4, "worker")]);
        assert_eq!(d.attempts[0].reason, "card declined on delivery 1");
        assert!(d.attempts.windows(2).all(|w| w[0].failed_at <= w[1].failed_at));
        assert_eq!(b.get_dead_letter(&d.id).await.unwrap(), *d);
    }
    let lag = b.consumers(Some("payments"), Some("billing")).await.unwrap();
    assert!(lag.iter().all(|c| c.partitions.iter().all(|p| p.pending == 0)), "nothing pending");
    assert!(fetch(b, "payments", "billing", "late", 10).await.is_empty());
}

pub async fn an_ack_timeout_is_a_failed_attempt(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "slow-jobs", 1).await;
    retry_group(b, "slow-jobs", "g", DeliveryMode::Shared, 200, 1, &[400]).await;
    publish_n(b, "slow-jobs", 1).await;
    assert_eq!(fetch(b, "slow-jobs", "g", "c1", 10).await.len(), 1);
    // The ack timeout runs out at 200 ms; the retry waits 400 ms more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fetch(b, "slow-jobs", "g", "c2", 10).await.is_empty(), "timed out, in backoff");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = fetch(b, "slow-jobs", "g", "c2", 10).await;
    assert_eq!(again.len(), 1, "back after the ack timeout plus the backoff");
    assert_eq!(again[0].delivery_count, 2);
    // The second (last) delivery times out too: a dead letter, no third delivery.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fetch(b, "slow-jobs", "g", "c3", 10).await.is_empty());
    let dead = dead_letters(b, "slow-jobs", "g").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].retry_count, 1);
    let consumers: Vec<&str> = dead[0].attempts.iter().map(|a| a.consumer_id.as_str()).collect();
    assert_eq!(consumers, ["c1", "c2"]);
    assert!(dead[0].failure_reason.contains("ack timeout (200 ms)"), "{}", dead[0].failure_reason);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fetch(b, "slow-jobs", "g", "c3", 10).await.is_empty(), "never delivered again");
}

pub async fn a_poison_message_blocks_only_its_partition_and_keeps_key_order(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "ledger-retry", 2).await;
    retry_group(b, "ledger-retry", "g", DeliveryMode::Ordered, 30_000, 2, &[300]).await;
    // Two keys on different partitions.
    let (poisoned, healthy) = (
        "acct-1",
        (2..100)
            .map(|i| format!("acct-{i}"))
            .find(|k| {
                mq_broker::partition_for_key(k.as_bytes(), 2)
                    != mq_broker::partition_for_key(b"acct-1", 2)
            })
            .unwrap(),
    );
    for i in 0..3 {
        b.publish("ledger-retry", OutgoingMessage::new(format!("p{i}")).with_key(poisoned))
            .await
            .unwrap();
        b.publish("ledger-retry", OutgoingMessage::new(format!("h{i}")).with_key(&*healthy))
            .await
            .unwrap();
    }
    let done: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let options =
        SubscribeOptions { wait: Duration::from_millis(200), ..SubscribeOptions::new("worker") };
    let sub = {
        let done = done.clone();
        b.subscribe("ledger-retry", "g", options, move |m: ReceivedMessage| {
            let done = done.clone();
            async move {
                if text(&m) == "p0" {
                    return Err("poison".into());
                }
                done.lock().unwrap().push((text(&m), Instant::now()));
                Ok(())
            }
        })
    };
    let started = Instant::now();
    while done.lock().unwrap().len() < 5 && started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::timeout(Duration::from_secs(10), sub.stop()).await.expect("stop is prompt");
    let done = done.lock().unwrap().clone();
    let order: Vec<&str> = done.iter().map(|(v, _)| v.as_str()).collect();
    let healthy_order: Vec<&str> = order.iter().copied().filter(|v| v.starts_with('h')).collect();
    let poisoned_order: Vec<&str> = order.iter().copied().filter(|v| v.starts_with('p')).collect();
    assert_eq!(healthy_order, ["h0", "h1", "h2"], "the other partition flows in order");
    assert_eq!(poisoned_order, ["p1", "p2"], "the poisoned key resumes in order after it");
    let at = |v: &str| done.iter().find(|(x, _)| x == v).unwrap().1;
    // p0 is delivered 3 times with 300 ms between: p1 waits for its dead letter.
    assert!(at("p1") - started >= Duration::from_millis(600), "p1 overtook the poison message");
    assert!(at("h2") < at("p1"), "the healthy partition did not wait for the poisoned one");
    let dead = dead_letters(b, "ledger-retry", "g").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(String::from_utf8(dead[0].message_content.clone()).unwrap(), "p0");
    assert_eq!(dead[0].retry_count, 2);
}

pub async fn dead_letters_go_back_to_their_group_once(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "redrive", 2).await;
    // maxRetries 0: the first failure dead-letters.
    retry_group(b, "redrive", "g", DeliveryMode::Shared, 30_000, 0, &[0]).await;
    retry_group(b, "redrive", "other", DeliveryMode::Shared, 30_000, 0, &[0]).await;
    publish_n(b, "redrive", 4).await;
    let got = fetch(b, "redrive", "g", "c", 10).await;
    assert_eq!(got.len(), 4);
    let nacked = b.nack("redrive", "g", &receipts(&got), &Nack::because("db down")).await.unwrap();
    assert_eq!(nacked, 4);
    let other = fetch(b, "redrive", "other", "o", 10).await;
    assert_eq!(ack_all(b, "redrive", "other", &other).await, 4);
    let dead = dead_letters(b, "redrive", "g").await;
    assert_eq!(dead.len(), 4, "maxRetries 0: one failure is enough");
    assert!(dead.iter().all(|d| d.retry_count == 0 && d.failure_reason == "db down"));

    // Two by id, the same request twice, and racing.
    let ids: Vec<String> = dead[..2].iter().map(|d| d.id.clone()).collect();
    let request =
        RetryRequest { selection: RetrySelection::Ids(ids.clone()), rate_per_second: None };
    let (first, second) =
        tokio::join!(b.retry_dead_letters(&request), b.retry_dead_letters(&request));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.retried + second.retried, 2, "{first:?} {second:?}");
    let repeated = b.retry_dead_letters(&request).await.unwrap();
    assert_eq!(repeated.retried, 0);
    assert_eq!(repeated.not_found, ids, "retried dead letters are gone");
    // The rest by group, racing again.
    let by_group = RetryRequest {
        selection: RetrySelection::Group {
            topic_name: "redrive".into(),
            group_id: "g".into(),
            from: None,
            to: None,
        },
        rate_per_second: None,
    };
    let (x, y) = tokio::join!(b.retry_dead_letters(&by_group), b.retry_dead_letters(&by_group));
    assert_eq!(x.unwrap().retried + y.unwrap().retried, 2);
    assert!(dead_letters(b, "redrive", "g").await.is_empty());

    // Each comes back to g once, fresh, with the redrive headers.
    let mut back = Vec::new();
    let started = Instant::now();
    while back.len() < 4 && started.elapsed() < Duration::from_secs(10) {
        back.extend(b.fetch(&fetch_req("redrive", "g", "c", 10, 300)).await.unwrap());
    }
    assert_eq!(back.len(), 4, "every dead letter redelivered");
    let values: BTreeSet<String> = back.iter().map(text).collect();
    assert_eq!(values, got.iter().map(text).collect());
    let from: BTreeSet<&str> =
        back.iter().map(|m| m.message.headers[REDRIVEN_FROM_HEADER].as_str()).collect();
    assert_eq!(from, dead.iter().map(|d| d.id.as_str()).collect());
    assert!(back.iter().all(|m| m.delivery_count == 1), "a fresh retry budget");
    assert!(back.iter().all(|m| m.message.headers[ORIGINAL_FAILURE_HEADER] == "db down"));
    assert_eq!(ack_all(b, "redrive", "g", &back).await, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fetch(b, "redrive", "g", "c", 10).await.is_empty(), "no duplicates");
    assert!(fetch(b, "redrive", "other", "o", 10).await.is_empty(), "other groups never see them");
    assert!(dead_letters(b, "redrive", "g").await.is_empty(), "the dead-letter queue is empty");
}

pub async fn a_paced_retry_spreads_redeliveries(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "paced", 1).await;
    retry_group(b, "paced", "g", DeliveryMode::Shared, 30_000, 0, &[0]).await;
    publish_n(b, "paced", 5).await;
    let got = fetch(b, "paced", "g", "c", 10).await;
    b.nack("paced", "g", &receipts(&got), &Nack::because("later")).await.unwrap();
    let request = RetryRequest {
        selection: RetrySelection::Group {
            topic_name: "paced".into(),
            group_id: "g".into(),
            from: None,
            to: None,
        },
        rate_per_second: Some(5.0),
    };
    let started = Instant::now();
    let report = b.retry_dead_letters(&request).await.unwrap();
    assert_eq!(report.retried, 5);
    let mut arrivals = Vec::new();
    while arrivals.len() < 5 && started.elapsed() < Duration::from_secs(10) {
        let more = b.fetch(&fetch_req("paced", "g", "c", 10, 100)).await.unwrap();
        ack_all(b, "paced", "g", &more).await;
        arrivals.extend(more.iter().map(|m| (text(m), started.elapsed())));
    }
    assert_eq!(arrivals.len(), 5);
    // Five at five per second: the last is due 800 ms after the first.
    let last = arrivals.last().unwrap().1;
    assert!(last >= Duration::from_millis(750), "the pace was not kept: {arrivals:?}");
    // Oldest failure first.
    let order: Vec<&str> = arrivals.iter().map(|(v, _)| v.as_str()).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    let err = b
        .retry_dead_letters(&RetryRequest { rate_per_second: Some(0.0), ..request })
        .await
        .unwrap_err();
    assert!(matches!(err, mq_broker::BrokerError::InvalidRequest { field: "ratePerSecond", .. }));
}

pub async fn handlers_and_nacks_choose_how_to_retry(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "choices", 1).await;
    retry_group(b, "choices", "g", DeliveryMode::Shared, 30_000, 5, &[60_000]).await;
    publish_n(b, "choices", 3).await;
    let got = fetch(b, "choices", "g", "c", 3).await;
    // A nack with its own delay overrides the one-minute backoff.
    let soon = Nack { delay: Some(Duration::from_millis(200)), ..Nack::because("try soon") };
    assert_eq!(b.nack("choices", "g", &receipts(&got[..1]), &soon).await.unwrap(), 1);
    // A nack that asks for no retry dead-letters at once.
    let never = Nack { dead_letter: true, ..Nack::because("malformed") };
    assert_eq!(b.nack("choices", "g", &receipts(&got[1..2]), &never).await.unwrap(), 1);
    // A repeated nack of the same delivery counts nothing.
    assert_eq!(b.nack("choices", "g", &receipts(&got[..1]), &soon).await.unwrap(), 0);
    let dead = dead_letters(b, "choices", "g").await;
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].failure_reason.as_str(), dead[0].retry_count), ("malformed", 0));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = fetch(b, "choices", "g", "c", 3).await;
    assert_eq!(again.len(), 1);
    assert_eq!((text(&again[0]), again[0].delivery_count), (text(&got[0]), 2));
    ack_all(b, "choices", "g", &again).await;

    // A handler's DoNotRetry goes straight to the dead letters too.
    let sub = b.subscribe(
        "choices",
        "g",
        SubscribeOptions { wait: Duration::from_millis(200), ..SubscribeOptions::new("w") },
        |_m: ReceivedMessage| async { Err(DoNotRetry::new("schema mismatch").into()) },
    );
    // got[2] is still in flight with c; nack it so the handler receives it at once.
    b.nack(
        "choices",
        "g",
        &receipts(&got[2..]),
        &Nack { delay: Some(Duration::ZERO), ..Nack::default() },
    )
    .await
    .unwrap();
    let dead = wait_for_dead_letters(b, "choices", "g", 2, Duration::from_secs(5)).await;
    sub.stop().await;
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].failure_reason, "schema mismatch", "newest first");
    assert_eq!(dead[0].retry_count, 1);

    // The policy can change later.
    let updated = b
        .update_group(
            "choices",
            "g",
            GroupUpdate {
                retry_policy: Some(RetryPolicy { max_retries: 1, ..RetryPolicy::default() }),
                ..GroupUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.retry_policy.max_retries, 1);
    assert_eq!(b.get_group("choices", "g").await.unwrap().retry_policy.max_retries, 1);
    let bad = RetryPolicy { multiplier: 0.0, ..RetryPolicy::default() };
    let err = b
        .update_group(
            "choices",
            "g",
            GroupUpdate { retry_policy: Some(bad), ..GroupUpdate::default() },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("retryPolicy.multiplier"), "{err}");
}

pub async fn dead_letters_can_be_deleted_and_purged(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "purge", 1).await;
    retry_group(b, "purge", "g", DeliveryMode::Shared, 30_000, 0, &[0]).await;
    publish_n(b, "purge", 3).await;
    let got = fetch(b, "purge", "g", "c", 10).await;
    b.nack("purge", "g", &receipts(&got), &Nack::because("x")).await.unwrap();
    let dead = dead_letters(b, "purge", "g").await;
    assert_eq!(dead.len(), 3);
    b.delete_dead_letter(&dead[0].id).await.unwrap();
    let err = b.delete_dead_letter(&dead[0].id).await.unwrap_err();
    assert!(matches!(err, mq_broker::BrokerError::DeadLetterNotFound { .. }), "{err:?}");
    let filter =
        DeadLetterFilter { topic_name: Some("purge".into()), ..DeadLetterFilter::default() };
    assert_eq!(b.purge_dead_letters(&filter).await.unwrap(), 2);
    assert!(dead_letters(b, "purge", "g").await.is_empty());
}

/// Real stores only: a restart while a message waits for its retry.
pub async fn a_restart_mid_backoff_keeps_the_message_and_its_count(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "restart-retry", 1).await;
    retry_group(b, "restart-retry", "g", DeliveryMode::Shared, 30_000, 2, &[1_500]).await;
    publish_n(b, "restart-retry", 1).await;
    let got = fetch(b, "restart-retry", "g", "c", 1).await;
    b.nack("restart-retry", "g", &receipts(&got), &Nack::because("first")).await.unwrap();
    b.shutdown().await;

    let reopened = Broker::open(t.config.as_ref().unwrap()).await.unwrap();
    assert!(fetch(&reopened, "restart-retry", "g", "c", 1).await.is_empty(), "still in backoff");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let again = fetch(&reopened, "restart-retry", "g", "c", 1).await;
    assert_eq!(again.len(), 1, "the message survived the restart");
    assert_eq!(again[0].delivery_count, 2, "the retry count survived the restart");
    reopened.nack("restart-retry", "g", &receipts(&again), &Nack::because("second")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let last = fetch(&reopened, "restart-retry", "g", "c", 1).await;
    assert_eq!(last[0].delivery_count, 3);
    reopened.nack("restart-retry", "g", &receipts(&last), &Nack::because("third")).await.unwrap();
    let dead = dead_letters(&reopened, "restart-retry", "g").await;
    assert_eq!(dead.len(), 1);
    let reasons: Vec<&str> = dead[0].attempts.iter().map(|a| a.reason.as_str()).collect();
    assert_eq!(reasons, ["first", "second", "third"], "the history survived the restart");
    reopened.shutdown().await;
}

/// A message stored before mq bounded headers (17 MiB of them, appended to the log directly),
/// too large for MongoDB's 16 MiB document: when it fails, its dead letter is stored without
/// the headers rather than failing for ever, and the ordered partition moves on. The in-memory
/// store takes it whole.
pub async fn a_message_too_large_to_dead_letter_whole_does_not_stall_its_partition(
    t: &BrokerUnderTest,
) {
    let b = &t.broker;
    topic(b, "legacy", 1).await;
    retry_group(b, "legacy", "g", DeliveryMode::Ordered, 1_000, 0, &[100]).await;
    let huge = "h".repeat(17 * 1024 * 1024);
    let record = mq_repo::NewRecord {
        message_id: mq_model::new_id(mq_model::IdKind::Message),
        key: None,
        value: b"1".to_vec(),
        headers: BTreeMap::from([("h".to_owned(), huge)]),
        producer_id: None,
        message_type: mq_model::MessageType::Normal,
        dedup: None,
    };
    let stored = b.get_topic("legacy").await.unwrap();
    b.message_log().append((&stored).into(), 0, vec![record]).await.unwrap();
    for i in 0..3 {
        b.publish("legacy", OutgoingMessage::new(format!("later-{i}"))).await.unwrap();
    }

    let first = fetch(b, "legacy", "g", "c1", 1).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].message.value, b"1");
    // maxRetries 0: the nack dead-letters it, and must not fail.
    let nacked = b.nack("legacy", "g", &receipts(&first), &Nack::because("boom")).await.unwrap();
    assert_eq!(nacked, 1);
    let dead = wait_for_dead_letters(b, "legacy", "g", 1, Duration::from_secs(10)).await;
    assert_eq!(dead.len(), 1, "the oversized message became a dead letter");
    assert_eq!(dead[0].message_content, b"1", "its value is kept");
    // MongoDB documents hold at most 16 MiB; the in-memory store has no such limit.
    let on_mongodb = t.config.is_some();
    assert_eq!(dead[0].headers.is_empty(), on_mongodb, "headers left out only on MongoDB");
    if on_mongodb {
        let reason = &dead[0].failure_reason;
        assert!(reason.starts_with("boom"), "{reason}");
        assert!(reason.contains("without its 1 headers (17825793 bytes)"), "{reason}");
        assert!(reason.contains("partition 0 at offset 0"), "{reason}");
    } else {
        assert_eq!(dead[0].headers["h"].len(), 17 * 1024 * 1024, "kept whole");
    }

    // The partition moves on: the later messages come, in order.
    let mut later = Vec::new();
    let started = Instant::now();
    while later.len() < 3 && started.elapsed() < Duration::from_secs(10) {
        let got = fetch(b, "legacy", "g", "c1", 10).await;
        ack_all(b, "legacy", "g", &got).await;
        later.extend(got.iter().map(text));
    }
    assert_eq!(later, ["later-0", "later-1", "later-2"]);
}
