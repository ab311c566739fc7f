//! The delay scheduler: a timing wheel of the scheduled messages due soon, refilled from the
//! durable schedules by a loader and emptied by a ticker that fires due messages into their
//! logs.
//!
//! The durable schedule is the truth; the wheel is only a cache of what falls due within the
//! horizon, telling the ticker *when* to ask the store to fire *which* ids. Firing is the
//! store's atomic move, which skips ids that are no longer scheduled or not yet due, so a stale
//! wheel (a message cancelled, rescheduled or fired by another instance) costs a wasted call,
//! never a duplicate or a loss: whatever the ticker fails to fire is forgotten, and the loader
//! adds it again within one load interval if it is still scheduled.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mq_model::{Clock, Page, TopicStatus};
use mq_repo::{Fired, ScheduleStore, TopicFilter, TopicKey, TopicRef, TopicRepository};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::stats::LatenessWindow;
use crate::{DelayConfig, DelayError, DelayStats, TimingWheel};

/// Called with what each `fire` call appended: topic, partition, and the fired messages in
/// append order. The broker uses it to wake long polls. It runs on the scheduler's task, so it
/// must be quick.
pub type OnFired = Arc<dyn Fn(&str, u32, &[Fired]) + Send + Sync>;

/// Ids per `fire` call: large enough to fire a burst in few round trips, small enough that one
/// call does not hold a Redis script (and every other client) for long.
const FIRE_CHUNK: usize = 500;
/// Topics per page when the loader lists them.
const TOPIC_PAGE: u64 = 100;

/// The runtime of delayed delivery; cheap to clone, clones share one wheel. See the module
/// docs for how the wheel, the loader and the ticker work together.
#[derive(Clone)]
pub struct DelayScheduler {
    inner: Arc<Inner>,
}

struct Inner {
    schedule: Arc<dyn ScheduleStore>,
    topics: Arc<dyn TopicRepository>,
    clock: Arc<dyn Clock>,
    cfg: DelayConfig,
    on_fired: OnFired,
    state: Mutex<State>,
}

/// A message the wheel holds.
struct Slot {
    topic: Arc<TopicKey>,
    partition: u32,
    message_id: String,
}

struct State {
    wheel: TimingWheel<Slot>,
    /// The due time of every message the wheel holds. A wheel entry whose due time differs
    /// from this one was superseded by a reschedule and is dropped when it expires.
    held: HashMap<String, i64>,
    fired_total: u64,
    lateness: LatenessWindow,
}

impl State {
    /// Puts a message in the wheel unless it is there already with this due time.
    fn hold(
        &mut self,
        topic: &Arc<TopicKey>,
        partition: u32,
        message_id: &str,
        due_ms: i64,
    ) -> bool {
        if self.held.get(message_id) == Some(&due_ms) {
            return false;
        }
        self.held.insert(message_id.to_owned(), due_ms);
        let slot = Slot { topic: topic.clone(), partition, message_id: message_id.to_owned() };
        self.wheel.insert(due_ms, slot);
        true
    }

    /// Forgets a message the wheel held with this due time (not one that was re-added since
    /// with another due time).
    fn release(&mut self, message_id: &str, due_ms: i64) {
        if self.held.get(message_id) == Some(&due_ms) {
            self.held.remove(message_id);
        }
    }
}

/// A load in progress beside the ticks.
type Loading = Pin<Box<dyn Future<Output = Result<usize, DelayError>> + Send>>;

/// Expired messages of one partition, in due order, as (message id, due time).
type Batch = (Arc<TopicKey>, u32, Vec<(String, i64)>);

impl fmt::Debug for DelayScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayScheduler")
            .field("cfg", &self.inner.cfg)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl DelayScheduler {
    /// A scheduler over these stores, with an empty wheel starting at the clock's time. Nothing
    /// runs until [`spawn`](Self::spawn), or until a test calls [`load_once`](Self::load_once)
    /// and [`tick_once`](Self::tick_once).
    pub fn new(
        schedule: Arc<dyn ScheduleStore>,
        topics: Arc<dyn TopicRepository>,
        clock: Arc<dyn Clock>,
        cfg: DelayConfig,
        on_fired: OnFired,
    ) -> Self {
        let state = State {
            wheel: TimingWheel::new(cfg.tick_ms, clock.now_ms()),
            held: HashMap::new(),
            fired_total: 0,
            lateness: LatenessWindow::default(),
        };
        Self {
            inner: Arc::new(Inner {
                schedule,
                topics,
                clock,
                cfg,
                on_fired,
                state: Mutex::new(state),
            }),
        }
    }

    /// The config it runs with.
    pub fn config(&self) -> &DelayConfig {
        &self.inner.cfg
    }

    /// A poisoned lock only means a panic elsewhere mid-update; the wheel is a cache of the
    /// durable schedule, so carrying on is safe where cascading the panic is not.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the scheduler about a message just scheduled (or rescheduled) in the store: when
    /// it is due within the horizon it goes into the wheel at once, so a short delay fires on
    /// time without waiting for the loader. Later ones are left to the loader.
    pub fn track(&self, topic: TopicRef<'_>, partition: u32, message_id: &str, due_ms: i64) {
        let until = self.inner.clock.now_ms().saturating_add(self.inner.cfg.horizon());
        if due_ms <= until {
            self.lock().hold(&Arc::new(TopicKey::from(topic)), partition, message_id, due_ms);
        }
    }

    /// Stops holding a message, e.g. after it was cancelled, so that the stats do not count
    /// it. Optional: a cancelled message left in the wheel is skipped by the store when due.
    pub fn forget(&self, message_id: &str) {
        self.lock().held.remove(message_id);
    }

    /// Reads every partition's schedule up to the horizon and puts into the wheel what it does
    /// not hold yet, or holds with another due time (a reschedule). Returns how many were put.
    pub async fn load_once(&self) -> Result<usize, DelayError> {
        let inner = &self.inner;
        let until = inner.clock.now_ms().saturating_add(inner.cfg.horizon());
        let mut added = 0;
        for page in 1.. {
            let topics = inner
                .topics
                .list(&TopicFilter::default(), Page::new(page, TOPIC_PAGE))
                .await
                .map_err(DelayError::store("list topics"))?;
            for topic in topics.items.iter().filter(|t| t.status != TopicStatus::Deleted) {
                let key = Arc::new(TopicKey::from(topic));
                for partition in 0..topic.partitions {
                    let due = inner
                        .schedule
                        .due(key.topic_ref(), partition, until, inner.cfg.load_batch)
                        .await
                        .map_err(DelayError::store("read due schedule entries"))?;
                    if due.is_empty() {
                        continue;
                    }
                    let mut state = self.lock();
                    for (message_id, due_ms) in due {
                        added += usize::from(state.hold(&key, partition, &message_id, due_ms));
                    }
                }
            }
            if (topics.items.len() as u64) < TOPIC_PAGE {
                break;
            }
        }
        Ok(added)
    }

    /// Advances the wheel to the clock's time and fires what expired, partition by partition,
    /// in chunks; calls `on_fired` with what each call appended. Returns how many fired.
    ///
    /// Expired ids are forgotten whether or not they fired: those the store skipped were
    /// cancelled, rescheduled, fired by another instance or not yet due by the store's clock,
    /// and the loader adds back the ones still scheduled. On a store error the rest of the
    /// round is forgotten the same way and the error returned.
    pub async fn tick_once(&self) -> Result<usize, DelayError> {
        let batches = self.expire(self.inner.clock.now_ms());
        let mut fired_total = 0;
        let mut failure = None;
        for (topic, partition, entries) in batches {
            for chunk in entries.chunks(FIRE_CHUNK) {
                let fired = match failure {
                    Some(_) => Vec::new(),
                    None => {
                        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
                        match self.inner.schedule.fire(topic.topic_ref(), partition, &ids).await {
                            Ok(fired) => fired,
                            Err(source) => {
                                failure = Some(DelayError::store("fire due messages")(source));
                                Vec::new()
                            }
                        }
                    }
                };
                self.settle(chunk, &fired);
                if !fired.is_empty() {
                    fired_total += fired.len();
                    tracing::debug!(
                        topic = topic.name(),
                        partition,
                        fired = fired.len(),
                        "fired delayed messages"
                    );
                    (self.inner.on_fired)(topic.name(), partition, &fired);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(fired_total),
        }
    }

    /// Takes what expired by `now_ms` out of the wheel, skipping superseded entries, grouped
    /// by partition in the order each partition first falls due.
    fn expire(&self, now_ms: i64) -> Vec<Batch> {
        let mut state = self.lock();
        let expired = state.wheel.advance(now_ms);
        let mut batches: Vec<Batch> = Vec::new();
        let mut index: HashMap<(Arc<TopicKey>, u32), usize> = HashMap::new();
        for (due_ms, slot) in expired {
            if state.held.get(&slot.message_id) != Some(&due_ms) {
                continue;
            }
            let at = *index.entry((slot.topic.clone(), slot.partition)).or_insert_with(|| {
                batches.push((slot.topic.clone(), slot.partition, Vec::new()));
                batches.len() - 1
            });
            batches[at].2.push((slot.message_id, due_ms));
        }
        batches
    }

    /// Forgets a fired (or skipped) chunk and records the firings.
    fn settle(&self, chunk: &[(String, i64)], fired: &[Fired]) {
        let mut state = self.lock();
        for (message_id, due_ms) in chunk {
            state.release(message_id, *due_ms);
        }
        state.fired_total += fired.len() as u64;
        for f in fired {
            state.lateness.record(f.appended.timestamp_ms.saturating_sub(f.due_ms));
        }
    }

    /// A snapshot for monitoring: messages in the wheel, messages fired, recent lateness.
    pub fn stats(&self) -> DelayStats {
        let state = self.lock();
        DelayStats {
            wheel_len: state.held.len(),
            fired_total: state.fired_total,
            lateness_ms: state.lateness.summary(),
        }
    }

    /// Starts the scheduler's task: a load at once and every `load_interval_ms`, a tick every
    /// `tick_ms` (late ticks are delayed, not bunched). Loads run beside ticks, so a slow store
    /// listing never holds up firing. Store errors are logged and the round retried; the task
    /// ends promptly once `shutdown` turns true (or its sender is dropped).
    pub fn spawn(&self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let every = |ms: u64| {
                let mut interval = tokio::time::interval(Duration::from_millis(ms.max(1)));
                interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                interval
            };
            let mut ticks = every(this.inner.cfg.tick_ms);
            let mut loads = every(this.inner.cfg.load_interval_ms);
            let mut loading: Option<Loading> = None;
            while !*shutdown.borrow() {
                tokio::select! {
                    biased;
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    loaded = async {
                        match loading.as_mut() {
                            Some(load) => load.await,
                            None => std::future::pending().await,
                        }
                    }, if loading.is_some() => {
                        loading = None;
                        match loaded {
                            Ok(0) => {}
                            Ok(added) => tracing::debug!(added, "loaded delayed messages into the wheel"),
                            // The wheel keeps what it has; the next load tries again.
                            Err(error) => tracing::warn!(%error, "loading delayed messages failed"),
                        }
                    }
                    _ = loads.tick(), if loading.is_none() => {
                        let loader = this.clone();
                        loading = Some(Box::pin(async move { loader.load_once().await }));
                    }
                    _ = ticks.tick() => {
                        // What failed to fire is forgotten and comes back with the next load.
                        if let Err(error) = this.tick_once().await {
                            tracing::warn!(%error, "firing delayed messages failed");
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
