//! `publish-http`: `POST /messages` one after another on one keep-alive connection (latency),
//! and from `--producers` concurrent tasks (throughput); `POST /messages/batch` with 100 and
//! 1000 messages per request (throughput).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mq_client::Publish;
use tokio::task::JoinSet;

use super::{fill_http, http_topic, join_all, shares};
use crate::report::{Figure, Outcome};
use crate::setup::Env;
use crate::stats::{ms, rate, Percentiles};

pub async fn run(env: &mut Env) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new("publish-http");
    let client = env.client().await?;
    let message = Publish::new(env.options.json_value());
    let producers = env.options.producers;

    // Sequential: one request at a time, the connection kept alive between them.
    let n = env.options.count(20_000, 300);
    let topic = http_topic(env, &client, "http-seq").await?;
    // Warm-up: the connection, the topic's first appends.
    for _ in 0..100.min(n) {
        client.publish(&topic, &message).await?;
    }
    let bar = crate::progress::bar(n, "POST /messages, sequential");
    let mut latencies = Vec::with_capacity(n as usize);
    let started = Instant::now();
    for _ in 0..n {
        let sent = Instant::now();
        client.publish(&topic, &message).await?;
        latencies.push(ms(sent.elapsed()));
        bar.inc(1);
    }
    let took = started.elapsed();
    bar.finish_and_clear();
    let p = Percentiles::of(latencies);
    outcome.figures.push(Figure::ms("POST /messages sequential p50", p.p50));
    outcome.figures.push(Figure::ms("POST /messages sequential p99", p.p99));
    outcome.figures.push(Figure::ms("POST /messages sequential p999", p.p999));
    outcome.figures.push(Figure::rate("POST /messages sequential", rate(n, took), 1));
    outcome.count("sequential.requested", n);
    outcome.count("sequential.published", p.count as u64);
    client.delete_topic(&topic).await?;

    // Concurrent single publishes.
    let n = env.options.count(100_000, 300);
    let topic = http_topic(env, &client, "http-conc").await?;
    let bar = crate::progress::bar(n, "POST /messages, concurrent");
    let published = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for share in shares(n, producers) {
        let (client, topic, message, bar, published) =
            (client.clone(), topic.clone(), message.clone(), bar.clone(), published.clone());
        tasks.spawn(async move {
            for _ in 0..share {
                client.publish(&topic, &message).await?;
                published.fetch_add(1, Ordering::Relaxed);
                bar.inc(1);
            }
            anyhow::Ok(())
        });
    }
    join_all(tasks).await?;
    bar.finish_and_clear();
    outcome.figures.push(Figure::rate(
        format!("POST /messages, {producers} concurrent"),
        rate(n, started.elapsed()),
        1,
    ));
    outcome.count("concurrent.requested", n);
    outcome.count("concurrent.published", published.load(Ordering::Relaxed));
    client.delete_topic(&topic).await?;

    for batch in [100_usize, 1_000] {
        let n = env.options.count(500_000, 3_000);
        let topic = http_topic(env, &client, "http-batch").await?;
        let started = Instant::now();
        let published =
            fill_http(env, &client, &topic, n, batch, &format!("POST /messages/batch x{batch}"))
                .await?;
        outcome.figures.push(Figure::rate(
            format!("POST /messages/batch {batch}, {producers} concurrent"),
            rate(published, started.elapsed()),
            batch,
        ));
        outcome.count(format!("batch{batch}.requested"), n);
        outcome.count(format!("batch{batch}.published"), published);
        client.delete_topic(&topic).await?;
    }
    Ok(outcome)
}
