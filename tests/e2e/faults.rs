//! Store faults under load, with the real `mq-server` over HTTP: a Redis Cluster master killed
//! and its replica promoted, online resharding onto a new master, a Sentinel failover. In each,
//! mq must keep serving without a restart: requests that fail answer 503 with a message (never
//! 500, never a hang), every partition is served again within 5 s of the promotion, and every
//! publish answered 200 is consumed.
//!
//! These take a store apart, so each runs on servers of its own (never the shared cluster),
//! and they run in a step of their own after the other tests (`scripts/test.sh`), one at a
//! time, so that their timing is not at the mercy of a loaded machine.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mq_testkit::{RedisCluster, RedisSentinel};
use serde_json::{json, Value};

use crate::client::Api;
use crate::server::{StartOptions, TestServer};
use crate::support::{create_group, create_topic};

/// Partitions of the topic under load: several per master.
const PARTITIONS: u32 = 12;

/// Concurrent producers.
const PRODUCERS: usize = 4;

/// Bound on serving every partition again after a promotion (the promise).
const SERVING_AGAIN_WITHIN: Duration = Duration::from_secs(5);

/// Bound on any one request: a request that takes longer counts as a hang.
const NO_HANG: Duration = Duration::from_secs(12);

/// What the load saw.
#[derive(Debug, Default)]
struct Tally {
    /// Message ids of publishes answered 200.
    acked: BTreeSet<String>,
    /// Answers by status.
    statuses: BTreeMap<u16, u64>,
    /// Message ids consumed and acknowledged while the load ran.
    consumed: BTreeSet<String>,
    /// Answers that break the rules (a status other than 200 and 503, a 503 without a
    /// message, a request that failed or took longer than `NO_HANG`).
    bad: Vec<String>,
}

/// Producers publishing single keyed messages as fast as they are answered, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(api: &Api, topic: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let mut tasks: Vec<tokio::task::JoinHandle<()>> = (0..PRODUCERS)
            .map(|producer| {
                let (api, topic) = (api.clone(), topic.to_owned());
                let (stop, tally) = (stop.clone(), tally.clone());
                tokio::spawn(async move {
                    let mut n = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let body = json!({
                            "topicName": topic,
                            "key": format!("k{producer}-{n}"),
                            "value": {"producer": producer, "n": n},
                        });
                        let outcome = publish(&api, &body).await;
                        let mut tally = tally.lock().unwrap();
                        match outcome {
                            Ok((200, reply)) => {
                                *tally.statuses.entry(200).or_default() += 1;
                                tally.acked.insert(
                                    reply["data"]["messageId"].as_str().unwrap().to_owned(),
                                );
                            }
                            Ok((503, reply))
                                if reply["message"].as_str().is_some_and(|m| !m.is_empty()) =>
                            {
                                *tally.statuses.entry(503).or_default() += 1;
                            }
                            Ok((status, reply)) => {
                                *tally.statuses.entry(status).or_default() += 1;
                                tally.bad.push(format!("{status}: {reply}"));
                            }
                            Err(why) => tally.bad.push(why),
                        }
                    }
                })
            })
            .collect();
        // A consumer reading and acknowledging beside the producers, so the fault meets
        // fetches and acks too; what it consumes counts for the final check.
        let (api, topic) = (api.clone(), topic.to_owned());
        let (stop_consumer, consumed) = (stop.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            while !stop_consumer.load(Ordering::Relaxed) {
                let body = json!({
                    "topicName": topic, "groupId": "g", "consumerId": "live",
                    "maxMessages": 100, "waitMs": 200,
                });
                let fetched = tokio::time::timeout(NO_HANG, api.try_post("/consume", &body)).await;
                let messages = match fetched {
                    Ok(Ok((200, reply))) => {
                        reply["data"]["messages"].as_array().cloned().unwrap_or_default()
                    }
                    Ok(Ok((503, _))) => continue,
                    other => {
                        consumed.lock().unwrap().bad.push(format!("consume: {other:?}"));
                        continue;
                    }
                };
                let receipts: Vec<Value> = messages.iter().map(|m| m["receipt"].clone()).collect();
                if receipts.is_empty() {
                    continue;
                }
                let body = json!({"topicName": topic, "groupId": "g", "receipts": receipts});
                let acked = tokio::time::timeout(NO_HANG, api.try_post("/ack", &body)).await;
                let mut tally = consumed.lock().unwrap();
                match acked {
                    Ok(Ok((200, _))) => tally.consumed.extend(
                        messages.iter().map(|m| m["messageId"].as_str().unwrap().to_owned()),
                    ),
                    // Not acknowledged: delivered again after the ack timeout, to the drain.
                    Ok(Ok((503, _))) => {}
                    other => tally.bad.push(format!("ack: {other:?}")),
                }
            }
        }));
        Load { stop, tally, tasks }
    }

    async fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        Arc::try_unwrap(self.tally).unwrap().into_inner().unwrap()
    }

    fn acked(&self) -> usize {
        self.tally.lock().unwrap().acked.len()
    }
}

/// One publish with its own bound; `Err` for a request that failed or hung.
async fn publish(api: &Api, body: &Value) -> Result<(u16, Value), String> {
    let started = Instant::now();
    let sent = tokio::time::timeout(NO_HANG, api.try_post("/messages", body)).await;
    match sent {
        Err(_) => Err(format!("a publish hung for more than {NO_HANG:?}")),
        Ok(Err(e)) => Err(format!("a publish failed after {:?}: {e}", started.elapsed())),
        Ok(Ok(answer)) => Ok(answer),
    }
}

/// One key per partition, found by publishing: the answer names the partition.
async fn key_per_partition(api: &Api, topic: &str) -> Vec<String> {
    let mut keys: BTreeMap<u64, String> = BTreeMap::new();
    for i in 0.. {
        if keys.len() == PARTITIONS as usize {
            break;
        }
        assert!(i < 10_000, "no key found for every partition");
        let key = format!("probe-{i}");
        let reply =
            api.post_ok("/messages", &json!({"topicName": topic, "key": key, "value": i})).await;
        keys.entry(reply["partition"].as_u64().unwrap()).or_insert(key);
    }
    keys.into_values().collect()
}

/// Publishes to every partition until one round succeeds on all of them; returns when.
async fn serving_every_partition(
    api: &Api,
    topic: &str,
    keys: &[String],
    within: Duration,
) -> Instant {
    let started = Instant::now();
    loop {
        let mut all = true;
        for key in keys {
            let body = json!({"topicName": topic, "key": key, "value": "probe"});
            if !matches!(publish(api, &body).await, Ok((200, _))) {
                all = false;
            }
        }
        if all {
            return Instant::now();
        }
        assert!(
            started.elapsed() < within,
            "not every partition was served again within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Consumes and acknowledges until `expected` ids were all seen, or nothing more comes.
async fn consume_all(api: &Api, topic: &str, expected: &BTreeSet<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut idle_since = Instant::now();
    while !expected.is_subset(&seen) && idle_since.elapsed() < Duration::from_secs(10) {
        let body = json!({
            "topicName": topic, "groupId": "g", "consumerId": "drain",
            "maxMessages": 1000, "waitMs": 500,
        });
        let (status, reply) = api.post("/consume", &body).await;
        if status != 200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let messages = reply["data"]["messages"].as_array().cloned().unwrap_or_default();
        if !messages.is_empty() {
            idle_since = Instant::now();
        }
        let receipts: Vec<Value> = messages.iter().map(|m| m["receipt"].clone()).collect();
        seen.extend(messages.iter().map(|m| m["messageId"].as_str().unwrap().to_owned()));
        if !receipts.is_empty() {
            let body = json!({"topicName": topic, "groupId": "g", "receipts": receipts});
            let _ = api.post("/ack", &body).await;
        }
    }
    seen
}

/// The checks every fault scenario ends with.
async fn check_outcome(api: &Api, topic: &str, tally: &Tally) {
    assert!(
        tally.bad.is_empty(),
        "answers that break the rules: {:?}",
        &tally.bad[..tally.bad.len().min(10)]
    );
    assert!(tally.acked.len() > 100, "too little load to show anything: {:?}", tally.statuses);
    let missing: BTreeSet<String> = tally.acked.difference(&tally.consumed).cloned().collect();
    let mut consumed = consume_all(api, topic, &missing).await;
    consumed.extend(tally.consumed.iter().cloned());
    let lost: Vec<&String> = tally.acked.difference(&consumed).collect();
    assert!(
        lost.is_empty(),
        "{} of {} publishes answered 200 were never consumed, e.g. {:?}",
        lost.len(),
        tally.acked.len(),
        &lost[..lost.len().min(5)]
    );
}

async fn setup(api: &Api, topic: &str) -> Vec<String> {
    create_topic(api, topic, PARTITIONS).await;
    // A short ack timeout: what a failed ack leaves in flight comes back to the drain soon.
    create_group(api, topic, "g", json!({"ackTimeoutMs": 2000})).await;
    key_per_partition(api, topic).await
}

/// Kill -9 of a cluster master under load: once its replica is promoted, every partition is
/// served again within 5 s, with no restart of mq-server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_cluster_master_is_replaced_without_a_restart() {
    let mut cluster = RedisCluster::start_owned(3, 1).await.unwrap();
    let server = TestServer::start_on_redis(
        cluster.url(),
        cluster.key_prefix().to_owned(),
        StartOptions::default(),
    )
    .await;
    let api = server.api();
    let keys = setup(&api, "failover").await;
    let load = Load::start(&api, "failover");
    wait_for_load(&load, 300).await;

    let victim = cluster.masters().await.unwrap()[0].addr;
    cluster.kill(victim);
    let killed = Instant::now();
    let promoted = cluster.wait_failed_over(victim, Duration::from_secs(30)).await.unwrap();
    let served = serving_every_partition(&api, "failover", &keys, SERVING_AGAIN_WITHIN).await;
    eprintln!(
        "failover: promoted {:?} after the kill, every partition served {:?} after the promotion",
        promoted - killed,
        served.saturating_duration_since(promoted)
    );
    let before = load.acked();
    wait_for_load(&load, before + 300).await;
    let tally = load.stop().await;
    eprintln!("failover: {:?}", tally.statuses);
    check_outcome(&api, "failover", &tally).await;
}

/// Waits until the load has had `acked` publishes answered 200 (bounded).
async fn wait_for_load(load: &Load, acked: usize) {
    let started = Instant::now();
    while load.acked() < acked {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load stalled at {} acked",
            load.acked()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fourth master joins and 2,000 slots move to it while producers publish: mq serves
/// throughout (failures only as bounded 503s) and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resharding_under_load_keeps_serving() {
    let mut cluster = RedisCluster::start_owned(3, 0).await.unwrap();
    let server = TestServer::start_on_redis(
        cluster.url(),
        cluster.key_prefix().to_owned(),
        StartOptions::default(),
    )
    .await;
    let api = server.api();
    let keys = setup(&api, "reshard").await;
    let load = Load::start(&api, "reshard");
    wait_for_load(&load, 300).await;

    let (_, new_id) = cluster.add_master().await.unwrap();
    // 2,000 consecutive slots of one master: wider than the 1,366-slot gap between the
    // topic's partitions, so at least one partition moves while it is written to.
    let from = cluster.master_of(0).await.unwrap().id;
    cluster.reshard(&from, &new_id, 2_000).await.unwrap();
    cluster.wait_healthy(Duration::from_secs(30)).await.unwrap();
    let moved: u32 = cluster
        .masters()
        .await
        .unwrap()
        .iter()
        .filter(|m| m.id == new_id)
        .flat_map(|m| m.slots.iter().map(|(a, b)| u32::from(b - a) + 1))
        .sum();
    assert!(moved >= 1_998, "only {moved} slots moved");
    // Partitions of the topic under load moved too, so the data path met the redirections.
    let new_master = cluster.masters().await.unwrap().into_iter().find(|m| m.id == new_id).unwrap();
    let pattern = format!("{}:*:reshard:*:s", cluster.key_prefix());
    let moved_partitions = cluster.keys_on(new_master.addr, &pattern).await.unwrap();
    assert!(!moved_partitions.is_empty(), "no partition of the topic moved");
    eprintln!("resharding: partitions moved: {moved_partitions:?}");
    let log = server.logs();
    let restarts = log.lines().filter(|l| l.contains("routing task ended")).count();
    eprintln!("resharding: {restarts} pooled clients restarted");
    serving_every_partition(&api, "reshard", &keys, SERVING_AGAIN_WITHIN).await;
    let before = load.acked();
    wait_for_load(&load, before + 300).await;
    let tally = load.stop().await;
    eprintln!("resharding: {:?}", tally.statuses);
    check_outcome(&api, "reshard", &tally).await;
}

/// Kill -9 of the master under three sentinels: mq follows the promoted replica within 5 s of
/// the promotion, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sentinel_failover_is_followed_without_a_restart() {
    let mut sentinel = RedisSentinel::start_owned().await.unwrap();
    let url = sentinel_url(&sentinel);
    let server =
        TestServer::start_on_redis(url, sentinel.key_prefix().to_owned(), StartOptions::default())
            .await;
    let api = server.api();
    let keys = setup(&api, "sentinel").await;
    let load = Load::start(&api, "sentinel");
    wait_for_load(&load, 300).await;

    sentinel.kill_master();
    let killed = Instant::now();
    let promoted = sentinel.wait_promoted(Duration::from_secs(30)).await.unwrap();
    let served = serving_every_partition(&api, "sentinel", &keys, SERVING_AGAIN_WITHIN).await;
    eprintln!(
        "sentinel: promoted {:?} after the kill, served again {:?} after the promotion",
        promoted - killed,
        served.saturating_duration_since(promoted)
    );
    let before = load.acked();
    wait_for_load(&load, before + 300).await;
    let tally = load.stop().await;
    eprintln!("sentinel: {:?}", tally.statuses);
    check_outcome(&api, "sentinel", &tally).await;
}

/// What a failover to a replica that lagged did to publishes answered 200: how many of them
/// were never consumed, the load's tally, and the partitions' recorded offset rollbacks.
async fn lagging_replica_failover(min_replica_acks: u32) -> (usize, Tally, Vec<Value>) {
    let mut sentinel = RedisSentinel::start_owned().await.unwrap();
    let url = sentinel_url(&sentinel);
    let redis_yaml = if min_replica_acks > 0 {
        format!("    min_replica_acks: {min_replica_acks}\n    replica_ack_timeout_ms: 300\n")
    } else {
        String::new()
    };
    let options = StartOptions { redis_yaml, ..StartOptions::default() };
    let server = TestServer::start_on_redis(url, sentinel.key_prefix().to_owned(), options).await;
    let api = server.api();
    setup(&api, "lagging").await;
    let load = Load::start(&api, "lagging");
    wait_for_load(&load, 200).await;
    // The replica falls behind for 3 s (asleep, its link cut); the master goes on alone for a
    // second, then dies; the replica wakes and is promoted with what it had.
    sentinel.lag_replica(3.0).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    sentinel.kill_master();
    sentinel.wait_promoted(Duration::from_secs(30)).await.unwrap();
    // Publishing goes on after the promotion (without replicas left, writes that wait for one
    // answer 503), then the consumer drains.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let tally = load.stop().await;
    assert!(
        tally.bad.is_empty(),
        "answers that break the rules: {:?}",
        &tally.bad[..tally.bad.len().min(10)]
    );
    let missing: BTreeSet<String> = tally.acked.difference(&tally.consumed).cloned().collect();
    let mut consumed = consume_all(&api, "lagging", &missing).await;
    consumed.extend(tally.consumed.iter().cloned());
    let lost = tally.acked.difference(&consumed).count();
    let monitoring = api.get_ok("/monitoring?topicName=lagging").await;
    let partitions = monitoring["topics"][0]["partitions"].as_array().cloned().unwrap_or_default();
    (lost, tally, partitions)
}

fn sentinel_url(sentinel: &RedisSentinel) -> String {
    let config = sentinel.config();
    let sentinels = config.sentinel.as_ref().unwrap();
    let (first, rest) = sentinels.nodes.split_first().unwrap();
    let others: String = rest.iter().map(|n| format!("&node={n}")).collect();
    format!("redis-sentinel://{first}/0?sentinelServiceName={}{others}", sentinels.service_name)
}

/// With `min_replica_acks: 1`, a failover to a replica that lagged loses none of the publishes
/// answered 200: those the replica had not confirmed were answered 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_one_replica_ack_a_lagging_failover_loses_no_acknowledged_message() {
    let (lost, tally, partitions) = lagging_replica_failover(1).await;
    eprintln!("min_replica_acks 1: {:?}, lost {lost}", tally.statuses);
    assert_eq!(lost, 0, "publishes answered 200 were lost");
    assert!(tally.statuses.get(&503).copied().unwrap_or(0) > 0, "the lag was answered 503");
    assert!(partitions.iter().all(|p| p.get("lastOffsetRollback").is_none()), "{partitions:?}");
}

/// With the default `min_replica_acks: 0`, the same failover loses what the master answered
/// alone (the documented loss), and every partition that lost writes skips their offsets,
/// which /monitoring shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_replica_acks_a_lagging_failover_loses_what_the_master_answered_alone() {
    let (lost, tally, partitions) = lagging_replica_failover(0).await;
    eprintln!("min_replica_acks 0: {:?}, lost {lost}", tally.statuses);
    assert!(lost > 0, "the lagging replica should have lost acknowledged publishes");
    let rolled: Vec<&Value> =
        partitions.iter().filter(|p| p.get("lastOffsetRollback").is_some()).collect();
    assert!(!rolled.is_empty(), "no partition recorded its rollback: {partitions:?}");
    for p in rolled {
        let rollback = &p["lastOffsetRollback"];
        assert!(rollback["toOffset"].as_u64() > rollback["fromOffset"].as_u64(), "{p}");
    }
}

/// A flood of 1,000 long polls (issue 25), here in the serial step because it loads the
/// machine with a thousand connections for 20 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_long_polls_is_bounded_and_the_server_recovers_at_once() {
    let server = TestServer::start(crate::Backend::RedisMongo).await;
    crate::overload::a_flood_of_long_polls_is_bounded_and_the_server_recovers_at_once(server).await;
}
