//! The alert repository on MongoDB: active alerts in `alerts_active`, keyed by alert key, and
//! resolved ones in `alerts`, keyed by alert id (see [`super::alert_docs`]).
//!
//! Both changes are single-document operations the server makes atomic, so of several broker
//! instances evaluating the same rule exactly one wins each:
//!
//! - `open` inserts into `alerts_active`; a second alert of the key is refused as a duplicate
//!   `_id`, which reads as "already active" (false).
//! - `close` takes the active alert out with `findOneAndDelete`, which only one caller can
//!   get, then inserts it, resolved, into `alerts`.
//!
//! The two steps of `close` are not one transaction (MongoDB-wire servers need not support
//! them). If the history insert fails after the delete, `close` returns that error and the
//! alert is lost from the history, though no longer active: an alert counted twice or left
//! active forever would be worse than a gap in the history. Likewise a stored active alert
//! that no longer decodes is deleted and reported as `Corrupt`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mq_model::Alert;

use super::alert_docs::{ActiveAlertDoc, AlertDoc, ALERTS, ALERTS_ACTIVE, WHAT};
use super::docs::{decode, encode, parse};
use super::repos::MongoMetadata;
use crate::metadata::AlertRepository;
use crate::{RepoError, RepoResult};

/// Sort of `active`: oldest `fired_at` first, ties by key (index `fired_at_key`).
fn active_sort() -> Document {
    doc! { "fired_at": 1, "_id": 1 }
}

/// Sort of `history`: newest `resolved_at` first, ties by larger id (index
/// `resolved_at_desc`).
fn history_sort() -> Document {
    doc! { "resolved_at": -1, "_id": -1 }
}

impl MongoMetadata {
    /// Every document of `collection` in `sort` order, up to `limit` if given (MongoDB reads
    /// a limit of 0 as "no limit").
    async fn find_alerts(
        &self,
        op: &'static str,
        collection: &str,
        sort: Document,
        limit: Option<i64>,
    ) -> RepoResult<Vec<Document>> {
        self.bounded(op, {
            let coll = self.coll(collection);
            async move {
                let cursor = coll
                    .find(doc! {})
                    .sort(sort)
                    .limit(limit.unwrap_or(0))
                    .await
                    .map_err(RepoError::mongo(op))?;
                cursor.try_collect().await.map_err(RepoError::mongo(op))
            }
        })
        .await
    }
}

#[async_trait]
impl AlertRepository for MongoMetadata {
    async fn open(&self, alert: Alert) -> RepoResult<bool> {
        let doc = ActiveAlertDoc::from(alert);
        let key = doc.key.clone();
        // The duplicate `_id` of an already active key is the expected "no", not an error.
        match self
            .insert("open alert", ALERTS_ACTIVE, encode(WHAT, &doc)?, || RepoError::AlreadyExists {
                kind: "active alert",
                id: key,
            })
            .await
        {
            Ok(()) => Ok(true),
            Err(RepoError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn close(&self, key: &str, resolved_at: DateTime<Utc>) -> RepoResult<Option<Alert>> {
        const OP: &str = "close alert";
        let filter = doc! { "_id": key };
        let taken = self
            .bounded(OP, {
                let coll = self.coll(ALERTS_ACTIVE);
                async move { coll.find_one_and_delete(filter).await.map_err(RepoError::mongo(OP)) }
            })
            .await?;
        let Some(taken) = taken else { return Ok(None) };
        let resolved = parse::<ActiveAlertDoc>(WHAT, taken)?.resolve(resolved_at);
        let id = resolved.id.clone();
        self.insert("record resolved alert", ALERTS, encode(WHAT, &resolved)?, || {
            RepoError::AlreadyExists { kind: WHAT, id }
        })
        .await?;
        // Returned from the document so it carries the stored (millisecond) times.
        Alert::try_from(resolved).map(Some)
    }

    async fn active(&self) -> RepoResult<Vec<Alert>> {
        self.find_alerts("list active alerts", ALERTS_ACTIVE, active_sort(), None)
            .await?
            .into_iter()
            .map(|d| decode::<ActiveAlertDoc, _>(WHAT, d))
            .collect()
    }

    async fn history(&self, limit: usize) -> RepoResult<Vec<Alert>> {
        // MongoDB reads a limit of 0 as "no limit".
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.find_alerts("list alert history", ALERTS, history_sort(), Some(limit))
            .await?
            .into_iter()
            .map(|d| decode::<AlertDoc, _>(WHAT, d))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mongo::indexes::INDEXES;

    #[test]
    fn listings_sort_as_their_indexes() {
        for (collection, sort) in [(ALERTS_ACTIVE, active_sort()), (ALERTS, history_sort())] {
            let index = INDEXES.iter().find(|i| i.collection == collection).unwrap();
            let keys: Document =
                index.keys.iter().map(|(k, order)| ((*k).to_owned(), (*order).into())).collect();
            assert_eq!(keys, sort, "{collection}");
        }
    }
}
