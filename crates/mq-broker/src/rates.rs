//! Message rates: counts per time bucket, kept in the message store (`StatsStore`) so that
//! every instance adds into the same buckets and, on Redis, they survive restarts.
//!
//! Each instance counts in memory and flushes every second (and on shutdown), so the store sees
//! one write per series and bucket per second, not one per message. A rate over a range is the
//! sum of the buckets that start within it divided by its length.
//!
//! Every count goes into two resolutions: minute buckets kept a day (the rates of
//! `/monitoring`, and charts beyond an hour) and 10-second buckets kept an hour (charts of the
//! last hour, where a minute is too coarse to watch traffic move).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
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

/// One way of bucketing the counts.
#[derive(Debug, Clone, Copy)]
struct Resolution {
    /// Bucket width in seconds.
    width: i64,
    /// How long its buckets are kept.
    keep_secs: u64,
    /// Put before a series' name, so both resolutions have their own series.
    prefix: &'static str,
}

impl Resolution {
    fn bucket(self, now_ms: i64) -> i64 {
        (now_ms / 1000).div_euclid(self.width) * self.width
    }

    fn series(self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// Minute buckets for a day: `/monitoring`'s rates, and charts of more than an hour.
const MINUTES: Resolution = Resolution { width: BUCKET_SECS, keep_secs: KEEP_SECS, prefix: "" };
/// 10-second buckets for an hour: charts of up to an hour.
const TEN_SECONDS: Resolution =
    Resolution { width: 10, keep_secs: FINE_RANGE_SECS as u64 + 20, prefix: "10s:" };
/// The longest chart drawn from [`TEN_SECONDS`].
const FINE_RANGE_SECS: i64 = 3600;
const RESOLUTIONS: [Resolution; 2] = [MINUTES, TEN_SECONDS];

/// The series of messages appended to a partition.
pub(crate) fn published_series(topic: &str, partition: u32) -> String {
    format!("published:{topic}:{partition}")
}

/// The series of messages a group acknowledged.
pub(crate) fn acked_series(topic: &str, group: &str) -> String {
    format!("acked:{topic}:{group}")
}

/// Counts not yet flushed, per resolution (in [`RESOLUTIONS`] order) by (series, bucket).
#[derive(Debug, Default)]
pub(crate) struct RateCounts {
    pending: [Mutex<HashMap<(String, i64), u64>>; 2],
}

impl RateCounts {
    /// Counts `n` in `series` at `now_ms`, in every resolution.
    pub(crate) fn add(&self, series: String, now_ms: i64, n: u64) {
        if n == 0 {
            return;
        }
        for (pending, resolution) in self.pending.iter().zip(RESOLUTIONS) {
            let key = (resolution.series(&series), resolution.bucket(now_ms));
            *lock(pending).entry(key).or_default() += n;
        }
    }

    fn take(&self, index: usize) -> Vec<Increment> {
        lock(&self.pending[index])
            .drain()
            .map(|((series, bucket_secs), count)| Increment { series, bucket_secs, count })
            .collect()
    }

    fn put_back(&self, index: usize, increments: Vec<Increment>) {
        let mut pending = lock(&self.pending[index]);
        for i in increments {
            *pending.entry((i.series, i.bucket_secs)).or_default() += i.count;
        }
    }
}

impl Broker {
    /// Writes the counts of this instance to the store. Counts that fail to go are kept for
    /// the next flush.
    pub async fn flush_rates(&self) -> BrokerResult<()> {
        let mut outcome = Ok(());
        for (index, resolution) in RESOLUTIONS.iter().enumerate() {
            let increments = self.inner.rates.take(index);
            if increments.is_empty() {
                continue;
            }
            if let Err(error) = self.inner.stats.add(&increments, resolution.keep_secs).await {
                self.inner.rates.put_back(index, increments);
                outcome = Err(error.into());
            }
        }
        outcome
    }

    /// Messages per second of each series over the `range` ending now.
    pub(crate) async fn rates(&self, series: &[String], range: Duration) -> BrokerResult<Vec<f64>> {
        let now_secs = self.inner.clock.now_ms() / 1000;
        let range_secs = i64::try_from(range.as_secs()).unwrap_or(i64::MAX).max(1);
        let from = (now_secs - range_secs).div_euclid(BUCKET_SECS) * BUCKET_SECS;
        let sums = self.inner.stats.sums(series, from, now_secs).await?;
        Ok(sums.into_iter().map(|n| n as f64 / range_secs as f64).collect())
    }

    /// Flushes the counts, and the groups' last ack times ([`crate::commits`]), every second
    /// until shutdown, then once more.
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
                if let Err(error) = broker.flush_commit_times().await {
                    tracing::warn!(%error, "could not write groups' last commit times; retrying");
                }
                if *shutdown.borrow() {
                    break;
                }
            }
        })
    }
}

/// Most steps a [`RateHistory`]'s range spans: a 24 h history has a point per 8 minutes, an
/// hour one per 20 seconds (181 points: the range's 180 steps, plus one since the range rarely
/// starts on a step).
pub const MAX_POINTS: i64 = 180;

/// Published and acknowledged messages over time, all topics (or one) together: for charts.
#[derive(Debug, Clone, PartialEq)]
pub struct RateHistory {
    /// The range asked for.
    pub range: Duration,
    /// Width of a point: a whole number of buckets (10 seconds up to an hour, a minute beyond),
    /// so that the range spans at most [`MAX_POINTS`] of them.
    pub step: Duration,
    /// When the view was taken; the last point is the step that holds it.
    pub taken_at: DateTime<Utc>,
    /// One per step, oldest first, with no gaps: the first is the step that holds the start of
    /// the range, so it may begin up to a step before it.
    pub points: Vec<RatePoint>,
}

/// One step of a [`RateHistory`].
#[derive(Debug, Clone, PartialEq)]
pub struct RatePoint {
    /// Where the step begins.
    pub at: DateTime<Utc>,
    /// Messages appended to the topics' partitions.
    pub published: u64,
    /// Messages acknowledged, all groups together (a message two groups consume counts twice).
    pub acked: u64,
    /// Messages published per second: over the step, or for the current step over the seconds
    /// of it so far.
    pub publish_rate: f64,
    /// Messages acknowledged per second, likewise.
    pub consume_rate: f64,
}

impl RateHistory {
    /// Messages published in all its points.
    pub fn published(&self) -> u64 {
        self.points.iter().map(|p| p.published).sum()
    }

    /// Messages acknowledged in all its points.
    pub fn acked(&self) -> u64 {
        self.points.iter().map(|p| p.acked).sum()
    }
}

impl Broker {
    /// Published and acknowledged counts per step over the `range` ending now (1 s to 24 h),
    /// of every topic or of one (`TopicNotFound`). Counts of this instance not yet flushed are
    /// flushed first.
    pub async fn rate_history(
        &self,
        topic: Option<&str>,
        range: Duration,
    ) -> BrokerResult<RateHistory> {
        if range.is_zero() || range > crate::MAX_RANGE {
            return Err(crate::BrokerError::invalid("timeRange", "must be between 1s and 24h"));
        }
        let range_secs = i64::try_from(range.as_secs()).unwrap_or(i64::MAX).max(1);
        let resolution = if range_secs <= FINE_RANGE_SECS { TEN_SECONDS } else { MINUTES };
        let topics = self.topics_to_watch(topic).await?;
        let mut published = Vec::new();
        let mut acked = Vec::new();
        for topic in &topics {
            published.extend(
                (0..topic.partitions).map(|p| resolution.series(&published_series(&topic.name, p))),
            );
            for group in self.all_groups(&topic.name).await? {
                acked.push(resolution.series(&acked_series(&topic.name, &group.group_id)));
            }
        }
        let taken_at = self.inner.clock.now();
        let now_secs = taken_at.timestamp();
        let width = resolution.width;
        let buckets_per_step = ((range_secs / width + MAX_POINTS - 1) / MAX_POINTS).max(1);
        let step = width * buckets_per_step;
        let first = (now_secs - range_secs).div_euclid(step) * step;
        let last = now_secs.div_euclid(step) * step;
        let slots = usize::try_from((last - first) / step + 1).unwrap_or(0);
        // Every bucket from the first step's start to now; bucket `b` falls in step
        // `b / buckets_per_step`.
        let starts: Vec<i64> = (first..=now_secs).step_by(width.unsigned_abs() as usize).collect();
        let per_step = usize::try_from(buckets_per_step).unwrap_or(1);
        let stats = &self.inner.stats;
        let (published, acked) =
            tokio::try_join!(stats.counts(&published, &starts), stats.counts(&acked, &starts))?;
        let mut counts = vec![(0_u64, 0_u64); slots];
        for series in &published {
            for (b, n) in series.iter().enumerate() {
                counts[(b / per_step).min(slots - 1)].0 += n;
            }
        }
        for series in &acked {
            for (b, n) in series.iter().enumerate() {
                counts[(b / per_step).min(slots - 1)].1 += n;
            }
        }
        let points = counts
            .into_iter()
            .zip(0_i64..)
            .map(|((published, acked), i)| {
                let at = first + i * step;
                // The current step has lasted only this long so far.
                let seconds = if at == last { (now_secs - at + 1).min(step) } else { step };
                let per_second = |n: u64| n as f64 / seconds as f64;
                RatePoint {
                    at: DateTime::from_timestamp(at, 0).unwrap_or_default(),
                    published,
                    acked,
                    publish_rate: per_second(published),
                    consume_rate: per_second(acked),
                }
            })
            .collect();
        Ok(RateHistory { range, step: Duration::from_secs(step.unsigned_abs()), taken_at, points })
    }
}
