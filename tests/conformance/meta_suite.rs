//! The metadata suite: topics, consumer groups, consumers and dead letters.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use mq_model::{
    new_id, Consumer, ConsumerGroup, ConsumerStatus, DeadLetterMessage, DeliveryMode, GroupStatus,
    IdKind, Page, StartFrom, Topic, TopicConfig, TopicStatus,
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
    }
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
