//! `publish-lib`: `Broker::publish` (one message per call) and `Broker::publish_batch` (100 and
//! 1000 per call) in process, from `--producers` concurrent tasks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mq_broker::OutgoingMessage;
use tokio::task::JoinSet;

use super::{fill_lib, join_all, lib_topic, shares};
use crate::report::{Figure, Outcome};
use crate::setup::Env;
use crate::stats::rate;

pub async fn run(env: &mut Env) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new("publish-lib");
    let broker = env.broker().await?;
    let n = env.options.count(200_000, 2_000);
    let producers = env.options.producers;

    // One message per call.
    let topic = lib_topic(env, &broker, "lib-single").await?;
    let bar = crate::progress::bar(n, "publish");
    let published = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for share in shares(n, producers) {
        let (broker, topic, value, bar, published) =
            (broker.clone(), topic.clone(), env.options.value(), bar.clone(), published.clone());
        tasks.spawn(async move {
            for _ in 0..share {
                broker.publish(&topic, OutgoingMessage::new(value.clone())).await?;
                published.fetch_add(1, Ordering::Relaxed);
                bar.inc(1);
            }
            anyhow::Ok(())
        });
    }
    join_all(tasks).await?;
    bar.finish_and_clear();
    outcome.figures.push(Figure::rate(
        format!("publish, {producers} producers"),
        rate(n, started.elapsed()),
        1,
    ));
    outcome.count("single.requested", n);
    outcome.count("single.published", published.load(Ordering::Relaxed));
    broker.delete_topic(&topic).await?;

    for batch in [100_usize, 1_000] {
        let topic = lib_topic(env, &broker, "lib-batch").await?;
        let started = Instant::now();
        let published =
            fill_lib(env, &broker, &topic, n, batch, &format!("publish_batch x{batch}")).await?;
        outcome.figures.push(Figure::rate(
            format!("publish_batch {batch}, {producers} producers"),
            rate(published, started.elapsed()),
            batch,
        ));
        outcome.count(format!("batch{batch}.requested"), n);
        outcome.count(format!("batch{batch}.published"), published);
        broker.delete_topic(&topic).await?;
    }
    broker.shutdown().await;
    Ok(outcome)
}
