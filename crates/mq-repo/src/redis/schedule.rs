//! [`ScheduleStore`] for [`RedisMessageLog`]: each partition's delayed messages wait in Redis
//! beside its stream, and firing moves them into the stream in one Lua script.
//!
//! # Key layout
//!
//! Each partition's schedule has two keys under the partition's hash tag `{<topic>:<partition>}`,
//! the tag of its stream `:s` and meta hash `:m`, so all four share one Redis Cluster slot and
//! one script can move a message from the schedule into the stream:
//!
//! | Key                                 | Type       | Holds                                      |
//! |-------------------------------------|------------|--------------------------------------------|
//! | `{prefix}:{<topic>:<partition>}:dz` | sorted set | member: message id; score: due time (ms)   |
//! | `{prefix}:{<topic>:<partition>}:dp` | hash       | message id → the envelope, the exact bytes |
//! |                                     |            | its stream entry's `e` field will hold     |
//! | `{prefix}:sched-index`              | hash       | message id → `"<topic>\n<partition>"`      |
//!
//! The envelope is encoded once, when the message is scheduled (`envelope::encode`), so firing
//! moves bytes without decoding them. Due times are sorted-set scores, doubles: exact for any
//! millisecond time below 2^53 (the year 287396).
//!
//! The index (`sched-index`) answers `locate`. It is one hash for all topics, outside every
//! partition's slot, so no script may touch it together with a schedule: it is maintained
//! beside the schedules, best-effort, and may hold stale entries but, barring a failed write,
//! no missing ones:
//! - `schedule` writes the schedule first (script), then the index entries (`HSET`). A failure
//!   of the second step fails the call, with the messages scheduled but not locatable until
//!   scheduled again (replacing is harmless).
//! - `fire` and `cancel` remove index entries after their script (`unindex.lua`: `HDEL` only
//!   where the entry still names this partition, so a message scheduled again elsewhere keeps
//!   its entry). A failure there is logged and not reported: it only leaves stale entries.
//! - `delete_topic` leaves the topic's entries stale.
//! - `locate` reads the entry, then checks the partition (`ZSCORE`). A stale entry is removed
//!   (`unindex.lua`) and `locate` answers `None`; it then checks the partition once more and
//!   restores the entry if the message was scheduled there meanwhile, so a `locate` racing a
//!   `schedule` of the same id never leaves it unindexed.
//!
//! # Operations
//!
//! | Method          | Redis                                                                  |
//! |-----------------|------------------------------------------------------------------------|
//! | `schedule`      | `schedule.lua` (`ZADD dz due id`, `HSET dp id envelope` per message),  |
//! |                 | then `HSET sched-index id "<topic>\n<p>" ...`                          |
//! | `due`           | `ZRANGEBYSCORE dz -inf until WITHSCORES LIMIT 0 n`                     |
//! | `fire`          | `fire.lua`, then `unindex.lua` for the fired ids                       |
//! | `cancel`        | `cancel.lua` (`ZREM dz id`, `HDEL dp id`), then `unindex.lua`          |
//! | `reschedule`    | `reschedule.lua`: `ZSCORE`, then `ZADD dz XX due id`                   |
//! | `list`          | `list_scheduled.lua`: start rank by `ZCOUNT` and a binary search over  |
//! |                 | the cursor's due time, `ZRANGE start stop WITHSCORES`, `HGET dp` each  |
//! | `count`         | `ZCARD dz`, or `ZCOUNT dz -inf until`                                  |
//! | `locate`        | `HGET sched-index id`, `ZSCORE dz id`; if stale `unindex.lua`, then    |
//! |                 | `ZSCORE` again (and `HSET` back if it is there after all)              |
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
use fred::prelude::{ClientLike, HashesInterface, Value};
use fred::types::{ClusterHash, CustomCommand};

use super::envelope;
use super::keys::{self, PartitionKeys};
use super::log::count;
use super::reply;
use crate::{
    Appended, Fired, MessageLog, RedisMessageLog, RepoError, RepoResult, ScheduleCursor,
    ScheduleStore, ScheduledEntry, ScheduledRecord,
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
        self.run(op, self.pool.custom::<Value, Value>(command, args)).await
    }

    /// The due time of a message in a partition's schedule, if it is scheduled there.
    async fn due_time(&self, keys: &PartitionKeys, message_id: &str) -> RepoResult<Option<i64>> {
        let args = vec![Value::from(keys.due.as_str()), Value::from(message_id)];
        let reply = self.zcommand("locate", "ZSCORE", args).await?;
        if reply.is_null() {
            return Ok(None);
        }
        score(&reply, "zscore reply").map(Some)
    }

    /// Removes index entries of `ids` that still name this partition. Best-effort: a failure
    /// leaves stale entries, which `locate` removes, so it is logged rather than reported.
    async fn unindex(&self, op: &'static str, topic: &str, partition: u32, ids: Vec<Value>) {
        if ids.is_empty() {
            return;
        }
        let mut args = vec![Value::from(keys::index_entry(topic, partition))];
        args.extend(ids);
        let index = keys::schedule_index(&self.prefix);
        let result = self.run(op, self.scripts.unindex.run(&self.pool, vec![index], args)).await;
        if let Err(error) = result {
            tracing::warn!(%error, topic, partition, op, "schedule index not cleaned up");
        }
    }
}

#[async_trait]
impl ScheduleStore for RedisMessageLog {
    async fn schedule(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<ScheduledRecord>,
    ) -> RepoResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let keys = self.keys(topic, partition);
        let entry = keys::index_entry(topic, partition);
        let mut args = Vec::with_capacity(records.len() * 3);
        let mut index = Vec::with_capacity(records.len());
        for ScheduledRecord { due_ms, record } in records {
            index.push((record.message_id.clone(), entry.clone()));
            args.push(Value::from(record.message_id.clone()));
            args.push(Value::from(due_ms.to_string()));
            args.push(Value::Bytes(envelope::encode(record)?.into()));
        }
        self.run("schedule", self.scripts.schedule.run(&self.pool, keys.schedule(), args)).await?;
        // After the schedule, never before: an entry written first could be found stale by a
        // concurrent `locate` and removed before the schedule exists (see the module docs).
        let index_key = keys::schedule_index(&self.prefix);
        self.run("schedule", self.pool.hset::<Value, _, _>(index_key, index)).await.map(drop)
    }

    async fn due(
        &self,
        topic: &str,
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
        topic: &str,
        partition: u32,
        message_ids: &[String],
    ) -> RepoResult<Vec<Fired>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        let args = message_ids.iter().map(|id| Value::from(id.as_str())).collect();
        let reply = self.run("fire", self.scripts.fire.run(&self.pool, keys.fire(), args)).await?;
        let fired = fired(reply)?;
        let ids = fired.iter().map(|f| Value::from(f.message_id.as_str())).collect();
        self.unindex("fire", topic, partition, ids).await;
        Ok(fired)
    }

    async fn cancel(&self, topic: &str, partition: u32, message_id: &str) -> RepoResult<bool> {
        let keys = self.keys(topic, partition);
        let args = vec![Value::from(message_id)];
        let reply = self.run("cancel", self.scripts.cancel.run(&self.pool, keys.schedule(), args));
        let cancelled = reply::uint(&reply.await?, "cancel reply")? > 0;
        if cancelled {
            self.unindex("cancel", topic, partition, vec![Value::from(message_id)]).await;
        }
        Ok(cancelled)
    }

    async fn reschedule(
        &self,
        topic: &str,
        partition: u32,
        message_id: &str,
        due_ms: i64,
    ) -> RepoResult<bool> {
        let keys = self.keys(topic, partition);
        let args = vec![Value::from(message_id), Value::from(due_ms.to_string())];
        let reply = self.scripts.reschedule.run(&self.pool, vec![keys.due], args);
        Ok(reply::uint(&self.run("reschedule", reply).await?, "reschedule reply")? > 0)
    }

    async fn list(
        &self,
        topic: &str,
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
        let reply = self.scripts.list_scheduled.run(&self.pool, keys.schedule(), args);
        let items = reply::array(self.run("list scheduled", reply).await?, "list reply")?;
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

    async fn count(&self, topic: &str, partition: u32, until_ms: Option<i64>) -> RepoResult<u64> {
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

    async fn locate(&self, message_id: &str) -> RepoResult<Option<(String, u32)>> {
        let index = keys::schedule_index(&self.prefix);
        let entry: Option<String> =
            self.run("locate", self.pool.hget(index.as_str(), message_id)).await?;
        let Some(entry) = entry else {
            return Ok(None);
        };
        let Some((topic, partition)) = keys::parse_index_entry(&entry) else {
            // Only a stray write could put this here; it names nothing to look in, so it goes
            // like any stale entry (the script compares the value, whatever it is).
            tracing::warn!(message_id, "malformed schedule index entry removed");
            let args = vec![Value::from(entry), Value::from(message_id)];
            self.run("locate", self.scripts.unindex.run(&self.pool, vec![index], args)).await?;
            return Ok(None);
        };
        let keys = self.keys(&topic, partition);
        if self.due_time(&keys, message_id).await?.is_some() {
            return Ok(Some((topic, partition)));
        }
        // Stale: fired, cancelled, replaced elsewhere or its topic deleted.
        let args = vec![Value::from(entry.as_str()), Value::from(message_id)];
        self.run("locate", self.scripts.unindex.run(&self.pool, vec![index.clone()], args)).await?;
        // A `schedule` of this id into this partition may have written its entry between our
        // check and the removal; it scheduled before indexing, so a second look sees it.
        if self.due_time(&keys, message_id).await?.is_some() {
            self.run("locate", self.pool.hset::<Value, _, _>(index, (message_id, entry))).await?;
            return Ok(Some((topic, partition)));
        }
        Ok(None)
    }

    async fn delete_topic(&self, topic: &str, partitions: u32) -> RepoResult<()> {
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
                appended: Appended { offset: reply::uint(offset, "fired offset")?, timestamp_ms },
            })
        })
        .collect()
}

/// The routing key of a listed message, from its envelope. A member whose envelope is missing
/// (only a stray write could do that; firing drops such members) is listed without a key rather
/// than failing every listing until it is due.
fn scheduled_key(
    topic: &str,
    partition: u32,
    message_id: &str,
    payload: &Value,
) -> RepoResult<Option<String>> {
    if payload.is_null() {
        tracing::warn!(topic, partition, message_id, "scheduled message has no envelope");
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
            [Fired {
                message_id: "m1".into(),
                due_ms: 100,
                appended: Appended { offset: 7, timestamp_ms: 150 },
            }]
        );
        assert!(fired(Value::Array(vec![])).unwrap().is_empty());
        assert!(fired(Value::Array(vec!["m1".into(), Value::Integer(1)])).is_err());
    }
}
