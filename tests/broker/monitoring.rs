//! Monitoring and alert scenarios (issue 7): known traffic, then the numbers.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mq_broker::{Broker, GroupSpec, Nack, OutgoingMessage, Sections, TxnOptions};
use mq_model::{AlertRule, Page, RetryPolicy, StartFrom};
use mq_tests::recorder::Recorder;
use mq_tests::BrokerUnderTest;

use crate::scenarios::{ack_all, fetch, publish_n, topic};

async fn group(b: &Broker, topic: &str, id: &str, max_retries: u32) {
    let spec = GroupSpec {
        start_from: StartFrom::Earliest,
        retry_policy: RetryPolicy { max_retries, ..RetryPolicy::default() },
        ..GroupSpec::new(topic, id)
    };
    b.create_group(spec).await.unwrap();
}

pub async fn monitoring_counts_traffic_exactly(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "metered", 3).await;
    group(b, "metered", "billing", 0).await;
    group(b, "metered", "idle", 0).await;
    publish_n(b, "metered", 300).await;
    // billing takes 100 and acks them, then pauses; idle never fetches.
    let mut taken = Vec::new();
    while taken.len() < 100 {
        let want = 100 - taken.len();
        taken.extend(fetch(b, "metered", "billing", "c1", want).await);
    }
    assert_eq!(ack_all(b, "metered", "billing", &taken).await, 100);
    // Two delayed, one half message, one dead letter (of a message published for it).
    for _ in 0..2 {
        let later = OutgoingMessage::new("later").delayed_by(Duration::from_secs(3600));
        b.publish("metered", later).await.unwrap();
    }
    b.prepare_transaction("metered", OutgoingMessage::new("half"), TxnOptions::default())
        .await
        .unwrap();
    publish_n(b, "metered", 1).await;
    let poison = fetch(b, "metered", "billing", "c1", 1).await;
    let receipts = vec![poison[0].receipt.clone()];
    b.nack("metered", "billing", &receipts, &Nack::because("bad")).await.unwrap();

    let view =
        b.monitoring(Some("metered"), Duration::from_secs(300), Sections::default()).await.unwrap();
    let topic = &view.topics[0];
    assert_eq!(topic.name, "metered");
    assert_eq!(topic.message_count, 301);
    assert_eq!(topic.partitions.iter().map(|p| p.offset).sum::<u64>(), 301, "end offsets");
    assert_eq!(topic.partitions.iter().map(|p| p.message_count).sum::<u64>(), 301);
    // 301 messages within the last 5 minutes: 301 / 300 s.
    assert!((topic.message_rate - 301.0 / 300.0).abs() < 1e-9, "{}", topic.message_rate);
    let partition_rates: f64 = topic.partitions.iter().map(|p| p.message_rate).sum();
    assert!((partition_rates - topic.message_rate).abs() < 1e-9);
    assert_eq!(topic.scheduled_count, 2);
    assert_eq!(topic.half_message_count, 1);
    assert_eq!(topic.dead_letter_count, 1);
    // billing: 101 delivered (100 acked, 1 dead-lettered), 200 left; idle: all 301.
    assert_eq!(topic.consumer_lag, 200 + 301);
    assert!((topic.consume_rate - 100.0 / 300.0).abs() < 1e-9, "{}", topic.consume_rate);
    let billing = view.consumers.iter().find(|g| g.group_id == "billing").unwrap();
    assert_eq!((billing.total_lag, billing.pending, billing.consumer_count), (200, 0, 1));
    assert_eq!(billing.status, "active");
    assert_eq!(billing.dead_letter_count, 1);
    assert!(billing.oldest_unconsumed_age_ms.is_some());
    let idle = view.consumers.iter().find(|g| g.group_id == "idle").unwrap();
    assert_eq!((idle.total_lag, idle.consumer_count, idle.status), (301, 0, "inactive"));
    assert_eq!(idle.consume_rate, 0.0);

    // A one-minute range sees the same messages at five times the rate.
    let minute =
        b.monitoring(Some("metered"), Duration::from_secs(60), Sections::default()).await.unwrap();
    assert!((minute.topics[0].message_rate - 301.0 / 60.0).abs() < 1e-9);
    // Sections are optional; an unknown topic is an error.
    let only = Sections { topics: false, consumers: true };
    let groups = b.monitoring(None, Duration::from_secs(60), only).await.unwrap();
    assert!(groups.topics.is_empty() && groups.consumers.len() >= 2);
    assert!(b
        .monitoring(Some("nope"), Duration::from_secs(60), Sections::default())
        .await
        .is_err());

    // Rates are shared: another instance over the same stores sees this one's counts.
    let other = t.second_instance().await;
    let seen = other
        .monitoring(Some("metered"), Duration::from_secs(300), Sections::default())
        .await
        .unwrap();
    assert_eq!(seen.topics[0].message_rate, topic.message_rate);
    other.shutdown().await;

    let text = b.render_metrics().await.unwrap();
    for line in [
        "mq_messages_published_total{topic=\"metered\"} 301",
        "mq_messages_acked_total{group=\"billing\",topic=\"metered\"} 100",
        "mq_messages_dead_lettered_total{group=\"billing\",topic=\"metered\"} 1",
        "mq_messages_scheduled_total{topic=\"metered\"} 2",
        "mq_consumer_lag_messages{group=\"idle\",topic=\"metered\"} 301",
        "mq_scheduled_messages{topic=\"metered\"} 2",
        "mq_half_messages{topic=\"metered\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
}

/// Polls the recorder until it holds `n` bodies or five seconds passed.
async fn received(recorder: &Recorder, n: usize) -> Vec<serde_json::Value> {
    let started = Instant::now();
    while recorder.requests().len() < n && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    recorder.requests()
}

pub async fn a_backlog_alert_fires_once_and_resolves_once(t: &BrokerUnderTest) {
    let hook = Recorder::start(&["ok"]).await;
    let url = hook.url();
    let b = t
        .instance_with(|cfg| {
            cfg.alerts.backlog_threshold = 5;
            cfg.alerts.for_ms = 300;
            cfg.alerts.resolve_for_ms = 0;
            cfg.alerts.webhooks = vec![url];
        })
        .await;
    topic(&b, "alarming", 1).await;
    group(&b, "alarming", "g", 16).await;
    publish_n(&b, "alarming", 4).await;
    b.evaluate_alerts().await.unwrap();
    assert!(
        b.alerts(10).await.unwrap().active.iter().all(|a| a.rule != AlertRule::Backlog),
        "4 is under 5"
    );
    publish_n(&b, "alarming", 6).await;
    b.evaluate_alerts().await.unwrap();
    let backlog = |b: &Broker| {
        let b = b.clone();
        async move {
            let view = b.alerts(100).await.unwrap();
            let active = view.active.iter().filter(|a| a.rule == AlertRule::Backlog).count();
            let resolved = view.history.iter().filter(|a| a.rule == AlertRule::Backlog).count();
            (active, resolved)
        }
    };
    assert_eq!(backlog(&b).await, (0, 0), "held for less than for_ms: not yet");
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..3 {
        b.evaluate_alerts().await.unwrap();
    }
    assert_eq!(backlog(&b).await, (1, 0), "fired once, however often evaluated");
    let active = b.alerts(10).await.unwrap().active;
    let alert = active.iter().find(|a| a.rule == AlertRule::Backlog).unwrap();
    assert_eq!(alert.key, "backlog:alarming:g");
    assert_eq!((alert.value, alert.threshold), (10.0, 5.0));

    // The backlog is worked off: the alert resolves, once.
    let mut got = Vec::new();
    while got.len() < 10 {
        got.extend(fetch(&b, "alarming", "g", "c", 10).await);
    }
    ack_all(&b, "alarming", "g", &got).await;
    for _ in 0..3 {
        b.evaluate_alerts().await.unwrap();
    }
    assert_eq!(backlog(&b).await, (0, 1), "resolved once");

    let events: Vec<(String, String)> = received(&hook, 4)
        .await
        .iter()
        .filter(|e| e["alert"]["rule"] == "backlog")
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["alert"]["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let key = "backlog:alarming:g".to_owned();
    assert_eq!(events, [("fired".to_owned(), key.clone()), ("resolved".to_owned(), key)]);
    b.shutdown().await;
}

/// Now, to the millisecond (MongoDB keeps milliseconds), rounded down.
fn now_ms() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

/// The group's `last_commit_time` once it is at least `since`, polling for up to ten seconds
/// (it is written about once a second); whatever it is then, if not.
async fn commit_time_since(b: &Broker, group: &str, since: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let started = Instant::now();
    loop {
        let seen = b.describe_group("committed", group).await.unwrap().last_commit_time;
        if seen.is_some_and(|t| t >= since) || started.elapsed() > Duration::from_secs(10) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn a_group_shows_when_it_last_acked(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "committed", 1).await;
    group(b, "committed", "billing", 16).await;
    group(b, "committed", "idle", 16).await;
    publish_n(b, "committed", 2).await;

    // Fetching alone is not a commit; an ack is, written by the flusher within about a second.
    let mut taken = Vec::new();
    while taken.is_empty() {
        taken = fetch(b, "committed", "billing", "c1", 1).await;
    }
    assert_eq!(b.describe_group("committed", "billing").await.unwrap().last_commit_time, None);
    let before = now_ms();
    assert_eq!(ack_all(b, "committed", "billing", &taken).await, 1);
    let after = Utc::now();
    let first = commit_time_since(b, "billing", before).await;
    assert!(first.is_some_and(|t| t <= after), "{first:?} not in {before}..={after}");
    assert_eq!(b.describe_group("committed", "idle").await.unwrap().last_commit_time, None);
    let listed = b.list_groups(Some("committed"), Page::new(1, 10)).await.unwrap();
    let billing = listed.items.iter().find(|g| g.group_id == "billing").unwrap();
    assert_eq!(billing.last_commit_time, first, "listings show it too");

    // Another instance acks and shuts down at once: its last flush writes the time, and
    // every instance reads it from the shared metadata.
    let other = t.second_instance().await;
    let mut taken = Vec::new();
    while taken.is_empty() {
        taken = fetch(&other, "committed", "billing", "c2", 1).await;
    }
    let before = now_ms().max(first.unwrap());
    assert_eq!(ack_all(&other, "committed", "billing", &taken).await, 1);
    other.shutdown().await;
    let second = b.describe_group("committed", "billing").await.unwrap().last_commit_time;
    assert!(second.is_some_and(|t| t >= before && t <= Utc::now()), "{second:?} after {before}");
}
