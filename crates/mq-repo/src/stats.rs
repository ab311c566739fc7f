//! Time-bucketed counters behind the message rates of monitoring: every broker instance adds
//! its counts into shared buckets, so rates cover all instances and, on Redis, survive
//! restarts.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::RepoResult;

/// One addition to a counter: `count` more in the bucket of series `series` that starts at
/// `bucket_secs` (seconds since the epoch, a multiple of the caller's bucket width).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increment {
    /// The series, e.g. `published:orders:3`.
    pub series: String,
    /// The bucket's start, in seconds since the epoch.
    pub bucket_secs: i64,
    /// How much to add.
    pub count: u64,
}

/// Counters per series and time bucket.
#[async_trait]
pub trait StatsStore: Send + Sync + Debug {
    /// Adds the increments (several to one bucket add up, also when made concurrently), in as
    /// few round trips as the store allows. Atomic per series, not across series: after an
    /// error, some series may have been added to.
    ///
    /// Retention, with `keep_secs` as given to this call:
    /// - Once it returns, no series it added to holds a bucket starting more than `keep_secs`
    ///   before that series' newest bucket (so adding to such an old bucket adds nothing).
    /// - Buckets within that window stay until the series expires as a whole, `keep_secs`
    ///   after the later of the last add to it and its newest bucket's start (but at least a
    ///   second after the add), by the store's clock. Added to again, it starts afresh.
    async fn add(&self, increments: &[Increment], keep_secs: u64) -> RepoResult<()>;

    /// For each series, the sum of its buckets starting in `[from_secs, to_secs]` (both ends
    /// included); 0 for a series with none, and for an empty range. In the order given.
    async fn sums(&self, series: &[String], from_secs: i64, to_secs: i64) -> RepoResult<Vec<u64>>;

    /// For each series, the count of each bucket asked for by its start (0 where it has none),
    /// in the order given: `result[s][b]` is series `s` at bucket `buckets[b]`. For charts, whose
    /// callers know the bucket width; [`StatsStore::sums`] is cheaper for totals.
    async fn counts(&self, series: &[String], buckets: &[i64]) -> RepoResult<Vec<Vec<u64>>>;
}
