//! Connection settings of the Redis and MongoDB stores, in the design's snake_case config keys.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{RepoError, RepoResult};

/// How to reach Redis (design §9.3 `message_queue.redis`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// A full `redis://` or `rediss://` URL; when set, `host`, `port` and `db` are ignored.
    pub url: Option<String>,
    /// Server host (default `localhost`).
    pub host: String,
    /// Server port (default 6379).
    pub port: u16,
    /// Database number (default 0).
    pub db: u8,
    /// Prefix of every key mq writes (default `mq`), so several deployments or tests can share
    /// one Redis.
    pub key_prefix: String,
    /// Connections in the pool (default 4).
    pub pool_size: usize,
    /// Bound on establishing a connection, in milliseconds (default 5000).
    pub connect_timeout_ms: u64,
    /// Bound on any one command, in milliseconds (default 5000).
    pub command_timeout_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            host: "localhost".to_owned(),
            port: 6379,
            db: 0,
            key_prefix: "mq".to_owned(),
            pool_size: 4,
            connect_timeout_ms: 5_000,
            command_timeout_ms: 5_000,
        }
    }
}

impl RedisConfig {
    /// Checks the settings that could not work.
    pub fn validate(&self) -> RepoResult<()> {
        if let Some(url) = &self.url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(invalid("redis.url", "must start with redis:// or rediss://"));
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
        Ok(())
    }

    /// The URL to connect to: `url` if set, else one built from host, port and db.
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

/// How to reach MongoDB (design: `mongodb.{uri, database}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MongoConfig {
    /// Connection string (default `mongodb://localhost:27017`).
    pub uri: String,
    /// Database holding mq's collections (default `mq`).
    pub database: String,
    /// Bound on establishing a connection, in milliseconds (default 5000).
    pub connect_timeout_ms: u64,
    /// Bound on finding a usable server, in milliseconds (default 5000).
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

fn invalid(field: &'static str, reason: &'static str) -> RepoError {
    RepoError::InvalidConfig { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_defaults_match_the_design() {
        let cfg = RedisConfig::default();
        cfg.validate().unwrap();
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
