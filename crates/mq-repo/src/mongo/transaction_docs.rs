//! BSON documents of transaction records (`transactions`) and their conversions to and from
//! [`Transaction`].
//!
//! Like the other documents (see [`super::docs`]), names are snake_case, counts and offsets
//! int64, times BSON dates (millisecond precision), and the state and `decided_by` their
//! snake_case strings:
//!
//! ```text
//! { _id: <transaction id>, message_id, topic_name, partition, key: string | null,
//!   headers: {..}, producer_id: string | null, state: "prepared" | "committed" | "rolled_back",
//!   checkback_url: string | null, timeout_ms, check_at: date, check_count,
//!   lease_until: date | null, decided_by: null | "producer" | "checkback" | "final_action",
//!   reason: string | null, applied: bool, offset: int64 | null,
//!   history: [{ at: date, kind, detail }], created_at: date, updated_at: date }
//! ```
//!
//! Unset optional fields are stored as `null`, so every field is always present; queries
//! match `lease_until: null`, which also matches a missing field.

use std::collections::BTreeMap;

use mongodb::bson::{self, Bson, Document};
use mq_model::{DecidedBy, Transaction, TransactionEvent, TransactionState};
use serde::{Deserialize, Serialize};

use super::docs::{
    encode, from_bson_time, placement_doc, placement_model, to_bson_time, to_i64, to_u32, to_u64,
};
use crate::{RepoError, RepoResult};

/// Collection of transaction records.
pub(super) const TRANSACTIONS: &str = "transactions";

/// What a transaction record is called in errors.
pub(super) const WHAT: &str = "transaction";

/// A transaction record as stored in `transactions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct TransactionDoc {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) message_id: String,
    pub(super) topic_name: String,
    pub(super) partition: i64,
    #[serde(default)]
    pub(super) key: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) producer_id: Option<String>,
    pub(super) state: TransactionState,
    #[serde(default)]
    pub(super) checkback_url: Option<String>,
    pub(super) timeout_ms: i64,
    pub(super) check_at: bson::DateTime,
    pub(super) check_count: i64,
    #[serde(default)]
    pub(super) lease_until: Option<bson::DateTime>,
    #[serde(default)]
    pub(super) decided_by: Option<DecidedBy>,
    #[serde(default)]
    pub(super) reason: Option<String>,
    #[serde(default)]
    pub(super) applied: bool,
    #[serde(default)]
    pub(super) offset: Option<i64>,
    #[serde(default)]
    pub(super) history: Vec<EventDoc>,
    pub(super) created_at: bson::DateTime,
    pub(super) updated_at: bson::DateTime,
    /// The topic's placement when prepared (where the half message is held); absent (the
    /// placement by name) on records stored before placements existed.
    #[serde(default)]
    pub(super) placement: Vec<i64>,
}

/// One step of a transaction's `history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct EventDoc {
    pub(super) at: bson::DateTime,
    pub(super) kind: String,
    #[serde(default)]
    pub(super) detail: String,
}

impl From<TransactionEvent> for EventDoc {
    fn from(e: TransactionEvent) -> Self {
        Self { at: to_bson_time(e.at), kind: e.kind, detail: e.detail }
    }
}

impl EventDoc {
    /// The event as a sub-document for `$push`.
    pub(super) fn encode(event: TransactionEvent) -> RepoResult<Document> {
        encode(WHAT, &Self::from(event))
    }

    fn into_model(self, i: usize) -> RepoResult<TransactionEvent> {
        Ok(TransactionEvent {
            at: from_bson_time(WHAT, &format!("history.{i}.at"), self.at)?,
            kind: self.kind,
            detail: self.detail,
        })
    }
}

/// An offset as stored: int64, or `null` when unset. Fails only beyond `i64::MAX`.
pub(super) fn offset_bson(offset: Option<u64>) -> RepoResult<Bson> {
    Ok(match offset {
        Some(o) => Bson::Int64(to_i64(WHAT, "offset", o)?),
        None => Bson::Null,
    })
}

impl TryFrom<Transaction> for TransactionDoc {
    type Error = RepoError;

    /// Fails only for an offset beyond `i64::MAX`, like a consumer's.
    fn try_from(t: Transaction) -> RepoResult<Self> {
        Ok(Self {
            partition: i64::from(t.partition),
            check_at: to_bson_time(t.check_at),
            check_count: i64::from(t.check_count),
            lease_until: t.lease_until.map(to_bson_time),
            offset: t.offset.map(|o| to_i64(WHAT, "offset", o)).transpose()?,
            history: t.history.into_iter().map(EventDoc::from).collect(),
            created_at: to_bson_time(t.created_at),
            updated_at: to_bson_time(t.updated_at),
            id: t.transaction_id,
            message_id: t.message_id,
            topic_name: t.topic_name,
            key: t.key,
            headers: t.headers,
            producer_id: t.producer_id,
            state: t.state,
            checkback_url: t.checkback_url,
            timeout_ms: t.timeout_ms,
            decided_by: t.decided_by,
            reason: t.reason,
            applied: t.applied,
            placement: placement_doc(&t.placement),
        })
    }
}

impl TryFrom<TransactionDoc> for Transaction {
    type Error = RepoError;

    fn try_from(d: TransactionDoc) -> RepoResult<Self> {
        let history = d
            .history
            .into_iter()
            .enumerate()
            .map(|(i, e)| e.into_model(i))
            .collect::<RepoResult<_>>()?;
        Ok(Self {
            partition: to_u32(WHAT, "partition", d.partition)?,
            check_at: from_bson_time(WHAT, "check_at", d.check_at)?,
            check_count: to_u32(WHAT, "check_count", d.check_count)?,
            lease_until: d
                .lease_until
                .map(|t| from_bson_time(WHAT, "lease_until", t))
                .transpose()?,
            offset: d.offset.map(|o| to_u64(WHAT, "offset", o)).transpose()?,
            history,
            created_at: from_bson_time(WHAT, "created_at", d.created_at)?,
            updated_at: from_bson_time(WHAT, "updated_at", d.updated_at)?,
            transaction_id: d.id,
            message_id: d.message_id,
            topic_name: d.topic_name,
            key: d.key,
            headers: d.headers,
            producer_id: d.producer_id,
            state: d.state,
            checkback_url: d.checkback_url,
            timeout_ms: d.timeout_ms,
            decided_by: d.decided_by,
            reason: d.reason,
            applied: d.applied,
            placement: placement_model(WHAT, d.placement)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::super::docs::decode;
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
    }

    fn event(ms: i64, kind: &str) -> TransactionEvent {
        TransactionEvent { at: at(ms), kind: kind.into(), detail: format!("{kind} detail") }
    }

    /// A decided and applied record with every optional field set.
    fn full() -> Transaction {
        Transaction {
            transaction_id: "txn_1".into(),
            message_id: "msg_1".into(),
            topic_name: "orders".into(),
            partition: 7,
            key: Some("user_1".into()),
            headers: BTreeMap::from([("trace".into(), "t-1".into())]),
            producer_id: Some("p1".into()),
            state: TransactionState::RolledBack,
            checkback_url: Some("http://producer/check".into()),
            timeout_ms: 6_000,
            check_at: at(6_000),
            check_count: 3,
            lease_until: Some(at(9_000)),
            decided_by: Some(DecidedBy::FinalAction),
            reason: Some("unknown after 3 checks".into()),
            applied: true,
            offset: Some(1 << 40),
            history: vec![event(0, "prepared"), event(6_000, "check"), event(9_500, "applied")],
            created_at: at(0),
            updated_at: at(9_500),
            placement: mq_model::Placement { generations: vec![8, 12] },
        }
    }

    /// A just-prepared record with every optional field unset.
    fn bare() -> Transaction {
        Transaction {
            key: None,
            headers: BTreeMap::new(),
            producer_id: None,
            state: TransactionState::Prepared,
            checkback_url: None,
            check_count: 0,
            lease_until: None,
            decided_by: None,
            reason: None,
            applied: false,
            offset: None,
            history: Vec::new(),
            ..full()
        }
    }

    fn encoded(t: &Transaction) -> Document {
        encode(WHAT, &TransactionDoc::try_from(t.clone()).unwrap()).unwrap()
    }

    #[test]
    fn transaction_round_trips_with_snake_case_names() {
        let t = full();
        let doc = encoded(&t);
        assert_eq!(
            doc.keys().collect::<Vec<_>>(),
            [
                "_id",
                "message_id",
                "topic_name",
                "partition",
                "key",
                "headers",
                "producer_id",
                "state",
                "checkback_url",
                "timeout_ms",
                "check_at",
                "check_count",
                "lease_until",
                "decided_by",
                "reason",
                "applied",
                "offset",
                "history",
                "created_at",
                "updated_at",
                "placement",
            ]
        );
        assert_eq!(doc.get_str("_id").unwrap(), "txn_1");
        assert_eq!(doc.get_i64("partition").unwrap(), 7);
        assert_eq!(doc.get_i64("check_count").unwrap(), 3);
        assert_eq!(doc.get_array("placement").unwrap(), &[Bson::Int64(8), Bson::Int64(12)]);
        // A record stored before placements existed reads as placed by name.
        let mut old = doc.clone();
        old.remove("placement");
        let read: Transaction = decode::<TransactionDoc, _>(WHAT, old).unwrap();
        assert!(read.placement.is_by_name());
        assert_eq!(doc.get_i64("timeout_ms").unwrap(), 6_000);
        assert_eq!(doc.get_i64("offset").unwrap(), 1 << 40);
        assert_eq!(doc.get_str("state").unwrap(), "rolled_back");
        assert_eq!(doc.get_str("decided_by").unwrap(), "final_action");
        assert!(doc.get_bool("applied").unwrap());
        for field in ["check_at", "lease_until", "created_at", "updated_at"] {
            assert!(doc.get_datetime(field).is_ok(), "{field}");
        }
        let history = doc.get_array("history").unwrap();
        let second = history[1].as_document().unwrap();
        assert_eq!(second.keys().collect::<Vec<_>>(), ["at", "kind", "detail"]);
        assert_eq!(
            second.get_datetime("at").unwrap().timestamp_millis(),
            at(6_000).timestamp_millis()
        );
        assert_eq!(second.get_str("kind").unwrap(), "check");
        assert_eq!(decode::<TransactionDoc, Transaction>(WHAT, doc).unwrap(), t);
    }

    #[test]
    fn unset_optional_fields_are_stored_as_null() {
        let t = bare();
        let doc = encoded(&t);
        for field in
            ["key", "producer_id", "checkback_url", "lease_until", "decided_by", "reason", "offset"]
        {
            assert_eq!(doc.get(field), Some(&Bson::Null), "{field}");
        }
        assert_eq!(doc.get_str("state").unwrap(), "prepared");
        assert!(!doc.get_bool("applied").unwrap());
        assert!(doc.get_array("history").unwrap().is_empty());
        assert_eq!(decode::<TransactionDoc, Transaction>(WHAT, doc).unwrap(), t);
    }

    #[test]
    fn times_are_stored_to_the_millisecond() {
        let sub_ms = chrono::Duration::nanoseconds(456_789);
        let t = Transaction {
            check_at: at(1) + sub_ms,
            lease_until: Some(at(2) + sub_ms),
            history: vec![TransactionEvent { at: at(3) + sub_ms, ..event(0, "prepared") }],
            created_at: at(4) + sub_ms,
            updated_at: at(5) + sub_ms,
            ..full()
        };
        let read: Transaction = decode::<TransactionDoc, _>(WHAT, encoded(&t)).unwrap();
        assert_eq!(
            (read.check_at, read.lease_until, read.history[0].at, read.created_at, read.updated_at),
            (at(1), Some(at(2)), at(3), at(4), at(5))
        );
    }

    #[test]
    fn decided_by_and_state_are_snake_case_strings() {
        for by in [DecidedBy::Producer, DecidedBy::Checkback, DecidedBy::FinalAction] {
            assert_eq!(bson::to_bson(&by).unwrap(), Bson::String(by.as_str().into()));
        }
        for state in
            [TransactionState::Prepared, TransactionState::Committed, TransactionState::RolledBack]
        {
            assert_eq!(bson::to_bson(&state).unwrap(), Bson::String(state.as_str().into()));
        }
    }

    #[test]
    fn offsets_beyond_int64_are_refused() {
        let err =
            TransactionDoc::try_from(Transaction { offset: Some(u64::MAX), ..full() }).unwrap_err();
        assert!(err.to_string().contains("offset"), "{err}");
        assert!(offset_bson(Some(u64::MAX)).is_err());
        assert_eq!(offset_bson(Some(5)).unwrap(), Bson::Int64(5));
        assert_eq!(offset_bson(None).unwrap(), Bson::Null);
    }

    #[test]
    fn int32_fields_and_missing_optional_fields_read() {
        let t = bson::DateTime::from_millis(0);
        let doc = bson::doc! {
            "_id": "txn_1", "message_id": "m", "topic_name": "t", "partition": 2_i32,
            "state": "committed", "timeout_ms": 5_i32, "check_at": t, "check_count": 1_i32,
            "created_at": t, "updated_at": t,
        };
        let read: Transaction = decode::<TransactionDoc, _>(WHAT, doc).unwrap();
        assert_eq!((read.partition, read.check_count, read.timeout_ms), (2, 1, 5));
        assert_eq!(
            (read.key, read.lease_until, read.offset, read.applied),
            (None, None, None, false)
        );
        assert!(read.history.is_empty() && read.headers.is_empty());
    }

    #[test]
    fn bad_stored_values_are_corrupt() {
        let t = bson::DateTime::from_millis(0);
        // `named`: the field the error names, for the checks after parsing; a value of the
        // wrong BSON type fails in the driver's deserializer, whose messages name no field.
        for (field, value, named) in [
            ("check_count", Bson::Int64(-1), Some("check_count")),
            ("partition", Bson::Int64(1 << 33), Some("partition")),
            ("offset", Bson::Int64(-1), Some("offset")),
            ("state", Bson::String("aborted".into()), None),
            ("decided_by", Bson::String("operator".into()), None),
            ("check_at", Bson::String("soon".into()), None),
            ("history", bson::bson!([{ "kind": "check" }]), None),
            (
                "history",
                bson::bson!([{ "at": bson::DateTime::MAX, "kind": "check", "detail": "" }]),
                Some("history.0.at"),
            ),
            ("lease_until", Bson::DateTime(t), None),
        ] {
            let mut doc = encoded(&full());
            doc.insert(field, value);
            let result = decode::<TransactionDoc, Transaction>(WHAT, doc);
            if field == "lease_until" {
                // A valid value, as a control: the loop's document is otherwise sound.
                assert!(result.is_ok(), "{result:?}");
                continue;
            }
            let err = result.unwrap_err();
            assert!(matches!(err, RepoError::Corrupt { what: WHAT, .. }), "{field}: {err}");
            if let Some(named) = named {
                assert!(err.to_string().contains(named), "{field}: {err}");
            }
        }
    }
}
