//! The in-memory token and audit repositories: API tokens and the audit log in the metadata
//! store's state maps.
//!
//! Each call checks and writes under the one lock, so a duplicate name or secret is refused
//! and a revoke succeeds once, as MongoDB's duplicate `_id`, unique index and `deleteOne`
//! make them. Times are kept at the millisecond, floored, as MongoDB stores them, so a token
//! or a record reads back the same from both stores.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use mq_model::{ApiToken, AuditRecord, Page, Paged};

use super::metadata::{matches_str, MemoryMetadata};
use crate::metadata::{AuditFilter, AuditRepository, TokenRepository};
use crate::{RepoError, RepoResult};

/// A time as stored: floored to the millisecond.
fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// Whether a stored record passes the filter: `from` inclusive, `to` exclusive.
fn audit_matches(filter: &AuditFilter, r: &AuditRecord) -> bool {
    filter.from.is_none_or(|from| r.at >= from)
        && filter.to.is_none_or(|to| r.at < to)
        && matches_str(&filter.actor, &r.actor)
        && matches_str(&filter.action, &r.action)
}

#[async_trait]
impl TokenRepository for MemoryMetadata {
    async fn insert(&self, token: ApiToken) -> RepoResult<ApiToken> {
        let token = ApiToken {
            created_at: ms(token.created_at),
            expires_at: token.expires_at.map(ms),
            ..token
        };
        let mut state = self.state();
        // As in MongoDB, where the secret's hash has a unique index: a hash finds one token.
        let taken = state.tokens.contains_key(&token.name)
            || state.tokens.values().any(|t| t.token_sha256 == token.token_sha256);
        if taken {
            return Err(RepoError::AlreadyExists { kind: "api token", id: token.name });
        }
        state.tokens.insert(token.name.clone(), token.clone());
        Ok(token)
    }

    async fn find_by_hash(&self, token_sha256: &str) -> RepoResult<Option<ApiToken>> {
        Ok(self.state().tokens.values().find(|t| t.token_sha256 == token_sha256).cloned())
    }

    async fn list(&self) -> RepoResult<Vec<ApiToken>> {
        // Keyed by name, so already in the listing's order.
        Ok(self.state().tokens.values().cloned().collect())
    }

    async fn revoke(&self, name: &str) -> RepoResult<bool> {
        Ok(self.state().tokens.remove(name).is_some())
    }
}

#[async_trait]
impl AuditRepository for MemoryMetadata {
    async fn insert(&self, record: AuditRecord) -> RepoResult<()> {
        let record = AuditRecord { at: ms(record.at), ..record };
        let mut state = self.state();
        // As in MongoDB, where the id is the `_id`.
        if state.audit.contains_key(&record.id) {
            return Err(RepoError::AlreadyExists { kind: "audit record", id: record.id });
        }
        state.audit.insert(record.id.clone(), record);
        Ok(())
    }

    async fn list(&self, filter: &AuditFilter, page: Page) -> RepoResult<Paged<AuditRecord>> {
        let mut all: Vec<AuditRecord> =
            self.state().audit.values().filter(|r| audit_matches(filter, r)).cloned().collect();
        all.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
        Ok(page.slice(all))
    }

    async fn delete_before(&self, before: DateTime<Utc>) -> RepoResult<u64> {
        let mut state = self.state();
        let count = state.audit.len();
        state.audit.retain(|_, r| r.at >= before);
        Ok((count - state.audit.len()) as u64)
    }
}
