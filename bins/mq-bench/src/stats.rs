//! Percentiles (nearest rank) and rates.

use std::time::Duration;

/// Percentiles of latency samples in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// Sorts the samples and takes the nearest ranks; NaN for no samples.
    pub fn of(mut samples: Vec<f64>) -> Percentiles {
        samples.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index =
                ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len().max(1)) - 1;
            samples.get(index).copied().unwrap_or(f64::NAN)
        };
        Percentiles {
            count: samples.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            p999: rank(0.999),
            max: rank(1.0),
        }
    }
}

/// Messages per second.
pub fn rate(messages: u64, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64().max(1e-9)
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// Now, in microseconds since the epoch: a timestamp other processes can compare with.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
