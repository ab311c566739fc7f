//! The transaction repository on MongoDB: one document per transaction in `transactions`
//! (see [`super::transaction_docs`]).
//!
//! Every change after the insert is one conditional update of one document: the conditions
//! are in the filter, so the server checks and writes atomically, and of several broker
//! instances racing on one transaction exactly one sees its condition hold. Times in
//! conditions are compared at the millisecond precision they are stored with (`to_bson_time`
//! floors, and for a stored whole millisecond `s`, `s <= t` holds exactly when `s <= floor(t)`).
//!
//! `updated_at` is the time of the last step in the history: `decide`, `mark_applied` and
//! `check_inconclusive` set it to their event's time; `lease_check`, which records no step,
//! leaves it alone.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use mq_model::{DecidedBy, Page, Paged, Transaction, TransactionEvent, TransactionState};

use super::docs::{decode, encode, parse, to_bson_time};
use super::repos::MongoMetadata;
use super::transaction_docs::{offset_bson, EventDoc, TransactionDoc, TRANSACTIONS, WHAT};
use crate::metadata::{TransactionFilter, TransactionRepository};
use crate::{RepoError, RepoResult};

const PREPARED: &str = "prepared";

/// Filter and sort of a listing: newest `created_at` first, ties by larger id.
fn list_query(filter: &TransactionFilter) -> (Document, Document) {
    let mut query = Document::new();
    if let Some(topic) = &filter.topic_name {
        query.insert("topic_name", topic.as_str());
    }
    if let Some(state) = filter.state {
        query.insert("state", state.as_str());
    }
    (query, doc! { "created_at": -1, "_id": -1 })
}

/// No lease held at `now`: unset (`null` also matches a missing field) or run out.
fn lease_free(now: DateTime<Utc>) -> Document {
    doc! { "$or": [{ "lease_until": Bson::Null }, { "lease_until": { "$lte": to_bson_time(now) } }] }
}

/// Prepared, due at `now` and not leased, earliest `check_at` first (index `state_check_at`).
fn due_query(now: DateTime<Utc>) -> (Document, Document) {
    let mut query = doc! { "state": PREPARED, "check_at": { "$lte": to_bson_time(now) } };
    query.extend(lease_free(now));
    (query, doc! { "check_at": 1, "_id": 1 })
}

/// Decided, not applied, last changed at or before `before`, oldest first (index
/// `applied_state_updated_at`). The decided states are listed rather than `$ne: prepared` so
/// the index bounds `state` too.
fn unapplied_query(before: DateTime<Utc>) -> (Document, Document) {
    let decided = [TransactionState::Committed.as_str(), TransactionState::RolledBack.as_str()];
    let query = doc! {
        "applied": false,
        "state": { "$in": decided.as_slice() },
        "updated_at": { "$lte": to_bson_time(before) },
    };
    (query, doc! { "updated_at": 1, "_id": 1 })
}

/// The one prepared transaction `id` whose lease is free at `now` and count is `check_count`.
fn lease_filter(id: &str, check_count: u32, now: DateTime<Utc>) -> Document {
    let mut filter = doc! { "_id": id, "state": PREPARED, "check_count": i64::from(check_count) };
    filter.extend(lease_free(now));
    filter
}

impl MongoMetadata {
    /// Up to `limit` documents matching `query`, in its sort order, decoded.
    async fn find_transactions(
        &self,
        op: &'static str,
        query: (Document, Document),
        limit: usize,
    ) -> RepoResult<Vec<Transaction>> {
        // MongoDB reads a limit of 0 as "no limit".
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (filter, sort) = query;
        let docs: Vec<Document> = self
            .bounded(op, {
                let coll = self.coll(TRANSACTIONS);
                async move {
                    let cursor = coll
                        .find(filter)
                        .sort(sort)
                        .limit(limit)
                        .await
                        .map_err(RepoError::mongo(op))?;
                    cursor.try_collect().await.map_err(RepoError::mongo(op))
                }
            })
            .await?;
        docs.into_iter().map(|d| decode::<TransactionDoc, _>(WHAT, d)).collect()
    }

    /// Applies `update` to the one document matching `filter`; returns whether one matched.
    async fn update_transaction(
        &self,
        op: &'static str,
        filter: Document,
        update: Document,
    ) -> RepoResult<bool> {
        let updated = self
            .bounded(op, {
                let coll = self.coll(TRANSACTIONS);
                async move { coll.update_one(filter, update).await.map_err(RepoError::mongo(op)) }
            })
            .await?;
        Ok(updated.matched_count == 1)
    }
}

#[async_trait]
impl TransactionRepository for MongoMetadata {
    async fn insert(&self, txn: Transaction) -> RepoResult<Transaction> {
        let doc = TransactionDoc::try_from(txn)?;
        let id = doc.id.clone();
        self.insert("insert transaction", TRANSACTIONS, encode(WHAT, &doc)?, || {
            RepoError::AlreadyExists { kind: "transaction", id }
        })
        .await?;
        // Returned from the document so it carries the stored (millisecond) times.
        Transaction::try_from(doc)
    }

    async fn get(&self, id: &str) -> RepoResult<Option<Transaction>> {
        const OP: &str = "get transaction";
        let filter = doc! { "_id": id };
        let found = self
            .bounded(OP, {
                let coll = self.coll(TRANSACTIONS);
                async move { coll.find_one(filter).await.map_err(RepoError::mongo(OP)) }
            })
            .await?;
        found.map(|d| decode::<TransactionDoc, _>(WHAT, d)).transpose()
    }

    async fn list(&self, filter: &TransactionFilter, page: Page) -> RepoResult<Paged<Transaction>> {
        let (total, raw) =
            self.list_raw("list transactions", TRANSACTIONS, list_query(filter), page).await?;
        let items = raw
            .into_iter()
            .map(|d| decode::<TransactionDoc, _>(WHAT, d))
            .collect::<RepoResult<_>>()?;
        Ok(Paged { items, total, page: page.page, page_size: page.page_size })
    }

    async fn decide(
        &self,
        id: &str,
        state: TransactionState,
        by: DecidedBy,
        reason: Option<String>,
        event: TransactionEvent,
    ) -> RepoResult<Option<Transaction>> {
        const OP: &str = "decide transaction";
        state.validate_decision()?;
        let update = doc! {
            "$set": {
                "state": state.as_str(),
                "decided_by": by.as_str(),
                "reason": reason,
                "updated_at": to_bson_time(event.at),
                "lease_until": Bson::Null,
            },
            "$push": { "history": EventDoc::encode(event)? },
        };
        let filter = doc! { "_id": id, "state": PREPARED };
        let updated = self
            .bounded(OP, {
                let coll = self.coll(TRANSACTIONS);
                async move {
                    coll.find_one_and_update(filter, update)
                        .return_document(ReturnDocument::After)
                        .await
                        .map_err(RepoError::mongo(OP))
                }
            })
            .await?;
        updated
            .map(|d| parse::<TransactionDoc>(WHAT, d).and_then(Transaction::try_from))
            .transpose()
    }

    async fn mark_applied(
        &self,
        id: &str,
        offset: Option<u64>,
        event: TransactionEvent,
    ) -> RepoResult<bool> {
        let filter = doc! { "_id": id, "state": { "$ne": PREPARED }, "applied": false };
        let update = doc! {
            "$set": {
                "applied": true,
                "offset": offset_bson(offset)?,
                "updated_at": to_bson_time(event.at),
            },
            "$push": { "history": EventDoc::encode(event)? },
        };
        self.update_transaction("mark transaction applied", filter, update).await
    }

    async fn due_checks(&self, now: DateTime<Utc>, limit: usize) -> RepoResult<Vec<Transaction>> {
        self.find_transactions("list due transaction checks", due_query(now), limit).await
    }

    async fn lease_check(
        &self,
        id: &str,
        check_count: u32,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> RepoResult<bool> {
        // A count that cannot be raised would not read back as a `u32`; it is never leased.
        if check_count == u32::MAX {
            return Ok(false);
        }
        let update = doc! {
            "$set": { "lease_until": to_bson_time(until) },
            "$inc": { "check_count": 1_i64 },
        };
        self.update_transaction(
            "lease transaction check",
            lease_filter(id, check_count, now),
            update,
        )
        .await
    }

    async fn check_inconclusive(
        &self,
        id: &str,
        check_count: u32,
        next_check_at: DateTime<Utc>,
        event: TransactionEvent,
    ) -> RepoResult<bool> {
        let filter = doc! { "_id": id, "state": PREPARED, "check_count": i64::from(check_count) };
        let update = doc! {
            "$set": {
                "check_at": to_bson_time(next_check_at),
                "lease_until": Bson::Null,
                "updated_at": to_bson_time(event.at),
            },
            "$push": { "history": EventDoc::encode(event)? },
        };
        self.update_transaction("record inconclusive transaction check", filter, update).await
    }

    async fn unapplied(&self, before: DateTime<Utc>, limit: usize) -> RepoResult<Vec<Transaction>> {
        self.find_transactions("list unapplied transactions", unapplied_query(before), limit).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use mongodb::bson;

    use super::*;

    fn at(ms: i64, extra_nanos: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).unwrap() + chrono::Duration::nanoseconds(extra_nanos)
    }

    fn date(ms: i64) -> bson::DateTime {
        bson::DateTime::from_millis(ms)
    }

    #[test]
    fn listing_filters_by_topic_and_state_newest_first() {
        for (filter, expected) in [
            (TransactionFilter::default(), doc! {}),
            (
                TransactionFilter { topic_name: Some("orders".into()), state: None },
                doc! { "topic_name": "orders" },
            ),
            (
                TransactionFilter {
                    topic_name: Some("orders".into()),
                    state: Some(TransactionState::RolledBack),
                },
                doc! { "topic_name": "orders", "state": "rolled_back" },
            ),
        ] {
            assert_eq!(list_query(&filter), (expected, doc! { "created_at": -1, "_id": -1 }));
        }
    }

    #[test]
    fn time_conditions_compare_whole_milliseconds() {
        let now = at(1_000, 999_999);
        let lease = doc! { "$or": [
            { "lease_until": Bson::Null }, { "lease_until": { "$lte": date(1_000) } },
        ] };
        let (due, sort) = due_query(now);
        let mut expected = doc! { "state": "prepared", "check_at": { "$lte": date(1_000) } };
        expected.extend(lease.clone());
        assert_eq!((due, sort), (expected, doc! { "check_at": 1, "_id": 1 }));

        let mut expected = doc! { "_id": "txn_1", "state": "prepared", "check_count": 2_i64 };
        expected.extend(lease);
        assert_eq!(lease_filter("txn_1", 2, now), expected);

        let (unapplied, sort) = unapplied_query(at(5, 1));
        assert_eq!(
            unapplied,
            doc! {
                "applied": false,
                "state": { "$in": ["committed", "rolled_back"] },
                "updated_at": { "$lte": date(5) },
            }
        );
        assert_eq!(sort, doc! { "updated_at": 1, "_id": 1 });
    }
}
