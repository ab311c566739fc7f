//! BSON documents of alerts: the active ones (`alerts_active`, one per key) and the resolved
//! ones (`alerts`, the history), and their conversions to and from [`Alert`].
//!
//! Like the other documents (see [`super::docs`]), names are snake_case, times BSON dates
//! (millisecond precision) and the rule its snake_case string. The two collections differ in
//! their `_id`, which is what makes each write atomic:
//!
//! ```text
//! alerts_active: { _id: <alert key>, alert_id, rule: "backlog" | "consumer_lag" |
//!                  "dead_letters" | "no_consumer", severity, topic_name,
//!                  group_id: string | null, message, value: double, threshold: double,
//!                  fired_at: date }
//! alerts:        { _id: <alert id>, key, rule, severity, topic_name, group_id: string | null,
//!                  message, value: double, threshold: double, fired_at: date,
//!                  resolved_at: date }
//! ```
//!
//! Keying `alerts_active` by the alert key means the server itself refuses a second active
//! alert of a key (duplicate `_id`), with no unique index and no check-then-insert race. An
//! unset `group_id` is stored as `null`, so every field is always present.

use chrono::{DateTime, Utc};
use mongodb::bson;
use mq_model::{Alert, AlertRule};
use serde::{Deserialize, Serialize};

use super::docs::{from_bson_time, to_bson_time};
use crate::{RepoError, RepoResult};

/// Collection of active alerts, keyed by alert key.
pub(super) const ALERTS_ACTIVE: &str = "alerts_active";
/// Collection of resolved alerts (the history), keyed by alert id.
pub(super) const ALERTS: &str = "alerts";

/// What an alert is called in errors.
pub(super) const WHAT: &str = "alert";

/// An active alert as stored in `alerts_active`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct ActiveAlertDoc {
    /// The alert key: one document, so one active alert, per key.
    #[serde(rename = "_id")]
    pub(super) key: String,
    pub(super) alert_id: String,
    pub(super) rule: AlertRule,
    pub(super) severity: String,
    pub(super) topic_name: String,
    #[serde(default)]
    pub(super) group_id: Option<String>,
    #[serde(default)]
    pub(super) message: String,
    pub(super) value: f64,
    pub(super) threshold: f64,
    pub(super) fired_at: bson::DateTime,
}

/// A resolved alert as stored in `alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct AlertDoc {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) key: String,
    pub(super) rule: AlertRule,
    pub(super) severity: String,
    pub(super) topic_name: String,
    #[serde(default)]
    pub(super) group_id: Option<String>,
    #[serde(default)]
    pub(super) message: String,
    pub(super) value: f64,
    pub(super) threshold: f64,
    pub(super) fired_at: bson::DateTime,
    pub(super) resolved_at: bson::DateTime,
}

impl From<Alert> for ActiveAlertDoc {
    /// An alert being opened; its `resolved_at`, if any, is dropped: an active alert has none.
    fn from(a: Alert) -> Self {
        Self {
            key: a.key,
            alert_id: a.id,
            rule: a.rule,
            severity: a.severity,
            topic_name: a.topic_name,
            group_id: a.group_id,
            message: a.message,
            value: a.value,
            threshold: a.threshold,
            fired_at: to_bson_time(a.fired_at),
        }
    }
}

impl TryFrom<ActiveAlertDoc> for Alert {
    type Error = RepoError;

    fn try_from(d: ActiveAlertDoc) -> RepoResult<Self> {
        Ok(Self {
            fired_at: from_bson_time(WHAT, "fired_at", d.fired_at)?,
            resolved_at: None,
            id: d.alert_id,
            key: d.key,
            rule: d.rule,
            severity: d.severity,
            topic_name: d.topic_name,
            group_id: d.group_id,
            message: d.message,
            value: d.value,
            threshold: d.threshold,
        })
    }
}

impl ActiveAlertDoc {
    /// The history document of this alert resolved at `resolved_at`.
    pub(super) fn resolve(self, resolved_at: DateTime<Utc>) -> AlertDoc {
        AlertDoc {
            id: self.alert_id,
            key: self.key,
            rule: self.rule,
            severity: self.severity,
            topic_name: self.topic_name,
            group_id: self.group_id,
            message: self.message,
            value: self.value,
            threshold: self.threshold,
            fired_at: self.fired_at,
            resolved_at: to_bson_time(resolved_at),
        }
    }
}

impl TryFrom<AlertDoc> for Alert {
    type Error = RepoError;

    fn try_from(d: AlertDoc) -> RepoResult<Self> {
        Ok(Self {
            fired_at: from_bson_time(WHAT, "fired_at", d.fired_at)?,
            resolved_at: Some(from_bson_time(WHAT, "resolved_at", d.resolved_at)?),
            id: d.id,
            key: d.key,
            rule: d.rule,
            severity: d.severity,
            topic_name: d.topic_name,
            group_id: d.group_id,
            message: d.message,
            value: d.value,
            threshold: d.threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use mongodb::bson::{Bson, Document};

    use super::super::docs::{decode, encode};
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
    }

    fn alert() -> Alert {
        Alert {
            id: "alert_1".into(),
            key: "consumer_lag:orders:billing".into(),
            rule: AlertRule::ConsumerLag,
            severity: "critical".into(),
            topic_name: "orders".into(),
            group_id: Some("billing".into()),
            message: "oldest message waits 90 s".into(),
            value: 90_000.0,
            threshold: 60_000.5,
            fired_at: at(0),
            resolved_at: None,
        }
    }

    fn active(a: &Alert) -> Document {
        encode(WHAT, &ActiveAlertDoc::from(a.clone())).unwrap()
    }

    #[test]
    fn active_alert_is_keyed_by_its_key_with_snake_case_names() {
        let a = alert();
        let doc = active(&a);
        assert_eq!(
            doc.keys().collect::<Vec<_>>(),
            [
                "_id",
                "alert_id",
                "rule",
                "severity",
                "topic_name",
                "group_id",
                "message",
                "value",
                "threshold",
                "fired_at",
            ]
        );
        assert_eq!(doc.get_str("_id").unwrap(), "consumer_lag:orders:billing");
        assert_eq!(doc.get_str("alert_id").unwrap(), "alert_1");
        assert_eq!(doc.get_str("rule").unwrap(), "consumer_lag");
        assert_eq!(doc.get_f64("threshold").unwrap(), 60_000.5);
        assert!(doc.get_datetime("fired_at").is_ok());
        assert_eq!(decode::<ActiveAlertDoc, Alert>(WHAT, doc).unwrap(), a);
    }

    #[test]
    fn resolved_alert_is_keyed_by_its_id_and_keeps_both_times() {
        let a = Alert { group_id: None, rule: AlertRule::Backlog, ..alert() };
        let parsed: ActiveAlertDoc = bson::from_document(active(&a)).unwrap();
        let doc = encode(WHAT, &parsed.resolve(at(5_000))).unwrap();
        assert_eq!(
            doc.keys().collect::<Vec<_>>(),
            [
                "_id",
                "key",
                "rule",
                "severity",
                "topic_name",
                "group_id",
                "message",
                "value",
                "threshold",
                "fired_at",
                "resolved_at",
            ]
        );
        assert_eq!(doc.get_str("_id").unwrap(), "alert_1");
        assert_eq!(doc.get("group_id"), Some(&Bson::Null));
        assert_eq!(doc.get_str("rule").unwrap(), "backlog");
        assert_eq!(
            decode::<AlertDoc, Alert>(WHAT, doc).unwrap(),
            Alert { resolved_at: Some(at(5_000)), ..a }
        );
    }

    #[test]
    fn times_are_stored_to_the_millisecond_and_an_open_alert_is_unresolved() {
        let sub_ms = chrono::Duration::nanoseconds(456_789);
        let a = Alert { fired_at: at(1) + sub_ms, resolved_at: Some(at(2)), ..alert() };
        let read: Alert = decode::<ActiveAlertDoc, _>(WHAT, active(&a)).unwrap();
        assert_eq!((read.fired_at, read.resolved_at), (at(1), None));
        let parsed: ActiveAlertDoc = bson::from_document(active(&a)).unwrap();
        let read: Alert = parsed.resolve(at(3) + sub_ms).try_into().unwrap();
        assert_eq!(read.resolved_at, Some(at(3)));
    }

    #[test]
    fn rules_are_snake_case_strings_and_unknown_ones_are_corrupt() {
        for rule in [
            AlertRule::Backlog,
            AlertRule::ConsumerLag,
            AlertRule::DeadLetters,
            AlertRule::NoConsumer,
            AlertRule::OffsetRollback,
        ] {
            assert_eq!(bson::to_bson(&rule).unwrap(), Bson::String(rule.as_str().into()));
        }
        let mut doc = active(&alert());
        doc.insert("rule", "disk_full");
        let err = decode::<ActiveAlertDoc, Alert>(WHAT, doc).unwrap_err();
        assert!(matches!(err, RepoError::Corrupt { what: WHAT, .. }), "{err}");
    }
}
