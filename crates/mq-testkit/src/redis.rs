//! The Redis fixture: an external server, a `redis:7` container, or a spawned `redis-server`,
//! with a key prefix of its own.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use mq_repo::RedisConfig;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use crate::backing::Backing;
use crate::process::{self, ChildServer, Spawn};
use crate::url::{host_and_port, resolve};
use crate::{docker, wire};

/// Bound on a spawned `redis-server` answering `PING`; it usually takes a few milliseconds.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// Bound on pulling and starting the container; a first pull of `redis:7` can be slow.
const CONTAINER_STARTUP: Duration = Duration::from_secs(120);

const HOW_TO_GET_ONE: &str = "set MQTEST_REDIS_URL=redis://127.0.0.1:6379 (a shared server; \
    each fixture gets its own key prefix), or start a Docker engine (testcontainers runs \
    redis:7), or install redis-server (`apt-get install redis-server`, or point \
    MQTEST_REDIS_SERVER at the binary); `bash scripts/test.sh` installs it for you";

const HOW_TO_GET_AN_OWNED_ONE: &str = "start a Docker engine (testcontainers runs redis:7) or \
    install redis-server (`apt-get install redis-server`, or point MQTEST_REDIS_SERVER at the \
    binary); MQTEST_REDIS_URL is not used here because the test stops the server; \
    `bash scripts/test.sh` installs redis-server for you";

/// A Redis server for one test, with a key prefix no other fixture uses.
///
/// Dropping it kills and reaps a spawned server or removes the container; drop it inside the
/// test's Tokio runtime (the usual place), since removing a container is asynchronous.
pub struct RedisServer {
    url: String,
    host: String,
    port: u16,
    key_prefix: String,
    backing: Backing,
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("url", &self.url)
            .field("key_prefix", &self.key_prefix)
            .field("kind", &self.backing.kind())
            .field("backing", &self.backing)
            .finish()
    }
}

impl RedisServer {
    /// A Redis for this test: `MQTEST_REDIS_URL` if set, else a container when a Docker engine
    /// answers, else a `redis-server` spawned for this fixture. Fails, saying how to get a
    /// Redis, when there is none.
    pub async fn start() -> anyhow::Result<RedisServer> {
        if let Some(url) = process::env_value("MQTEST_REDIS_URL") {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                bail!("MQTEST_REDIS_URL={url} must start with redis:// or rediss://");
            }
            let (host, port) = host_and_port(&url, 6379);
            return Ok(Self::new(url, host, port, Backing::External));
        }
        Self::start_owned_or(HOW_TO_GET_ONE).await
    }

    /// A Redis only this fixture uses, which the test may [`stop`](Self::stop): a container or
    /// a spawned `redis-server`, never `MQTEST_REDIS_URL`.
    pub async fn start_owned() -> anyhow::Result<RedisServer> {
        Self::start_owned_or(HOW_TO_GET_AN_OWNED_ONE).await
    }

    async fn start_owned_or(how_to: &str) -> anyhow::Result<RedisServer> {
        let mut docker_error = None;
        if docker::available().await {
            match start_container().await {
                Ok(server) => return Ok(server),
                Err(error) => {
                    // Said on stderr (shown with a failing test's output) so that a broken
                    // Docker set-up is not mistaken for the fallback being intended.
                    eprintln!(
                        "mq-testkit: redis:7 via Docker failed ({error:#}); trying redis-server"
                    );
                    docker_error = Some(error);
                }
            }
        }
        let candidates = [process::find_on_path("redis-server")];
        let Some(program) = process::find_program("MQTEST_REDIS_SERVER", candidates)? else {
            let docker_note = match &docker_error {
                Some(error) => format!(" (the Docker engine answered, but: {error:#})"),
                None => String::new(),
            };
            return Err(anyhow!(
                "no Redis for tests{docker_note}: redis-server is not on PATH; {how_to}"
            ));
        };
        let server = spawn_redis_server(&program)
            .await
            .with_context(|| format!("starting {} for a test (or {how_to})", program.display()))?;
        let port = server.port();
        let url = format!("redis://127.0.0.1:{port}");
        Ok(Self::new(url, "127.0.0.1".to_owned(), port, Backing::Process(server)))
    }

    fn new(url: String, host: String, port: u16, backing: Backing) -> RedisServer {
        let key_prefix = format!("mqtest-{}", process::unique_suffix());
        RedisServer { url, host, port, key_prefix, backing }
    }

    /// Settings for mq's Redis store: this server's URL, this fixture's own key prefix, and
    /// timeouts short enough that a test against a dead server fails in seconds.
    pub fn config(&self) -> RedisConfig {
        RedisConfig {
            url: Some(self.url.clone()),
            key_prefix: self.key_prefix.clone(),
            // Generous: a loaded 2-core CI machine may take seconds to accept; commands stay short.
            connect_timeout_ms: 10_000,
            command_timeout_ms: 2_000,
            ..RedisConfig::default()
        }
    }

    /// The server's `redis://` URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's host name or address, for raw connections.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// This fixture's key prefix (also in [`config`](Self::config)).
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// Whether [`stop`](Self::stop) may be called: false for a shared external server.
    pub fn is_owned(&self) -> bool {
        self.backing.is_owned()
    }

    /// Takes the server away (kills the process or removes the container), for tests of how
    /// mq behaves when Redis is gone. Idempotent.
    ///
    /// # Panics
    ///
    /// On a shared external server, i.e. a fixture from [`start`](Self::start) with
    /// `MQTEST_REDIS_URL` set; use [`start_owned`](Self::start_owned) in such tests.
    pub fn stop(&mut self) {
        self.backing.stop("RedisServer");
    }
}

async fn spawn_redis_server(program: &Path) -> anyhow::Result<ChildServer> {
    let args = |port: u16, dir: &Path| -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            // No persistence: a test server's data dies with it, and no fork for snapshots.
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            // Warnings only, to the log file that start-up errors quote.
            "--loglevel",
            "warning",
            "--logfile",
            "",
            "--dir",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        args.push(dir.as_os_str().to_owned());
        args
    };
    let spec = Spawn { name: "redis-server", program, args: &args, ready_within: READY_WITHIN };
    ChildServer::spawn(&spec, |addr, dir| async move { wire::redis_ready_in(addr, &dir).await })
        .await
}

async fn start_container() -> anyhow::Result<RedisServer> {
    let container = GenericImage::new("redis", "7")
        .with_exposed_port(6379.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
        .with_cmd(["redis-server", "--save", "", "--appendonly", "no"])
        .with_startup_timeout(CONTAINER_STARTUP)
        .start()
        .await
        .context("starting a redis:7 container")?;
    let host = container.get_host().await.context("the container's host")?.to_string();
    let port = container.get_host_port_ipv4(6379.tcp()).await.context("the mapped port")?;
    let server = RedisServer::new(
        format!("redis://{host}:{port}"),
        host,
        port,
        Backing::Container(Some(Box::new(container))),
    );
    check_answers(&server).await?;
    Ok(server)
}

/// Confirms a container's server answers from this side of the port mapping.
async fn check_answers(server: &RedisServer) -> anyhow::Result<()> {
    let addr = resolve(&server.host, server.port).await?;
    tokio::time::timeout(Duration::from_secs(10), wire::redis_ping(addr))
        .await
        .context("the redis:7 container did not answer PING within 10 s")?
        .context("the redis:7 container did not answer PING")
}
