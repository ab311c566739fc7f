//! Publish and consume in process with the embedded (in-memory) stores:
//! `cargo run -p mq-broker --example quickstart`.
//!
//! The same code runs on Redis + MongoDB by opening the broker from a config whose
//! `message_queue.provider` is `redis_streams` and `metadata.provider` is `mongodb`.
// An example talks to the person running it.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use mq_broker::{Broker, BrokerConfig, GroupSpec, OutgoingMessage, SubscribeOptions};
use mq_model::{DeliveryMode, StartFrom, TopicConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let broker = Broker::open(&BrokerConfig::default()).await?;

    broker
        .create_topic(
            TopicConfig { partitions: 3, ..broker.topic_defaults("user-events") },
            "example",
        )
        .await?;
    let spec = GroupSpec {
        start_from: StartFrom::Earliest,
        delivery_mode: DeliveryMode::Ordered,
        ..GroupSpec::new("user-events", "welcome-mailer")
    };
    broker.create_group(spec).await?;

    for user in ["alice", "bob", "carol"] {
        let event = format!(r#"{{"eventType":"user_registered","user":"{user}"}}"#);
        let published =
            broker.publish("user-events", OutgoingMessage::new(event).with_key(user)).await?;
        println!(
            "published {} to partition {} at offset {}",
            published.message_id,
            published.partition,
            published.offset.unwrap_or_default()
        );
    }

    // The handler's Ok acks the message; an Err would nack it for another try.
    let subscription = broker.subscribe(
        "user-events",
        "welcome-mailer",
        SubscribeOptions::new("mailer-1"),
        |message| async move {
            println!(
                "sending a welcome mail for {}",
                String::from_utf8_lossy(&message.message.value)
            );
            Ok(())
        },
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    subscription.stop().await;
    broker.shutdown().await;
    Ok(())
}
