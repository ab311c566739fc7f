//! The pause before a retry.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use mq_model::RetryPolicy;

/// The pause before delivering a message again after its delivery number `failed_delivery`
/// (1 for the first delivery) failed: the policy's delay for retry `failed_delivery`, with
/// the policy's jitter drawn at random.
pub fn retry_delay(policy: &RetryPolicy, failed_delivery: u32) -> Duration {
    let random = if policy.jitter > 0.0 { unit_random() } else { 0.0 };
    let ms = policy.delay_ms(failed_delivery, random);
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A number drawn uniformly from `[0, 1)`. Jitter only needs to spread retries, not to be
/// unpredictable, so std's randomly keyed hasher serves without a random-number crate.
fn unit_random() -> f64 {
    let bits = RandomState::new().build_hasher().finish() >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_jitter_the_delay_is_the_policy_s() {
        let policy = RetryPolicy::default();
        assert_eq!(retry_delay(&policy, 1), Duration::from_secs(1));
        assert_eq!(retry_delay(&policy, 4), Duration::from_secs(8));
    }

    #[test]
    fn jitter_spreads_delays_below_the_nominal_one() {
        let policy = RetryPolicy { jitter: 0.5, ..RetryPolicy::default() };
        let delays: Vec<Duration> = (0..200).map(|_| retry_delay(&policy, 4)).collect();
        assert!(delays.iter().all(|d| (4_000..=8_000).contains(&d.as_millis())), "{delays:?}");
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 50, "jitter should vary: {} distinct", distinct.len());
    }

    #[test]
    fn randoms_are_in_the_unit_interval() {
        for _ in 0..1000 {
            let r = unit_random();
            assert!((0.0..1.0).contains(&r), "{r}");
        }
    }
}
