//! The server under test: the real `mq-server` binary, built if needed, started on a free port
//! with a generated YAML config (memory stores, or Redis + a MongoDB-wire server from
//! `mq-testkit`), waited for until `/readyz` answers, stopped with SIGTERM and killed on drop.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use mq_testkit::{MongoServer, RedisCluster, RedisServer};
use mq_tests::RedisBacking;
use tempfile::TempDir;

use crate::client::Api;

/// Bound on the server answering `GET /readyz` 200 after it was spawned.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// Bound on a graceful exit after SIGTERM.
pub const EXIT_WITHIN: Duration = Duration::from_secs(20);

/// Largest JSON body the server accepts in these tests (`server.json_limit_bytes`); small, so
/// that the 413 for an oversized body is cheap to provoke, yet room for a batch of 1000 small
/// delayed messages (about 80 bytes each).
pub const JSON_LIMIT_BYTES: usize = 262_144;

/// Attempts when the server exits at start-up because another process took the free port
/// between our probe bind and the server's own bind.
const PORT_ATTEMPTS: usize = 3;

/// How much of each server log goes into a failure message.
const LOG_TAIL_BYTES: usize = 6_000;

/// The longest delay the server under test accepts (`message_queue.delay.max_delay_secs`):
/// an hour, so the e2e tests see the configured limit rather than the 30-day default.
pub const MAX_DELAY_SECS: u64 = 3_600;

/// How far in the past a `deliverAt` may lie (`message_queue.delay.past_tolerance_ms`).
pub const PAST_TOLERANCE_MS: u64 = 1_000;

/// The package, and binary, under test.
const SERVER_PACKAGE: &str = "mq-server";

/// Which stores the server is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `message_queue.provider: memory`, `metadata.provider: memory`.
    Memory,
    /// `message_queue.provider: redis_streams` and `metadata.provider: mongodb`, on fixtures
    /// of this test's own.
    RedisMongo,
    /// As `RedisMongo`, with the messages on a Redis Cluster (`redis-cluster://` URL).
    ClusterMongo,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Memory => "memory",
            Backend::RedisMongo => "redis+mongodb",
            Backend::ClusterMongo => "redis-cluster+mongodb",
        })
    }
}

/// The addresses of a Redis key prefix and a MongoDB database that servers share.
#[derive(Debug, Clone)]
struct SharedStores {
    redis_url: String,
    key_prefix: String,
    mongo_uri: String,
    database: String,
}

/// How [`TestServer::start_with`] differs from a default start.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// YAML added to the `server:` section, every line indented by two spaces, such as
    /// `"  tls:\n    enabled: true\n"`.
    pub server_yaml: String,
    /// For a server that speaks https: a client that trusts its certificate (and presents a
    /// client certificate when the server asks for one), used to wait for `GET /readyz`.
    pub https: Option<reqwest::Client>,
    /// Top-level YAML sections added at the end (`auth:`, `security:`).
    pub top_yaml: String,
    /// YAML added to the `message_queue.redis:` section of a server on Redis, every line
    /// indented by four spaces, such as `"    min_replica_acks: 1\n"`.
    pub redis_yaml: String,
}

/// A running `mq-server` and, for [`Backend::RedisMongo`], the Redis and MongoDB it uses.
///
/// Dropping it kills the server (SIGKILL) and then the fixtures. When the test is panicking,
/// the server's log tail is printed first, so that a failing test shows what the server said.
pub struct TestServer {
    backend: Backend,
    port: u16,
    config_path: PathBuf,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    child: Option<Child>,
    starts: u32,
    /// Set when a panic message already carries the logs, so `Drop` does not repeat them.
    logs_shown: bool,
    api: Api,
    /// Extra settings of [`TestServer::start_with`].
    options: StartOptions,
    /// Where a Redis + MongoDB server keeps its data; copied by [`TestServer::start_sharing`].
    stores: Option<SharedStores>,
    // Dropped after the child is killed (see `Drop`), so neither the stores nor the log
    // files vanish under a running server; only held, never read.
    _redis: Option<RedisBacking>,
    mongo: Option<MongoServer>,
    dir: TempDir,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("backend", &self.backend)
            .field("port", &self.port)
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl TestServer {
    /// Builds `mq-server` if needed, starts the fixtures of `backend`, writes the config and
    /// starts the server, returning once `GET /readyz` answers 200. Panics with the server's
    /// log when it does not.
    pub async fn start(backend: Backend) -> TestServer {
        let redis = match backend {
            Backend::Memory => None,
            Backend::RedisMongo => Some(RedisBacking::Server(
                RedisServer::start()
                    .await
                    .unwrap_or_else(|e| panic!("a Redis for the e2e test: {e:#}")),
            )),
            Backend::ClusterMongo => Some(RedisBacking::Cluster(
                RedisCluster::start()
                    .await
                    .unwrap_or_else(|e| panic!("a Redis Cluster for the e2e test: {e:#}")),
            )),
        };
        let mongo = match backend {
            Backend::Memory => None,
            Backend::RedisMongo | Backend::ClusterMongo => Some(
                MongoServer::start()
                    .await
                    .unwrap_or_else(|e| panic!("a MongoDB-wire server for the e2e test: {e:#}")),
            ),
        };
        let stores = match (&redis, &mongo) {
            (Some(redis), Some(mongo)) => {
                let (redis_url, key_prefix) = match redis {
                    RedisBacking::Server(r) => (r.url().to_owned(), r.key_prefix().to_owned()),
                    RedisBacking::Cluster(c) => (c.url(), c.key_prefix().to_owned()),
                };
                Some(SharedStores {
                    redis_url,
                    key_prefix,
                    mongo_uri: mongo.uri().to_owned(),
                    database: mongo.database().to_owned(),
                })
            }
            _ => None,
        };
        TestServer::launch(backend, stores, redis, mongo, StartOptions::default()).await
    }

    /// A server on MongoDB (a fixture of its own) and on Redis at `redis_url` (any shape: a
    /// `redis-cluster://` or `redis-sentinel://` URL too) under `key_prefix`, which the test
    /// owns and may take apart, started with `options`.
    pub async fn start_on_redis(
        redis_url: String,
        key_prefix: String,
        options: StartOptions,
    ) -> TestServer {
        let mongo = MongoServer::start()
            .await
            .unwrap_or_else(|e| panic!("a MongoDB-wire server for the e2e test: {e:#}"));
        let stores = SharedStores {
            redis_url,
            key_prefix,
            mongo_uri: mongo.uri().to_owned(),
            database: mongo.database().to_owned(),
        };
        TestServer::launch(Backend::ClusterMongo, Some(stores), None, Some(mongo), options).await
    }

    /// A server on the in-memory stores, started with `options`. For an https server,
    /// [`TestServer::api`] (plain HTTP) does not apply: use [`TestServer::port`].
    pub async fn start_with(options: StartOptions) -> TestServer {
        TestServer::launch(Backend::Memory, None, None, None, options).await
    }

    /// Starts a server on the in-memory stores with `options`, expecting it to exit during
    /// start-up; returns the failure report: its exit status and its log tails. Panics when
    /// the server gets ready instead.
    pub async fn start_failure(options: StartOptions) -> String {
        let mut server = TestServer::launch_unstarted(Backend::Memory, None, None, None, options);
        server.port = free_port();
        server.write_config();
        match server.spawn_and_wait(server_binary()).await {
            Ok(()) => {
                server.logs_shown = true;
                panic!("mq-server started although it should not have\n{}", server.logs())
            }
            Err(failure) => failure.message,
        }
    }

    /// The port the server listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A second server process over the same Redis key prefix and MongoDB database as
    /// `other` (another port, config file and logs), as two instances of one deployment.
    /// `other` owns the fixtures: keep it alive for as long as this one runs.
    pub async fn start_sharing(other: &TestServer) -> TestServer {
        assert_ne!(
            other.backend,
            Backend::Memory,
            "start_sharing: only servers on Redis + MongoDB can share their stores"
        );
        TestServer::launch(other.backend, other.stores.clone(), None, None, StartOptions::default())
            .await
    }

    async fn launch(
        backend: Backend,
        stores: Option<SharedStores>,
        redis: Option<RedisBacking>,
        mongo: Option<MongoServer>,
        options: StartOptions,
    ) -> TestServer {
        let binary = server_binary();
        let mut server = TestServer::launch_unstarted(backend, stores, redis, mongo, options);
        for attempt in 1..=PORT_ATTEMPTS {
            server.port = free_port();
            server.write_config();
            match server.spawn_and_wait(binary).await {
                Ok(()) => return server,
                Err(failure) if failure.port_taken && attempt < PORT_ATTEMPTS => continue,
                Err(failure) => {
                    server.logs_shown = true;
                    panic!("{}", failure.message)
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn launch_unstarted(
        backend: Backend,
        stores: Option<SharedStores>,
        redis: Option<RedisBacking>,
        mongo: Option<MongoServer>,
        options: StartOptions,
    ) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("mq-e2e-")
            .tempdir()
            .expect("a temporary directory for the server's config and logs");
        TestServer {
            backend,
            port: 0,
            config_path: dir.path().join("mq.yaml"),
            stdout_path: dir.path().join("stdout.log"),
            stderr_path: dir.path().join("stderr.log"),
            child: None,
            starts: 0,
            logs_shown: false,
            api: Api::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            options,
            stores,
            _redis: redis,
            mongo,
            dir,
        }
    }

    /// The HTTP client for this server.
    pub fn api(&self) -> Api {
        self.api.clone()
    }

    /// Sends SIGTERM and waits (bounded by [`EXIT_WITHIN`]) for the server to exit, returning
    /// its exit status. Panics, with the log, when it does not exit in time.
    pub async fn stop(&mut self) -> ExitStatus {
        let Some(mut child) = self.child.take() else {
            panic!("stop(): the server is not running");
        };
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .expect("send SIGTERM to mq-server");
        let deadline = Instant::now() + EXIT_WITHIN;
        loop {
            match child.try_wait().expect("wait for mq-server") {
                Some(status) => return status,
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    self.logs_shown = true;
                    panic!(
                        "mq-server did not exit within {EXIT_WITHIN:?} of SIGTERM\n{}",
                        self.logs()
                    );
                }
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Kills the server's own MongoDB-wire server (Redis + MongoDB backends only), for tests of
    /// how mq answers with MongoDB gone.
    pub fn stop_mongo(&mut self) {
        self.mongo.as_mut().expect("a server on MongoDB").stop();
    }

    /// Stops the server with SIGTERM, asserts that it exited with code 0, and starts it again
    /// with the same config (same port, same stores), waiting until it is ready.
    pub async fn restart(&mut self) {
        let status = self.stop().await;
        if status.code() != Some(0) {
            self.logs_shown = true;
            panic!("mq-server should exit 0 after SIGTERM, got {status}\n{}", self.logs());
        }
        if let Err(failure) = self.spawn_and_wait(server_binary()).await {
            self.logs_shown = true;
            panic!("restarting mq-server: {}", failure.message);
        }
    }

    /// Kills the server with SIGKILL (no shutdown at all, as a crash or an OOM kill would)
    /// and starts it again with the same config, waiting until it is ready.
    pub async fn crash_and_restart(&mut self) {
        self.kill();
        self.start_again().await;
    }

    /// Kills the server with SIGKILL and reaps it; its port refuses connections until
    /// [`TestServer::start_again`].
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("kill(): the server is not running");
        child.kill().expect("SIGKILL mq-server");
        child.wait().expect("reap the killed mq-server");
    }

    /// Starts a killed or stopped server again with the same config (same port, same stores),
    /// waiting until it is ready.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again(): the server is running");
        if let Err(failure) = self.spawn_and_wait(server_binary()).await {
            self.logs_shown = true;
            panic!("starting mq-server again: {}", failure.message);
        }
    }

    /// Whether the server process has exited, and how; `None` while it runs.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|child| child.try_wait().expect("wait for mq-server"))
    }

    /// The tails of the server's stdout and stderr, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- mq-server ({}, {}) stderr (tail) ---\n{}\n--- stdout (tail) ---\n{}\n--- end of \
             server logs ---",
            self.backend,
            self.config_path.display(),
            tail(&self.stderr_path),
            tail(&self.stdout_path)
        )
    }

    fn write_config(&self) {
        let quoted = |s: &str| serde_json::Value::from(s).to_string();
        let mut yaml = format!(
            "# Written by the mq e2e harness for one test.\n\
             server:\n  bind: {bind}\n  json_limit_bytes: {JSON_LIMIT_BYTES}\n{extra}\
             log:\n  format: pretty\n  level: {level}\n",
            bind = quoted(&format!("127.0.0.1:{}", self.port)),
            level = quoted(&std::env::var("MQTEST_SERVER_LOG_LEVEL").unwrap_or("info".into())),
            extra = self.options.server_yaml,
        );
        // The defaults spelt out (10 ms ticks, a loader every second reading a minute ahead),
        // except the shorter maximum delay.
        let delay = format!(
            "  delay:\n    tick_ms: 10\n    max_delay_secs: {MAX_DELAY_SECS}\n    \
             past_tolerance_ms: {PAST_TOLERANCE_MS}\n    load_interval_ms: 1000\n    \
             horizon_ms: 60000\n    load_batch: 10000\n"
        );
        // Transactions checked back within a test's patience: first after the producer's
        // timeout, then every 200 ms, four times; check-back servers listen on loopback.
        let delay = format!(
            "{delay}  transactions:\n    check_interval_ms: 100\n    check_backoff_ms: 200\n    \
             max_check_backoff_ms: 200\n    max_checks: 4\n    checkback_timeout_ms: 1000\n    \
             lease_ms: 3000\n    apply_grace_ms: 1000\n    \
             checkback_allowlist: [\"http://127.0.0.1:\"]\n"
        );
        match &self.stores {
            Some(stores) => yaml.push_str(&format!(
                "message_queue:\n  provider: redis_streams\n  auto_create_topics: false\n  \
                 redis:\n    url: {url}\n    key_prefix: {prefix}\n{redis_extra}{delay}\
                 metadata:\n  provider: mongodb\n\
                 mongodb:\n  uri: {uri}\n  database: {database}\n",
                url = quoted(&stores.redis_url),
                redis_extra = self.options.redis_yaml,
                prefix = quoted(&stores.key_prefix),
                uri = quoted(&stores.mongo_uri),
                database = quoted(&stores.database),
            )),
            None => yaml.push_str(&format!(
                "message_queue:\n  provider: memory\n  auto_create_topics: false\n{delay}\
                 metadata:\n  provider: memory\n"
            )),
        }
        yaml.push_str(&self.options.top_yaml);
        fs::write(&self.config_path, yaml).expect("write the server config");
    }

    async fn spawn_and_wait(&mut self, binary: &Path) -> Result<(), StartFailure> {
        self.starts += 1;
        let stdout = self.log_file(&self.stdout_path);
        let stderr = self.log_file(&self.stderr_path);
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .env("NO_COLOR", "1");
        // The config file is the whole truth of a test: `MQ_*` variables of the shell running
        // the tests would override it.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MQ_") {
                command.env_remove(name);
            }
        }
        let child =
            command.spawn().unwrap_or_else(|e| panic!("spawning {}: {e}", binary.display()));
        self.child = Some(child);
        self.api = Api::new(SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)));

        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if let Some(status) = self.try_exit_status() {
                self.child = None;
                let logs = self.logs();
                let port_taken = logs.contains("in use");
                return Err(StartFailure {
                    message: format!(
                        "mq-server exited during start-up ({status}) on port {}\n{logs}",
                        self.port
                    ),
                    port_taken,
                });
            }
            if self.is_ready().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StartFailure {
            message: format!(
                "mq-server did not answer GET /readyz with 200 within {READY_WITHIN:?} on port \
                 {}\n{}",
                self.port,
                self.logs()
            ),
            port_taken: false,
        })
    }

    /// Whether `GET /readyz` answers 200, over https when the server speaks it.
    async fn is_ready(&self) -> bool {
        let Some(https) = &self.options.https else {
            return self.api.readyz_is_ok().await;
        };
        let url = format!("https://127.0.0.1:{}/readyz", self.port);
        let request = https.get(url).timeout(Duration::from_secs(2));
        matches!(request.send().await, Ok(response) if response.status() == reqwest::StatusCode::OK)
    }

    /// Opens a log file for appending, with a line that marks this start in it.
    fn log_file(&self, path: &Path) -> File {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        writeln!(file, "=== mq e2e harness: start #{} on port {} ===", self.starts, self.port)
            .expect("write to the server log");
        file
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() && !self.logs_shown {
            // Shown with the failing test's output, which is where one looks first.
            eprintln!("{}", self.logs());
        }
    }
}

struct StartFailure {
    message: String,
    port_taken: bool,
}

/// A loopback port free a moment ago (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind a free loopback port")
}

/// The last [`LOG_TAIL_BYTES`] of a log file, without terminal colour codes.
fn tail(path: &Path) -> String {
    let Ok(bytes) = fs::read(path) else {
        return format!("({} could not be read)", path.display());
    };
    let start = bytes.len().saturating_sub(LOG_TAIL_BYTES);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let text = strip_ansi(&text);
    if start > 0 {
        format!("[... {start} bytes before ...]\n{text}")
    } else {
        text
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequences: ESC [ parameters final-byte (a letter).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `mq-server` binary next to this test binary, built once per test process when it is
/// missing or older than the workspace's sources. `MQTEST_SERVER_BIN` names another binary.
pub fn server_binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(|| locate_or_build(SERVER_PACKAGE, "MQTEST_SERVER_BIN")) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// The `mq-bench` binary, found or built like the server's ([`server_binary`]);
/// `MQTEST_MQ_BENCH_BIN` names another binary.
pub fn mq_bench_binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(|| locate_or_build("mq-bench", "MQTEST_MQ_BENCH_BIN")) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// The `mqctl` binary, found or built like the server's ([`server_binary`]);
/// `MQTEST_MQCTL_BIN` names another binary.
pub fn mqctl_binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(|| locate_or_build("mqctl", "MQTEST_MQCTL_BIN")) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// The binary of `package` (named like it) in this test binary's profile directory, built when
/// missing or stale; or the file the variable `env` names.
fn locate_or_build(package: &str, env: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{env}={} is not a file", path.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("locating the test binary: {e}"))?;
    // <target>/<profile>/deps/e2e-<hash> -> <target>/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("no profile directory above {}", exe.display()))?;
    let binary = profile_dir.join(package);
    let root = workspace_root();
    if is_fresh(&binary, &root) {
        return Ok(binary);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["-p", package, "--bin", package]);
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    let shown = format!("{command:?}");
    eprintln!("mq e2e: {} is missing or stale; running {shown}", binary.display());
    let output = command.output().map_err(|e| format!("running {shown}: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let start = stderr.len().saturating_sub(8_000);
        return Err(format!(
            "building {package} for the tests failed ({}): {shown}\n{}",
            output.status,
            stderr.get(start..).unwrap_or(&stderr)
        ));
    }
    if !binary.is_file() {
        return Err(format!(
            "{shown} succeeded but {} does not exist; is the test binary in a different target \
             directory than the build (CARGO_TARGET_DIR, --target)? Set {env} to the {package} \
             binary.",
            binary.display()
        ));
    }
    Ok(binary)
}

fn workspace_root() -> PathBuf {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests_dir.parent().unwrap_or(tests_dir).to_path_buf()
}

/// Whether `binary` exists and is newer than every source it could be built from: the
/// manifests, the lock file, and everything under `crates/`, `bins/` and `config/`.
fn is_fresh(binary: &Path, root: &Path) -> bool {
    let Ok(built) = fs::metadata(binary).and_then(|m| m.modified()) else {
        return false;
    };
    let mut newest = SystemTime::UNIX_EPOCH;
    for file in ["Cargo.toml", "Cargo.lock"] {
        newest = newest.max(modified(&root.join(file)));
    }
    for dir in ["crates", "bins", "config"] {
        newest = newest.max(newest_under(&root.join(dir)));
    }
    built >= newest
}

fn modified(path: &Path) -> SystemTime {
    fs::metadata(path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH)
}

fn newest_under(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let Ok(entries) = fs::read_dir(dir) else {
        return newest;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            newest = newest.max(newest_under(&path));
        } else {
            newest = newest.max(modified(&path));
        }
    }
    newest
}
