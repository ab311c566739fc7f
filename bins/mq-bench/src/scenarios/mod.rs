//! The scenarios, and what several of them share: topics, groups and filling a backlog.

mod backlog;
mod ceiling;
mod delay;
mod drain;
mod durability;
mod e2e;
mod publish_http;
mod publish_lib;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use mq_broker::{Broker, GroupSpec, OutgoingMessage};
use mq_client::{Client, CreateGroup, CreateTopic, Publish};
use mq_model::{StartFrom, TopicConfig};
use tokio::task::JoinSet;

use crate::options::Scenario;
use crate::report::Outcome;
use crate::setup::Env;

/// Runs `scenario` once.
pub async fn run(env: &mut Env, scenario: Scenario) -> anyhow::Result<Outcome> {
    match scenario {
        Scenario::Ceiling => ceiling::run(env).await,
        Scenario::PublishLib => publish_lib::run(env).await,
        Scenario::PublishHttp => publish_http::run(env).await,
        Scenario::Drain => drain::run(env).await,
        Scenario::E2e => e2e::run(env).await,
        Scenario::Delay => delay::run(env).await,
        Scenario::Backlog => backlog::run(env).await,
        Scenario::Durability => durability::run(env).await,
        Scenario::All => anyhow::bail!("`all` is not one scenario"),
    }
}

/// The group every scenario consumes with.
pub const GROUP: &str = "bench";

/// A fresh topic with `--partitions` partitions and a shared group reading from the start,
/// through the library.
pub async fn lib_topic(env: &Env, broker: &Broker, what: &str) -> anyhow::Result<String> {
    let topic = env.name(what);
    let config =
        TopicConfig { partitions: env.options.partitions, ..broker.topic_defaults(topic.as_str()) };
    broker.create_topic(config, "mq-bench").await.context("create a topic")?;
    let group =
        GroupSpec { start_from: StartFrom::Earliest, ..GroupSpec::new(topic.as_str(), GROUP) };
    broker.create_group(group).await.context("create a group")?;
    Ok(topic)
}

/// The same over HTTP.
pub async fn http_topic(env: &Env, client: &Client, what: &str) -> anyhow::Result<String> {
    let topic = env.name(what);
    client
        .create_topic(&CreateTopic::new(topic.as_str()).partitions(env.options.partitions))
        .await
        .context("create a topic")?;
    client
        .create_group(
            &CreateGroup::new(topic.as_str(), GROUP).start_from(mq_client::StartFrom::Earliest),
        )
        .await
        .context("create a group")?;
    Ok(topic)
}

/// `n` split over `tasks` as evenly as possible.
pub fn shares(n: u64, tasks: usize) -> Vec<u64> {
    let tasks = tasks.max(1) as u64;
    (0..tasks).map(|i| n / tasks + u64::from(i < n % tasks)).collect()
}

/// Publishes `n` messages of `--size` bytes through the library in batches of `batch`, from
/// `--producers` tasks; returns how many the broker accepted.
pub async fn fill_lib(
    env: &Env,
    broker: &Broker,
    topic: &str,
    n: u64,
    batch: usize,
    what: &str,
) -> anyhow::Result<u64> {
    let bar = crate::progress::bar(n, what);
    let published = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for share in shares(n, env.options.producers) {
        let (broker, topic, value, bar, published) =
            (broker.clone(), topic.to_owned(), env.options.value(), bar.clone(), published.clone());
        tasks.spawn(async move {
            let mut left = share;
            while left > 0 {
                let take = left.min(batch as u64);
                let messages = (0..take).map(|_| OutgoingMessage::new(value.clone())).collect();
                let done = broker.publish_batch(&topic, messages).await?;
                published.fetch_add(done.len() as u64, Ordering::Relaxed);
                bar.inc(take);
                left -= take;
            }
            anyhow::Ok(())
        });
    }
    join_all(tasks).await?;
    bar.finish_and_clear();
    Ok(published.load(Ordering::Relaxed))
}

/// Publishes `n` messages over HTTP, `POST /messages/batch` of `batch`, from `--producers`
/// tasks; returns how many the server accepted.
pub async fn fill_http(
    env: &Env,
    client: &Client,
    topic: &str,
    n: u64,
    batch: usize,
    what: &str,
) -> anyhow::Result<u64> {
    let bar = crate::progress::bar(n, what);
    let published = Arc::new(AtomicU64::new(0));
    let message = Publish::new(env.options.json_value());
    let mut tasks = JoinSet::new();
    for share in shares(n, env.options.producers) {
        let (client, topic, message, bar, published) =
            (client.clone(), topic.to_owned(), message.clone(), bar.clone(), published.clone());
        tasks.spawn(async move {
            let mut left = share;
            let full = vec![message; batch];
            while left > 0 {
                let take = left.min(batch as u64);
                let done = client.publish_batch(&topic, &full[..take as usize]).await?;
                published.fetch_add(done.len() as u64, Ordering::Relaxed);
                bar.inc(take);
                left -= take;
            }
            anyhow::Ok(())
        });
    }
    join_all(tasks).await?;
    bar.finish_and_clear();
    Ok(published.load(Ordering::Relaxed))
}

/// Waits for every task; the first error (or panic) wins.
pub async fn join_all(mut tasks: JoinSet<anyhow::Result<()>>) -> anyhow::Result<()> {
    let mut first = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(anyhow::Error::from).and_then(|r| r);
        if first.is_ok() {
            first = result;
        }
    }
    first
}
