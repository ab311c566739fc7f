//! The half-message suite: a transaction's message is held beside its partition's log, unseen
//! by readers and consumers, until a commit appends it (once, however many commit at once, with
//! the next offset like any append) or a rollback discards it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mq_model::MessageType;
use mq_repo::{MessageStores, NewRecord, PartitionStats, Record, StartPosition, TopicRef};

/// Spread over 4 partitions like a topic created today; partitions past 3 follow the
/// placement's rule for partitions beyond its generations.
const T: TopicRef<'static> = TopicRef::spread("payments", &[4]);

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
        message_type: MessageType::Transaction,
        dedup: None,
    }
}

fn normal(id: impl Into<String>) -> NewRecord {
    NewRecord { message_type: MessageType::Normal, ..rec(id) }
}

/// Every stored record of a partition, in offset order.
async fn read_all(stores: &MessageStores, topic: TopicRef<'_>, partition: u32) -> Vec<Record> {
    let mut all = Vec::new();
    let mut from = 0;
    loop {
        let page = stores.log.read_range(topic, partition, from, 500).await.unwrap();
        let Some(last) = page.last() else { return all };
        from = last.offset + 1;
        all.extend(page);
    }
}

fn names(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.message_id.as_str()).collect()
}

pub async fn prepared_message_is_invisible_until_committed(stores: MessageStores) {
    let (log, half) = (&stores.log, &stores.half);
    log.append(T, 0, vec![normal("n0")]).await.unwrap();
    log.create_group(T, 0, "g", StartPosition::Earliest).await.unwrap();
    let before = log.partition_stats(T, 0).await.unwrap();
    assert_eq!(
        before,
        PartitionStats { first_offset: 0, end_offset: 1, length: 1, last_rollback: None }
    );

    half.prepare(T, 0, rec("h")).await.unwrap();
    assert!(half.holds(T, 0, "h").await.unwrap());
    assert_eq!(half.held(T, 0).await.unwrap(), 1);
    assert_eq!(names(&read_all(&stores, T, 0).await), ["n0"]);
    assert!(log.read_range(T, 0, 1, 10).await.unwrap().is_empty());
    let delivered = log.read_group(T, 0, "g", "c1", 10).await.unwrap();
    assert_eq!(delivered.iter().map(|d| d.record.offset).collect::<Vec<_>>(), [0]);
    assert!(log.read_group(T, 0, "g", "c1", 10).await.unwrap().is_empty(), "nothing more");
    assert_eq!(log.partition_stats(T, 0).await.unwrap(), before, "holding appends nothing");
    assert_eq!(log.group_lag(T, 0, "g").await.unwrap().lag, 0);

    // A half message on a partition never written to leaves it empty, too.
    half.prepare(T, 1, rec("h1")).await.unwrap();
    assert!(read_all(&stores, T, 1).await.is_empty());
    assert_eq!(log.partition_stats(T, 1).await.unwrap(), PartitionStats::default());

    let committed = half.commit(T, 0, "h").await.unwrap().expect("held, so committed");
    assert_eq!(committed.offset, 1);
    assert_eq!(names(&read_all(&stores, T, 0).await), ["n0", "h"]);
    let delivered = log.read_group(T, 0, "g", "c1", 10).await.unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!((delivered[0].record.offset, delivered[0].record.message_id.as_str()), (1, "h"));
    assert_eq!(log.partition_stats(T, 0).await.unwrap().end_offset, 2);
    assert!(!half.holds(T, 0, "h").await.unwrap());
    assert_eq!(half.held(T, 0).await.unwrap(), 0);
}

pub async fn commit_appends_once_with_the_next_offset_and_every_field(stores: MessageStores) {
    let (log, half) = (&stores.log, &stores.half);
    let appended = log.append(T, 0, vec![normal("n0"), normal("n1"), normal("n2")]).await.unwrap();
    let full = NewRecord {
        message_id: "tx-full".into(),
        key: Some("user_1".into()),
        value: vec![0, 1, 2, 255, b'{', b'}'],
        headers: BTreeMap::from([("source".into(), "billing".into()), ("v".into(), "2".into())]),
        producer_id: Some("p1".into()),
        message_type: MessageType::Transaction,
        dedup: None,
    };
    half.prepare(T, 0, full.clone()).await.unwrap();

    let committed = half.commit(T, 0, "tx-full").await.unwrap().expect("held");
    assert_eq!(committed.offset, 3);
    assert!(committed.timestamp_ms >= appended[2].timestamp_ms, "timestamps never go back");
    assert_eq!(half.commit(T, 0, "tx-full").await.unwrap(), None, "committed once");

    let records = read_all(&stores, T, 0).await;
    assert_eq!(names(&records), ["n0", "n1", "n2", "tx-full"]);
    let stored = &records[3];
    let expected = Record {
        offset: 3,
        timestamp_ms: committed.timestamp_ms,
        message_id: full.message_id,
        key: full.key,
        value: full.value,
        headers: full.headers,
        producer_id: full.producer_id,
        message_type: MessageType::Transaction,
    };
    assert_eq!(*stored, expected);

    // Later appends continue after it.
    let next = log.append(T, 0, vec![normal("n4")]).await.unwrap();
    assert_eq!(next[0].offset, 4);
    assert!(next[0].timestamp_ms >= committed.timestamp_ms);
}

pub async fn concurrent_commits_of_one_message_append_it_once(stores: MessageStores) {
    const COMMITTERS: usize = 20;
    const ROUNDS: usize = 10;
    for round in 0..ROUNDS {
        let id = format!("race{round}");
        stores.half.prepare(T, 0, rec(id.clone())).await.unwrap();
        let start = Arc::new(tokio::sync::Barrier::new(COMMITTERS));
        let mut tasks = Vec::new();
        for _ in 0..COMMITTERS {
            let (half, id, start) = (stores.half.clone(), id.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                half.commit(T, 0, &id).await.unwrap()
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            winners.extend(task.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(winners[0].offset, round as u64, "round {round}");
    }
    let records = read_all(&stores, T, 0).await;
    let expected: Vec<String> = (0..ROUNDS).map(|r| format!("race{r}")).collect();
    assert_eq!(names(&records), expected);
    assert_eq!(stores.half.held(T, 0).await.unwrap(), 0);
}

pub async fn rollback_discards_once_and_the_message_never_commits(stores: MessageStores) {
    let half = &stores.half;
    half.prepare(T, 0, rec("a")).await.unwrap();
    half.prepare(T, 0, rec("b")).await.unwrap();
    assert!(half.rollback(T, 0, "a").await.unwrap());
    assert!(!half.rollback(T, 0, "a").await.unwrap(), "rolled back already");
    assert!(!half.holds(T, 0, "a").await.unwrap());
    assert_eq!(half.commit(T, 0, "a").await.unwrap(), None, "rolled back, so never committed");
    assert!(!half.rollback(T, 1, "b").await.unwrap(), "another partition's message");
    assert!(!half.rollback(T, 0, "unknown").await.unwrap());
    assert!(!half.rollback(t("never-used"), 0, "b").await.unwrap());
    assert_eq!(half.held(T, 0).await.unwrap(), 1);

    assert_eq!(half.commit(T, 0, "b").await.unwrap().map(|a| a.offset), Some(0));
    assert!(!half.rollback(T, 0, "b").await.unwrap(), "a committed message cannot roll back");
    assert_eq!(names(&read_all(&stores, T, 0).await), ["b"]);
}

pub async fn rollback_racing_commit_settles_each_message_one_way(stores: MessageStores) {
    const N: usize = 300;
    const TASKS: usize = 6;
    let ids: Vec<String> = (0..N).map(|i| format!("r{i:03}")).collect();
    for id in &ids {
        stores.half.prepare(T, 0, rec(id.clone())).await.unwrap();
    }
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let half = stores.half.clone();
        let mut order = ids.clone();
        order.rotate_left(t * N / TASKS);
        tasks.push(tokio::spawn(async move {
            let mut settled = Vec::new();
            for id in order {
                // Even tasks commit, odd ones roll back.
                let won = if t % 2 == 0 {
                    half.commit(T, 0, &id).await.unwrap().is_some()
                } else {
                    half.rollback(T, 0, &id).await.unwrap()
                };
                if won {
                    settled.push((t % 2 == 0, id));
                }
            }
            settled
        }));
    }
    let (mut committed, mut rolled_back) = (BTreeSet::new(), BTreeSet::new());
    for task in tasks {
        for (commit, id) in task.await.unwrap() {
            let fresh =
                if commit { committed.insert(id.clone()) } else { rolled_back.insert(id.clone()) };
            assert!(fresh, "{id} settled twice the same way");
        }
    }
    assert!(committed.is_disjoint(&rolled_back), "a message both committed and rolled back");
    assert_eq!(committed.len() + rolled_back.len(), N, "a message left over");

    let records = read_all(&stores, T, 0).await;
    let stored: BTreeSet<String> = records.iter().map(|r| r.message_id.clone()).collect();
    assert_eq!(stored, committed);
    assert_eq!(records.len(), committed.len(), "committed once each");
    assert!(records.iter().enumerate().all(|(i, r)| r.offset == i as u64), "offsets contiguous");
    assert_eq!(stores.half.held(T, 0).await.unwrap(), 0);
}

pub async fn holds_and_held_are_per_partition(stores: MessageStores) {
    let half = &stores.half;
    assert_eq!(half.held(T, 0).await.unwrap(), 0);
    assert_eq!(half.held(t("never-used"), 0).await.unwrap(), 0);
    assert!(!half.holds(t("never-used"), 0, "a").await.unwrap());
    for id in ["a", "b", "c"] {
        half.prepare(T, 0, rec(id)).await.unwrap();
    }
    half.prepare(T, 1, rec("a")).await.unwrap();
    half.prepare(t("other"), 0, rec("z")).await.unwrap();
    assert_eq!(half.held(T, 0).await.unwrap(), 3);
    assert_eq!(half.held(T, 1).await.unwrap(), 1);
    assert_eq!(half.held(T, 2).await.unwrap(), 0);
    assert_eq!(half.held(t("other"), 0).await.unwrap(), 1);
    assert!(half.holds(T, 0, "b").await.unwrap());
    assert!(!half.holds(T, 1, "b").await.unwrap(), "another partition's message");
    assert!(!half.holds(T, 0, "z").await.unwrap(), "another topic's message");

    // The same id on two partitions is two half messages.
    assert_eq!(half.commit(T, 1, "a").await.unwrap().map(|a| a.offset), Some(0));
    assert!(half.holds(T, 0, "a").await.unwrap());
    assert_eq!(half.held(T, 1).await.unwrap(), 0);
    assert!(half.rollback(T, 0, "a").await.unwrap());
    assert_eq!(half.held(T, 0).await.unwrap(), 2);
    assert!(read_all(&stores, T, 0).await.is_empty());
}

pub async fn preparing_an_id_again_replaces_it(stores: MessageStores) {
    let half = &stores.half;
    let first = NewRecord { value: b"first".to_vec(), key: Some("k1".into()), ..rec("x") };
    half.prepare(T, 0, first).await.unwrap();
    let second = NewRecord {
        value: b"second".to_vec(),
        key: Some("k2".into()),
        headers: BTreeMap::from([("h".into(), "2".into())]),
        ..rec("x")
    };
    half.prepare(T, 0, second.clone()).await.unwrap();
    assert_eq!(half.held(T, 0).await.unwrap(), 1);

    let committed = half.commit(T, 0, "x").await.unwrap().expect("held");
    assert_eq!(half.commit(T, 0, "x").await.unwrap(), None);
    let records = read_all(&stores, T, 0).await;
    assert_eq!(records.len(), 1, "one message, not two");
    assert_eq!(records[0].offset, committed.offset);
    assert_eq!(records[0].value, second.value);
    assert_eq!(records[0].key, second.key);
    assert_eq!(records[0].headers, second.headers);
}

pub async fn commit_of_an_unknown_message_appends_nothing(stores: MessageStores) {
    let (log, half) = (&stores.log, &stores.half);
    log.append(T, 0, vec![normal("n0")]).await.unwrap();
    half.prepare(T, 0, rec("held")).await.unwrap();
    let before = log.partition_stats(T, 0).await.unwrap();
    assert_eq!(half.commit(T, 0, "unknown").await.unwrap(), None);
    assert_eq!(half.commit(T, 1, "held").await.unwrap(), None, "another partition");
    assert_eq!(half.commit(t("never-used"), 0, "held").await.unwrap(), None);
    assert_eq!(log.partition_stats(T, 0).await.unwrap(), before);
    assert!(read_all(&stores, T, 1).await.is_empty());
    assert!(read_all(&stores, t("never-used"), 0).await.is_empty());
    assert!(half.holds(T, 0, "held").await.unwrap(), "untouched");
}

pub async fn delete_topic_drops_its_half_messages(stores: MessageStores) {
    let half = &stores.half;
    for partition in 0..3 {
        half.prepare(T, partition, rec(format!("h{partition}"))).await.unwrap();
    }
    half.prepare(t("kept"), 0, rec("k")).await.unwrap();
    stores.log.append(T, 0, vec![normal("n")]).await.unwrap();

    half.delete_topic(T, 3).await.unwrap();
    for partition in 0..3 {
        let id = format!("h{partition}");
        assert_eq!(half.held(T, partition).await.unwrap(), 0);
        assert!(!half.holds(T, partition, &id).await.unwrap());
        assert_eq!(half.commit(T, partition, &id).await.unwrap(), None);
        assert!(!half.rollback(T, partition, &id).await.unwrap());
        assert!(read_all(&stores, T, partition).await.is_empty());
    }
    assert!(half.holds(t("kept"), 0, "k").await.unwrap(), "other topics keep theirs");

    // The log's delete_topic drops them too (both traits delete the same partitions).
    half.prepare(T, 0, rec("again")).await.unwrap();
    stores.log.delete_topic(T, 1).await.unwrap();
    assert_eq!(half.held(T, 0).await.unwrap(), 0);

    // The topic can be used again from scratch.
    half.prepare(T, 0, rec("fresh")).await.unwrap();
    assert_eq!(half.commit(T, 0, "fresh").await.unwrap().map(|a| a.offset), Some(0));
}

pub async fn commits_interleave_with_appends_at_contiguous_offsets(stores: MessageStores) {
    const APPENDERS: usize = 4;
    const COMMITTERS: usize = 4;
    const EACH: usize = 150;
    for c in 0..COMMITTERS {
        for i in 0..EACH {
            stores.half.prepare(T, 0, rec(format!("c{c}-{i}"))).await.unwrap();
        }
    }
    let mut tasks = Vec::new();
    for a in 0..APPENDERS {
        let log = stores.log.clone();
        tasks.push(tokio::spawn(async move {
            let mut landed = Vec::new();
            for i in 0..EACH {
                let id = format!("a{a}-{i}");
                let appended = log.append(T, 0, vec![normal(id.clone())]).await.unwrap();
                landed.push((appended[0].offset, appended[0].timestamp_ms, id));
            }
            landed
        }));
    }
    for c in 0..COMMITTERS {
        let half = stores.half.clone();
        tasks.push(tokio::spawn(async move {
            let mut landed = Vec::new();
            for i in 0..EACH {
                let id = format!("c{c}-{i}");
                let appended = half.commit(T, 0, &id).await.unwrap().expect("held");
                landed.push((appended.offset, appended.timestamp_ms, id));
            }
            landed
        }));
    }
    let mut by_offset = BTreeMap::new();
    for task in tasks {
        for (offset, ts, id) in task.await.unwrap() {
            assert!(by_offset.insert(offset, (ts, id)).is_none(), "offset {offset} twice");
        }
    }
    let total = ((APPENDERS + COMMITTERS) * EACH) as u64;
    assert_eq!(by_offset.keys().copied().collect::<Vec<_>>(), (0..total).collect::<Vec<_>>());

    let records = read_all(&stores, T, 0).await;
    assert_eq!(records.len() as u64, total);
    for record in &records {
        let (ts, id) = &by_offset[&record.offset];
        assert_eq!((&record.message_id, record.timestamp_ms), (id, *ts), "at {}", record.offset);
        let expected =
            if id.starts_with('c') { MessageType::Transaction } else { MessageType::Normal };
        assert_eq!(record.message_type, expected);
    }
    assert!(records.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
    assert_eq!(stores.log.partition_stats(T, 0).await.unwrap().end_offset, total);
    assert_eq!(stores.half.held(T, 0).await.unwrap(), 0);
}

/// A half message repeating an idempotency key is not held; the answer names the first.
pub async fn idempotency_keys_hold_once(stores: MessageStores) {
    let half = &stores.half;
    let keyed = |id: &str| NewRecord {
        dedup: Some(mq_repo::Dedup { key: "k".into(), window_ms: 60_000 }),
        ..rec(id)
    };
    assert_eq!(half.prepare(T, 0, keyed("h1")).await.unwrap(), None);
    let again = half.prepare(T, 0, keyed("h2")).await.unwrap();
    assert_eq!(again, Some(mq_repo::Original::Held { message_id: "h1".into() }));
    assert!(half.holds(T, 0, "h1").await.unwrap());
    assert!(!half.holds(T, 0, "h2").await.unwrap());
    assert_eq!(half.held(T, 0).await.unwrap(), 1);
    // Committing the first appends it; its key's answer stays the held message.
    assert!(half.commit(T, 0, "h1").await.unwrap().is_some());
    assert_eq!(
        half.prepare(T, 0, keyed("h3")).await.unwrap(),
        Some(mq_repo::Original::Held { message_id: "h1".into() })
    );
    assert_eq!(read_all(&stores, T, 0).await.len(), 1);
}
