//! The one error type of the broker.

use mq_model::ModelError;
use mq_repo::RepoError;

/// Shorthand for broker results.
pub type BrokerResult<T> = Result<T, BrokerError>;

/// Everything a broker operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A model or config value breaks a validation rule.
    #[error(transparent)]
    Invalid(#[from] ModelError),
    /// A request value is out of range or malformed.
    #[error("invalid {field}: {reason}")]
    InvalidRequest {
        /// The request field's JSON name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The topic does not exist.
    #[error("topic {topic:?} does not exist; create it first (POST /api/v1/mq/topics)")]
    TopicNotFound {
        /// The topic's name.
        topic: String,
    },
    /// The consumer group does not exist on the topic.
    #[error("consumer group {group:?} does not exist on topic {topic:?}")]
    GroupNotFound {
        /// The topic's name.
        topic: String,
        /// The group's id.
        group: String,
    },
    /// A topic with this name exists already.
    #[error("topic {topic:?} already exists")]
    TopicExists {
        /// The topic's name.
        topic: String,
    },
    /// A group with this id exists already on the topic.
    #[error("consumer group {group:?} already exists on topic {topic:?}")]
    GroupExists {
        /// The topic's name.
        topic: String,
        /// The group's id.
        group: String,
    },
    /// A message (value, key and headers together) is larger than its topic allows.
    #[error(
        "message is {size} bytes, most of them in {field}; topic {topic:?} allows at most {max} \
         bytes of value, key and headers together (maxMessageSize)"
    )]
    MessageTooLarge {
        /// The topic's name.
        topic: String,
        /// The message's size in bytes: value, key and every header's name and value.
        size: usize,
        /// The topic's `maxMessageSize`.
        max: i64,
        /// The largest part, as the request names it: `value`, `key` or `headers`, prefixed
        /// with `messages[i].` within a batch.
        field: String,
    },
    /// A topic update asked for fewer partitions than it has.
    #[error("partitions can grow but never shrink: topic has {current}, asked for {requested}")]
    PartitionsShrink {
        /// Partitions now.
        current: u32,
        /// Partitions asked for.
        requested: u32,
    },
    /// No scheduled message has this id (it fired already, was cancelled, or never existed).
    #[error("no scheduled message {message_id:?}: it was delivered already, cancelled, or never existed")]
    ScheduledNotFound {
        /// The message id.
        message_id: String,
    },
    /// No dead letter has this id (it was retried, purged, or never existed).
    #[error("no dead letter {id:?}: it was retried or deleted already, or never existed")]
    DeadLetterNotFound {
        /// The dead letter's id.
        id: String,
    },
    /// No transaction has this id.
    #[error("no transaction {id:?}")]
    TransactionNotFound {
        /// The transaction id.
        id: String,
    },
    /// A transaction was decided the other way already.
    #[error("{0}")]
    TransactionConflict(String),
    /// A delay is out of range, or the scheduler's store failed.
    #[error(transparent)]
    Delay(#[from] mq_delay::DelayError),
    /// A feature of the design that this version does not provide yet.
    #[error("{what} is not supported yet")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
    },
    /// The broker is shutting down and takes no new work.
    #[error("the broker is shutting down")]
    ShuttingDown,
    /// A store failed.
    #[error(transparent)]
    Store(#[from] RepoError),
    /// A config value is unusable; `field` is its full path, e.g.
    /// `message_queue.encryption.keys[1].key`.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The config key.
        field: String,
        /// What is wrong with it (never the value of a secret).
        reason: String,
    },
    /// A message for an encrypted topic cannot be sealed: no key is configured.
    #[error(
        "topic {topic:?} is encrypted, but no encryption key is configured \
         (message_queue.encryption.keys)"
    )]
    EncryptionKeyMissing {
        /// The topic's name.
        topic: String,
    },
    /// A stored value of an encrypted topic cannot be decrypted: it was altered, moved from
    /// another topic, or its key is not configured. Nothing is delivered in its place.
    #[error("stored value in topic {topic:?} at {location} cannot be decrypted: {source}")]
    Undecryptable {
        /// The topic's name.
        topic: String,
        /// Where the value is, e.g. `partition 0 offset 12` or `dead letter dlq_...`.
        location: String,
        /// Why it failed.
        #[source]
        source: crate::crypto::CryptoError,
    },
}

impl BrokerError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        BrokerError::InvalidRequest { field, reason: reason.into() }
    }

    pub(crate) fn topic_not_found(topic: &str) -> Self {
        BrokerError::TopicNotFound { topic: topic.to_owned() }
    }

    pub(crate) fn group_not_found(topic: &str, group: &str) -> Self {
        BrokerError::GroupNotFound { topic: topic.to_owned(), group: group.to_owned() }
    }
}

impl From<mq_txn::TxnError> for BrokerError {
    fn from(error: mq_txn::TxnError) -> Self {
        use mq_txn::TxnError as T;
        match error {
            T::NotFound { id } => BrokerError::TransactionNotFound { id },
            conflict @ T::Conflict { .. } => BrokerError::TransactionConflict(conflict.to_string()),
            T::InvalidRequest { field, reason } => BrokerError::InvalidRequest { field, reason },
            T::InvalidConfig { field, reason } => BrokerError::InvalidRequest { field, reason },
            T::Store(error) => BrokerError::Store(error),
        }
    }
}
