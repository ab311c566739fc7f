//! BSON documents of the metadata collections (design §4.1) and their conversions to and from
//! the `mq-model` types.
//!
//! The models speak camelCase JSON and unsigned Rust integers; MongoDB documents use the
//! design's snake_case names and only signed integers, so each collection gets a private
//! document struct. Every count and offset is stored as BSON int64: it holds all `u32` values
//! and every realistic `u64` offset, and reading also accepts int32 written by other tools.
//! Times are BSON dates (millisecond precision), so they are truncated to the millisecond on the
//! way in; reading back returns exactly what was stored.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mongodb::bson::{self, spec::BinarySubtype, Binary, Document};
use mq_model::{
    Consumer, ConsumerGroup, ConsumerStatus, DeadLetterMessage, DeliveryMode, GroupStatus,
    StartFrom, Topic, TopicStatus,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{RepoError, RepoResult};

/// Collection of topics.
pub(super) const TOPICS: &str = "topics";
/// Collection of consumer groups.
pub(super) const CONSUMER_GROUPS: &str = "consumer_groups";
/// Collection of consumers.
pub(super) const CONSUMERS: &str = "consumers";
/// Collection of dead letters.
pub(super) const DEAD_LETTERS: &str = "dead_letter_messages";

/// A topic as stored in `topics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct TopicDoc {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) partitions: i64,
    pub(super) replication_factor: i64,
    pub(super) retention_ms: i64,
    pub(super) max_message_size: i64,
    #[serde(default)]
    pub(super) config: BTreeMap<String, String>,
    pub(super) status: TopicStatus,
    #[serde(default)]
    pub(super) created_by: String,
    pub(super) created_at: bson::DateTime,
    pub(super) updated_at: bson::DateTime,
}

impl From<Topic> for TopicDoc {
    fn from(t: Topic) -> Self {
        Self {
            id: t.id,
            name: t.name,
            description: t.description,
            partitions: i64::from(t.partitions),
            replication_factor: i64::from(t.replication_factor),
            retention_ms: t.retention_ms,
            max_message_size: t.max_message_size,
            config: t.config,
            status: t.status,
            created_by: t.created_by,
            created_at: to_bson_time(t.created_at),
            updated_at: to_bson_time(t.updated_at),
        }
    }
}

impl TryFrom<TopicDoc> for Topic {
    type Error = RepoError;

    fn try_from(d: TopicDoc) -> RepoResult<Self> {
        const WHAT: &str = "topic";
        Ok(Self {
            partitions: to_u32(WHAT, "partitions", d.partitions)?,
            replication_factor: to_u32(WHAT, "replication_factor", d.replication_factor)?,
            created_at: from_bson_time(WHAT, "created_at", d.created_at)?,
            updated_at: from_bson_time(WHAT, "updated_at", d.updated_at)?,
            id: d.id,
            name: d.name,
            description: d.description,
            retention_ms: d.retention_ms,
            max_message_size: d.max_message_size,
            config: d.config,
            status: d.status,
            created_by: d.created_by,
        })
    }
}

/// A consumer group as stored in `consumer_groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct GroupDoc {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) group_id: String,
    pub(super) topic_name: String,
    pub(super) consumer_count: i64,
    pub(super) status: GroupStatus,
    /// The delivery settings; groups stored before they existed read back with the defaults.
    #[serde(default)]
    pub(super) delivery_mode: DeliveryMode,
    #[serde(default)]
    pub(super) start_from: StartFrom,
    #[serde(default = "default_ack_timeout_ms")]
    pub(super) ack_timeout_ms: i64,
    #[serde(default = "default_session_timeout_ms")]
    pub(super) session_timeout_ms: i64,
    #[serde(default)]
    pub(super) config: BTreeMap<String, String>,
    /// Stored as `null` until a member first commits, so the field is always present as in
    /// the design.
    #[serde(default)]
    pub(super) last_commit_time: Option<bson::DateTime>,
    pub(super) created_at: bson::DateTime,
    pub(super) updated_at: bson::DateTime,
}

fn default_ack_timeout_ms() -> i64 {
    mq_model::DEFAULT_ACK_TIMEOUT_MS
}

fn default_session_timeout_ms() -> i64 {
    mq_model::DEFAULT_SESSION_TIMEOUT_MS
}

impl From<ConsumerGroup> for GroupDoc {
    fn from(g: ConsumerGroup) -> Self {
        Self {
            id: g.id,
            group_id: g.group_id,
            topic_name: g.topic_name,
            consumer_count: i64::from(g.consumer_count),
            status: g.status,
            delivery_mode: g.delivery_mode,
            start_from: g.start_from,
            ack_timeout_ms: g.ack_timeout_ms,
            session_timeout_ms: g.session_timeout_ms,
            config: g.config,
            last_commit_time: g.last_commit_time.map(to_bson_time),
            created_at: to_bson_time(g.created_at),
            updated_at: to_bson_time(g.updated_at),
        }
    }
}

impl TryFrom<GroupDoc> for ConsumerGroup {
    type Error = RepoError;

    fn try_from(d: GroupDoc) -> RepoResult<Self> {
        const WHAT: &str = "consumer group";
        Ok(Self {
            consumer_count: to_u32(WHAT, "consumer_count", d.consumer_count)?,
            last_commit_time: d
                .last_commit_time
                .map(|t| from_bson_time(WHAT, "last_commit_time", t))
                .transpose()?,
            created_at: from_bson_time(WHAT, "created_at", d.created_at)?,
            updated_at: from_bson_time(WHAT, "updated_at", d.updated_at)?,
            id: d.id,
            group_id: d.group_id,
            topic_name: d.topic_name,
            status: d.status,
            delivery_mode: d.delivery_mode,
            start_from: d.start_from,
            ack_timeout_ms: d.ack_timeout_ms,
            session_timeout_ms: d.session_timeout_ms,
            config: d.config,
        })
    }
}

/// A consumer as stored in `consumers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct ConsumerDoc {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) consumer_id: String,
    pub(super) group_id: String,
    pub(super) topic_name: String,
    pub(super) partition: i64,
    pub(super) current_offset: i64,
    pub(super) committed_offset: i64,
    pub(super) lag: i64,
    pub(super) status: ConsumerStatus,
    pub(super) last_heartbeat: bson::DateTime,
    #[serde(default)]
    pub(super) client_info: BTreeMap<String, String>,
    pub(super) created_at: bson::DateTime,
    pub(super) updated_at: bson::DateTime,
}

impl TryFrom<Consumer> for ConsumerDoc {
    type Error = RepoError;

    /// Fails only for offsets beyond `i64::MAX`, which BSON cannot hold; a log would need
    /// centuries of appends to get there, so this is reported rather than saturated.
    fn try_from(c: Consumer) -> RepoResult<Self> {
        const WHAT: &str = "consumer";
        Ok(Self {
            partition: i64::from(c.partition),
            current_offset: to_i64(WHAT, "current_offset", c.current_offset)?,
            committed_offset: to_i64(WHAT, "committed_offset", c.committed_offset)?,
            lag: to_i64(WHAT, "lag", c.lag)?,
            last_heartbeat: to_bson_time(c.last_heartbeat),
            created_at: to_bson_time(c.created_at),
            updated_at: to_bson_time(c.updated_at),
            id: c.id,
            consumer_id: c.consumer_id,
            group_id: c.group_id,
            topic_name: c.topic_name,
            status: c.status,
            client_info: c.client_info,
        })
    }
}

impl TryFrom<ConsumerDoc> for Consumer {
    type Error = RepoError;

    fn try_from(d: ConsumerDoc) -> RepoResult<Self> {
        const WHAT: &str = "consumer";
        Ok(Self {
            partition: to_u32(WHAT, "partition", d.partition)?,
            current_offset: to_u64(WHAT, "current_offset", d.current_offset)?,
            committed_offset: to_u64(WHAT, "committed_offset", d.committed_offset)?,
            lag: to_u64(WHAT, "lag", d.lag)?,
            last_heartbeat: from_bson_time(WHAT, "last_heartbeat", d.last_heartbeat)?,
            created_at: from_bson_time(WHAT, "created_at", d.created_at)?,
            updated_at: from_bson_time(WHAT, "updated_at", d.updated_at)?,
            id: d.id,
            consumer_id: d.consumer_id,
            group_id: d.group_id,
            topic_name: d.topic_name,
            status: d.status,
            client_info: d.client_info,
        })
    }
}

/// A dead letter as stored in `dead_letter_messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct DeadLetterDoc {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) original_topic_name: String,
    pub(super) original_message_id: String,
    pub(super) consumer_group_id: String,
    #[serde(default)]
    pub(super) failure_reason: String,
    pub(super) retry_count: i64,
    /// BSON binary (generic subtype) rather than an array of numbers: compact and what other
    /// drivers read as bytes.
    pub(super) message_content: Binary,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    pub(super) failed_at: bson::DateTime,
    pub(super) created_at: bson::DateTime,
}

impl From<DeadLetterMessage> for DeadLetterDoc {
    fn from(m: DeadLetterMessage) -> Self {
        Self {
            id: m.id,
            original_topic_name: m.original_topic_name,
            original_message_id: m.original_message_id,
            consumer_group_id: m.consumer_group_id,
            failure_reason: m.failure_reason,
            retry_count: i64::from(m.retry_count),
            message_content: Binary { subtype: BinarySubtype::Generic, bytes: m.message_content },
            headers: m.headers,
            failed_at: to_bson_time(m.failed_at),
            created_at: to_bson_time(m.created_at),
        }
    }
}

impl TryFrom<DeadLetterDoc> for DeadLetterMessage {
    type Error = RepoError;

    fn try_from(d: DeadLetterDoc) -> RepoResult<Self> {
        const WHAT: &str = "dead letter";
        Ok(Self {
            retry_count: to_u32(WHAT, "retry_count", d.retry_count)?,
            failed_at: from_bson_time(WHAT, "failed_at", d.failed_at)?,
            created_at: from_bson_time(WHAT, "created_at", d.created_at)?,
            id: d.id,
            original_topic_name: d.original_topic_name,
            original_message_id: d.original_message_id,
            consumer_group_id: d.consumer_group_id,
            failure_reason: d.failure_reason,
            message_content: d.message_content.bytes,
            headers: d.headers,
        })
    }
}

/// Serializes a document struct for the driver.
pub(super) fn encode<D: Serialize>(what: &'static str, doc: &D) -> RepoResult<Document> {
    bson::to_document(doc).map_err(|e| RepoError::Corrupt { what, detail: e.to_string() })
}

/// Reads a stored document into its model: a document that does not fit the schema (missing
/// field, unknown status, out-of-range number) is `Corrupt`, not a driver error, so callers can
/// tell bad data from an unreachable server.
pub(super) fn decode<D, M>(what: &'static str, doc: Document) -> RepoResult<M>
where
    D: DeserializeOwned,
    M: TryFrom<D, Error = RepoError>,
{
    let parsed: D =
        bson::from_document(doc).map_err(|e| RepoError::Corrupt { what, detail: e.to_string() })?;
    M::try_from(parsed)
}

/// A model time as a BSON date, truncated (floored) to the millisecond.
pub(super) fn to_bson_time(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

/// A time as the first whole millisecond at or after it.
///
/// Used for range bounds: stored times are whole milliseconds, so for a stored `s` and any
/// bound `b`, `s >= b` and `s < b` hold exactly when they hold against `b` rounded up. Flooring
/// instead would let `from = 10.5 ms` match a letter stored at 10 ms.
pub(super) fn to_bson_time_ceil(t: DateTime<Utc>) -> bson::DateTime {
    let floor = t.timestamp_millis();
    let ms = if t.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        floor
    } else {
        floor.saturating_add(1)
    };
    bson::DateTime::from_millis(ms)
}

fn from_bson_time(what: &'static str, field: &str, t: bson::DateTime) -> RepoResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).ok_or_else(|| RepoError::Corrupt {
        what,
        detail: format!("{field} {} ms is outside the supported time range", t.timestamp_millis()),
    })
}

fn to_u32(what: &'static str, field: &str, v: i64) -> RepoResult<u32> {
    u32::try_from(v).map_err(|_| RepoError::Corrupt {
        what,
        detail: format!("{field} {v} is not a 32-bit unsigned number"),
    })
}

fn to_u64(what: &'static str, field: &str, v: i64) -> RepoResult<u64> {
    u64::try_from(v)
        .map_err(|_| RepoError::Corrupt { what, detail: format!("{field} {v} is negative") })
}

fn to_i64(what: &'static str, field: &str, v: u64) -> RepoResult<i64> {
    i64::try_from(v).map_err(|_| RepoError::Corrupt {
        what,
        detail: format!("{field} {v} does not fit a BSON int64"),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(ms: i64, extra_nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).unwrap() + chrono::Duration::nanoseconds(extra_nanos.into())
    }

    #[test]
    fn times_floor_when_stored_and_ceil_as_bounds() {
        for (time, floor, ceil) in [
            (at(10, 0), 10, 10),
            (at(10, 500_000), 10, 11),
            (at(10, 1), 10, 11),
            (at(-10, 500_000), -10, -9),
            (at(0, 0), 0, 0),
        ] {
            assert_eq!(to_bson_time(time).timestamp_millis(), floor, "{time:?}");
            assert_eq!(to_bson_time_ceil(time).timestamp_millis(), ceil, "{time:?}");
        }
    }

    #[test]
    fn consumer_round_trips_with_snake_case_names() {
        let t = at(1_700_000_000_123, 0);
        let consumer = Consumer {
            id: "consumer_1".into(),
            consumer_id: "c1".into(),
            group_id: "g1".into(),
            topic_name: "orders".into(),
            partition: 3,
            current_offset: 7,
            committed_offset: 5,
            lag: 2,
            status: ConsumerStatus::Error,
            last_heartbeat: t,
            client_info: BTreeMap::from([("host".into(), "a".into())]),
            created_at: t,
            updated_at: t,
        };
        let doc = encode("consumer", &ConsumerDoc::try_from(consumer.clone()).unwrap()).unwrap();
        assert_eq!(doc.get_str("_id").unwrap(), "consumer_1");
        assert_eq!(doc.get_str("status").unwrap(), "error");
        assert_eq!(doc.get_i64("committed_offset").unwrap(), 5);
        assert!(doc.get_datetime("last_heartbeat").is_ok());
        let back: Consumer = decode::<ConsumerDoc, _>("consumer", doc).unwrap();
        assert_eq!(back, consumer);
    }

    #[test]
    fn bad_stored_values_are_corrupt() {
        let t = bson::DateTime::from_millis(0);
        let base = bson::doc! {
            "_id": "dlq_1", "original_topic_name": "t", "original_message_id": "m",
            "consumer_group_id": "g", "failure_reason": "x", "retry_count": 1_i32,
            "message_content": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2] },
            "headers": {}, "failed_at": t, "created_at": t,
        };
        let ok: DeadLetterMessage =
            decode::<DeadLetterDoc, _>("dead letter", base.clone()).unwrap();
        assert_eq!((ok.retry_count, ok.message_content), (1, vec![1, 2]));
        for (field, value) in [
            ("retry_count", bson::Bson::Int64(-1)),
            ("failed_at", bson::Bson::String("yesterday".into())),
            ("original_message_id", bson::Bson::Null),
        ] {
            let mut doc = base.clone();
            doc.insert(field, value);
            let err = decode::<DeadLetterDoc, DeadLetterMessage>("dead letter", doc).unwrap_err();
            assert!(
                matches!(err, RepoError::Corrupt { what: "dead letter", .. }),
                "{field}: {err}"
            );
        }
    }
}
