//! The fixtures give real servers that answer, keep fixtures apart, and go away on `stop()`.

use std::time::Duration;

use mq_testkit::{MongoServer, RedisServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    tokio::time::timeout(Duration::from_secs(2), TcpStream::connect((host, port)))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
}

async fn redis_ping(host: &str, port: u16) -> std::io::Result<String> {
    let mut stream = connect(host, port).await?;
    stream.write_all(b"PING\r\n").await?;
    let mut reply = [0_u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut reply)).await??;
    Ok(String::from_utf8_lossy(&reply[..n]).into_owned())
}

#[tokio::test]
async fn redis_fixture_answers_ping() {
    let redis = RedisServer::start().await.unwrap();
    let reply = redis_ping(redis.host(), redis.port()).await.unwrap();
    assert!(reply.starts_with("+PONG"), "{redis:?} answered {reply:?}");
    let config = redis.config();
    config.validate().unwrap();
    assert_eq!(config.url.as_deref(), Some(redis.url()));
    assert_eq!(config.key_prefix, redis.key_prefix());
}

#[tokio::test]
async fn mongo_fixture_accepts_connections() {
    let mongo = MongoServer::start().await.unwrap();
    connect(mongo.host(), mongo.port()).await.unwrap();
    let config = mongo.config();
    config.validate().unwrap();
    assert_eq!(config.uri, mongo.uri());
    assert_eq!(config.database, mongo.database());
}

#[tokio::test]
async fn fixtures_are_kept_apart() {
    // Configs only: two fixtures on the same shared server must still differ.
    let (a, b) = (RedisServer::start().await.unwrap(), RedisServer::start().await.unwrap());
    assert_ne!(a.config().key_prefix, b.config().key_prefix);
    let (c, d) = (MongoServer::start().await.unwrap(), MongoServer::start().await.unwrap());
    assert_ne!(c.config().database, d.config().database);
    assert!(c.database().len() <= 63 && !c.database().contains('.'), "{}", c.database());
}

#[tokio::test]
async fn stopped_redis_refuses_connections() {
    let mut redis = RedisServer::start_owned().await.unwrap();
    assert!(redis.is_owned());
    redis_ping(redis.host(), redis.port()).await.unwrap();
    redis.stop();
    assert!(redis_ping(redis.host(), redis.port()).await.is_err(), "{redis:?} still answers");
    // A second stop is harmless.
    redis.stop();
}

#[tokio::test]
async fn stopped_mongo_refuses_connections() {
    let mut mongo = MongoServer::start_owned().await.unwrap();
    assert!(mongo.is_owned());
    connect(mongo.host(), mongo.port()).await.unwrap();
    mongo.stop();
    assert!(connect(mongo.host(), mongo.port()).await.is_err(), "{mongo:?} still accepts");
}

#[tokio::test]
async fn owned_fixtures_spawn_their_own_servers() {
    // Two owned servers at once get different ports (and processes).
    let a = RedisServer::start_owned().await.unwrap();
    let b = RedisServer::start_owned().await.unwrap();
    assert_ne!((a.host(), a.port()), (b.host(), b.port()));
}

#[tokio::test]
async fn cluster_fixture_serves_every_slot_on_three_masters() {
    let cluster = mq_testkit::RedisCluster::start().await.unwrap();
    let masters = cluster.masters().await.unwrap();
    assert_eq!(masters.len(), 3, "{masters:?}");
    let covered: u32 =
        masters.iter().flat_map(|m| m.slots.iter().map(|(a, b)| u32::from(b - a) + 1)).sum();
    assert_eq!(covered, 16384);
    let config = cluster.config();
    config.validate().unwrap();
    assert_eq!(config.topology(), mq_repo::RedisTopology::Cluster);
    assert!(cluster.url().starts_with("redis-cluster://"), "{}", cluster.url());
    assert_eq!(cluster.master_of(0).await.unwrap().slots[0].0, 0);
}

#[tokio::test]
async fn sentinel_fixture_promotes_the_replica_when_the_master_dies() {
    let mut sentinel = mq_testkit::RedisSentinel::start_owned().await.unwrap();
    let config = sentinel.config();
    config.validate().unwrap();
    assert_eq!(config.topology(), mq_repo::RedisTopology::Sentinel);
    let replica = sentinel.replica_addr();
    redis_ping(&replica.ip().to_string(), replica.port()).await.unwrap();
    sentinel.kill_master();
    sentinel.wait_promoted(Duration::from_secs(30)).await.unwrap();
}
