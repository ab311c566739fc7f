//! Storage behaviour beyond the conformance suites: a Redis or MongoDB that is down, or goes
//! away mid-use, gives a typed error within the configured bounds, never a panic or a hang.
// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use mq_model::{MessageType, Page};
use mq_repo::{
    MessageLog, MongoConfig, MongoMetadata, NewRecord, RedisConfig, RedisMessageLog, RepoError,
    TopicFilter, TopicRef, TopicRepository,
};
use mq_testkit::{MongoServer, RedisServer};

/// Far above every configured bound below: reaching it means something hung.
const HANG: Duration = Duration::from_secs(20);

/// A port nothing listens on (bound, read, released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn rec() -> NewRecord {
    NewRecord {
        message_id: "m".into(),
        key: None,
        value: b"v".to_vec(),
        headers: BTreeMap::new(),
        producer_id: None,
        message_type: MessageType::Normal,
        dedup: None,
    }
}

fn assert_unavailable(err: &RepoError) {
    assert!(err.is_unavailable(), "expected a store-unavailable error, got {err:?}");
}

#[tokio::test]
async fn redis_down_at_connect_is_a_typed_error() {
    let cfg = RedisConfig {
        url: Some(format!("redis://127.0.0.1:{}", closed_port())),
        connect_timeout_ms: 500,
        command_timeout_ms: 500,
        ..RedisConfig::default()
    };
    let result =
        tokio::time::timeout(HANG, RedisMessageLog::connect(&cfg)).await.expect("connect hung");
    assert_unavailable(&result.unwrap_err());
}

#[tokio::test]
async fn redis_going_away_gives_typed_errors() {
    let mut server = RedisServer::start_owned().await.unwrap();
    let log = RedisMessageLog::connect(&server.config()).await.unwrap();
    log.append(TopicRef::named("t"), 0, vec![rec()]).await.unwrap();
    server.stop();
    let err = tokio::time::timeout(HANG, log.append(TopicRef::named("t"), 0, vec![rec()]))
        .await
        .expect("append hung");
    assert_unavailable(&err.unwrap_err());
    let err = tokio::time::timeout(HANG, log.read_range(TopicRef::named("t"), 0, 0, 10))
        .await
        .expect("read hung");
    assert_unavailable(&err.unwrap_err());
}

#[tokio::test]
async fn mongo_down_at_connect_is_a_typed_error() {
    let cfg = MongoConfig {
        uri: format!("mongodb://127.0.0.1:{}", closed_port()),
        connect_timeout_ms: 500,
        server_selection_timeout_ms: 500,
        operation_timeout_ms: 1_000,
        ..MongoConfig::default()
    };
    let result =
        tokio::time::timeout(HANG, MongoMetadata::connect(&cfg)).await.expect("connect hung");
    assert_unavailable(&result.unwrap_err());
}

#[tokio::test]
async fn mongo_going_away_gives_typed_errors() {
    let mut server = MongoServer::start_owned().await.unwrap();
    let meta = MongoMetadata::connect(&server.config()).await.unwrap();
    TopicRepository::list(&meta, &TopicFilter::default(), Page::default()).await.unwrap();
    server.stop();
    let err =
        tokio::time::timeout(HANG, TopicRepository::get(&meta, "orders")).await.expect("get hung");
    assert_unavailable(&err.unwrap_err());
}

/// Plays a Redis that lost acknowledged writes (as a failover to a lagging replica does): the
/// partition's last three entries and its counter go back. The log that handed out those
/// offsets skips past them instead of handing them out again, and records the skip; a fresh
/// log that read the partition's end before the loss does the same.
#[tokio::test]
async fn lost_writes_never_give_an_offset_out_twice() {
    use fred::prelude::{ClientLike, Config, HashesInterface, KeysInterface, StreamsInterface};

    let server = RedisServer::start().await.unwrap();
    let log = RedisMessageLog::connect(&server.config()).await.unwrap();
    let other = RedisMessageLog::connect(&server.config()).await.unwrap();
    let topic = TopicRef::spread("orders", &[2]);
    for partition in 0..2 {
        let landed = log.append(topic, partition, (0..5).map(|_| rec()).collect()).await.unwrap();
        assert_eq!(landed.last().unwrap().offset, 4);
    }
    // The other log only read partition 1's end.
    assert_eq!(other.partition_stats(topic, 1).await.unwrap().end_offset, 5);

    let raw = fred::prelude::Client::new(Config::from_url(server.url()).unwrap(), None, None, None);
    raw.init().await.unwrap();
    for partition in 0..2 {
        let base =
            mq_repo::__bench::partition_key_base(server.key_prefix(), "orders", &[2], partition);
        let (stream, meta) = (format!("{base}:s"), format!("{base}:m"));
        let _: u64 = raw.xdel(&stream, vec!["2-1", "3-1", "4-1"]).await.unwrap();
        let _: () = raw
            .custom(
                fred::types::CustomCommand::new_static(
                    "XSETID",
                    fred::types::ClusterHash::FirstKey,
                    false,
                ),
                vec![stream.clone(), "1-1".to_owned()],
            )
            .await
            .unwrap();
        let _: () = raw.hset(&meta, ("next", "2")).await.unwrap();
        assert!(raw.exists::<u64, _>(&meta).await.unwrap() == 1);
    }

    let after = log.append(topic, 0, vec![rec()]).await.unwrap();
    assert_eq!(after[0].offset, 5, "offsets 2 to 4 were handed out before");
    let after = other.append(topic, 1, vec![rec()]).await.unwrap();
    assert_eq!(after[0].offset, 5, "the end this log read before");
    for partition in 0..2 {
        let stats = log.partition_stats(topic, partition).await.unwrap();
        let rollback = stats.last_rollback.expect("the skip is recorded");
        assert_eq!((rollback.from, rollback.to), (2, 5));
        assert_eq!(stats.end_offset, 6);
    }
    raw.quit().await.unwrap();
}

/// A topic deleted and created again under the same name starts at offset 0 again, even for a
/// log that handed out offsets of the old one: the floor belongs to the partition's epoch.
#[tokio::test]
async fn a_topic_created_again_starts_over() {
    let server = RedisServer::start().await.unwrap();
    let log = RedisMessageLog::connect(&server.config()).await.unwrap();
    let other = RedisMessageLog::connect(&server.config()).await.unwrap();
    let topic = TopicRef::spread("again", &[1]);
    log.append(topic, 0, (0..3).map(|_| rec()).collect()).await.unwrap();
    other.delete_topic(topic, 1).await.unwrap();
    let landed = log.append(topic, 0, vec![rec()]).await.unwrap();
    assert_eq!(landed[0].offset, 0);
    assert!(log.partition_stats(topic, 0).await.unwrap().last_rollback.is_none());
}

/// A uri's own `serverSelectionTimeoutMS` wins over `mongodb.server_selection_timeout_ms`: an
/// unreachable server is given up on after the uri's 300 ms, not the config's 8 s.
#[tokio::test]
async fn the_uri_s_own_timeouts_win() {
    let cfg = MongoConfig {
        uri: format!("mongodb://127.0.0.1:{}/?serverSelectionTimeoutMS=300", closed_port()),
        server_selection_timeout_ms: 8_000,
        operation_timeout_ms: 9_000,
        ..MongoConfig::default()
    };
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(HANG, MongoMetadata::connect(&cfg)).await.expect("hung");
    assert_unavailable(&result.unwrap_err());
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}
