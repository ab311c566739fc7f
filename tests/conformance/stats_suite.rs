//! The counters suite: increments add up per series and bucket (also from concurrent writers),
//! sums cover an inclusive range of bucket starts in the order asked, and buckets that fall
//! more than `keep_secs` behind a series' newest one are dropped.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mq_repo::{Increment, StatsStore};

type Stats = Arc<dyn StatsStore>;

/// Minute buckets, as the broker keeps them.
const WIDTH: i64 = 60;
/// A day's retention.
const KEEP: u64 = 86_400;
const ALL_TIME: (i64, i64) = (i64::MIN, i64::MAX);

/// The start of the current minute: buckets near the real time, because a whole series may
/// expire `keep_secs` after its newest bucket by the store's clock.
fn now_bucket() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let secs = i64::try_from(secs).unwrap();
    secs - secs % WIDTH
}

fn inc(series: &str, bucket_secs: i64, count: u64) -> Increment {
    Increment { series: series.to_owned(), bucket_secs, count }
}

fn names(series: &[&str]) -> Vec<String> {
    series.iter().map(|s| (*s).to_owned()).collect()
}

async fn sum(stats: &Stats, series: &str, (from, to): (i64, i64)) -> u64 {
    stats.sums(&names(&[series]), from, to).await.unwrap()[0]
}

pub async fn added_counts_come_back_as_sums(stats: Stats) {
    let b = now_bucket();
    stats
        .add(&[inc("published:orders:0", b - WIDTH, 3), inc("published:orders:0", b, 4)], KEEP)
        .await
        .unwrap();
    assert_eq!(sum(&stats, "published:orders:0", ALL_TIME).await, 7);
    assert_eq!(sum(&stats, "published:orders:0", (b, b)).await, 4);
    assert_eq!(sum(&stats, "published:orders:0", (b - WIDTH, b - WIDTH)).await, 3);
    assert_eq!(sum(&stats, "published:orders:1", ALL_TIME).await, 0, "another series");

    // Nothing to add, and zero counts, change nothing.
    stats.add(&[], KEEP).await.unwrap();
    stats.add(&[inc("published:orders:0", b, 0), inc("empty", b, 0)], KEEP).await.unwrap();
    assert_eq!(sum(&stats, "published:orders:0", ALL_TIME).await, 7);
    assert_eq!(sum(&stats, "empty", ALL_TIME).await, 0);
}

pub async fn increments_to_one_bucket_add_up(stats: Stats) {
    let b = now_bucket();
    let batch = [inc("s", b, 1), inc("s", b, 2), inc("t", b, 10), inc("s", b, 3)];
    stats.add(&batch, KEEP).await.unwrap();
    stats.add(&[inc("s", b, 4)], KEEP).await.unwrap();
    stats.add(&[inc("s", b, 5), inc("t", b, 20)], KEEP).await.unwrap();
    assert_eq!(stats.sums(&names(&["s", "t"]), b, b).await.unwrap(), [15, 30]);
    // Counts far beyond one call's worth still add up exactly.
    stats.add(&[inc("big", b, 1 << 40), inc("big", b, 1 << 40)], KEEP).await.unwrap();
    stats.add(&[inc("big", b, 1)], KEEP).await.unwrap();
    assert_eq!(sum(&stats, "big", ALL_TIME).await, (1 << 41) + 1);
}

pub async fn range_bounds_are_inclusive(stats: Stats) {
    let b = now_bucket() - 10 * WIDTH;
    // Bucket i holds 2^i, so each sum names exactly the buckets it covers.
    let batch: Vec<_> = (0..5).map(|i| inc("s", b + i * WIDTH, 1 << i)).collect();
    stats.add(&batch, KEEP).await.unwrap();
    let at = |i: i64| b + i * WIDTH;
    for (from, to, expected) in [
        (at(0), at(4), 0b11111),
        (at(1), at(3), 0b01110),
        (at(2), at(2), 0b00100),
        (at(1) - 1, at(1), 0b00010),
        (at(1) + 1, at(2) - 1, 0),
        (at(0) + 1, at(4) - 1, 0b01110),
        (at(4) + 1, i64::MAX, 0),
        (i64::MIN, at(0), 0b00001),
        (at(3), at(1), 0),
    ] {
        assert_eq!(sum(&stats, "s", (from, to)).await, expected, "[{from}, {to}]");
    }
}

pub async fn sums_come_in_the_order_given(stats: Stats) {
    let b = now_bucket();
    let batch = [inc("a", b, 1), inc("b", b, 2), inc("c", b, 3)];
    stats.add(&batch, KEEP).await.unwrap();
    let asked = names(&["c", "unknown", "a", "b", "a", ""]);
    assert_eq!(stats.sums(&asked, i64::MIN, i64::MAX).await.unwrap(), [3, 0, 1, 2, 1, 0]);
    assert!(stats.sums(&[], i64::MIN, i64::MAX).await.unwrap().is_empty());
    assert_eq!(stats.sums(&asked, b + 1, b).await.unwrap(), [0; 6], "an empty range");
}

pub async fn counts_come_per_bucket_asked_for(stats: Stats) {
    let b = now_bucket();
    let batch =
        [inc("h", b, 5), inc("h", b - 2 * WIDTH, 1), inc("h", b - WIDTH, 2), inc("i", b, 9)];
    stats.add(&batch, KEEP).await.unwrap();
    stats.add(&[inc("h", b, 1)], KEEP).await.unwrap();
    let asked = names(&["h", "unknown", "i"]);
    let buckets = [b, b - 2 * WIDTH, b + WIDTH, b - WIDTH, b];
    let counts = stats.counts(&asked, &buckets).await.unwrap();
    assert_eq!(counts, [vec![6, 1, 0, 2, 6], vec![0; 5], vec![9, 0, 0, 0, 9]]);
    assert_eq!(stats.counts(&asked, &[]).await.unwrap(), vec![Vec::<u64>::new(); 3]);
    assert!(stats.counts(&[], &buckets).await.unwrap().is_empty());
    // They add up to the sums.
    let sums = stats.sums(&asked, b - 2 * WIDTH, b).await.unwrap();
    let every = [b - 2 * WIDTH, b - WIDTH, b];
    let counted: Vec<u64> =
        stats.counts(&asked, &every).await.unwrap().iter().map(|c| c.iter().sum()).collect();
    assert_eq!(sums, counted);
}

pub async fn concurrent_adds_sum_exactly(stats: Stats) {
    const WRITERS: u64 = 8;
    const EACH: u64 = 200;
    let b = now_bucket();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let stats = stats.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                // Every writer adds to a shared bucket, to a bucket of its own and, every
                // other time, to a bucket that is new to the series (the pruning path).
                let mut batch = vec![inc("shared", b, 1), inc(&format!("own{w}"), b, 2)];
                let bucket = b - i64::try_from(i % 100).unwrap() * WIDTH;
                if i % 2 == 0 {
                    batch.push(inc("spread", bucket, w + 1));
                }
                stats.add(&batch, KEEP).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut series = vec!["shared".to_owned(), "spread".to_owned()];
    series.extend((0..WRITERS).map(|w| format!("own{w}")));
    let sums = stats.sums(&series, i64::MIN, i64::MAX).await.unwrap();
    let spread: u64 = (1..=WRITERS).sum::<u64>() * EACH / 2;
    let mut expected = vec![WRITERS * EACH, spread];
    expected.extend((0..WRITERS).map(|_| 2 * EACH));
    assert_eq!(sums, expected);
}

pub async fn buckets_behind_the_newest_by_more_than_keep_secs_are_dropped(stats: Stats) {
    const KEEP_HOUR: u64 = 3_600;
    let b = now_bucket();
    let hour = 3_600;
    stats.add(&[inc("s", b - 3 * hour, 1), inc("s", b - 2 * hour, 2)], KEEP_HOUR).await.unwrap();
    stats.add(&[inc("other", b - 3 * hour, 1)], KEEP_HOUR).await.unwrap();
    assert_eq!(sum(&stats, "s", ALL_TIME).await, 3, "an hour apart: both kept");

    // The newest bucket moves on: exactly keep_secs behind it stays, further behind goes.
    stats.add(&[inc("s", b - hour, 4)], KEEP_HOUR).await.unwrap();
    assert_eq!(sum(&stats, "s", ALL_TIME).await, 6);
    assert_eq!(sum(&stats, "s", (i64::MIN, b - 3 * hour)).await, 0, "the oldest is gone");

    // Far later: everything before the window goes, also when the call adds old buckets too.
    stats.add(&[inc("s", b - hour - WIDTH, 8), inc("s", b, 16)], KEEP_HOUR).await.unwrap();
    assert_eq!(sum(&stats, "s", ALL_TIME).await, 4 + 16);

    // Adding to a bucket already out of the window adds nothing.
    stats.add(&[inc("s", b - 2 * hour, 32)], KEEP_HOUR).await.unwrap();
    assert_eq!(sum(&stats, "s", ALL_TIME).await, 4 + 16);
    // But a late bucket inside the window counts.
    stats.add(&[inc("s", b - hour + WIDTH, 64)], KEEP_HOUR).await.unwrap();
    assert_eq!(sum(&stats, "s", ALL_TIME).await, 4 + 16 + 64);

    // Other series keep their own window.
    assert_eq!(sum(&stats, "other", ALL_TIME).await, 1);
}

pub async fn series_no_longer_added_to_expire(stats: Stats) {
    let old = now_bucket() - 3_600;
    // Its newest bucket is long past keep_secs, so the series may go a second after the add.
    stats.add(&[inc("s", old, 1)], 1).await.unwrap();
    stats.add(&[inc("kept", old, 1)], KEEP).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(stats.sums(&names(&["s", "kept"]), i64::MIN, i64::MAX).await.unwrap(), [0, 1]);
    // Added to again, it starts afresh.
    stats.add(&[inc("s", old, 5)], KEEP).await.unwrap();
    assert_eq!(sum(&stats, "s", ALL_TIME).await, 5);
}
