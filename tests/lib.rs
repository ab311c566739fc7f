//! Shared harness of mq's cross-crate tests: each store on each backend, ready to use, with the
//! server it needs kept alive for as long as the test holds the fixture.
#![allow(clippy::expect_used)] // A fixture that cannot start fails its test with the message.

pub mod recorder;
use std::sync::Arc;

use mq_broker::{Broker, BrokerConfig, MessageQueueConfig};
use mq_repo::{
    HalfMessageStore, LogProvider, MemoryMessageLog, MemoryMetadata, MessageLog, MessageStores,
    MetadataProvider, MetadataStores, MongoMetadata, RedisMessageLog, ScheduleStore,
};
use mq_testkit::{MongoServer, RedisCluster, RedisServer};

/// A message log, its schedule and its half messages under test (one store), and the server
/// behind them if any.
#[derive(Debug)]
pub struct LogUnderTest {
    /// The log.
    pub log: Arc<dyn MessageLog>,
    /// The schedule of delayed messages, served by the same store as the log.
    pub schedule: Arc<dyn ScheduleStore>,
    /// The half messages of transactions, served by the same store as the log.
    pub half: Arc<dyn HalfMessageStore>,
    /// The time-bucketed counters, served by the same store as the log.
    pub stats: Arc<dyn mq_repo::StatsStore>,
    _server: Option<RedisBacking>,
}

/// What keeps a Redis log's server alive: one server or a cluster.
#[derive(Debug)]
pub enum RedisBacking {
    /// One `redis-server`.
    Server(RedisServer),
    /// A Redis Cluster.
    Cluster(RedisCluster),
}

impl LogUnderTest {
    fn new(stores: MessageStores, server: Option<RedisBacking>) -> Self {
        Self {
            log: stores.log,
            schedule: stores.schedule,
            half: stores.half,
            stats: stores.stats,
            _server: server,
        }
    }

    /// The log, the schedule, the half messages and the counters, as the broker takes them.
    pub fn stores(&self) -> MessageStores {
        MessageStores {
            log: self.log.clone(),
            schedule: self.schedule.clone(),
            half: self.half.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// The in-memory message log and schedule.
pub async fn memory_log() -> LogUnderTest {
    LogUnderTest::new(MessageStores::from_shared(Arc::new(MemoryMessageLog::default())), None)
}

/// The Redis message log and schedule on a real Redis of its own (see `mq-testkit` for where
/// it comes from).
pub async fn redis_log() -> LogUnderTest {
    let server = RedisServer::start().await.expect("a Redis server for the test");
    let log = RedisMessageLog::connect(&server.config()).await.expect("connect to the test Redis");
    LogUnderTest::new(MessageStores::from_shared(Arc::new(log)), Some(RedisBacking::Server(server)))
}

/// The Redis message log on a Redis Cluster (`MQTEST_REDIS_CLUSTER_URL`, shared, or one of
/// its own; see `mq-testkit`).
pub async fn cluster_log() -> LogUnderTest {
    let cluster = RedisCluster::start().await.expect("a Redis Cluster for the test");
    let log = RedisMessageLog::connect(&cluster.config()).await.expect("connect to the cluster");
    LogUnderTest::new(
        MessageStores::from_shared(Arc::new(log)),
        Some(RedisBacking::Cluster(cluster)),
    )
}

/// Metadata repositories under test, and the server behind them if any.
#[derive(Debug)]
pub struct MetaUnderTest {
    /// The repositories.
    pub stores: MetadataStores,
    _server: Option<MongoServer>,
}

/// The in-memory metadata repositories.
pub async fn memory_meta() -> MetaUnderTest {
    MetaUnderTest { stores: MemoryMetadata::stores(), _server: None }
}

/// The MongoDB metadata repositories on a real MongoDB-wire server with a database of its own.
pub async fn mongo_meta() -> MetaUnderTest {
    let server = MongoServer::start().await.expect("a MongoDB-wire server for the test");
    let meta = MongoMetadata::connect(&server.config()).await.expect("connect to the test MongoDB");
    MetaUnderTest { stores: MetadataStores::from_shared(Arc::new(meta)), _server: Some(server) }
}

/// A broker under test, and the servers behind it if any.
#[derive(Debug)]
pub struct BrokerUnderTest {
    /// The broker.
    pub broker: Broker,
    /// The config it was opened with (Redis + MongoDB only), to reopen it as after a restart.
    pub config: Option<BrokerConfig>,
    /// The in-memory stores behind it (memory only), for a second instance over the same data.
    stores: Option<(mq_repo::MessageStores, MetadataStores)>,
    _servers: Option<(RedisBacking, MongoServer)>,
}

/// Retention off for tests unless a test runs it itself; transactions checked back quickly
/// (every 50 ms, 100 ms apart, three times; decisions left unapplied are applied after 300 ms).
fn test_queue_config() -> MessageQueueConfig {
    // Alerts are evaluated by the tests themselves (`evaluate_alerts`), not every 15 s.
    let alerts = mq_broker::AlertConfig { enabled: false, ..mq_broker::AlertConfig::default() };
    let transactions = mq_broker::TxnConfig {
        check_interval_ms: 50,
        check_backoff_ms: 100,
        max_check_backoff_ms: 100,
        max_checks: 3,
        apply_grace_ms: 300,
        checkback_timeout_ms: 500,
        lease_ms: 2_000,
        ..mq_broker::TxnConfig::default()
    };
    MessageQueueConfig {
        retention_interval_secs: 3600,
        transactions,
        alerts,
        ..MessageQueueConfig::default()
    }
}

/// A broker over the in-memory stores, its background tasks running. Call from a Tokio runtime.
pub async fn memory_broker() -> BrokerUnderTest {
    let messages = mq_repo::MessageStores::from_shared(Arc::new(MemoryMessageLog::default()));
    let meta = MemoryMetadata::stores();
    let broker = memory_instance(&messages, &meta);
    BrokerUnderTest { broker, config: None, stores: Some((messages, meta)), _servers: None }
}

fn memory_instance(messages: &mq_repo::MessageStores, meta: &MetadataStores) -> Broker {
    let broker = Broker::new(
        messages.clone(),
        meta.clone(),
        test_queue_config(),
        Arc::new(mq_model::SystemClock),
    );
    broker.start_background();
    broker
}

impl BrokerUnderTest {
    /// Another broker instance over the same stores with its queue config changed by `change`
    /// (e.g. alert webhooks), its background tasks running.
    pub async fn instance_with(&self, change: impl FnOnce(&mut MessageQueueConfig)) -> Broker {
        match (&self.config, &self.stores) {
            (Some(config), _) => {
                let mut config = config.clone();
                change(&mut config.message_queue);
                Broker::open(&config).await.expect("open a reconfigured instance")
            }
            (None, Some((messages, meta))) => {
                let mut cfg = test_queue_config();
                change(&mut cfg);
                let broker = Broker::new(
                    messages.clone(),
                    meta.clone(),
                    cfg,
                    Arc::new(mq_model::SystemClock),
                );
                broker.start_background();
                broker
            }
            (None, None) => unreachable!("a broker under test has a config or in-memory stores"),
        }
    }

    /// The metadata repositories behind the broker, for tests that play a crashed instance
    /// by writing to them directly.
    pub async fn metadata(&self) -> MetadataStores {
        match (&self.config, &self.stores) {
            (Some(config), _) => mq_repo::open_metadata(MetadataProvider::Mongodb, &config.mongodb)
                .await
                .expect("open the test MongoDB"),
            (None, Some((_, meta))) => meta.clone(),
            (None, None) => unreachable!("a broker under test has a config or in-memory stores"),
        }
    }

    /// Another broker instance over the same stores, as a second server process would be.
    pub async fn second_instance(&self) -> Broker {
        match (&self.config, &self.stores) {
            (Some(config), _) => Broker::open(config).await.expect("open a second instance"),
            (None, Some((messages, meta))) => memory_instance(messages, meta),
            (None, None) => unreachable!("a broker under test has a config or in-memory stores"),
        }
    }
}

/// A broker opened from config over a real Redis and a real MongoDB-wire server.
pub async fn real_broker() -> BrokerUnderTest {
    let redis = RedisServer::start().await.expect("a Redis server for the test");
    let config = redis.config();
    broker_on(RedisBacking::Server(redis), config).await
}

/// A broker opened from config over a Redis Cluster (see [`cluster_log`]) and a real
/// MongoDB-wire server.
pub async fn cluster_broker() -> BrokerUnderTest {
    let cluster = RedisCluster::start().await.expect("a Redis Cluster for the test");
    let config = cluster.config();
    broker_on(RedisBacking::Cluster(cluster), config).await
}

async fn broker_on(redis: RedisBacking, redis_config: mq_repo::RedisConfig) -> BrokerUnderTest {
    let mongo = MongoServer::start().await.expect("a MongoDB-wire server for the test");
    let mut message_queue = test_queue_config();
    message_queue.provider = LogProvider::RedisStreams;
    message_queue.redis = redis_config;
    let config = BrokerConfig {
        message_queue,
        metadata: mq_broker::MetadataConfig { provider: MetadataProvider::Mongodb },
        mongodb: mongo.config(),
    };
    let broker = Broker::open(&config).await.expect("open the broker on Redis + MongoDB");
    BrokerUnderTest { broker, config: Some(config), stores: None, _servers: Some((redis, mongo)) }
}
