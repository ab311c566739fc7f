//! Encryption at rest (design §7.2): topics with `config.encryption = "aes-256-gcm"` keep no
//! plaintext value in any store (log, delay schedule, half messages, dead letters), hand out
//! plaintext to consumers, browsers and dead-letter readers, rotate keys, and refuse to hand
//! out what they cannot decrypt.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use mq_broker::{
    Broker, BrokerError, CryptoError, EncryptionConfig, EncryptionKey, GroupSpec, Nack,
    OutgoingMessage, ReceivedMessage, RetryRequest, RetrySelection, TopicUpdate, TxnOptions,
};
use mq_model::{DeadLetterMessage, Page, StartFrom, TopicConfig};
use mq_repo::{DeadLetterFilter, NewRecord};
use mq_tests::BrokerUnderTest;

use crate::scenarios::{ack_all, fetch, text};

/// Every sealed value starts with these bytes (see `mq-broker`'s `crypto.rs`).
const MAGIC: &[u8] = b"\0mqe";

/// Two test keys: base64 of 32 bytes of 0x01 and of 0x02.
const KEY_1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY_2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// A keys section with one key per (id, key), the last current.
fn keys(list: &[(&str, &str)]) -> EncryptionConfig {
    let keys = list
        .iter()
        .map(|(id, key)| EncryptionKey { id: (*id).to_owned(), key: (*key).to_owned() })
        .collect();
    EncryptionConfig { keys }
}

async fn with_keys(t: &BrokerUnderTest, list: &[(&str, &str)]) -> Broker {
    let encryption = keys(list);
    t.instance_with(move |cfg| cfg.encryption = encryption).await
}

async fn encrypted_topic(b: &Broker, name: &str) {
    let config = BTreeMap::from([("encryption".to_owned(), "aes-256-gcm".to_owned())]);
    b.create_topic(TopicConfig { config, ..b.topic_defaults(name) }, "test").await.unwrap();
}

async fn group(b: &Broker, topic: &str, id: &str) {
    let spec = GroupSpec { start_from: StartFrom::Earliest, ..GroupSpec::new(topic, id) };
    b.create_group(spec).await.unwrap();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Fetches until `n` messages came, or fails after 15 s.
async fn fetch_n(b: &Broker, topic: &str, group: &str, n: usize) -> Vec<ReceivedMessage> {
    let started = Instant::now();
    let mut got = Vec::new();
    while got.len() < n {
        assert!(started.elapsed() < Duration::from_secs(15), "only {} of {n} arrived", got.len());
        got.extend(fetch(b, topic, group, "c", 100).await);
        if got.len() < n {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    got
}

/// The raw values of a partition, as the log stores them.
async fn raw_values(b: &Broker, topic: &str) -> Vec<Vec<u8>> {
    let topic = b.get_topic(topic).await.unwrap();
    let records = b.message_log().read_range((&topic).into(), 0, 0, 1000).await.unwrap();
    records.into_iter().map(|r| r.value).collect()
}

/// Everything stored under the test's Redis key prefix (streams, hashes, sorted sets), read
/// with `redis-cli` (on a cluster, listed on every node and read following redirects); `None`
/// for the in-memory backend.
fn redis_contents(t: &BrokerUnderTest) -> Option<Vec<u8>> {
    let redis = &t.config.as_ref()?.message_queue.redis;
    let nodes: Vec<Vec<String>> = match (&redis.url, &redis.cluster) {
        (Some(url), _) => vec![vec!["-u".into(), url.clone()]],
        (None, Some(cluster)) => cluster
            .nodes
            .iter()
            .map(|node| {
                let (host, port) = node.rsplit_once(':').unwrap();
                vec!["-c".into(), "-h".into(), host.into(), "-p".into(), port.into()]
            })
            .collect(),
        (None, None) => vec![vec![
            "-h".into(),
            redis.host.clone(),
            "-p".into(),
            redis.port.to_string(),
            "-n".into(),
            redis.db.to_string(),
        ]],
    };
    let cli = |node: &[String], args: &[&str]| {
        let out = Command::new("redis-cli").args(node).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "redis-cli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let pattern = format!("{}:*", redis.key_prefix);
    let mut keys = std::collections::BTreeSet::new();
    for node in &nodes {
        let listed = String::from_utf8(cli(node, &["--scan", "--pattern", &pattern])).unwrap();
        keys.extend(listed.lines().filter(|k| !k.is_empty()).map(str::to_owned));
    }
    let reader = &nodes[0];
    let mut all = Vec::new();
    for key in &keys {
        let kind = String::from_utf8(cli(reader, &["TYPE", key])).unwrap();
        let content = match kind.trim() {
            "stream" => cli(reader, &["XRANGE", key, "-", "+"]),
            "hash" => cli(reader, &["HGETALL", key]),
            "zset" => cli(reader, &["ZRANGE", key, "0", "-1", "WITHSCORES"]),
            "string" => cli(reader, &["GET", key]),
            "list" => cli(reader, &["LRANGE", key, "0", "-1"]),
            "set" => cli(reader, &["SMEMBERS", key]),
            other => panic!("key {key} of unexpected type {other:?}"),
        };
        all.extend_from_slice(key.as_bytes());
        all.push(b'\n');
        all.extend(content);
    }
    Some(all)
}

/// Publishes now, delayed and in transactions, consumes, browses and dead-letters on an
/// encrypted topic: every reader gets plaintext, and no store holds it. An unencrypted topic
/// written the same way shows that the stores' raw contents would reveal plaintext.
pub async fn encrypted_topics_keep_no_plaintext_in_any_store(t: &BrokerUnderTest) {
    let b = with_keys(t, &[("k1", KEY_1)]).await;
    encrypted_topic(&b, "vault").await;
    b.create_topic(b.topic_defaults("open"), "test").await.unwrap();
    group(&b, "vault", "g").await;
    let hour = Duration::from_secs(3600);
    // Long enough that no check-back resolves the prepared ones before the stores are read.
    let undecided = TxnOptions { timeout: Some(Duration::from_secs(600)), ..TxnOptions::default() };

    for (topic, tag) in [("vault", "SECRET"), ("open", "CONTROL")] {
        b.publish(topic, OutgoingMessage::new(format!("{tag}-now"))).await.unwrap();
        b.publish(topic, OutgoingMessage::new(format!("{tag}-dead"))).await.unwrap();
        let later = OutgoingMessage::new(format!("{tag}-later")).delayed_by(hour);
        assert!(b.publish(topic, later).await.unwrap().is_scheduled());
        let held = OutgoingMessage::new(format!("{tag}-held"));
        b.prepare_transaction(topic, held, undecided.clone()).await.unwrap();
    }
    let soon = OutgoingMessage::new("SECRET-soon").delayed_by(Duration::from_millis(300));
    b.publish("vault", soon).await.unwrap();
    let txn = b
        .prepare_transaction("vault", OutgoingMessage::new("SECRET-txn"), TxnOptions::default())
        .await
        .unwrap()
        .transaction;
    b.commit_transaction(&txn.transaction_id).await.unwrap();

    // Consumers get plaintext: now, committed, and the delayed one once due.
    let got = fetch_n(&b, "vault", "g", 4).await;
    let mut texts: Vec<String> = got.iter().map(text).collect();
    texts.sort();
    assert_eq!(texts, ["SECRET-dead", "SECRET-now", "SECRET-soon", "SECRET-txn"]);
    let (dead, done): (Vec<_>, Vec<_>) = got.into_iter().partition(|m| text(m) == "SECRET-dead");
    ack_all(&b, "vault", "g", &done).await;
    let bury = Nack { dead_letter: true, ..Nack::because("poison") };
    b.nack("vault", "g", &[dead[0].receipt.clone()], &bury).await.unwrap();

    // Browsing too.
    let browsed = b.browse("vault", 0, 0, 100).await.unwrap();
    let mut texts: Vec<&[u8]> = browsed.messages.iter().map(|m| m.value.as_slice()).collect();
    texts.sort();
    assert_eq!(texts, [&b"SECRET-dead"[..], b"SECRET-now", b"SECRET-soon", b"SECRET-txn"]);

    // Dead letters: plaintext through the broker, sealed in the metadata store.
    let filter = DeadLetterFilter { topic_name: Some("vault".into()), ..Default::default() };
    let listed: Vec<DeadLetterMessage> =
        b.list_dead_letters(&filter, Page::new(1, 10)).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].message_content, b"SECRET-dead");
    let id = listed[0].id.clone();
    assert_eq!(b.get_dead_letter(&id).await.unwrap().message_content, b"SECRET-dead");
    let stored = t.metadata().await.dead_letters.get(&id).await.unwrap().unwrap();
    assert!(stored.message_content.starts_with(MAGIC), "the dead letter is stored sealed");
    assert!(!contains(&stored.message_content, b"SECRET"));

    // The raw log holds only envelopes.
    let raw = raw_values(&b, "vault").await;
    assert_eq!(raw.len(), 4);
    assert!(raw.iter().all(|v| v.starts_with(MAGIC) && !contains(v, b"SECRET")));

    // Redis as a whole: streams, schedule (`:dz`/`:dp`) and half messages (`:tx`).
    if let Some(everything) = redis_contents(t) {
        for control in ["CONTROL-now", "CONTROL-later", "CONTROL-held"] {
            assert!(contains(&everything, control.as_bytes()), "{control} not found: scan broken");
        }
        assert!(!contains(&everything, b"SECRET"), "plaintext of an encrypted topic in Redis");
    }

    // A redriven dead letter goes back sealed and arrives as plaintext again.
    let request = RetryRequest { selection: RetrySelection::Ids(vec![id]), rate_per_second: None };
    assert_eq!(b.retry_dead_letters(&request).await.unwrap().retried, 1);
    let again = fetch_n(&b, "vault", "g", 1).await;
    assert_eq!(text(&again[0]), "SECRET-dead");
    assert!(again[0].message.headers.contains_key(mq_dlq::REDRIVEN_FROM_HEADER));
    let raw = raw_values(&b, "vault").await;
    assert_eq!(raw.len(), 5);
    assert!(raw.iter().all(|v| v.starts_with(MAGIC) && !contains(v, b"SECRET")));
    ack_all(&b, "vault", "g", &again).await;
    if let Some(everything) = redis_contents(t) {
        assert!(!contains(&everything, b"SECRET"), "plaintext of an encrypted topic in Redis");
    }
    b.shutdown().await;
}

fn undecryptable(result: Result<impl std::fmt::Debug, BrokerError>) -> CryptoError {
    match result {
        Err(BrokerError::Undecryptable { source, location, .. }) => {
            assert!(!location.is_empty());
            source
        }
        other => panic!("expected Undecryptable, got {other:?}"),
    }
}

/// The last key seals, every listed key opens; a broker without the old key, or without any
/// key, refuses (an error, never the ciphertext); a value altered or moved to another
/// topic does not open.
pub async fn keys_rotate_and_what_cannot_be_decrypted_is_an_error(t: &BrokerUnderTest) {
    let k1 = with_keys(t, &[("k1", KEY_1)]).await;
    encrypted_topic(&k1, "rotating").await;
    k1.publish("rotating", OutgoingMessage::new("old")).await.unwrap();

    let both = with_keys(t, &[("k1", KEY_1), ("k2", KEY_2)]).await;
    both.publish("rotating", OutgoingMessage::new("new")).await.unwrap();
    let browsed = both.browse("rotating", 0, 0, 10).await.unwrap();
    let values: Vec<&[u8]> = browsed.messages.iter().map(|m| m.value.as_slice()).collect();
    assert_eq!(values, [&b"old"[..], b"new"]);
    let raw = raw_values(&both, "rotating").await;
    assert_eq!(&raw[0][6..8], b"k1", "the old value keeps its key");
    assert_eq!(&raw[1][6..8], b"k2", "the last key seals new values");

    // Only k2: the new value opens, the old one is an error, on browse and on fetch.
    let k2 = with_keys(t, &[("k2", KEY_2)]).await;
    assert_eq!(k2.browse("rotating", 0, 1, 10).await.unwrap().messages[0].value, b"new");
    let why = undecryptable(k2.browse("rotating", 0, 0, 10).await);
    assert_eq!(why, CryptoError::UnknownKey { key_id: "k1".into() });
    group(&k2, "rotating", "g").await;
    let request = mq_broker::FetchRequest {
        topic_name: "rotating".into(),
        group_id: "g".into(),
        consumer_id: "c".into(),
        max_messages: 10,
        wait: Duration::ZERO,
    };
    undecryptable(k2.fetch(&request).await);

    // No key at all (the harness's own broker): publishing is refused, reading is an error.
    let err = t.broker.publish("rotating", OutgoingMessage::new("x")).await.unwrap_err();
    assert!(matches!(&err, BrokerError::EncryptionKeyMissing { topic } if topic == "rotating"));
    assert!(err.to_string().contains("message_queue.encryption.keys"), "{err}");
    undecryptable(t.broker.browse("rotating", 0, 1, 10).await);

    // Stored values altered (a flipped byte) or moved to another encrypted topic.
    encrypted_topic(&both, "elsewhere").await;
    let record = |value: Vec<u8>| NewRecord {
        message_id: mq_model::new_id(mq_model::IdKind::Message),
        key: None,
        value,
        headers: BTreeMap::new(),
        producer_id: None,
        message_type: mq_model::MessageType::Normal,
        dedup: None,
    };
    let log = both.message_log();
    let elsewhere = both.get_topic("elsewhere").await.unwrap();
    log.append((&elsewhere).into(), 0, vec![record(raw[1].clone())]).await.unwrap();
    let why = undecryptable(both.browse("elsewhere", 0, 0, 10).await);
    assert_eq!(why, CryptoError::Rejected { key_id: "k2".into() });
    let mut flipped = raw[1].clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    let rotating = both.get_topic("rotating").await.unwrap();
    log.append((&rotating).into(), 0, vec![record(flipped)]).await.unwrap();
    assert_eq!(both.browse("rotating", 0, 0, 2).await.unwrap().messages.len(), 2);
    let why = undecryptable(both.browse("rotating", 0, 2, 10).await);
    assert_eq!(why, CryptoError::Rejected { key_id: "k2".into() });

    for b in [k1, both, k2] {
        b.shutdown().await;
    }
}

/// `config.encryption` names a known algorithm at creation and never changes afterwards.
pub async fn unknown_or_changed_encryption_settings_are_refused(t: &BrokerUnderTest) {
    let b = &t.broker;
    let with = |v: &str| BTreeMap::from([("encryption".to_owned(), v.to_owned())]);
    for bad in ["aes-128-cbc", "rot13", ""] {
        let cfg = TopicConfig { config: with(bad), ..b.topic_defaults("bad") };
        let err = b.create_topic(cfg, "test").await.unwrap_err();
        assert!(
            matches!(&err, BrokerError::InvalidRequest { field: "config.encryption", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("aes-256-gcm"), "{err}");
    }
    assert!(matches!(b.get_topic("bad").await, Err(BrokerError::TopicNotFound { .. })));

    // A server without a key refuses the topic at creation, not at its first publish.
    let cfg = TopicConfig { config: with("aes-256-gcm"), ..b.topic_defaults("keyless") };
    let err = b.create_topic(cfg, "test").await.unwrap_err();
    assert!(
        matches!(&err, BrokerError::InvalidRequest { field: "config.encryption", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("message_queue.encryption.keys"), "{err}");

    let keyed = with_keys(t, &[("k1", KEY_1)]).await;
    encrypted_topic(&keyed, "sealed").await;
    b.create_topic(b.topic_defaults("plain"), "test").await.unwrap();
    for (topic, config) in [
        ("sealed", BTreeMap::new()),
        ("sealed", with("aes-128-gcm")),
        ("plain", with("aes-256-gcm")),
        ("plain", with("nonsense")),
    ] {
        let update = TopicUpdate { config: Some(config), ..TopicUpdate::default() };
        let err = b.update_topic(topic, update).await.unwrap_err();
        assert!(
            matches!(&err, BrokerError::InvalidRequest { field: "config.encryption", .. }),
            "{topic}: {err:?}"
        );
    }
    // Other settings change freely alongside the same value.
    let mut config = with("aes-256-gcm");
    config.insert("cleanup.policy".into(), "delete".into());
    let update = TopicUpdate { config: Some(config.clone()), ..TopicUpdate::default() };
    assert_eq!(b.update_topic("sealed", update).await.unwrap().config, config);
    keyed.shutdown().await;
}
