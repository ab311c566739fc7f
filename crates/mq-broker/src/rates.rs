//! Message rates: counts per minute bucket, kept in the message store (`StatsStore`) so that
//! every instance adds into the same buckets and, on Redis, they survive restarts.
//!
//! Each instance counts in memory and flushes every second (and on shutdown), so the store sees
//! one write per series and minute bucket per second, not one per message. A rate over a range
//! is the sum of the buckets that start within it divided by its length.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use mq_repo::Increment;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::lock;
use crate::{Broker, BrokerResult};

/// Width of a bucket in seconds.
pub const BUCKET_SECS: i64 = 60;
/// How long buckets are kept: the longest range (24 h) plus a bucket.
pub const KEEP_SECS: u64 = 24 * 3600 + 2 * BUCKET_SECS as u64;
/// How often counts go to the store.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The series of messages appended to a partition.
pub(crate) fn published_series(topic: &str, partition: u32) -> String {
    format!("published:{topic}:{partition}")
}

/// The series of messages a group acknowledged.
pub(crate) fn acked_series(topic: &str, group: &str) -> String {
    format!("acked:{topic}:{group}")
}

/// Counts not yet flushed, by (series, bucket).
#[derive(Debug, Default)]
pub(crate) struct RateCounts {
    pending: Mutex<HashMap<(String, i64), u64>>,
}

impl RateCounts {
    /// Counts `n` in `series` at `now_ms`.
    pub(crate) fn add(&self, series: String, now_ms: i64, n: u64) {
        if n == 0 {
            return;
        }
        let bucket = (now_ms / 1000).div_euclid(BUCKET_SECS) * BUCKET_SECS;
        *lock(&self.pending).entry((series, bucket)).or_default() += n;
    }

    fn take(&self) -> Vec<Increment> {
        lock(&self.pending)
            .drain()
            .map(|((series, bucket_secs), count)| Increment { series, bucket_secs, count })
            .collect()
    }

    fn put_back(&self, increments: Vec<Increment>) {
        let mut pending = lock(&self.pending);
        for i in increments {
            *pending.entry((i.series, i.bucket_secs)).or_default() += i.count;
        }
    }
}

impl Broker {
    /// Writes the counts of this instance to the store. Counts that fail to go are kept for
    /// the next flush.
    pub async fn flush_rates(&self) -> BrokerResult<()> {
        let increments = self.inner.rates.take();
        if increments.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.inner.stats.add(&increments, KEEP_SECS).await {
            self.inner.rates.put_back(increments);
            return Err(error.into());
        }
        Ok(())
    }

    /// Messages per second of each series over the `range` ending now.
    pub(crate) async fn rates(&self, series: &[String], range: Duration) -> BrokerResult<Vec<f64>> {
        let now_secs = self.inner.clock.now_ms() / 1000;
        let range_secs = i64::try_from(range.as_secs()).unwrap_or(i64::MAX).max(1);
        let from = (now_secs - range_secs).div_euclid(BUCKET_SECS) * BUCKET_SECS;
        let sums = self.inner.stats.sums(series, from, now_secs).await?;
        Ok(sums.into_iter().map(|n| n as f64 / range_secs as f64).collect())
    }

    /// Flushes every second until shutdown, then once more.
    pub(crate) fn spawn_rate_flusher(&self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let broker = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(FLUSH_EVERY) => {}
                    _ = shutdown.changed() => {}
                }
                if let Err(error) = broker.flush_rates().await {
                    tracing::warn!(%error, "could not write message rates; retrying");
                }
                if *shutdown.borrow() {
                    break;
                }
            }
        })
    }
}
