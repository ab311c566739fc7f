//! Per-instance limits the handlers share: how deep a value may nest, and how many long polls
//! and streams may wait at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::{ApiConfig, ApiError};

/// What a refused long poll is told to wait before trying again.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// The limits of one server, shared by all its workers (created once in `configure`).
#[derive(Debug)]
pub(crate) struct Limits {
    /// `max_value_depth`.
    pub(crate) max_value_depth: usize,
    max_long_polls: usize,
    long_polls: Arc<AtomicUsize>,
}

impl Limits {
    pub(crate) fn new(cfg: &ApiConfig) -> Self {
        Self {
            max_value_depth: cfg.max_value_depth,
            max_long_polls: cfg.max_long_polls,
            long_polls: Arc::default(),
        }
    }

    /// A place for one more long poll or stream, held until the returned guard drops; `Busy`
    /// (503 with `Retry-After`) when all `max_long_polls` are taken.
    pub(crate) fn long_poll(&self) -> Result<LongPoll, ApiError> {
        let taken = self.long_polls.fetch_add(1, Ordering::AcqRel);
        let guard = LongPoll(self.long_polls.clone());
        if taken >= self.max_long_polls {
            drop(guard);
            return Err(ApiError::Busy {
                limit: self.max_long_polls,
                retry_after_secs: BUSY_RETRY_AFTER_SECS,
            });
        }
        Ok(guard)
    }
}

/// One long poll's place; gives it back when dropped.
#[derive(Debug)]
pub(crate) struct LongPoll(Arc<AtomicUsize>);

impl Drop for LongPoll {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_polls_are_counted_and_given_back() {
        let limits = Limits::new(&ApiConfig { max_long_polls: 2, ..ApiConfig::default() });
        let first = limits.long_poll().unwrap();
        let _second = limits.long_poll().unwrap();
        let err = limits.long_poll().unwrap_err();
        assert!(matches!(err, ApiError::Busy { limit: 2, retry_after_secs: 1 }), "{err:?}");
        drop(first);
        let _third = limits.long_poll().unwrap();
        assert!(limits.long_poll().is_err(), "a refusal does not hold a place");
    }
}
