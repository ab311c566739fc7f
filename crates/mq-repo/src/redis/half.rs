//! [`HalfMessageStore`] for [`RedisMessageLog`]: each partition's half messages wait in one hash
//! beside its stream, and committing moves one into the stream in one Lua script.
//!
//! # Key layout
//!
//! One key per partition, under the partition's hash tag (see `keys.rs`), the tag of its
//! stream `:s` and meta hash `:m`, so the three share one Redis Cluster slot and one script can
//! move a message from the hash into the stream:
//!
//! | Key                                 | Type | Holds                                      |
//! |-------------------------------------|------|--------------------------------------------|
//! | `<partition base>:tx`               | hash | message id → the envelope, the exact bytes |
//! |                                     |      | its stream entry's `e` field will hold     |
//!
//! The envelope is encoded once, when the message is prepared (`envelope::encode`, as `append`
//! and `schedule` encode), so committing moves bytes without decoding them.
//!
//! # Operations
//!
//! | Method         | Redis                                                                  |
//! |----------------|------------------------------------------------------------------------|
//! | `prepare`      | `prepare_half.lua`: `GET`/`SET PX` of its idempotency key if any, then |
//! |                | `HSET tx id envelope` (replaces a message of the same id)              |
//! | `commit`       | `commit_half.lua`: `HGET tx id`; if held, `HDEL tx id` and the append  |
//! |                | of `append.lua` (`append_entries` in common.lua)                       |
//! | `rollback`     | `HDEL tx id`                                                           |
//! | `holds`        | `HEXISTS tx id`                                                        |
//! | `held`         | `HLEN tx`                                                              |
//! | `delete_topic` | the log's `delete_topic`: `UNLINK dz dp s m tx` per partition          |
//!
//! # Committing
//!
//! `commit_half.lua` takes the envelope and appends it with the very code `append.lua` and
//! `fire.lua` run: next offset from the meta hash, timestamp `max(server TIME, meta ts)`, `XADD
//! s <offset>-1 ts <ts> e <envelope>`, `HSET m next … ts …`. So a committed record continues the
//! partition's offsets with no gap, and because removal and append are one script, concurrent
//! commits of one message append it exactly once, and a rollback racing a commit wins or loses
//! whole. It answers `[offset, ts]`, or `[]` when the message is not held.

use async_trait::async_trait;
use fred::prelude::{HashesInterface, Value};

use super::envelope;
use super::reply;
use crate::{
    Appended, HalfMessageStore, MessageLog, NewRecord, Original, RedisMessageLog, RepoError,
    RepoResult, TopicRef,
};

#[async_trait]
impl HalfMessageStore for RedisMessageLog {
    async fn prepare(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        record: NewRecord,
    ) -> RepoResult<Option<Original>> {
        let keys = self.keys(topic, partition);
        let mut script_keys = vec![keys.half.clone()];
        let window = match &record.dedup {
            Some(dedup) => {
                script_keys.push(keys.dedup(&dedup.key));
                dedup.window_ms.max(1)
            }
            None => 0,
        };
        let id = Value::from(record.message_id.as_str());
        let args = vec![
            id,
            Value::Bytes(envelope::encode(record)?.into()),
            Value::from(window.to_string()),
        ];
        let reply = self.script_replicated(
            "prepare half message",
            &self.scripts.prepare_half,
            script_keys,
            args,
        );
        match reply.await? {
            Value::Null | Value::Boolean(false) => Ok(None),
            stored => Ok(Some(reply::original(&reply::text(&stored, "idempotency original")?)?)),
        }
    }

    async fn commit(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<Option<Appended>> {
        let keys = self.keys(topic, partition);
        let mut args = vec![Value::from(message_id)];
        args.extend(self.floor_args(&keys.stream));
        let script = &self.scripts.commit_half;
        committed(self.script_replicated("commit half message", script, keys.commit(), args).await?)
    }

    async fn rollback(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<bool> {
        let keys = self.keys(topic, partition);
        let removed: u64 =
            self.run("roll back half message", || self.pool.hdel(&keys.half, message_id)).await?;
        Ok(removed > 0)
    }

    async fn holds(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<bool> {
        let keys = self.keys(topic, partition);
        self.run("find half message", || self.pool.hexists(&keys.half, message_id)).await
    }

    async fn held(&self, topic: TopicRef<'_>, partition: u32) -> RepoResult<u64> {
        let keys = self.keys(topic, partition);
        self.run("count half messages", || self.pool.hlen(&keys.half)).await
    }

    async fn delete_topic(&self, topic: TopicRef<'_>, partitions: u32) -> RepoResult<()> {
        // The log's delete_topic removes each partition's half messages with its stream, as the
        // in-memory store does; one implementation keeps the two from drifting apart.
        MessageLog::delete_topic(self, topic, partitions).await
    }
}

/// The reply of `commit_half.lua`: `[offset, ts]`, or `[]` (nil in some protocol versions)
/// when the message was not held.
fn committed(reply: Value) -> RepoResult<Option<Appended>> {
    let items = reply::array(reply, "commit reply")?;
    match items.as_slice() {
        [] => Ok(None),
        [offset, ts] => {
            let timestamp_ms = ts.as_i64().ok_or_else(|| RepoError::Corrupt {
                what: "commit reply",
                detail: format!("timestamp {ts:?}"),
            })?;
            Ok(Some(Appended::stored(reply::uint(offset, "commit offset")?, timestamp_ms)))
        }
        other => Err(RepoError::Corrupt {
            what: "commit reply",
            detail: format!("expected [offset, timestamp] or [], got {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commit_replies() {
        let reply = Value::Array(vec![Value::Integer(7), Value::Integer(150)]);
        assert_eq!(committed(reply).unwrap(), Some(Appended::stored(7, 150)));
        assert_eq!(committed(Value::Array(vec![])).unwrap(), None);
        assert_eq!(committed(Value::Null).unwrap(), None);
        for bad in [
            Value::Array(vec![Value::Integer(7)]),
            Value::Array(vec![Value::Integer(-1), Value::Integer(150)]),
            Value::Array(vec![Value::Integer(7), Value::from("soon")]),
            Value::from("7"),
        ] {
            assert!(committed(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
