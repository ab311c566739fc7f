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
