//! The transaction model (design §6.4 事务消息): a half message and the record of its decision.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ModelError, Placement};

/// Where a transactional message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TransactionState {
    /// Stored as a half message, invisible to consumers, awaiting a decision.
    Prepared,
    /// Decided: the message is (or is being) appended to its partition.
    Committed,
    /// Decided: the message is discarded.
    RolledBack,
}

impl TransactionState {
    /// The snake_case name used in JSON and BSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionState::Prepared => "prepared",
            TransactionState::Committed => "committed",
            TransactionState::RolledBack => "rolled_back",
        }
    }

    /// `Ok` for a decision (committed or rolled back), the states a prepared transaction moves
    /// to; `Invalid` for `prepared`.
    pub fn validate_decision(self) -> Result<(), ModelError> {
        match self {
            TransactionState::Committed | TransactionState::RolledBack => Ok(()),
            TransactionState::Prepared => Err(ModelError::Invalid {
                field: "state",
                reason: "of a decision must be committed or rolled_back".to_owned(),
            }),
        }
    }
}

/// Who decided a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The producer, by commit or rollback.
    Producer,
    /// A check-back: the producer's checker answered when asked.
    Checkback,
    /// The final action after the last inconclusive check.
    FinalAction,
}

impl DecidedBy {
    /// The snake_case name used in JSON and BSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Producer => "producer",
            DecidedBy::Checkback => "checkback",
            DecidedBy::FinalAction => "final_action",
        }
    }
}

/// One step in a transaction's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TransactionEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What: `prepared`, `committed`, `rolled_back`, `check` (a check-back answered unknown or
    /// failed), `applied` (the decision took effect in the log).
    pub kind: String,
    /// Details, e.g. the check-back's answer or error.
    pub detail: String,
}

/// A transactional message's record: what was prepared, its state, every decision and
/// check-back, and the outcome. Kept in the metadata store for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// `txn_` + UUID v7.
    pub transaction_id: String,
    /// The id the message gets when committed.
    pub message_id: String,
    /// Its topic.
    pub topic_name: String,
    /// The partition it is held for and appended to.
    pub partition: u32,
    /// Its routing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Its headers (sent with a check-back).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Who produced it, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer_id: Option<String>,
    /// Where it stands.
    pub state: TransactionState,
    /// For HTTP producers: where the server asks for the decision of an undecided transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkback_url: Option<String>,
    /// How long after preparing it is first checked back, in ms.
    pub timeout_ms: i64,
    /// When the next check-back is due (while prepared).
    pub check_at: DateTime<Utc>,
    /// Check-backs made so far.
    pub check_count: u32,
    /// While a broker instance checks it back: until when that instance holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    /// Who decided it, once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<DecidedBy>,
    /// Why it ended as it did (e.g. the final action after the last check), once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether the decision took effect in the log (appended or discarded).
    #[serde(default)]
    pub applied: bool,
    /// Where the committed message landed, once appended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Every step, oldest first.
    #[serde(default)]
    pub history: Vec<TransactionEvent>,
    /// When it was prepared.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The placement of its topic when it was prepared, which says where the half message is
    /// held; kept by the stores, not part of the API's JSON (see [`Placement`]).
    #[serde(skip)]
    pub placement: Placement,
}
