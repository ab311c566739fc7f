//! The message-log suite: offsets, consumer groups, pending lists, claims, failed deliveries
//! and their retries, lag, trimming.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use mq_model::MessageType;
use mq_repo::{
    Dedup, Failure, MessageLog, NewRecord, Original, RepoError, StartPosition, TopicRef,
};

type Log = Arc<dyn MessageLog>;

/// Spread over 4 partitions like a topic created today; partitions past 3 follow the
/// placement's rule for partitions beyond its generations.
const T: TopicRef<'static> = TopicRef::spread("orders", &[4]);

/// Another topic, spread like `T`.
fn t(name: &'static str) -> TopicRef<'static> {
    TopicRef::spread(name, &[4])
}

fn rec(id: impl Into<String>) -> NewRecord {
    NewRecord {
        message_id: id.into(),
        key: None,
        value: b"v".to_vec(),
        headers: BTreeMap::new(),
        producer_id: None,
        message_type: MessageType::Normal,
        dedup: None,
    }
}

async fn append_n(log: &Log, partition: u32, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let batch = chunk.iter().map(|i| rec(format!("m{i}"))).collect();
        log.append(T, partition, batch).await.unwrap();
    }
}

fn offsets<I: IntoIterator<Item = u64>>(it: I) -> Vec<u64> {
    it.into_iter().collect()
}

pub async fn offsets_are_contiguous_under_concurrent_appenders(log: Log) {
    const WRITERS: usize = 8;
    const EACH: usize = 1250;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let id = format!("w{w}-{i}");
                let landed = log.append(T, 0, vec![rec(id.clone())]).await.unwrap();
                assert_eq!(landed.len(), 1);
                mine.push((landed[0].offset, id));
            }
            mine
        }));
    }
    let mut by_offset = BTreeMap::new();
    for task in tasks {
        for (offset, id) in task.await.unwrap() {
            assert!(by_offset.insert(offset, id).is_none(), "offset {offset} handed out twice");
        }
    }
    let total = (WRITERS * EACH) as u64;
    assert_eq!(by_offset.keys().copied().collect::<Vec<_>>(), (0..total).collect::<Vec<_>>());

    // What is stored agrees with what each writer was told.
    let mut stored = Vec::new();
    let mut from = 0;
    loop {
        let page = log.read_range(T, 0, from, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        from = last.offset + 1;
        stored.extend(page);
    }
    assert_eq!(stored.len() as u64, total);
    for record in stored {
        assert_eq!(by_offset[&record.offset], record.message_id);
    }
    let stats = log.partition_stats(T, 0).await.unwrap();
    assert_eq!((stats.first_offset, stats.end_offset, stats.length), (0, total, total));
}

pub async fn batch_append_round_trips_every_field(log: Log) {
    let full = NewRecord {
        message_id: "msg_full".into(),
        key: Some("user_123456".into()),
        value: vec![0, 1, 2, 255, b'{', b'}'],
        headers: BTreeMap::from([
            ("source".into(), "user-service".into()),
            ("version".into(), "1.0".into()),
        ]),
        producer_id: Some("p1".into()),
        message_type: MessageType::Transaction,
        dedup: None,
    };
    let empty_value = NewRecord { value: Vec::new(), ..rec("msg_empty") };
    let big = NewRecord { value: vec![7; 1024 * 1024], ..rec("msg_big") };
    let landed =
        log.append(T, 0, vec![full.clone(), empty_value, big, rec("m3"), rec("m4")]).await.unwrap();
    assert_eq!(offsets(landed.iter().map(|a| a.offset)), vec![0, 1, 2, 3, 4]);
    assert!(landed.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
    assert!(
        log.append(T, 0, Vec::new()).await.unwrap().is_empty(),
        "an empty batch appends nothing"
    );

    let records = log.read_range(T, 0, 0, 10).await.unwrap();
    assert_eq!(records.len(), 5);
    let first = &records[0];
    assert_eq!(first.offset, 0);
    assert_eq!(first.timestamp_ms, landed[0].timestamp_ms);
    assert_eq!(first.message_id, full.message_id);
    assert_eq!(first.key, full.key);
    assert_eq!(first.value, full.value);
    assert_eq!(first.headers, full.headers);
    assert_eq!(first.producer_id, full.producer_id);
    assert_eq!(first.message_type, MessageType::Transaction);
    assert!(records[1].value.is_empty());
    assert_eq!(records[2].value.len(), 1024 * 1024);

    let middle = log.read_range(T, 0, 2, 2).await.unwrap();
    assert_eq!(offsets(middle.iter().map(|r| r.offset)), vec![2, 3]);
    assert!(log.read_range(T, 0, 5, 10).await.unwrap().is_empty());
    assert!(log.read_range(t("never-written"), 0, 0, 10).await.unwrap().is_empty());

    let next = log.append(T, 0, vec![rec("m5")]).await.unwrap();
    assert_eq!(next[0].offset, 5);
    assert!(next[0].timestamp_ms >= landed[4].timestamp_ms, "timestamps never go back");
}

pub async fn partitions_are_independent(log: Log) {
    log.append(T, 0, vec![rec("a"), rec("b")]).await.unwrap();
    let other = log.append(T, 1, vec![rec("c")]).await.unwrap();
    assert_eq!(other[0].offset, 0, "each partition counts from 0");
    let other_topic = log.append(t("payments"), 0, vec![rec("d")]).await.unwrap();
    assert_eq!(other_topic[0].offset, 0);
    assert_eq!(log.partition_stats(T, 0).await.unwrap().end_offset, 2);
    assert_eq!(log.partition_stats(T, 1).await.unwrap().end_offset, 1);
    let never = log.partition_stats(T, 7).await.unwrap();
    assert_eq!((never.first_offset, never.end_offset, never.length), (0, 0, 0));
}

pub async fn group_delivers_each_entry_to_exactly_one_consumer(log: Log) {
    append_n(&log, 0, 100).await;
    log.create_group(T, 0, "workers", StartPosition::Earliest).await.unwrap();
    let mut seen = BTreeSet::new();
    let mut per_consumer = BTreeMap::<&str, usize>::new();
    for round in 0.. {
        let consumer = if round % 2 == 0 { "c1" } else { "c2" };
        let batch = log.read_group(T, 0, "workers", consumer, 7).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for delivery in batch {
            assert_eq!(delivery.delivery_count, 1);
            assert!(
                seen.insert(delivery.record.offset),
                "offset {} delivered twice",
                delivery.record.offset
            );
            *per_consumer.entry(consumer).or_default() += 1;
        }
    }
    assert_eq!(seen, (0..100).collect::<BTreeSet<_>>());
    assert!(per_consumer["c1"] > 0 && per_consumer["c2"] > 0);
}

pub async fn two_groups_each_see_every_entry(log: Log) {
    append_n(&log, 0, 30).await;
    for group in ["email", "sms"] {
        log.create_group(T, 0, group, StartPosition::Earliest).await.unwrap();
    }
    for group in ["email", "sms"] {
        let got = log.read_group(T, 0, group, "c", 100).await.unwrap();
        assert_eq!(
            offsets(got.iter().map(|d| d.record.offset)),
            (0..30).collect::<Vec<_>>(),
            "group {group}"
        );
    }
}

pub async fn groups_start_where_asked(log: Log) {
    append_n(&log, 0, 5).await;
    log.create_group(T, 0, "from-earliest", StartPosition::Earliest).await.unwrap();
    log.create_group(T, 0, "from-latest", StartPosition::Latest).await.unwrap();
    log.create_group(T, 0, "from-3", StartPosition::Offset(3)).await.unwrap();
    let err = log.create_group(T, 0, "from-latest", StartPosition::Earliest).await.unwrap_err();
    assert!(matches!(err, RepoError::AlreadyExists { .. }), "{err:?}");
    log.append(T, 0, vec![rec("m5")]).await.unwrap();

    for (group, expected) in [
        ("from-earliest", vec![0, 1, 2, 3, 4, 5]),
        ("from-latest", vec![5]),
        ("from-3", vec![3, 4, 5]),
    ] {
        let got = log.read_group(T, 0, group, "c", 100).await.unwrap();
        assert_eq!(offsets(got.iter().map(|d| d.record.offset)), expected, "group {group}");
    }
    // A group on a partition nobody wrote to yet sees what comes later.
    log.create_group(T, 9, "early-bird", StartPosition::Latest).await.unwrap();
    log.append(T, 9, vec![rec("x")]).await.unwrap();
    assert_eq!(log.read_group(T, 9, "early-bird", "c", 10).await.unwrap().len(), 1);
}

pub async fn unknown_group_is_not_found(log: Log) {
    append_n(&log, 0, 1).await;
    let err = log.read_group(T, 0, "ghost", "c", 1).await.unwrap_err();
    assert!(matches!(err, RepoError::NotFound { kind: "consumer group", .. }), "{err:?}");
    let err = log.group_lag(T, 0, "ghost").await.unwrap_err();
    assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");
    let err = log.read_group(t("no-such-topic"), 0, "ghost", "c", 1).await.unwrap_err();
    assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");
    let err = log.pending(T, 0, "ghost", 10).await.unwrap_err();
    assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");
    assert_eq!(log.ack(T, 0, "ghost", &[0]).await.unwrap(), 0, "acking in no group acks nothing");
    for max in [0, 10] {
        for topic in [T, t("no-such-topic")] {
            let err = log.redeliver(topic, 0, "ghost", "c", NOW, HOUR, max).await.unwrap_err();
            assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");
        }
    }
    let failed = log.fail(T, 0, "ghost", &[failure(0, 1, NOW, "x")]).await.unwrap();
    assert_eq!(failed, 0, "failing in no group records nothing");
    assert_eq!(
        log.fail(t("no-such-topic"), 0, "ghost", &[failure(0, 1, NOW, "x")]).await.unwrap(),
        0
    );
    assert!(log.attempts(T, 0, "ghost", 0).await.unwrap().is_empty());
}

pub async fn pending_shows_unacked_entries_until_acked(log: Log) {
    append_n(&log, 0, 5).await;
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    log.read_group(T, 0, "g", "c1", 3).await.unwrap();
    let pending = log.pending(T, 0, "g", 100).await.unwrap();
    assert_eq!(offsets(pending.iter().map(|p| p.offset)), vec![0, 1, 2]);
    assert!(pending.iter().all(|p| p.consumer == "c1" && p.delivery_count == 1));

    assert_eq!(log.ack(T, 0, "g", &[0, 2, 4, 99]).await.unwrap(), 2, "only pending entries count");
    let pending = log.pending(T, 0, "g", 100).await.unwrap();
    assert_eq!(offsets(pending.iter().map(|p| p.offset)), vec![1]);
    assert_eq!(log.ack(T, 0, "g", &[0, 2]).await.unwrap(), 0, "acking twice counts nothing");
    assert_eq!(log.pending(T, 0, "g", 0).await.unwrap().len(), 0);
}

pub async fn lag_is_end_minus_next_offset(log: Log) {
    append_n(&log, 0, 10).await;
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    let lag = log.group_lag(T, 0, "g").await.unwrap();
    assert_eq!((lag.end_offset, lag.next_offset, lag.lag, lag.pending), (10, 0, 10, 0));

    log.read_group(T, 0, "g", "c", 4).await.unwrap();
    let lag = log.group_lag(T, 0, "g").await.unwrap();
    assert_eq!((lag.end_offset, lag.next_offset, lag.lag, lag.pending), (10, 4, 6, 4));

    log.ack(T, 0, "g", &[0, 1, 2, 3]).await.unwrap();
    append_n(&log, 0, 2).await;
    let lag = log.group_lag(T, 0, "g").await.unwrap();
    assert_eq!((lag.end_offset, lag.next_offset, lag.lag, lag.pending), (12, 4, 8, 0));

    log.create_group(T, 0, "late", StartPosition::Latest).await.unwrap();
    assert_eq!(log.group_lag(T, 0, "late").await.unwrap().lag, 0);

    // Records trimmed away before delivery are no longer owed to the group.
    log.trim_to_len(T, 0, 0).await.unwrap();
    let stats = log.partition_stats(T, 0).await.unwrap();
    let lag = log.group_lag(T, 0, "g").await.unwrap();
    assert_eq!(lag.lag, stats.end_offset - stats.first_offset.max(4));
}

pub async fn trim_by_age_removes_only_older_records(log: Log) {
    append_n(&log, 0, 5).await;
    tokio::time::sleep(Duration::from_millis(15)).await;
    let newer = log.append(T, 0, (5..10).map(|i| rec(format!("m{i}"))).collect()).await.unwrap();
    let cutoff = newer[0].timestamp_ms;
    let before = log.read_range(T, 0, 0, 5).await.unwrap();
    assert!(before.iter().all(|r| r.timestamp_ms < cutoff), "the first five are older");

    assert_eq!(log.trim_before(T, 0, cutoff).await.unwrap(), 5);
    let stats = log.partition_stats(T, 0).await.unwrap();
    assert_eq!((stats.first_offset, stats.end_offset, stats.length), (5, 10, 5));
    let left = log.read_range(T, 0, 0, 100).await.unwrap();
    assert_eq!(offsets(left.iter().map(|r| r.offset)), vec![5, 6, 7, 8, 9]);

    assert_eq!(log.trim_before(T, 0, cutoff).await.unwrap(), 0, "nothing older is left");
    assert_eq!(log.trim_before(T, 0, i64::MIN).await.unwrap(), 0);
    assert_eq!(
        log.append(T, 0, vec![rec("m10")]).await.unwrap()[0].offset,
        10,
        "offsets go on after a trim"
    );
    assert_eq!(log.trim_before(t("never-written"), 0, cutoff).await.unwrap(), 0);
    assert_eq!(
        log.trim_before(T, 0, i64::MAX).await.unwrap(),
        6,
        "a cutoff in the future empties it"
    );
    assert_eq!(log.partition_stats(T, 0).await.unwrap().length, 0);
}

pub async fn trim_by_length_keeps_the_newest(log: Log) {
    append_n(&log, 0, 1000).await;
    let removed = log.trim_to_len(T, 0, 100).await.unwrap();
    let stats = log.partition_stats(T, 0).await.unwrap();
    assert_eq!(stats.length, 1000 - removed);
    // Approximate: never fewer than asked, at most one Redis stream node (100 entries) more.
    assert!((100..=200).contains(&stats.length), "kept {}", stats.length);
    assert_eq!(stats.end_offset, 1000);
    assert_eq!(stats.first_offset, 1000 - stats.length, "the newest are kept, contiguously");
    let first = log.read_range(T, 0, 0, 1).await.unwrap();
    assert_eq!(first[0].offset, stats.first_offset);
}

pub async fn delete_group_and_delete_topic(log: Log) {
    append_n(&log, 0, 3).await;
    append_n(&log, 1, 3).await;
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    log.create_group(T, 1, "g", StartPosition::Earliest).await.unwrap();
    log.read_group(T, 0, "g", "c", 10).await.unwrap();

    assert!(log.delete_group(T, 1, "g").await.unwrap());
    assert!(!log.delete_group(T, 1, "g").await.unwrap(), "already gone");
    assert!(matches!(log.group_lag(T, 1, "g").await, Err(RepoError::NotFound { .. })));
    log.create_group(T, 1, "g", StartPosition::Earliest).await.unwrap();

    log.append(t("payments"), 0, vec![rec("keep")]).await.unwrap();
    log.delete_topic(T, 2).await.unwrap();
    for partition in 0..2 {
        let stats = log.partition_stats(T, partition).await.unwrap();
        assert_eq!((stats.end_offset, stats.length), (0, 0));
        assert!(log.read_range(T, partition, 0, 10).await.unwrap().is_empty());
        assert!(matches!(log.group_lag(T, partition, "g").await, Err(RepoError::NotFound { .. })));
    }
    assert_eq!(
        log.append(T, 0, vec![rec("again")]).await.unwrap()[0].offset,
        0,
        "a recreated topic starts at 0"
    );
    assert_eq!(
        log.partition_stats(t("payments"), 0).await.unwrap().length,
        1,
        "other topics are untouched"
    );
}

pub async fn claim_by_offset_takes_over_at_once(log: Log) {
    append_n(&log, 0, 4).await;
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    log.read_group(T, 0, "g", "old-owner", 3).await.unwrap();

    // No idle time needed; offsets not pending (3: never delivered, 99: never written) are skipped.
    let taken = log.claim(T, 0, "g", "new-owner", &[2, 0, 3, 99, 0]).await.unwrap();
    assert_eq!(
        offsets(taken.iter().map(|d| d.record.offset)),
        vec![0, 2],
        "in offset order, once each"
    );
    assert!(taken.iter().all(|d| d.delivery_count == 2));
    assert_eq!(taken[1].record.message_id, "m2");
    let pending = log.pending(T, 0, "g", 10).await.unwrap();
    let holders: Vec<_> =
        pending.iter().map(|p| (p.offset, p.consumer.as_str(), p.delivery_count)).collect();
    assert_eq!(holders, vec![(0, "new-owner", 2), (1, "old-owner", 1), (2, "new-owner", 2)]);
    assert!(log.claim(T, 0, "g", "x", &[]).await.unwrap().is_empty());
    for offsets in [&[0][..], &[]] {
        let err = log.claim(T, 0, "ghost", "x", offsets).await.unwrap_err();
        assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");
    }
}

pub async fn ack_deliveries_settles_only_the_current_delivery(log: Log) {
    append_n(&log, 0, 3).await;
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    log.read_group(T, 0, "g", "c1", 3).await.unwrap();
    let again = log.claim(T, 0, "g", "c2", &[0]).await.unwrap();
    assert_eq!((again[0].record.offset, again[0].delivery_count), (0, 2));

    // (0, 1) is the first delivery's: stale. (1, 1) and (2, 1) are current; (9, 1) never was.
    let acked =
        log.ack_deliveries(T, 0, "g", &[(0, 1), (1, 1), (2, 1), (2, 1), (9, 1)]).await.unwrap();
    assert_eq!(acked, 2, "the current deliveries of 1 and 2, once each");
    let pending = log.pending(T, 0, "g", 10).await.unwrap();
    assert_eq!(offsets(pending.iter().map(|p| p.offset)), vec![0], "c2's delivery of 0 stays");
    assert_eq!(log.ack_deliveries(T, 0, "g", &[(0, 2)]).await.unwrap(), 1);
    assert!(log.pending(T, 0, "g", 10).await.unwrap().is_empty());
    assert_eq!(log.ack_deliveries(T, 0, "ghost", &[(0, 1)]).await.unwrap(), 0);
    assert_eq!(log.ack_deliveries(T, 0, "g", &[]).await.unwrap(), 0);
}

/// Retry times in these tests are relative to this "now", which `redeliver` takes from its
/// caller; idle times and ack timeouts run on the store's own clock.
const NOW: i64 = 1_700_000_000_000;
const HOUR: Duration = Duration::from_secs(3600);

fn failure(offset: u64, delivery_count: u32, retry_at_ms: i64, reason: &str) -> Failure {
    Failure {
        offset,
        delivery_count,
        failed_at_ms: NOW - 10 + i64::from(delivery_count),
        retry_at_ms,
        reason: reason.into(),
    }
}

/// (offset, holder, delivery count, retry time) of every pending record.
async fn pending_states(log: &Log) -> Vec<(u64, String, u32, Option<i64>)> {
    let pending = log.pending(T, 0, "g", 1000).await.unwrap();
    pending.into_iter().map(|p| (p.offset, p.consumer, p.delivery_count, p.retry_at_ms)).collect()
}

fn state(
    offset: u64,
    holder: &str,
    count: u32,
    retry_at: Option<i64>,
) -> (u64, String, u32, Option<i64>) {
    (offset, holder.into(), count, retry_at)
}

/// A partition of `n` records all delivered once to `c1` in group `g`.
async fn delivered(log: &Log, n: usize) {
    append_n(log, 0, n).await;
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    assert_eq!(log.read_group(T, 0, "g", "c1", n).await.unwrap().len(), n);
}

pub async fn failed_records_are_redelivered_when_their_retry_time_comes(log: Log) {
    delivered(&log, 3).await;
    let failed = log
        .fail(T, 0, "g", &[failure(0, 1, NOW + 1000, "boom"), failure(1, 1, NOW + 500, "bang")])
        .await
        .unwrap();
    assert_eq!(failed, 2);
    assert_eq!(
        pending_states(&log).await,
        [
            state(0, "c1", 1, Some(NOW + 1000)),
            state(1, "c1", 1, Some(NOW + 500)),
            state(2, "c1", 1, None)
        ],
        "waiting records keep their holder and count"
    );

    let early = log.redeliver(T, 0, "g", "c2", NOW + 499, HOUR, 10).await.unwrap();
    assert!(early.deliveries.is_empty() && early.expired.is_empty(), "{early:?}");

    let due = log.redeliver(T, 0, "g", "c2", NOW + 500, HOUR, 10).await.unwrap();
    assert_eq!(offsets(due.deliveries.iter().map(|d| d.record.offset)), vec![1], "at its time");
    assert_eq!(due.deliveries[0].delivery_count, 2);
    assert_eq!(due.deliveries[0].record.message_id, "m1");
    assert!(due.expired.is_empty());
    assert_eq!(
        pending_states(&log).await,
        [state(0, "c1", 1, Some(NOW + 1000)), state(1, "c2", 2, None), state(2, "c1", 1, None)]
    );
    let again = log.redeliver(T, 0, "g", "c2", NOW + 500, HOUR, 10).await.unwrap();
    assert!(again.deliveries.is_empty(), "delivered once: {again:?}");

    // Both due, the later offset's retry time first: `max` takes the lowest offsets.
    assert_eq!(log.fail(T, 0, "g", &[failure(1, 2, NOW + 100, "again")]).await.unwrap(), 1);
    let first = log.redeliver(T, 0, "g", "c3", NOW + 5000, HOUR, 1).await.unwrap();
    assert_eq!(offsets(first.deliveries.iter().map(|d| d.record.offset)), vec![0]);
    assert_eq!(first.deliveries[0].delivery_count, 2);
    let second = log.redeliver(T, 0, "g", "c3", NOW + 5000, HOUR, 1).await.unwrap();
    assert_eq!(offsets(second.deliveries.iter().map(|d| d.record.offset)), vec![1]);
    assert_eq!(second.deliveries[0].delivery_count, 3);
    assert!(log
        .redeliver(T, 0, "g", "c3", NOW + 5000, HOUR, 0)
        .await
        .unwrap()
        .deliveries
        .is_empty());
    assert_eq!(
        pending_states(&log).await,
        [state(0, "c3", 2, None), state(1, "c3", 3, None), state(2, "c1", 1, None)]
    );
}

pub async fn fail_applies_only_to_the_current_in_flight_delivery(log: Log) {
    delivered(&log, 3).await;
    assert_eq!(
        log.fail(T, 0, "g", &[failure(0, 2, NOW, "stale")]).await.unwrap(),
        0,
        "wrong count"
    );
    assert_eq!(
        log.fail(T, 0, "g", &[failure(7, 1, NOW, "never")]).await.unwrap(),
        0,
        "not pending"
    );
    assert_eq!(log.fail(T, 0, "g", &[]).await.unwrap(), 0);

    // A repeated offset counts once, with its first failure.
    let repeated = [failure(0, 1, NOW + 1, "first"), failure(0, 1, NOW + 2, "second")];
    assert_eq!(log.fail(T, 0, "g", &repeated).await.unwrap(), 1);
    let attempts = log.attempts(T, 0, "g", 0).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].reason, "first");
    assert_eq!(pending_states(&log).await[0], state(0, "c1", 1, Some(NOW + 1)));

    // Already waiting: a second failure of the same delivery changes nothing.
    assert_eq!(log.fail(T, 0, "g", &[failure(0, 1, NOW + 9, "dup")]).await.unwrap(), 0);
    assert_eq!(log.attempts(T, 0, "g", 0).await.unwrap().len(), 1);
    assert_eq!(pending_states(&log).await[0], state(0, "c1", 1, Some(NOW + 1)));

    // Once delivered again, a late failure of the earlier delivery is stale too.
    let due = log.redeliver(T, 0, "g", "c2", NOW + 1, HOUR, 10).await.unwrap();
    assert_eq!(due.deliveries.len(), 1);
    assert_eq!(log.fail(T, 0, "g", &[failure(0, 1, NOW, "late")]).await.unwrap(), 0);
    let mixed = [failure(0, 2, NOW + 3, "current"), failure(1, 9, NOW, "stale")];
    assert_eq!(log.fail(T, 0, "g", &mixed).await.unwrap(), 1);
}

pub async fn attempts_accumulate_until_the_record_is_settled(log: Log) {
    delivered(&log, 3).await;
    assert!(log.attempts(T, 0, "g", 0).await.unwrap().is_empty(), "no failure yet");
    let odd = "line one\nline two \"quoted\" {\"json\": [1]} \\ / ünïcødé 🚀\t\u{0}end";
    assert_eq!(log.fail(T, 0, "g", &[failure(0, 1, NOW, "timeout")]).await.unwrap(), 1);
    log.redeliver(T, 0, "g", "c2", NOW, HOUR, 10).await.unwrap();
    assert_eq!(log.fail(T, 0, "g", &[failure(0, 2, NOW, odd)]).await.unwrap(), 1);
    log.redeliver(T, 0, "g", "c3", NOW, HOUR, 10).await.unwrap();
    assert_eq!(log.fail(T, 0, "g", &[failure(0, 3, NOW, "")]).await.unwrap(), 1);

    let attempts = log.attempts(T, 0, "g", 0).await.unwrap();
    let seen: Vec<_> = attempts
        .iter()
        .map(|a| (a.delivery_count, a.failed_at_ms, a.consumer.as_str(), a.reason.as_str()))
        .collect();
    assert_eq!(
        seen,
        [(1, NOW - 9, "c1", "timeout"), (2, NOW - 8, "c2", odd), (3, NOW - 7, "c3", "")],
        "oldest first, each with the holder of the failed delivery"
    );
    assert!(log.attempts(T, 0, "g", 1).await.unwrap().is_empty(), "other records have none");
    assert!(log.attempts(T, 0, "g", 99).await.unwrap().is_empty());

    // Settling a waiting record, by receipt or by offset, ends its wait and its history.
    assert_eq!(log.fail(T, 0, "g", &[failure(1, 1, NOW, "x")]).await.unwrap(), 1);
    assert_eq!(log.ack_deliveries(T, 0, "g", &[(0, 2)]).await.unwrap(), 0, "stale receipt");
    assert_eq!(log.ack_deliveries(T, 0, "g", &[(0, 3)]).await.unwrap(), 1, "waiting or not");
    assert_eq!(log.ack(T, 0, "g", &[1]).await.unwrap(), 1);
    for offset in [0, 1] {
        assert!(log.attempts(T, 0, "g", offset).await.unwrap().is_empty(), "offset {offset}");
    }
    assert_eq!(pending_states(&log).await, [state(2, "c1", 1, None)]);
    let later = log.redeliver(T, 0, "g", "c4", NOW + 1_000_000, HOUR, 10).await.unwrap();
    assert!(later.deliveries.is_empty(), "nothing waits any longer: {later:?}");
}

pub async fn claim_skips_records_waiting_for_a_retry(log: Log) {
    delivered(&log, 3).await;
    assert_eq!(log.fail(T, 0, "g", &[failure(1, 1, NOW, "x")]).await.unwrap(), 1);
    let taken = log.claim(T, 0, "g", "c2", &[0, 1, 2]).await.unwrap();
    assert_eq!(offsets(taken.iter().map(|d| d.record.offset)), vec![0, 2]);
    assert!(log.claim(T, 0, "g", "c2", &[1]).await.unwrap().is_empty());
    assert_eq!(
        pending_states(&log).await,
        [state(0, "c2", 2, None), state(1, "c1", 1, Some(NOW)), state(2, "c2", 2, None)]
    );
    let due = log.redeliver(T, 0, "g", "c3", NOW, HOUR, 10).await.unwrap();
    assert_eq!(offsets(due.deliveries.iter().map(|d| d.record.offset)), vec![1]);
    assert_eq!(due.deliveries[0].delivery_count, 2);
    assert_eq!(log.attempts(T, 0, "g", 1).await.unwrap().len(), 1, "a redelivery keeps history");
}

pub async fn redeliver_lists_in_flight_records_past_their_ack_timeout(log: Log) {
    delivered(&log, 4).await;
    assert_eq!(log.fail(T, 0, "g", &[failure(1, 1, NOW + 1000, "x")]).await.unwrap(), 1);
    assert_eq!(log.ack(T, 0, "g", &[3]).await.unwrap(), 1);
    let fresh = log.redeliver(T, 0, "g", "c2", NOW, HOUR, 10).await.unwrap();
    assert!(fresh.expired.is_empty(), "nothing is an hour old: {fresh:?}");

    tokio::time::sleep(Duration::from_millis(120)).await;
    let timeout = Duration::from_millis(50);
    let scan = log.redeliver(T, 0, "g", "c2", NOW, timeout, 10).await.unwrap();
    assert!(scan.deliveries.is_empty());
    let expired: Vec<_> =
        scan.expired.iter().map(|p| (p.offset, p.consumer.as_str(), p.delivery_count)).collect();
    assert_eq!(expired, [(0, "c1", 1), (2, "c1", 1)], "in flight only, in offset order");
    assert!(scan.expired.iter().all(|p| p.idle_ms >= 50 && p.retry_at_ms.is_none()), "{scan:?}");

    // Listed, not changed: the caller decides what happens to them.
    let again = log.redeliver(T, 0, "g", "c2", NOW, timeout, 1).await.unwrap();
    assert_eq!(offsets(again.expired.iter().map(|p| p.offset)), vec![0], "`max` bounds it");
    assert_eq!(
        pending_states(&log).await,
        [state(0, "c1", 1, None), state(1, "c1", 1, Some(NOW + 1000)), state(2, "c1", 1, None)]
    );

    // Failing an expired delivery turns it into a retry; a redelivery starts a new timeout.
    assert_eq!(log.fail(T, 0, "g", &[failure(0, 1, NOW, "ack timeout")]).await.unwrap(), 1);
    let retried = log.redeliver(T, 0, "g", "c2", NOW, timeout, 10).await.unwrap();
    assert_eq!(offsets(retried.deliveries.iter().map(|d| d.record.offset)), vec![0]);
    assert_eq!(offsets(retried.expired.iter().map(|p| p.offset)), vec![2]);
}

pub async fn waiting_records_do_not_hide_expired_ones(log: Log) {
    const WAITING: u64 = 150;
    delivered(&log, WAITING as usize + 1).await;
    let failures: Vec<_> = (0..WAITING).map(|o| failure(o, 1, NOW + 1000, "later")).collect();
    assert_eq!(log.fail(T, 0, "g", &failures).await.unwrap(), WAITING);
    tokio::time::sleep(Duration::from_millis(120)).await;

    // Every waiting record has been idle past the timeout, and all come before the expired
    // one; still, a scan for one expired record finds it after at most a couple of calls.
    let timeout = Duration::from_millis(50);
    let mut found = Vec::new();
    for _ in 0..3 {
        let scan = log.redeliver(T, 0, "g", "c2", NOW, timeout, 1).await.unwrap();
        assert!(scan.deliveries.is_empty());
        found = scan.expired;
        if !found.is_empty() {
            break;
        }
    }
    assert_eq!(offsets(found.iter().map(|p| p.offset)), vec![WAITING], "{found:?}");
    let waiting = pending_states(&log).await;
    assert!(waiting[..WAITING as usize].iter().all(|s| s.3 == Some(NOW + 1000) && s.2 == 1));
}

pub async fn delete_group_drops_waiting_records_and_histories(log: Log) {
    delivered(&log, 3).await;
    let failures = [failure(0, 1, NOW, "x"), failure(1, 1, NOW, "y")];
    assert_eq!(log.fail(T, 0, "g", &failures).await.unwrap(), 2);
    assert!(log.delete_group(T, 0, "g").await.unwrap());

    // A group of the same name starts afresh: nothing waits, no history.
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    assert!(log.attempts(T, 0, "g", 0).await.unwrap().is_empty());
    let none = log.redeliver(T, 0, "g", "c2", NOW + 1_000_000, HOUR, 10).await.unwrap();
    assert!(none.deliveries.is_empty(), "{none:?}");
    let read = log.read_group(T, 0, "g", "c1", 10).await.unwrap();
    assert_eq!(offsets(read.iter().map(|d| d.record.offset)), vec![0, 1, 2]);
    assert_eq!(log.claim(T, 0, "g", "c2", &[0]).await.unwrap().len(), 1, "not waiting");
    assert!(pending_states(&log).await.iter().all(|s| s.3.is_none()));
    assert!(log.attempts(T, 0, "g", 0).await.unwrap().is_empty());

    // So does one created again after its topic was deleted.
    assert_eq!(log.fail(T, 0, "g", &[failure(1, 1, NOW, "z")]).await.unwrap(), 1);
    log.delete_topic(T, 1).await.unwrap();
    delivered(&log, 3).await;
    assert!(log.attempts(T, 0, "g", 1).await.unwrap().is_empty());
    assert!(pending_states(&log).await.iter().all(|s| s.3.is_none()));
    let none = log.redeliver(T, 0, "g", "c2", NOW + 1_000_000, HOUR, 10).await.unwrap();
    assert!(none.deliveries.is_empty(), "{none:?}");
}

pub async fn waiting_record_trimmed_away_is_dropped_on_redeliver(log: Log) {
    append_n(&log, 0, 1).await;
    tokio::time::sleep(Duration::from_millis(15)).await;
    let newer = log.append(T, 0, vec![rec("m1"), rec("m2")]).await.unwrap();
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    log.read_group(T, 0, "g", "c1", 3).await.unwrap();
    let failures = [failure(0, 1, NOW, "x"), failure(1, 1, NOW, "y")];
    assert_eq!(log.fail(T, 0, "g", &failures).await.unwrap(), 2);
    assert_eq!(log.trim_before(T, 0, newer[0].timestamp_ms).await.unwrap(), 1);

    let due = log.redeliver(T, 0, "g", "c2", NOW, HOUR, 10).await.unwrap();
    assert_eq!(offsets(due.deliveries.iter().map(|d| d.record.offset)), vec![1], "0 is gone");
    assert!(log.attempts(T, 0, "g", 0).await.unwrap().is_empty());
    assert_eq!(log.attempts(T, 0, "g", 1).await.unwrap().len(), 1);
    assert_eq!(pending_states(&log).await, [state(1, "c2", 2, None), state(2, "c1", 1, None)]);
    assert_eq!(log.group_lag(T, 0, "g").await.unwrap().pending, 2);
}

pub async fn deferred_records_come_back_with_the_same_count_and_no_attempt(log: Log) {
    delivered(&log, 3).await;
    assert_eq!(log.defer(T, 0, "g", &[(0, 2)], NOW).await.unwrap(), 0, "wrong count");
    assert_eq!(log.defer(T, 0, "g", &[(9, 1)], NOW).await.unwrap(), 0, "not pending");
    assert_eq!(log.defer(T, 0, "g", &[], NOW).await.unwrap(), 0);
    assert_eq!(log.defer(T, 0, "g", &[(1, 1), (2, 1), (1, 1)], NOW + 5).await.unwrap(), 2);
    let states = pending_states(&log).await;
    assert_eq!(states[1], state(1, "c1", 0, Some(NOW + 5)), "count back by one, waiting");
    assert_eq!(states[2], state(2, "c1", 0, Some(NOW + 5)));
    assert!(log.attempts(T, 0, "g", 1).await.unwrap().is_empty(), "no failed attempt");
    // Already waiting: neither a defer nor a fail applies again.
    assert_eq!(log.defer(T, 0, "g", &[(1, 0)], NOW).await.unwrap(), 0);
    assert_eq!(log.fail(T, 0, "g", &[failure(1, 0, NOW, "x")]).await.unwrap(), 0);
    let early = log.redeliver(T, 0, "g", "c2", NOW + 4, HOUR, 10).await.unwrap();
    assert!(early.deliveries.is_empty(), "not before its time");
    let back = log.redeliver(T, 0, "g", "c2", NOW + 5, HOUR, 10).await.unwrap();
    let counts: Vec<(u64, u32)> =
        back.deliveries.iter().map(|d| (d.record.offset, d.delivery_count)).collect();
    assert_eq!(counts, [(1, 1), (2, 1)], "the next delivery has the deferred one's count");
    // The old receipt of a deferred delivery settles nothing; the new one does.
    assert_eq!(log.ack_deliveries(T, 0, "g", &[(1, 1)]).await.unwrap(), 1);
    log.delete_group(T, 0, "g").await.unwrap();
    assert_eq!(log.defer(T, 0, "g", &[(0, 1)], NOW).await.unwrap(), 0, "missing group");
}

pub async fn touch_restarts_the_ack_timeout_of_in_flight_records(log: Log) {
    delivered(&log, 3).await;
    let timeout = Duration::from_millis(50);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let expired = |r: mq_repo::Redelivery| r.expired.iter().map(|p| p.offset).collect::<Vec<_>>();
    assert_eq!(expired(log.redeliver(T, 0, "g", "c2", NOW, timeout, 10).await.unwrap()), [0, 1, 2]);
    // Touched: delivered "just now" again, same holder and count.
    assert_eq!(log.touch(T, 0, "g", &[(0, 1), (0, 1)], Duration::ZERO).await.unwrap(), 1);
    assert_eq!(expired(log.redeliver(T, 0, "g", "c2", NOW, timeout, 10).await.unwrap()), [1, 2]);
    assert_eq!(pending_states(&log).await[0], state(0, "c1", 1, None));
    // Wrong count, waiting for a retry, unknown offset, missing group: nothing.
    assert_eq!(log.touch(T, 0, "g", &[(1, 2)], Duration::ZERO).await.unwrap(), 0);
    assert_eq!(log.fail(T, 0, "g", &[failure(1, 1, NOW + 60_000, "x")]).await.unwrap(), 1);
    assert_eq!(log.touch(T, 0, "g", &[(1, 1)], Duration::ZERO).await.unwrap(), 0);
    assert_eq!(log.touch(T, 0, "g", &[(9, 1)], Duration::ZERO).await.unwrap(), 0);
    assert_eq!(log.touch(T, 0, "nope", &[(0, 1)], Duration::ZERO).await.unwrap(), 0);
    // A long idle makes it expired at once.
    assert_eq!(log.touch(T, 0, "g", &[(0, 1)], Duration::from_secs(3600)).await.unwrap(), 1);
    let now =
        expired(log.redeliver(T, 0, "g", "c2", NOW, Duration::from_secs(60), 10).await.unwrap());
    assert_eq!(now, [0]);
}

fn keyed(id: &str, key: &str, window_ms: u64) -> NewRecord {
    NewRecord { dedup: Some(Dedup { key: key.into(), window_ms }), ..rec(id) }
}

/// A repeat of an idempotency key within its window stores nothing and answers the first
/// record's id and place; within one batch too; other keys and keyless records take the next
/// offsets; another partition has its own keys; after the window the key is new again.
pub async fn idempotency_keys_store_once_within_their_window(log: Log) {
    let hour = 3_600_000;
    let first = log.append(T, 0, vec![rec("plain"), keyed("m1", "k1", hour)]).await.unwrap();
    assert_eq!(first.iter().map(|a| a.offset).collect::<Vec<_>>(), [0, 1]);
    assert!(first.iter().all(|a| a.duplicate_of.is_none()));

    let again = log
        .append(
            T,
            0,
            vec![
                keyed("m2", "k1", hour),
                keyed("m3", "k2", hour),
                keyed("m4", "k2", hour),
                rec("p2"),
            ],
        )
        .await
        .unwrap();
    let original = Original::Appended {
        message_id: "m1".into(),
        offset: 1,
        timestamp_ms: first[1].timestamp_ms,
    };
    assert_eq!(again[0].duplicate_of, Some(original));
    assert_eq!(again[0].offset, 1, "the repeat answers the first's offset");
    assert_eq!((again[1].offset, again[1].duplicate_of.is_none()), (2, true));
    assert!(
        matches!(&again[2].duplicate_of, Some(Original::Appended { message_id, offset: 2, .. }) if message_id == "m3"),
        "{again:?}"
    );
    assert_eq!((again[3].offset, again[3].duplicate_of.is_none()), (3, true));
    let stored: Vec<String> =
        log.read_range(T, 0, 0, 100).await.unwrap().into_iter().map(|r| r.message_id).collect();
    assert_eq!(stored, ["plain", "m1", "m3", "p2"]);
    assert_eq!(log.partition_stats(T, 0).await.unwrap().end_offset, 4);

    // Another partition keeps keys of its own.
    let other = log.append(T, 1, vec![keyed("o1", "k1", hour)]).await.unwrap();
    assert_eq!((other[0].offset, other[0].duplicate_of.is_none()), (0, true));

    // A short window runs out; the key is new again.
    log.append(T, 2, vec![keyed("s1", "short", 150)]).await.unwrap();
    assert!(log.append(T, 2, vec![keyed("s2", "short", 150)]).await.unwrap()[0]
        .duplicate_of
        .is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = log.append(T, 2, vec![keyed("s3", "short", 150)]).await.unwrap();
    assert_eq!((later[0].offset, later[0].duplicate_of.is_none()), (1, true));
}

/// Racing repeats of one key store it exactly once.
pub async fn racing_repeats_of_a_key_store_once(log: Log) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let records =
                (0..50).map(|k| keyed(&format!("w{i}-{k}"), &format!("key-{k}"), 60_000)).collect();
            log.append(T, 0, records).await.unwrap()
        }));
    }
    let mut originals = 0;
    for task in tasks {
        originals += task.await.unwrap().iter().filter(|a| a.duplicate_of.is_none()).count();
    }
    assert_eq!(originals, 50);
    assert_eq!(log.partition_stats(T, 0).await.unwrap().length, 50);
}
