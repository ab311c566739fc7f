//! The time-bucketed counters on Redis: one hash per series, `{prefix}:stats:{<series>}`, from
//! bucket start in seconds (decimal) to count.
//!
//! `add` groups the increments by series and bucket and runs `stats_add.lua` once per series:
//! HINCRBY per bucket; when that made a new field, HKEYS and HDEL of the buckets starting more
//! than `keep_secs` before the newest (a new field is the only thing that can leave one behind,
//! so the hash is scanned about once per bucket width, not on every add); then EXPIRE
//! `keep_secs` past the newest bucket, never shortening the expiry, so an abandoned series goes
//! as a whole. `sums` runs `stats_sums.lua` per series, which sums the range on the server
//! rather than sending the whole hash back; `counts` (for charts) reads just the buckets asked
//! for with HMGET.
//!
//! Series live in different cluster slots, so each gets its own script call; the calls are
//! issued together and the client pipelines them. An `add` is therefore atomic per series but
//! not across series: after an error some series may have been added to.

use std::collections::BTreeMap;

use async_trait::async_trait;
use fred::prelude::{HashesInterface, Value};
use futures_util::future::try_join_all;

use super::{keys, reply};
use crate::{Increment, RepoResult, StatsStore};

/// The largest `keep_secs` passed on (about 35,000 years): far beyond any retention, and small
/// enough for EXPIRE and for exact arithmetic in Lua's doubles.
const MAX_KEEP_SECS: u64 = 1 << 40;

#[async_trait]
impl StatsStore for super::RedisMessageLog {
    async fn add(&self, increments: &[Increment], keep_secs: u64) -> RepoResult<()> {
        let mut by_series: BTreeMap<&str, BTreeMap<i64, u64>> = BTreeMap::new();
        for increment in increments.iter().filter(|increment| increment.count > 0) {
            let buckets = by_series.entry(&increment.series).or_default();
            let count = buckets.entry(increment.bucket_secs).or_default();
            *count = count.saturating_add(increment.count);
        }
        let keep = Value::from(keep_secs.min(MAX_KEEP_SECS).to_string());
        let adds = by_series.into_iter().map(|(series, buckets)| {
            let mut args = Vec::with_capacity(1 + 2 * buckets.len());
            args.push(keep.clone());
            for (bucket, count) in buckets {
                // HINCRBY takes a signed 64-bit increment; a larger one could not be stored
                // anyway.
                let count = i64::try_from(count).unwrap_or(i64::MAX);
                args.extend([Value::from(bucket), Value::from(count)]);
            }
            let key = keys::stats(&self.prefix, series);
            async move { self.script("add stats", &self.scripts.stats_add, vec![key], args).await }
        });
        try_join_all(adds).await.map(drop)
    }

    async fn sums(&self, series: &[String], from_secs: i64, to_secs: i64) -> RepoResult<Vec<u64>> {
        if from_secs > to_secs {
            // An empty range; no need to ask.
            return Ok(vec![0; series.len()]);
        }
        let sums = series.iter().map(|series| async move {
            let key = keys::stats(&self.prefix, series);
            let args = vec![Value::from(from_secs), Value::from(to_secs)];
            let sum = self.script("sum stats", &self.scripts.stats_sums, vec![key], args);
            reply::uint(&sum.await?, "stats sum")
        });
        try_join_all(sums).await
    }

    async fn counts(&self, series: &[String], buckets: &[i64]) -> RepoResult<Vec<Vec<u64>>> {
        if buckets.is_empty() {
            return Ok(vec![Vec::new(); series.len()]);
        }
        let fields: Vec<String> = buckets.iter().map(i64::to_string).collect();
        let reads = series.iter().map(|series| {
            let key = keys::stats(&self.prefix, series);
            let fields = fields.clone();
            async move {
                let counts: Vec<Option<i64>> =
                    self.run("read stats", || self.pool.hmget(&key, fields.clone())).await?;
                Ok(counts
                    .into_iter()
                    .map(|count| count.and_then(|c| u64::try_from(c).ok()).unwrap_or(0))
                    .collect())
            }
        });
        try_join_all(reads).await
    }
}
