//! The server's configuration: one YAML shape for every section, layered by figment from the
//! embedded `config/default.yaml`, an optional `--config` file and `MQ_*` environment variables.
//!
//! Every section rejects unknown keys, so a misspelt key stops the server at start-up instead of
//! being silently ignored. The sections owned by libraries (`message_queue`, `metadata`,
//! `mongodb`) are their own config types; this module only adds `server` and `log` and puts them
//! side by side as plain fields (serde's `flatten` would defeat `deny_unknown_fields`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use figment::providers::{Env, Format as _, Yaml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The embedded default: compiled into the binary so that it starts the same from any directory.
pub const DEFAULT_YAML: &str = include_str!("../../../config/default.yaml");

/// Prefix of the environment variables that override the files; `__` separates nested keys, as
/// in `MQ_SERVER__BIND=0.0.0.0:9000` or `MQ_MESSAGE_QUEUE__REDIS__HOST=redis`.
const ENV_PREFIX: &str = "MQ_";

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// Where and how long messages are kept (design §9.3).
    pub message_queue: mq_broker::MessageQueueConfig,
    /// Where topics, groups and consumers are kept.
    pub metadata: mq_broker::MetadataConfig,
    /// How to reach MongoDB when `metadata.provider` is `mongodb`.
    pub mongodb: mq_repo::MongoConfig,
    /// Who may call the API: tokens, anonymous access, `/metrics` (design §7.1).
    pub auth: mq_api::AuthConfig,
    /// Address allow-list, trusted proxies, rate limits, audit retention (design §7).
    pub security: mq_api::SecurityConfig,
    /// The web console at `/console/`.
    pub console: mq_api::ConsoleConfig,
}

/// The HTTP server (`server.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `host:port` to listen on (default `127.0.0.1:8080`; `0.0.0.0:8080` in a container).
    pub bind: String,
    /// HTTP worker threads; 0 means one per CPU core (default 0).
    pub workers: usize,
    /// How long in-flight requests may take to finish after SIGINT/SIGTERM, in seconds
    /// (default 30); requests still running then are dropped.
    pub shutdown_timeout_secs: u64,
    /// Largest JSON request body accepted; larger bodies get 413 (default: mq-api's).
    pub json_limit_bytes: usize,
    /// How deeply arrays and objects may nest in a message value (default 64, at most 100).
    pub max_value_depth: usize,
    /// Long polls and message streams open at once (default 512); more get 503 + Retry-After.
    pub max_long_polls: usize,
    /// https instead of plain HTTP, optionally with client certificates (design §7.3).
    pub tls: TlsConfig,
}

/// TLS of the listener (`server.tls.*`, design §7.3). The files are read and checked at
/// start-up; a missing, unreadable or invalid one stops the server with the key's name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Serve https on `server.bind` instead of plain HTTP (default false: plain HTTP, for
    /// development on loopback).
    pub enabled: bool,
    /// PEM file with the server's certificate chain, leaf first; required when enabled.
    pub cert_path: Option<PathBuf>,
    /// PEM file with the private key of that certificate (PKCS#8, PKCS#1 or SEC1); required
    /// when enabled.
    pub key_path: Option<PathBuf>,
    /// PEM file of CA certificates. When set, every client must present a certificate signed
    /// by one of them (mutual TLS); unset, no client certificate is asked for.
    pub client_ca_path: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            workers: 0,
            shutdown_timeout_secs: 30,
            json_limit_bytes: mq_api::DEFAULT_JSON_LIMIT_BYTES,
            max_value_depth: mq_api::DEFAULT_MAX_VALUE_DEPTH,
            max_long_polls: mq_api::DEFAULT_MAX_LONG_POLLS,
            tls: TlsConfig::default(),
        }
    }
}

/// Logging (`log.*`, design §9.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `info,mq_broker=debug` (default `info`); the
    /// `RUST_LOG` variable, when set, replaces it.
    pub level: String,
    /// Line format on stderr and in the files (default `pretty`).
    pub format: LogFormat,
    /// When set, logs also go to daily-rotated files `mq-server.<date>.log` in this directory,
    /// of which the newest 7 are kept (default: unset, stderr only).
    pub dir: Option<PathBuf>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: LogFormat::Pretty, dir: None }
    }
}

/// How log lines look (`log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One human-readable line per event, coloured when stderr is a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Config {
    /// Layers the embedded default, then `file` if given, then `MQ_*` variables, and validates
    /// the result. Errors name the offending key and where it came from.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Yaml::string(DEFAULT_YAML));
        if let Some(file) = file {
            // figment skips a missing file silently; a file named on the command line must exist.
            if !file.is_file() {
                bail!("config file {} does not exist or is not a file", file.display());
            }
            figment = figment.merge(Yaml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let config: Self = figment.extract().map_err(|err| {
            // One figment error can carry several; show them all at once.
            let all: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
            anyhow::anyhow!("invalid configuration: {}", all.join("; "))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every section, so that a setting that could not work stops the server at start-up.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.server.validate()?;
        self.api().validate().context("invalid configuration in section server")?;
        self.check_exposure()?;
        self.log.validate()?;
        self.broker().validate().context("invalid configuration")?;
        // The broker checks a store's settings only when that store is in use; a bad value in
        // an unused section is still a mistake worth reporting before someone switches to it.
        self.message_queue.redis.validate().context("invalid configuration")?;
        self.mongodb.validate().context("invalid configuration")?;
        Ok(())
    }

    /// The broker's part of the configuration.
    pub fn broker(&self) -> mq_broker::BrokerConfig {
        mq_broker::BrokerConfig {
            message_queue: self.message_queue.clone(),
            metadata: self.metadata.clone(),
            mongodb: self.mongodb.clone(),
        }
    }

    /// The REST API's part of the configuration.
    pub fn api(&self) -> mq_api::ApiConfig {
        mq_api::ApiConfig {
            json_limit_bytes: self.server.json_limit_bytes,
            max_value_depth: self.server.max_value_depth,
            max_long_polls: self.server.max_long_polls,
            auth: self.auth.clone(),
            security: self.security.clone(),
            console: self.console.clone(),
        }
    }
}

impl Config {
    /// Protected mode at start-up: a server listening beyond loopback with no token and
    /// without `auth.allow_anonymous: true` would serve nobody (every remote client gets 403),
    /// which is a misconfiguration, so it refuses to start and says what to set.
    fn check_exposure(&self) -> anyhow::Result<()> {
        let host = self.server.bind.rsplit_once(':').map_or("", |(host, _)| host);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host == "localhost"
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback && self.auth.tokens.is_empty() && !self.auth.allow_anonymous {
            bail!(
                "invalid configuration: server.bind {} is reachable beyond loopback but auth.tokens \
                 is empty; configure auth.tokens (see README, Security), or set \
                 auth.allow_anonymous: true to serve every client without a token",
                self.server.bind
            );
        }
        Ok(())
    }

    /// Warnings to log at start-up.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.auth.allow_anonymous && self.auth.tokens.is_empty() {
            out.push(
                "auth.allow_anonymous is true: every client that can reach the server is served \
                 as admin, without a token"
                    .to_owned(),
            );
        }
        out
    }
}

impl ServerConfig {
    fn validate(&self) -> anyhow::Result<()> {
        // Host names are resolved when binding; here only the shape is checked, so that a
        // forgotten port is reported as a config error rather than as a resolver failure.
        let port =
            self.bind.rsplit_once(':').map(|(host, port)| (host.is_empty(), port.parse::<u16>()));
        if !matches!(port, Some((false, Ok(_)))) {
            bail!("invalid configuration: server.bind must be host:port, got {:?}", self.bind);
        }
        // The files themselves are read when the listener is set up (`tls::server_config`).
        if self.tls.enabled {
            for (key, path) in
                [("cert_path", &self.tls.cert_path), ("key_path", &self.tls.key_path)]
            {
                if path.is_none() {
                    bail!(
                        "invalid configuration: server.tls.{key} must be set when \
                         server.tls.enabled is true"
                    );
                }
            }
        }
        Ok(())
    }
}

impl LogConfig {
    fn validate(&self) -> anyhow::Result<()> {
        tracing_subscriber::EnvFilter::try_new(&self.level)
            .with_context(|| format!("invalid configuration: log.level {:?}", self.level))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use figment::providers::Serialized;
    use figment::value::{Dict, Value};
    use figment::{Jail, Provider as _};
    use mq_repo::{LogProvider, MetadataProvider};

    use super::*;

    /// Runs `f` in a scratch directory with an environment free of `MQ_*` variables.
    // `Jail` fixes the closure's error type to `figment::Error`, which is large; not ours to box.
    #[allow(clippy::result_large_err)]
    fn jail(f: impl FnOnce(&mut Jail) -> anyhow::Result<()>) {
        Jail::expect_with(|jail| {
            jail.clear_env();
            f(jail).map_err(|err| figment::Error::from(format!("{err:#}")))
        });
    }

    /// The production example shipped next to the default.
    const EXAMPLE_YAML: &str = include_str!("../../../config/redis-mongo.yaml");

    /// Dotted paths of every leaf in a figment dictionary.
    fn leaf_keys(dict: &Dict, prefix: &str, out: &mut BTreeSet<String>) {
        for (key, value) in dict {
            let path = format!("{prefix}{key}");
            match value {
                Value::Dict(_, inner) => leaf_keys(inner, &format!("{path}."), out),
                _ => {
                    out.insert(path);
                }
            }
        }
    }

    fn keys_of(figment: Figment) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        let data = figment.data().unwrap();
        leaf_keys(&data[&figment::Profile::Default], "", &mut keys);
        keys
    }

    #[test]
    fn embedded_default_is_the_default_config() {
        jail(|_| {
            assert_eq!(Config::load(None)?, Config::default());
            Ok(())
        });
    }

    /// `config/default.yaml` is the config reference: it lists every key, except the optional
    /// ones without a default, which it shows commented out.
    #[test]
    fn embedded_default_lists_every_key() {
        let listed = keys_of(Figment::from(Yaml::string(DEFAULT_YAML)));
        let all = keys_of(Figment::from(Serialized::defaults(Config::default())));
        let optional = [
            "console.assets_dir",
            "log.dir",
            "message_queue.redis.url",
            "message_queue.redis.cluster",
            "message_queue.redis.sentinel",
            "message_queue.redis.username",
            "message_queue.redis.password",
            "mongodb.pool_size",
            "server.tls.cert_path",
            "server.tls.key_path",
            "server.tls.client_ca_path",
        ];
        let unlisted: Vec<_> =
            all.difference(&listed).filter(|k| !optional.contains(&k.as_str())).collect();
        assert!(unlisted.is_empty(), "config/default.yaml does not list {unlisted:?}");
        for key in optional {
            let leaf = key.rsplit('.').next().unwrap();
            assert!(
                DEFAULT_YAML.contains(&format!("# {leaf}:")),
                "default.yaml should show `# {leaf}:`"
            );
        }
    }

    #[test]
    fn production_example_loads() {
        jail(|jail| {
            jail.create_file("redis-mongo.yaml", EXAMPLE_YAML)?;
            let config = Config::load(Some(Path::new("redis-mongo.yaml")))?;
            assert_eq!(config.message_queue.provider, LogProvider::RedisStreams);
            assert_eq!(config.auth.tokens.len(), 1, "beyond loopback, with a token");
            assert_eq!(config.metadata.provider, MetadataProvider::Mongodb);
            Ok(())
        });
    }

    #[test]
    fn file_then_environment_override_the_default() {
        jail(|jail| {
            jail.create_file(
                "mq.yaml",
                "server:\n  bind: 0.0.0.0:8081\n  workers: 2\nlog:\n  format: json\n",
            )?;
            jail.set_env("MQ_SERVER__BIND", "0.0.0.0:9000");
            // Beyond loopback without tokens the server refuses to start, unless told.
            jail.set_env("MQ_AUTH__ALLOW_ANONYMOUS", "true");
            jail.set_env("MQ_MESSAGE_QUEUE__PROVIDER", "redis_streams");
            jail.set_env("MQ_MESSAGE_QUEUE__REDIS__PORT", "6380");
            jail.set_env("MQ_MONGODB__DATABASE", "orders");
            jail.set_env("MQ_LOG__DIR", "/var/log/mq");
            let config = Config::load(Some(Path::new("mq.yaml")))?;
            assert_eq!(config.server.bind, "0.0.0.0:9000"); // env beats the file
            assert_eq!(config.server.workers, 2); // the file beats the default
            assert_eq!(config.log.format, LogFormat::Json);
            assert_eq!(config.log.dir.as_deref(), Some(Path::new("/var/log/mq")));
            assert_eq!(config.message_queue.provider, LogProvider::RedisStreams);
            assert_eq!(config.message_queue.redis.port, 6380);
            assert_eq!(config.mongodb.database, "orders");
            assert_eq!(config.server.shutdown_timeout_secs, 30); // untouched keys keep defaults
            Ok(())
        });
    }

    /// The cluster and sentinel shapes load from a file and from the environment (a list in
    /// brackets).
    #[test]
    fn redis_cluster_and_sentinel_shapes_load() {
        jail(|jail| {
            jail.set_env("MQ_MESSAGE_QUEUE__PROVIDER", "redis_streams");
            jail.set_env(
                "MQ_MESSAGE_QUEUE__REDIS__CLUSTER__NODES",
                "[10.0.0.1:7000, 10.0.0.2:7000]",
            );
            let config = Config::load(None)?;
            let cluster = config.message_queue.redis.cluster.clone().expect("a cluster section");
            assert_eq!(cluster.nodes, ["10.0.0.1:7000", "10.0.0.2:7000"]);
            assert_eq!(config.message_queue.redis.topology(), mq_repo::RedisTopology::Cluster);
            Ok(())
        });
        jail(|jail| {
            jail.create_file(
                "mq.yaml",
                "message_queue:\n  provider: redis_streams\n  redis:\n    sentinel:\n      \
                 nodes: [s1:26379, s2:26379]\n      service_name: mymaster\n",
            )?;
            let config = Config::load(Some(Path::new("mq.yaml")))?;
            assert_eq!(config.message_queue.redis.topology(), mq_repo::RedisTopology::Sentinel);
            Ok(())
        });
    }

    /// Each row: a config file (or none), environment variables, and a piece of the error.
    #[test]
    fn bad_configs_fail_at_start_up_naming_the_key() {
        let check = |file: Option<&str>, env: &[(&str, &str)], expected: &str| {
            jail(|jail| {
                if let Some(file) = file {
                    jail.create_file("mq.yaml", file)?;
                }
                for (key, value) in env {
                    jail.set_env(key, value);
                }
                let err = Config::load(file.map(|_| Path::new("mq.yaml"))).unwrap_err();
                // Keys from the environment are reported as written there, in capitals.
                let text = format!("{err:#}");
                assert!(text.to_lowercase().contains(expected), "expected {expected:?} in: {text}");
                Ok(())
            })
        };
        // Unknown keys, in every section and from every source.
        check(Some("server:\n  bnd: 0.0.0.0:1\n"), &[], "bnd");
        check(Some("server:\n  bnd: 0.0.0.0:1\n"), &[], "server.bnd");
        check(Some("colour: blue\n"), &[], "colour");
        check(Some("log:\n  levle: debug\n"), &[], "levle");
        check(Some("message_queue:\n  retention_days: 7\n"), &[], "retention_days");
        check(Some("message_queue:\n  redis:\n    hots: r\n"), &[], "hots");
        check(Some("metadata:\n  uri: x\n"), &[], "uri");
        check(Some("mongodb:\n  url: mongodb://x\n"), &[], "url");
        check(None, &[("MQ_SERVER__BND", "0.0.0.0:1")], "bnd");
        check(None, &[("MQ_SERVER_BIND", "0.0.0.0:1")], "server_bind");
        // Values of the wrong type or out of range.
        check(Some("message_queue:\n  provider: kafka\n"), &[], "kafka");
        check(Some("log:\n  format: xml\n"), &[], "xml");
        check(None, &[("MQ_SERVER__WORKERS", "many")], "workers");
        check(None, &[("MQ_SERVER__BIND", "localhost")], "server.bind");
        check(
            None,
            &[("MQ_SERVER__JSON_LIMIT_BYTES", "0")],
            "server: invalid config json_limit_bytes",
        );
        check(None, &[("MQ_LOG__LEVEL", "info,=[")], "log.level");
        check(Some("server:\n  tls:\n    enable: true\n"), &[], "enable");
        check(None, &[("MQ_SERVER__TLS__ENABLED", "true")], "server.tls.cert_path");
        check(
            None,
            &[("MQ_SERVER__TLS__ENABLED", "true"), ("MQ_SERVER__TLS__CERT_PATH", "c.pem")],
            "server.tls.key_path",
        );
        check(None, &[("MQ_MONGODB__URI", "localhost:27017")], "mongodb.uri");
        check(None, &[("MQ_MESSAGE_QUEUE__REDIS__URL", "http://x")], "redis.url");
        // A wrong shape names the key and what it expected.
        let redis =
            |yaml: &str| format!("message_queue:\n  provider: redis_streams\n  redis:\n{yaml}");
        check(Some(&redis("    cluster: 10.0.0.1:7000\n")), &[], "cluster");
        check(Some(&redis("    cluster:\n      nodes: [a]\n")), &[], "redis.cluster.nodes");
        check(Some(&redis("    cluster:\n      seeds: [a:1]\n")), &[], "seeds");
        check(Some(&redis("    sentinel:\n      nodes: [a:1]\n")), &[], "service_name");
        check(
            Some(&redis("    url: redis://h:1\n    cluster:\n      nodes: [a:1]\n")),
            &[],
            "not both",
        );
        check(
            None,
            &[
                ("MQ_MESSAGE_QUEUE__PROVIDER", "redis_streams"),
                ("MQ_MESSAGE_QUEUE__REDIS__URL", "redis-sentinel://h:1"),
            ],
            "sentinelservicename",
        );
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        jail(|_| {
            let err = Config::load(Some(Path::new("nowhere.yaml"))).unwrap_err();
            assert!(format!("{err:#}").contains("nowhere.yaml"), "{err:#}");
            Ok(())
        });
    }
}

#[cfg(test)]
mod exposure_tests {
    use super::*;

    #[test]
    fn beyond_loopback_needs_tokens_or_an_explicit_anonymous() {
        let mut config = Config::default();
        assert!(config.validate().is_ok(), "loopback without tokens is protected mode");
        config.server.bind = "0.0.0.0:8080".into();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("auth.tokens") && error.contains("allow_anonymous"), "{error}");
        config.auth.allow_anonymous = true;
        assert!(config.validate().is_ok());
        assert_eq!(config.warnings().len(), 1, "allow_anonymous is warned about");
        config.server.bind = "[::1]:8080".into();
        config.auth.allow_anonymous = false;
        assert!(config.validate().is_ok(), "IPv6 loopback");
    }
}
