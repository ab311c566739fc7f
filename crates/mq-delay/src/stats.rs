//! What the scheduler reports for monitoring: how much the wheel holds, how many messages it
//! fired, and how late they were, over a bounded window of recent firings.

use std::collections::VecDeque;

/// How many recent firings the lateness summary covers.
pub const LATENESS_WINDOW: usize = 10_000;

/// A snapshot of a [`DelayScheduler`](crate::DelayScheduler), from
/// [`stats`](crate::DelayScheduler::stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DelayStats {
    /// Messages the wheel holds now (due within the loader's horizon), each counted once.
    pub wheel_len: usize,
    /// Messages this scheduler moved from a schedule into a log since it was created.
    pub fired_total: u64,
    /// Lateness of the last [`LATENESS_WINDOW`] firings: the append time of each fired
    /// message minus its due time, in milliseconds.
    pub lateness_ms: LatenessSummary,
}

/// Percentiles of a set of lateness samples, in milliseconds; all 0 when there are none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatenessSummary {
    /// How many samples.
    pub count: u64,
    /// The median (nearest rank).
    pub p50: i64,
    /// The 99th percentile (nearest rank).
    pub p99: i64,
    /// The largest.
    pub max: i64,
}

/// The last [`LATENESS_WINDOW`] lateness samples, oldest first.
#[derive(Debug, Default)]
pub(crate) struct LatenessWindow {
    samples: VecDeque<i64>,
}

impl LatenessWindow {
    /// Records one firing, forgetting the oldest when the window is full.
    pub(crate) fn record(&mut self, lateness_ms: i64) {
        if self.samples.len() == LATENESS_WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(lateness_ms);
    }

    /// The percentiles of the window.
    pub(crate) fn summary(&self) -> LatenessSummary {
        let mut sorted: Vec<i64> = self.samples.iter().copied().collect();
        sorted.sort_unstable();
        let rank = |q: f64| {
            // Nearest rank: the smallest sample with at least q of all samples at or below it.
            let n = sorted.len();
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            sorted[index]
        };
        match sorted.last() {
            None => LatenessSummary::default(),
            Some(&max) => LatenessSummary {
                count: sorted.len() as u64,
                p50: rank(0.50),
                p99: rank(0.99),
                max,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(samples: &[i64], expected: LatenessSummary) {
        let mut window = LatenessWindow::default();
        for s in samples {
            window.record(*s);
        }
        assert_eq!(window.summary(), expected, "{samples:?}");
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        check(&[], LatenessSummary::default());
        check(&[7], LatenessSummary { count: 1, p50: 7, p99: 7, max: 7 });
        check(&[3, 1, 2, 4], LatenessSummary { count: 4, p50: 2, p99: 4, max: 4 });
        let hundred: Vec<i64> = (1..=100).rev().collect();
        check(&hundred, LatenessSummary { count: 100, p50: 50, p99: 99, max: 100 });
    }

    #[test]
    fn the_window_keeps_only_recent_samples() {
        let mut window = LatenessWindow::default();
        window.record(1_000_000);
        for _ in 0..LATENESS_WINDOW {
            window.record(5);
        }
        let summary = window.summary();
        assert_eq!((summary.count, summary.max), (LATENESS_WINDOW as u64, 5));
    }
}
