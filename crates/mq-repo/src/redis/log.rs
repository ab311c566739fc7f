//! [`RedisMessageLog`]: the [`MessageLog`] on Redis Streams, one stream per topic partition.
//!
//! # Key layout
//!
//! Each partition's log has two keys sharing the hash tag `{<topic>:<partition>}`, so that a
//! partition's keys live in one Redis Cluster slot (its Lua scripts touch both) while
//! partitions spread over the cluster. The partition's schedule of delayed messages adds two
//! more under the same tag (`:dz`, `:dp`; see `schedule.rs`), and its transactions' half
//! messages one (`:tx`; see `half.rs`).
//!
//! | Key                                | Type   | Holds                                       |
//! |------------------------------------|--------|---------------------------------------------|
//! | `{prefix}:{<topic>:<partition>}:s` | stream | the records, e.g. `mq:{orders:3}:s`         |
//! | `{prefix}:{<topic>:<partition>}:m` | hash   | `next`: next offset; `ts`: last append ms   |
//!
//! Each consumer group of the partition adds two keys under the same tag for its retries, so
//! that scripts can touch them with the stream:
//!
//! | Key                                        | Type | Holds                                 |
//! |--------------------------------------------|------|---------------------------------------|
//! | `{prefix}:{<topic>:<partition>}:w:<group>` | zset | entries waiting for a retry: entry ID |
//! |                                            |      | scored by retry time in ms            |
//! | `{prefix}:{<topic>:<partition>}:h:<group>` | hash | entry ID → failure history, one JSON  |
//! |                                            |      | line per failed delivery (`fail.lua`) |
//!
//! They only ever hold pending entries: whatever ends an entry's pending state (ack; a claim,
//! redelivery or failure of an entry trimmed away, which XCLAIM drops; deleting the group)
//! removes it from both, and a redelivery removes it from the waiting set. `delete_topic` cannot find them (it does not
//! know the groups), so `create_group` drops any left over from a group of the same name.
//!
//! The time-bucketed counters (`StatsStore`, see `stats.rs`) are one hash per series, tagged
//! by the whole series so that each lives in one slot; they share nothing with the partitions:
//!
//! | Key                          | Type | Holds                                              |
//! |------------------------------|------|----------------------------------------------------|
//! | `{prefix}:stats:{<series>}`  | hash | bucket start in seconds (decimal) → count, e.g.    |
//! |                              |      | `mq:stats:{published:orders:3}`; expires           |
//! |                              |      | `keep_secs` after the newest bucket                |
//!
//! # Retries
//!
//! A pending entry is either in flight, held by a consumer since its last delivery, or waiting
//! for a retry after a failed one (`fail`): still in the group's pending list, with its holder
//! and delivery count, and in the waiting set. `redeliver` claims the waiting entries whose
//! retry time has come and lists the in-flight entries idle longer than the ack timeout;
//! `claim` leaves waiting entries alone. The expired scan (`XPENDING … IDLE`) also meets
//! waiting entries idle that long; it resets their idle time (`XCLAIM` by their holder,
//! `JUSTID` so their delivery count stays) and looks further, so however many entries wait,
//! expired entries behind them are found.
//!
//! # Offsets are entry IDs
//!
//! Offset `N` is stream entry ID `N-1` (`0-0` is not a valid entry ID, hence sequence 1). So
//! `XRANGE key N-0 + COUNT n` reads from offset `N`, a group starting at offset `N` is
//! `XGROUP CREATE key g N-0`, earliest is `0-0` and latest is `$`. A group's next offset is
//! the millisecond part of its last-delivered ID, plus one unless the sequence is 0.
//!
//! # Entries
//!
//! Each entry has two fields: `ts`, the append time in ms as decimal text, and `e`, the
//! bincode-encoded, version-tagged envelope of the message fields (see `envelope.rs`).
//!
//! # Atomicity
//!
//! A batch append is one Lua script (`lua/append.lua`): it reads the next offset from the
//! meta hash, `XADD`s every record with its explicit ID and writes the counter back, so offsets
//! are contiguous with no gaps or duplicates whatever the number of writers. It takes the
//! server's `TIME` but never less than the previous append's timestamp, so timestamps never
//! decrease within a partition; `trim_before` relies on that to binary-search by time.
//!
//! # Operations
//!
//! | Method            | Redis                                                              |
//! |-------------------|--------------------------------------------------------------------|
//! | `append`          | `append.lua` (EVALSHA): TIME, HGET, XADD per record, HSET          |
//! | `read_range`      | `XRANGE s N-0 + COUNT n`                                           |
//! | `partition_stats` | `stats.lua`: meta `next`, first entry, XLEN                        |
//! | `create_group`    | `create_group.lua`: `XGROUP CREATE s g <id> MKSTREAM` (BUSYGROUP → |
//! |                   | `AlreadyExists`), then UNLINK w h                                  |
//! | `delete_group`    | `delete_group.lua`: UNLINK w h, XGROUP DESTROY (0 for no stream)   |
//! | `read_group`      | `XREADGROUP GROUP g c COUNT n STREAMS s >` (no BLOCK)              |
//! | `ack`             | `ack.lua`: XACK, ZREM w, HDEL h (in chunks of 100 IDs)             |
//! | `pending`         | `pending.lua`: `XPENDING s g - + n`, ZSCORE w per entry            |
//! | `claim`           | `claim_ids.lua`: XPENDING and ZSCORE w per ID (waiting ones are    |
//! |                   | skipped), then XCLAIM with min idle 0                              |
//! | `ack_deliveries`  | `settle.lua`: XPENDING per ID; if the delivery count matches, XACK,|
//! |                   | ZREM w, HDEL h; 0 for a missing group                              |
//! | `fail`            | `fail.lua`: XPENDING and ZSCORE w per ID; if the count matches and |
//! |                   | it is not waiting, XCLAIM by the holder JUSTID, ZADD w, append to  |
//! |                   | h; 0 for a missing group                                           |
//! | `touch`           | `touch.lua`: XPENDING and ZSCORE w per ID; if the count matches and |
//! |                   | it is in flight, XCLAIM by the holder IDLE <ms> JUSTID             |
//! | `defer`           | `defer.lua`: as `fail.lua`, but XCLAIM RETRYCOUNT count − 1 JUSTID |
//! |                   | and no history line                                                |
//! | `redeliver`       | `redeliver.lua`: ZRANGEBYSCORE w (at most 10,000), by offset,      |
//! |                   | XPENDING per ID, XCLAIM, ZREM w; then XPENDING IDLE pages, XCLAIM  |
//! |                   | JUSTID of each waiting entry met (at most 1,000 per call)          |
//! | `attempts`        | `HGET h N-1`                                                       |
//! | `group_lag`       | `group_lag.lua`: meta `next`, first entry, XINFO GROUPS            |
//! | `trim_before`     | `trim_before.lua`: binary search on `ts`, then `XTRIM MINID N-0`   |
//! | `trim_to_len`     | `XTRIM s MAXLEN ~ n`                                               |
//! | `delete_topic`    | `UNLINK dz dp s m tx` per partition (the schedule and the half     |
//! |                   | messages go with the log)                                          |
//! | `add` (stats)     | `stats_add.lua` per series: HINCRBY per bucket; if a field is new, |
//! |                   | HKEYS and HDEL of buckets > `keep_secs` before the newest; EXPIRE  |
//! | `sums` (stats)    | `stats_sums.lua` per series: HGETALL, summed over the range        |
//!
//! Here `w` and `h` are the group's waiting set and history hash. NOGROUP errors become
//! [`RepoError::NotFound`] for `consumer group`.
//!
//! Every call is bounded twice: by the client's default command timeout and by
//! [`bounded`](crate::timeout::bounded), so a dead or hung server yields an error, not a hang.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{
    ClientLike, Error, HashesInterface, KeysInterface, Pool, StreamsInterface, Value,
};
use futures_util::future::try_join_all;

use super::client;
use super::envelope;
use super::keys::{self, PartitionKeys};
use super::reply;
use super::scripts::Scripts;
use crate::timeout::bounded;
use crate::{
    Appended, Attempt, Backend, Delivery, Failure, GroupLag, MessageLog, NewRecord, OffsetRollback,
    PartitionStats, PendingEntry, Record, Redelivery, RedisConfig, RedisTopology, RepoError,
    RepoResult, StartPosition, TopicRef,
};

const GROUP: &str = "consumer group";

/// The message log on Redis Streams (see the module docs for the key layout).
///
/// Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct RedisMessageLog {
    pub(super) pool: Pool,
    pub(super) prefix: String,
    pub(super) timeout: Duration,
    pub(super) scripts: Scripts,
    topology: RedisTopology,
    /// Set when the log closes, so the supervisor stops restarting routing tasks.
    closing: Arc<AtomicBool>,
    /// For each partition stream this log appended to (or saw the end of): one past the
    /// highest offset handed out, the floor its next append passes to the script so that an
    /// offset is never handed out twice (see `append_records` in common.lua).
    marks: Arc<std::sync::Mutex<std::collections::HashMap<String, Mark>>>,
    /// With `min_replica_acks` above 0: connections of their own for the writes mq
    /// acknowledges, each followed by `WAIT` (which blocks its connection until replicas
    /// confirm), so that reads and acks never queue behind a waiting write.
    pub(super) replicated: Option<Replicated>,
}

/// One past the highest offset of a partition known handed out, in one of its epochs.
#[derive(Debug, Clone)]
pub(super) struct Mark {
    epoch: String,
    next: u64,
}

/// The writes that wait for replicas: their connections and what they wait for.
#[derive(Clone)]
pub(super) struct Replicated {
    pub(super) pool: Pool,
    pub(super) wanted: u32,
    pub(super) timeout: Duration,
}

impl fmt::Debug for RedisMessageLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisMessageLog")
            .field("topology", &self.topology)
            .field("prefix", &self.prefix)
            .field("pool_size", &self.pool.size())
            .field("command_timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisMessageLog {
    /// Connects a pool of `cfg.pool_size` clients to the configured shape (one server, a Redis
    /// Cluster, or the master that Sentinel names) and loads the Lua scripts.
    ///
    /// Fails with [`RepoError::InvalidConfig`] for unusable settings, and with
    /// [`RepoError::Redis`] or [`RepoError::Timeout`] within `cfg.connect_timeout_ms` (plus one
    /// command timeout for loading scripts) if Redis cannot be reached. Once connected, lost
    /// connections are re-established in the background, a failover or resharding is followed,
    /// and a client whose routing task ends is restarted (see `client.rs`).
    pub async fn connect(cfg: &RedisConfig) -> RepoResult<Self> {
        cfg.validate()?;
        let pool = client::build_pool(cfg)?;
        let closing = Arc::new(AtomicBool::new(false));
        client::start(&pool, cfg.topology(), closing.clone()).await;
        let replicated = if cfg.min_replica_acks > 0 {
            let pool = client::build_pool(cfg)?;
            client::start(&pool, cfg.topology(), closing.clone()).await;
            Some(Replicated {
                pool,
                wanted: cfg.min_replica_acks,
                timeout: cfg.replica_ack_timeout(),
            })
        } else {
            None
        };
        let connected = bounded(Backend::Redis, "connect", cfg.connect_timeout(), async {
            pool.wait_for_connect().await.map_err(RepoError::redis("connect"))?;
            if let Some(replicated) = &replicated {
                replicated.pool.wait_for_connect().await.map_err(RepoError::redis("connect"))?;
            }
            Ok(())
        })
        .await;
        let scripts = match connected {
            Ok(()) => {
                bounded(Backend::Redis, "load scripts", cfg.command_timeout(), async {
                    Scripts::load(&pool).await.map_err(RepoError::redis("load scripts"))
                })
                .await
            }
            Err(error) => Err(error),
        };
        match scripts {
            Ok(scripts) => Ok(Self {
                pool,
                prefix: cfg.key_prefix.clone(),
                timeout: cfg.command_timeout(),
                scripts,
                topology: cfg.topology(),
                closing,
                marks: Arc::default(),
                replicated,
            }),
            Err(error) => {
                // Stop the background reconnect loops; a failed connect must not leave them
                // running.
                closing.store(true, Ordering::Release);
                let _ = tokio::time::timeout(cfg.command_timeout(), pool.quit()).await;
                if let Some(replicated) = &replicated {
                    let _ =
                        tokio::time::timeout(cfg.command_timeout(), replicated.pool.quit()).await;
                }
                Err(error)
            }
        }
    }

    /// The prefix of every key this log writes.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Which shape of deployment this log is connected to.
    pub fn topology(&self) -> RedisTopology {
        self.topology
    }

    /// Whether every connection of the pool is currently up; for health checks.
    pub fn is_connected(&self) -> bool {
        self.pool.is_connected()
    }

    /// Closes the pool's connections. Clones of this log stop working too.
    pub async fn close(&self) {
        self.closing.store(true, Ordering::Release);
        let _ = tokio::time::timeout(self.timeout, self.pool.quit()).await;
        if let Some(replicated) = &self.replicated {
            let _ = tokio::time::timeout(self.timeout, replicated.pool.quit()).await;
        }
    }

    /// The floor of `stream`'s next append as script arguments: one past the highest offset
    /// known handed out, and the partition epoch it belongs to (`0` and `""` when unknown).
    pub(super) fn floor_args(&self, stream: &str) -> [Value; 2] {
        let marks = self.marks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match marks.get(stream) {
            Some(mark) => [Value::from(mark.next.to_string()), Value::from(mark.epoch.as_str())],
            None => [Value::from("0"), Value::from("")],
        }
    }

    /// Notes that offsets below `next` of `stream`, in partition epoch `epoch`, were handed out.
    /// A new epoch (the topic was created again) starts over.
    pub(super) fn raise_floor(&self, stream: &str, epoch: &str, next: u64) {
        if epoch.is_empty() {
            return;
        }
        let mut marks = self.marks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match marks.get_mut(stream) {
            Some(mark) if mark.epoch == epoch => mark.next = mark.next.max(next),
            _ => {
                marks.insert(stream.to_owned(), Mark { epoch: epoch.to_owned(), next });
            }
        }
    }

    pub(super) fn keys(&self, topic: TopicRef<'_>, partition: u32) -> PartitionKeys {
        PartitionKeys::new(&self.prefix, topic, partition)
    }

    /// Fails with `NotFound` if the group does not exist; for requests of nothing, which
    /// answer without asking a script, so that they still report a missing group.
    async fn require_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
    ) -> RepoResult<()> {
        self.group_lag(topic, partition, group).await.map(drop)
    }

    /// Like [`script`](Self::script) for a script on a consumer group: NOGROUP (the group or
    /// its stream does not exist) becomes `NotFound`.
    async fn script_in_group(
        &self,
        op: &'static str,
        group: &str,
        script: &super::scripts::Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> RepoResult<Value> {
        match self.script_raw(op, script, keys, args).await? {
            Ok(reply) => Ok(reply),
            Err(error) if is_nogroup(&error) => Err(group_not_found(group)),
            Err(error) => Err(RepoError::redis(op)(error)),
        }
    }
}

/// True for the error Redis gives when a consumer group (or its stream) does not exist.
fn is_nogroup(error: &Error) -> bool {
    error.details().starts_with("NOGROUP")
}

fn group_not_found(group: &str) -> RepoError {
    RepoError::NotFound { kind: GROUP, id: group.to_owned() }
}

/// Redis parses counts and times as signed 64-bit integers (and the client refuses `i64::MAX`
/// itself); larger requests mean "all", which this bound expresses without an error.
const REDIS_MAX: u64 = (i64::MAX - 1) as u64;

/// A count from the API as a Redis COUNT argument.
pub(super) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX).min(REDIS_MAX)
}

/// The entry IDs of `offsets`, in offset order and each once, as script arguments.
fn distinct_ids(offsets: &[u64]) -> Vec<Value> {
    let mut offsets = offsets.to_vec();
    offsets.sort_unstable();
    offsets.dedup();
    offsets.into_iter().map(|offset| Value::from(keys::entry_id(offset))).collect()
}

/// A duration as a Redis millisecond argument.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).min(REDIS_MAX)
}

#[async_trait]
impl MessageLog for RedisMessageLog {
    fn backend(&self) -> Backend {
        Backend::Redis
    }

    async fn append(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        records: Vec<NewRecord>,
    ) -> RepoResult<Vec<Appended>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        let mut script_keys = keys.both();
        let mut args = Vec::with_capacity(3 + records.len() * 3);
        args.extend(self.floor_args(&keys.stream));
        args.push(Value::from(records.len().to_string()));
        for record in records {
            let window = match &record.dedup {
                Some(dedup) => {
                    script_keys.push(keys.dedup(&dedup.key));
                    dedup.window_ms.max(1)
                }
                None => 0,
            };
            let id = Value::from(record.message_id.as_str());
            args.push(Value::Bytes(envelope::encode(record)?.into()));
            args.push(id);
            args.push(Value::from(window.to_string()));
        }
        let n = (args.len() - 3) / 3;
        let reply = self.script_replicated("append", &self.scripts.append, script_keys, args);
        let reply = reply::array(reply.await?, "append reply")?;
        let [first, ts, epoch, rolled, repeats @ ..] = reply.as_slice() else {
            return Err(RepoError::Corrupt {
                what: "append reply",
                detail: format!(
                    "expected [first offset, timestamp, epoch, rolled back, repeats...], got \
                     {reply:?}"
                ),
            });
        };
        let epoch = reply::text(epoch, "partition epoch")?;
        let first = reply::uint(first, "append first offset")?;
        let timestamp_ms = ts.as_i64().ok_or_else(|| RepoError::Corrupt {
            what: "append reply",
            detail: format!("timestamp {ts:?}"),
        })?;
        if let Some(from) = rolled.as_i64().filter(|from| *from >= 0) {
            tracing::error!(
                %topic,
                partition,
                from,
                to = first,
                "offset rollback: the partition lost writes it had acknowledged (a failover to a \
                 replica that lagged, or a restart that lost the last writes); skipped to past \
                 the offsets handed out before"
            );
        }
        let mut repeats = reply::repeats(repeats)?;
        let mut next = first;
        let appended = (1..=n)
            .map(|i| match repeats.remove(&i) {
                Some(original) => Appended::repeat_of(original),
                None => {
                    next += 1;
                    Appended::stored(next - 1, timestamp_ms)
                }
            })
            .collect();
        self.raise_floor(&keys.stream, &epoch, next);
        Ok(appended)
    }

    async fn read_range(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        from_offset: u64,
        limit: usize,
    ) -> RepoResult<Vec<Record>> {
        // COUNT 0 means "no limit" to some Redis versions; zero asked is zero given.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        let start = keys::before_id(from_offset);
        let reply: Value = self
            .run("read range", || self.pool.xrange(&keys.stream, &start, "+", Some(count(limit))))
            .await?;
        reply::entries(reply)
    }

    async fn partition_stats(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
    ) -> RepoResult<PartitionStats> {
        let keys = self.keys(topic, partition);
        let reply = self.script("partition stats", &self.scripts.stats, keys.both(), vec![]);
        let reply = reply::array(reply.await?, "stats reply")?;
        let [first, end, length, rb_at, rb_from, rb_to, epoch] = reply.as_slice() else {
            return Err(RepoError::Corrupt {
                what: "stats reply",
                detail: format!(
                    "expected [first, end, length, rollback at/from/to], got {reply:?}"
                ),
            });
        };
        let end_offset = reply::uint(end, "end offset")?;
        self.raise_floor(&keys.stream, &reply::text(epoch, "partition epoch")?, end_offset);
        let last_rollback = match rb_at.as_i64() {
            Some(at_ms) if at_ms >= 0 => Some(OffsetRollback {
                at_ms,
                from: reply::uint(rb_from, "rollback from")?,
                to: reply::uint(rb_to, "rollback to")?,
            }),
            _ => None,
        };
        Ok(PartitionStats {
            first_offset: reply::uint(first, "first offset")?,
            end_offset,
            length: reply::uint(length, "length")?,
            last_rollback,
        })
    }

    async fn create_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        start: StartPosition,
    ) -> RepoResult<()> {
        let keys = self.keys(topic, partition);
        let id = match start {
            StartPosition::Earliest => "0-0".to_owned(),
            StartPosition::Latest => "$".to_owned(),
            StartPosition::Offset(offset) => keys::before_id(offset),
        };
        let args = vec![Value::from(group), Value::from(id)];
        let script = &self.scripts.create_group;
        let created = self.script_raw("create group", script, keys.group(group), args).await?;
        match created {
            Ok(_) => Ok(()),
            Err(error) if error.details().starts_with("BUSYGROUP") => {
                Err(RepoError::AlreadyExists { kind: GROUP, id: group.to_owned() })
            }
            Err(error) => Err(RepoError::redis("create group")(error)),
        }
    }

    async fn delete_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
    ) -> RepoResult<bool> {
        let keys = self.keys(topic, partition);
        let args = vec![Value::from(group)];
        let reply =
            self.script("delete group", &self.scripts.delete_group, keys.group(group), args);
        Ok(reply::uint(&reply.await?, "delete group reply")? > 0)
    }

    async fn read_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        consumer: &str,
        max: usize,
    ) -> RepoResult<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        // No BLOCK: waiting for records is the broker's business, and a blocked connection
        // would stall every other command pipelined on it.
        let read = self.run_raw("read group", || {
            self.pool.xreadgroup::<Value, _, _, _, _>(
                group,
                consumer,
                Some(count(max)),
                None,
                false,
                &keys.stream,
                ">",
            )
        });
        match read.await? {
            Ok(read) => reply::group_read(read),
            Err(error) if is_nogroup(&error) => Err(group_not_found(group)),
            Err(error) => Err(RepoError::redis("read group")(error)),
        }
    }

    async fn ack(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        offsets: &[u64],
    ) -> RepoResult<u64> {
        if offsets.is_empty() {
            return Ok(0);
        }
        let keys = self.keys(topic, partition);
        let mut args = vec![Value::from(group)];
        args.extend(offsets.iter().map(|&offset| Value::from(keys::entry_id(offset))));
        let reply = self.script("ack", &self.scripts.ack, keys.group(group), args);
        reply::uint(&reply.await?, "ack reply")
    }

    async fn pending(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        limit: usize,
    ) -> RepoResult<Vec<PendingEntry>> {
        if limit == 0 {
            self.require_group(topic, partition, group).await?;
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        let script_keys = vec![keys.stream.clone(), keys.waiting(group)];
        let args = vec![Value::from(group), Value::from(count(limit).to_string())];
        let listed =
            self.script_in_group("pending", group, &self.scripts.pending, script_keys, args);
        reply::pending(listed.await?)
    }

    async fn claim(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        consumer: &str,
        offsets: &[u64],
    ) -> RepoResult<Vec<Delivery>> {
        if offsets.is_empty() {
            self.require_group(topic, partition, group).await?;
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        let mut args = vec![Value::from(group), Value::from(consumer)];
        // Sorted for offset order, deduplicated because XCLAIM would count a repeat twice.
        args.extend(distinct_ids(offsets));
        let script = &self.scripts.claim_ids;
        reply::claimed(self.script_in_group("claim", group, script, keys.group(group), args).await?)
    }

    async fn ack_deliveries(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        deliveries: &[(u64, u32)],
    ) -> RepoResult<u64> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let keys = self.keys(topic, partition);
        let mut args = vec![Value::from(group)];
        // Deduplicated so that a repeated offset counts once, as with `ack`.
        let mut seen = std::collections::BTreeSet::new();
        for (offset, count) in deliveries {
            if seen.insert(*offset) {
                args.push(Value::from(keys::entry_id(*offset)));
                args.push(Value::from(count.to_string()));
            }
        }
        let reply = self.script("ack deliveries", &self.scripts.settle, keys.group(group), args);
        reply::uint(&reply.await?, "settle reply")
    }

    async fn fail(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        failures: &[Failure],
    ) -> RepoResult<u64> {
        if failures.is_empty() {
            return Ok(0);
        }
        let keys = self.keys(topic, partition);
        let mut args = vec![Value::from(group)];
        // The script skips repeats too; leaving them out here keeps the call small.
        let mut seen = std::collections::BTreeSet::new();
        for failure in failures.iter().filter(|f| seen.insert(f.offset)) {
            args.extend([
                Value::from(keys::entry_id(failure.offset)),
                Value::from(failure.delivery_count.to_string()),
                // Decimal integers: the script writes them into the history as they are.
                Value::from(failure.failed_at_ms.to_string()),
                Value::from(failure.retry_at_ms.to_string()),
                Value::from(failure.reason.as_str()),
            ]);
        }
        let reply = self.script("fail", &self.scripts.fail, keys.group(group), args);
        reply::uint(&reply.await?, "fail reply")
    }

    async fn defer(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        deliveries: &[(u64, u32)],
        retry_at_ms: i64,
    ) -> RepoResult<u64> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let keys = self.keys(topic, partition);
        let mut args = vec![Value::from(group), Value::from(retry_at_ms.to_string())];
        let mut seen = std::collections::BTreeSet::new();
        for (offset, count) in deliveries.iter().filter(|(offset, _)| seen.insert(*offset)) {
            args.push(Value::from(keys::entry_id(*offset)));
            args.push(Value::from(count.to_string()));
        }
        let reply = self.script("defer", &self.scripts.defer, keys.group(group), args);
        reply::uint(&reply.await?, "defer reply")
    }

    async fn touch(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        deliveries: &[(u64, u32)],
        idle: Duration,
    ) -> RepoResult<u64> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let keys = self.keys(topic, partition);
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).min(REDIS_MAX);
        let mut args = vec![Value::from(group), Value::from(idle_ms.to_string())];
        let mut seen = std::collections::BTreeSet::new();
        for (offset, count) in deliveries.iter().filter(|(offset, _)| seen.insert(*offset)) {
            args.push(Value::from(keys::entry_id(*offset)));
            args.push(Value::from(count.to_string()));
        }
        let reply = self.script("touch", &self.scripts.touch, keys.group(group), args);
        reply::uint(&reply.await?, "touch reply")
    }

    async fn redeliver(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        consumer: &str,
        now_ms: i64,
        ack_timeout: Duration,
        max: usize,
    ) -> RepoResult<Redelivery> {
        if max == 0 {
            self.require_group(topic, partition, group).await?;
            return Ok(Redelivery::default());
        }
        let keys = self.keys(topic, partition);
        let args = vec![
            Value::from(group),
            Value::from(consumer),
            Value::from(now_ms.to_string()),
            Value::from(millis(ack_timeout).to_string()),
            Value::from(count(max).to_string()),
        ];
        let script = &self.scripts.redeliver;
        reply::redelivery(
            self.script_in_group("redeliver", group, script, keys.group(group), args).await?,
        )
    }

    async fn attempts(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        offset: u64,
    ) -> RepoResult<Vec<Attempt>> {
        let keys = self.keys(topic, partition);
        let (history, id) = (keys.history(group), keys::entry_id(offset));
        let history: Value = self.run("attempts", || self.pool.hget(&history, &id)).await?;
        reply::attempts(history)
    }

    async fn group_lag(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
    ) -> RepoResult<GroupLag> {
        let keys = self.keys(topic, partition);
        let args = vec![Value::from(group)];
        let reply = self.script("group lag", &self.scripts.group_lag, keys.both(), args);
        let reply = reply.await?;
        if reply.is_null() {
            return Err(group_not_found(group));
        }
        let reply = reply::array(reply, "group lag reply")?;
        let [end, first, last_delivered, pending] = reply.as_slice() else {
            return Err(RepoError::Corrupt {
                what: "group lag reply",
                detail: format!("expected [end, first, last-delivered-id, pending], got {reply:?}"),
            });
        };
        let end_offset = reply::uint(end, "end offset")?;
        let first_offset = reply::uint(first, "first offset")?;
        let last_delivered = reply::text(last_delivered, "last-delivered-id")?;
        let next_offset = keys::next_after(&last_delivered).ok_or_else(|| RepoError::Corrupt {
            what: "group lag reply",
            detail: format!("last-delivered-id {last_delivered:?}"),
        })?;
        Ok(GroupLag {
            end_offset,
            next_offset,
            lag: end_offset.saturating_sub(next_offset.max(first_offset)),
            pending: reply::uint(pending, "pending count")?,
        })
    }

    async fn trim_before(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        min_timestamp_ms: i64,
    ) -> RepoResult<u64> {
        let keys = self.keys(topic, partition);
        let args = vec![Value::from(min_timestamp_ms.to_string())];
        let reply = self.script("trim before", &self.scripts.trim_before, keys.both(), args);
        reply::uint(&reply.await?, "trim reply")
    }

    async fn trim_to_len(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        max_len: u64,
    ) -> RepoResult<u64> {
        let keys = self.keys(topic, partition);
        let threshold = i64::try_from(max_len).unwrap_or(i64::MAX);
        self.run("trim to length", || self.pool.xtrim(&keys.stream, ("MAXLEN", "~", threshold)))
            .await
    }

    async fn delete_topic(&self, topic: TopicRef<'_>, partitions: u32) -> RepoResult<()> {
        // One command per partition: a partition's keys share a cluster slot, different
        // partitions do not. The client pipelines the concurrent commands. UNLINK rather than
        // DEL because freeing a stream of millions of entries would block the server; UNLINK
        // removes the keys at once and frees their memory in the background. The partition's
        // schedule and half messages go too, as they do with the in-memory log.
        let deletes = (0..partitions).map(|partition| {
            let keys = self.keys(topic, partition).all();
            self.run("delete topic", move || self.pool.unlink::<u64, _>(keys.clone()))
        });
        try_join_all(deletes).await.map(drop)
    }
}
