//! The message-log suite: offsets, consumer groups, pending lists, claims, lag, trimming.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use mq_model::MessageType;
use mq_repo::{MessageLog, NewRecord, RepoError, StartPosition};

type Log = Arc<dyn MessageLog>;

const T: &str = "orders";

fn rec(id: impl Into<String>) -> NewRecord {
    NewRecord {
        message_id: id.into(),
        key: None,
        value: b"v".to_vec(),
        headers: BTreeMap::new(),
        producer_id: None,
        message_type: MessageType::Normal,
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
    assert!(log.read_range("never-written", 0, 0, 10).await.unwrap().is_empty());

    let next = log.append(T, 0, vec![rec("m5")]).await.unwrap();
    assert_eq!(next[0].offset, 5);
    assert!(next[0].timestamp_ms >= landed[4].timestamp_ms, "timestamps never go back");
}

pub async fn partitions_are_independent(log: Log) {
    log.append(T, 0, vec![rec("a"), rec("b")]).await.unwrap();
    let other = log.append(T, 1, vec![rec("c")]).await.unwrap();
    assert_eq!(other[0].offset, 0, "each partition counts from 0");
    let other_topic = log.append("payments", 0, vec![rec("d")]).await.unwrap();
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
    let err = log.read_group("no-such-topic", 0, "ghost", "c", 1).await.unwrap_err();
    assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");
    let err = log.pending(T, 0, "ghost", 10).await.unwrap_err();
    assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");
    assert_eq!(log.ack(T, 0, "ghost", &[0]).await.unwrap(), 0, "acking in no group acks nothing");
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

pub async fn claim_moves_idle_entries_and_counts_deliveries(log: Log) {
    append_n(&log, 0, 3).await;
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    log.read_group(T, 0, "g", "c1", 2).await.unwrap();

    let too_soon = log.claim_idle(T, 0, "g", "c2", Duration::from_secs(3600), 10).await.unwrap();
    assert!(too_soon.is_empty(), "nothing has been idle for an hour");

    tokio::time::sleep(Duration::from_millis(60)).await;
    let claimed = log.claim_idle(T, 0, "g", "c2", Duration::from_millis(20), 10).await.unwrap();
    assert_eq!(offsets(claimed.iter().map(|d| d.record.offset)), vec![0, 1]);
    assert!(claimed.iter().all(|d| d.delivery_count == 2));
    assert_eq!(claimed[0].record.message_id, "m0");

    let pending = log.pending(T, 0, "g", 10).await.unwrap();
    assert!(pending.iter().all(|p| p.consumer == "c2" && p.delivery_count == 2), "{pending:?}");
    assert!(pending.iter().all(|p| p.idle_ms < 3_600_000));

    // `max` bounds a claim.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let one = log.claim_idle(T, 0, "g", "c3", Duration::from_millis(20), 1).await.unwrap();
    assert_eq!(offsets(one.iter().map(|d| d.record.offset)), vec![0]);
    assert_eq!(one[0].delivery_count, 3);

    assert_eq!(log.ack(T, 0, "g", &[0, 1]).await.unwrap(), 2);
    assert!(log.pending(T, 0, "g", 10).await.unwrap().is_empty());
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
    assert_eq!(log.trim_before("never-written", 0, cutoff).await.unwrap(), 0);
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

    log.append("payments", 0, vec![rec("keep")]).await.unwrap();
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
        log.partition_stats("payments", 0).await.unwrap().length,
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

pub async fn release_makes_entries_claimable_at_once(log: Log) {
    append_n(&log, 0, 3).await;
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    log.read_group(T, 0, "g", "c1", 3).await.unwrap();

    let released = log.release(T, 0, "g", &[(1, 1), (2, 1), (7, 1), (2, 1)]).await.unwrap();
    assert_eq!(released, 2, "only pending entries count, once");
    let pending = log.pending(T, 0, "g", 10).await.unwrap();
    assert!(
        pending.iter().all(|p| p.consumer == "c1" && p.delivery_count == 1),
        "holder and count unchanged: {pending:?}"
    );
    assert!(pending[1].idle_ms >= 3_600_000, "a released entry looks long idle");

    // Claimable by a consumer that waits an hour for idle entries, without any waiting.
    let again = log.claim_idle(T, 0, "g", "c2", Duration::from_secs(3600), 10).await.unwrap();
    assert_eq!(offsets(again.iter().map(|d| d.record.offset)), vec![1, 2]);
    assert!(again.iter().all(|d| d.delivery_count == 2));

    // A late nack of the first delivery leaves the second, now with c2, alone.
    assert_eq!(log.release(T, 0, "g", &[(1, 1)]).await.unwrap(), 0, "stale delivery count");
    let stale = log.claim_idle(T, 0, "g", "c3", Duration::from_secs(3600), 10).await.unwrap();
    assert!(stale.is_empty(), "nothing was released: {stale:?}");
    assert_eq!(log.release(T, 0, "g", &[(1, 2)]).await.unwrap(), 1, "the current delivery");
    assert_eq!(log.release(T, 0, "ghost", &[(0, 1)]).await.unwrap(), 0);
}

pub async fn ack_deliveries_settles_only_the_current_delivery(log: Log) {
    append_n(&log, 0, 3).await;
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    log.read_group(T, 0, "g", "c1", 3).await.unwrap();
    log.release(T, 0, "g", &[(0, 1)]).await.unwrap();
    let again = log.claim_idle(T, 0, "g", "c2", Duration::from_secs(3600), 1).await.unwrap();
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
