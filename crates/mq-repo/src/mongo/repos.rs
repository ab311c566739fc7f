//! [`MongoMetadata`]: the four metadata repositories on MongoDB or a MongoDB-wire server.
//!
//! Every call goes through [`bounded`], so an unreachable or hung server gives a typed
//! `Timeout` or `Mongo` error instead of a hang. Uniqueness is enforced by the unique indexes
//! of [`super::indexes`]: inserts catch the duplicate-key error rather than checking first,
//! which would race with a concurrent insert.
//!
//! | collection             | holds                                                          |
//! |------------------------|----------------------------------------------------------------|
//! | `topics`               | [`TopicDoc`], one per topic                                    |
//! | `consumer_groups`      | [`GroupDoc`], with its `retry_policy` sub-document             |
//! | `consumers`            | [`ConsumerDoc`], one per (topic, group, consumer id)           |
//! | `dead_letter_messages` | [`DeadLetterDoc`], its content inline up to 1 MiB              |
//! | `dead_letter_contents` | `ContentChunkDoc`s: larger contents in chunks of up to 1 MiB   |
//!
//! The dead-letter repository, which spans the last two, is in [`super::dead_letters`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, ReturnDocument};
use mongodb::{Client, Collection, Database};
use mq_model::{Consumer, ConsumerGroup, Page, Paged, Topic};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

#[cfg(doc)]
use super::dead_letter_docs::DeadLetterDoc;
use super::docs::{
    decode, encode, to_bson_time, ConsumerDoc, GroupDoc, TopicDoc, CONSUMERS, CONSUMER_GROUPS,
    TOPICS,
};
use super::indexes::ensure_indexes;
use super::queries::{consumer_query, group_query, topic_query};
use crate::metadata::{
    ConsumerFilter, ConsumerGroupRepository, ConsumerRepository, GroupFilter, TopicFilter,
    TopicRepository,
};
use crate::timeout::bounded;
use crate::{Backend, MongoConfig, RepoError, RepoResult};

/// The driver's default `maxPoolSize`, when neither the URI nor `mongodb.pool_size` sets one.
const DRIVER_POOL_SIZE: u32 = 10;

/// MongoDB's error code for a write that would break a unique index.
const DUPLICATE_KEY: i32 = 11000;

/// Topics, consumer groups, consumers and dead letters in one MongoDB database, in the
/// collections `topics`, `consumer_groups`, `consumers`, `dead_letter_messages` and
/// `dead_letter_contents` (see the module docs).
///
/// Cheap to clone: clones share the driver's connection pool.
#[derive(Debug, Clone)]
pub struct MongoMetadata {
    db: Database,
    op_timeout: Duration,
    /// One permit per connection of the driver's pool: operations beyond it wait here, where
    /// giving up is harmless, rather than in the driver's queue (see [`Self::bounded`]).
    gate: Arc<Semaphore>,
}

impl MongoMetadata {
    /// Connects to `cfg.uri`, opens `cfg.database` and creates the indexes mq relies on (an
    /// idempotent step, safe on every start).
    ///
    /// Fails with `InvalidConfig` for unusable settings, and with `Mongo` or `Timeout` within
    /// the configured bounds when the server cannot be reached.
    pub async fn connect(cfg: &MongoConfig) -> RepoResult<Self> {
        cfg.validate()?;
        let op_timeout = cfg.operation_timeout();
        // Parsing may resolve DNS SRV and TXT records for `mongodb+srv://`, so it is bounded
        // like any other call.
        let mut options = bounded(Backend::MongoDb, "parse uri", op_timeout, async {
            ClientOptions::parse(&cfg.uri).await.map_err(RepoError::mongo("parse uri"))
        })
        .await?;
        options.app_name = Some("mq".to_owned());
        // The uri's own `connectTimeoutMS` / `serverSelectionTimeoutMS` win: an operator who
        // wrote them there (a replica set across regions, say) meant them.
        if options.connect_timeout.is_none() {
            options.connect_timeout = Some(Duration::from_millis(cfg.connect_timeout_ms));
        }
        if options.server_selection_timeout.is_none() {
            options.server_selection_timeout =
                Some(Duration::from_millis(cfg.server_selection_timeout_ms));
        }
        // Sized by config (`mongodb.pool_size`); unset keeps the uri's or the driver's.
        if let Some(size) = cfg.pool_size {
            options.max_pool_size = Some(size);
        }
        // The client connects lazily; creating the indexes below is the first round trip and
        // so also proves the server is reachable.
        let pool = options.max_pool_size.filter(|size| *size > 0).unwrap_or(DRIVER_POOL_SIZE);
        let client = Client::with_options(options).map_err(RepoError::mongo("connect"))?;
        let gate = Arc::new(Semaphore::new(usize::try_from(pool).unwrap_or(usize::MAX)));
        let this = Self { db: client.database(&cfg.database), op_timeout, gate };
        let db = this.db.clone();
        this.bounded("create indexes", async move { ensure_indexes(&db).await }).await?;
        tracing::debug!(database = %cfg.database, "mongodb metadata store ready");
        Ok(this)
    }

    pub(super) fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    /// Runs one operation within the operation timeout without ever dropping it mid-flight.
    ///
    /// The driver has no client-side operation timeout, and dropping one of its futures while it
    /// talks to the server closes that connection; under a flood, requests that gave up would
    /// leave the pool opening connections for minutes. So an operation first waits for one of
    /// `gate`'s permits (one per pooled connection; giving up there costs nothing), then runs as
    /// a task of its own holding the permit: if the caller's time runs out it gets `Timeout`
    /// while the operation finishes in the background and hands its connection back.
    pub(super) async fn bounded<T, F>(&self, op: &'static str, fut: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: Future<Output = RepoResult<T>> + Send + 'static,
    {
        let after = self.op_timeout;
        let timeout = || RepoError::Timeout { backend: Backend::MongoDb, op, after };
        let deadline = tokio::time::Instant::now() + after;
        let permit =
            match tokio::time::timeout_at(deadline, self.gate.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                // The gate is never closed; treat it like running out of time.
                Ok(Err(_)) | Err(_) => return Err(timeout()),
            };
        let task = tokio::spawn(async move {
            let _permit = permit;
            fut.await
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(failed)) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
            Ok(Err(_)) | Err(_) => Err(timeout()),
        }
    }

    /// Inserts `doc`; a unique-index violation becomes `exists()`.
    pub(super) async fn insert(
        &self,
        op: &'static str,
        collection: &str,
        doc: Document,
        exists: impl FnOnce() -> RepoError + Send + 'static,
    ) -> RepoResult<()> {
        self.bounded(op, {
            let coll = self.coll(collection);
            async move {
                match coll.insert_one(doc).await {
                    Ok(_) => Ok(()),
                    Err(e) if is_duplicate_key(&e) => Err(exists()),
                    Err(e) => Err(RepoError::mongo(op)(e)),
                }
            }
        })
        .await
    }

    /// The one document matching `filter`, decoded.
    async fn find_one<D, M>(
        &self,
        op: &'static str,
        collection: &str,
        what: &'static str,
        filter: Document,
    ) -> RepoResult<Option<M>>
    where
        D: DeserializeOwned,
        M: TryFrom<D, Error = RepoError>,
    {
        let found = self
            .bounded(op, {
                let coll = self.coll(collection);
                async move { coll.find_one(filter).await.map_err(RepoError::mongo(op)) }
            })
            .await?;
        found.map(|doc| decode::<D, M>(what, doc)).transpose()
    }

    /// One page of the documents matching `filter` in `sort` order, decoded, with the total
    /// count of matches.
    async fn list<D, M>(
        &self,
        op: &'static str,
        collection: &str,
        what: &'static str,
        query: (Document, Document),
        page: Page,
    ) -> RepoResult<Paged<M>>
    where
        D: DeserializeOwned,
        M: TryFrom<D, Error = RepoError>,
    {
        let (total, docs) = self.list_raw(op, collection, query, page).await?;
        let items =
            docs.into_iter().map(|doc| decode::<D, M>(what, doc)).collect::<RepoResult<_>>()?;
        Ok(Paged { items, total, page: page.page, page_size: page.page_size })
    }

    /// One page of the documents matching `filter` in `sort` order, as stored, with the total
    /// count of matches (same filter, so the total agrees with the pages).
    pub(super) async fn list_raw(
        &self,
        op: &'static str,
        collection: &str,
        query: (Document, Document),
        page: Page,
    ) -> RepoResult<(u64, Vec<Document>)> {
        let (filter, sort) = query;
        let coll = self.coll(collection);
        self.bounded(op, {
            async move {
                let total =
                    coll.count_documents(filter.clone()).await.map_err(RepoError::mongo(op))?;
                // A zero page size or a skip past what the server accepts (an i64) cannot
                // return anything; MongoDB would read a limit of 0 as "no limit".
                let limit = i64::try_from(page.page_size).unwrap_or(i64::MAX);
                if limit == 0 || i64::try_from(page.skip()).is_err() {
                    return Ok((total, Vec::new()));
                }
                let cursor = coll
                    .find(filter)
                    .sort(sort)
                    .skip(page.skip())
                    .limit(limit)
                    .await
                    .map_err(RepoError::mongo(op))?;
                let docs: Vec<Document> =
                    cursor.try_collect().await.map_err(RepoError::mongo(op))?;
                Ok((total, docs))
            }
        })
        .await
    }

    /// Replaces the document matching `filter` with `doc`, keeping the stored `_id` (which
    /// MongoDB never changes), and returns what is stored; `missing()` if nothing matched.
    async fn replace<D, M>(
        &self,
        op: &'static str,
        collection: &str,
        what: &'static str,
        filter: Document,
        mut doc: Document,
        missing: impl FnOnce() -> RepoError,
    ) -> RepoResult<M>
    where
        D: DeserializeOwned,
        M: TryFrom<D, Error = RepoError>,
    {
        // A replacement carrying a different `_id` than the stored one is rejected by the
        // server; leaving it out keeps the stored id, which is stable by design.
        doc.remove("_id");
        let stored = self
            .bounded(op, {
                let coll = self.coll(collection);
                async move {
                    coll.find_one_and_replace(filter, doc)
                        .return_document(ReturnDocument::After)
                        .await
                        .map_err(RepoError::mongo(op))
                }
            })
            .await?;
        match stored {
            Some(stored) => decode::<D, M>(what, stored),
            None => Err(missing()),
        }
    }

    /// Deletes the one document matching `filter`; `missing()` if nothing matched.
    pub(super) async fn delete_one(
        &self,
        op: &'static str,
        collection: &str,
        filter: Document,
        missing: impl FnOnce() -> RepoError,
    ) -> RepoResult<()> {
        let deleted = self
            .bounded(op, {
                let coll = self.coll(collection);
                async move { coll.delete_one(filter).await.map_err(RepoError::mongo(op)) }
            })
            .await?;
        if deleted.deleted_count == 0 {
            return Err(missing());
        }
        Ok(())
    }

    /// Deletes every document matching `filter`; returns how many.
    pub(super) async fn delete_many(
        &self,
        op: &'static str,
        collection: &str,
        filter: Document,
    ) -> RepoResult<u64> {
        let deleted = self
            .bounded(op, {
                let coll = self.coll(collection);
                async move { coll.delete_many(filter).await.map_err(RepoError::mongo(op)) }
            })
            .await?;
        Ok(deleted.deleted_count)
    }
}

/// True for a write refused by a unique index. Inserts report it as a write error;
/// `findAndModify` (used by upserts) reports it as a command error.
fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// True when an unordered `insertMany` failed only because some documents existed already.
fn only_duplicates(err: &mongodb::error::Error) -> bool {
    match &*err.kind {
        ErrorKind::InsertMany(e) => {
            e.write_concern_error.is_none()
                && e.write_errors
                    .as_ref()
                    .is_some_and(|errors| errors.iter().all(|w| w.code == DUPLICATE_KEY))
        }
        _ => is_duplicate_key(err),
    }
}

#[async_trait]
impl TopicRepository for MongoMetadata {
    async fn create(&self, topic: Topic) -> RepoResult<Topic> {
        let doc = TopicDoc::from(topic);
        let name = doc.name.clone();
        self.insert("insert topic", TOPICS, encode("topic", &doc)?, || RepoError::AlreadyExists {
            kind: "topic",
            id: name,
        })
        .await?;
        // Returned from the document so it carries the stored (millisecond) times.
        Topic::try_from(doc)
    }

    async fn get(&self, name: &str) -> RepoResult<Option<Topic>> {
        self.find_one::<TopicDoc, _>("get topic", TOPICS, "topic", doc! { "name": name }).await
    }

    async fn list(&self, filter: &TopicFilter, page: Page) -> RepoResult<Paged<Topic>> {
        self.list::<TopicDoc, _>("list topics", TOPICS, "topic", topic_query(filter), page).await
    }

    async fn update(&self, topic: Topic) -> RepoResult<Topic> {
        let doc = TopicDoc::from(topic);
        let name = doc.name.clone();
        let filter = doc! { "name": &name };
        self.replace::<TopicDoc, _>(
            "update topic",
            TOPICS,
            "topic",
            filter,
            encode("topic", &doc)?,
            || RepoError::NotFound { kind: "topic", id: name },
        )
        .await
    }

    async fn delete(&self, name: &str) -> RepoResult<()> {
        self.delete_one("delete topic", TOPICS, doc! { "name": name }, || RepoError::NotFound {
            kind: "topic",
            id: name.to_owned(),
        })
        .await
    }
}

#[async_trait]
impl ConsumerGroupRepository for MongoMetadata {
    async fn create(&self, group: ConsumerGroup) -> RepoResult<ConsumerGroup> {
        let doc = GroupDoc::from(group);
        let id = doc.group_id.clone();
        self.insert(
            "insert consumer group",
            CONSUMER_GROUPS,
            encode("consumer group", &doc)?,
            || RepoError::AlreadyExists { kind: "consumer group", id },
        )
        .await?;
        ConsumerGroup::try_from(doc)
    }

    async fn get(&self, topic: &str, group_id: &str) -> RepoResult<Option<ConsumerGroup>> {
        let filter = doc! { "group_id": group_id, "topic_name": topic };
        self.find_one::<GroupDoc, _>(
            "get consumer group",
            CONSUMER_GROUPS,
            "consumer group",
            filter,
        )
        .await
    }

    async fn list(&self, filter: &GroupFilter, page: Page) -> RepoResult<Paged<ConsumerGroup>> {
        let query = group_query(filter);
        self.list::<GroupDoc, _>(
            "list consumer groups",
            CONSUMER_GROUPS,
            "consumer group",
            query,
            page,
        )
        .await
    }

    async fn update(&self, group: ConsumerGroup) -> RepoResult<ConsumerGroup> {
        const OP: &str = "update consumer group";
        let doc = GroupDoc::from(group);
        let filter = doc! { "group_id": &doc.group_id, "topic_name": &doc.topic_name };
        // Every field is set except `last_commit_time`, which goes through `$max` like
        // `record_commit`, so an update racing a commit flush cannot move it back. The stored
        // `_id` stays (MongoDB never changes it).
        let mut set = encode("consumer group", &doc)?;
        set.remove("_id");
        set.remove("last_commit_time");
        let mut update = doc! { "$set": set };
        if let Some(at) = doc.last_commit_time {
            update.insert("$max", doc! { "last_commit_time": Bson::DateTime(at) });
        }
        let stored = self
            .bounded(OP, {
                let coll = self.coll(CONSUMER_GROUPS);
                async move {
                    coll.find_one_and_update(filter, update)
                        .return_document(ReturnDocument::After)
                        .await
                        .map_err(RepoError::mongo(OP))
                }
            })
            .await?;
        match stored {
            Some(stored) => decode::<GroupDoc, _>("consumer group", stored),
            None => Err(RepoError::NotFound { kind: "consumer group", id: doc.group_id }),
        }
    }

    async fn delete(&self, topic: &str, group_id: &str) -> RepoResult<()> {
        let filter = doc! { "group_id": group_id, "topic_name": topic };
        self.delete_one("delete consumer group", CONSUMER_GROUPS, filter, || RepoError::NotFound {
            kind: "consumer group",
            id: group_id.to_owned(),
        })
        .await
    }

    async fn delete_by_topic(&self, topic: &str) -> RepoResult<u64> {
        let filter = doc! { "topic_name": topic };
        self.delete_many("delete consumer groups of topic", CONSUMER_GROUPS, filter).await
    }

    async fn record_commit(
        &self,
        topic: &str,
        group_id: &str,
        at: DateTime<Utc>,
    ) -> RepoResult<()> {
        const OP: &str = "record consumer group commit";
        let filter = doc! { "group_id": group_id, "topic_name": topic };
        // `$max` compares in BSON order, where the `null` of a group that never committed
        // sorts below every date; no upsert, so a deleted group is not brought back.
        let update = doc! { "$max": { "last_commit_time": Bson::DateTime(to_bson_time(at)) } };
        self.bounded(OP, {
            let coll = self.coll(CONSUMER_GROUPS);
            async move {
            coll
                .update_one(filter, update)
                .await
                .map(drop)
                .map_err(RepoError::mongo(OP))
        }
        })
        .await
    }
}

#[async_trait]
impl ConsumerRepository for MongoMetadata {
    async fn upsert(&self, consumer: Consumer) -> RepoResult<Consumer> {
        const OP: &str = "upsert consumer";
        let doc = ConsumerDoc::try_from(consumer)?;
        let filter = doc! {
            "consumer_id": &doc.consumer_id,
            "group_id": &doc.group_id,
            "topic_name": &doc.topic_name,
        };
        // One atomic findAndModify: a new consumer gets this `_id` and `created_at`, an
        // existing one keeps its own and has every other field replaced.
        let mut set = encode("consumer", &doc)?;
        set.remove("_id");
        set.remove("created_at");
        let update = doc! {
            "$setOnInsert": { "_id": &doc.id, "created_at": Bson::DateTime(doc.created_at) },
            "$set": set,
        };
        let (coll, id) = (self.coll(CONSUMERS), doc.id.clone());
        let stored = self
            .bounded(OP, {
                async move {
                    // Two concurrent upserts of a new key may both try to insert; the loser gets a
                    // duplicate-key error (servers before MongoDB 4.2 do not retry this themselves).
                    // Its retry then finds the winner's document and updates it. A duplicate on the
                    // retry can only be the new `_id` colliding with another consumer's.
                    let mut retried = false;
                    loop {
                        let result = coll
                            .find_one_and_update(filter.clone(), update.clone())
                            .upsert(true)
                            .return_document(ReturnDocument::After)
                            .await;
                        match result {
                            Err(e) if is_duplicate_key(&e) && !retried => retried = true,
                            Err(e) if is_duplicate_key(&e) => {
                                break Err(RepoError::AlreadyExists {
                                    kind: "consumer",
                                    id: id.clone(),
                                })
                            }
                            other => break other.map_err(RepoError::mongo(OP)),
                        }
                    }
                }
            })
            .await?;
        let stored = stored.ok_or_else(|| RepoError::Corrupt {
            what: "consumer",
            detail: "upsert returned no document".to_owned(),
        })?;
        decode::<ConsumerDoc, _>("consumer", stored)
    }

    /// One `updateMany` for the consumers already stored (the usual case: one round trip);
    /// when some are new, they are found out and inserted in one unordered `insertMany`. A
    /// consumer inserted meanwhile by another instance (duplicate key) was seen just now.
    async fn heartbeat(
        &self,
        topic: &str,
        group_id: &str,
        consumer_ids: &[String],
        at: DateTime<Utc>,
    ) -> RepoResult<()> {
        const OP: &str = "heartbeat consumers";
        if consumer_ids.is_empty() {
            return Ok(());
        }
        let filter = doc! {
            "topic_name": topic,
            "group_id": group_id,
            "consumer_id": { "$in": consumer_ids },
        };
        let when = to_bson_time(at);
        let update = doc! {
            "$set": { "last_heartbeat": when, "updated_at": when, "status": "active" },
        };
        let coll = self.coll(CONSUMERS);
        let matched = self
            .bounded(OP, {
                let (coll, filter) = (coll.clone(), filter.clone());
                async move {
                    coll.update_many(filter.clone(), update)
                        .await
                        .map(|r| r.matched_count)
                        .map_err(RepoError::mongo(OP))
                }
            })
            .await?;
        if matched >= consumer_ids.len() as u64 {
            return Ok(());
        }
        let stored: Vec<Document> = self
            .bounded(OP, {
                let coll = coll.clone();
                async move {
                    let cursor = coll
                        .find(filter)
                        .projection(doc! { "consumer_id": 1 })
                        .await
                        .map_err(RepoError::mongo(OP))?;
                    cursor.try_collect().await.map_err(RepoError::mongo(OP))
                }
            })
            .await?;
        let stored: std::collections::BTreeSet<&str> =
            stored.iter().filter_map(|d| d.get_str("consumer_id").ok()).collect();
        let new = consumer_ids
            .iter()
            .filter(|id| !stored.contains(id.as_str()))
            .map(|id| {
                let consumer = crate::metadata::heartbeat_consumer(topic, group_id, id, at);
                encode("consumer", &ConsumerDoc::try_from(consumer)?)
            })
            .collect::<RepoResult<Vec<Document>>>()?;
        if new.is_empty() {
            return Ok(());
        }
        self.bounded(OP, {
            async move {
                match coll.insert_many(new).ordered(false).await {
                    Ok(_) => Ok(()),
                    Err(e) if only_duplicates(&e) => Ok(()),
                    Err(e) => Err(RepoError::mongo(OP)(e)),
                }
            }
        })
        .await
    }

    async fn get(
        &self,
        topic: &str,
        group_id: &str,
        consumer_id: &str,
    ) -> RepoResult<Option<Consumer>> {
        let filter = doc! { "consumer_id": consumer_id, "group_id": group_id, "topic_name": topic };
        self.find_one::<ConsumerDoc, _>("get consumer", CONSUMERS, "consumer", filter).await
    }

    async fn list(&self, filter: &ConsumerFilter, page: Page) -> RepoResult<Paged<Consumer>> {
        let query = consumer_query(filter);
        self.list::<ConsumerDoc, _>("list consumers", CONSUMERS, "consumer", query, page).await
    }

    async fn delete(&self, topic: &str, group_id: &str, consumer_id: &str) -> RepoResult<()> {
        let filter = doc! { "consumer_id": consumer_id, "group_id": group_id, "topic_name": topic };
        self.delete_one("delete consumer", CONSUMERS, filter, || RepoError::NotFound {
            kind: "consumer",
            id: consumer_id.to_owned(),
        })
        .await
    }

    async fn delete_by_group(&self, topic: &str, group_id: &str) -> RepoResult<u64> {
        let filter = doc! { "group_id": group_id, "topic_name": topic };
        self.delete_many("delete consumers of group", CONSUMERS, filter).await
    }
}
