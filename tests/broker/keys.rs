//! Where mq's Redis keys live: a topic's partitions spread evenly over a cluster's masters, and
//! an audit of every command the broker sends while it exercises every feature: no command (or
//! Lua script) touches keys of two hash slots, and every key written has one of the shapes
//! ARCHITECTURE.md documents.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use fred::prelude::{ClientLike, Config, Value};
use fred::types::{ClusterHash, CustomCommand};
use mq_broker::{
    Broker, BrokerConfig, Delay, GroupSpec, MessageQueueConfig, MetadataConfig, Nack,
    OutgoingMessage, RetryRequest, RetrySelection, Sections, TopicUpdate, TxnOptions,
};
use mq_model::{DeliveryMode, Placement, RetryPolicy, StartFrom, TopicConfig};
use mq_repo::{LogProvider, MetadataProvider};
use mq_testkit::{RedisCluster, RedisServer};

use crate::scenarios::{ack_all, fetch, topic};

/// Counts the streams of `name`'s partitions on each master.
async fn partitions_per_master(cluster: &RedisCluster, name: &str) -> Vec<usize> {
    let pattern = format!("{}:*:{name}:*:s", cluster.key_prefix());
    let mut counts = Vec::new();
    for master in cluster.masters().await.unwrap() {
        counts.push(cluster.keys_on(master.addr, &pattern).await.unwrap().len());
    }
    counts.sort_unstable();
    counts
}

async fn broker_on_cluster(cluster: &RedisCluster) -> Broker {
    let config = BrokerConfig {
        message_queue: MessageQueueConfig {
            provider: LogProvider::RedisStreams,
            redis: cluster.config(),
            ..MessageQueueConfig::default()
        },
        metadata: MetadataConfig { provider: MetadataProvider::Memory },
        ..BrokerConfig::default()
    };
    Broker::open(&config).await.unwrap()
}

/// Creating a group makes every partition's stream, so the count of streams per master is
/// where the topic's partitions live.
async fn spread_topic(b: &Broker, name: &str, partitions: u32) {
    topic(b, name, partitions).await;
    b.create_group(GroupSpec::new(name, "g")).await.unwrap();
}

/// The promise: 12 partitions land 4 / 4 / 4 on three masters and 2 on each of six,
/// and growing a topic leaves every existing partition where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_partitions_spread_four_per_master_on_three_and_two_on_six() {
    let three = RedisCluster::start().await.unwrap();
    let b = broker_on_cluster(&three).await;
    for name in ["orders", "user-events", "payments.eu"] {
        spread_topic(&b, name, 12).await;
        assert_eq!(partitions_per_master(&three, name).await, [4, 4, 4], "{name}");
    }
    // Growing to 16 adds a generation; the first twelve partitions keep their messages.
    b.publish("orders", OutgoingMessage::new("kept").with_key("k")).await.unwrap();
    let update = TopicUpdate { partitions: Some(16), ..TopicUpdate::default() };
    b.update_topic("orders", update).await.unwrap();
    let got = fetch(&b, "orders", "g", "c", 10).await;
    assert_eq!(got.iter().map(|m| m.message.value.as_slice()).collect::<Vec<_>>(), [b"kept"]);
    let pattern = format!("{}:*:orders:*:s", three.key_prefix());
    let mut streams = 0;
    for master in three.masters().await.unwrap() {
        streams += three.keys_on(master.addr, &pattern).await.unwrap().len();
    }
    assert_eq!(streams, 16);
    b.shutdown().await;

    let six = RedisCluster::start_owned(6, 0).await.unwrap();
    let b = broker_on_cluster(&six).await;
    spread_topic(&b, "orders", 12).await;
    assert_eq!(partitions_per_master(&six, "orders").await, [2; 6]);
    b.shutdown().await;
}

/// Everything the broker can do, on one Redis with MONITOR watching: every command's keys (and
/// every key a script touches) share one slot, and every key has a documented shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_command_keeps_to_one_slot_and_every_key_to_the_documented_layout() {
    let redis = RedisServer::start_owned().await.unwrap();
    let monitor_log = tempfile::NamedTempFile::new().unwrap();
    let mut monitor = Command::new("redis-cli")
        .args(["-h", redis.host(), "-p", &redis.port().to_string(), "monitor"])
        .stdout(monitor_log.reopen().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-cli monitor");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let config = BrokerConfig {
        message_queue: MessageQueueConfig {
            provider: LogProvider::RedisStreams,
            redis: redis.config(),
            retention_interval_secs: 3600,
            ..MessageQueueConfig::default()
        },
        metadata: MetadataConfig { provider: MetadataProvider::Memory },
        ..BrokerConfig::default()
    };
    let b = Broker::open(&config).await.unwrap();
    workout(&b).await;
    b.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = monitor.kill();
    let _ = monitor.wait();

    let text = std::fs::read_to_string(monitor_log.path()).unwrap();
    let commands = parse_monitor(&text);
    assert!(commands.len() > 100, "MONITOR saw only {} commands", commands.len());
    let client =
        fred::prelude::Client::new(Config::from_url(redis.url()).unwrap(), None, None, None);
    client.init().await.unwrap();
    let prefix = redis.key_prefix();
    let mut shapes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut unknown = BTreeSet::new();
    for (top, inner) in &commands {
        let mut slots = BTreeSet::new();
        for args in std::iter::once(top).chain(inner) {
            for key in keys_of(&client, args).await {
                slots.insert(fred::util::redis_keyslot(key.as_bytes()));
                match shape(prefix, &key) {
                    Some(name) => *shapes.entry(name).or_default() += 1,
                    None => {
                        unknown.insert(key);
                    }
                }
            }
        }
        assert!(slots.len() <= 1, "{top:?} (with {inner:?}) touches slots {slots:?}");
    }
    assert!(unknown.is_empty(), "keys of no documented shape: {unknown:?}");
    let documented = [
        "partition stream",
        "partition meta",
        "partition schedule",
        "partition schedule payloads",
        "partition half messages",
        "group waiting set",
        "group failure histories",
        "by-name partition stream",
        "by-name partition meta",
        "counter series",
    ];
    let missing: Vec<&&str> = documented.iter().filter(|s| !shapes.contains_key(**s)).collect();
    assert!(missing.is_empty(), "the workout wrote no key of {missing:?}; seen: {shapes:?}");
    eprintln!("keys by shape: {shapes:?}");
    client.quit().await.unwrap();
}

/// The key shapes of ARCHITECTURE.md's Redis key layout.
fn shape(prefix: &str, key: &str) -> Option<&'static str> {
    let rest = key.strip_prefix(prefix)?.strip_prefix(':')?;
    if let Some(series) = rest.strip_prefix("stats:{") {
        return series.ends_with('}').then_some("counter series");
    }
    let (tag, after) = rest.strip_prefix('{')?.split_once('}')?;
    let suffix_shape = |suffix: &str, by_name: bool| -> Option<&'static str> {
        let name = match suffix.split_once(':').map_or((suffix, None), |(a, b)| (a, Some(b))) {
            ("s", None) => "stream",
            ("m", None) => "meta",
            ("dz", None) => "schedule",
            ("dp", None) => "schedule payloads",
            ("tx", None) => "half messages",
            ("w", Some(g)) if !g.is_empty() => "waiting set",
            ("h", Some(g)) if !g.is_empty() => "failure histories",
            _ => return None,
        };
        Some(match (name, by_name) {
            ("stream", false) => "partition stream",
            ("meta", false) => "partition meta",
            ("schedule", false) => "partition schedule",
            ("schedule payloads", false) => "partition schedule payloads",
            ("half messages", false) => "partition half messages",
            ("waiting set", _) => "group waiting set",
            ("failure histories", _) => "group failure histories",
            ("stream", true) => "by-name partition stream",
            ("meta", true) => "by-name partition meta",
            (_, true) => "by-name partition key",
            _ => return None,
        })
    };
    if tag.len() <= 4 && tag.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()) {
        // `{<slot tag>}:<topic>:<partition>:<suffix>`
        let after = after.strip_prefix(':')?;
        let (topic, rest) = after.split_once(':')?;
        let (partition, suffix) = rest.split_once(':')?;
        if topic.is_empty() || partition.parse::<u32>().is_err() {
            return None;
        }
        return suffix_shape(suffix, false);
    }
    // `{<topic>:<partition>}:<suffix>`, topics placed by name
    let (topic, partition) = tag.rsplit_once(':')?;
    if topic.is_empty() || partition.parse::<u32>().is_err() {
        return None;
    }
    suffix_shape(after.strip_prefix(':')?, true)
}

/// The keys of one command, as the server itself extracts them (`COMMAND GETKEYS`); none for
/// commands without keys.
async fn keys_of(client: &fred::prelude::Client, args: &[String]) -> Vec<String> {
    let command = CustomCommand::new_static("COMMAND", ClusterHash::Random, false);
    let mut all: Vec<Value> = vec!["GETKEYS".into()];
    all.extend(args.iter().map(|a| Value::from(a.as_str())));
    match client.custom::<Value, Value>(command, all).await {
        Ok(Value::Array(keys)) => keys.iter().filter_map(|k| k.as_string()).collect(),
        _ => Vec::new(),
    }
}

/// Commands from MONITOR output, each with the commands a script it started ran.
fn parse_monitor(text: &str) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let mut out: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once(" [") else { continue };
        let Some((origin, args)) = rest.split_once("] ") else { continue };
        let args = unquote_all(args);
        if args.is_empty() {
            continue;
        }
        if origin.ends_with(" lua") {
            if let Some(last) = out.last_mut() {
                last.1.push(args);
            }
        } else {
            out.push((args, Vec::new()));
        }
    }
    out
}

/// The `"…"`-quoted arguments of a MONITOR line, unescaped.
fn unquote_all(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        bytes.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
                    }
                    Some('n') => bytes.push(b'\n'),
                    Some('r') => bytes.push(b'\r'),
                    Some('t') => bytes.push(b'\t'),
                    Some(other) => bytes.extend(other.to_string().as_bytes()),
                    None => {}
                },
                other => bytes.extend(other.to_string().as_bytes()),
            }
        }
        args.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    args
}

/// Every feature that writes to Redis, once.
async fn workout(b: &Broker) {
    topic(b, "audit", 4).await;
    for (id, mode, retries) in [
        ("shared", DeliveryMode::Shared, 3),
        ("ordered", DeliveryMode::Ordered, 3),
        ("dies", DeliveryMode::Shared, 0),
    ] {
        let spec = GroupSpec {
            start_from: StartFrom::Earliest,
            delivery_mode: mode,
            ack_timeout_ms: 200,
            retry_policy: RetryPolicy {
                max_retries: retries,
                initial_backoff_ms: 0,
                ..RetryPolicy::default()
            },
            ..GroupSpec::new("audit", id)
        };
        b.create_group(spec).await.unwrap();
    }
    let batch: Vec<OutgoingMessage> =
        (0..20).map(|i| OutgoingMessage::new(format!("m{i}")).with_key(format!("k{i}"))).collect();
    b.publish_batch("audit", batch).await.unwrap();
    b.publish("audit", OutgoingMessage::new("no key")).await.unwrap();
    // Delayed: one fires, one is cancelled, one is moved.
    b.publish("audit", OutgoingMessage::new("soon").delayed_by(Duration::from_millis(100)))
        .await
        .unwrap();
    let hour = Duration::from_secs(3600);
    let cancel = b.publish("audit", OutgoingMessage::new("cancel").delayed_by(hour)).await.unwrap();
    let moved = b.publish("audit", OutgoingMessage::new("move").delayed_by(hour)).await.unwrap();
    b.cancel_scheduled(&cancel.message_id, None).await.unwrap();
    b.reschedule(&moved.message_id, Delay::Seconds(0.1), Some("audit")).await.unwrap();
    b.scheduled_counts("audit").await.unwrap();
    b.list_scheduled("audit", None, 10).await.unwrap();
    // Transactions: one committed, one rolled back.
    let commit = b
        .prepare_transaction("audit", OutgoingMessage::new("txn"), TxnOptions::default())
        .await
        .unwrap()
        .transaction;
    b.commit_transaction(&commit.transaction_id).await.unwrap();
    let rollback = b
        .prepare_transaction("audit", OutgoingMessage::new("no"), TxnOptions::default())
        .await
        .unwrap()
        .transaction;
    b.rollback_transaction(&rollback.transaction_id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Consumed, acknowledged, nacked, extended, released; one group dead-letters.
    let shared = fetch(b, "audit", "shared", "c1", 100).await;
    assert!(shared.len() >= 20, "{}", shared.len());
    let (first, rest) = shared.split_at(2);
    b.nack("audit", "shared", &[first[0].receipt.clone()], &Nack::because("bad")).await.unwrap();
    b.extend("audit", "shared", &[first[1].receipt.clone()], Duration::from_millis(100))
        .await
        .unwrap();
    b.release("audit", "shared", &[rest[0].receipt.clone()]).await.unwrap();
    ack_all(b, "audit", "shared", &rest[1..]).await;
    let ordered = fetch(b, "audit", "ordered", "c1", 100).await;
    ack_all(b, "audit", "ordered", &ordered).await;
    let dies = fetch(b, "audit", "dies", "c1", 5).await;
    let receipts: Vec<String> = dies.iter().map(|m| m.receipt.clone()).collect();
    b.nack("audit", "dies", &receipts, &Nack::because("poison")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Expired deliveries are found by the next fetch.
    fetch(b, "audit", "shared", "c2", 100).await;
    let retry = RetryRequest {
        selection: RetrySelection::Group {
            topic_name: "audit".into(),
            group_id: "dies".into(),
            from: None,
            to: None,
        },
        rate_per_second: None,
    };
    b.retry_dead_letters(&retry).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    fetch(b, "audit", "dies", "c1", 100).await;

    // Reads, monitoring, counters, retention.
    b.browse("audit", 0, 0, 10).await.unwrap();
    b.consumers(Some("audit"), None).await.unwrap();
    b.group_partitions("audit", "shared").await.unwrap();
    b.monitoring(None, Duration::from_secs(60), Sections::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await; // the rate flush
    b.trim_all().await.unwrap();

    // A topic placed by name, as one created before placements existed.
    let mut legacy = TopicConfig { partitions: 2, ..b.topic_defaults("legacy") }
        .into_topic("topic_legacy".into(), String::new(), chrono::Utc::now())
        .unwrap();
    legacy.placement = Placement::default();
    b.metadata().topics.create(legacy).await.unwrap();
    b.publish("legacy", OutgoingMessage::new("old")).await.unwrap();
    b.create_group(GroupSpec { start_from: StartFrom::Earliest, ..GroupSpec::new("legacy", "g") })
        .await
        .unwrap();
    let old = fetch(b, "legacy", "g", "c", 10).await;
    ack_all(b, "legacy", "g", &old).await;

    // Growth and deletion.
    b.update_topic("audit", TopicUpdate { partitions: Some(6), ..TopicUpdate::default() })
        .await
        .unwrap();
    b.delete_group("audit", "ordered").await.unwrap();
    b.delete_topic("audit").await.unwrap();
}
