//! The dead-letter repository on MongoDB: documents in `dead_letter_messages`, large contents
//! in chunks in `dead_letter_contents` (see [`super::dead_letter_docs`]).
//!
//! The order of writes keeps a visible dead letter whole: an insert writes the chunks before
//! the document, and a delete removes the document before the chunks. A failure in between
//! leaves chunks without a document, which nothing reads; a retried insert of the same dead
//! letter replaces them, since chunk ids follow from the dead-letter id.
//!
//! One race remains: re-inserting an existing dead letter (same id, so the same content)
//! while it is being deleted may have its chunks removed after its document went in again.
//! Reading such a dead letter then fails as `Corrupt` rather than returning a wrong content.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mq_model::{DeadLetterMessage, Page, Paged, Redrive};

use super::dead_letter_docs::{
    join_content, split_content, ContentChunkDoc, DeadLetterDoc, RedriveDoc, DEAD_LETTERS,
    DEAD_LETTER_CONTENTS,
};
use super::docs::{encode, parse, to_bson_time};
use super::queries::{dead_letter_filter, dead_letter_query};
use super::repos::MongoMetadata;
use crate::metadata::{DeadLetterFilter, DeadLetterRepository};
use crate::{RepoError, RepoResult};

const WHAT: &str = "dead letter";
const CHUNK_WHAT: &str = "dead letter content";

/// Most dead-letter ids in one `$in` when purging chunks, so that a purge of many large dead
/// letters stays far below the 16 MiB command limit.
const PURGE_BATCH: usize = 1_000;

impl MongoMetadata {
    /// Writes one chunk, replacing a chunk of the same id left by an earlier attempt.
    async fn write_chunk(&self, chunk: &ContentChunkDoc) -> RepoResult<()> {
        const OP: &str = "write dead letter content";
        let doc = encode(CHUNK_WHAT, chunk)?;
        let filter = doc! { "_id": &chunk.id };
        self.bounded(OP, {
            let coll = self.coll(DEAD_LETTER_CONTENTS);
            async move {
                coll.replace_one(filter, doc)
                    .upsert(true)
                    .await
                    .map(drop)
                    .map_err(RepoError::mongo(OP))
            }
        })
        .await
    }

    /// Joins the chunks of every chunked document of `docs` back into its content.
    ///
    /// The documents were read before their chunks, so a dead letter deleted in between has
    /// lost its chunks by now: it is left out, as if the documents had been read a moment
    /// later. Chunks missing from a dead letter that still exists are `Corrupt`.
    async fn read_contents(&self, docs: Vec<DeadLetterDoc>) -> RepoResult<Vec<DeadLetterDoc>> {
        const OP: &str = "read dead letter content";
        let ids: Vec<&str> =
            docs.iter().filter(|d| d.content_chunks > 0).map(|d| d.id.as_str()).collect();
        if ids.is_empty() {
            return Ok(docs);
        }
        let filter = doc! { "dead_letter_id": { "$in": ids } };
        let raw: Vec<Document> = self
            .bounded(OP, {
                let coll = self.coll(DEAD_LETTER_CONTENTS);
                async move {
                    let cursor = coll
                        .find(filter)
                        .sort(doc! { "dead_letter_id": 1, "n": 1 })
                        .await
                        .map_err(RepoError::mongo(OP))?;
                    cursor.try_collect().await.map_err(RepoError::mongo(OP))
                }
            })
            .await?;
        let mut by_id: BTreeMap<String, Vec<ContentChunkDoc>> = BTreeMap::new();
        for chunk in raw {
            let chunk: ContentChunkDoc = parse(CHUNK_WHAT, chunk)?;
            by_id.entry(chunk.dead_letter_id.clone()).or_default().push(chunk);
        }
        let incomplete: Vec<&str> = docs
            .iter()
            .filter(|d| !has_all_chunks(d, by_id.get(&d.id).map_or(&[], Vec::as_slice)))
            .map(|d| d.id.as_str())
            .collect();
        let gone = self.vanished(&incomplete).await?;
        docs.into_iter()
            .filter(|d| !gone.contains(&d.id))
            .map(|mut d| {
                let chunks = by_id.remove(&d.id).unwrap_or_default();
                join_content(&mut d, chunks)?;
                Ok(d)
            })
            .collect()
    }

    /// Which of these dead letters no longer exist.
    async fn vanished(&self, ids: &[&str]) -> RepoResult<BTreeSet<String>> {
        const OP: &str = "read dead letter content";
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let filter = doc! { "_id": { "$in": ids } };
        let existing: Vec<Document> = self
            .bounded(OP, {
                let coll = self.coll(DEAD_LETTERS);
                async move {
                    let cursor = coll
                        .find(filter)
                        .projection(doc! { "_id": 1 })
                        .await
                        .map_err(RepoError::mongo(OP))?;
                    cursor.try_collect().await.map_err(RepoError::mongo(OP))
                }
            })
            .await?;
        let existing: BTreeSet<&str> =
            existing.iter().filter_map(|d| d.get_str("_id").ok()).collect();
        Ok(ids.iter().filter(|id| !existing.contains(*id)).map(|id| (*id).to_owned()).collect())
    }

    /// Deletes the chunks of these dead letters, whose documents are already gone.
    async fn delete_contents(&self, ids: &[String]) -> RepoResult<()> {
        for batch in ids.chunks(PURGE_BATCH) {
            let filter = doc! { "dead_letter_id": { "$in": batch } };
            self.delete_many("delete dead letter content", DEAD_LETTER_CONTENTS, filter).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl DeadLetterRepository for MongoMetadata {
    async fn insert(&self, dead: DeadLetterMessage) -> RepoResult<DeadLetterMessage> {
        let mut doc = DeadLetterDoc::try_from(dead)?;
        let chunks = split_content(&mut doc)?;
        for chunk in &chunks {
            self.write_chunk(chunk).await?;
        }
        let id = doc.id.clone();
        self.insert("insert dead letter", DEAD_LETTERS, encode(WHAT, &doc)?, || {
            RepoError::AlreadyExists { kind: "dead letter", id }
        })
        .await?;
        // Returned from the document so it carries the stored (millisecond) times.
        join_content(&mut doc, chunks)?;
        DeadLetterMessage::try_from(doc)
    }

    async fn get(&self, id: &str) -> RepoResult<Option<DeadLetterMessage>> {
        const OP: &str = "get dead letter";
        let filter = doc! { "_id": id };
        let found = self
            .bounded(OP, {
                let coll = self.coll(DEAD_LETTERS);
                async move { coll.find_one(filter).await.map_err(RepoError::mongo(OP)) }
            })
            .await?;
        let Some(found) = found else { return Ok(None) };
        let doc: DeadLetterDoc = parse(WHAT, found)?;
        let doc = self.read_contents(vec![doc]).await?.pop();
        doc.map(DeadLetterMessage::try_from).transpose()
    }

    async fn list(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> RepoResult<Paged<DeadLetterMessage>> {
        let query = dead_letter_query(filter);
        let (total, raw) = self.list_raw("list dead letters", DEAD_LETTERS, query, page).await?;
        let docs = raw
            .into_iter()
            .map(|d| parse::<DeadLetterDoc>(WHAT, d))
            .collect::<RepoResult<Vec<_>>>()?;
        // A dead letter deleted while this page was read is left out; `total` may then count
        // it still, as a listing racing a delete may.
        let docs = self.read_contents(docs).await?;
        let items = docs.into_iter().map(DeadLetterMessage::try_from).collect::<RepoResult<_>>()?;
        Ok(Paged { items, total, page: page.page, page_size: page.page_size })
    }

    async fn delete(&self, id: &str) -> RepoResult<()> {
        const OP: &str = "delete dead letter";
        let filter = doc! { "_id": id };
        let deleted = self
            .bounded(OP, {
                let coll = self.coll(DEAD_LETTERS);
                async move {
                    coll.find_one_and_delete(filter)
                        .projection(doc! { "content_chunks": 1 })
                        .await
                        .map_err(RepoError::mongo(OP))
                }
            })
            .await?;
        let Some(deleted) = deleted else {
            return Err(RepoError::NotFound { kind: "dead letter", id: id.to_owned() });
        };
        // Documents written before chunking existed have no count: their content is inline.
        let chunked = match deleted.get("content_chunks") {
            Some(Bson::Int64(n)) => *n > 0,
            Some(Bson::Int32(n)) => *n > 0,
            _ => false,
        };
        if chunked {
            self.delete_contents(&[id.to_owned()]).await?;
        }
        Ok(())
    }

    async fn delete_matching(&self, filter: &DeadLetterFilter) -> RepoResult<u64> {
        const OP: &str = "purge dead letters";
        let filter = dead_letter_filter(filter);
        // Which of them have chunks must be read before the documents go: afterwards nothing
        // says whose chunks they were. A chunked dead letter inserted between this read and the
        // delete leaves its chunks behind, unread and harmless.
        let mut chunked = filter.clone();
        chunked.insert("content_chunks", doc! { "$gt": 0 });
        let raw: Vec<Document> = self
            .bounded(OP, {
                let coll = self.coll(DEAD_LETTERS);
                async move {
                    let cursor = coll
                        .find(chunked)
                        .projection(doc! { "_id": 1 })
                        .await
                        .map_err(RepoError::mongo(OP))?;
                    cursor.try_collect().await.map_err(RepoError::mongo(OP))
                }
            })
            .await?;
        let ids = raw
            .iter()
            .map(|d| {
                d.get_str("_id")
                    .map(str::to_owned)
                    .map_err(|e| RepoError::Corrupt { what: WHAT, detail: format!("_id: {e}") })
            })
            .collect::<RepoResult<Vec<_>>>()?;
        let deleted = self.delete_many(OP, DEAD_LETTERS, filter).await?;
        self.delete_contents(&ids).await?;
        Ok(deleted)
    }

    async fn swap_redrive(
        &self,
        id: &str,
        expected: Option<&Redrive>,
        new: Option<Redrive>,
    ) -> RepoResult<bool> {
        const OP: &str = "swap dead letter redrive";
        let filter = swap_filter(id, expected);
        let new = match new {
            Some(r) => Bson::Document(encode(WHAT, &RedriveDoc::from(r))?),
            None => Bson::Null,
        };
        // One conditional update: the server applies it atomically to the one document, so
        // of two racing swaps from the same `expected` only the first still matches.
        let updated = self
            .bounded(OP, {
                let coll = self.coll(DEAD_LETTERS);
                async move {
                    coll.update_one(filter, doc! { "$set": { "redrive": new } })
                        .await
                        .map_err(RepoError::mongo(OP))
                }
            })
            .await?;
        Ok(updated.matched_count == 1)
    }
}

/// Whether `chunks` (those stored under the dead letter's id) hold every chunk of `doc`.
fn has_all_chunks(doc: &DeadLetterDoc, chunks: &[ContentChunkDoc]) -> bool {
    let wanted = 0..doc.content_chunks;
    doc.content_chunks == 0
        || chunks.iter().filter(|c| wanted.contains(&c.n)).count() as i64 == doc.content_chunks
}

/// The filter matching dead letter `id` while its `redrive` is `expected`. `null` matches a
/// missing field too (dead letters stored before redrives existed); a set redrive is matched
/// by message id and start time, the time at the millisecond precision it is stored with.
fn swap_filter(id: &str, expected: Option<&Redrive>) -> Document {
    match expected {
        None => doc! { "_id": id, "redrive": Bson::Null },
        Some(r) => doc! {
            "_id": id,
            "redrive.message_id": &r.message_id,
            "redrive.started_at": to_bson_time(r.started_at),
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn swap_filters_match_null_or_the_truncated_redrive() {
        assert_eq!(swap_filter("dlq_1", None), doc! { "_id": "dlq_1", "redrive": Bson::Null });
        let started_at = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap()
            + chrono::Duration::nanoseconds(456);
        let expected = Redrive { message_id: "msg_2".into(), started_at };
        assert_eq!(
            swap_filter("dlq_1", Some(&expected)),
            doc! {
                "_id": "dlq_1",
                "redrive.message_id": "msg_2",
                "redrive.started_at": mongodb::bson::DateTime::from_millis(1_700_000_000_123),
            }
        );
    }
}
