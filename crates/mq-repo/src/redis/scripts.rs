//! The Lua scripts behind the multi-step operations, each run atomically on the server that
//! holds the partition.
//!
//! Scripts are sent by SHA-1 (`EVALSHA`). The digests come from `SCRIPT LOAD` at connect time
//! (on every master of a cluster), which keeps a SHA-1 implementation out of our dependencies.
//! A server that has forgotten a script (restart, `SCRIPT FLUSH`, failover, a master added
//! since) answers `NOSCRIPT`; the call is then repeated once with the full text (`EVAL`), which
//! also caches it there again.

use fred::prelude::{ClientLike, Error, LuaInterface, Pool, Value};
use fred::types::{ClusterHash, CustomCommand};

/// One script: its full text (shared helpers included) and the server's digest of it.
#[derive(Clone)]
pub(super) struct Script {
    source: &'static str,
    sha: String,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The digest identifies the script; the full text would drown any log line.
        f.write_str(&self.sha)
    }
}

impl Script {
    async fn load(pool: &Pool, source: &'static str) -> Result<Self, Error> {
        let sha = load_everywhere(pool, source).await?;
        Ok(Self { source, sha })
    }

    /// Runs the script with `keys` and `args` on `client` (the pool, or one of its clients).
    pub(super) async fn run<C: LuaInterface + Sync>(
        &self,
        client: &C,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<Value, Error> {
        // Cloning is cheap: keys are short and byte arguments are reference-counted.
        match client.evalsha(self.sha.as_str(), keys.clone(), args.clone()).await {
            Err(error) if error.details().starts_with("NOSCRIPT") => {
                client.eval(self.source, keys, args).await
            }
            result => result,
        }
    }
}

/// `SCRIPT LOAD` of `source` on the one server, or on every master of a cluster (so that the
/// first call on each finds the script); returns the digest, the same everywhere.
pub(crate) async fn load_everywhere(pool: &Pool, source: &str) -> Result<String, Error> {
    if !pool.next().is_clustered() {
        return pool.script_load(source).await;
    }
    let mut sha = String::new();
    for slot in super::client::a_slot_per_master(pool).await? {
        // Routed by a slot the master owns: fred sends keyless commands to any node.
        let command = CustomCommand::new_static("SCRIPT", ClusterHash::Custom(slot), false);
        sha = pool.custom(command, vec![Value::from("LOAD"), Value::from(source)]).await?;
    }
    Ok(sha)
}

/// Prepends the shared helpers to a script's text at compile time.
macro_rules! lua {
    ($file:literal) => {
        concat!(include_str!("lua/common.lua"), include_str!(concat!("lua/", $file)))
    };
}

/// Every script the message log, its schedule, its half messages and the counters run.
#[derive(Debug, Clone)]
pub(super) struct Scripts {
    /// `append.lua`: one atomic batch append.
    pub(super) append: Script,
    /// `stats.lua`: first and end offsets and length.
    pub(super) stats: Script,
    /// `group_lag.lua`: a group's position, pending count and the partition's extent.
    pub(super) group_lag: Script,
    /// `create_group.lua`: XGROUP CREATE, then UNLINK of the group's waiting set and history.
    pub(super) create_group: Script,
    /// `ack.lua`: XACK, ZREM from the waiting set and HDEL from the history.
    pub(super) ack: Script,
    /// `pending.lua`: XPENDING, then ZSCORE per entry in the waiting set.
    pub(super) pending: Script,
    /// `claim_ids.lua`: XPENDING and ZSCORE per ID, then XCLAIM with min idle 0.
    pub(super) claim_ids: Script,
    /// `settle.lua`: XPENDING per ID, then XACK, ZREM and HDEL when the delivery count still
    /// matches.
    pub(super) settle: Script,
    /// `fail.lua`: XPENDING and ZSCORE per ID, then XCLAIM JUSTID by the holder, ZADD to the
    /// waiting set and a line appended to the history.
    pub(super) fail: Script,
    /// `defer.lua`: XPENDING per ID, then XCLAIM by the holder with RETRYCOUNT count − 1 and
    /// JUSTID, and ZADD to the waiting set; no history line.
    pub(super) defer: Script,
    /// `touch.lua`: XPENDING per ID, then XCLAIM by the holder with IDLE and JUSTID.
    pub(super) touch: Script,
    /// `redeliver.lua`: due entries (ZRANGEBYSCORE, XPENDING, XCLAIM), then expired ones
    /// (XPENDING IDLE, passing over waiting entries with XCLAIM JUSTID).
    pub(super) redeliver: Script,
    /// `trim_before.lua`: binary search by timestamp then XTRIM MINID.
    pub(super) trim_before: Script,
    /// `delete_group.lua`: XGROUP DESTROY that tolerates a missing stream, and UNLINK of the
    /// group's waiting set and history.
    pub(super) delete_group: Script,
    /// `schedule.lua`: ZADD and HSET per scheduled message.
    pub(super) schedule: Script,
    /// `fire.lua`: due messages from the schedule into the stream, as `append.lua` appends.
    pub(super) fire: Script,
    /// `cancel.lua`: ZREM and HDEL of one scheduled message.
    pub(super) cancel: Script,
    /// `reschedule.lua`: ZADD XX of a message that is scheduled.
    pub(super) reschedule: Script,
    /// `list_scheduled.lua`: a page of a schedule by (due time, id) after a cursor.
    pub(super) list_scheduled: Script,
    /// `prepare_half.lua`: the idempotency key's check and record, then HSET of a half message.
    pub(super) prepare_half: Script,
    /// `commit_half.lua`: HGET and HDEL of a half message, appended as `append.lua` appends.
    pub(super) commit_half: Script,
    /// `stats_add.lua`: HINCRBY per bucket of one counter series, HDEL of buckets left behind
    /// when a new one appears, and EXPIRE.
    pub(super) stats_add: Script,
    /// `stats_sums.lua`: HGETALL of one counter series, summed over a range of buckets.
    pub(super) stats_sums: Script,
}

impl Scripts {
    /// Loads every script into the server's script cache and records the digests.
    pub(super) async fn load(pool: &Pool) -> Result<Self, Error> {
        Ok(Self {
            append: Script::load(pool, lua!("append.lua")).await?,
            stats: Script::load(pool, lua!("stats.lua")).await?,
            group_lag: Script::load(pool, lua!("group_lag.lua")).await?,
            create_group: Script::load(pool, lua!("create_group.lua")).await?,
            ack: Script::load(pool, lua!("ack.lua")).await?,
            pending: Script::load(pool, lua!("pending.lua")).await?,
            claim_ids: Script::load(pool, lua!("claim_ids.lua")).await?,
            settle: Script::load(pool, lua!("settle.lua")).await?,
            fail: Script::load(pool, lua!("fail.lua")).await?,
            defer: Script::load(pool, lua!("defer.lua")).await?,
            touch: Script::load(pool, lua!("touch.lua")).await?,
            redeliver: Script::load(pool, lua!("redeliver.lua")).await?,
            trim_before: Script::load(pool, lua!("trim_before.lua")).await?,
            delete_group: Script::load(pool, lua!("delete_group.lua")).await?,
            schedule: Script::load(pool, lua!("schedule.lua")).await?,
            fire: Script::load(pool, lua!("fire.lua")).await?,
            cancel: Script::load(pool, lua!("cancel.lua")).await?,
            reschedule: Script::load(pool, lua!("reschedule.lua")).await?,
            list_scheduled: Script::load(pool, lua!("list_scheduled.lua")).await?,
            prepare_half: Script::load(pool, lua!("prepare_half.lua")).await?,
            commit_half: Script::load(pool, lua!("commit_half.lua")).await?,
            stats_add: Script::load(pool, lua!("stats_add.lua")).await?,
            stats_sums: Script::load(pool, lua!("stats_sums.lua")).await?,
        })
    }
}
