//! The one error type of this crate.

use std::fmt;
use std::time::Duration;

use mq_model::ModelError;

/// Shorthand for results of storage operations.
pub type RepoResult<T> = Result<T, RepoError>;

/// Which store an error or timeout came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The in-memory implementations.
    Memory,
    /// Redis (messages).
    Redis,
    /// MongoDB or a MongoDB-wire server (metadata).
    MongoDb,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Memory => "memory",
            Backend::Redis => "redis",
            Backend::MongoDb => "mongodb",
        })
    }
}

/// Everything a storage operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The thing asked for does not exist.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// What was looked for, e.g. `topic`, `consumer group`.
        kind: &'static str,
        /// Its identifying name.
        id: String,
    },
    /// A unique key is already taken.
    #[error("{kind} {id:?} already exists")]
    AlreadyExists {
        /// What was being created.
        kind: &'static str,
        /// Its identifying name.
        id: String,
    },
    /// A configuration value is unusable.
    #[error("invalid config {field}: {reason}")]
    InvalidConfig {
        /// The config key, e.g. `redis.port`.
        field: &'static str,
        /// Why it is unusable.
        reason: String,
    },
    /// A model broke a validation rule on its way into the store.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A Redis command failed (connection, protocol or server error).
    #[error("redis {op} failed")]
    Redis {
        /// The operation, e.g. `append`.
        op: &'static str,
        /// The client's error.
        #[source]
        source: fred::error::Error,
    },
    /// A MongoDB operation failed (connection, protocol or server error).
    #[error("mongodb {op} failed")]
    Mongo {
        /// The operation, e.g. `insert topic`.
        op: &'static str,
        /// The driver's error (boxed: it is large).
        #[source]
        source: Box<mongodb::error::Error>,
    },
    /// A store did not answer within the configured bound.
    #[error("{backend} {op} timed out after {after:?}")]
    Timeout {
        /// The store.
        backend: Backend,
        /// The operation.
        op: &'static str,
        /// The bound that ran out.
        after: Duration,
    },
    /// A write reached Redis, but fewer replicas than `redis.min_replica_acks` confirmed it in
    /// time: it may or may not survive a failover.
    #[error(
        "the write reached Redis but {confirmed} of the {wanted} replicas asked for confirmed it \
         within {after:?}: it may or may not be kept; repeating it with the same idempotency \
         key is safe"
    )]
    NotReplicated {
        /// The operation, e.g. `append`.
        op: &'static str,
        /// Replicas that confirmed.
        confirmed: u32,
        /// Replicas asked for (`redis.min_replica_acks`).
        wanted: u32,
        /// How long it waited.
        after: Duration,
    },
    /// A stored value could not be decoded: written by an incompatible version, or damaged.
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// What was being read, e.g. `message envelope`.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl RepoError {
    /// True when the store could not be reached or did not answer in time, as opposed to a
    /// request it understood and refused. Callers may retry these.
    pub fn is_unavailable(&self) -> bool {
        match self {
            RepoError::Timeout { .. } | RepoError::NotReplicated { .. } => true,
            RepoError::Redis { source, .. } => {
                matches!(
                    source.kind(),
                    fred::error::ErrorKind::IO
                        | fred::error::ErrorKind::Timeout
                        | fred::error::ErrorKind::Canceled
                        | fred::error::ErrorKind::Backpressure
                ) || crate::redis::not_run(source)
            }
            RepoError::Mongo { source, .. } => matches!(
                *source.kind,
                mongodb::error::ErrorKind::Io(_)
                    | mongodb::error::ErrorKind::ServerSelection { .. }
                    | mongodb::error::ErrorKind::ConnectionPoolCleared { .. }
            ),
            RepoError::NotFound { .. }
            | RepoError::AlreadyExists { .. }
            | RepoError::InvalidConfig { .. }
            | RepoError::Model(_)
            | RepoError::Corrupt { .. } => false,
        }
    }

    pub(crate) fn redis(op: &'static str) -> impl FnOnce(fred::error::Error) -> RepoError {
        move |source| RepoError::Redis { op, source }
    }

    pub(crate) fn mongo(op: &'static str) -> impl FnOnce(mongodb::error::Error) -> RepoError {
        move |source| RepoError::Mongo { op, source: Box::new(source) }
    }
}
