//! A driver for profiling the broker's publish and consume paths (not a benchmark: the
//! scenario tool is `mq-bench`). Publishes N messages of 200 bytes singly and in batches of
//! 100, then drains them with `fetch` (1000 at a time) + `ack`, and prints each phase's rate.
//!
//! ```sh
//! cargo run --release -p mq-broker --example profile_hot_paths -- 200000
//! MQ_PROFILE_REDIS_PORT=6390 cargo run --release -p mq-broker --example profile_hot_paths
//! perf record -g target/release/examples/profile_hot_paths 200000
//! ```
//!
//! Memory stores by default; with `MQ_PROFILE_REDIS_PORT` set, the log is on the Redis server
//! on that local port (metadata stays in memory).

#![allow(clippy::print_stdout)] // An example reports on stdout.

use std::time::{Duration, Instant};

use mq_broker::{Broker, BrokerConfig, FetchRequest, GroupSpec, OutgoingMessage};
use mq_model::{DeliveryMode, StartFrom, TopicConfig};
use mq_repo::LogProvider;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(100_000);
    let mut cfg = BrokerConfig::default();
    if let Ok(port) = std::env::var("MQ_PROFILE_REDIS_PORT") {
        cfg.message_queue.provider = LogProvider::RedisStreams;
        cfg.message_queue.redis.port = port.parse()?;
        cfg.message_queue.redis.host = "127.0.0.1".to_owned();
    }
    let broker = Broker::open(&cfg).await?;
    let topic = format!("profile-{}", std::process::id());
    broker
        .create_topic(TopicConfig { partitions: 4, ..broker.topic_defaults(&topic) }, "profile")
        .await?;
    let spec = GroupSpec {
        start_from: StartFrom::Earliest,
        delivery_mode: DeliveryMode::Shared,
        ..GroupSpec::new(&topic, "drain")
    };
    broker.create_group(spec).await?;
    let value = format!("\"{}\"", "x".repeat(198));

    let singles = n / 10;
    let started = Instant::now();
    for i in 0..singles {
        let message = OutgoingMessage::new(value.clone()).with_key(format!("k{}", i % 1000));
        broker.publish(&topic, message).await?;
    }
    report("publish single", singles, started.elapsed());

    let started = Instant::now();
    for chunk in 0..n / 100 {
        let batch = (0..100)
            .map(|i| OutgoingMessage::new(value.clone()).with_key(format!("k{}", chunk + i)))
            .collect();
        broker.publish_batch(&topic, batch).await?;
    }
    report("publish batch 100", n / 100 * 100, started.elapsed());

    let total = singles + n / 100 * 100;
    let started = Instant::now();
    let request = FetchRequest {
        topic_name: topic.clone(),
        group_id: "drain".to_owned(),
        consumer_id: "c1".to_owned(),
        max_messages: 1000,
        wait: Duration::ZERO,
    };
    let mut drained = 0;
    while drained < total {
        let messages = broker.fetch(&request).await?;
        if messages.is_empty() {
            anyhow::bail!("drained {drained} of {total}, then nothing more");
        }
        let receipts: Vec<String> = messages.into_iter().map(|m| m.receipt).collect();
        drained += broker.ack(&topic, "drain", &receipts).await? as usize;
    }
    report("fetch 1000 + ack", drained, started.elapsed());
    broker.delete_topic(&topic).await.ok();
    broker.shutdown().await;
    Ok(())
}

fn report(phase: &str, count: usize, took: Duration) {
    let rate = count as f64 / took.as_secs_f64().max(1e-9);
    println!("{phase:<20} {count:>9} msgs {:>9.1} ms {rate:>12.0} msg/s", took.as_secs_f64() * 1e3);
}
