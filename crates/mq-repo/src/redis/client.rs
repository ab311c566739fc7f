//! The connection side of the Redis store: a fred pool for the configured shape (one server,
//! a Redis Cluster, or a master found through Sentinel), a supervisor that restarts a pooled
//! client whose routing task has ended, and the one way every command runs: bounded by the
//! command timeout, and repeated while Redis answers that it did not run it.
//!
//! # Never twice, always redirected
//!
//! A command is written to Redis once (`max_command_attempts = 1`): when a connection drops
//! with a command in flight, nobody can tell whether Redis ran it, and running an append again
//! would store its records twice, so the caller gets the error and decides.
//!
//! Redis Cluster moves slots (resharding, failover) and answers `MOVED`, `ASK`, `TRYAGAIN` or
//! `CLUSTERDOWN` for a command it did not run. fred follows `MOVED` itself but counts the
//! redirected write as a second attempt, which one allowed attempt refuses ("Too many failed
//! write attempts"); after `ASK` it gives up with "Max attempts reached" and ends the pooled
//! client's routing task, after which every command sent to that client waits until it times
//! out. So:
//!
//! - [`not_run`] recognises each of these answers (all of them mean the command was not run:
//!   the refusal came before or instead of running it), and [`RedisMessageLog::run`] sends the
//!   command again, after a short pause, until it runs or the command timeout passes; by then
//!   fred has refreshed its slot map, so the next attempt goes to the right node;
//! - the supervisor watches each pooled client's routing task and starts a new one when it
//!   ends while the store is open, so a client is never left wedged.
//!
//! These rules follow fred 10.1's router (`router/commands.rs`: `write_command`,
//! `process_moved`, `process_ask`); the resharding test in `tests/cluster` holds them to it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{
    Builder, ClientLike, Config, Error, ErrorKind, Pool, ReconnectPolicy, Server, ServerConfig,
    Value,
};
use fred::types::config::{ClusterDiscoveryPolicy, TlsConnector};
use fred::types::{ClusterHash, CustomCommand};
use tokio::time::Instant;

use super::scripts::Script;
use crate::config::host_port;
use crate::{Backend, RedisConfig, RedisTopology, RepoError, RepoResult};

/// Reconnect backoff: 100 ms doubling to 1 s, forever. Short, so that a client follows a
/// promoted replica (Sentinel, Cluster) within about a second of the promotion. Commands
/// issued meanwhile fail at the command timeout, so callers see errors rather than waits.
const RECONNECT_MIN_MS: u32 = 100;
const RECONNECT_MAX_MS: u32 = 1_000;

/// Lower bound on how often connections are checked for unresponsiveness.
const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Pauses between attempts of a command Redis did not run: 10 ms doubling to 200 ms.
const RETRY_MIN: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_millis(200);

/// Pause before restarting a client whose routing task ended, so that a task that ends at once
/// again cannot spin.
const RESTART_PAUSE: Duration = Duration::from_millis(100);

/// Whether Redis (or the client, before sending) refused `error`'s command without running
/// it, so that sending it again cannot apply it twice.
pub(crate) fn not_run(error: &Error) -> bool {
    let details = error.details();
    // Server answers that come instead of running the command. `ERR Error running script`
    // wraps an error raised inside a script, which may have written before it: not listed.
    const REFUSALS: [&str; 7] =
        ["MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "READONLY", "MASTERDOWN"];
    if REFUSALS.iter().any(|prefix| details.starts_with(prefix)) {
        return true;
    }
    match error.kind() {
        ErrorKind::Cluster => true,
        // With one write attempt allowed, fred reports these only for a command it is about
        // to write a second time: after MOVED ("Too many failed write attempts."), after ASK
        // ("Max attempts reached."), or one it could not route to any connection.
        ErrorKind::Unknown | ErrorKind::Routing => {
            details.starts_with("Too many failed write attempts")
                || details.starts_with("Max attempts reached")
                || details.starts_with("Too many redirections")
                || details.starts_with("Failed to route command")
        }
        _ => false,
    }
}

/// The fred client config for `cfg`'s shape.
pub(super) fn client_config(cfg: &RedisConfig) -> RepoResult<Config> {
    let connect_error = RepoError::redis("connect");
    if let Some(url) = &cfg.url {
        return Config::from_url(url).map_err(connect_error);
    }
    let servers = |nodes: &[String]| -> Vec<Server> {
        // Checked by `validate`; an unparsable node here would be a bug, and is skipped.
        nodes.iter().filter_map(|n| host_port(n)).map(|(h, p)| Server::new(h, p)).collect()
    };
    let tls = |on: bool| -> RepoResult<_> {
        if on {
            let connector = TlsConnector::default_rustls().map_err(RepoError::redis("connect"))?;
            Ok(Some(connector.into()))
        } else {
            Ok(None)
        }
    };
    let (server, tls, database) = match (&cfg.cluster, &cfg.sentinel) {
        (Some(cluster), _) => {
            // UseCache: after a failover or resharding, reconnecting also tries every node the
            // client has seen, not only the seeds (which may be the node that went away).
            let policy = ClusterDiscoveryPolicy::UseCache;
            (
                ServerConfig::Clustered { hosts: servers(&cluster.nodes), policy },
                tls(cluster.tls)?,
                None,
            )
        }
        (None, Some(sentinel)) => (
            ServerConfig::Sentinel {
                hosts: servers(&sentinel.nodes),
                service_name: sentinel.service_name.clone(),
                username: sentinel.username.clone(),
                password: sentinel.password.clone(),
            },
            tls(sentinel.tls)?,
            Some(cfg.db),
        ),
        (None, None) => {
            let server = ServerConfig::new_centralized(cfg.host.clone(), cfg.port);
            (server, None, Some(cfg.db))
        }
    };
    Ok(Config {
        server,
        username: cfg.username.clone(),
        password: cfg.password.clone(),
        database: database.filter(|db| *db != 0),
        tls,
        ..Config::default()
    })
}

/// Builds the pool for `cfg` (not yet connected).
pub(super) fn build_pool(cfg: &RedisConfig) -> RepoResult<Pool> {
    let config = client_config(cfg)?;
    Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = cfg.connect_timeout();
            // AUTH, SELECT, CLUSTER SLOTS and the like run while connecting, so the connect
            // bound fits.
            c.internal_command_timeout = cfg.connect_timeout();
            // Never resend a command whose connection dropped in flight (see the module docs).
            c.max_command_attempts = 1;
            // A connection that stops answering without closing (a dropped route, a half-open
            // socket) is torn down and re-established instead of failing every command sent
            // on it until TCP gives up.
            c.unresponsive.max_timeout = Some(cfg.command_timeout() * 2);
            c.unresponsive.interval = (cfg.command_timeout() / 2).max(MIN_CHECK_INTERVAL);
        })
        .with_performance_config(|p| p.default_command_timeout = cfg.command_timeout())
        .set_policy(ReconnectPolicy::new_exponential(0, RECONNECT_MIN_MS, RECONNECT_MAX_MS, 2))
        .build_pool(cfg.pool_size)
        .map_err(RepoError::redis("connect"))
}

/// Starts every pooled client's routing task and, for each, a supervisor that starts it again
/// whenever it ends while `closing` is false. Returns once every client has connected, or
/// with the first connection error (the tasks then keep trying in the background until
/// `closing` is set and the pool quits).
pub(super) async fn start(pool: &Pool, topology: RedisTopology, closing: Arc<AtomicBool>) {
    for (index, client) in pool.clients().iter().enumerate() {
        let client = client.clone();
        let closing = closing.clone();
        let mut handle = client.connect();
        tokio::spawn(async move {
            loop {
                let ended = (&mut handle).await;
                if closing.load(Ordering::Acquire) {
                    break;
                }
                let reason = match ended {
                    Ok(Ok(())) => "ended".to_owned(),
                    Ok(Err(error)) => format!("ended with {error}"),
                    Err(join) => format!("stopped: {join}"),
                };
                tracing::error!(
                    client = index,
                    ?topology,
                    %reason,
                    "redis client's routing task ended; starting a new one"
                );
                tokio::time::sleep(RESTART_PAUSE).await;
                if closing.load(Ordering::Acquire) {
                    break;
                }
                handle = client.connect();
            }
        });
    }
}

/// One slot owned by each master of the cluster (`CLUSTER SLOTS`), to route a command to every
/// master by slot.
pub(super) async fn a_slot_per_master(pool: &Pool) -> Result<Vec<u16>, Error> {
    let command = CustomCommand::new_static("CLUSTER", ClusterHash::Random, false);
    let reply: Value = pool.custom(command, vec![Value::from("SLOTS")]).await?;
    let mut masters: Vec<(String, u16)> = Vec::new();
    for range in reply.into_array() {
        let range = range.into_array();
        let (Some(start), Some(master)) = (range.first(), range.get(2)) else { continue };
        let Some(start) = start.as_u64().and_then(|s| u16::try_from(s).ok()) else { continue };
        let master = master.clone().into_array();
        let id = format!(
            "{}:{}",
            master.first().and_then(Value::as_string).unwrap_or_default(),
            master.get(1).and_then(Value::as_u64).unwrap_or_default()
        );
        if !masters.iter().any(|(known, _)| *known == id) {
            masters.push((id, start));
        }
    }
    Ok(masters.into_iter().map(|(_, slot)| slot).collect())
}

impl super::RedisMessageLog {
    /// Runs one command, made afresh by `make` for each attempt, until Redis runs it (see the
    /// module docs) or the command timeout passes; client errors are mapped to `op`.
    pub(super) async fn run<T, F, Fut>(&self, op: &'static str, make: F) -> RepoResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        match self.run_raw(op, make).await? {
            Ok(reply) => Ok(reply),
            Err(error) => Err(RepoError::redis(op)(error)),
        }
    }

    /// Like [`run`](Self::run) but hands back the client's error, for callers that map some
    /// server errors (NOGROUP, BUSYGROUP) to typed ones. The outer error is a timeout.
    pub(super) async fn run_raw<T, F, Fut>(
        &self,
        op: &'static str,
        mut make: F,
    ) -> RepoResult<Result<T, Error>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut pause = RETRY_MIN;
        loop {
            let Ok(result) = tokio::time::timeout_at(deadline, make()).await else {
                return Err(RepoError::Timeout {
                    backend: Backend::Redis,
                    op,
                    after: self.timeout,
                });
            };
            match result {
                Err(error) if not_run(&error) => {
                    // Not run, so another attempt is safe; after the pause the client has
                    // usually learnt the new slot map. Past the deadline the refusal is the
                    // answer: the command was not run.
                    if Instant::now() + pause >= deadline {
                        return Ok(Err(error));
                    }
                    tracing::debug!(op, %error, "redis did not run the command; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX);
                }
                result => return Ok(result),
            }
        }
    }

    /// Runs a script with [`run`](Self::run)'s rules.
    pub(super) async fn script(
        &self,
        op: &'static str,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> RepoResult<Value> {
        // Cloning per attempt is cheap: keys are short and byte arguments are shared.
        self.run(op, || script.run(&self.pool, keys.clone(), args.clone())).await
    }

    /// Runs a write that mq acknowledges: like [`script`](Self::script), and with
    /// `min_replica_acks` above 0 followed by `WAIT` on the same connection and node (routed
    /// by the slot of its first key), failing with [`RepoError::NotReplicated`] when fewer
    /// replicas than asked confirm it in time. Only the script is repeated on a refusal: once
    /// it ran, the answer of its `WAIT` is final.
    pub(super) async fn script_replicated(
        &self,
        op: &'static str,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> RepoResult<Value> {
        let Some(replicated) = &self.replicated else {
            return self.script(op, script, keys, args).await;
        };
        let slot = keys.first().map_or(0, |key| fred::util::redis_keyslot(key.as_bytes()));
        let wanted = Value::from(replicated.wanted.to_string());
        let timeout_ms = Value::from(
            u64::try_from(replicated.timeout.as_millis()).unwrap_or(u64::MAX).max(1).to_string(),
        );
        let ran = self
            .run(op, || async {
                // One pooled client for both, so both go down the same connection in order:
                // WAIT counts the replicas that have everything this connection wrote.
                let client = replicated.pool.next();
                let reply = script.run(client, keys.clone(), args.clone()).await?;
                let command = CustomCommand::new_static("WAIT", ClusterHash::Custom(slot), false);
                let waited: Result<i64, Error> =
                    client.custom(command, vec![wanted.clone(), timeout_ms.clone()]).await;
                Ok((reply, waited))
            })
            .await?;
        let (reply, waited) = ran;
        let confirmed = waited.map_err(RepoError::redis(op))?;
        let confirmed = u32::try_from(confirmed).unwrap_or(0);
        if confirmed < replicated.wanted {
            return Err(RepoError::NotReplicated {
                op,
                confirmed,
                wanted: replicated.wanted,
                after: replicated.timeout,
            });
        }
        Ok(reply)
    }

    /// Runs a script with [`run_raw`](Self::run_raw)'s rules.
    pub(super) async fn script_raw(
        &self,
        op: &'static str,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> RepoResult<Result<Value, Error>> {
        self.run_raw(op, || script.run(&self.pool, keys.clone(), args.clone())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_that_mean_not_run() {
        let error = |kind, details: &str| Error::new(kind, details.to_owned());
        for (e, expected) in [
            (error(ErrorKind::Cluster, "MOVED 3999 127.0.0.1:6381"), true),
            (error(ErrorKind::Unknown, "TRYAGAIN Multiple keys request during rehashing"), true),
            (error(ErrorKind::Cluster, "CLUSTERDOWN The cluster is down"), true),
            (error(ErrorKind::Unknown, "LOADING Redis is loading the dataset in memory"), true),
            (
                error(ErrorKind::Unknown, "READONLY You can't write against a read only replica."),
                true,
            ),
            (error(ErrorKind::Unknown, "Too many failed write attempts."), true),
            (error(ErrorKind::Routing, "Max attempts reached."), true),
            (error(ErrorKind::IO, "Connection reset by peer"), false),
            (error(ErrorKind::Timeout, "Request timed out."), false),
            (error(ErrorKind::Canceled, "Canceled."), false),
            (
                error(ErrorKind::Unknown, "ERR Error running script (call to f_x): @user_script"),
                false,
            ),
            (error(ErrorKind::Unknown, "NOGROUP No such key"), false),
        ] {
            assert_eq!(not_run(&e), expected, "{e:?}");
        }
    }

    #[test]
    fn each_shape_becomes_its_client_config() {
        let base = RedisConfig::default();
        let cluster = RedisConfig {
            cluster: Some(crate::RedisClusterConfig {
                nodes: vec!["10.0.0.1:7000".into(), "[::1]:7001".into()],
                tls: false,
            }),
            password: Some("pw".into()),
            ..base.clone()
        };
        let config = client_config(&cluster).unwrap();
        assert!(config.server.is_clustered(), "{:?}", config.server);
        assert_eq!(config.server.hosts().len(), 2);
        assert_eq!(config.password.as_deref(), Some("pw"));
        let sentinel = RedisConfig {
            sentinel: Some(crate::RedisSentinelConfig {
                nodes: vec!["s:26379".into()],
                service_name: "mymaster".into(),
                ..Default::default()
            }),
            db: 2,
            ..base.clone()
        };
        let config = client_config(&sentinel).unwrap();
        assert!(config.server.is_sentinel(), "{:?}", config.server);
        assert_eq!(config.database, Some(2));
        let url = RedisConfig { url: Some("redis-cluster://h:7000?node=h:7001".into()), ..base };
        assert!(client_config(&url).unwrap().server.is_clustered());
    }
}
