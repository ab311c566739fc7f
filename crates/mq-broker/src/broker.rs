//! The [`Broker`] handle: stores, config, caches and background tasks shared by every clone.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mq_delay::DelayScheduler;
use mq_dlq::DeadLetters;
use mq_model::{Clock, ConsumerGroup, SystemClock, Topic, TransactionState};
use mq_repo::{
    open_message_stores, open_metadata, HalfMessageStore, MessageLog, MessageStores,
    MetadataStores, RepoError, ScheduleStore, StatsStore,
};
use mq_txn::Transactions;

use crate::commits::CommitTimes;
use crate::metrics::Metrics;
use crate::rates::RateCounts;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::config::{BrokerConfig, MessageQueueConfig};
use crate::{BrokerError, BrokerResult};

/// How long [`Broker::ready`] waits for the stores: well under the second a load balancer's
/// probe usually allows.
pub const READY_WITHIN: Duration = Duration::from_millis(800);

/// How long a topic or group read from the metadata store is trusted before it is read again.
/// Other broker instances' changes become visible within this time.
const TOPIC_CACHE_TTL: Duration = Duration::from_secs(1);

/// The broker. Cheap to clone: clones share stores, caches and background tasks.
#[derive(Debug, Clone)]
pub struct Broker {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) log: Arc<dyn MessageLog>,
    pub(crate) schedule: Arc<dyn ScheduleStore>,
    pub(crate) delay: DelayScheduler,
    pub(crate) dead_letters: DeadLetters,
    pub(crate) txns: Transactions,
    pub(crate) metrics: Metrics,
    pub(crate) rates: Arc<RateCounts>,
    /// The latest ack time of each group, not yet written to its metadata.
    pub(crate) commits: CommitTimes,
    pub(crate) stats: Arc<dyn StatsStore>,
    pub(crate) half: Arc<dyn HalfMessageStore>,
    pub(crate) alerts: crate::alerts::AlertState,
    pub(crate) meta: MetadataStores,
    pub(crate) cfg: MessageQueueConfig,
    pub(crate) clock: Arc<dyn Clock>,
    /// The keys of encrypted topics, decoded once.
    pub(crate) keyring: crate::crypto::Keyring,
    topics: Mutex<HashMap<String, (Topic, Instant)>>,
    /// Groups by (topic, group id), read at most once per TTL: every fetch and ack needs one.
    groups: Mutex<HashMap<(String, String), (ConsumerGroup, Instant)>>,
    /// Round-robin position for messages without a key.
    pub(crate) next_partition: AtomicU64,
    /// Rotates the partition a shared-mode fetch starts with, so no partition starves.
    pub(crate) next_fetch_start: AtomicU64,
    /// Woken on every publish (and firing of delayed messages), so long polls return as soon
    /// as something arrives.
    pub(crate) published: Arc<Notify>,
    /// Consumers' heartbeats: taken at most a few times per session, written in batches.
    pub(crate) heartbeats: crate::membership::Heartbeats,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A poisoned lock only means a panic elsewhere mid-update of a cache; the cache stays usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Broker {
    /// A broker over explicit stores, with no background tasks (see
    /// [`start_background`](Self::start_background)).
    pub fn new(
        messages: MessageStores,
        meta: MetadataStores,
        cfg: MessageQueueConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (shutdown, _) = watch::channel(false);
        let published = Arc::new(Notify::new());
        let metrics = Metrics::new();
        let rates = Arc::new(RateCounts::default());
        let (woken, fired_metrics, fired_rates, fired_clock) =
            (published.clone(), metrics.clone(), rates.clone(), clock.clone());
        let delay = DelayScheduler::new(
            messages.schedule.clone(),
            meta.topics.clone(),
            clock.clone(),
            cfg.delay.clone(),
            Arc::new(move |topic: &str, partition: u32, fired: &[mq_repo::Fired]| {
                let n = fired.len() as u64;
                fired_metrics.published.with_label_values(&[topic]).inc_by(n);
                let series = crate::rates::published_series(topic, partition);
                fired_rates.add(series, fired_clock.now_ms(), n);
                woken.notify_waiters();
            }),
        );
        let dead_letters =
            DeadLetters::new(meta.dead_letters.clone(), messages.schedule.clone(), clock.clone());
        let (committed, txn_metrics, txn_rates, txn_clock) =
            (published.clone(), metrics.clone(), rates.clone(), clock.clone());
        let txns = Transactions::new(
            messages.half.clone(),
            meta.transactions.clone(),
            clock.clone(),
            cfg.transactions.clone(),
            Arc::new(move |topic: &str, partition: u32, state: TransactionState| match state {
                TransactionState::Committed => {
                    txn_metrics.committed.with_label_values(&[topic]).inc();
                    txn_metrics.published.with_label_values(&[topic]).inc();
                    let series = crate::rates::published_series(topic, partition);
                    txn_rates.add(series, txn_clock.now_ms(), 1);
                    committed.notify_waiters();
                }
                TransactionState::RolledBack => {
                    txn_metrics.rolled_back.with_label_values(&[topic]).inc();
                }
                TransactionState::Prepared => {}
            }),
        );
        // `open` validates the keys first; a caller of `new` with bad keys gets a broker that
        // refuses encrypted topics (each refusal says why) instead of a panic.
        let keyring =
            crate::crypto::Keyring::from_config(&cfg.encryption).unwrap_or_else(|error| {
                tracing::error!(%error, "encryption keys unusable; encrypted topics are refused");
                crate::crypto::Keyring::default()
            });
        Self {
            inner: Arc::new(Inner {
                keyring,
                dead_letters,
                txns,
                metrics,
                rates,
                commits: CommitTimes::default(),
                stats: messages.stats,
                half: messages.half.clone(),
                alerts: crate::alerts::AlertState::default(),
                log: messages.log,
                schedule: messages.schedule,
                delay,
                meta,
                cfg,
                clock,
                topics: Mutex::default(),
                groups: Mutex::default(),
                next_partition: AtomicU64::new(0),
                next_fetch_start: AtomicU64::new(0),
                published,
                heartbeats: crate::membership::Heartbeats::default(),
                shutdown,
                tasks: Mutex::default(),
            }),
        }
    }

    /// Opens the stores the config names (connecting to Redis and MongoDB and creating indexes
    /// as needed) and starts the background tasks. Must run inside a Tokio runtime.
    pub async fn open(cfg: &BrokerConfig) -> BrokerResult<Self> {
        cfg.validate()?;
        let messages =
            open_message_stores(cfg.message_queue.provider, &cfg.message_queue.redis).await?;
        let meta = open_metadata(cfg.metadata.provider, &cfg.mongodb).await?;
        let broker = Self::new(messages, meta, cfg.message_queue.clone(), Arc::new(SystemClock));
        broker.start_background();
        Ok(broker)
    }

    /// Starts the background tasks (retention, the delayed-message scheduler, transaction
    /// check-backs, the flush of message rates and groups' last ack times, alert evaluation).
    /// Call once.
    pub fn start_background(&self) {
        let retention = tokio::spawn(crate::retention::run(self.clone(), self.shutdown_signal()));
        let delay = self.inner.delay.spawn(self.shutdown_signal());
        let txns = self.inner.txns.spawn(self.shutdown_signal());
        let rates = self.spawn_rate_flusher(self.shutdown_signal());
        let alerts = self.spawn_alerts(self.shutdown_signal());
        lock(&self.inner.tasks).extend([retention, delay, txns, rates, alerts]);
    }

    /// This instance's metrics, for `GET /metrics` and for other layers' series.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Stops taking work: long polls return at once, subscriptions and background tasks end.
    /// Waits for background tasks to finish.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        self.inner.published.notify_waiters();
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        for task in tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "background task ended abnormally");
            }
        }
    }

    /// True once [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// A receiver that turns `true` when the broker shuts down.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    pub(crate) fn refuse_if_shutting_down(&self) -> BrokerResult<()> {
        if self.is_shutting_down() {
            Err(BrokerError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// Checks that both stores answer, both at once, within [`READY_WITHIN`]: a store that is
    /// down or slow makes this fail in under a second rather than after its own timeouts. The
    /// probes run as tasks of their own, so one that outlives the answer finishes rather than
    /// being dropped mid-operation (which would cost the driver its connection).
    pub async fn ready(&self) -> BrokerResult<()> {
        const PROBE: &str = "mq-readiness-probe";
        let log = self.inner.log.clone();
        let redis = tokio::spawn(async move {
            log.partition_stats(mq_repo::TopicRef::named(PROBE), 0).await.map(drop)
        });
        let topics = self.inner.meta.topics.clone();
        let mongo = tokio::spawn(async move { topics.get(PROBE).await.map(drop) });
        let within = |task: JoinHandle<Result<(), RepoError>>, backend, op| async move {
            match tokio::time::timeout(READY_WITHIN, task).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) | Err(_) => Err(RepoError::Timeout { backend, op, after: READY_WITHIN }),
            }
        };
        let (redis, mongo) = tokio::join!(
            within(redis, self.inner.log.backend(), "readiness probe"),
            within(mongo, mq_repo::Backend::MongoDb, "readiness probe"),
        );
        redis?;
        mongo?;
        Ok(())
    }

    /// The metadata repositories (for layers above that keep their own records there, such as
    /// the REST API's tokens and audit log).
    pub fn metadata(&self) -> &MetadataStores {
        &self.inner.meta
    }

    /// The message log (for tools and tests that need the storage view).
    pub fn message_log(&self) -> &Arc<dyn MessageLog> {
        &self.inner.log
    }

    /// The topic, from the cache when fresh.
    pub(crate) async fn cached_topic(&self, name: &str) -> BrokerResult<Option<Topic>> {
        if let Some((topic, at)) = lock(&self.inner.topics).get(name) {
            if at.elapsed() < TOPIC_CACHE_TTL {
                return Ok(Some(topic.clone()));
            }
        }
        let topic = self.inner.meta.topics.get(name).await?;
        let mut cache = lock(&self.inner.topics);
        match &topic {
            Some(t) => {
                cache.insert(name.to_owned(), (t.clone(), Instant::now()));
            }
            None => {
                cache.remove(name);
            }
        }
        Ok(topic)
    }

    /// The topic, or `TopicNotFound`.
    pub(crate) async fn existing_topic(&self, name: &str) -> BrokerResult<Topic> {
        self.cached_topic(name).await?.ok_or_else(|| BrokerError::topic_not_found(name))
    }

    pub(crate) fn forget_topic(&self, name: &str) {
        lock(&self.inner.topics).remove(name);
        lock(&self.inner.groups).retain(|(topic, _), _| topic != name);
    }

    /// The group, from the cache when fresh, or `GroupNotFound`.
    pub(crate) async fn existing_group(
        &self,
        topic: &str,
        group: &str,
    ) -> BrokerResult<ConsumerGroup> {
        let key = (topic.to_owned(), group.to_owned());
        if let Some((found, at)) = lock(&self.inner.groups).get(&key) {
            if at.elapsed() < TOPIC_CACHE_TTL {
                return Ok(found.clone());
            }
        }
        let found = self.inner.meta.groups.get(topic, group).await?;
        let mut cache = lock(&self.inner.groups);
        match found {
            Some(found) => {
                cache.insert(key, (found.clone(), Instant::now()));
                Ok(found)
            }
            None => {
                cache.remove(&key);
                Err(BrokerError::group_not_found(topic, group))
            }
        }
    }

    pub(crate) fn forget_group(&self, topic: &str, group: &str) {
        lock(&self.inner.groups).remove(&(topic.to_owned(), group.to_owned()));
    }
}
