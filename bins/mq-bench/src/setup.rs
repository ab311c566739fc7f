//! What the scenarios run against: a Redis (given or spawned, with a replica when a scenario
//! needs one), an mq server (given or spawned), library brokers, unique names, and the RSS of
//! spawned processes.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fred::interfaces::ServerInterface as _;
use fred::prelude::{Builder, ClientLike, Config};
use fred::types::InfoKind;
use mq_broker::{Broker, BrokerConfig, MessageQueueConfig};
use mq_client::Client;
use mq_repo::{LogProvider, RedisConfig};

use crate::options::{Options, Provider};

/// How long a spawned redis-server or mq-server may take to answer.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The shared state of one invocation.
#[derive(Debug)]
pub struct Env {
    pub options: Options,
    /// Prefix of every topic and Redis key of this invocation, so runs against a shared
    /// server or Redis never meet each other's data.
    run_id: String,
    seq: AtomicU32,
    redis: Option<Spawned>,
    /// The replica of `redis`, once a scenario asked for one.
    redis_replica: Option<Spawned>,
    redis_url: Option<String>,
    server: Option<Spawned>,
    server_url: Option<String>,
}

/// A child process killed and reaped on drop, with its scratch directory and its port.
#[derive(Debug)]
struct Spawned {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Best effort: the process may already have exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Env {
    pub fn new(options: Options) -> Env {
        let run_id = format!("bench{}", chrono::Utc::now().format("%H%M%S%3f"));
        Env {
            redis_url: options.redis_url.clone(),
            server_url: options.url.clone(),
            options,
            run_id,
            seq: AtomicU32::new(0),
            redis: None,
            redis_replica: None,
            server: None,
        }
    }

    /// A name used once in this invocation: `<run id>-<what>-<n>`.
    pub fn name(&self, what: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{}-{what}-{n}", self.run_id)
    }

    /// The Redis to use, spawning a redis-server the first time if none was given.
    pub async fn redis_url(&mut self) -> anyhow::Result<String> {
        if let Some(url) = &self.redis_url {
            return Ok(url.clone());
        }
        let redis = spawn_redis(&[]).await?;
        let url = format!("redis://127.0.0.1:{}/0", redis.port);
        self.redis = Some(redis);
        self.redis_url = Some(url.clone());
        Ok(url)
    }

    /// Gives the redis-server mq-bench spawned a replica, once, and returns when the replica
    /// has caught up. A Redis given with `--redis-url` is left as it is: it must have replicas
    /// of its own. Only scenarios that wait for replicas ask, since feeding a replica costs its
    /// master on every write and would move the other scenarios' figures.
    pub async fn redis_replica(&mut self) -> anyhow::Result<()> {
        self.redis_url().await?;
        let Some(master) = &self.redis else {
            return Ok(());
        };
        if self.redis_replica.is_some() {
            return Ok(());
        }
        let master_port = master.port.to_string();
        // The first sync diskless and without the default wait for more replicas to join it,
        // so that the replica is ready at once.
        let replica = spawn_redis(&[
            "--replicaof",
            "127.0.0.1",
            &master_port,
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
        ])
        .await?;
        wait_replicated(master.port, replica.port).await?;
        self.redis_replica = Some(replica);
        Ok(())
    }

    /// The pid of the mq-server mq-bench started, if it did.
    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(|s| s.child.id())
    }

    /// The Redis config of a library broker or server: the URL and a fresh key prefix.
    async fn redis_config(&mut self) -> anyhow::Result<RedisConfig> {
        let url = self.redis_url().await?;
        Ok(RedisConfig { url: Some(url), key_prefix: self.name("mq"), ..RedisConfig::default() })
    }

    /// A broker in this process over the chosen provider, metadata in memory, background
    /// tasks running (alerts off: nothing here watches them). Shut it down when done.
    pub async fn broker(&mut self) -> anyhow::Result<Broker> {
        self.broker_with_replica_acks(0).await
    }

    /// Like [`broker`](Self::broker), with `redis.min_replica_acks` set: every write it
    /// acknowledges waits until that many replicas confirm it (no effect on memory).
    pub async fn broker_with_replica_acks(
        &mut self,
        min_replica_acks: u32,
    ) -> anyhow::Result<Broker> {
        let mut queue = MessageQueueConfig::default();
        queue.alerts.enabled = false;
        if self.options.provider == Provider::Redis {
            queue.provider = LogProvider::RedisStreams;
            queue.redis = RedisConfig { min_replica_acks, ..self.redis_config().await? };
        }
        let config = BrokerConfig { message_queue: queue, ..BrokerConfig::default() };
        Broker::open(&config).await.context("cannot open the broker")
    }

    /// An HTTP client of the server, starting the server the first time if no `--url` was
    /// given. Not retrying: a benchmark counts what happened.
    pub async fn client(&mut self) -> anyhow::Result<Client> {
        let url = match &self.server_url {
            Some(url) => url.clone(),
            None => self.start_server().await?,
        };
        Ok(Client::builder(url).retries(0).timeout(Duration::from_secs(60)).build()?)
    }

    /// Like [`client`](Self::client), but a server mq-bench starts is replaced by a fresh one
    /// first, so that what earlier scenarios left in its memory does not count.
    pub async fn fresh_client(&mut self) -> anyhow::Result<Client> {
        if self.server.take().is_some() {
            self.server_url = None;
        }
        self.client().await
    }

    async fn start_server(&mut self) -> anyhow::Result<String> {
        let binary = match &self.options.server_bin {
            Some(path) => path.clone(),
            None => next_to_me("mq-server")?,
        };
        let port = free_port()?;
        let dir = tempfile::tempdir()?;
        let (provider, redis) = match self.options.provider {
            Provider::Memory => ("memory", String::new()),
            Provider::Redis => {
                let redis = self.redis_config().await?;
                let url = redis.url.unwrap_or_default();
                (
                    "redis_streams",
                    format!(
                        "  redis:\n    url: \"{url}\"\n    key_prefix: \"{}\"\n",
                        redis.key_prefix
                    ),
                )
            }
        };
        // Rate limits off: they exist to protect a server from clients, and the load here is
        // the point. Alerts off: nothing watches them.
        let config = format!(
            "server:\n  bind: \"127.0.0.1:{port}\"\n  shutdown_timeout_secs: 1\nlog:\n  level: warn\n\
             message_queue:\n  provider: {provider}\n{redis}  alerts:\n    enabled: false\n\
             security:\n  rate_limit:\n    enabled: false\n"
        );
        let config_path = dir.path().join("mq-bench.yaml");
        std::fs::write(&config_path, config)?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut command = Command::new(&binary);
        command.arg("--config").arg(&config_path);
        // The config file is the whole truth: MQ_* variables of this shell would change it.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MQ_") {
                command.env_remove(name);
            }
        }
        let child = command.stdout(Stdio::null()).stderr(log).spawn().with_context(|| {
            format!("cannot start {} (build it, or pass --server-bin or --url)", binary.display())
        })?;
        let server = Spawned { child, dir, port };
        let url = format!("http://127.0.0.1:{port}");
        let client = Client::builder(url.clone()).retries(0).build()?;
        let started = Instant::now();
        loop {
            if client.list_topics(&mq_client::TopicQuery::default()).await.is_ok() {
                break;
            }
            if started.elapsed() > READY_WITHIN {
                let log = std::fs::read_to_string(server.dir.path().join("server.log"))
                    .unwrap_or_default();
                bail!("mq-server did not answer within {READY_WITHIN:?}; its log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.server = Some(server);
        self.server_url = Some(url.clone());
        Ok(url)
    }

    /// Stops what mq-bench started.
    pub async fn stop(&mut self) {
        self.server = None;
        self.redis_replica = None;
        self.redis = None;
    }
}

/// The resident set of a process, in MiB (VmRSS of /proc/<pid>/status).
pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")?;
    Ok(kib as f64 / 1024.0)
}

/// A binary in the same directory as this one (cargo puts all of a workspace's there).
fn next_to_me(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("the executable has no directory")?;
    // Test binaries live one level down, in deps/.
    for candidate in [dir.join(name), dir.join("..").join(name)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no {name} next to {} (build it: cargo build --release -p {name}; or pass --server-bin)",
        me.display()
    )
}

/// A redis-server on a free loopback port, persisting nothing, with `extra` arguments; returned
/// once its port is open.
async fn spawn_redis(extra: &[&str]) -> anyhow::Result<Spawned> {
    let port = free_port()?;
    let dir = tempfile::tempdir()?;
    let binary = std::env::var("MQBENCH_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let child = Command::new(&binary)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(extra)
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {binary} (install Redis, or pass --redis-url)"))?;
    // Killed on drop if its port never opens.
    let redis = Spawned { child, dir, port };
    wait_for_port(port).await.context("the spawned redis-server did not open its port")?;
    Ok(redis)
}

/// How long a replica's first full sync may take: after `all`'s other scenarios the master
/// may hold what they left (idempotency keys expire only after their window) and share two
/// cores with the replica loading it.
const REPLICA_SYNC_WITHIN: Duration = Duration::from_secs(300);

/// Waits until the master on `master` counts one connected replica and the replica on
/// `replica` reports its link up, i.e. has loaded the master's data and follows its stream.
async fn wait_replicated(master: u16, replica: u16) -> anyhow::Result<()> {
    let connect = |port: u16| async move {
        let client = Builder::from_config(Config::from_url(&format!("redis://127.0.0.1:{port}"))?)
            .build()?;
        client.init().await?;
        anyhow::Ok(client)
    };
    let (to_master, to_replica) = (connect(master).await?, connect(replica).await?);
    let has_line = |info: &str, wanted: &str| info.lines().any(|l| l.trim() == wanted);
    let started = Instant::now();
    loop {
        let on_master: String = to_master.info(Some(InfoKind::Replication)).await?;
        let on_replica: String = to_replica.info(Some(InfoKind::Replication)).await?;
        if has_line(&on_master, "connected_slaves:1")
            && has_line(&on_replica, "master_link_status:up")
        {
            break;
        }
        if started.elapsed() > REPLICA_SYNC_WITHIN {
            let keys: u64 = to_master.dbsize().await?;
            bail!(
                "the spawned replica did not catch up within {REPLICA_SYNC_WITHIN:?} ({keys} \
                 keys to copy); master:\n{on_master}\nreplica:\n{on_replica}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    to_master.quit().await?;
    to_replica.quit().await?;
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let started = Instant::now();
    while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.is_err() {
        if started.elapsed() > READY_WITHIN {
            bail!("nothing listens on port {port} after {READY_WITHIN:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
