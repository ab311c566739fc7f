//! The one error type of the delay crate.

use mq_repo::RepoError;

/// Everything delayed delivery can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DelayError {
    /// A config value is unusable.
    #[error("invalid config {field}: {reason}")]
    InvalidConfig {
        /// The config key, e.g. `message_queue.delay.tick_ms`.
        field: &'static str,
        /// Why it is unusable.
        reason: &'static str,
    },
    /// A requested delay or delivery time is out of range: the API answers 400.
    #[error("invalid {field}: {reason}")]
    InvalidRequest {
        /// The request field's JSON name: `delaySeconds` or `deliverAt`.
        field: &'static str,
        /// What is wrong with it, in words a client can act on.
        reason: String,
    },
    /// The schedule or topic store failed; the scheduler retries at its next round.
    #[error("delayed delivery could not {op}")]
    Store {
        /// What the scheduler was doing, e.g. `fire due messages`.
        op: &'static str,
        /// The store's error.
        #[source]
        source: RepoError,
    },
}

impl DelayError {
    /// Whether the caller's request was at fault (a 400), not the config or a store.
    pub fn is_invalid_request(&self) -> bool {
        matches!(self, Self::InvalidRequest { .. })
    }

    /// Wraps a store error with what the scheduler was doing.
    pub(crate) fn store(op: &'static str) -> impl FnOnce(RepoError) -> Self {
        move |source| Self::Store { op, source }
    }
}
