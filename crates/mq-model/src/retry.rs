//! Retry policies: how often and after what pause a consumer group gets a failed message again
//! before giving up on it (design §1.4 消息重试, §3.3).

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Default `maxRetries`: RocketMQ's default, 16 retries after the first delivery.
pub const DEFAULT_MAX_RETRIES: u32 = 16;
/// Default `initialBackoffMs`: the first retry waits one second.
pub const DEFAULT_INITIAL_BACKOFF_MS: i64 = 1_000;
/// Default `multiplier`: each retry waits twice as long as the one before.
pub const DEFAULT_MULTIPLIER: f64 = 2.0;
/// Default `maxBackoffMs`: no retry waits longer than two hours.
pub const DEFAULT_MAX_BACKOFF_MS: i64 = 2 * 60 * 60 * 1000;
/// Most retries a policy may allow.
pub const MAX_RETRIES_LIMIT: u32 = 1_000;
/// Longest pause before a retry: seven days.
pub const MAX_BACKOFF_LIMIT_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Most entries of an explicit list of delays.
pub const MAX_DELAY_LEVELS: usize = 64;

/// How the pause before each retry grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum BackoffKind {
    /// `initialBackoffMs × multiplier^(retry − 1)`, capped at `maxBackoffMs`.
    #[default]
    Exponential,
    /// The delays listed in `delaysMs`, one per retry, the last repeated (RocketMQ's levels).
    Explicit,
}

/// A consumer group's retry policy (JSON: the group's `retryPolicy`).
///
/// A message is delivered at most `maxRetries + 1` times: the first delivery plus
/// `maxRetries` retries. A nack or an ack timeout is a failed attempt; after the last allowed
/// attempt fails the message becomes a dead letter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first delivery, 0 to 1000 (0: the first failure dead-letters).
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub max_retries: u32,
    /// `exponential` (default) or `explicit`.
    pub backoff: BackoffKind,
    /// Exponential: the pause before the first retry, 0 to `maxBackoffMs`.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 604_800_000))]
    pub initial_backoff_ms: i64,
    /// Exponential: the factor between consecutive pauses, 1 to 100.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub multiplier: f64,
    /// Exponential: the longest pause, up to seven days.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 604_800_000))]
    pub max_backoff_ms: i64,
    /// Fraction of each pause taken off at random, 0 (none, default) to 1: a pause `d` becomes
    /// a uniform draw from `[d × (1 − jitter), d]`, so a burst of failures does not come back
    /// as a burst.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub jitter: f64,
    /// Explicit: the pause before retry 1, 2, …; retries past the end use the last. Required
    /// (1 to 64 entries, each 0 to seven days) for `explicit`, refused for `exponential`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub delays_ms: Vec<i64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            backoff: BackoffKind::Exponential,
            initial_backoff_ms: DEFAULT_INITIAL_BACKOFF_MS,
            multiplier: DEFAULT_MULTIPLIER,
            max_backoff_ms: DEFAULT_MAX_BACKOFF_MS,
            jitter: 0.0,
            delays_ms: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// The most times a message is delivered to the group: `maxRetries + 1`.
    pub fn max_deliveries(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }

    /// The pause before retry `retry` (1 for the first retry) in milliseconds, before jitter.
    pub fn nominal_delay_ms(&self, retry: u32) -> i64 {
        let retry = retry.max(1);
        match self.backoff {
            BackoffKind::Explicit => {
                let index = usize::try_from(retry - 1).unwrap_or(usize::MAX);
                self.delays_ms.get(index).or(self.delays_ms.last()).copied().unwrap_or(0)
            }
            BackoffKind::Exponential => {
                // Floats saturate rather than overflow; the cap bounds the result anyway.
                let exponent = i32::try_from(retry - 1).unwrap_or(i32::MAX);
                let delay = self.initial_backoff_ms as f64 * self.multiplier.powi(exponent);
                if delay.is_finite() && delay < self.max_backoff_ms as f64 {
                    delay as i64
                } else {
                    self.max_backoff_ms
                }
            }
        }
    }

    /// The pause before retry `retry` with jitter applied, given `random` drawn uniformly from
    /// `[0, 1)`.
    pub fn delay_ms(&self, retry: u32, random: f64) -> i64 {
        let nominal = self.nominal_delay_ms(retry);
        // Rounded rather than truncated: truncating the cut would bias every pause up by up
        // to a millisecond and never reach the interval's lower end `d × (1 − jitter)`.
        let cut = (nominal as f64 * self.jitter * random.clamp(0.0, 1.0)).round();
        (nominal - cut as i64).max(0)
    }

    /// Checks every field's range and that the fields fit the backoff kind.
    pub fn validate(&self) -> Result<(), ModelError> {
        let invalid =
            |field, reason: &str| Err(ModelError::Invalid { field, reason: reason.to_owned() });
        if self.max_retries > MAX_RETRIES_LIMIT {
            return Err(ModelError::OutOfRange {
                field: "retryPolicy.maxRetries",
                expected: "between 0 and 1000",
                value: i64::from(self.max_retries),
            });
        }
        delay_in_range("retryPolicy.maxBackoffMs", self.max_backoff_ms)?;
        delay_in_range("retryPolicy.initialBackoffMs", self.initial_backoff_ms)?;
        if self.initial_backoff_ms > self.max_backoff_ms {
            return invalid(
                "retryPolicy.initialBackoffMs",
                "must not be greater than retryPolicy.maxBackoffMs",
            );
        }
        if !(1.0..=100.0).contains(&self.multiplier) {
            return invalid("retryPolicy.multiplier", "must be between 1 and 100");
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return invalid("retryPolicy.jitter", "must be between 0 and 1");
        }
        match self.backoff {
            BackoffKind::Exponential if !self.delays_ms.is_empty() => invalid(
                "retryPolicy.delaysMs",
                "applies only to backoff \"explicit\"; remove it or set backoff to \"explicit\"",
            ),
            BackoffKind::Explicit if self.delays_ms.is_empty() => invalid(
                "retryPolicy.delaysMs",
                "must list at least one delay when backoff is \"explicit\"",
            ),
            BackoffKind::Explicit if self.delays_ms.len() > MAX_DELAY_LEVELS => {
                invalid("retryPolicy.delaysMs", "must list at most 64 delays")
            }
            _ => self.delays_ms.iter().try_for_each(|d| delay_in_range("retryPolicy.delaysMs", *d)),
        }
    }
}

fn delay_in_range(field: &'static str, value: i64) -> Result<(), ModelError> {
    if (0..=MAX_BACKOFF_LIMIT_MS).contains(&value) {
        Ok(())
    } else {
        Err(ModelError::OutOfRange {
            field,
            expected: "between 0 and 604800000 milliseconds",
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let policy: RetryPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(policy, RetryPolicy::default());
        assert_eq!(policy.max_deliveries(), 17);
        assert_eq!(policy.validate(), Ok(()));
        let delays: Vec<i64> = (1..=9).map(|r| policy.nominal_delay_ms(r)).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000]);
        // Capped at two hours from retry 14 on (1 s × 2^13 = 8192 s > 7200 s).
        assert_eq!(policy.nominal_delay_ms(13), 4_096_000);
        assert_eq!(policy.nominal_delay_ms(14), DEFAULT_MAX_BACKOFF_MS);
        assert_eq!(policy.nominal_delay_ms(1_000), DEFAULT_MAX_BACKOFF_MS);
    }

    #[test]
    fn explicit_delays_repeat_the_last() {
        let policy = RetryPolicy {
            backoff: BackoffKind::Explicit,
            delays_ms: vec![1_000, 5_000, 30_000],
            ..RetryPolicy::default()
        };
        assert_eq!(policy.validate(), Ok(()));
        let delays: Vec<i64> = (1..=5).map(|r| policy.nominal_delay_ms(r)).collect();
        assert_eq!(delays, [1_000, 5_000, 30_000, 30_000, 30_000]);
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let policy = RetryPolicy { jitter: 0.5, ..RetryPolicy::default() };
        assert_eq!(policy.delay_ms(3, 0.0), 4_000);
        assert_eq!(policy.delay_ms(3, 0.5), 3_000);
        assert_eq!(policy.delay_ms(3, 0.999_999), 2_000);
        let none = RetryPolicy::default();
        assert_eq!(none.delay_ms(3, 0.7), 4_000);
    }

    #[test]
    fn bad_policies_name_their_field() {
        let cases = [
            (
                RetryPolicy { max_retries: 1_001, ..RetryPolicy::default() },
                "retryPolicy.maxRetries",
            ),
            (
                RetryPolicy { initial_backoff_ms: -1, ..RetryPolicy::default() },
                "retryPolicy.initialBackoffMs",
            ),
            (
                RetryPolicy { initial_backoff_ms: 10, max_backoff_ms: 5, ..RetryPolicy::default() },
                "retryPolicy.initialBackoffMs",
            ),
            (
                RetryPolicy { max_backoff_ms: MAX_BACKOFF_LIMIT_MS + 1, ..RetryPolicy::default() },
                "retryPolicy.maxBackoffMs",
            ),
            (RetryPolicy { multiplier: 0.5, ..RetryPolicy::default() }, "retryPolicy.multiplier"),
            (
                RetryPolicy { multiplier: f64::NAN, ..RetryPolicy::default() },
                "retryPolicy.multiplier",
            ),
            (RetryPolicy { jitter: 1.5, ..RetryPolicy::default() }, "retryPolicy.jitter"),
            (RetryPolicy { delays_ms: vec![1], ..RetryPolicy::default() }, "retryPolicy.delaysMs"),
            (
                RetryPolicy { backoff: BackoffKind::Explicit, ..RetryPolicy::default() },
                "retryPolicy.delaysMs",
            ),
            (
                RetryPolicy {
                    backoff: BackoffKind::Explicit,
                    delays_ms: vec![-5],
                    ..RetryPolicy::default()
                },
                "retryPolicy.delaysMs",
            ),
            (
                RetryPolicy {
                    backoff: BackoffKind::Explicit,
                    delays_ms: vec![1; 65],
                    ..RetryPolicy::default()
                },
                "retryPolicy.delaysMs",
            ),
        ];
        for (policy, field) in cases {
            let error = policy.validate().unwrap_err();
            assert_eq!(error.field(), field, "{policy:?}: {error}");
        }
    }

    #[test]
    fn json_shape_is_camel_case_and_strict() {
        let policy: RetryPolicy =
            serde_json::from_str(r#"{"maxRetries":3,"backoff":"explicit","delaysMs":[10,20]}"#)
                .unwrap();
        assert_eq!(policy.max_retries, 3);
        assert_eq!(policy.delays_ms, [10, 20]);
        let error = serde_json::from_str::<RetryPolicy>(r#"{"maxRetry":3}"#).unwrap_err();
        assert!(error.to_string().contains("maxRetry"), "{error}");
    }
}
