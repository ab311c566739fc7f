//! `durability`: what idempotency keys and replicated acknowledgements cost library publishes,
//! each variant set against a baseline measured in the same run.
//!
//! The variants: `baseline` (neither), `keys` (a unique idempotency key on every message),
//! `acks1` (`redis.min_replica_acks` 1: every append is followed by `WAIT 1`) and `acks1keys`
//! (both). For each: `Broker::publish` from `--producers` tasks, `publish_batch` of 100 from as
//! many, and the p50 and p99 of single publishes one after another.
//!
//! The acks variants need a replica. mq-bench gives the redis-server it spawns one, before the
//! baseline, so that every variant pays the same for feeding it. A Redis given with
//! `--redis-url` must have one already (on a cluster, every master: `WAIT` counts the replicas
//! of the master that took the write), else the scenario fails saying so. With `--provider
//! memory` there is nothing to replicate: only `baseline` and `keys` run (the memory log
//! de-duplicates too).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_broker::{Broker, BrokerError, OutgoingMessage};
use mq_repo::RepoError;
use tokio::task::JoinSet;

use super::{join_all, lib_topic, shares};
use crate::options::Provider;
use crate::report::{Figure, Outcome};
use crate::setup::Env;
use crate::stats::{ms, rate, Percentiles};

/// One way of publishing: its phase (the prefix of its counts and figure names) and what it
/// turns on.
#[derive(Debug, Clone, Copy)]
struct Variant {
    phase: &'static str,
    /// `redis.min_replica_acks` 1 rather than 0.
    replica_ack: bool,
    /// A unique idempotency key on every message.
    keys: bool,
}

/// The baseline first: the others are set against it.
const VARIANTS: [Variant; 4] = [
    Variant { phase: "baseline", replica_ack: false, keys: false },
    Variant { phase: "keys", replica_ack: false, keys: true },
    Variant { phase: "acks1", replica_ack: true, keys: false },
    Variant { phase: "acks1keys", replica_ack: true, keys: true },
];

/// Messages per `publish_batch` call.
const BATCH: usize = 100;

pub async fn run(env: &mut Env) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new("durability");
    let (plain, acking, redis_url) = match env.options.provider {
        Provider::Redis => {
            env.redis_replica().await?;
            let plain = env.broker().await?;
            let acking = env.broker_with_replica_acks(1).await?;
            (plain, Some(acking), Some(env.redis_url().await?))
        }
        Provider::Memory => {
            outcome.notes.push("memory has no replicas: only baseline and keys ran".into());
            (env.broker().await?, None, None)
        }
    };
    let lineup: Vec<(Variant, Broker)> = VARIANTS
        .iter()
        .filter_map(|v| {
            let broker = if v.replica_ack { acking.clone()? } else { plain.clone() };
            Some((*v, broker))
        })
        .collect();
    let explained = |error: anyhow::Error| explain(error, redis_url.as_deref());

    // The variants take turns within each kind of figure, both brokers open throughout, so
    // that drift over the run (Redis growing, caches warming) falls on all of them alike
    // rather than on whichever came last.
    let producers = env.options.producers;
    for (kind, what, n, batch) in [
        ("single", format!("publish, {producers} producers"), env.options.count(100_000, 1_000), 1),
        (
            "batch100",
            format!("publish_batch {BATCH}, {producers} producers"),
            env.options.count(300_000, 3_000),
            BATCH,
        ),
    ] {
        for (variant, broker) in &lineup {
            let (stored, took) =
                concurrent(env, broker, *variant, n, batch).await.map_err(explained)?;
            outcome.figures.push(
                Figure::rate(named(*variant, &what), rate(stored, took), batch)
                    .against_baseline(named(VARIANTS[0], &what)),
            );
            outcome.count(format!("{}.{kind}.requested", variant.phase), n);
            outcome.count(format!("{}.{kind}.published", variant.phase), stored);
        }
    }

    let n = env.options.count(10_000, 200);
    let mut latencies = Vec::new();
    for (variant, broker) in &lineup {
        let (p, stored) = sequential(env, broker, *variant, n).await.map_err(explained)?;
        latencies.push((*variant, [p.p50, p.p99]));
        outcome.count(format!("{}.sequential.requested", variant.phase), n);
        outcome.count(format!("{}.sequential.published", variant.phase), stored);
    }
    // Grouped by percentile, so that each is read down one column of variants.
    for (i, what) in ["sequential publish p50", "sequential publish p99"].into_iter().enumerate() {
        for (variant, values) in &latencies {
            outcome.figures.push(
                Figure::ms(named(*variant, what), values[i])
                    .against_baseline(named(VARIANTS[0], what)),
            );
        }
    }

    plain.shutdown().await;
    if let Some(acking) = acking {
        acking.shutdown().await;
    }
    Ok(outcome)
}

/// A figure's name: `<phase>: <what>`.
fn named(variant: Variant, what: &str) -> String {
    format!("{}: {what}", variant.phase)
}

/// Publishes `n` messages to a fresh topic from `--producers` tasks, `batch` per call
/// (`Broker::publish` for 1, else `publish_batch`); how many were stored and how long it took.
async fn concurrent(
    env: &Env,
    broker: &Broker,
    variant: Variant,
    n: u64,
    batch: usize,
) -> anyhow::Result<(u64, Duration)> {
    let topic = lib_topic(env, broker, &format!("durability-{}", variant.phase)).await?;
    let bar = crate::progress::bar(n, &format!("{}, {batch} per call", variant.phase));
    let stored = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (task, share) in shares(n, env.options.producers).into_iter().enumerate() {
        let (broker, topic, value, bar, stored) =
            (broker.clone(), topic.clone(), env.options.value(), bar.clone(), stored.clone());
        tasks.spawn(async move {
            let mut sent = 0;
            while sent < share {
                let take = (share - sent).min(batch as u64);
                let fresh = if batch == 1 {
                    let published =
                        broker.publish(&topic, message(&value, variant, task, sent)).await?;
                    u64::from(!published.duplicate)
                } else {
                    let messages =
                        (sent..sent + take).map(|i| message(&value, variant, task, i)).collect();
                    let published = broker.publish_batch(&topic, messages).await?;
                    published.iter().filter(|p| !p.duplicate).count() as u64
                };
                stored.fetch_add(fresh, Ordering::Relaxed);
                bar.inc(take);
                sent += take;
            }
            anyhow::Ok(())
        });
    }
    join_all(tasks).await?;
    let took = started.elapsed();
    bar.finish_and_clear();
    broker.delete_topic(&topic).await?;
    Ok((stored.load(Ordering::Relaxed), took))
}

/// Publishes `n` messages to a fresh topic one after another from one task; the latencies and
/// how many were stored.
async fn sequential(
    env: &Env,
    broker: &Broker,
    variant: Variant,
    n: u64,
) -> anyhow::Result<(Percentiles, u64)> {
    let topic = lib_topic(env, broker, &format!("durability-{}-seq", variant.phase)).await?;
    let value = env.options.value();
    // Warm-up, not measured: the topic's first appends, the connections' first commands.
    let warm_up = 100.min(n);
    for i in 0..warm_up {
        broker.publish(&topic, message(&value, variant, 1, i)).await?;
    }
    let bar = crate::progress::bar(n, &format!("{}, sequential", variant.phase));
    let mut latencies = Vec::with_capacity(n as usize);
    let mut stored = 0;
    for i in 0..n {
        let sent = Instant::now();
        let published = broker.publish(&topic, message(&value, variant, 0, i)).await?;
        latencies.push(ms(sent.elapsed()));
        stored += u64::from(!published.duplicate);
        bar.inc(1);
    }
    bar.finish_and_clear();
    broker.delete_topic(&topic).await?;
    Ok((Percentiles::of(latencies), stored))
}

/// A message of `value`, in a variant with keys with an idempotency key unique in its topic
/// (`task` and `i` tell it apart). It is shaped like the UUIDs mq-client gives every publish,
/// so that it costs what a real one does to send and to keep.
fn message(value: &[u8], variant: Variant, task: usize, i: u64) -> OutgoingMessage {
    let message = OutgoingMessage::new(value.to_vec());
    if !variant.keys {
        return message;
    }
    message.with_idempotency_key(format!("{task:08x}-0000-4000-8000-{i:012x}"))
}

/// `error`, saying what to do about it when Redis answered that no replica confirmed a write.
fn explain(error: anyhow::Error, redis_url: Option<&str>) -> anyhow::Error {
    match error.downcast_ref::<BrokerError>() {
        Some(BrokerError::Store(RepoError::NotReplicated { .. })) => error.context(format!(
            "durability: the acks1 variants need a Redis whose masters each have a replica, \
             and no replica of {} confirmed a write in time (mq-bench gives the redis-server \
             it spawns one; a Redis given with --redis-url must have its own)",
            redis_url.unwrap_or("the Redis")
        )),
        _ => error,
    }
}
