//! The alert model (design §9.2 告警规则).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an alert watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertRule {
    /// A group's backlog (messages not yet delivered) above the threshold.
    Backlog,
    /// A group's oldest undelivered message older than the threshold.
    ConsumerLag,
    /// New dead letters of a group.
    DeadLetters,
    /// A group with backlog and no live consumer.
    NoConsumer,
    /// A partition lost writes it had acknowledged (a Redis failover to a replica that lagged,
    /// or a restart that lost the last writes) and skipped the offsets they had.
    OffsetRollback,
}

impl AlertRule {
    /// The snake_case name used in JSON, BSON and alert keys.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertRule::Backlog => "backlog",
            AlertRule::ConsumerLag => "consumer_lag",
            AlertRule::DeadLetters => "dead_letters",
            AlertRule::NoConsumer => "no_consumer",
            AlertRule::OffsetRollback => "offset_rollback",
        }
    }
}

/// An alert: fired once when its condition starts, resolved once when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Unique per firing, `alert_` + UUID v7.
    pub id: String,
    /// What it is about, one active alert per key: `<rule>:<topic>:<group>`, or
    /// `offset_rollback:<topic>:<partition>`.
    pub key: String,
    /// The rule.
    pub rule: AlertRule,
    /// `warning` or `critical`.
    pub severity: String,
    /// The topic.
    pub topic_name: String,
    /// The group, for group rules (every rule but `offset_rollback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// A sentence for people.
    pub message: String,
    /// The measured value when it fired (messages, milliseconds, dead letters).
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// When it fired.
    pub fired_at: DateTime<Utc>,
    /// When it resolved; unset while active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
}
