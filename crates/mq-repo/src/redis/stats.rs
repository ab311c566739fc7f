//! The time-bucketed counters on Redis: one hash per series, `{prefix}:stats:{<series>}`, from
//! bucket start in seconds (decimal) to count.
//!
//! `add` groups the increments by series and bucket and runs `stats_add.lua` once per series:
//! HINCRBY per bucket; when that made a new field, HKEYS and HDEL of the buckets starting more
//! than `keep_secs` before the newest (a new field is the only thing that can leave one behind,
//! so the hash is scanned about once per bucket width, not on every add); then EXPIRE
//! `keep_secs` past the newest bucket, never shortening the expiry, so an abandoned series goes
//! as a whole. `sums` runs `stats_sums.lua` per series, which sums the range on the server
//! rather than sending the whole hash back; `buckets` (for charts) reads each hash whole with
//! HGETALL, at most a day of minute buckets, and keeps the range.
//!
//! Series live in different cluster slots, so each gets its own script call; the calls are
//! issued together and the client pipelines them. An `add` is therefore atomic per series but
//! not across series: after an error some series may have been added to.

use std::collections::{BTreeMap, HashMap};

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
            self.run("add stats", self.scripts.stats_add.run(&self.pool, vec![key], args))
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
            let sum =
                self.run("sum stats", self.scripts.stats_sums.run(&self.pool, vec![key], args));
            reply::uint(&sum.await?, "stats sum")
        });
        try_join_all(sums).await
    }

    async fn buckets(
        &self,
        series: &[String],
        from_secs: i64,
        to_secs: i64,
    ) -> RepoResult<Vec<Vec<(i64, u64)>>> {
        if from_secs > to_secs {
            return Ok(vec![Vec::new(); series.len()]);
        }
        let reads = series.iter().map(|series| async move {
            let key = keys::stats(&self.prefix, series);
            let hash: HashMap<String, i64> = self.run("read stats", self.pool.hgetall(key)).await?;
            let mut buckets: Vec<(i64, u64)> = hash
                .into_iter()
                .filter_map(|(start, count)| {
                    let start = start.parse::<i64>().ok()?;
                    let count = u64::try_from(count).ok().filter(|c| *c > 0)?;
                    (from_secs..=to_secs).contains(&start).then_some((start, count))
                })
                .collect();
            buckets.sort_unstable();
            Ok(buckets)
        });
        try_join_all(reads).await
    }
}
