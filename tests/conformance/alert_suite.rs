//! The alert suite: one active alert per key, closing moves it to the history, the listings'
//! order, and exactly one winner among instances racing to open or close the same alert.

use chrono::{DateTime, Duration, TimeZone, Utc};
use mq_model::{new_id, Alert, AlertRule, IdKind};
use mq_repo::MetadataStores;

/// A fixed, millisecond-precise instant (BSON dates keep milliseconds).
fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 15, 10, 0, 0).unwrap()
        + Duration::minutes(minute)
        + Duration::milliseconds(123)
}

/// A new backlog alert of `topic`'s group `billing`, fired at `minute`.
fn alert(topic: &str, minute: i64) -> Alert {
    Alert {
        id: new_id(IdKind::Alert),
        key: format!("backlog:{topic}:billing"),
        rule: AlertRule::Backlog,
        severity: "warning".into(),
        topic_name: topic.into(),
        group_id: Some("billing".into()),
        message: format!("backlog of {topic}/billing is 1500 messages"),
        value: 1_500.0,
        threshold: 1_000.0,
        fired_at: at(minute),
        resolved_at: None,
    }
}

fn resolved(alert: &Alert, minute: i64) -> Alert {
    Alert { resolved_at: Some(at(minute)), ..alert.clone() }
}

async fn open(s: &MetadataStores, alert: &Alert) -> bool {
    s.alerts.open(alert.clone()).await.unwrap()
}

async fn close(s: &MetadataStores, key: &str, minute: i64) -> Option<Alert> {
    s.alerts.close(key, at(minute)).await.unwrap()
}

async fn active(s: &MetadataStores) -> Vec<Alert> {
    s.alerts.active().await.unwrap()
}

async fn history(s: &MetadataStores, limit: usize) -> Vec<Alert> {
    s.alerts.history(limit).await.unwrap()
}

fn ids(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.id.as_str()).collect()
}

pub async fn alert_opens_once_per_key(s: MetadataStores) {
    let first = alert("orders", 0);
    assert!(open(&s, &first).await);
    let second = Alert { message: "again".into(), ..alert("orders", 1) };
    assert!(!open(&s, &second).await, "the key has an active alert already");
    assert_eq!(active(&s).await, [first], "the first alert is kept");
    assert!(history(&s, 10).await.is_empty());
}

pub async fn alert_close_moves_it_to_the_history_once(s: MetadataStores) {
    let a = alert("orders", 0);
    assert!(open(&s, &a).await);
    let closed = close(&s, &a.key, 5).await;
    assert_eq!(closed, Some(resolved(&a, 5)));
    assert!(active(&s).await.is_empty());
    assert_eq!(history(&s, 10).await, [resolved(&a, 5)]);

    assert_eq!(close(&s, &a.key, 6).await, None, "closed already");
    assert_eq!(close(&s, "backlog:never:opened", 6).await, None);
    assert_eq!(history(&s, 10).await, [resolved(&a, 5)], "the history is unchanged");
}

pub async fn alert_reopens_after_close_with_a_new_id(s: MetadataStores) {
    let a = alert("orders", 0);
    assert!(open(&s, &a).await);
    close(&s, &a.key, 1).await.unwrap();
    let again = alert("orders", 2);
    assert_eq!(again.key, a.key);
    assert!(open(&s, &again).await, "the key is free again");
    assert_eq!(active(&s).await, std::slice::from_ref(&again));
    assert_eq!(close(&s, &a.key, 3).await, Some(resolved(&again, 3)));
    assert_eq!(history(&s, 10).await, [resolved(&again, 3), resolved(&a, 1)]);
}

pub async fn alert_active_lists_oldest_first(s: MetadataStores) {
    let mut opened = Vec::new();
    for (topic, minute) in [("b", 3), ("a", 1), ("c", 2), ("d", 0)] {
        let a = alert(topic, minute);
        assert!(open(&s, &a).await);
        opened.push(a);
    }
    let [b, a, c, d] = opened.as_slice() else { unreachable!() };
    assert_eq!(ids(&active(&s).await), ids(&[d.clone(), a.clone(), c.clone(), b.clone()]));
    // Closing one leaves the others in order.
    close(&s, &a.key, 9).await.unwrap();
    assert_eq!(ids(&active(&s).await), ids(&[d.clone(), c.clone(), b.clone()]));
}

pub async fn alert_history_lists_newest_first_with_limit(s: MetadataStores) {
    // Resolved at minutes 5, 7, 6, and two at 8: ties go to the larger id.
    let mut by_resolution = Vec::new();
    for (topic, resolved_at) in [("a", 5), ("b", 7), ("c", 6), ("d", 8), ("e", 8)] {
        let a = alert(topic, 0);
        assert!(open(&s, &a).await);
        by_resolution.push(close(&s, &a.key, resolved_at).await.unwrap());
    }
    let mut tied = [by_resolution[3].clone(), by_resolution[4].clone()];
    tied.sort_by(|x, y| y.id.cmp(&x.id));
    let expected: Vec<Alert> = tied
        .into_iter()
        .chain([by_resolution[1].clone(), by_resolution[2].clone(), by_resolution[0].clone()])
        .collect();
    assert_eq!(history(&s, 10).await, expected);
    assert_eq!(history(&s, 5).await, expected);
    assert_eq!(history(&s, 2).await, expected[..2]);
    assert_eq!(history(&s, 1).await, expected[..1]);
    assert!(history(&s, 0).await.is_empty(), "a limit of 0 returns nothing");
    assert_eq!(history(&s, usize::MAX).await, expected);
}

pub async fn alert_racing_opens_have_exactly_one_winner(s: MetadataStores) {
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let alerts = s.alerts.clone();
            let a = Alert { message: format!("racer {i}"), ..alert("orders", 0) };
            tokio::spawn(async move { alerts.open(a.clone()).await.unwrap().then_some(a) })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        winners.extend(racer.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one of eight racing opens wins");
    assert_eq!(active(&s).await, winners, "the winner's alert is the active one");
}

pub async fn alert_racing_closes_have_exactly_one_winner(s: MetadataStores) {
    let a = alert("orders", 0);
    assert!(open(&s, &a).await);
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (alerts, key) = (s.alerts.clone(), a.key.clone());
            tokio::spawn(async move { alerts.close(&key, at(i + 1)).await.unwrap() })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        winners.extend(racer.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one of eight racing closes wins: {winners:?}");
    assert_eq!(winners[0].id, a.id);
    assert!(active(&s).await.is_empty());
    assert_eq!(history(&s, 10).await, winners, "the alert is in the history once");
}

pub async fn alert_round_trips_every_field(s: MetadataStores) {
    let sub_ms = Duration::nanoseconds(456_789);
    let topic_wide = Alert {
        key: "dead_letters:支付:".into(),
        rule: AlertRule::DeadLetters,
        severity: "critical".into(),
        topic_name: "支付".into(),
        group_id: None,
        message: "12 new dead letters — 死信".into(),
        value: 12.0,
        threshold: 0.5,
        ..alert("x", 1)
    };
    let lagging = Alert {
        key: "consumer_lag:orders:billing".into(),
        rule: AlertRule::ConsumerLag,
        value: 90_061.25,
        threshold: 60_000.0,
        ..alert("orders", 2)
    };
    let idle = Alert {
        key: "no_consumer:orders:audit".into(),
        rule: AlertRule::NoConsumer,
        group_id: Some("audit".into()),
        value: 0.0,
        threshold: f64::MAX,
        ..alert("orders", 3)
    };
    let all = [topic_wide, lagging, idle, alert("orders", 4)];
    for a in &all {
        // Sub-millisecond times, and a `resolved_at` an active alert cannot have, are dropped.
        let given = Alert { fired_at: a.fired_at + sub_ms, resolved_at: Some(at(9)), ..a.clone() };
        assert!(open(&s, &given).await);
    }
    assert_eq!(active(&s).await, all);
    let mut newest_first = Vec::new();
    for (a, minute) in all.iter().zip(10..) {
        let closed = s.alerts.close(&a.key, at(minute) + sub_ms).await.unwrap();
        assert_eq!(closed, Some(resolved(a, minute)));
        newest_first.insert(0, resolved(a, minute));
    }
    assert_eq!(history(&s, 10).await, newest_first);
}
