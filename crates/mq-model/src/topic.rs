//! The topic model (design §4.1 `Topic`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validate::{
    validate_max_message_size, validate_partitions, validate_replication_factor,
    validate_retention_ms, validate_topic_name,
};
use crate::{ModelError, Placement};

/// A named, partitioned stream of messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    /// Stable id, e.g. `topic_0190...` (BSON `_id`).
    pub id: String,
    /// Unique name, `^[A-Za-z0-9][A-Za-z0-9._-]{0,248}$`.
    pub name: String,
    /// Free text for operators.
    pub description: String,
    /// Number of partitions, 1..=1024; may grow, never shrink.
    pub partitions: u32,
    /// Replication factor, at least 1; recorded for compatibility, Redis replication decides.
    pub replication_factor: u32,
    /// How long messages are kept, in milliseconds, more than 0.
    pub retention_ms: i64,
    /// Largest message value in bytes, 1..=16 MiB.
    pub max_message_size: i64,
    /// Free-form extra settings, e.g. `cleanup.policy`.
    pub config: BTreeMap<String, String>,
    /// Lifecycle state.
    pub status: TopicStatus,
    /// Who created it (a token name, or empty).
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// Where its partitions are stored among the message store's shards; kept by the stores,
    /// not part of the API's JSON (see [`Placement`]).
    #[serde(skip)]
    pub placement: Placement,
}

impl Topic {
    /// Checks every field rule; the first broken one is returned.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_topic_name(&self.name)?;
        validate_partitions(self.partitions)?;
        validate_replication_factor(self.replication_factor)?;
        validate_retention_ms(self.retention_ms)?;
        validate_max_message_size(self.max_message_size)
    }
}

/// Lifecycle state of a topic, serialized as the design's lowercase strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TopicStatus {
    /// Accepting and delivering messages.
    #[default]
    Active,
    /// Kept but closed to producers.
    Inactive,
    /// Deleted; kept only as a tombstone.
    Deleted,
}

impl TopicStatus {
    /// The lowercase name used in JSON and BSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TopicStatus::Active => "active",
            TopicStatus::Inactive => "inactive",
            TopicStatus::Deleted => "deleted",
        }
    }
}
