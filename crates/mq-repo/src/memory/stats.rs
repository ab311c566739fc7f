//! The in-memory time-bucketed counters: per series, the counts by bucket start, all under one
//! mutex, kept as the Redis hashes are (see `redis/stats.rs`): every add drops the buckets that
//! have fallen more than `keep_secs` behind the series' newest, and a series expires as its
//! Redis key would.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;

use super::log::lock;
use crate::{Increment, MemoryMessageLog, RepoResult, StatsStore};

/// Every series' buckets.
#[derive(Debug, Default)]
pub(super) struct Counters {
    series: HashMap<String, Series>,
}

#[derive(Debug, Default)]
struct Series {
    /// Count by bucket start in seconds.
    buckets: BTreeMap<i64, u64>,
    /// When the whole series goes, in ms since the epoch, like the Redis key's expiry.
    expires_at_ms: i64,
}

#[async_trait]
impl StatsStore for MemoryMessageLog {
    async fn add(&self, increments: &[Increment], keep_secs: u64) -> RepoResult<()> {
        let now_ms = self.clock.now_ms();
        let keep = i64::try_from(keep_secs).unwrap_or(i64::MAX);
        let mut counters = lock(&self.counters);
        // Series nobody added to for their lifetime go, so that series of deleted topics do not
        // stay forever; a pass over all series is cheap next to the adds that call it.
        counters.series.retain(|_, series| series.expires_at_ms > now_ms);
        let mut touched: HashMap<&str, i64> = HashMap::new();
        for increment in increments.iter().filter(|increment| increment.count > 0) {
            let series = counters.series.entry(increment.series.clone()).or_default();
            let count = series.buckets.entry(increment.bucket_secs).or_default();
            *count = count.saturating_add(increment.count);
            let newest = touched.entry(&increment.series).or_insert(increment.bucket_secs);
            *newest = (*newest).max(increment.bucket_secs);
        }
        for (name, newest_added) in touched {
            let Some(series) = counters.series.get_mut(name) else { continue };
            if let Some(&newest) = series.buckets.keys().next_back() {
                // Keep buckets starting at `newest - keep` or later; split_off keeps those.
                series.buckets = series.buckets.split_off(&newest.saturating_sub(keep));
            }
            // As the Redis script sets the key's expiry: `keep_secs` past the newest bucket of
            // this add, and at least `keep_secs` (and a second) from now, never shortened.
            let ttl_secs = keep.saturating_add(newest_added.saturating_sub(now_ms / 1000).max(0));
            let expires_at_ms = now_ms.saturating_add(ttl_secs.max(1).saturating_mul(1000));
            series.expires_at_ms = series.expires_at_ms.max(expires_at_ms);
        }
        Ok(())
    }

    async fn sums(&self, series: &[String], from_secs: i64, to_secs: i64) -> RepoResult<Vec<u64>> {
        let now_ms = self.clock.now_ms();
        let counters = lock(&self.counters);
        let sum = |name: &String| match counters.series.get(name) {
            Some(series) if series.expires_at_ms > now_ms && from_secs <= to_secs => series
                .buckets
                .range(from_secs..=to_secs)
                .fold(0_u64, |sum, (_, count)| sum.saturating_add(*count)),
            _ => 0,
        };
        Ok(series.iter().map(sum).collect())
    }

    async fn counts(&self, series: &[String], buckets: &[i64]) -> RepoResult<Vec<Vec<u64>>> {
        let now_ms = self.clock.now_ms();
        let counters = lock(&self.counters);
        let counts = |name: &String| match counters.series.get(name) {
            Some(series) if series.expires_at_ms > now_ms => buckets
                .iter()
                .map(|start| series.buckets.get(start).copied().unwrap_or(0))
                .collect(),
            _ => vec![0; buckets.len()],
        };
        Ok(series.iter().map(counts).collect())
    }
}
