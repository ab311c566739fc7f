//! `ceiling`: what Redis itself takes, with the broker's client library (fred), the same pool
//! size and the same automatic pipelining (concurrent commands share each connection), and no
//! broker code: plain `XADD`, and the broker's own offset-assigning append script (its very
//! text, compiled in from mq-repo) with 1, 100 and 1000 entries per call.

use std::time::Instant;

use anyhow::Context;
use fred::bytes::Bytes;
use fred::prelude::{
    Builder, ClientLike, Config, KeysInterface, LuaInterface, Pool, StreamsInterface, Value,
};
use tokio::task::JoinSet;

use super::{join_all, shares};
use crate::report::{Against, Figure, Outcome};
use crate::setup::Env;
use crate::stats::rate;

/// mq-repo's append script exactly as the broker sends it: the shared helpers, then the script
/// (see `scripts.rs` there). Read from its source so that the ceiling follows any change.
const APPEND_SCRIPT: &str = concat!(
    include_str!("../../../../crates/mq-repo/src/redis/lua/common.lua"),
    include_str!("../../../../crates/mq-repo/src/redis/lua/append.lua")
);

/// Bytes the broker's envelope adds to a value (message id, type, headers, bincode framing):
/// the ceiling writes entries of `--size` plus this, about what the broker writes.
const ENVELOPE_OVERHEAD: usize = 64;

pub async fn run(env: &mut Env) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new("ceiling");
    let url = env.redis_url().await?;
    let pool_size = mq_repo::RedisConfig::default().pool_size;
    let pool = Builder::from_config(Config::from_url(&url)?).build_pool(pool_size)?;
    pool.init().await.context("connect to Redis")?;
    // On every master of a cluster, as the broker loads its scripts.
    let sha = mq_repo::__bench::load_script(&pool, APPEND_SCRIPT).await?;
    let entry = Bytes::from(vec![b'x'; env.options.size + ENVELOPE_OVERHEAD]);
    let n = env.options.count(200_000, 2_000);
    let producers = env.options.producers;
    let base = env.name("ceiling");
    let partitions = env.options.partitions.max(1);
    // Laid out as the broker lays out a topic's partitions, so that on a cluster the ceiling
    // meets the same masters in the same proportions.
    let keys: Vec<(String, String)> = (0..partitions)
        .map(|p| {
            let at = mq_repo::__bench::partition_key_base(&base, "t", &[partitions], p);
            (format!("{at}:s"), format!("{at}:m"))
        })
        .collect();

    // XADD, one entry per command, ID and fields as the broker's entries (`ts`, `e`).
    let bar = crate::progress::bar(n, "XADD");
    let added = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, share) in shares(n, producers).into_iter().enumerate() {
        let (pool, stream, entry, bar, added) = (
            pool.clone(),
            keys[i % keys.len()].0.clone(),
            entry.clone(),
            bar.clone(),
            added.clone(),
        );
        tasks.spawn(async move {
            for _ in 0..share {
                let _: String = pool
                    .xadd(
                        stream.as_str(),
                        false,
                        None::<()>,
                        "*",
                        vec![("ts", Value::from("0")), ("e", Value::Bytes(entry.clone()))],
                    )
                    .await?;
                added.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                bar.inc(1);
            }
            anyhow::Ok(())
        });
    }
    join_all(tasks).await?;
    bar.finish_and_clear();
    let xadd = rate(n, started.elapsed());
    outcome.figures.push(Figure::new(
        format!("XADD, 1 per command, {producers} tasks"),
        xadd,
        "msg/s",
        Against::Nothing,
    ));
    outcome.count("xadd.requested", n);
    outcome.count("xadd.published", added.load(std::sync::atomic::Ordering::Relaxed));

    for batch in [1_usize, 100, 1_000] {
        let written = script(&pool, &sha, &keys, &entry, n, batch, producers).await?;
        let took = written.1;
        outcome.figures.push(Figure::rate(
            format!("append script, {batch} per call, {producers} tasks"),
            rate(written.0, took),
            batch,
        ));
        outcome.count(format!("script{batch}.requested"), n);
        outcome.count(format!("script{batch}.published"), written.0);
    }

    // One DEL per partition: a partition's two keys share a slot, different partitions may not.
    for (stream, meta) in keys {
        let _: i64 = pool.del(vec![stream, meta]).await?;
    }
    pool.quit().await?;
    Ok(outcome)
}

/// `n` entries through the append script, `batch` per call, from `producers` tasks; the count
/// the script reports appended and the time taken.
async fn script(
    pool: &Pool,
    sha: &str,
    keys: &[(String, String)],
    entry: &Bytes,
    n: u64,
    batch: usize,
    producers: usize,
) -> anyhow::Result<(u64, std::time::Duration)> {
    let bar = crate::progress::bar(n, &format!("append script x{batch}"));
    let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, share) in shares(n, producers).into_iter().enumerate() {
        let (pool, sha, bar, written) =
            (pool.clone(), sha.to_owned(), bar.clone(), written.clone());
        let (stream, meta) = keys[i % keys.len()].clone();
        let entry = entry.clone();
        tasks.spawn(async move {
            let mut left = share;
            while left > 0 {
                let take = left.min(batch as u64);
                // As the broker calls it: no floor, the count, then per record its envelope,
                // message id and no idempotency key.
                let mut args: Vec<Value> = vec!["0".into(), "".into(), take.to_string().into()];
                for i in 0..take {
                    args.push(Value::Bytes(entry.clone()));
                    args.push(format!("ceiling-{i}").into());
                    args.push("0".into());
                }
                let _: Value =
                    pool.evalsha(sha.as_str(), vec![stream.clone(), meta.clone()], args).await?;
                written.fetch_add(take, std::sync::atomic::Ordering::Relaxed);
                bar.inc(take);
                left -= take;
            }
            anyhow::Ok(())
        });
    }
    join_all(tasks).await?;
    bar.finish_and_clear();
    Ok((written.load(std::sync::atomic::Ordering::Relaxed), started.elapsed()))
}
