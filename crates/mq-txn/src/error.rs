//! The one error type of transactions.

use mq_model::TransactionState;
use mq_repo::RepoError;

/// Shorthand for transaction results.
pub type TxnResult<T> = Result<T, TxnError>;

/// Everything a transaction operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// No transaction has this id.
    #[error("no transaction {id:?}")]
    NotFound {
        /// The transaction id.
        id: String,
    },
    /// The opposite decision was made already.
    #[error("transaction {id:?} is {} already; it cannot be {wanted} now", state.as_str())]
    Conflict {
        /// The transaction id.
        id: String,
        /// Its state.
        state: TransactionState,
        /// What was asked: `committed` or `rolled back`.
        wanted: &'static str,
    },
    /// A request value is out of range or malformed.
    #[error("invalid {field}: {reason}")]
    InvalidRequest {
        /// The request field's JSON name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A config value is unusable.
    #[error("invalid config {field}: {reason}")]
    InvalidConfig {
        /// The config key.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A store failed.
    #[error(transparent)]
    Store(#[from] RepoError),
}
