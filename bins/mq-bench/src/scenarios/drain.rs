//! `drain`: consume + ack throughput of a backlog (1,000,000 messages by default) in a `shared`
//! group with `--consumers` consumers: through the library's `subscribe` (a handler per
//! message, acked on `Ok`), through library `fetch` + `ack` in batches of 1000, and over HTTP
//! (`POST /consume` of 1000 + `POST /ack` of the receipts).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use mq_broker::{FetchRequest, SubscribeOptions};
use mq_client::Consume;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{fill_http, fill_lib, http_topic, join_all, lib_topic, GROUP};
use crate::report::{Figure, Outcome};
use crate::setup::Env;
use crate::stats::rate;

/// Messages per fetch or consume request, and per publish request while filling.
const BATCH: usize = 1_000;
/// Handlers one subscription runs at once.
const SUBSCRIBE_CONCURRENCY: usize = 1_000;
/// A drain that has not finished by then is reported incomplete.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(900);

pub async fn run(env: &mut Env) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new("drain");
    let n = env.options.count(1_000_000, 3_000);
    let consumers = env.options.consumers;
    let broker = env.broker().await?;

    // Library subscribe.
    let topic = lib_topic(env, &broker, "drain-sub").await?;
    let published = fill_lib(env, &broker, &topic, n, BATCH, "backlog (library)").await?;
    outcome.count("subscribe.published", published);
    let bar = crate::progress::bar(published, "drain: subscribe");
    let handled = Arc::new(AtomicU64::new(0));
    let done = Arc::new(Notify::new());
    let started = Instant::now();
    let mut subscriptions = Vec::new();
    for c in 0..consumers {
        let options = SubscribeOptions {
            concurrency: SUBSCRIBE_CONCURRENCY,
            wait: Duration::from_millis(200),
            ..SubscribeOptions::new(format!("consumer-{c}"))
        };
        let (handled, done, bar) = (handled.clone(), done.clone(), bar.clone());
        subscriptions.push(broker.subscribe(&topic, GROUP, options, move |_message| {
            let (handled, done, bar) = (handled.clone(), done.clone(), bar.clone());
            async move {
                if handled.fetch_add(1, Ordering::Relaxed) + 1 >= published {
                    done.notify_one();
                }
                bar.inc(1);
                Ok(())
            }
        }));
    }
    let finished = tokio::time::timeout(DRAIN_TIMEOUT, done.notified()).await.is_ok();
    let took = started.elapsed();
    // Stopping waits for the last handlers to be acked.
    for subscription in subscriptions {
        subscription.stop().await;
    }
    bar.finish_and_clear();
    if !finished {
        outcome.notes.push(format!("subscribe drain incomplete after {DRAIN_TIMEOUT:?}"));
    }
    outcome.count("subscribe.delivered", handled.load(Ordering::Relaxed));
    outcome.figures.push(Figure::rate(
        format!("library subscribe, {consumers} consumers"),
        rate(published, took),
        BATCH,
    ));
    broker.delete_topic(&topic).await?;

    // Library fetch + ack in batches.
    let topic = lib_topic(env, &broker, "drain-fetch").await?;
    let published = fill_lib(env, &broker, &topic, n, BATCH, "backlog (library)").await?;
    outcome.count("fetch.published", published);
    let bar = crate::progress::bar(published, "drain: fetch + ack");
    let (acked, took) = drain_batches(consumers, published, &bar, |c| {
        let broker = broker.clone();
        let request = Arc::new(FetchRequest {
            topic_name: topic.clone(),
            group_id: GROUP.to_owned(),
            consumer_id: format!("consumer-{c}"),
            max_messages: BATCH,
            wait: Duration::from_millis(200),
        });
        move || {
            let (broker, request) = (broker.clone(), request.clone());
            async move {
                let batch = broker.fetch(&request).await?;
                if batch.is_empty() {
                    return Ok(0);
                }
                let receipts: Vec<String> = batch.into_iter().map(|m| m.receipt).collect();
                Ok(broker.ack(&request.topic_name, GROUP, &receipts).await?)
            }
        }
    })
    .await?;
    outcome.count("fetch.delivered", acked);
    outcome.figures.push(Figure::rate(
        format!("library fetch + ack x{BATCH}, {consumers} consumers"),
        rate(published, took),
        BATCH,
    ));
    broker.delete_topic(&topic).await?;
    broker.shutdown().await;

    // HTTP.
    let client = env.client().await?;
    let topic = http_topic(env, &client, "drain-http").await?;
    let published = fill_http(env, &client, &topic, n, BATCH, "backlog (HTTP)").await?;
    outcome.count("http.published", published);
    let bar = crate::progress::bar(published, "drain: POST /consume + /ack");
    let (acked, took) = drain_batches(consumers, published, &bar, |c| {
        let client = client.clone();
        let request = Arc::new(
            Consume::new(topic.as_str(), GROUP, format!("consumer-{c}"))
                .max_messages(BATCH as u32)
                .wait(Duration::from_millis(200)),
        );
        move || {
            let (client, request) = (client.clone(), request.clone());
            async move {
                let batch = client.consume(&request).await?;
                if batch.is_empty() {
                    return Ok(0);
                }
                let receipts: Vec<String> = batch.into_iter().map(|d| d.receipt).collect();
                Ok(client.ack(&request.topic_name, GROUP, &receipts).await?)
            }
        }
    })
    .await?;
    outcome.count("http.delivered", acked);
    outcome.figures.push(Figure::rate(
        format!("HTTP consume + ack x{BATCH}, {consumers} consumers"),
        rate(published, took),
        BATCH,
    ));
    client.delete_topic(&topic).await?;
    Ok(outcome)
}

/// Drains a backlog of `published` messages with `consumers` tasks, until all are acknowledged
/// or [`DRAIN_TIMEOUT`] passes: task `c` calls the step `make(c)` gives it again and again, one
/// fetch and the ack of what it got, which answers how many it settled. Returns how many were
/// acknowledged and how long it took; the first error wins.
async fn drain_batches<S, Fut>(
    consumers: usize,
    published: u64,
    bar: &ProgressBar,
    make: impl Fn(usize) -> S,
) -> anyhow::Result<(u64, Duration)>
where
    S: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let acked = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + DRAIN_TIMEOUT;
    let mut tasks = JoinSet::new();
    for c in 0..consumers {
        let (mut step, acked, bar) = (make(c), acked.clone(), bar.clone());
        tasks.spawn(async move {
            while acked.load(Ordering::Relaxed) < published && Instant::now() < deadline {
                let settled = step().await?;
                acked.fetch_add(settled, Ordering::Relaxed);
                bar.inc(settled);
            }
            anyhow::Ok(())
        });
    }
    join_all(tasks).await?;
    let took = started.elapsed();
    bar.finish_and_clear();
    Ok((acked.load(Ordering::Relaxed), took))
}
