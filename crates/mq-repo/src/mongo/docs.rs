//! BSON documents of the metadata collections (design §4.1) and their conversions to and from
//! the `mq-model` types.
//!
//! The models speak camelCase JSON and unsigned Rust integers; MongoDB documents use the
//! design's snake_case names and only signed integers, so each collection gets a private
//! document struct. Every count and offset is stored as BSON int64: it holds all `u32` values
//! and every realistic `u64` offset, and reading also accepts int32 written by other tools.
//! Times are BSON dates (millisecond precision), so they are truncated to the millisecond on the
//! way in; reading back returns exactly what was stored.
//!
//! Topics, groups and consumers are here, with the conversions all documents share; dead
//! letters, which may spill their content into a second collection, are in
//! [`super::dead_letter_docs`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mongodb::bson::{self, Document};
use mq_model::{
    BackoffKind, Consumer, ConsumerGroup, ConsumerStatus, DeliveryMode, GroupStatus, Placement,
    RetryPolicy, StartFrom, Topic, TopicStatus,
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
    /// The partition counts of the topic's placement generations; absent (read as empty, the
    /// placement by name) on topics stored before placements existed.
    #[serde(default)]
    pub(super) placement: Vec<i64>,
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
            placement: placement_doc(&t.placement),
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
            placement: placement_model(WHAT, d.placement)?,
        })
    }
}

/// A placement as stored: the partition counts of its generations (empty: by name).
pub(super) fn placement_doc(placement: &Placement) -> Vec<i64> {
    placement.generations.iter().copied().map(i64::from).collect()
}

/// A stored placement; a field absent from older documents reads as the placement by name.
pub(super) fn placement_model(what: &'static str, stored: Vec<i64>) -> RepoResult<Placement> {
    let generations =
        stored.into_iter().map(|g| to_u32(what, "placement", g)).collect::<RepoResult<_>>()?;
    Ok(Placement { generations })
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
    /// Always written; a group stored before retry policies existed (no field, or `null`)
    /// reads back with the default policy.
    #[serde(default)]
    pub(super) retry_policy: Option<RetryPolicyDoc>,
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

/// A group's retry policy as stored in its `retry_policy` sub-document. A field missing from a
/// stored policy reads as its default, like a field missing from the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", default)]
pub(super) struct RetryPolicyDoc {
    pub(super) max_retries: i64,
    pub(super) backoff: BackoffKind,
    pub(super) initial_backoff_ms: i64,
    pub(super) multiplier: f64,
    pub(super) max_backoff_ms: i64,
    pub(super) jitter: f64,
    /// Always written, empty for exponential backoff, so the document shows every field.
    pub(super) delays_ms: Vec<i64>,
}

impl Default for RetryPolicyDoc {
    fn default() -> Self {
        RetryPolicy::default().into()
    }
}

impl From<RetryPolicy> for RetryPolicyDoc {
    fn from(p: RetryPolicy) -> Self {
        Self {
            max_retries: i64::from(p.max_retries),
            backoff: p.backoff,
            initial_backoff_ms: p.initial_backoff_ms,
            multiplier: p.multiplier,
            max_backoff_ms: p.max_backoff_ms,
            jitter: p.jitter,
            delays_ms: p.delays_ms,
        }
    }
}

impl RetryPolicyDoc {
    fn into_model(self, what: &'static str) -> RepoResult<RetryPolicy> {
        Ok(RetryPolicy {
            max_retries: to_u32(what, "retry_policy.max_retries", self.max_retries)?,
            backoff: self.backoff,
            initial_backoff_ms: self.initial_backoff_ms,
            multiplier: self.multiplier,
            max_backoff_ms: self.max_backoff_ms,
            jitter: self.jitter,
            delays_ms: self.delays_ms,
        })
    }
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
            retry_policy: Some(g.retry_policy.into()),
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
            retry_policy: d.retry_policy.unwrap_or_default().into_model(WHAT)?,
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
    M::try_from(parse::<D>(what, doc)?)
}

/// Reads a stored document into its document struct; see [`decode`].
pub(super) fn parse<D: DeserializeOwned>(what: &'static str, doc: Document) -> RepoResult<D> {
    bson::from_document(doc).map_err(|e| RepoError::Corrupt { what, detail: e.to_string() })
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

pub(super) fn from_bson_time(
    what: &'static str,
    field: &str,
    t: bson::DateTime,
) -> RepoResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).ok_or_else(|| RepoError::Corrupt {
        what,
        detail: format!("{field} {} ms is outside the supported time range", t.timestamp_millis()),
    })
}

pub(super) fn to_u32(what: &'static str, field: &str, v: i64) -> RepoResult<u32> {
    u32::try_from(v).map_err(|_| RepoError::Corrupt {
        what,
        detail: format!("{field} {v} is not a 32-bit unsigned number"),
    })
}

pub(super) fn to_u64(what: &'static str, field: &str, v: i64) -> RepoResult<u64> {
    u64::try_from(v)
        .map_err(|_| RepoError::Corrupt { what, detail: format!("{field} {v} is negative") })
}

pub(super) fn to_i64(what: &'static str, field: &str, v: u64) -> RepoResult<i64> {
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

    fn group(retry_policy: RetryPolicy) -> ConsumerGroup {
        let t = at(1_700_000_000_123, 0);
        ConsumerGroup {
            id: "group_1".into(),
            group_id: "billing".into(),
            topic_name: "orders".into(),
            consumer_count: 2,
            status: GroupStatus::Active,
            delivery_mode: DeliveryMode::Ordered,
            start_from: StartFrom::Earliest,
            ack_timeout_ms: 1_500,
            session_timeout_ms: 2_500,
            retry_policy,
            config: BTreeMap::new(),
            last_commit_time: None,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn group_stores_its_retry_policy_as_a_snake_case_sub_document() {
        let policy = RetryPolicy {
            max_retries: 3,
            backoff: BackoffKind::Explicit,
            initial_backoff_ms: 500,
            multiplier: 1.5,
            max_backoff_ms: 60_000,
            jitter: 0.25,
            delays_ms: vec![1_000, 5_000],
        };
        let g = group(policy);
        let doc = encode("consumer group", &GroupDoc::from(g.clone())).unwrap();
        let stored = doc.get_document("retry_policy").unwrap();
        assert_eq!(
            stored,
            &bson::doc! {
                "max_retries": 3_i64, "backoff": "explicit", "initial_backoff_ms": 500_i64,
                "multiplier": 1.5, "max_backoff_ms": 60_000_i64, "jitter": 0.25,
                "delays_ms": [1_000_i64, 5_000_i64],
            }
        );
        assert_eq!(decode::<GroupDoc, ConsumerGroup>("consumer group", doc).unwrap(), g);

        let g = group(RetryPolicy::default());
        let doc = encode("consumer group", &GroupDoc::from(g.clone())).unwrap();
        assert_eq!(
            doc.get_document("retry_policy").unwrap().get_array("delays_ms").unwrap().len(),
            0
        );
        assert_eq!(decode::<GroupDoc, ConsumerGroup>("consumer group", doc).unwrap(), g);
    }

    #[test]
    fn group_without_a_stored_policy_reads_the_default() {
        let g = group(RetryPolicy { max_retries: 3, ..RetryPolicy::default() });
        let full = encode("consumer group", &GroupDoc::from(g)).unwrap();
        let read = |change: &dyn Fn(&mut Document)| {
            let mut doc = full.clone();
            change(&mut doc);
            decode::<GroupDoc, ConsumerGroup>("consumer group", doc).map(|g| g.retry_policy)
        };
        assert_eq!(read(&|d| drop(d.remove("retry_policy"))).unwrap(), RetryPolicy::default());
        assert_eq!(
            read(&|d| drop(d.insert("retry_policy", bson::Bson::Null))).unwrap(),
            RetryPolicy::default()
        );
        // A partly written policy keeps what it has; int32 and int64 both read.
        let partial = bson::doc! { "max_retries": 4_i32, "multiplier": 3_i32 };
        assert_eq!(
            read(&|d| drop(d.insert("retry_policy", partial.clone()))).unwrap(),
            RetryPolicy { max_retries: 4, multiplier: 3.0, ..RetryPolicy::default() }
        );

        for (policy, named) in [
            (bson::doc! { "max_retries": -1_i64 }, Some("retry_policy.max_retries")),
            (bson::doc! { "backoff": "linear" }, None),
        ] {
            let err = read(&|d| drop(d.insert("retry_policy", policy.clone()))).unwrap_err();
            assert!(matches!(err, RepoError::Corrupt { what: "consumer group", .. }), "{err}");
            if let Some(named) = named {
                assert!(err.to_string().contains(named), "{err}");
            }
        }
    }

    #[test]
    fn topic_keeps_its_placement_and_older_topics_read_as_placed_by_name() {
        let mut cfg = mq_model::TopicConfig::named("orders");
        cfg.partitions = 12;
        let mut topic =
            cfg.into_topic("topic_1".into(), String::new(), at(1_700_000_000_000, 0)).unwrap();
        topic.placement.grow(16);
        let doc = encode("topic", &TopicDoc::from(topic.clone())).unwrap();
        assert_eq!(
            doc.get_array("placement").unwrap(),
            &[bson::Bson::Int64(12), bson::Bson::Int64(16)]
        );
        assert_eq!(decode::<TopicDoc, Topic>("topic", doc.clone()).unwrap(), topic);
        let mut old = doc;
        old.remove("placement");
        let read = decode::<TopicDoc, Topic>("topic", old).unwrap();
        assert!(read.placement.is_by_name(), "{:?}", read.placement);
    }
}
