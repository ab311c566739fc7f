//! Idempotent publishing: a message may carry an idempotency key, and a partition that stored
//! a message with that key within the topic's window stores nothing for a repeat and answers
//! what the first publish got. The check is the store's, inside the same atomic step as the
//! append (on Redis, keys under the partition's hash tag), so racing repeats store once.

use std::collections::BTreeMap;

use mq_model::Topic;
use mq_repo::{Dedup, Original};

use crate::publish::{to_time, Published};
use crate::{Broker, BrokerError, BrokerResult};

/// The topic setting that overrides `message_queue.dedup_window_secs` for one topic.
pub const TOPIC_SETTING: &str = "dedup.window.secs";

/// Longest window: a week.
pub const MAX_WINDOW_SECS: u64 = 7 * 24 * 3600;

/// The window a topic's config sets, if it sets one; a value that is not a whole number of
/// seconds from 0 to a week is refused, naming the setting.
pub(crate) fn topic_window(config: &BTreeMap<String, String>) -> BrokerResult<Option<u64>> {
    let Some(text) = config.get(TOPIC_SETTING) else {
        return Ok(None);
    };
    match text.trim().parse::<u64>() {
        Ok(secs) if secs <= MAX_WINDOW_SECS => Ok(Some(secs)),
        _ => Err(BrokerError::invalid(
            "config.dedup.window.secs",
            format!(
                "must be a whole number of seconds from 0 (no check) to {MAX_WINDOW_SECS} (7 \
                 days), got {text:?}"
            ),
        )),
    }
}

impl Broker {
    /// How a message with idempotency key `key` is de-duplicated on `topic`: `None` without a
    /// key or with the window at 0.
    pub(crate) fn dedup_for(&self, topic: &Topic, key: Option<&str>) -> Option<Dedup> {
        let key = key?;
        // Checked when the topic was created or updated; an unreadable value falls back to the
        // server's window rather than failing publishes.
        let secs =
            topic_window(&topic.config).ok().flatten().unwrap_or(self.inner.cfg.dedup_window_secs);
        (secs > 0).then(|| Dedup { key: key.to_owned(), window_ms: secs.saturating_mul(1000) })
    }
}

/// What a repeat answers: the first publish's message id and where it landed (or when it is
/// due), marked as a duplicate.
pub(crate) fn repeat(topic: &Topic, partition: u32, original: Original, now_ms: i64) -> Published {
    let (message_id, offset, timestamp_ms, deliver_at) = match original {
        Original::Appended { message_id, offset, timestamp_ms } => {
            (message_id, Some(offset), timestamp_ms, None)
        }
        Original::Scheduled { message_id, due_ms } => (message_id, None, now_ms, Some(due_ms)),
        // A transaction's message published again as a normal one: it is the transaction's.
        Original::Held { message_id } => (message_id, None, now_ms, None),
    };
    Published {
        message_id,
        topic_name: topic.name.clone(),
        partition,
        offset,
        timestamp: to_time(timestamp_ms),
        deliver_at: deliver_at.map(to_time),
        duplicate: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_windows_are_whole_seconds_up_to_a_week() {
        let config = |v: &str| BTreeMap::from([(TOPIC_SETTING.to_owned(), v.to_owned())]);
        assert_eq!(topic_window(&BTreeMap::new()).unwrap(), None);
        assert_eq!(topic_window(&config("0")).unwrap(), Some(0));
        assert_eq!(topic_window(&config(" 60 ")).unwrap(), Some(60));
        assert_eq!(topic_window(&config("604800")).unwrap(), Some(604_800));
        for bad in ["604801", "-1", "1.5", "ten", ""] {
            let err = topic_window(&config(bad)).unwrap_err().to_string();
            assert!(err.contains("dedup.window.secs"), "{bad}: {err}");
        }
    }
}
