//! BSON documents of dead letters: `dead_letter_messages` and, for large contents,
//! `dead_letter_contents`, with their conversions to and from [`DeadLetterMessage`].
//!
//! A dead letter stores every count and offset as int64 and every time as a BSON date, like
//! the other documents (see [`super::docs`]):
//!
//! ```text
//! { _id, original_topic_name, original_message_id, consumer_group_id, failure_reason,
//!   retry_count, message_content: Binary, headers: {..}, failed_at, created_at,
//!   partition, offset, message_key: string | null, published_at: date | null,
//!   attempts: [{ delivery, failed_at, consumer_id, reason }],
//!   redrive: null | { message_id, started_at },
//!   content_chunks: 0 | <count>, content_length: <bytes> }
//! ```
//!
//! A message may be up to 16 MiB (`MAX_MESSAGE_SIZE_LIMIT`), which is also MongoDB's limit for
//! a whole document, so a dead letter with a large content plus its other fields would not fit.
//! A content longer than [`INLINE_CONTENT_LIMIT`] is therefore split into chunks of at most
//! [`CHUNK_SIZE`] bytes, one document each in `dead_letter_contents`:
//!
//! ```text
//! { _id: "<dead letter id>:<n>", dead_letter_id: "<dead letter id>", n: <from 0>, data: Binary }
//! ```
//!
//! and the dead-letter document keeps an empty `message_content` and the chunks' count in
//! `content_chunks`. Chunk ids are deterministic, so writing the chunks of the same dead letter
//! again replaces them rather than adding more.

use std::collections::BTreeMap;

use mongodb::bson::{self, spec::BinarySubtype, Binary};
use mq_model::{DeadLetterMessage, DeliveryAttempt, Redrive};
use serde::{Deserialize, Serialize};

use super::docs::{from_bson_time, to_bson_time, to_i64, to_u32, to_u64};
use crate::{RepoError, RepoResult};

/// Collection of dead letters.
pub(super) const DEAD_LETTERS: &str = "dead_letter_messages";

/// A dead letter as stored in `dead_letter_messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct DeadLetterDoc {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) original_topic_name: String,
    pub(super) original_message_id: String,
    pub(super) consumer_group_id: String,
    #[serde(default)]
    pub(super) failure_reason: String,
    pub(super) retry_count: i64,
    /// BSON binary (generic subtype) rather than an array of numbers: compact and what other
    /// drivers read as bytes. Empty when the content is kept in chunks (see the module docs).
    pub(super) message_content: Binary,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    pub(super) failed_at: bson::DateTime,
    pub(super) created_at: bson::DateTime,
    // The fields below were added later; dead letters stored before them read back with
    // zeros, `None` and no attempts.
    #[serde(default)]
    pub(super) partition: i64,
    #[serde(default)]
    pub(super) offset: i64,
    /// `null` when the message had no key, so the field is always present.
    #[serde(default)]
    pub(super) message_key: Option<String>,
    #[serde(default)]
    pub(super) published_at: Option<bson::DateTime>,
    #[serde(default)]
    pub(super) attempts: Vec<AttemptDoc>,
    /// `null` when no retry is under way. `swap_redrive` matches `redrive: null`, which also
    /// matches documents without the field.
    #[serde(default)]
    pub(super) redrive: Option<RedriveDoc>,
    /// How many chunks of `dead_letter_contents` hold the content; 0: it is inline.
    #[serde(default)]
    pub(super) content_chunks: i64,
    /// The content's length in bytes, inline or chunked; checked when reading. Absent from
    /// documents written before chunking existed.
    #[serde(default)]
    pub(super) content_length: Option<i64>,
}

/// One failed delivery as stored in a dead letter's `attempts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct AttemptDoc {
    pub(super) delivery: i64,
    pub(super) failed_at: bson::DateTime,
    pub(super) consumer_id: String,
    #[serde(default)]
    pub(super) reason: String,
}

/// A dead letter's `redrive` sub-document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct RedriveDoc {
    pub(super) message_id: String,
    pub(super) started_at: bson::DateTime,
}

impl From<Redrive> for RedriveDoc {
    fn from(r: Redrive) -> Self {
        Self { message_id: r.message_id, started_at: to_bson_time(r.started_at) }
    }
}

impl TryFrom<DeadLetterMessage> for DeadLetterDoc {
    type Error = RepoError;

    /// An inline document, whatever the content's size: `split_content` then moves a large
    /// content out. Fails only for an offset beyond `i64::MAX`, like a consumer's.
    fn try_from(m: DeadLetterMessage) -> RepoResult<Self> {
        const WHAT: &str = "dead letter";
        let content_length = to_i64(WHAT, "content_length", m.message_content.len() as u64)?;
        Ok(Self {
            offset: to_i64(WHAT, "offset", m.offset)?,
            partition: i64::from(m.partition),
            message_key: m.message_key,
            published_at: m.published_at.map(to_bson_time),
            attempts: m
                .attempts
                .into_iter()
                .map(|a| AttemptDoc {
                    delivery: i64::from(a.delivery),
                    failed_at: to_bson_time(a.failed_at),
                    consumer_id: a.consumer_id,
                    reason: a.reason,
                })
                .collect(),
            redrive: m.redrive.map(RedriveDoc::from),
            content_chunks: 0,
            content_length: Some(content_length),
            id: m.id,
            original_topic_name: m.original_topic_name,
            original_message_id: m.original_message_id,
            consumer_group_id: m.consumer_group_id,
            failure_reason: m.failure_reason,
            retry_count: i64::from(m.retry_count),
            message_content: Binary { subtype: BinarySubtype::Generic, bytes: m.message_content },
            headers: m.headers,
            failed_at: to_bson_time(m.failed_at),
            created_at: to_bson_time(m.created_at),
        })
    }
}

impl TryFrom<DeadLetterDoc> for DeadLetterMessage {
    type Error = RepoError;

    /// Expects the content inline: a chunked document must have had its chunks joined back
    /// by `join_content` first.
    fn try_from(d: DeadLetterDoc) -> RepoResult<Self> {
        const WHAT: &str = "dead letter";
        if d.content_chunks != 0 {
            return Err(RepoError::Corrupt {
                what: WHAT,
                detail: format!("{}: content_chunks {} were not read", d.id, d.content_chunks),
            });
        }
        if let Some(length) =
            d.content_length.filter(|l| *l != d.message_content.bytes.len() as i64)
        {
            return Err(RepoError::Corrupt {
                what: WHAT,
                detail: format!(
                    "{}: content_length {length} but message_content has {} bytes",
                    d.id,
                    d.message_content.bytes.len()
                ),
            });
        }
        let attempts = d
            .attempts
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                Ok(DeliveryAttempt {
                    delivery: to_u32(WHAT, &format!("attempts.{i}.delivery"), a.delivery)?,
                    failed_at: from_bson_time(
                        WHAT,
                        &format!("attempts.{i}.failed_at"),
                        a.failed_at,
                    )?,
                    consumer_id: a.consumer_id,
                    reason: a.reason,
                })
            })
            .collect::<RepoResult<_>>()?;
        let redrive = d
            .redrive
            .map(|r| {
                Ok::<_, RepoError>(Redrive {
                    started_at: from_bson_time(WHAT, "redrive.started_at", r.started_at)?,
                    message_id: r.message_id,
                })
            })
            .transpose()?;
        Ok(Self {
            partition: to_u32(WHAT, "partition", d.partition)?,
            offset: to_u64(WHAT, "offset", d.offset)?,
            message_key: d.message_key,
            published_at: d
                .published_at
                .map(|t| from_bson_time(WHAT, "published_at", t))
                .transpose()?,
            attempts,
            redrive,
            retry_count: to_u32(WHAT, "retry_count", d.retry_count)?,
            failed_at: from_bson_time(WHAT, "failed_at", d.failed_at)?,
            created_at: from_bson_time(WHAT, "created_at", d.created_at)?,
            id: d.id,
            original_topic_name: d.original_topic_name,
            original_message_id: d.original_message_id,
            consumer_group_id: d.consumer_group_id,
            failure_reason: d.failure_reason,
            message_content: d.message_content.bytes,
            headers: d.headers,
        })
    }
}

/// Collection of the chunks of large dead-letter contents.
pub(super) const DEAD_LETTER_CONTENTS: &str = "dead_letter_contents";

/// Longest content kept inline in the dead-letter document. With it, a dead letter's other
/// fields (headers, attempts, reasons) have 15 MiB of room, far more than they can use.
pub(super) const INLINE_CONTENT_LIMIT: usize = 1024 * 1024;

/// Largest chunk: a 16 MiB content takes 16 chunk documents, each far below the limit.
pub(super) const CHUNK_SIZE: usize = 1024 * 1024;

/// One chunk of a dead letter's content, as stored in `dead_letter_contents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) struct ContentChunkDoc {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) dead_letter_id: String,
    pub(super) n: i64,
    pub(super) data: Binary,
}

/// The `_id` of chunk `n` of dead letter `dead_letter_id`.
pub(super) fn chunk_id(dead_letter_id: &str, n: i64) -> String {
    format!("{dead_letter_id}:{n}")
}

/// Moves a content longer than [`INLINE_CONTENT_LIMIT`] out of `doc` into chunks, in order,
/// and records their count in `doc`; leaves a shorter content inline and returns no chunks.
pub(super) fn split_content(doc: &mut DeadLetterDoc) -> RepoResult<Vec<ContentChunkDoc>> {
    if doc.message_content.bytes.len() <= INLINE_CONTENT_LIMIT {
        return Ok(Vec::new());
    }
    let content = std::mem::take(&mut doc.message_content.bytes);
    let chunks: Vec<ContentChunkDoc> = content
        .chunks(CHUNK_SIZE)
        .zip(0_i64..)
        .map(|(data, n)| ContentChunkDoc {
            id: chunk_id(&doc.id, n),
            dead_letter_id: doc.id.clone(),
            n,
            data: Binary { subtype: BinarySubtype::Generic, bytes: data.to_vec() },
        })
        .collect();
    doc.content_chunks = to_i64("dead letter", "content_chunks", chunks.len() as u64)?;
    Ok(chunks)
}

/// Puts the content of a chunked `doc` back inline from its chunks, given sorted by `n`, and
/// marks it inline. Chunks numbered at or past the count are left over from an earlier write
/// and ignored; a missing chunk or a wrong total length is `Corrupt`.
pub(super) fn join_content(
    doc: &mut DeadLetterDoc,
    chunks: impl IntoIterator<Item = ContentChunkDoc>,
) -> RepoResult<()> {
    let corrupt = |detail: String| RepoError::Corrupt { what: "dead letter", detail };
    if doc.content_chunks == 0 {
        return Ok(());
    }
    let expected_length = doc.content_length.ok_or_else(|| {
        corrupt(format!("{}: content_chunks is set but content_length is missing", doc.id))
    })?;
    let mut content = Vec::with_capacity(usize::try_from(expected_length).unwrap_or(0));
    let mut next = 0_i64;
    for chunk in chunks.into_iter().filter(|c| c.n < doc.content_chunks) {
        if chunk.n != next {
            break;
        }
        content.extend_from_slice(&chunk.data.bytes);
        next += 1;
    }
    if next != doc.content_chunks {
        return Err(corrupt(format!(
            "{}: content chunk {next} of {} is missing",
            doc.id, doc.content_chunks
        )));
    }
    if content.len() as i64 != expected_length {
        return Err(corrupt(format!(
            "{}: content_length {expected_length} but its chunks hold {} bytes",
            doc.id,
            content.len()
        )));
    }
    doc.message_content.bytes = content;
    doc.content_chunks = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::super::docs::{decode, encode};
    use super::*;

    fn doc_with(content: Vec<u8>) -> DeadLetterDoc {
        let t = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
        DeadLetterDoc::try_from(DeadLetterMessage {
            id: "dlq_1".into(),
            original_topic_name: "t".into(),
            original_message_id: "msg_1".into(),
            consumer_group_id: "g".into(),
            failure_reason: "boom".into(),
            retry_count: 0,
            message_content: content,
            headers: BTreeMap::new(),
            failed_at: t,
            created_at: t,
            partition: 0,
            offset: 0,
            message_key: None,
            published_at: None,
            attempts: Vec::new(),
            redrive: None,
        })
        .unwrap()
    }

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn only_contents_over_the_limit_are_chunked() {
        for (len, chunks) in [
            (0, 0),
            (INLINE_CONTENT_LIMIT, 0),
            (INLINE_CONTENT_LIMIT + 1, 2),
            (3 * CHUNK_SIZE, 3),
            (16 * CHUNK_SIZE, 16),
        ] {
            let mut doc = doc_with(content(len));
            let split = split_content(&mut doc).unwrap();
            assert_eq!((split.len(), doc.content_chunks), (chunks, chunks as i64), "{len}");
            assert_eq!(doc.content_length, Some(len as i64));
            if chunks == 0 {
                assert_eq!(doc.message_content.bytes.len(), len);
                continue;
            }
            assert!(doc.message_content.bytes.is_empty());
            assert!(split.iter().all(|c| c.data.bytes.len() <= CHUNK_SIZE));
            let ids: Vec<_> = split.iter().map(|c| (c.id.as_str(), c.n)).collect();
            assert_eq!(ids[0], ("dlq_1:0", 0));
            assert_eq!(ids[chunks - 1].1, chunks as i64 - 1);

            join_content(&mut doc, split).unwrap();
            assert_eq!(doc.content_chunks, 0);
            assert_eq!(doc.message_content.bytes, content(len));
        }
    }

    #[test]
    fn missing_chunks_or_wrong_lengths_are_corrupt_and_leftovers_ignored() {
        let original = doc_with(content(3 * CHUNK_SIZE));
        let chunked = || {
            let mut doc = original.clone();
            let chunks = split_content(&mut doc).unwrap();
            (doc, chunks)
        };

        // A chunk left over from a longer content written earlier under the same id.
        let (mut doc, mut chunks) = chunked();
        let mut extra = chunks[2].clone();
        extra.n = 3;
        chunks.push(extra);
        join_content(&mut doc, chunks).unwrap();
        assert_eq!(doc.message_content.bytes, content(3 * CHUNK_SIZE));

        let (mut doc, mut chunks) = chunked();
        chunks.remove(1);
        let err = join_content(&mut doc, chunks).unwrap_err();
        assert!(err.to_string().contains("chunk 1 of 3 is missing"), "{err}");

        let (mut doc, mut chunks) = chunked();
        chunks.pop();
        let err = join_content(&mut doc, chunks).unwrap_err();
        assert!(err.to_string().contains("chunk 2 of 3 is missing"), "{err}");

        let (mut doc, chunks) = chunked();
        doc.content_length = Some(5);
        let err = join_content(&mut doc, chunks).unwrap_err();
        assert!(matches!(err, RepoError::Corrupt { what: "dead letter", .. }), "{err}");

        // Chunks that were never read leave the document unreadable rather than empty.
        let (doc, _) = chunked();
        let err = DeadLetterMessage::try_from(doc).unwrap_err();
        assert!(err.to_string().contains("content_chunks 3 were not read"), "{err}");
    }

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
    }

    fn full() -> DeadLetterMessage {
        DeadLetterMessage {
            id: "dlq_1".into(),
            original_topic_name: "orders".into(),
            original_message_id: "msg_1".into(),
            consumer_group_id: "billing".into(),
            failure_reason: "ack timeout".into(),
            retry_count: 1,
            message_content: vec![0, 1, 255],
            headers: BTreeMap::from([("trace".into(), "t-1".into())]),
            failed_at: at(30),
            created_at: at(31),
            partition: 5,
            offset: 1 << 40,
            message_key: Some("user_1".into()),
            published_at: Some(at(0)),
            attempts: vec![
                DeliveryAttempt {
                    delivery: 1,
                    failed_at: at(10),
                    consumer_id: "c1".into(),
                    reason: "nack: db down".into(),
                },
                DeliveryAttempt {
                    delivery: 2,
                    failed_at: at(30),
                    consumer_id: "c2".into(),
                    reason: "ack timeout".into(),
                },
            ],
            redrive: Some(Redrive { message_id: "msg_2".into(), started_at: at(40) }),
        }
    }

    #[test]
    fn dead_letter_round_trips_with_snake_case_names() {
        let dead = full();
        let doc = encode("dead letter", &DeadLetterDoc::try_from(dead.clone()).unwrap()).unwrap();
        assert_eq!(doc.get_i64("partition").unwrap(), 5);
        assert_eq!(doc.get_i64("offset").unwrap(), 1 << 40);
        assert_eq!(doc.get_str("message_key").unwrap(), "user_1");
        assert!(doc.get_datetime("published_at").is_ok());
        assert_eq!((doc.get_i64("content_chunks"), doc.get_i64("content_length")), (Ok(0), Ok(3)));
        let attempts = doc.get_array("attempts").unwrap();
        let first = attempts[0].as_document().unwrap();
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            ["delivery", "failed_at", "consumer_id", "reason"]
        );
        assert_eq!(first.get_i64("delivery").unwrap(), 1);
        assert_eq!(
            first.get_datetime("failed_at").unwrap().timestamp_millis(),
            at(10).timestamp_millis()
        );
        let redrive = doc.get_document("redrive").unwrap();
        assert_eq!(redrive.get_str("message_id").unwrap(), "msg_2");
        assert!(redrive.get_datetime("started_at").is_ok());
        assert_eq!(decode::<DeadLetterDoc, DeadLetterMessage>("dead letter", doc).unwrap(), dead);

        // Unset optional fields are stored as null, so every field is always present.
        let bare =
            DeadLetterMessage { message_key: None, published_at: None, redrive: None, ..full() };
        let doc = encode("dead letter", &DeadLetterDoc::try_from(bare.clone()).unwrap()).unwrap();
        for field in ["message_key", "published_at", "redrive"] {
            assert_eq!(doc.get(field), Some(&bson::Bson::Null), "{field}");
        }
        assert_eq!(decode::<DeadLetterDoc, DeadLetterMessage>("dead letter", doc).unwrap(), bare);
    }

    #[test]
    fn offsets_beyond_int64_are_refused() {
        let dead = DeadLetterMessage { offset: u64::MAX, ..full() };
        let err = DeadLetterDoc::try_from(dead).unwrap_err();
        assert!(err.to_string().contains("offset"), "{err}");
    }

    fn old_document() -> bson::Document {
        let t = bson::DateTime::from_millis(0);
        bson::doc! {
            "_id": "dlq_1", "original_topic_name": "t", "original_message_id": "m",
            "consumer_group_id": "g", "failure_reason": "x", "retry_count": 1_i32,
            "message_content": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2] },
            "headers": {}, "failed_at": t, "created_at": t,
        }
    }

    #[test]
    fn documents_from_before_the_new_fields_read_with_defaults() {
        let old: DeadLetterMessage =
            decode::<DeadLetterDoc, _>("dead letter", old_document()).unwrap();
        assert_eq!((old.retry_count, old.message_content), (1, vec![1, 2]));
        assert_eq!((old.partition, old.offset, old.message_key), (0, 0, None));
        assert_eq!((old.published_at, old.attempts, old.redrive), (None, Vec::new(), None));
    }

    #[test]
    fn bad_stored_values_are_corrupt() {
        let t = bson::DateTime::from_millis(0);
        // `named`: the field the error names, for the checks after parsing; a value of the
        // wrong BSON type fails in the driver's deserializer, whose messages name no field.
        for (field, value, named) in [
            ("retry_count", bson::Bson::Int64(-1), Some("retry_count")),
            ("failed_at", bson::Bson::String("yesterday".into()), None),
            ("original_message_id", bson::Bson::Null, None),
            ("partition", bson::Bson::Int64(1 << 33), Some("partition")),
            ("offset", bson::Bson::Int64(-1), Some("offset")),
            (
                "attempts",
                bson::bson!([{ "delivery": -1_i64, "failed_at": t, "consumer_id": "c" }]),
                Some("attempts.0.delivery"),
            ),
            ("attempts", bson::bson!([{ "delivery": 1_i64 }]), None),
            ("redrive", bson::bson!({ "message_id": "m" }), None),
            ("content_length", bson::Bson::Int64(3), Some("content_length")),
            ("content_chunks", bson::Bson::Int64(2), Some("content_chunks")),
        ] {
            let mut doc = old_document();
            doc.insert(field, value);
            let err = decode::<DeadLetterDoc, DeadLetterMessage>("dead letter", doc).unwrap_err();
            assert!(
                matches!(err, RepoError::Corrupt { what: "dead letter", .. }),
                "{field}: {err}"
            );
            if let Some(named) = named {
                assert!(err.to_string().contains(named), "{field}: {err}");
            }
        }
    }
}
