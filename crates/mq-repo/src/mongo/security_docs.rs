//! BSON documents of API tokens (`api_tokens`) and audit records (`audit_logs`), and their
//! conversions to and from [`ApiToken`] and [`AuditRecord`].
//!
//! Like the other documents (see [`super::docs`]), names are snake_case, times BSON dates
//! (millisecond precision) and the role its lowercase string:
//!
//! ```text
//! api_tokens: { _id: <token name>, token_sha256, role: "admin" | "service",
//!               produce: [string], consume: [string], expires_at: date | null,
//!               created_at: date }
//! audit_logs: { _id: <record id>, at: date, actor, client_ip, action, target, outcome,
//!               status: int32 }
//! ```
//!
//! Keying `api_tokens` by name means the server itself refuses a second token of a name
//! (duplicate `_id`); the unique index on `token_sha256` (see [`super::indexes`]) refuses a
//! second token with the same secret, so a hash always finds at most one token. Unlike the
//! model's JSON, which never shows the hash, the document must keep it: it is how a token is
//! found. An unset `expires_at` is stored as `null`, so every field is always present.

use mongodb::bson;
use mq_model::{ApiToken, AuditRecord, Role};
use serde::{Deserialize, Serialize};

use super::docs::{from_bson_time, to_bson_time};
use crate::{RepoError, RepoResult};

/// Collection of API tokens, keyed by token name.
pub(super) const API_TOKENS: &str = "api_tokens";
/// Collection of audit records, keyed by record id.
pub(super) const AUDIT_LOGS: &str = "audit_logs";

/// What a token is called in errors.
pub(super) const TOKEN_WHAT: &str = "api token";
/// What an audit record is called in errors.
pub(super) const AUDIT_WHAT: &str = "audit record";

/// An API token as stored in `api_tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct TokenDoc {
    /// The token name: one document, so one token, per name.
    #[serde(rename = "_id")]
    pub(super) name: String,
    pub(super) token_sha256: String,
    pub(super) role: Role,
    #[serde(default)]
    pub(super) produce: Vec<String>,
    #[serde(default)]
    pub(super) consume: Vec<String>,
    #[serde(default)]
    pub(super) expires_at: Option<bson::DateTime>,
    pub(super) created_at: bson::DateTime,
}

/// An audit record as stored in `audit_logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct AuditDoc {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) at: bson::DateTime,
    pub(super) actor: String,
    pub(super) client_ip: String,
    pub(super) action: String,
    pub(super) target: String,
    pub(super) outcome: String,
    /// An HTTP status; BSON has no unsigned 16-bit integer, int32 holds them all.
    pub(super) status: i32,
}

impl From<ApiToken> for TokenDoc {
    fn from(t: ApiToken) -> Self {
        Self {
            name: t.name,
            token_sha256: t.token_sha256,
            role: t.role,
            produce: t.produce,
            consume: t.consume,
            expires_at: t.expires_at.map(to_bson_time),
            created_at: to_bson_time(t.created_at),
        }
    }
}

impl TryFrom<TokenDoc> for ApiToken {
    type Error = RepoError;

    fn try_from(d: TokenDoc) -> RepoResult<Self> {
        Ok(Self {
            expires_at: d
                .expires_at
                .map(|t| from_bson_time(TOKEN_WHAT, "expires_at", t))
                .transpose()?,
            created_at: from_bson_time(TOKEN_WHAT, "created_at", d.created_at)?,
            name: d.name,
            token_sha256: d.token_sha256,
            role: d.role,
            produce: d.produce,
            consume: d.consume,
        })
    }
}

impl From<AuditRecord> for AuditDoc {
    fn from(r: AuditRecord) -> Self {
        Self {
            id: r.id,
            at: to_bson_time(r.at),
            actor: r.actor,
            client_ip: r.client_ip,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            status: i32::from(r.status),
        }
    }
}

impl TryFrom<AuditDoc> for AuditRecord {
    type Error = RepoError;

    fn try_from(d: AuditDoc) -> RepoResult<Self> {
        let status = u16::try_from(d.status).map_err(|_| RepoError::Corrupt {
            what: AUDIT_WHAT,
            detail: format!("status {} is not an HTTP status", d.status),
        })?;
        Ok(Self {
            at: from_bson_time(AUDIT_WHAT, "at", d.at)?,
            id: d.id,
            actor: d.actor,
            client_ip: d.client_ip,
            action: d.action,
            target: d.target,
            outcome: d.outcome,
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use mongodb::bson::{Bson, Document};

    use super::super::docs::{decode, encode};
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
    }

    fn token() -> ApiToken {
        ApiToken {
            name: "order-service".into(),
            token_sha256: "ab".repeat(32),
            role: Role::Service,
            produce: vec!["order-*".into()],
            consume: vec!["order-*".into(), "payments".into()],
            expires_at: Some(at(60_000)),
            created_at: at(0),
        }
    }

    fn record() -> AuditRecord {
        AuditRecord {
            id: "audit_1".into(),
            at: at(0),
            actor: "admin".into(),
            client_ip: "10.0.0.7".into(),
            action: "POST /topics".into(),
            target: "orders".into(),
            outcome: "ok".into(),
            status: 201,
        }
    }

    fn token_doc(t: &ApiToken) -> Document {
        encode(TOKEN_WHAT, &TokenDoc::from(t.clone())).unwrap()
    }

    #[test]
    fn token_is_keyed_by_name_and_keeps_its_hash() {
        let t = token();
        let doc = token_doc(&t);
        assert_eq!(
            doc.keys().collect::<Vec<_>>(),
            ["_id", "token_sha256", "role", "produce", "consume", "expires_at", "created_at"]
        );
        assert_eq!(doc.get_str("_id").unwrap(), "order-service");
        assert_eq!(doc.get_str("token_sha256").unwrap(), "ab".repeat(32));
        assert_eq!(doc.get_str("role").unwrap(), "service");
        assert!(doc.get_datetime("expires_at").is_ok());
        assert!(doc.get_datetime("created_at").is_ok());
        assert_eq!(decode::<TokenDoc, ApiToken>(TOKEN_WHAT, doc).unwrap(), t);
    }

    #[test]
    fn token_without_expiry_stores_null_and_roles_are_lowercase() {
        let t = ApiToken { expires_at: None, role: Role::Admin, ..token() };
        let doc = token_doc(&t);
        assert_eq!(doc.get("expires_at"), Some(&Bson::Null));
        assert_eq!(doc.get_str("role").unwrap(), "admin");
        assert_eq!(decode::<TokenDoc, ApiToken>(TOKEN_WHAT, doc).unwrap(), t);

        let mut doc = token_doc(&token());
        doc.insert("role", "root");
        let err = decode::<TokenDoc, ApiToken>(TOKEN_WHAT, doc).unwrap_err();
        assert!(matches!(err, RepoError::Corrupt { what: TOKEN_WHAT, .. }), "{err}");
    }

    #[test]
    fn audit_record_is_keyed_by_id_with_snake_case_names() {
        let r = record();
        let doc = encode(AUDIT_WHAT, &AuditDoc::from(r.clone())).unwrap();
        assert_eq!(
            doc.keys().collect::<Vec<_>>(),
            ["_id", "at", "actor", "client_ip", "action", "target", "outcome", "status"]
        );
        assert_eq!(doc.get_str("_id").unwrap(), "audit_1");
        assert_eq!(doc.get_i32("status").unwrap(), 201);
        assert!(doc.get_datetime("at").is_ok());
        assert_eq!(decode::<AuditDoc, AuditRecord>(AUDIT_WHAT, doc).unwrap(), r);
    }

    #[test]
    fn times_are_stored_to_the_millisecond_and_bad_statuses_are_corrupt() {
        let sub_ms = chrono::Duration::nanoseconds(456_789);
        let t =
            ApiToken { created_at: at(1) + sub_ms, expires_at: Some(at(2) + sub_ms), ..token() };
        let read: ApiToken = decode::<TokenDoc, _>(TOKEN_WHAT, token_doc(&t)).unwrap();
        assert_eq!((read.created_at, read.expires_at), (at(1), Some(at(2))));

        let r = AuditRecord { at: at(3) + sub_ms, ..record() };
        let doc = encode(AUDIT_WHAT, &AuditDoc::from(r)).unwrap();
        let read: AuditRecord = decode::<AuditDoc, _>(AUDIT_WHAT, doc.clone()).unwrap();
        assert_eq!(read.at, at(3));

        let mut bad = doc;
        bad.insert("status", 70_000_i32);
        let err = decode::<AuditDoc, AuditRecord>(AUDIT_WHAT, bad).unwrap_err();
        assert!(matches!(err, RepoError::Corrupt { what: AUDIT_WHAT, .. }), "{err}");
    }
}
