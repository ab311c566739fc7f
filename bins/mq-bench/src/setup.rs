//! What the scenarios run against: a Redis (given or spawned), an mq server (given or
//! spawned), library brokers, unique names, and the RSS of spawned processes.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
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
    redis_url: Option<String>,
    server: Option<Spawned>,
    server_url: Option<String>,
}

/// A child process killed and reaped on drop, with its scratch directory.
#[derive(Debug)]
struct Spawned {
    child: Child,
    dir: tempfile::TempDir,
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
        let port = free_port()?;
        let dir = tempfile::tempdir()?;
        let binary =
            std::env::var("MQBENCH_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
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
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("cannot start {binary} (install Redis, or pass --redis-url)")
            })?;
        self.redis = Some(Spawned { child, dir });
        let url = format!("redis://127.0.0.1:{port}/0");
        wait_for_port(port).await.context("the spawned redis-server did not open its port")?;
        self.redis_url = Some(url.clone());
        Ok(url)
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
        let mut queue = MessageQueueConfig::default();
        queue.alerts.enabled = false;
        if self.options.provider == Provider::Redis {
            queue.provider = LogProvider::RedisStreams;
            queue.redis = self.redis_config().await?;
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
        let server = Spawned { child, dir };
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
