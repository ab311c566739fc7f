//! The token and audit repositories on MongoDB: API tokens in `api_tokens`, keyed by name, and
//! the audit log in `audit_logs`, keyed by record id (see [`super::security_docs`]).
//!
//! Uniqueness comes from the server, never from a check before the write: a second token of
//! a name is a duplicate `_id`, a second token of a secret breaks the unique `token_sha256`
//! index, and both read as `AlreadyExists`. Revoking is one `deleteOne`, so of two racing
//! revokes exactly one reports true.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mq_model::{ApiToken, AuditRecord, Page, Paged};

use super::docs::{decode, encode, to_bson_time_ceil};
use super::repos::MongoMetadata;
use super::security_docs::{AuditDoc, TokenDoc, API_TOKENS, AUDIT_LOGS, AUDIT_WHAT, TOKEN_WHAT};
use crate::metadata::{AuditFilter, AuditRepository, TokenRepository};
use crate::{RepoError, RepoResult};

/// Sort of the token listing: by name.
fn token_sort() -> Document {
    doc! { "_id": 1 }
}

/// Sort of the audit listing: newest `at` first, ties by larger id (index `at_desc`).
fn audit_sort() -> Document {
    doc! { "at": -1, "_id": -1 }
}

/// Filter of an audit listing: `from` inclusive, `to` exclusive on `at`, and the exact actor
/// and action. Bounds are rounded up to the millisecond, as stored times are whole
/// milliseconds (see [`to_bson_time_ceil`]).
fn audit_filter(filter: &AuditFilter) -> Document {
    let mut query = Document::new();
    let mut at = Document::new();
    if let Some(from) = filter.from {
        at.insert("$gte", to_bson_time_ceil(from));
    }
    if let Some(to) = filter.to {
        at.insert("$lt", to_bson_time_ceil(to));
    }
    if !at.is_empty() {
        query.insert("at", at);
    }
    if let Some(actor) = &filter.actor {
        query.insert("actor", actor.as_str());
    }
    if let Some(action) = &filter.action {
        query.insert("action", action.as_str());
    }
    query
}

#[async_trait]
impl TokenRepository for MongoMetadata {
    async fn insert(&self, token: ApiToken) -> RepoResult<ApiToken> {
        let doc = TokenDoc::from(token);
        let name = doc.name.clone();
        let encoded = encode(TOKEN_WHAT, &doc)?;
        // A duplicate name (`_id`) or secret (`token_sha256_unique`); the name is what the
        // caller chose, so it is what the error names.
        self.insert("insert api token", API_TOKENS, encoded, || RepoError::AlreadyExists {
            kind: TOKEN_WHAT,
            id: name,
        })
        .await?;
        // Returned from the document so it carries the stored (millisecond) times.
        ApiToken::try_from(doc)
    }

    async fn find_by_hash(&self, token_sha256: &str) -> RepoResult<Option<ApiToken>> {
        const OP: &str = "find api token";
        let filter = doc! { "token_sha256": token_sha256 };
        let found = self
            .bounded(OP, {
                let coll = self.coll(API_TOKENS);
                async move { coll.find_one(filter).await.map_err(RepoError::mongo(OP)) }
            })
            .await?;
        found.map(|d| decode::<TokenDoc, ApiToken>(TOKEN_WHAT, d)).transpose()
    }

    async fn list(&self) -> RepoResult<Vec<ApiToken>> {
        const OP: &str = "list api tokens";
        let docs: Vec<Document> = self
            .bounded(OP, {
                let coll = self.coll(API_TOKENS);
                async move {
                    let cursor = coll
                        .find(doc! {})
                        .sort(token_sort())
                        .await
                        .map_err(RepoError::mongo(OP))?;
                    cursor.try_collect().await.map_err(RepoError::mongo(OP))
                }
            })
            .await?;
        docs.into_iter().map(|d| decode::<TokenDoc, ApiToken>(TOKEN_WHAT, d)).collect()
    }

    async fn revoke(&self, name: &str) -> RepoResult<bool> {
        let revoked = self
            .delete_one("revoke api token", API_TOKENS, doc! { "_id": name }, || {
                RepoError::NotFound { kind: TOKEN_WHAT, id: name.to_owned() }
            })
            .await;
        match revoked {
            Ok(()) => Ok(true),
            Err(RepoError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl AuditRepository for MongoMetadata {
    async fn insert(&self, record: AuditRecord) -> RepoResult<()> {
        let doc = AuditDoc::from(record);
        let id = doc.id.clone();
        self.insert("insert audit record", AUDIT_LOGS, encode(AUDIT_WHAT, &doc)?, || {
            RepoError::AlreadyExists { kind: AUDIT_WHAT, id }
        })
        .await
    }

    async fn list(&self, filter: &AuditFilter, page: Page) -> RepoResult<Paged<AuditRecord>> {
        let query = (audit_filter(filter), audit_sort());
        let (total, docs) = self.list_raw("list audit records", AUDIT_LOGS, query, page).await?;
        let items = docs
            .into_iter()
            .map(|d| decode::<AuditDoc, AuditRecord>(AUDIT_WHAT, d))
            .collect::<RepoResult<_>>()?;
        Ok(Paged { items, total, page: page.page, page_size: page.page_size })
    }

    async fn delete_before(&self, before: DateTime<Utc>) -> RepoResult<u64> {
        let filter = doc! { "at": { "$lt": to_bson_time_ceil(before) } };
        self.delete_many("delete old audit records", AUDIT_LOGS, filter).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::super::docs::to_bson_time;
    use super::*;
    use crate::mongo::indexes::INDEXES;

    #[test]
    fn audit_listing_sorts_as_its_index() {
        let index = INDEXES.iter().find(|i| i.name == "at_desc").unwrap();
        assert_eq!(index.collection, AUDIT_LOGS);
        let keys: Document =
            index.keys.iter().map(|(k, order)| ((*k).to_owned(), (*order).into())).collect();
        assert_eq!(keys, audit_sort());
    }

    #[test]
    fn audit_filter_bounds_at_and_matches_actor_and_action() {
        let from = Utc.timestamp_millis_opt(1_000).unwrap();
        let to = Utc.timestamp_millis_opt(2_000).unwrap() + chrono::Duration::microseconds(1);
        let filter = AuditFilter {
            from: Some(from),
            to: Some(to),
            actor: Some("admin".into()),
            action: Some("auth".into()),
        };
        let expected = doc! {
            "at": { "$gte": to_bson_time(from), "$lt": bson_ms(2_001) },
            "actor": "admin",
            "action": "auth",
        };
        assert_eq!(audit_filter(&filter), expected);
        assert_eq!(audit_filter(&AuditFilter::default()), Document::new());
    }

    fn bson_ms(ms: i64) -> mongodb::bson::DateTime {
        mongodb::bson::DateTime::from_millis(ms)
    }
}
