//! Connection settings of the Redis and MongoDB stores, in the design's snake_case config keys.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{RepoError, RepoResult};

/// How to reach Redis (design §9.3 `message_queue.redis`), in one of three shapes:
///
/// - **standalone**: `url` (`redis://`, `rediss://`) or `host`, `port` and `db`;
/// - **cluster**: `url` (`redis-cluster://host:port?node=host:port&…`, `rediss-cluster://` for
///   TLS) or the [`cluster`](Self::cluster) section with its seed nodes;
/// - **sentinel**: `url` (`redis-sentinel://host:26379/db?sentinelServiceName=name&node=…`,
///   `rediss-sentinel://` for TLS) or the [`sentinel`](Self::sentinel) section.
///
/// [`topology`](Self::topology) says which one a config describes; [`validate`](Self::validate)
/// refuses mixtures, naming the keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// A full URL; when set, `host`, `port` and `db` are ignored. Its scheme picks the shape:
    /// `redis://` / `rediss://` (standalone), `redis-cluster://` / `rediss-cluster://`,
    /// `redis-sentinel://` / `rediss-sentinel://`.
    pub url: Option<String>,
    /// Server host of a standalone Redis without `url` (default `localhost`).
    pub host: String,
    /// Server port of a standalone Redis without `url` (default 6379).
    pub port: u16,
    /// Database number (default 0); standalone and sentinel only, a cluster has database 0.
    pub db: u8,
    /// A Redis Cluster, given by seed nodes; the other nodes are discovered.
    pub cluster: Option<RedisClusterConfig>,
    /// A master and its replicas watched by Redis Sentinel, given by the sentinels.
    pub sentinel: Option<RedisSentinelConfig>,
    /// ACL user of the data nodes, for `host`/`port`, `cluster` and `sentinel` (a `url`
    /// carries its own).
    pub username: Option<String>,
    /// Password of the data nodes, for `host`/`port`, `cluster` and `sentinel` (a `url`
    /// carries its own).
    pub password: Option<String>,
    /// Prefix of every key mq writes (default `mq`), so several deployments or tests can share
    /// one Redis.
    pub key_prefix: String,
    /// Connections in the pool (default 4); on a cluster, each pooled connection reaches
    /// every master.
    pub pool_size: usize,
    /// Bound on establishing a connection, in milliseconds (default 5000).
    pub connect_timeout_ms: u64,
    /// Bound on any one command, in milliseconds (default 5000).
    pub command_timeout_ms: u64,
    /// Replicas that must confirm every write mq acknowledges (publish, delayed and
    /// transactional messages, commits, the hand-over of due delayed messages, redrives)
    /// before it answers (default 0: answer once the master has it). Above 0, each such write
    /// is followed by `WAIT` on the same connection and node (on a cluster, per master); too
    /// few confirmations within `replica_ack_timeout_ms` answer 503.
    pub min_replica_acks: u32,
    /// How long a write waits for `min_replica_acks` confirmations, in milliseconds (default
    /// 1000; less than `command_timeout_ms`).
    pub replica_ack_timeout_ms: u64,
}

/// `message_queue.redis.cluster`: the seed nodes of a Redis Cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisClusterConfig {
    /// `host:port` of one or more nodes (masters or replicas); the client reads the rest of the
    /// cluster from them and follows it as it changes.
    pub nodes: Vec<String>,
    /// Connect with TLS (the `rediss-cluster://` of the URL form).
    pub tls: bool,
}

/// `message_queue.redis.sentinel`: the sentinels that watch mq's master and name it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSentinelConfig {
    /// `host:port` of one or more sentinels (port 26379 by convention).
    pub nodes: Vec<String>,
    /// The name the sentinels monitor the master under (`sentinel monitor <name> …`).
    pub service_name: String,
    /// ACL user of the sentinels, if they require one (the data nodes use `redis.username`).
    pub username: Option<String>,
    /// Password of the sentinels, if they require one (the data nodes use `redis.password`).
    pub password: Option<String>,
    /// Connect with TLS, to the sentinels and the data nodes.
    pub tls: bool,
}

/// Which of the three shapes a [`RedisConfig`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisTopology {
    /// One server (or a managed endpoint that behaves like one).
    Standalone,
    /// Redis Cluster: keys spread over several masters by hash slot.
    Cluster,
    /// One master with replicas, found and followed through Redis Sentinel.
    Sentinel,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            host: "localhost".to_owned(),
            port: 6379,
            db: 0,
            cluster: None,
            sentinel: None,
            username: None,
            password: None,
            key_prefix: "mq".to_owned(),
            pool_size: 4,
            connect_timeout_ms: 5_000,
            command_timeout_ms: 5_000,
            min_replica_acks: 0,
            replica_ack_timeout_ms: 1_000,
        }
    }
}

/// URL schemes by the shape they select.
const URL_SCHEMES: [(&str, RedisTopology); 6] = [
    ("redis://", RedisTopology::Standalone),
    ("rediss://", RedisTopology::Standalone),
    ("redis-cluster://", RedisTopology::Cluster),
    ("rediss-cluster://", RedisTopology::Cluster),
    ("redis-sentinel://", RedisTopology::Sentinel),
    ("rediss-sentinel://", RedisTopology::Sentinel),
];

impl RedisConfig {
    /// The shape this config describes: from the `url` scheme, else from which section is set.
    /// Meaningful once [`validate`](Self::validate) has passed.
    pub fn topology(&self) -> RedisTopology {
        if let Some(url) = &self.url {
            if let Some((_, topology)) = URL_SCHEMES.iter().find(|(s, _)| url.starts_with(s)) {
                return *topology;
            }
        }
        match (&self.cluster, &self.sentinel) {
            (Some(_), _) => RedisTopology::Cluster,
            (None, Some(_)) => RedisTopology::Sentinel,
            (None, None) => RedisTopology::Standalone,
        }
    }

    /// Checks the settings that could not work, naming the key and what it expects.
    pub fn validate(&self) -> RepoResult<()> {
        match (&self.url, &self.cluster, &self.sentinel) {
            (Some(_), Some(_), _) => {
                return Err(invalid(
                    "redis.cluster",
                    "set either redis.url (redis-cluster://…) or the redis.cluster section, \
                     not both",
                ))
            }
            (Some(_), None, Some(_)) => {
                return Err(invalid(
                    "redis.sentinel",
                    "set either redis.url (redis-sentinel://…) or the redis.sentinel section, \
                     not both",
                ))
            }
            (None, Some(_), Some(_)) => {
                return Err(invalid(
                    "redis.sentinel",
                    "redis.cluster and redis.sentinel are two different deployments; set one",
                ))
            }
            _ => {}
        }
        if let Some(url) = &self.url {
            if !URL_SCHEMES.iter().any(|(scheme, _)| url.starts_with(scheme)) {
                return Err(invalid(
                    "redis.url",
                    "must start with redis:// or rediss:// (one server), redis-cluster:// or \
                     rediss-cluster:// (Redis Cluster), redis-sentinel:// or rediss-sentinel:// \
                     (Sentinel)",
                ));
            }
            if self.topology() == RedisTopology::Sentinel && !url.contains("sentinelServiceName=") {
                return Err(invalid(
                    "redis.url",
                    "a redis-sentinel:// URL needs ?sentinelServiceName=<the monitored name>",
                ));
            }
        } else if let Some(cluster) = &self.cluster {
            check_nodes("redis.cluster.nodes", &cluster.nodes)?;
            if self.db != 0 {
                return Err(invalid(
                    "redis.db",
                    "must be 0 with redis.cluster: Redis Cluster has only database 0",
                ));
            }
        } else if let Some(sentinel) = &self.sentinel {
            check_nodes("redis.sentinel.nodes", &sentinel.nodes)?;
            if sentinel.service_name.trim().is_empty() {
                return Err(invalid(
                    "redis.sentinel.service_name",
                    "must name the master the sentinels monitor (`sentinel monitor <name> …`)",
                ));
            }
        } else if self.host.is_empty() {
            return Err(invalid("redis.host", "must not be empty"));
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}']) {
            return Err(invalid("redis.key_prefix", "must be non-empty and without braces"));
        }
        if self.pool_size == 0 {
            return Err(invalid("redis.pool_size", "must be at least 1"));
        }
        if self.connect_timeout_ms == 0 || self.command_timeout_ms == 0 {
            return Err(invalid("redis.*_timeout_ms", "must be greater than 0"));
        }
        if self.min_replica_acks > 0
            && (self.replica_ack_timeout_ms == 0
                || self.replica_ack_timeout_ms >= self.command_timeout_ms)
        {
            return Err(invalid(
                "redis.replica_ack_timeout_ms",
                "must be at least 1 and less than redis.command_timeout_ms when \
                 redis.min_replica_acks is above 0",
            ));
        }
        Ok(())
    }

    /// How long a write waits for replica confirmations, as a duration.
    pub fn replica_ack_timeout(&self) -> Duration {
        Duration::from_millis(self.replica_ack_timeout_ms)
    }

    /// The URL of a standalone server: `url` if set, else one built from host, port and db.
    pub fn connection_url(&self) -> String {
        match &self.url {
            Some(url) => url.clone(),
            None => format!("redis://{}:{}/{}", self.host, self.port, self.db),
        }
    }

    /// The connect bound as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The per-command bound as a duration.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }
}

/// Splits `host:port` (`[v6 address]:port` for IPv6); `None` if it is not of that form.
pub(crate) fn host_port(node: &str) -> Option<(String, u16)> {
    let (host, port) = node.trim().rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
    (!host.is_empty() && !host.contains(['/', '@', '?'])).then(|| (host.to_owned(), port))
}

fn check_nodes(field: &'static str, nodes: &[String]) -> RepoResult<()> {
    if nodes.is_empty() {
        return Err(invalid(field, "expected a list of one or more host:port nodes, got none"));
    }
    match nodes.iter().enumerate().find(|(_, node)| host_port(node).is_none()) {
        Some((i, node)) => Err(RepoError::InvalidConfig {
            field,
            reason: format!("item {i} is {node:?}: expected host:port, e.g. 10.0.0.1:6379"),
        }),
        None => Ok(()),
    }
}

/// How to reach MongoDB (design: `mongodb.{uri, database}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MongoConfig {
    /// Connection string (default `mongodb://localhost:27017`).
    pub uri: String,
    /// Database holding mq's collections (default `mq`).
    pub database: String,
    /// Bound on establishing a connection, in milliseconds (default 5000); the uri's
    /// `connectTimeoutMS`, when it has one, wins.
    pub connect_timeout_ms: u64,
    /// Bound on finding a usable server, in milliseconds (default 5000); the uri's
    /// `serverSelectionTimeoutMS`, when it has one, wins.
    pub server_selection_timeout_ms: u64,
    /// Bound on any one operation, in milliseconds (default 10000).
    pub operation_timeout_ms: u64,
    /// Most connections per MongoDB server (the driver's `maxPoolSize`). Unset: the uri's
    /// `maxPoolSize`, or the driver's default of 10. Every operation borrows one connection
    /// for its round trip, so this bounds concurrent metadata calls (design §9.3).
    pub pool_size: Option<u32>,
}

impl Default for MongoConfig {
    fn default() -> Self {
        Self {
            uri: "mongodb://localhost:27017".to_owned(),
            database: "mq".to_owned(),
            connect_timeout_ms: 5_000,
            server_selection_timeout_ms: 5_000,
            operation_timeout_ms: 10_000,
            pool_size: None,
        }
    }
}

impl MongoConfig {
    /// Checks the settings that could not work.
    pub fn validate(&self) -> RepoResult<()> {
        if !(self.uri.starts_with("mongodb://") || self.uri.starts_with("mongodb+srv://")) {
            return Err(invalid("mongodb.uri", "must start with mongodb:// or mongodb+srv://"));
        }
        // MongoDB's own rules for database names: non-empty, short, none of these characters.
        if self.database.is_empty()
            || self.database.len() > 63
            || self.database.contains(['/', '\\', '.', ' ', '"', '$', '\0'])
        {
            return Err(invalid("mongodb.database", "must be 1-63 characters without /\\. \"$"));
        }
        if self.connect_timeout_ms == 0
            || self.server_selection_timeout_ms == 0
            || self.operation_timeout_ms == 0
        {
            return Err(invalid("mongodb.*_timeout_ms", "must be greater than 0"));
        }
        if self.pool_size == Some(0) {
            return Err(invalid("mongodb.pool_size", "must be at least 1"));
        }
        Ok(())
    }

    /// The per-operation bound as a duration.
    pub fn operation_timeout(&self) -> Duration {
        Duration::from_millis(self.operation_timeout_ms)
    }
}

fn invalid(field: &'static str, reason: &str) -> RepoError {
    RepoError::InvalidConfig { field, reason: reason.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_defaults_match_the_design() {
        let cfg = RedisConfig::default();
        cfg.validate().unwrap();
        assert_eq!(cfg.topology(), RedisTopology::Standalone);
        assert_eq!(cfg.connection_url(), "redis://localhost:6379/0");
        let with_url = RedisConfig { url: Some("redis://h:1/2".into()), ..cfg.clone() };
        assert_eq!(with_url.connection_url(), "redis://h:1/2");
        for bad in [
            RedisConfig { url: Some("http://x".into()), ..cfg.clone() },
            RedisConfig { key_prefix: "a{b".into(), ..cfg.clone() },
            RedisConfig { pool_size: 0, ..cfg.clone() },
            RedisConfig { command_timeout_ms: 0, ..cfg },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    fn cluster(nodes: &[&str]) -> Option<RedisClusterConfig> {
        let nodes = nodes.iter().map(|n| (*n).to_owned()).collect();
        Some(RedisClusterConfig { nodes, tls: false })
    }

    fn sentinel(nodes: &[&str], service_name: &str) -> Option<RedisSentinelConfig> {
        let nodes = nodes.iter().map(|n| (*n).to_owned()).collect();
        Some(RedisSentinelConfig { nodes, service_name: service_name.into(), ..Default::default() })
    }

    /// Each shape is recognised; each mixture or malformed value is refused with a message
    /// naming the key and saying what it expects.
    #[test]
    fn redis_shapes() {
        let base = RedisConfig::default();
        let url = |u: &str| RedisConfig { url: Some(u.into()), ..base.clone() };
        let good = [
            (url("redis://h:1/0"), RedisTopology::Standalone),
            (url("rediss://h:1"), RedisTopology::Standalone),
            (url("redis-cluster://h:7000?node=h:7001"), RedisTopology::Cluster),
            (url("rediss-cluster://h:7000"), RedisTopology::Cluster),
            (url("redis-sentinel://h:26379/0?sentinelServiceName=m"), RedisTopology::Sentinel),
            (
                RedisConfig { cluster: cluster(&["a:1", "[::1]:2"]), ..base.clone() },
                RedisTopology::Cluster,
            ),
            (
                RedisConfig { sentinel: sentinel(&["s:26379"], "m"), ..base.clone() },
                RedisTopology::Sentinel,
            ),
        ];
        for (cfg, topology) in good {
            cfg.validate().unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
            assert_eq!(cfg.topology(), topology, "{cfg:?}");
        }
        let bad = [
            (url("cluster://h:1"), "redis.url", "redis-cluster://"),
            (url("redis-sentinel://h:26379"), "redis.url", "sentinelServiceName"),
            (
                RedisConfig {
                    url: Some("redis://h".into()),
                    cluster: cluster(&["a:1"]),
                    ..base.clone()
                },
                "redis.cluster",
                "not both",
            ),
            (
                RedisConfig {
                    cluster: cluster(&["a:1"]),
                    sentinel: sentinel(&["s:1"], "m"),
                    ..base.clone()
                },
                "redis.sentinel",
                "set one",
            ),
            (
                RedisConfig { cluster: cluster(&[]), ..base.clone() },
                "redis.cluster.nodes",
                "host:port",
            ),
            (
                RedisConfig { cluster: cluster(&["a:1", "b"]), ..base.clone() },
                "redis.cluster.nodes",
                "item 1 is \"b\": expected host:port",
            ),
            (
                RedisConfig { cluster: cluster(&["a:0"]), ..base.clone() },
                "redis.cluster.nodes",
                "item 0",
            ),
            (
                RedisConfig { cluster: cluster(&["a:1"]), db: 3, ..base.clone() },
                "redis.db",
                "database 0",
            ),
            (
                RedisConfig { sentinel: sentinel(&["s:1"], " "), ..base.clone() },
                "redis.sentinel.service_name",
                "monitor",
            ),
            (
                RedisConfig { sentinel: sentinel(&["s"], "m"), ..base.clone() },
                "redis.sentinel.nodes",
                "host:port",
            ),
        ];
        for (cfg, key, says) in bad {
            let error = cfg.validate().expect_err("refused").to_string();
            assert!(error.contains(key) && error.contains(says), "{cfg:?}: {error}");
        }
    }

    #[test]
    fn mongo_config_rules() {
        let cfg = MongoConfig::default();
        cfg.validate().unwrap();
        for bad in [
            MongoConfig { uri: "localhost".into(), ..cfg.clone() },
            MongoConfig { database: "a.b".into(), ..cfg.clone() },
            MongoConfig { database: String::new(), ..cfg.clone() },
            MongoConfig { pool_size: Some(0), ..cfg.clone() },
            MongoConfig { operation_timeout_ms: 0, ..cfg },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
