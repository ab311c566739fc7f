//! [`ScheduleStore`] for [`RedisMessageLog`]: each partition's delayed messages wait in Redis
//! beside its stream, and firing moves them into the stream in one Lua script.
//!
//! # Key layout
//!
//! Each partition's schedule has two keys under the partition's hash tag (see `keys.rs`), the
//! tag of its stream `:s` and meta hash `:m`, so all four share one Redis Cluster slot and one
//! script can move a message from the schedule into the stream:
//!
//! | Key                    | Type       | Holds                                                |
//! |------------------------|------------|------------------------------------------------------|
//! | `<partition base>:dz`  | sorted set | member: message id; score: due time (ms)             |
//! | `<partition base>:dp`  | hash       | message id → the envelope, the exact bytes its       |
//! |                        |            | stream entry's `e` field will hold                   |
//!
//! The envelope is encoded once, when the message is scheduled (`envelope::encode`), so firing
//! moves bytes without decoding them. Due times are sorted-set scores, doubles: exact for any
//! millisecond time below 2^53 (the year 287396).
//!
//! There is no index from message id to partition: such an index would be one key written by
//! every delayed publish, a hot key outside every partition's slot. `find` asks the topic's
//! partitions instead (`ZSCORE` each, sent together), and callers that do not know the topic
//! ask each topic in turn.
//!
//! # Operations
//!
//! | Method          | Redis                                                                  |
//! |-----------------|------------------------------------------------------------------------|
//! | `schedule`      | `schedule.lua`: per message `GET`/`SET PX` of its idempotency key if   |
//! |                 | any, then `ZADD dz due id`, `HSET dp id envelope`                      |
//! | `due`           | `ZRANGEBYSCORE dz -inf until WITHSCORES LIMIT 0 n`                     |
//! | `fire`          | `fire.lua`                                                             |
//! | `cancel`        | `cancel.lua` (`ZREM dz id`, `HDEL dp id`)                              |
//! | `reschedule`    | `reschedule.lua`: `ZSCORE`, then `ZADD dz XX due id`                   |
//! | `list`          | `list_scheduled.lua`: start rank by `ZCOUNT` and a binary search over  |
//! |                 | the cursor's due time, `ZRANGE start stop WITHSCORES`, `HGET dp` each  |
//! | `count`         | `ZCARD dz`, or `ZCOUNT dz -inf until`                                  |
//! | `find`          | `ZSCORE dz id` on every partition of the topic, pipelined              |
//! | `delete_topic`  | the log's `delete_topic`: `UNLINK dz dp s m tx` per partition          |
//!
//! # Firing
//!
//! `fire.lua` takes the server's `TIME` as now, then for each given id: `ZSCORE`; skip it if
//! absent or due later than now; else `ZREM`, `HGET` the envelope, `HDEL`. The envelopes taken
//! are appended as one batch by `append_entries` (common.lua), the very code `append.lua` runs:
//! next offset from the meta hash, timestamp `max(now, meta ts)`, `XADD s <offset>-1 ts <ts> e
//! <envelope>` each, `HSET m next … ts …`. So fired records continue the partition's offsets
//! with no gap, and because removal and append are one script, concurrent firers of the same
//! ids append each exactly once, and a `cancel` racing a `fire` wins or loses whole. It
//! answers `[id, due, offset, ts, …]` in append order.
//!
//! # Listing order
//!
//! Entries are ordered by (due time, message id), ids compared byte by byte: Redis's own order
//! for members of equal score. A cursor (due, id) resumes at the first entry after it, whether
//! or not its message is still scheduled.

use async_trait::async_trait;
use fred::prelude::{ClientLike, Value};
use fred::types::{ClusterHash, CustomCommand};
use futures_util::future::try_join_all;

use super::envelope;
use super::keys::PartitionKeys;
use super::log::count;
use super::reply;
use crate::{
    Appended, Fired, MessageLog, Original, RedisMessageLog, RepoError, RepoResult, ScheduleCursor,
    ScheduleStore, ScheduledEntry, ScheduledRecord, TopicRef,
};

/// The largest page `list` asks the script for: rank arithmetic in Lua is on doubles, which
/// stay exact far beyond this, and no caller wants more entries in one reply.
const MAX_PAGE: u64 = u32::MAX as u64;

impl RedisMessageLog {
    /// Runs a sorted-set command on the partition's `dz` key (its first argument). They go as
    /// custom commands because the workspace builds fred without its sorted-set interface, and
    /// these few reads are all the schedule needs of it; routing by the first key keeps them on
    /// the partition's node in a cluster.
    async fn zcommand(
        &self,
        op: &'static str,
        command: &'static str,
        args: Vec<Value>,
    ) -> RepoResult<Value> {
        let command = CustomCommand::new_static(command, ClusterHash::FirstKey, false);
        self.run(op, || self.pool.custom::<Value, Value>(command.clone(), args.clone())).await
    }

    /// The due time of a message in a partition's schedule, if it is scheduled there.
    async fn due_time(&self, keys: &PartitionKeys, message_id: &str) -> RepoResult<Option<i64>> {
        let args = vec![Value::from(keys.due.as_str()), Value::from(message_id)];
        let reply = self.zcommand("find scheduled", "ZSCORE", args).await?;
        if reply.is_null() {
            return Ok(None);
        }
        score(&reply, "zscore reply").map(Some)
    }
}

#[async_trait]
impl ScheduleStore for RedisMessageLog {
    async fn schedule(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        records: Vec<ScheduledRecord>,
    ) -> RepoResult<Vec<Option<Original>>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let n = records.len();
        let keys = self.keys(topic, partition);
        let mut script_keys = keys.schedule();
        let mut args = Vec::with_capacity(records.len() * 4);
        for ScheduledRecord { due_ms, record } in records {
            let window = match &record.dedup {
                Some(dedup) => {
                    script_keys.push(keys.dedup(&dedup.key));
                    dedup.window_ms.max(1)
                }
                None => 0,
            };
            args.push(Value::from(record.message_id.clone()));
            args.push(Value::from(due_ms.to_string()));
            args.push(Value::Bytes(envelope::encode(record)?.into()));
            args.push(Value::from(window.to_string()));
        }
        let reply =
            self.script_replicated("schedule", &self.scripts.schedule, script_keys, args).await?;
        let mut repeats = reply::repeats(&reply::array(reply, "schedule reply")?)?;
        Ok((1..=n).map(|i| repeats.remove(&i)).collect())
    }

    async fn due(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        until_ms: i64,
        limit: usize,
    ) -> RepoResult<Vec<(String, i64)>> {
        // LIMIT 0 0 would be an empty answer anyway; no round trip for it.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        let args = vec![
            Value::from(keys.due),
            Value::from("-inf"),
            Value::from(until_ms.to_string()),
            Value::from("WITHSCORES"),
            Value::from("LIMIT"),
            Value::from("0"),
            Value::from(count(limit).to_string()),
        ];
        let reply = self.zcommand("due", "ZRANGEBYSCORE", args).await?;
        scored(reply)
    }

    async fn fire(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_ids: &[String],
    ) -> RepoResult<Vec<Fired>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        let mut args: Vec<Value> = self.floor_args(&keys.stream).into();
        args.extend(message_ids.iter().map(|id| Value::from(id.as_str())));
        match self.script_replicated("fire", &self.scripts.fire, keys.fire(), args).await {
            Ok(reply) => fired(reply),
            // Appended already; a failover that lost the hand-over brings the messages back to
            // the schedule on the promoted replica, which fires them again.
            Err(RepoError::NotReplicated { confirmed, wanted, .. }) => {
                tracing::warn!(%topic, partition, confirmed, wanted, "fired delayed messages before enough replicas confirmed");
                Ok(Vec::new())
            }
            Err(other) => Err(other),
        }
    }

    async fn cancel(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<bool> {
        let keys = self.keys(topic, partition);
        let args = vec![Value::from(message_id)];
        let reply = self.script("cancel", &self.scripts.cancel, keys.schedule(), args);
        Ok(reply::uint(&reply.await?, "cancel reply")? > 0)
    }

    async fn reschedule(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
        due_ms: i64,
    ) -> RepoResult<bool> {
        let keys = self.keys(topic, partition);
        let args = vec![Value::from(message_id), Value::from(due_ms.to_string())];
        let reply = self.script("reschedule", &self.scripts.reschedule, vec![keys.due], args);
        Ok(reply::uint(&reply.await?, "reschedule reply")? > 0)
    }

    async fn list(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        after: Option<&ScheduleCursor>,
        limit: usize,
    ) -> RepoResult<Vec<ScheduledEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        let mut args = vec![Value::from(count(limit).min(MAX_PAGE).to_string())];
        if let Some(cursor) = after {
            args.push(Value::from(cursor.due_ms.to_string()));
            args.push(Value::from(cursor.message_id.as_str()));
        }
        let reply =
            self.script("list scheduled", &self.scripts.list_scheduled, keys.schedule(), args);
        let items = reply::array(reply.await?, "list reply")?;
        if items.len() % 3 != 0 {
            return Err(shape("list reply", format!("{} items, not groups of 3", items.len())));
        }
        items
            .chunks_exact(3)
            .map(|item| {
                let [id, due, payload] = item else {
                    return Err(shape("list reply", "not a group of 3".into()));
                };
                let message_id = reply::text(id, "scheduled id")?;
                Ok(ScheduledEntry {
                    key: scheduled_key(topic, partition, &message_id, payload)?,
                    message_id,
                    partition,
                    due_ms: score(due, "scheduled due time")?,
                })
            })
            .collect()
    }

    async fn count(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        until_ms: Option<i64>,
    ) -> RepoResult<u64> {
        let keys = self.keys(topic, partition);
        let reply = match until_ms {
            None => self.zcommand("count scheduled", "ZCARD", vec![Value::from(keys.due)]).await?,
            Some(until) => {
                let args = vec![
                    Value::from(keys.due),
                    Value::from("-inf"),
                    Value::from(until.to_string()),
                ];
                self.zcommand("count scheduled", "ZCOUNT", args).await?
            }
        };
        reply::uint(&reply, "count reply")
    }

    async fn find(
        &self,
        topic: TopicRef<'_>,
        partitions: u32,
        message_id: &str,
    ) -> RepoResult<Option<(u32, i64)>> {
        // Sent together; the client pipelines them (per node on a cluster).
        let lookups = (0..partitions).map(|partition| {
            let keys = self.keys(topic, partition);
            async move {
                Ok::<_, RepoError>(
                    self.due_time(&keys, message_id).await?.map(|due| (partition, due)),
                )
            }
        });
        Ok(try_join_all(lookups).await?.into_iter().flatten().next())
    }

    async fn delete_topic(&self, topic: TopicRef<'_>, partitions: u32) -> RepoResult<()> {
        // The log's delete_topic removes each partition's schedule with its stream, as the
        // in-memory store does; one implementation keeps the two from drifting apart.
        MessageLog::delete_topic(self, topic, partitions).await
    }
}

/// A due time from a sorted-set score: decimal text in RESP2 (`"1700000000000"`), a double in
/// RESP3, an integer from a script.
fn score(value: &Value, what: &'static str) -> RepoResult<i64> {
    if let Some(ms) = value.as_i64() {
        return Ok(ms);
    }
    match value.as_f64() {
        // Scores are whole milliseconds; `as` saturates at the i64 bounds rather than wrapping.
        Some(ms) if ms.is_finite() => Ok(ms.round() as i64),
        _ => Err(shape(what, format!("expected a due time, got {value:?}"))),
    }
}

/// A `WITHSCORES` reply as (member, due time): flat `[member, score, ...]` in RESP2, pairs
/// `[[member, score], ...]` in RESP3.
fn scored(reply: Value) -> RepoResult<Vec<(String, i64)>> {
    let mut flat = Vec::new();
    for item in reply::array(reply, "scored members")? {
        match item {
            Value::Array(pair) => flat.extend(pair),
            other => flat.push(other),
        }
    }
    if flat.len() % 2 != 0 {
        return Err(shape("scored members", format!("{} items, not pairs", flat.len())));
    }
    flat.chunks_exact(2)
        .map(|pair| {
            Ok((reply::text(&pair[0], "scheduled id")?, score(&pair[1], "scheduled due time")?))
        })
        .collect()
}

/// The flat reply of `fire.lua`: `[id, due, offset, ts, id, ...]`.
fn fired(reply: Value) -> RepoResult<Vec<Fired>> {
    let items = reply::array(reply, "fire reply")?;
    if items.len() % 4 != 0 {
        return Err(shape("fire reply", format!("{} items, not groups of 4", items.len())));
    }
    items
        .chunks_exact(4)
        .map(|item| {
            let [id, due, offset, ts] = item else {
                return Err(shape("fire reply", "not a group of 4".into()));
            };
            let timestamp_ms =
                ts.as_i64().ok_or_else(|| shape("fire reply", format!("timestamp {ts:?}")))?;
            Ok(Fired {
                message_id: reply::text(id, "fired id")?,
                due_ms: score(due, "fired due time")?,
                appended: Appended::stored(reply::uint(offset, "fired offset")?, timestamp_ms),
            })
        })
        .collect()
}

/// The routing key of a listed message, from its envelope. A member whose envelope is missing
/// (only a stray write could do that; firing drops such members) is listed without a key rather
/// than failing every listing until it is due.
fn scheduled_key(
    topic: TopicRef<'_>,
    partition: u32,
    message_id: &str,
    payload: &Value,
) -> RepoResult<Option<String>> {
    if payload.is_null() {
        tracing::warn!(%topic, partition, message_id, "scheduled message has no envelope");
        return Ok(None);
    }
    let bytes = payload
        .as_bytes()
        .ok_or_else(|| shape("list reply", format!("envelope is {:?}", payload.kind())))?;
    let (id, key) = envelope::decode_head(bytes)?;
    if id != message_id {
        return Err(shape("list reply", format!("envelope of {message_id:?} holds {id:?}")));
    }
    Ok(key)
}

fn shape(what: &'static str, detail: String) -> RepoError {
    RepoError::Corrupt { what, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scores_and_scored_members() {
        for (value, ms) in [
            (Value::from("1700000000000"), Some(1_700_000_000_000)),
            (Value::Integer(-5), Some(-5)),
            (Value::Double(1.7e12), Some(1_700_000_000_000)),
            (Value::from("1.7e+12"), Some(1_700_000_000_000)),
            (Value::from("nan"), None),
            (Value::Null, None),
        ] {
            assert_eq!(score(&value, "t").ok(), ms, "{value:?}");
        }
        let resp2 = Value::Array(vec!["a".into(), "10".into(), "b".into(), "20".into()]);
        let resp3 = Value::Array(vec![
            Value::Array(vec!["a".into(), Value::Double(10.0)]),
            Value::Array(vec!["b".into(), Value::Double(20.0)]),
        ]);
        for reply in [resp2, resp3] {
            assert_eq!(scored(reply).unwrap(), [("a".to_owned(), 10), ("b".to_owned(), 20)]);
        }
        assert!(scored(Value::Array(vec!["a".into()])).is_err());
    }

    #[test]
    fn parses_fire_replies() {
        let reply = Value::Array(vec![
            "m1".into(),
            Value::Integer(100),
            Value::Integer(7),
            Value::Integer(150),
        ]);
        assert_eq!(
            fired(reply).unwrap(),
            [Fired { message_id: "m1".into(), due_ms: 100, appended: Appended::stored(7, 150) }]
        );
        assert!(fired(Value::Array(vec![])).unwrap().is_empty());
        assert!(fired(Value::Array(vec!["m1".into(), Value::Integer(1)])).is_err());
    }
}
