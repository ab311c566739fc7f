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
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{
    Builder, ClientLike, Config, Error, HashesInterface, KeysInterface, Pool, ReconnectPolicy,
    StreamsInterface, Value,
};
use futures_util::future::try_join_all;

use super::envelope;
use super::keys::{self, PartitionKeys};
use super::reply;
use super::scripts::Scripts;
use crate::timeout::bounded;
use crate::{
    Appended, Attempt, Backend, Delivery, Failure, GroupLag, MessageLog, NewRecord, PartitionStats,
    PendingEntry, Record, Redelivery, RedisConfig, RepoError, RepoResult, StartPosition,
};

const GROUP: &str = "consumer group";

/// Reconnect backoff: 100 ms doubling to 5 s, forever. Commands issued meanwhile fail at the
/// command timeout, so callers see errors rather than waits while Redis is away.
const RECONNECT_MIN_MS: u32 = 100;
const RECONNECT_MAX_MS: u32 = 5_000;

/// Lower bound on how often connections are checked for unresponsiveness.
const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The message log on Redis Streams (see the module docs for the key layout).
///
/// Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct RedisMessageLog {
    pub(super) pool: Pool,
    pub(super) prefix: String,
    timeout: Duration,
    pub(super) scripts: Scripts,
}

impl fmt::Debug for RedisMessageLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisMessageLog")
            .field("prefix", &self.prefix)
            .field("pool_size", &self.pool.size())
            .field("command_timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisMessageLog {
    /// Connects a pool of `cfg.pool_size` connections and loads the Lua scripts.
    ///
    /// Fails with [`RepoError::InvalidConfig`] for unusable settings, and with
    /// [`RepoError::Redis`] or [`RepoError::Timeout`] within `cfg.connect_timeout_ms` (plus one
    /// command timeout for loading scripts) if Redis cannot be reached. Once connected, lost
    /// connections are re-established in the background.
    pub async fn connect(cfg: &RedisConfig) -> RepoResult<Self> {
        cfg.validate()?;
        let config =
            Config::from_url(&cfg.connection_url()).map_err(RepoError::redis("connect"))?;
        let pool = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = cfg.connect_timeout();
                // AUTH, SELECT and the like run while connecting, so the connect bound fits.
                c.internal_command_timeout = cfg.connect_timeout();
                // Never resend a command whose connection dropped in flight: an append may
                // already have been applied, and resending it would store its records twice.
                // The caller gets an error and decides.
                c.max_command_attempts = 1;
                // A connection that stops answering without closing (a dropped route, a
                // half-open socket) is torn down and re-established instead of failing every
                // command sent on it until TCP gives up.
                c.unresponsive.max_timeout = Some(cfg.command_timeout() * 2);
                c.unresponsive.interval = (cfg.command_timeout() / 2).max(MIN_CHECK_INTERVAL);
            })
            .with_performance_config(|p| p.default_command_timeout = cfg.command_timeout())
            .set_policy(ReconnectPolicy::new_exponential(0, RECONNECT_MIN_MS, RECONNECT_MAX_MS, 2))
            .build_pool(cfg.pool_size)
            .map_err(RepoError::redis("connect"))?;

        let connected = bounded(Backend::Redis, "connect", cfg.connect_timeout(), async {
            // The handle only reports when the connection tasks end; they run until `quit`.
            pool.init().await.map(drop).map_err(RepoError::redis("connect"))
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
            }),
            Err(error) => {
                // Stop the background reconnect loop; a failed connect must not leave it running.
                let _ = tokio::time::timeout(cfg.command_timeout(), pool.quit()).await;
                Err(error)
            }
        }
    }

    /// The prefix of every key this log writes.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether every connection of the pool is currently up; for health checks.
    pub fn is_connected(&self) -> bool {
        self.pool.is_connected()
    }

    /// Closes the pool's connections. Clones of this log stop working too.
    pub async fn close(&self) {
        let _ = tokio::time::timeout(self.timeout, self.pool.quit()).await;
    }

    pub(super) fn keys(&self, topic: &str, partition: u32) -> PartitionKeys {
        PartitionKeys::new(&self.prefix, topic, partition)
    }

    /// Fails with `NotFound` if the group does not exist; for requests of nothing, which
    /// answer without asking a script, so that they still report a missing group.
    async fn require_group(&self, topic: &str, partition: u32, group: &str) -> RepoResult<()> {
        self.group_lag(topic, partition, group).await.map(drop)
    }

    /// Runs one operation under the command bound, mapping client errors to `op`.
    pub(super) async fn run<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = Result<T, Error>>,
    ) -> RepoResult<T> {
        bounded(Backend::Redis, op, self.timeout, async { fut.await.map_err(RepoError::redis(op)) })
            .await
    }

    /// Like [`run`](Self::run) for a command on a consumer group: NOGROUP (the group or its
    /// stream does not exist) becomes `NotFound`.
    async fn run_in_group<T>(
        &self,
        op: &'static str,
        group: &str,
        fut: impl std::future::Future<Output = Result<T, Error>>,
    ) -> RepoResult<T> {
        match self.run_raw(op, fut).await? {
            Ok(reply) => Ok(reply),
            Err(error) if is_nogroup(&error) => Err(group_not_found(group)),
            Err(error) => Err(RepoError::redis(op)(error)),
        }
    }

    /// Like [`run`](Self::run) but hands back the client's error, for callers that map some
    /// server errors (NOGROUP, BUSYGROUP) to typed ones.
    pub(super) async fn run_raw<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = Result<T, Error>>,
    ) -> RepoResult<Result<T, Error>> {
        bounded(Backend::Redis, op, self.timeout, async { Ok(fut.await) }).await
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
        topic: &str,
        partition: u32,
        records: Vec<NewRecord>,
    ) -> RepoResult<Vec<Appended>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let n = records.len();
        let envelopes = records
            .into_iter()
            .map(|record| envelope::encode(record).map(|bytes| Value::Bytes(bytes.into())))
            .collect::<RepoResult<Vec<_>>>()?;
        let keys = self.keys(topic, partition);
        let reply = self.run("append", self.scripts.append.run(&self.pool, keys.both(), envelopes));
        let reply = reply::array(reply.await?, "append reply")?;
        let [first, ts] = reply.as_slice() else {
            return Err(RepoError::Corrupt {
                what: "append reply",
                detail: format!("expected [first offset, timestamp], got {reply:?}"),
            });
        };
        let first = reply::uint(first, "append first offset")?;
        let timestamp_ms = ts.as_i64().ok_or_else(|| RepoError::Corrupt {
            what: "append reply",
            detail: format!("timestamp {ts:?}"),
        })?;
        Ok((0..count(n)).map(|i| Appended { offset: first + i, timestamp_ms }).collect())
    }

    async fn read_range(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
        limit: usize,
    ) -> RepoResult<Vec<Record>> {
        // COUNT 0 means "no limit" to some Redis versions; zero asked is zero given.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        let reply: Value = self
            .run(
                "read range",
                self.pool.xrange(
                    keys.stream,
                    keys::before_id(from_offset),
                    "+",
                    Some(count(limit)),
                ),
            )
            .await?;
        reply::entries(reply)
    }

    async fn partition_stats(&self, topic: &str, partition: u32) -> RepoResult<PartitionStats> {
        let keys = self.keys(topic, partition);
        let reply =
            self.run("partition stats", self.scripts.stats.run(&self.pool, keys.both(), vec![]));
        let reply = reply::array(reply.await?, "stats reply")?;
        let [first, end, length] = reply.as_slice() else {
            return Err(RepoError::Corrupt {
                what: "stats reply",
                detail: format!("expected [first, end, length], got {reply:?}"),
            });
        };
        Ok(PartitionStats {
            first_offset: reply::uint(first, "first offset")?,
            end_offset: reply::uint(end, "end offset")?,
            length: reply::uint(length, "length")?,
        })
    }

    async fn create_group(
        &self,
        topic: &str,
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
        let created = self
            .run_raw(
                "create group",
                self.scripts.create_group.run(&self.pool, keys.group(group), args),
            )
            .await?;
        match created {
            Ok(_) => Ok(()),
            Err(error) if error.details().starts_with("BUSYGROUP") => {
                Err(RepoError::AlreadyExists { kind: GROUP, id: group.to_owned() })
            }
            Err(error) => Err(RepoError::redis("create group")(error)),
        }
    }

    async fn delete_group(&self, topic: &str, partition: u32, group: &str) -> RepoResult<bool> {
        let keys = self.keys(topic, partition);
        let args = vec![Value::from(group)];
        let reply = self.run(
            "delete group",
            self.scripts.delete_group.run(&self.pool, keys.group(group), args),
        );
        Ok(reply::uint(&reply.await?, "delete group reply")? > 0)
    }

    async fn read_group(
        &self,
        topic: &str,
        partition: u32,
        group: &str,
        consumer: &str,
        max: usize,
    ) -> RepoResult<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let keys = self.keys(topic, partition);
        let read = self
            .run_in_group("read group", group, async {
                // No BLOCK: waiting for records is the broker's business, and a blocked
                // connection would stall every other command pipelined on it.
                self.pool
                    .xreadgroup::<Value, _, _, _, _>(
                        group,
                        consumer,
                        Some(count(max)),
                        None,
                        false,
                        keys.stream,
                        ">",
                    )
                    .await
            })
            .await?;
        reply::group_read(read)
    }

    async fn ack(
        &self,
        topic: &str,
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
        let reply = self.run("ack", self.scripts.ack.run(&self.pool, keys.group(group), args));
        reply::uint(&reply.await?, "ack reply")
    }

    async fn pending(
        &self,
        topic: &str,
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
        let listed = self.run_in_group(
            "pending",
            group,
            self.scripts.pending.run(&self.pool, script_keys, args),
        );
        reply::pending(listed.await?)
    }

    async fn claim(
        &self,
        topic: &str,
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
        let script = self.scripts.claim_ids.run(&self.pool, keys.group(group), args);
        reply::claimed(self.run_in_group("claim", group, script).await?)
    }

    async fn ack_deliveries(
        &self,
        topic: &str,
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
        let script = self.scripts.settle.run(&self.pool, keys.group(group), args);
        let reply = self.run("ack deliveries", script);
        reply::uint(&reply.await?, "settle reply")
    }

    async fn fail(
        &self,
        topic: &str,
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
        let reply = self.run("fail", self.scripts.fail.run(&self.pool, keys.group(group), args));
        reply::uint(&reply.await?, "fail reply")
    }

    async fn defer(
        &self,
        topic: &str,
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
        let reply = self.run("defer", self.scripts.defer.run(&self.pool, keys.group(group), args));
        reply::uint(&reply.await?, "defer reply")
    }

    async fn touch(
        &self,
        topic: &str,
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
        let reply = self.run("touch", self.scripts.touch.run(&self.pool, keys.group(group), args));
        reply::uint(&reply.await?, "touch reply")
    }

    async fn redeliver(
        &self,
        topic: &str,
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
        let script = self.scripts.redeliver.run(&self.pool, keys.group(group), args);
        reply::redelivery(self.run_in_group("redeliver", group, script).await?)
    }

    async fn attempts(
        &self,
        topic: &str,
        partition: u32,
        group: &str,
        offset: u64,
    ) -> RepoResult<Vec<Attempt>> {
        let keys = self.keys(topic, partition);
        let history: Value = self
            .run("attempts", self.pool.hget(keys.history(group), keys::entry_id(offset)))
            .await?;
        reply::attempts(history)
    }

    async fn group_lag(&self, topic: &str, partition: u32, group: &str) -> RepoResult<GroupLag> {
        let keys = self.keys(topic, partition);
        let args = vec![Value::from(group)];
        let reply =
            self.run("group lag", self.scripts.group_lag.run(&self.pool, keys.both(), args));
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
        topic: &str,
        partition: u32,
        min_timestamp_ms: i64,
    ) -> RepoResult<u64> {
        let keys = self.keys(topic, partition);
        let args = vec![Value::from(min_timestamp_ms.to_string())];
        let reply =
            self.run("trim before", self.scripts.trim_before.run(&self.pool, keys.both(), args));
        reply::uint(&reply.await?, "trim reply")
    }

    async fn trim_to_len(&self, topic: &str, partition: u32, max_len: u64) -> RepoResult<u64> {
        let keys = self.keys(topic, partition);
        let threshold = i64::try_from(max_len).unwrap_or(i64::MAX);
        self.run("trim to length", self.pool.xtrim(keys.stream, ("MAXLEN", "~", threshold))).await
    }

    async fn delete_topic(&self, topic: &str, partitions: u32) -> RepoResult<()> {
        // One command per partition: a partition's keys share a cluster slot, different
        // partitions do not. The client pipelines the concurrent commands. UNLINK rather than
        // DEL because freeing a stream of millions of entries would block the server; UNLINK
        // removes the keys at once and frees their memory in the background. The partition's
        // schedule and half messages go too, as they do with the in-memory log; entries of the
        // schedule index that point here are left stale, and `locate` removes them when it
        // meets them.
        let deletes = (0..partitions).map(|partition| {
            let keys = self.keys(topic, partition);
            self.pool.unlink::<u64, _>(keys.all())
        });
        self.run("delete topic", try_join_all(deletes)).await.map(drop)
    }
}
