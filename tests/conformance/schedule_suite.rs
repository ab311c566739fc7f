//! The schedule suite: delayed messages wait per partition, list and count by due time, and
//! fire into the log exactly once however many callers fire or cancel them at once.
//!
//! Due times are relative to the store's clock: the system clock for memory, the server's for
//! Redis (on this machine). "Due" is a second ago, "not due" an hour ahead, so clock skew
//! between the test and the store cannot matter.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mq_model::MessageType;
use mq_repo::{
    MessageStores, NewRecord, Record, ScheduleCursor, ScheduledEntry, ScheduledRecord, TopicRef,
};

/// Spread over 4 partitions like a topic created today; partitions past 3 follow the
/// placement's rule for partitions beyond its generations.
const T: TopicRef<'static> = TopicRef::spread("delayed", &[4]);

/// Another topic, spread like `T`.
fn t(name: &'static str) -> TopicRef<'static> {
    TopicRef::spread(name, &[4])
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn due_now() -> i64 {
    now_ms() - 1000
}

fn not_due() -> i64 {
    now_ms() + 3_600_000
}

fn rec(id: impl Into<String>) -> NewRecord {
    NewRecord {
        message_id: id.into(),
        key: None,
        value: b"v".to_vec(),
        headers: BTreeMap::new(),
        producer_id: None,
        message_type: MessageType::Delay,
        dedup: None,
    }
}

fn at(due_ms: i64, record: NewRecord) -> ScheduledRecord {
    ScheduledRecord { due_ms, record }
}

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Every stored record of a partition, in offset order.
async fn read_all(stores: &MessageStores, partition: u32) -> Vec<Record> {
    let mut all = Vec::new();
    let mut from = 0;
    loop {
        let page = stores.log.read_range(T, partition, from, 500).await.unwrap();
        let Some(last) = page.last() else { return all };
        from = last.offset + 1;
        all.extend(page);
    }
}

/// Schedules `n` messages `<prefix><i>` due a second ago, in batches.
async fn schedule_due(stores: &MessageStores, prefix: &str, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:04}")).collect();
    for chunk in names.chunks(250) {
        let batch = chunk.iter().map(|id| at(due_now(), rec(id.clone()))).collect();
        stores.schedule.schedule(T, 0, batch).await.unwrap();
    }
    names
}

pub async fn due_lists_by_time_with_limit_and_order(stores: MessageStores) {
    let s = &stores.schedule;
    let base = now_ms() - 10_000;
    let later = not_due();
    s.schedule(
        T,
        0,
        vec![
            at(later, rec("late")),
            at(base + 2, rec("b")),
            at(base + 1, rec("c")),
            at(base + 2, rec("a")),
        ],
    )
    .await
    .unwrap();
    s.schedule(T, 0, Vec::new()).await.unwrap();

    let expected = vec![("c".to_owned(), base + 1), ("a".into(), base + 2), ("b".into(), base + 2)];
    assert_eq!(s.due(T, 0, now_ms(), 10).await.unwrap(), expected);
    assert_eq!(s.due(T, 0, now_ms(), 2).await.unwrap(), expected[..2]);
    assert!(s.due(T, 0, now_ms(), 0).await.unwrap().is_empty());
    assert_eq!(s.due(T, 0, base + 1, 10).await.unwrap(), expected[..1], "until is inclusive");
    assert!(s.due(T, 0, base, 10).await.unwrap().is_empty());
    let all = s.due(T, 0, i64::MAX, 10).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[3], ("late".to_owned(), later));
    assert!(s.due(T, 1, i64::MAX, 10).await.unwrap().is_empty(), "partitions are separate");
    assert!(s.due(t("never-used"), 0, i64::MAX, 10).await.unwrap().is_empty());
}

pub async fn fire_appends_only_due_messages_after_normal_appends(stores: MessageStores) {
    let (log, s) = (&stores.log, &stores.schedule);
    log.append(T, 0, vec![rec("n0"), rec("n1"), rec("n2")]).await.unwrap();
    let full = NewRecord {
        message_id: "d-full".into(),
        key: Some("user_1".into()),
        value: vec![0, 1, 2, 255, b'{', b'}'],
        headers: BTreeMap::from([("source".into(), "billing".into()), ("v".into(), "2".into())]),
        producer_id: Some("p1".into()),
        message_type: MessageType::Delay,
        dedup: None,
    };
    let (due_a, due_b) = (due_now() - 5, due_now());
    s.schedule(
        T,
        0,
        vec![at(due_a, full.clone()), at(due_b, rec("d-plain")), at(not_due(), rec("later"))],
    )
    .await
    .unwrap();
    s.schedule(T, 1, vec![at(due_now(), rec("other-partition"))]).await.unwrap();

    let asked = ids(&["d-plain", "later", "unknown", "other-partition", "d-full", "d-plain"]);
    let fired = s.fire(T, 0, &asked).await.unwrap();
    let names: Vec<_> = fired.iter().map(|f| f.message_id.as_str()).collect();
    assert_eq!(names, ["d-plain", "d-full"], "only due ids of this partition, in the order asked");
    assert_eq!((fired[0].due_ms, fired[1].due_ms), (due_b, due_a));
    assert_eq!(fired.iter().map(|f| f.appended.offset).collect::<Vec<_>>(), [3, 4]);
    assert!(fired.iter().all(|f| f.appended.timestamp_ms >= due_a));

    let records = read_all(&stores, 0).await;
    assert_eq!(records.len(), 5);
    let stored = &records[4];
    assert_eq!(stored.offset, 4);
    assert_eq!(stored.timestamp_ms, fired[1].appended.timestamp_ms);
    assert_eq!(stored.message_id, full.message_id);
    assert_eq!(stored.key, full.key);
    assert_eq!(stored.value, full.value);
    assert_eq!(stored.headers, full.headers);
    assert_eq!(stored.producer_id, full.producer_id);
    assert_eq!(stored.message_type, MessageType::Delay);
    assert_eq!(records[3].message_id, "d-plain");
    assert!(records.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));

    // Appends and later firings continue the same offsets.
    let appended = log.append(T, 0, vec![rec("n5")]).await.unwrap();
    assert_eq!(appended[0].offset, 5);
    assert!(appended[0].timestamp_ms >= fired[1].appended.timestamp_ms);
    assert!(s.fire(T, 0, &ids(&["d-full", "d-plain"])).await.unwrap().is_empty(), "fired once");
    assert!(s.fire(T, 0, &[]).await.unwrap().is_empty());
    assert!(s.fire(t("never-used"), 0, &ids(&["d-full"])).await.unwrap().is_empty());
    assert_eq!(s.due(T, 0, i64::MAX, 10).await.unwrap().len(), 1, "only `later` waits");
    assert_eq!(log.partition_stats(T, 0).await.unwrap().end_offset, 6);
    assert_eq!(read_all(&stores, 1).await.len(), 0);
    let other = s.fire(T, 1, &ids(&["other-partition"])).await.unwrap();
    assert_eq!(other[0].appended.offset, 0, "each partition has its own offsets");
}

pub async fn concurrent_firers_append_each_message_exactly_once(stores: MessageStores) {
    const FIRERS: usize = 8;
    const N: usize = 1000;
    let names = schedule_due(&stores, "m", N).await;
    let names = Arc::new(names);
    let mut tasks = Vec::new();
    for f in 0..FIRERS {
        let (schedule, names) = (stores.schedule.clone(), names.clone());
        tasks.push(tokio::spawn(async move {
            // Each firer walks the ids from a different place, in batches, so they collide.
            let mut order: Vec<String> = names.iter().cloned().collect();
            order.rotate_left(f * N / FIRERS);
            let mut fired = Vec::new();
            for batch in order.chunks(50) {
                fired.extend(schedule.fire(T, 0, batch).await.unwrap());
            }
            fired
        }));
    }
    let mut by_offset = BTreeMap::new();
    for task in tasks {
        for fired in task.await.unwrap() {
            let offset = fired.appended.offset;
            assert!(by_offset.insert(offset, fired.message_id).is_none(), "offset {offset} twice");
        }
    }
    assert_eq!(by_offset.keys().copied().collect::<Vec<_>>(), (0..N as u64).collect::<Vec<_>>());
    let fired_ids: BTreeSet<_> = by_offset.values().cloned().collect();
    assert_eq!(fired_ids.len(), N, "some message fired twice");

    let records = read_all(&stores, 0).await;
    assert_eq!(records.len(), N);
    for record in &records {
        assert_eq!(by_offset[&record.offset], record.message_id);
    }
    let stored: BTreeSet<_> = records.iter().map(|r| r.message_id.clone()).collect();
    assert_eq!(stored, names.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(stores.schedule.count(T, 0, None).await.unwrap(), 0);
}

pub async fn cancel_succeeds_once_and_the_message_never_fires(stores: MessageStores) {
    let s = &stores.schedule;
    s.schedule(T, 0, vec![at(due_now(), rec("a")), at(due_now(), rec("b"))]).await.unwrap();
    assert!(s.cancel(T, 0, "a").await.unwrap());
    assert!(!s.cancel(T, 0, "a").await.unwrap());
    assert!(!s.cancel(T, 1, "b").await.unwrap(), "another partition's message");
    assert!(!s.cancel(T, 0, "unknown").await.unwrap());
    assert!(!s.cancel(t("never-used"), 0, "a").await.unwrap());

    let fired = s.fire(T, 0, &ids(&["a", "b"])).await.unwrap();
    assert_eq!(fired.iter().map(|f| f.message_id.as_str()).collect::<Vec<_>>(), ["b"]);
    assert!(!s.cancel(T, 0, "b").await.unwrap(), "a fired message cannot be cancelled");
    let records = read_all(&stores, 0).await;
    assert_eq!(records.iter().map(|r| r.message_id.as_str()).collect::<Vec<_>>(), ["b"]);
    assert_eq!(located(s, T, "a").await, None);
}

pub async fn cancel_racing_fire_settles_each_message_one_way(stores: MessageStores) {
    const TASKS: usize = 8;
    const N: usize = 1000;
    let names = Arc::new(schedule_due(&stores, "r", N).await);
    let mut firers = Vec::new();
    let mut cancellers = Vec::new();
    for t in 0..TASKS {
        let (schedule, names) = (stores.schedule.clone(), names.clone());
        let mut order: Vec<String> = names.iter().cloned().collect();
        order.rotate_left(t * N / TASKS);
        if t % 2 == 0 {
            firers.push(tokio::spawn(async move {
                let mut fired = Vec::new();
                for batch in order.chunks(20) {
                    fired.extend(schedule.fire(T, 0, batch).await.unwrap());
                }
                fired.into_iter().map(|f| f.message_id).collect::<Vec<_>>()
            }));
        } else {
            cancellers.push(tokio::spawn(async move {
                let mut cancelled = Vec::new();
                for id in order {
                    if schedule.cancel(T, 0, &id).await.unwrap() {
                        cancelled.push(id);
                    }
                }
                cancelled
            }));
        }
    }
    let mut fired = BTreeSet::new();
    for task in firers {
        for id in task.await.unwrap() {
            assert!(fired.insert(id.clone()), "{id} fired twice");
        }
    }
    let mut cancelled = BTreeSet::new();
    for task in cancellers {
        for id in task.await.unwrap() {
            assert!(cancelled.insert(id.clone()), "{id} cancelled twice");
        }
    }
    assert!(fired.is_disjoint(&cancelled), "a message both fired and cancelled");
    let settled: BTreeSet<_> = fired.union(&cancelled).cloned().collect();
    assert_eq!(settled, names.iter().cloned().collect::<BTreeSet<_>>(), "a message left over");

    let records = read_all(&stores, 0).await;
    assert_eq!(records.len(), fired.len());
    assert_eq!(records.iter().map(|r| r.message_id.clone()).collect::<BTreeSet<_>>(), fired);
    assert_eq!(
        records.last().map_or(0, |r| r.offset + 1),
        fired.len() as u64,
        "offsets contiguous"
    );
    assert_eq!(stores.schedule.count(T, 0, None).await.unwrap(), 0);
}

pub async fn reschedule_moves_the_due_time(stores: MessageStores) {
    let s = &stores.schedule;
    let (soon, late) = (due_now(), not_due());
    s.schedule(T, 0, vec![at(late, rec("late")), at(soon, rec("soon"))]).await.unwrap();
    assert!(s.reschedule(T, 0, "late", soon - 1).await.unwrap());
    assert!(s.reschedule(T, 0, "soon", late).await.unwrap());
    assert!(s.reschedule(T, 0, "soon", late).await.unwrap(), "an unchanged time still counts");
    assert!(!s.reschedule(T, 0, "unknown", soon).await.unwrap());
    assert!(!s.reschedule(T, 1, "late", soon).await.unwrap());
    assert_eq!(s.count(T, 0, None).await.unwrap(), 2, "reschedule adds nothing");
    assert_eq!(s.due(T, 0, now_ms(), 10).await.unwrap(), [("late".to_owned(), soon - 1)]);

    let fired = s.fire(T, 0, &ids(&["late", "soon"])).await.unwrap();
    assert_eq!(fired.iter().map(|f| f.message_id.as_str()).collect::<Vec<_>>(), ["late"]);
    assert_eq!(fired[0].due_ms, soon - 1);
    assert!(!s.reschedule(T, 0, "late", soon).await.unwrap(), "fired messages stay fired");
    assert!(s.reschedule(T, 0, "soon", soon).await.unwrap());
    assert_eq!(s.fire(T, 0, &ids(&["soon"])).await.unwrap().len(), 1);
    let records = read_all(&stores, 0).await;
    assert_eq!(records.iter().map(|r| r.message_id.as_str()).collect::<Vec<_>>(), ["late", "soon"]);
}

pub async fn list_pages_by_due_time_then_id(stores: MessageStores) {
    let s = &stores.schedule;
    let base = not_due();
    // Ids that sort differently byte by byte than in a human locale, and several per due time.
    let names = ["ab", "a-b", "aB", "a_b", "a.b", "b", "A"];
    let mut batch = Vec::new();
    for (i, due) in [base + 2, base, base + 1, base + 2].into_iter().enumerate() {
        for name in names {
            let id = format!("{name}{i}");
            let key = (name == "b").then(|| format!("key-{id}"));
            batch.push(at(due, NewRecord { key, ..rec(id) }));
        }
    }
    batch.reverse();
    s.schedule(T, 3, batch.clone()).await.unwrap();
    let mut expected: Vec<ScheduledEntry> = batch
        .iter()
        .map(|r| ScheduledEntry {
            message_id: r.record.message_id.clone(),
            partition: 3,
            key: r.record.key.clone(),
            due_ms: r.due_ms,
        })
        .collect();
    expected.sort_by(|a, b| {
        (a.due_ms, a.message_id.as_bytes()).cmp(&(b.due_ms, b.message_id.as_bytes()))
    });

    assert_eq!(s.list(T, 3, None, 100).await.unwrap(), expected);
    for limit in [1, 3, 7, 10] {
        let mut paged = Vec::new();
        let mut cursor: Option<ScheduleCursor> = None;
        loop {
            let page = s.list(T, 3, cursor.as_ref(), limit).await.unwrap();
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            cursor =
                Some(ScheduleCursor { due_ms: last.due_ms, message_id: last.message_id.clone() });
            paged.extend(page);
        }
        assert_eq!(paged, expected, "pages of {limit}");
    }
    assert!(s.list(T, 3, None, 0).await.unwrap().is_empty());
    assert!(s.list(T, 0, None, 10).await.unwrap().is_empty());

    // A cursor resumes after its place even when its message is gone or never existed.
    let gone = &expected[9];
    assert!(s.cancel(T, 3, &gone.message_id).await.unwrap());
    let cursor = ScheduleCursor { due_ms: gone.due_ms, message_id: gone.message_id.clone() };
    assert_eq!(s.list(T, 3, Some(&cursor), 3).await.unwrap(), expected[10..13]);
    for (cursor, from) in [
        (ScheduleCursor { due_ms: base + 1, message_id: "a/".into() }, 9),
        (ScheduleCursor { due_ms: base + 1, message_id: String::new() }, 7),
        (ScheduleCursor { due_ms: base + 1, message_id: "\u{10FFFF}".into() }, 14),
        (ScheduleCursor { due_ms: base - 1, message_id: "zzz".into() }, 0),
        (ScheduleCursor { due_ms: base + 3, message_id: String::new() }, expected.len()),
    ] {
        let rest: Vec<_> =
            expected[from..].iter().filter(|e| e.message_id != gone.message_id).cloned().collect();
        assert_eq!(s.list(T, 3, Some(&cursor), 100).await.unwrap(), rest, "after {cursor:?}");
    }
}

pub async fn count_all_or_due_by_a_time(stores: MessageStores) {
    let s = &stores.schedule;
    assert_eq!(s.count(T, 0, None).await.unwrap(), 0);
    assert_eq!(s.count(t("never-used"), 0, Some(i64::MAX)).await.unwrap(), 0);
    let base = due_now();
    let batch =
        (0..5).map(|i| at(base + i, rec(format!("d{i}")))).chain([at(not_due(), rec("later"))]);
    s.schedule(T, 0, batch.collect()).await.unwrap();
    assert_eq!(s.count(T, 0, None).await.unwrap(), 6);
    assert_eq!(s.count(T, 0, Some(now_ms())).await.unwrap(), 5);
    assert_eq!(s.count(T, 0, Some(base + 2)).await.unwrap(), 3, "until is inclusive");
    assert_eq!(s.count(T, 0, Some(base - 1)).await.unwrap(), 0);
    assert_eq!(s.count(T, 1, None).await.unwrap(), 0);
    s.fire(T, 0, &ids(&["d0", "d1"])).await.unwrap();
    s.cancel(T, 0, "d2").await.unwrap();
    assert_eq!(s.count(T, 0, None).await.unwrap(), 3);
    assert_eq!(s.count(T, 0, Some(now_ms())).await.unwrap(), 2);
}

/// The partition of `topic` (of 4) where `id` is scheduled, if it is.
async fn located(
    s: &std::sync::Arc<dyn mq_repo::ScheduleStore>,
    topic: TopicRef<'_>,
    id: &str,
) -> Option<u32> {
    s.find(topic, 4, id).await.unwrap().map(|(partition, _)| partition)
}

pub async fn find_sees_only_scheduled_messages(stores: MessageStores) {
    let s = &stores.schedule;
    assert_eq!(located(s, T, "a").await, None);
    s.schedule(T, 2, vec![at(due_now(), rec("a")), at(not_due(), rec("c"))]).await.unwrap();
    s.schedule(t("other"), 0, vec![at(due_now(), rec("b"))]).await.unwrap();
    assert_eq!(located(s, T, "a").await, Some(2));
    assert_eq!(located(s, t("other"), "b").await, Some(0));
    assert_eq!(located(s, T, "c").await, Some(2));

    assert_eq!(s.fire(T, 2, &ids(&["a", "c"])).await.unwrap().len(), 1);
    assert_eq!(located(s, T, "a").await, None, "fired");
    assert_eq!(located(s, T, "c").await, Some(2), "not due, still there");
    assert!(s.cancel(t("other"), 0, "b").await.unwrap());
    assert_eq!(located(s, t("other"), "b").await, None, "cancelled");
    assert!(s.reschedule(T, 2, "c", due_now()).await.unwrap());
    assert_eq!(located(s, T, "c").await, Some(2), "rescheduled");

    // Scheduled again after it fired: found again, and again gone once fired.
    s.schedule(T, 2, vec![at(not_due(), rec("a"))]).await.unwrap();
    assert_eq!(located(s, T, "a").await, Some(2));
    assert!(s.cancel(T, 2, "a").await.unwrap());
    assert_eq!(located(s, T, "a").await, None);
    assert_eq!(located(s, T, "a").await, None, "asking twice changes nothing");
}

pub async fn delete_topic_removes_its_schedules(stores: MessageStores) {
    let s = &stores.schedule;
    for partition in 0..3 {
        let batch = vec![
            at(due_now(), rec(format!("d{partition}"))),
            at(not_due(), rec(format!("l{partition}"))),
        ];
        s.schedule(T, partition, batch).await.unwrap();
    }
    s.schedule(t("kept"), 0, vec![at(due_now(), rec("k"))]).await.unwrap();
    stores.log.append(T, 0, vec![rec("n")]).await.unwrap();

    s.delete_topic(T, 3).await.unwrap();
    for partition in 0..3 {
        assert_eq!(s.count(T, partition, None).await.unwrap(), 0);
        assert!(s.due(T, partition, i64::MAX, 10).await.unwrap().is_empty());
        assert!(s.list(T, partition, None, 10).await.unwrap().is_empty());
        let names = ids(&[&format!("d{partition}"), &format!("l{partition}")]);
        assert!(s.fire(T, partition, &names).await.unwrap().is_empty());
        assert!(!s.cancel(T, partition, &names[1]).await.unwrap());
        assert_eq!(located(s, T, &names[0]).await, None);
        assert_eq!(located(s, T, &names[1]).await, None);
    }
    assert_eq!(located(s, t("kept"), "k").await, Some(0));
    assert_eq!(s.count(t("kept"), 0, None).await.unwrap(), 1);

    // The topic can be used again from scratch.
    s.schedule(T, 0, vec![at(due_now(), rec("again"))]).await.unwrap();
    assert_eq!(located(s, T, "again").await, Some(0));
    assert_eq!(s.fire(T, 0, &ids(&["again"])).await.unwrap().len(), 1);
}

pub async fn scheduling_an_id_again_replaces_it(stores: MessageStores) {
    let s = &stores.schedule;
    let first = NewRecord { value: b"first".to_vec(), key: Some("k1".into()), ..rec("x") };
    s.schedule(T, 0, vec![at(due_now(), first)]).await.unwrap();
    let second = NewRecord { value: b"second".to_vec(), key: Some("k2".into()), ..rec("x") };
    let later = not_due();
    s.schedule(T, 0, vec![at(later, second)]).await.unwrap();
    assert_eq!(s.count(T, 0, None).await.unwrap(), 1);
    assert!(s.due(T, 0, now_ms(), 10).await.unwrap().is_empty(), "the new time counts");
    assert!(s.fire(T, 0, &ids(&["x"])).await.unwrap().is_empty());
    let listed = s.list(T, 0, None, 10).await.unwrap();
    assert_eq!(
        listed,
        [ScheduledEntry {
            message_id: "x".into(),
            partition: 0,
            key: Some("k2".into()),
            due_ms: later
        }]
    );

    // Replaced again within one batch: the last one wins.
    let third = NewRecord { value: b"third".to_vec(), ..rec("x") };
    let fourth = NewRecord { value: b"fourth".to_vec(), ..rec("x") };
    s.schedule(T, 0, vec![at(due_now(), third), at(due_now(), fourth)]).await.unwrap();
    assert_eq!(s.count(T, 0, None).await.unwrap(), 1);
    assert_eq!(s.fire(T, 0, &ids(&["x", "x"])).await.unwrap().len(), 1);
    let records = read_all(&stores, 0).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value, b"fourth");
    assert_eq!(records[0].key, None);
    assert_eq!(s.count(T, 0, None).await.unwrap(), 0);
}

/// Delayed messages repeat idempotency keys as appended ones do: a repeat is not scheduled and
/// answers the first; a message appended with the key makes a scheduled repeat answer it.
pub async fn idempotency_keys_schedule_once(stores: MessageStores) {
    let s = &stores.schedule;
    let keyed = |id: &str, key: &str| NewRecord {
        dedup: Some(mq_repo::Dedup { key: key.into(), window_ms: 60_000 }),
        ..rec(id)
    };
    let due = not_due();
    let first = s.schedule(T, 0, vec![at(due, keyed("a", "k1")), at(due, rec("b"))]).await.unwrap();
    assert_eq!(first, [None, None]);
    let again = s.schedule(T, 0, vec![at(due + 5, keyed("c", "k1"))]).await.unwrap();
    assert_eq!(again, [Some(mq_repo::Original::Scheduled { message_id: "a".into(), due_ms: due })]);
    assert_eq!(s.count(T, 0, None).await.unwrap(), 2, "the repeat is not scheduled");
    // Appended first, scheduled later with the same key: the append answers.
    let appended = NewRecord { message_type: MessageType::Normal, ..keyed("n", "k2") };
    stores.log.append(T, 0, vec![appended]).await.unwrap();
    let after = s.schedule(T, 0, vec![at(due, keyed("d", "k2"))]).await.unwrap();
    assert!(
        matches!(&after[0], Some(mq_repo::Original::Appended { message_id, .. }) if message_id == "n"),
        "{after:?}"
    );
    // A fired message keeps its key's answer: it was scheduled then.
    s.schedule(T, 1, vec![at(due_now(), keyed("f", "k3"))]).await.unwrap();
    assert_eq!(s.fire(T, 1, &ids(&["f"])).await.unwrap().len(), 1);
    let repeat = s.schedule(T, 1, vec![at(due_now(), keyed("g", "k3"))]).await.unwrap();
    assert!(
        matches!(&repeat[0], Some(mq_repo::Original::Scheduled { message_id, .. }) if message_id == "f")
    );
    assert_eq!(read_all(&stores, 1).await.len(), 1, "fired once, the repeat not at all");
}
