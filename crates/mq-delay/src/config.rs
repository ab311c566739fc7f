//! The delay config (`message_queue.delay`): the wheel's tick, the loader's cadence and
//! horizon, and the limits on delays.

use serde::{Deserialize, Serialize};

use crate::DelayError;

/// The longest `max_delay_secs` accepted: ten years, far beyond any sensible delay and far
/// from overflowing millisecond arithmetic.
const MAX_DELAY_CAP_SECS: u64 = 10 * 365 * 86_400;

/// Delayed delivery settings; every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DelayConfig {
    /// The time wheel's tick in milliseconds: how often due messages are fired (default 10).
    pub tick_ms: u64,
    /// The longest delay a message may ask for, in seconds (default 2,592,000: 30 days).
    pub max_delay_secs: u64,
    /// How far in the past a `deliverAt` may lie and still be accepted (it is then due at
    /// once), in milliseconds (default 1000); older times are rejected.
    pub past_tolerance_ms: u64,
    /// How often the loader reads the durable schedules into the wheel, in milliseconds
    /// (default 1000).
    pub load_interval_ms: u64,
    /// How far ahead the loader reads, in milliseconds (default 60,000); more than
    /// `load_interval_ms`, so a message is in the wheel before it falls due.
    pub horizon_ms: u64,
    /// The most schedule entries the loader reads per partition per round (default 10,000).
    pub load_batch: usize,
}

impl Default for DelayConfig {
    fn default() -> Self {
        Self {
            tick_ms: 10,
            max_delay_secs: 30 * 86_400,
            past_tolerance_ms: 1_000,
            load_interval_ms: 1_000,
            horizon_ms: 60_000,
            load_batch: 10_000,
        }
    }
}

impl DelayConfig {
    /// Checks the values that could not work; the error names the key.
    pub fn validate(&self) -> Result<(), DelayError> {
        let invalid = |field, reason| Err(DelayError::InvalidConfig { field, reason });
        if !(1..=60_000).contains(&self.tick_ms) {
            return invalid("message_queue.delay.tick_ms", "must be between 1 and 60000");
        }
        if !(1..=MAX_DELAY_CAP_SECS).contains(&self.max_delay_secs) {
            return invalid(
                "message_queue.delay.max_delay_secs",
                "must be between 1 and 315360000 (ten years)",
            );
        }
        if self.past_tolerance_ms > self.max_delay_secs.saturating_mul(1_000) {
            return invalid(
                "message_queue.delay.past_tolerance_ms",
                "must not exceed max_delay_secs",
            );
        }
        if self.load_interval_ms < self.tick_ms {
            return invalid("message_queue.delay.load_interval_ms", "must be at least tick_ms");
        }
        if self.horizon_ms <= self.load_interval_ms {
            return invalid(
                "message_queue.delay.horizon_ms",
                "must be more than load_interval_ms, or messages fall due before they are loaded",
            );
        }
        if self.horizon_ms > MAX_DELAY_CAP_SECS * 1_000 {
            return invalid("message_queue.delay.horizon_ms", "must be at most ten years");
        }
        if self.load_batch == 0 {
            return invalid("message_queue.delay.load_batch", "must be at least 1");
        }
        Ok(())
    }

    /// `max_delay_secs` in milliseconds.
    pub fn max_delay_ms(&self) -> i64 {
        i64::try_from(self.max_delay_secs.saturating_mul(1_000)).unwrap_or(i64::MAX)
    }

    /// `horizon_ms` as a signed offset.
    pub(crate) fn horizon(&self) -> i64 {
        i64::try_from(self.horizon_ms).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(edit: fn(&mut DelayConfig), field: Option<&str>) {
        let mut cfg = DelayConfig::default();
        edit(&mut cfg);
        match (cfg.validate(), field) {
            (Ok(()), None) => {}
            (Err(DelayError::InvalidConfig { field: got, .. }), Some(want)) => {
                assert_eq!(got, want);
            }
            (result, want) => panic!("{cfg:?}: got {result:?}, want error on {want:?}"),
        }
    }

    #[test]
    fn bad_values_are_named() {
        check(|_| {}, None);
        check(|c| c.tick_ms = 0, Some("message_queue.delay.tick_ms"));
        check(|c| c.tick_ms = 1, None);
        check(|c| c.max_delay_secs = 0, Some("message_queue.delay.max_delay_secs"));
        check(|c| c.max_delay_secs = u64::MAX, Some("message_queue.delay.max_delay_secs"));
        check(|c| c.past_tolerance_ms = 0, None);
        check(
            |c| c.past_tolerance_ms = 3_000_000_000,
            Some("message_queue.delay.past_tolerance_ms"),
        );
        check(|c| c.load_interval_ms = 5, Some("message_queue.delay.load_interval_ms"));
        check(|c| c.horizon_ms = 1_000, Some("message_queue.delay.horizon_ms"));
        check(|c| c.horizon_ms = 1_001, None);
        check(|c| c.horizon_ms = u64::MAX, Some("message_queue.delay.horizon_ms"));
        check(|c| c.load_batch = 0, Some("message_queue.delay.load_batch"));
    }

    #[test]
    fn keys_are_snake_case_defaulted_and_strict() {
        let cfg: DelayConfig =
            serde_json::from_str(r#"{"tick_ms": 5, "horizon_ms": 2000}"#).unwrap();
        assert_eq!(cfg, DelayConfig { tick_ms: 5, horizon_ms: 2_000, ..DelayConfig::default() });
        let err = serde_json::from_str::<DelayConfig>(r#"{"tickMs": 5}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let json = serde_json::to_value(DelayConfig::default()).unwrap();
        assert_eq!(json["max_delay_secs"], 2_592_000);
        assert_eq!(json["load_batch"], 10_000);
    }
}
