//! Scheduler tests on the in-memory stores with a manual clock: no sleeps, every firing
//! checked against its due time.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use mq_model::{new_id, IdKind, ManualClock, Paged, Topic, TopicConfig};
use mq_repo::{
    MemoryMessageLog, MemoryMetadata, MessageLog, NewRecord, RepoError, RepoResult, ScheduledRecord,
};

use super::*;
use crate::LatenessSummary;

const T0: i64 = 1_700_000_000_000;
const TICK: i64 = 10;

/// What one scheduler's `on_fired` saw: (topic, partition, firing).
type Seen = Arc<Mutex<Vec<(String, u32, Fired)>>>;

struct Harness {
    clock: ManualClock,
    log: Arc<MemoryMessageLog>,
    meta: Arc<MemoryMetadata>,
}

impl Harness {
    async fn new(topics: &[(&str, u32)]) -> Self {
        let clock = ManualClock::new(T0);
        let harness = Self {
            log: Arc::new(MemoryMessageLog::new(Arc::new(clock.clone()))),
            meta: Arc::new(MemoryMetadata::new()),
            clock,
        };
        for (name, partitions) in topics {
            harness.topic(name, *partitions).await;
        }
        harness
    }

    async fn topic(&self, name: &str, partitions: u32) {
        let mut cfg = TopicConfig::named(name);
        cfg.partitions = partitions;
        let topic = cfg.into_topic(new_id(IdKind::Topic), String::new(), self.clock.now()).unwrap();
        TopicRepository::create(&*self.meta, topic).await.unwrap();
    }

    fn scheduler(&self) -> (DelayScheduler, Seen) {
        let seen: Seen = Arc::default();
        let sink = seen.clone();
        let scheduler = DelayScheduler::new(
            self.log.clone(),
            self.meta.clone(),
            Arc::new(self.clock.clone()),
            DelayConfig::default(),
            Arc::new(move |topic: &str, partition: u32, fired: &[Fired]| {
                let mut sink = sink.lock().unwrap();
                sink.extend(fired.iter().map(|f| (topic.to_owned(), partition, f.clone())));
            }),
        );
        (scheduler, seen)
    }

    /// Puts a message in the durable schedule (not telling any scheduler).
    async fn schedule(&self, topic: &str, partition: u32, id: &str, due_ms: i64) {
        let record = NewRecord {
            message_id: id.to_owned(),
            key: None,
            value: b"{}".to_vec(),
            headers: BTreeMap::new(),
            producer_id: None,
            message_type: mq_model::MessageType::Delay,
            dedup: None,
        };
        ScheduleStore::schedule(
            &*self.log,
            TopicRef::named(topic),
            partition,
            vec![ScheduledRecord { due_ms, record }],
        )
        .await
        .unwrap();
    }

    /// The ids in a partition's log, in offset order, with their append times.
    async fn appended(&self, topic: &str, partition: u32) -> Vec<(String, i64)> {
        let records =
            self.log.read_range(TopicRef::named(topic), partition, 0, 1_000_000).await.unwrap();
        records.into_iter().map(|r| (r.message_id, r.timestamp_ms)).collect()
    }

    /// Runs schedulers as their task would, one tick at a time, until the clock reaches
    /// `until_ms`: each loads at the start and every load interval, and ticks every tick.
    async fn run(&self, schedulers: &[&DelayScheduler], until_ms: i64) {
        let load_every = DelayConfig::default().load_interval_ms as i64;
        let mut next_load = self.clock.now_ms();
        while self.clock.now_ms() <= until_ms {
            if self.clock.now_ms() >= next_load {
                for s in schedulers {
                    s.load_once().await.unwrap();
                }
                next_load += load_every;
            }
            for s in schedulers {
                s.tick_once().await.unwrap();
            }
            self.clock.advance_ms(TICK);
        }
    }
}

/// Every firing was on time: not before its due time, at most one tick after it.
fn assert_on_time(seen: &Seen) {
    for (topic, partition, f) in seen.lock().unwrap().iter() {
        let late = f.appended.timestamp_ms - f.due_ms;
        assert!(
            (0..TICK).contains(&late),
            "{topic}/{partition} {} late by {late} ms",
            f.message_id
        );
    }
}

fn ids(seen: &Seen) -> Vec<String> {
    seen.lock().unwrap().iter().map(|(_, _, f)| f.message_id.clone()).collect()
}

#[tokio::test]
async fn a_tracked_short_delay_fires_on_time_without_the_loader() {
    let h = Harness::new(&[("orders", 2)]).await;
    let (s, seen) = h.scheduler();
    h.schedule("orders", 1, "m1", T0 + 500).await;
    s.track(TopicRef::named("orders"), 1, "m1", T0 + 500);
    assert_eq!(s.stats().wheel_len, 1);
    h.clock.set_ms(T0 + 499);
    assert_eq!(s.tick_once().await.unwrap(), 0, "early");
    h.clock.set_ms(T0 + 505);
    assert_eq!(s.tick_once().await.unwrap(), 1);
    assert_eq!(h.appended("orders", 1).await, vec![("m1".to_owned(), T0 + 505)]);
    assert_eq!(ids(&seen), vec!["m1"]);
    let stats = s.stats();
    assert_eq!((stats.wheel_len, stats.fired_total), (0, 1));
    assert_eq!(stats.lateness_ms, LatenessSummary { count: 1, p50: 5, p99: 5, max: 5 });
}

#[tokio::test]
async fn loaded_messages_fire_never_early_and_within_a_tick() {
    let h = Harness::new(&[("a", 3), ("b", 2)]).await;
    let (s, seen) = h.scheduler();
    // Due times spread over two minutes, beyond the first load's horizon, some sharing a tick.
    let mut all = Vec::new();
    for i in 0..600_i64 {
        let (topic, partition) =
            if i % 2 == 0 { ("a", (i % 3) as u32) } else { ("b", (i % 2) as u32) };
        let due = T0 + 1 + (i * 7_919) % 120_000;
        h.schedule(topic, partition, &format!("m{i}"), due).await;
        all.push((topic, partition, format!("m{i}"), due));
    }
    h.run(&[&s], T0 + 121_000).await;
    assert_on_time(&seen);
    let mut fired = ids(&seen);
    fired.sort();
    let mut expected: Vec<_> = all.iter().map(|(_, _, id, _)| id.clone()).collect();
    expected.sort();
    assert_eq!(fired, expected, "each message fired exactly once");
    // Each log holds its messages once, in due order.
    for (topic, partition) in [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)] {
        let mut want: Vec<_> = all
            .iter()
            .filter(|m| m.0 == topic && m.1 == partition)
            .map(|m| (m.3, m.2.clone()))
            .collect();
        want.sort();
        let got: Vec<_> =
            h.appended(topic, partition).await.into_iter().map(|(id, _)| id).collect();
        assert_eq!(got, want.into_iter().map(|(_, id)| id).collect::<Vec<_>>());
    }
    let stats = s.stats();
    assert_eq!((stats.wheel_len, stats.fired_total), (0, 600));
    assert_eq!(stats.lateness_ms.count, 600);
    assert!(stats.lateness_ms.max < TICK, "{stats:?}");
}

#[tokio::test]
async fn messages_due_at_one_instant_fire_in_one_tick_in_chunks() {
    let h = Harness::new(&[("t", 1)]).await;
    let (s, seen) = h.scheduler();
    let due = T0 + 3_000;
    for i in 0..1_234 {
        h.schedule("t", 0, &format!("m{i:04}"), due).await;
    }
    assert_eq!(s.load_once().await.unwrap(), 1_234);
    h.clock.set_ms(due - 1);
    assert_eq!(s.tick_once().await.unwrap(), 0);
    h.clock.set_ms(due);
    assert_eq!(s.tick_once().await.unwrap(), 1_234);
    let appended = h.appended("t", 0).await;
    assert_eq!(appended.len(), 1_234);
    assert!(appended.iter().all(|(_, ts)| *ts == due));
    assert_eq!(ids(&seen).len(), 1_234);
    assert_eq!(s.stats().lateness_ms.max, 0);
}

#[tokio::test]
async fn far_future_messages_are_loaded_once_when_within_the_horizon() {
    let h = Harness::new(&[("t", 2)]).await;
    let (s, seen) = h.scheduler();
    let horizon = DelayConfig::default().horizon_ms as i64;
    let due = T0 + 10 * 86_400_000;
    h.schedule("t", 1, "later", due).await;
    s.track(TopicRef::named("t"), 1, "later", due);
    assert_eq!(s.stats().wheel_len, 0, "beyond the horizon: left to the loader");
    assert_eq!(s.load_once().await.unwrap(), 0);
    h.clock.set_ms(due - horizon - 1);
    assert_eq!(s.load_once().await.unwrap(), 0);
    h.clock.set_ms(due - horizon);
    assert_eq!(s.load_once().await.unwrap(), 1);
    for step in [1_000, 20_000, horizon - 1] {
        h.clock.set_ms(due - horizon + step);
        assert_eq!(s.load_once().await.unwrap(), 0, "loaded again at {step}");
        assert_eq!(s.tick_once().await.unwrap(), 0);
    }
    assert_eq!(s.stats().wheel_len, 1);
    h.clock.set_ms(due);
    assert_eq!(s.tick_once().await.unwrap(), 1);
    assert_on_time(&seen);
    assert_eq!(s.load_once().await.unwrap(), 0);
}

#[tokio::test]
async fn a_message_cancelled_before_it_is_due_fires_nothing() {
    let h = Harness::new(&[("t", 1)]).await;
    let (s, seen) = h.scheduler();
    h.schedule("t", 0, "paid", T0 + 2_000).await;
    h.schedule("t", 0, "unpaid", T0 + 2_000).await;
    s.load_once().await.unwrap();
    assert!(ScheduleStore::cancel(&*h.log, TopicRef::named("t"), 0, "paid").await.unwrap());
    h.run(&[&s], T0 + 5_000).await;
    assert_eq!(ids(&seen), vec!["unpaid"]);
    assert_eq!(h.appended("t", 0).await.len(), 1);
    assert_eq!(s.stats().wheel_len, 0);

    // A cancel the broker reports is dropped from the wheel at once.
    h.schedule("t", 0, "also paid", T0 + 9_000).await;
    s.track(TopicRef::named("t"), 0, "also paid", T0 + 9_000);
    ScheduleStore::cancel(&*h.log, TopicRef::named("t"), 0, "also paid").await.unwrap();
    s.forget("also paid");
    assert_eq!(s.stats().wheel_len, 0);
    h.run(&[&s], T0 + 10_000).await;
    assert_eq!(ids(&seen), vec!["unpaid"]);
}

#[tokio::test]
async fn rescheduled_messages_fire_at_their_new_time() {
    let h = Harness::new(&[("t", 1)]).await;
    let (s, seen) = h.scheduler();
    for id in ["later", "later tracked", "earlier", "earlier tracked"] {
        h.schedule("t", 0, id, T0 + 20_000).await;
    }
    s.load_once().await.unwrap();
    h.clock.set_ms(T0 + 1_000);
    let move_to = |id: &'static str, due: i64, track: bool| {
        let (log, s) = (h.log.clone(), s.clone());
        async move {
            assert!(ScheduleStore::reschedule(&*log, TopicRef::named("t"), 0, id, due)
                .await
                .unwrap());
            if track {
                s.track(TopicRef::named("t"), 0, id, due);
            }
        }
    };
    move_to("later", T0 + 40_000, false).await;
    move_to("later tracked", T0 + 40_005, true).await;
    move_to("earlier", T0 + 5_000, false).await;
    move_to("earlier tracked", T0 + 5_005, true).await;
    h.run(&[&s], T0 + 50_000).await;
    let when = |id: &str| {
        let seen = seen.lock().unwrap();
        let found: Vec<_> = seen.iter().filter(|(_, _, f)| f.message_id == id).collect();
        assert_eq!(found.len(), 1, "{id} fired {} times", found.len());
        (found[0].2.due_ms, found[0].2.appended.timestamp_ms)
    };
    for (id, due) in [
        ("later", T0 + 40_000),
        ("later tracked", T0 + 40_005),
        ("earlier", T0 + 5_000),
        ("earlier tracked", T0 + 5_005),
    ] {
        let (fired_due, at) = when(id);
        assert_eq!(fired_due, due, "{id}");
        assert!((due..due + TICK).contains(&at), "{id} fired {} ms after due", at - due);
    }
    assert_on_time(&seen);

    // Moved earlier behind the scheduler's back, to before the next load: the loader finds it
    // at its next round, so it is late by less than a load interval, and fires once.
    let load_interval = DelayConfig::default().load_interval_ms as i64;
    let now = h.clock.now_ms();
    h.schedule("t", 0, "soon", now + 30_000).await;
    assert_eq!(s.load_once().await.unwrap(), 1);
    move_to("soon", now + 200, false).await;
    while h.clock.now_ms() < now + load_interval {
        assert_eq!(s.tick_once().await.unwrap(), 0);
        h.clock.advance_ms(TICK);
    }
    s.load_once().await.unwrap();
    assert_eq!(s.tick_once().await.unwrap(), 1);
    let (due, at) = when("soon");
    assert!(at - due < load_interval, "{}", at - due);
    h.run(&[&s], now + 40_000).await;
    assert_eq!(seen.lock().unwrap().len(), 5);
    assert_eq!(s.stats().wheel_len, 0);
}

#[tokio::test]
async fn two_schedulers_over_one_store_never_fire_a_message_twice() {
    let h = Harness::new(&[("t", 4)]).await;
    let (a, seen_a) = h.scheduler();
    let (b, seen_b) = h.scheduler();
    for i in 0..2_000_u32 {
        let due = T0 + 1 + i64::from(i * 37 % 90_000);
        h.schedule("t", i % 4, &format!("m{i}"), due).await;
        // Each instance tracks the messages published through it.
        if i % 3 == 0 { &a } else { &b }.track(TopicRef::named("t"), i % 4, &format!("m{i}"), due);
    }
    h.run(&[&a, &b], T0 + 91_000).await;
    h.run(&[&b, &a], T0 + 92_000).await;
    let mut all = ids(&seen_a);
    all.extend(ids(&seen_b));
    assert_eq!(all.len(), 2_000);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 2_000, "a message fired twice");
    let mut logged = 0;
    for p in 0..4 {
        logged += h.appended("t", p).await.len();
    }
    assert_eq!(logged, 2_000);
    assert_eq!(a.stats().fired_total + b.stats().fired_total, 2_000);
    assert_on_time(&seen_a);
    assert_on_time(&seen_b);
}

#[tokio::test]
async fn a_new_scheduler_after_a_restart_fires_everything_still_scheduled() {
    let h = Harness::new(&[("t", 2)]).await;
    let (first, seen_first) = h.scheduler();
    for i in 0..500_i64 {
        h.schedule("t", (i % 2) as u32, &format!("m{i}"), T0 + 100 + i * 400).await;
    }
    h.run(&[&first], T0 + 60_000).await;
    let before = ids(&seen_first).len();
    assert!(before > 100 && before < 500, "{before}");
    assert!(first.stats().wheel_len > 0);
    drop(first);

    // The process is gone for a while; the new one delivers the overdue ones at once.
    h.clock.advance_ms(30_000);
    let (second, seen_second) = h.scheduler();
    h.run(&[&second], T0 + 201_000).await;
    let mut all = ids(&seen_first);
    all.extend(ids(&seen_second));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 500);
    assert_eq!(h.appended("t", 0).await.len() + h.appended("t", 1).await.len(), 500);
}

#[tokio::test]
async fn the_loader_pages_through_every_topic() {
    let h = Harness::new(&[]).await;
    for i in 0..205 {
        h.topic(&format!("topic-{i:03}"), 1).await;
    }
    h.schedule("topic-204", 0, "last", T0 + 10).await;
    h.schedule("topic-000", 0, "first", T0 + 10).await;
    let (s, _) = h.scheduler();
    assert_eq!(s.load_once().await.unwrap(), 2);
}

/// Topics that cannot be listed: a store that is down.
#[derive(Debug)]
struct BrokenTopics;

#[async_trait]
impl TopicRepository for BrokenTopics {
    async fn create(&self, _: Topic) -> RepoResult<Topic> {
        Err(broken())
    }
    async fn get(&self, _: &str) -> RepoResult<Option<Topic>> {
        Err(broken())
    }
    async fn list(&self, _: &TopicFilter, _: Page) -> RepoResult<Paged<Topic>> {
        Err(broken())
    }
    async fn update(&self, _: Topic) -> RepoResult<Topic> {
        Err(broken())
    }
    async fn delete(&self, _: &str) -> RepoResult<()> {
        Err(broken())
    }
}

fn broken() -> RepoError {
    RepoError::Corrupt { what: "topic", detail: "store down".to_owned() }
}

#[tokio::test(start_paused = true)]
async fn the_task_fires_despite_store_errors_and_stops_on_shutdown() {
    let h = Harness::new(&[("t", 1)]).await;
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let s = DelayScheduler::new(
        h.log.clone(),
        Arc::new(BrokenTopics),
        Arc::new(h.clock.clone()),
        DelayConfig::default(),
        Arc::new(move |t: &str, p: u32, fired: &[Fired]| {
            sink.lock().unwrap().extend(fired.iter().map(|f| (t.to_owned(), p, f.clone())));
        }),
    );
    let err = s.load_once().await.unwrap_err();
    assert!(matches!(err, DelayError::Store { op: "list topics", .. }), "{err:?}");

    let (stop, shutdown) = watch::channel(false);
    let task = s.spawn(shutdown);
    h.schedule("t", 0, "m", T0 + 500).await;
    s.track(TopicRef::named("t"), 0, "m", T0 + 500);
    // Tokio's paused clock jumps ahead when every task waits, so this takes no real time.
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        h.clock.advance_ms(10);
        if !seen.lock().unwrap().is_empty() {
            break;
        }
    }
    assert_eq!(ids(&seen), vec!["m"]);
    assert!(!task.is_finished(), "load errors must not end the task");
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_millis(100), task).await.unwrap().unwrap();
}
