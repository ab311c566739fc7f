//! The metadata suite: topics, consumer groups, consumers and dead letters.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use mq_model::{
    new_id, BackoffKind, Consumer, ConsumerGroup, ConsumerStatus, DeadLetterMessage,
    DeliveryAttempt, DeliveryMode, GroupStatus, IdKind, Page, Redrive, RetryPolicy, StartFrom,
    Topic, TopicConfig, TopicStatus, MAX_MESSAGE_SIZE_LIMIT,
};
use mq_repo::{
    ConsumerFilter, DeadLetterFilter, GroupFilter, MetadataStores, RepoError, TopicFilter,
};

/// A fixed, millisecond-precise instant (BSON dates keep milliseconds).
fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 15, 10, 0, 0).unwrap()
        + Duration::minutes(minute)
        + Duration::milliseconds(123)
}

fn topic(name: &str) -> Topic {
    let mut cfg = TopicConfig::named(name);
    cfg.partitions = 6;
    cfg.description = "支付相关事件主题".into();
    cfg.config = BTreeMap::from([("cleanup.policy".into(), "delete".into())]);
    cfg.into_topic(new_id(IdKind::Topic), "ops".into(), at(0)).unwrap()
}

fn group(topic: &str, id: &str) -> ConsumerGroup {
    ConsumerGroup {
        id: new_id(IdKind::Group),
        group_id: id.into(),
        topic_name: topic.into(),
        consumer_count: 0,
        status: GroupStatus::Active,
        delivery_mode: DeliveryMode::Ordered,
        start_from: StartFrom::Earliest,
        ack_timeout_ms: 1_500,
        session_timeout_ms: 2_500,
        retry_policy: RetryPolicy::default(),
        config: BTreeMap::from([("max.poll".into(), "10".into())]),
        last_commit_time: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn consumer(topic: &str, group: &str, id: &str) -> Consumer {
    Consumer {
        id: new_id(IdKind::Consumer),
        consumer_id: id.into(),
        group_id: group.into(),
        topic_name: topic.into(),
        partition: 0,
        current_offset: 0,
        committed_offset: 0,
        lag: 0,
        status: ConsumerStatus::Active,
        last_heartbeat: at(0),
        client_info: BTreeMap::from([("host".into(), "worker-1".into())]),
        created_at: at(0),
        updated_at: at(0),
    }
}

fn dead(topic: &str, group: &str, minute: i64) -> DeadLetterMessage {
    DeadLetterMessage {
        id: new_id(IdKind::DeadLetter),
        original_topic_name: topic.into(),
        original_message_id: new_id(IdKind::Message),
        consumer_group_id: group.into(),
        failure_reason: format!("failed at minute {minute}"),
        retry_count: 16,
        message_content: vec![0, 1, 2, 255],
        headers: BTreeMap::from([("source".into(), "test".into())]),
        failed_at: at(minute),
        created_at: at(minute),
        partition: 0,
        offset: 0,
        message_key: None,
        published_at: None,
        attempts: Vec::new(),
        redrive: None,
    }
}

/// A dead letter with every optional field set.
fn dead_in_full(topic: &str, group: &str, minute: i64) -> DeadLetterMessage {
    DeadLetterMessage {
        partition: 3,
        offset: 1 << 40,
        message_key: Some("user_123456".into()),
        published_at: Some(at(minute - 2)),
        retry_count: 2,
        attempts: (1..=3)
            .map(|delivery| DeliveryAttempt {
                delivery,
                failed_at: at(minute - 1) + Duration::milliseconds(i64::from(delivery)),
                consumer_id: format!("worker-{delivery}"),
                reason: if delivery == 3 {
                    "ack timeout".into()
                } else {
                    "nack: 库存不足".into()
                },
            })
            .collect(),
        redrive: Some(redrive("msg_redriven", minute + 1)),
        ..dead(topic, group, minute)
    }
}

fn redrive(message_id: &str, minute: i64) -> Redrive {
    Redrive { message_id: message_id.into(), started_at: at(minute) }
}

/// `len` bytes that differ from chunk to chunk, so chunks joined in the wrong order show.
fn large_content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i >> 20) as u8).collect()
}

fn names(items: &[Topic]) -> Vec<&str> {
    items.iter().map(|t| t.name.as_str()).collect()
}

pub async fn topic_create_get_update_delete_round_trip(s: MetadataStores) {
    let created = s.topics.create(topic("payment-events")).await.unwrap();
    assert_eq!(s.topics.get("payment-events").await.unwrap(), Some(created.clone()));
    assert_eq!(s.topics.get("nope").await.unwrap(), None);

    let mut changed = created.clone();
    changed.partitions = 8;
    changed.description = "more".into();
    changed.status = TopicStatus::Inactive;
    changed.config.insert("compression.type".into(), "gzip".into());
    changed.updated_at = at(5);
    s.topics.update(changed.clone()).await.unwrap();
    assert_eq!(s.topics.get("payment-events").await.unwrap(), Some(changed));

    let err = s.topics.update(topic("ghost")).await.unwrap_err();
    assert!(matches!(err, RepoError::NotFound { kind: "topic", .. }), "{err:?}");
    s.topics.delete("payment-events").await.unwrap();
    assert_eq!(s.topics.get("payment-events").await.unwrap(), None);
    let err = s.topics.delete("payment-events").await.unwrap_err();
    assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");
    s.topics.create(topic("payment-events")).await.unwrap();
}

pub async fn duplicate_topic_is_a_conflict_even_when_racing(s: MetadataStores) {
    s.topics.create(topic("orders")).await.unwrap();
    let err = s.topics.create(topic("orders")).await.unwrap_err();
    assert!(
        matches!(&err, RepoError::AlreadyExists { kind: "topic", id } if id == "orders"),
        "{err:?}"
    );

    let racers: Vec<_> = (0..8)
        .map(|_| {
            let topics = s.topics.clone();
            tokio::spawn(async move { topics.create(topic("raced")).await })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => won += 1,
            Err(RepoError::AlreadyExists { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one of eight concurrent creates wins");
}

pub async fn topic_listing_filters_and_pages(s: MetadataStores) {
    for name in ["user-b", "user-a", "pay-x", "user-c", "pay-y"] {
        s.topics.create(topic(name)).await.unwrap();
    }
    let mut off = s.topics.get("user-c").await.unwrap().unwrap();
    off.status = TopicStatus::Inactive;
    s.topics.update(off).await.unwrap();

    let all = s.topics.list(&TopicFilter::default(), Page::new(1, 100)).await.unwrap();
    assert_eq!(names(&all.items), ["pay-x", "pay-y", "user-a", "user-b", "user-c"]);
    assert_eq!(all.total, 5);

    let users = TopicFilter { name_prefix: Some("user-".into()), ..TopicFilter::default() };
    let page2 = s.topics.list(&users, Page::new(2, 2)).await.unwrap();
    assert_eq!(names(&page2.items), ["user-c"]);
    assert_eq!((page2.total, page2.page, page2.page_size), (3, 2, 2));

    let active =
        TopicFilter { status: Some(TopicStatus::Active), name_prefix: Some("user-".into()) };
    let got = s.topics.list(&active, Page::new(1, 10)).await.unwrap();
    assert_eq!(names(&got.items), ["user-a", "user-b"]);
    let past_end = s.topics.list(&TopicFilter::default(), Page::new(9, 10)).await.unwrap();
    assert!(past_end.items.is_empty());
    assert_eq!(past_end.total, 5);
}

pub async fn group_crud_and_uniqueness_per_topic(s: MetadataStores) {
    let g = s.groups.create(group("orders", "billing")).await.unwrap();
    let err = s.groups.create(group("orders", "billing")).await.unwrap_err();
    assert!(matches!(err, RepoError::AlreadyExists { kind: "consumer group", .. }), "{err:?}");
    s.groups.create(group("payments", "billing")).await.unwrap();

    assert_eq!(s.groups.get("orders", "billing").await.unwrap(), Some(g.clone()));
    assert_eq!(s.groups.get("orders", "nobody").await.unwrap(), None);

    let mut changed = g.clone();
    changed.consumer_count = 3;
    changed.status = GroupStatus::Rebalancing;
    changed.last_commit_time = Some(at(7));
    changed.updated_at = at(7);
    s.groups.update(changed.clone()).await.unwrap();
    assert_eq!(s.groups.get("orders", "billing").await.unwrap(), Some(changed));
    assert!(matches!(
        s.groups.update(group("orders", "ghost")).await,
        Err(RepoError::NotFound { .. })
    ));

    s.groups.delete("orders", "billing").await.unwrap();
    assert!(matches!(s.groups.delete("orders", "billing").await, Err(RepoError::NotFound { .. })));
    assert!(
        s.groups.get("payments", "billing").await.unwrap().is_some(),
        "the other topic's group stays"
    );
}

pub async fn group_listing_filters_and_pages(s: MetadataStores) {
    for (t, g) in [("orders", "b"), ("orders", "a"), ("orders", "c"), ("users", "a")] {
        s.groups.create(group(t, g)).await.unwrap();
    }
    let mut idle = s.groups.get("orders", "c").await.unwrap().unwrap();
    idle.status = GroupStatus::Inactive;
    s.groups.update(idle).await.unwrap();

    let key = |g: &ConsumerGroup| (g.topic_name.clone(), g.group_id.clone());
    let all = s.groups.list(&GroupFilter::default(), Page::new(1, 10)).await.unwrap();
    let keys: Vec<_> = all.items.iter().map(key).collect();
    assert_eq!(
        keys,
        [("orders", "a"), ("orders", "b"), ("orders", "c"), ("users", "a")]
            .map(|(t, g)| (t.to_owned(), g.to_owned()))
    );

    let orders = GroupFilter { topic_name: Some("orders".into()), ..GroupFilter::default() };
    let page = s.groups.list(&orders, Page::new(2, 2)).await.unwrap();
    assert_eq!(page.items.iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>(), ["c"]);
    assert_eq!(page.total, 3);
    let inactive = GroupFilter { status: Some(GroupStatus::Inactive), ..GroupFilter::default() };
    assert_eq!(s.groups.list(&inactive, Page::new(1, 10)).await.unwrap().total, 1);

    assert_eq!(s.groups.delete_by_topic("orders").await.unwrap(), 3);
    assert_eq!(s.groups.list(&GroupFilter::default(), Page::new(1, 10)).await.unwrap().total, 1);
}

pub async fn consumer_upsert_keeps_identity(s: MetadataStores) {
    let first = s.consumers.upsert(consumer("orders", "billing", "worker-1")).await.unwrap();
    assert_eq!(
        s.consumers.get("orders", "billing", "worker-1").await.unwrap(),
        Some(first.clone())
    );

    let mut beat = consumer("orders", "billing", "worker-1");
    beat.last_heartbeat = at(3);
    beat.updated_at = at(3);
    beat.created_at = at(3);
    beat.current_offset = 42;
    beat.lag = 7;
    let stored = s.consumers.upsert(beat.clone()).await.unwrap();
    assert_eq!(stored.id, first.id, "an upsert keeps the stored id");
    assert_eq!(stored.created_at, first.created_at, "and when it was created");
    assert_eq!((stored.current_offset, stored.lag, stored.last_heartbeat), (42, 7, at(3)));
    assert_eq!(s.consumers.get("orders", "billing", "worker-1").await.unwrap(), Some(stored));

    // The same client id may be a member of other groups and topics.
    s.consumers.upsert(consumer("orders", "audit", "worker-1")).await.unwrap();
    s.consumers.upsert(consumer("users", "billing", "worker-1")).await.unwrap();
    let all = s.consumers.list(&ConsumerFilter::default(), Page::new(1, 10)).await.unwrap();
    assert_eq!(all.total, 3);
}

/// Heartbeats of several consumers in one call: a stored one is refreshed (active, seen at the
/// new time, keeping its id and creation time), new ones are inserted, other groups untouched;
/// an empty call does nothing.
pub async fn consumer_heartbeats_in_one_call_insert_and_refresh(s: MetadataStores) {
    let mut old = consumer("orders", "billing", "w1");
    old.status = ConsumerStatus::Inactive;
    let old = s.consumers.upsert(old).await.unwrap();
    let other = s.consumers.upsert(consumer("orders", "audit", "w1")).await.unwrap();
    s.consumers.heartbeat("orders", "billing", &[], at(5)).await.unwrap();
    let ids = ["w1".to_owned(), "w2".to_owned(), "w3".to_owned()];
    s.consumers.heartbeat("orders", "billing", &ids, at(5)).await.unwrap();
    // Again, as a second instance would: nothing new, nothing duplicated.
    s.consumers.heartbeat("orders", "billing", &ids[1..], at(6)).await.unwrap();

    let filter = ConsumerFilter {
        topic_name: Some("orders".into()),
        group_id: Some("billing".into()),
        status: None,
    };
    let stored = s.consumers.list(&filter, Page::new(1, 10)).await.unwrap().items;
    let seen: Vec<_> =
        stored.iter().map(|c| (c.consumer_id.as_str(), c.status, c.last_heartbeat)).collect();
    assert_eq!(
        seen,
        [
            ("w1", ConsumerStatus::Active, at(5)),
            ("w2", ConsumerStatus::Active, at(6)),
            ("w3", ConsumerStatus::Active, at(6)),
        ]
    );
    assert_eq!((stored[0].id.as_str(), stored[0].created_at), (old.id.as_str(), old.created_at));
    assert_eq!(stored[1].created_at, at(5), "a new consumer is created when first seen");
    let untouched = s.consumers.get("orders", "audit", "w1").await.unwrap();
    assert_eq!(untouched, Some(other));
}

pub async fn consumer_listing_filters_and_deletes(s: MetadataStores) {
    for (t, g, c) in [
        ("orders", "billing", "w2"),
        ("orders", "billing", "w1"),
        ("orders", "audit", "w1"),
        ("users", "billing", "w1"),
    ] {
        s.consumers.upsert(consumer(t, g, c)).await.unwrap();
    }
    let mut gone = consumer("orders", "billing", "w2");
    gone.status = ConsumerStatus::Inactive;
    s.consumers.upsert(gone).await.unwrap();

    let key = |c: &Consumer| format!("{}/{}/{}", c.topic_name, c.group_id, c.consumer_id);
    let all = s.consumers.list(&ConsumerFilter::default(), Page::new(1, 10)).await.unwrap();
    assert_eq!(
        all.items.iter().map(key).collect::<Vec<_>>(),
        ["orders/audit/w1", "orders/billing/w1", "orders/billing/w2", "users/billing/w1"]
    );

    let billing = ConsumerFilter {
        topic_name: Some("orders".into()),
        group_id: Some("billing".into()),
        status: None,
    };
    let got = s.consumers.list(&billing, Page::new(1, 1)).await.unwrap();
    assert_eq!((got.total, got.items.len()), (2, 1));
    assert_eq!(got.items[0].consumer_id, "w1");
    let inactive =
        ConsumerFilter { status: Some(ConsumerStatus::Inactive), ..ConsumerFilter::default() };
    let got = s.consumers.list(&inactive, Page::new(1, 10)).await.unwrap();
    assert_eq!(got.items.iter().map(key).collect::<Vec<_>>(), ["orders/billing/w2"]);
    let by_group = ConsumerFilter { group_id: Some("billing".into()), ..ConsumerFilter::default() };
    assert_eq!(s.consumers.list(&by_group, Page::new(1, 10)).await.unwrap().total, 3);

    s.consumers.delete("orders", "audit", "w1").await.unwrap();
    assert!(matches!(
        s.consumers.delete("orders", "audit", "w1").await,
        Err(RepoError::NotFound { .. })
    ));
    assert_eq!(s.consumers.delete_by_group("orders", "billing").await.unwrap(), 2);
    let left = s.consumers.list(&ConsumerFilter::default(), Page::new(1, 10)).await.unwrap();
    assert_eq!(left.items.iter().map(key).collect::<Vec<_>>(), ["users/billing/w1"]);
}

pub async fn dead_letters_list_newest_first_with_time_filters(s: MetadataStores) {
    let mut by_minute = BTreeMap::new();
    for (minute, t, g) in [
        (1, "orders", "billing"),
        (5, "orders", "billing"),
        (3, "orders", "audit"),
        (4, "users", "billing"),
        (2, "orders", "billing"),
    ] {
        let stored = s.dead_letters.insert(dead(t, g, minute)).await.unwrap();
        by_minute.insert(minute, stored);
    }
    let one = &by_minute[&3];
    assert_eq!(s.dead_letters.get(&one.id).await.unwrap().as_ref(), Some(one));
    assert_eq!(s.dead_letters.get("dlq_missing").await.unwrap(), None);
    let err = s.dead_letters.insert(one.clone()).await.unwrap_err();
    assert!(matches!(err, RepoError::AlreadyExists { .. }), "{err:?}");

    let minutes = |items: &[DeadLetterMessage]| -> Vec<i64> {
        items
            .iter()
            .map(|d| by_minute.iter().find(|(_, v)| v.id == d.id).map(|(m, _)| *m).unwrap())
            .collect()
    };
    let all = s.dead_letters.list(&DeadLetterFilter::default(), Page::new(1, 10)).await.unwrap();
    assert_eq!(minutes(&all.items), [5, 4, 3, 2, 1]);

    let orders =
        DeadLetterFilter { topic_name: Some("orders".into()), ..DeadLetterFilter::default() };
    let page = s.dead_letters.list(&orders, Page::new(2, 2)).await.unwrap();
    assert_eq!((minutes(&page.items), page.total), (vec![2, 1], 4));

    let window =
        DeadLetterFilter { from: Some(at(2)), to: Some(at(5)), ..DeadLetterFilter::default() };
    let got = s.dead_letters.list(&window, Page::new(1, 10)).await.unwrap();
    assert_eq!(minutes(&got.items), [4, 3, 2], "from is inclusive, to exclusive");

    let billing = DeadLetterFilter {
        topic_name: Some("orders".into()),
        group_id: Some("billing".into()),
        from: Some(at(2)),
        to: None,
    };
    let got = s.dead_letters.list(&billing, Page::new(1, 10)).await.unwrap();
    assert_eq!(minutes(&got.items), [5, 2]);
}

pub async fn dead_letters_delete_and_purge(s: MetadataStores) {
    let mut ids = BTreeSet::new();
    for minute in 0..6 {
        let g = if minute % 2 == 0 { "even" } else { "odd" };
        ids.insert(s.dead_letters.insert(dead("orders", g, minute)).await.unwrap().id);
    }
    let first = ids.first().unwrap().clone();
    s.dead_letters.delete(&first).await.unwrap();
    assert!(matches!(s.dead_letters.delete(&first).await, Err(RepoError::NotFound { .. })));

    let odd = DeadLetterFilter { group_id: Some("odd".into()), ..DeadLetterFilter::default() };
    assert_eq!(s.dead_letters.delete_matching(&odd).await.unwrap(), 3);
    assert_eq!(s.dead_letters.delete_matching(&odd).await.unwrap(), 0);
    let left = s.dead_letters.list(&DeadLetterFilter::default(), Page::new(1, 10)).await.unwrap();
    assert_eq!(left.total, 2, "minute 0 was deleted by id; 2 and 4 remain");
    assert!(left.items.iter().all(|d| d.consumer_group_id == "even"));
}

pub async fn dead_letter_round_trips_every_field(s: MetadataStores) {
    let full = dead_in_full("orders", "billing", 10);
    let stored = s.dead_letters.insert(full.clone()).await.unwrap();
    assert_eq!(stored, full);
    assert_eq!(s.dead_letters.get(&full.id).await.unwrap(), Some(full.clone()));

    let bare = dead("orders", "billing", 11);
    s.dead_letters.insert(bare.clone()).await.unwrap();
    let all = s.dead_letters.list(&DeadLetterFilter::default(), Page::new(1, 10)).await.unwrap();
    assert_eq!(all.items, [bare, full]);
}

pub async fn large_dead_letter_content_round_trips_and_is_deleted(s: MetadataStores) {
    const MIB: usize = 1024 * 1024;
    let mut large = dead_in_full("orders", "billing", 1);
    large.message_content = large_content(5 * MIB + 7);
    let small = dead("orders", "billing", 2);
    let stored = s.dead_letters.insert(large.clone()).await.unwrap();
    assert!(stored == large, "insert returns the whole content");
    s.dead_letters.insert(small.clone()).await.unwrap();
    let got = s.dead_letters.get(&large.id).await.unwrap();
    assert!(got.as_ref() == Some(&large), "get returns the whole content");

    // Recording the same failure again is refused and leaves the stored content whole.
    let err = s.dead_letters.insert(large.clone()).await.unwrap_err();
    assert!(matches!(err, RepoError::AlreadyExists { .. }), "{err:?}");
    let got = s.dead_letters.get(&large.id).await.unwrap();
    assert!(got.as_ref() == Some(&large), "a refused insert leaves the content whole");

    let all = s.dead_letters.list(&DeadLetterFilter::default(), Page::new(1, 10)).await.unwrap();
    assert_eq!(all.total, 2);
    assert!(all.items == [small.clone(), large.clone()], "list returns the whole content");
    // A redrive marker changes nothing else.
    assert!(s.dead_letters.swap_redrive(&large.id, large.redrive.as_ref(), None).await.unwrap());
    let got = s.dead_letters.get(&large.id).await.unwrap().unwrap();
    assert!(got.redrive.is_none() && got.message_content == large.message_content);

    s.dead_letters.delete(&large.id).await.unwrap();
    assert_eq!(s.dead_letters.get(&large.id).await.unwrap(), None);
    assert!(matches!(s.dead_letters.delete(&large.id).await, Err(RepoError::NotFound { .. })));

    // The same id again, now with a content just under the limit of the inline content, then
    // with a shorter large one: nothing of the earlier content shows through.
    let mut inline = large.clone();
    inline.message_content = large_content(MIB);
    s.dead_letters.insert(inline.clone()).await.unwrap();
    assert!(s.dead_letters.get(&large.id).await.unwrap() == Some(inline));
    s.dead_letters.delete(&large.id).await.unwrap();
    let mut shorter = large.clone();
    shorter.message_content = large_content(2 * MIB + 1);
    s.dead_letters.insert(shorter.clone()).await.unwrap();
    assert!(s.dead_letters.get(&large.id).await.unwrap() == Some(shorter));

    // A purge removes large dead letters too, and only those it matches.
    let mut other = dead("orders", "audit", 3);
    other.message_content = large_content(3 * MIB);
    s.dead_letters.insert(other.clone()).await.unwrap();
    let billing =
        DeadLetterFilter { group_id: Some("billing".into()), ..DeadLetterFilter::default() };
    assert_eq!(s.dead_letters.delete_matching(&billing).await.unwrap(), 2);
    assert_eq!(s.dead_letters.get(&large.id).await.unwrap(), None);
    assert_eq!(s.dead_letters.get(&small.id).await.unwrap(), None);
    assert!(s.dead_letters.get(&other.id).await.unwrap() == Some(other.clone()));
    s.dead_letters.insert(large.clone()).await.unwrap();
    assert!(s.dead_letters.get(&large.id).await.unwrap() == Some(large));

    // The largest message there may be, twice on one page.
    let largest = |minute| DeadLetterMessage {
        message_content: large_content(MAX_MESSAGE_SIZE_LIMIT as usize),
        ..dead_in_full("big", "billing", minute)
    };
    let (first, second) = (largest(10), largest(11));
    s.dead_letters.insert(first.clone()).await.unwrap();
    s.dead_letters.insert(second.clone()).await.unwrap();
    let big = DeadLetterFilter { topic_name: Some("big".into()), ..DeadLetterFilter::default() };
    let got = s.dead_letters.list(&big, Page::new(1, 10)).await.unwrap();
    assert!(got.items == [second, first.clone()], "list returns the largest contents whole");
    assert_eq!(s.dead_letters.delete_matching(&big).await.unwrap(), 2);
    assert_eq!(s.dead_letters.get(&first.id).await.unwrap(), None);
}

pub async fn swap_redrive_is_compare_and_set(s: MetadataStores) {
    let stored = s.dead_letters.insert(dead("orders", "billing", 1)).await.unwrap();
    let id = stored.id.as_str();
    let first = redrive("msg_a", 5);
    let second = redrive("msg_b", 6);

    assert!(s.dead_letters.swap_redrive(id, None, Some(first.clone())).await.unwrap());
    assert!(
        !s.dead_letters.swap_redrive(id, None, Some(second.clone())).await.unwrap(),
        "a redrive is under way"
    );
    assert_eq!(s.dead_letters.get(id).await.unwrap().unwrap().redrive, Some(first.clone()));

    // Only the redrive that is there may be replaced or cleared: same message id and time.
    let wrong_id = redrive("msg_x", 5);
    let wrong_time = redrive("msg_a", 7);
    for expected in [&wrong_id, &wrong_time, &second] {
        assert!(!s.dead_letters.swap_redrive(id, Some(expected), None).await.unwrap());
        assert!(!s
            .dead_letters
            .swap_redrive(id, Some(expected), Some(second.clone()))
            .await
            .unwrap());
    }
    assert_eq!(s.dead_letters.get(id).await.unwrap().unwrap().redrive, Some(first.clone()));
    // The stored start time is what `get` returns; sub-millisecond digits do not count.
    let finer =
        Redrive { started_at: first.started_at + Duration::nanoseconds(999_999), ..first.clone() };
    assert!(s.dead_letters.swap_redrive(id, Some(&finer), Some(second.clone())).await.unwrap());
    assert_eq!(s.dead_letters.get(id).await.unwrap().unwrap().redrive, Some(second.clone()));

    // Aborting clears it; then the old expectation no longer holds, and a new one may start.
    assert!(s.dead_letters.swap_redrive(id, Some(&second), None).await.unwrap());
    assert_eq!(s.dead_letters.get(id).await.unwrap().unwrap().redrive, None);
    assert!(!s.dead_letters.swap_redrive(id, Some(&second), None).await.unwrap());
    assert!(s.dead_letters.swap_redrive(id, None, Some(first.clone())).await.unwrap());

    assert!(!s.dead_letters.swap_redrive("dlq_missing", None, Some(first.clone())).await.unwrap());
    assert!(!s.dead_letters.swap_redrive("dlq_missing", Some(&first), None).await.unwrap());
    let rest = s.dead_letters.get(id).await.unwrap().unwrap();
    assert_eq!(rest, DeadLetterMessage { redrive: Some(first), ..stored }, "nothing else changes");
}

pub async fn racing_redrive_starts_have_exactly_one_winner(s: MetadataStores) {
    for minute in 0..8 {
        let id = s.dead_letters.insert(dead("orders", "billing", minute)).await.unwrap().id;
        let (a, b) = (redrive("msg_a", minute), redrive("msg_b", minute));
        let (won_a, won_b) = tokio::join!(
            s.dead_letters.swap_redrive(&id, None, Some(a.clone())),
            s.dead_letters.swap_redrive(&id, None, Some(b.clone())),
        );
        let (won_a, won_b) = (won_a.unwrap(), won_b.unwrap());
        assert!(won_a != won_b, "exactly one of two racing starts wins: {won_a} {won_b}");
        let winner = if won_a { a } else { b };
        assert_eq!(s.dead_letters.get(&id).await.unwrap().unwrap().redrive, Some(winner));
    }

    // And of many racers spread over threads.
    let id = s.dead_letters.insert(dead("orders", "billing", 20)).await.unwrap().id;
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (dead_letters, id) = (s.dead_letters.clone(), id.clone());
            let mine = redrive(&format!("msg_{i}"), 21);
            tokio::spawn(async move { dead_letters.swap_redrive(&id, None, Some(mine)).await })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.unwrap().unwrap());
    }
    assert_eq!(won, 1, "exactly one of eight concurrent starts wins");
}

pub async fn group_retry_policy_round_trips_and_updates(s: MetadataStores) {
    let explicit = RetryPolicy {
        max_retries: 3,
        backoff: BackoffKind::Explicit,
        initial_backoff_ms: 250,
        multiplier: 1.5,
        max_backoff_ms: 60_000,
        jitter: 0.2,
        delays_ms: vec![1_000, 5_000, 30_000],
    };
    let g = ConsumerGroup { retry_policy: explicit.clone(), ..group("orders", "billing") };
    assert_eq!(s.groups.create(g.clone()).await.unwrap(), g);
    assert_eq!(s.groups.get("orders", "billing").await.unwrap(), Some(g.clone()));

    let exponential = RetryPolicy { max_retries: 0, jitter: 0.5, ..RetryPolicy::default() };
    let changed =
        ConsumerGroup { retry_policy: exponential.clone(), updated_at: at(9), ..g.clone() };
    assert_eq!(s.groups.update(changed.clone()).await.unwrap(), changed);
    assert_eq!(s.groups.get("orders", "billing").await.unwrap(), Some(changed.clone()));
    let listed = s.groups.list(&GroupFilter::default(), Page::new(1, 10)).await.unwrap();
    assert_eq!(listed.items, [changed]);
}

pub async fn reads_racing_deletes_of_large_dead_letters_never_fail(s: MetadataStores) {
    let mut inserted = Vec::new();
    for minute in 0..8 {
        let mut large = dead("orders", "billing", minute);
        large.message_content = large_content(1024 * 1024 + 1 + minute as usize);
        inserted.push(s.dead_letters.insert(large).await.unwrap());
    }
    let deleter = async {
        for d in &inserted {
            s.dead_letters.delete(&d.id).await.unwrap();
            tokio::task::yield_now().await;
        }
    };
    let everything = DeadLetterFilter::default();
    let reader = async {
        let mut reads = 0;
        loop {
            // A dead letter read while it is being deleted is either whole or absent.
            let all = s.dead_letters.list(&everything, Page::new(1, 10)).await.unwrap();
            for item in all.items {
                assert!(inserted.contains(&item), "{} is read whole", item.id);
            }
            for d in &inserted {
                let got = s.dead_letters.get(&d.id).await.unwrap();
                assert!(got.as_ref().is_none_or(|got| got == d), "{} is read whole", d.id);
            }
            reads += 1;
            // The in-memory store never waits, so without this the deleter, polled by the
            // same task, would never run.
            tokio::task::yield_now().await;
            if s.dead_letters.list(&everything, Page::new(1, 1)).await.unwrap().total == 0 {
                break reads;
            }
        }
    };
    let ((), reads) = tokio::join!(deleter, reader);
    assert!(reads > 0);
}

pub async fn group_record_commit_keeps_the_latest_time(s: MetadataStores) {
    let g = s.groups.create(group("orders", "billing")).await.unwrap();
    s.groups.create(group("orders", "audit")).await.unwrap();
    s.groups.create(group("payments", "billing")).await.unwrap();
    let last_commit = |topic: &'static str, id: &'static str| {
        let groups = s.groups.clone();
        async move { groups.get(topic, id).await.unwrap().unwrap().last_commit_time }
    };

    // The first commit sets the unset time; nothing else of the group changes.
    s.groups.record_commit("orders", "billing", at(5)).await.unwrap();
    let stored = s.groups.get("orders", "billing").await.unwrap().unwrap();
    assert_eq!(stored, ConsumerGroup { last_commit_time: Some(at(5)), ..g.clone() });

    // It never moves back; a later time moves it forward.
    for (commit, expected) in [(3, 5), (5, 5), (9, 9), (8, 9), (-60, 9)] {
        s.groups.record_commit("orders", "billing", at(commit)).await.unwrap();
        assert_eq!(last_commit("orders", "billing").await, Some(at(expected)), "after {commit}");
    }
    // Only that group: not its neighbour, not the group of the same id on another topic.
    assert_eq!(last_commit("orders", "audit").await, None);
    assert_eq!(last_commit("payments", "billing").await, None);

    // An update carrying an older (or no) time keeps the later stored one and changes the
    // rest; one carrying a later time sets it.
    for (carried, expected) in [(Some(at(1)), at(9)), (None, at(9)), (Some(at(12)), at(12))] {
        let changed = ConsumerGroup {
            ack_timeout_ms: 9_000,
            last_commit_time: carried,
            updated_at: at(10),
            ..stored.clone()
        };
        let returned = s.groups.update(changed.clone()).await.unwrap();
        let want = ConsumerGroup { last_commit_time: Some(expected), ..changed };
        assert_eq!(returned, want, "update carrying {carried:?}");
        assert_eq!(s.groups.get("orders", "billing").await.unwrap(), Some(want));
    }
}

pub async fn group_record_commit_of_an_unknown_group_is_a_no_op(s: MetadataStores) {
    s.groups.record_commit("orders", "ghost", at(1)).await.unwrap();
    assert_eq!(s.groups.get("orders", "ghost").await.unwrap(), None);

    // A deleted group is not brought back.
    s.groups.create(group("orders", "gone")).await.unwrap();
    s.groups.delete("orders", "gone").await.unwrap();
    s.groups.record_commit("orders", "gone", at(2)).await.unwrap();
    assert_eq!(s.groups.get("orders", "gone").await.unwrap(), None);
    let all = s.groups.list(&GroupFilter::default(), Page::new(1, 10)).await.unwrap();
    assert_eq!(all.total, 0, "{:?}", all.items);
}

pub async fn racing_commits_keep_the_latest_time(s: MetadataStores) {
    s.groups.create(group("orders", "billing")).await.unwrap();
    // Instances flushing at once, in no particular order: the latest time wins.
    let minutes = [7, 2, 19, 11, 0, 18, 5, 13, 3, 16, 9, 1, 15, 4, 17, 6, 12, 8, 14, 10];
    let tasks: Vec<_> = minutes
        .into_iter()
        .map(|minute| {
            let groups = s.groups.clone();
            tokio::spawn(async move { groups.record_commit("orders", "billing", at(minute)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stored = s.groups.get("orders", "billing").await.unwrap().unwrap();
    assert_eq!(stored.last_commit_time, Some(at(19)));
}
