//! Retention: a background task that trims each partition of messages older than its topic's
//! `retentionMs` and keeps it near `message_queue.max_len`.

use std::time::Duration;

use mq_model::Page;
use mq_repo::TopicFilter;
use tokio::sync::watch;

use crate::{Broker, BrokerResult};

/// Runs until `shutdown` turns true, one pass every `retention_interval_secs`.
pub(crate) async fn run(broker: Broker, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(broker.inner.cfg.retention_interval_secs.max(1));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match broker.trim_all().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "retention trimmed messages"),
            // A store hiccup is retried at the next pass; the next pass trims what this missed.
            Err(error) => tracing::warn!(%error, "retention pass failed"),
        }
    }
}

impl Broker {
    /// One retention pass over every topic; returns how many messages went.
    pub async fn trim_all(&self) -> BrokerResult<u64> {
        let mut removed = 0;
        let now_ms = self.inner.clock.now_ms();
        for page in 1.. {
            let topics = self.list_topics(&TopicFilter::default(), Page::new(page, 100)).await?;
            for topic in &topics.items {
                let cutoff = now_ms.saturating_sub(topic.retention_ms);
                for partition in 0..topic.partitions {
                    removed += self.inner.log.trim_before(topic.into(), partition, cutoff).await?;
                    if self.inner.cfg.max_len > 0 {
                        removed += self
                            .inner
                            .log
                            .trim_to_len(topic.into(), partition, self.inner.cfg.max_len)
                            .await?;
                    }
                }
            }
            if topics.items.len() < 100 {
                break;
            }
        }
        Ok(removed)
    }
}
