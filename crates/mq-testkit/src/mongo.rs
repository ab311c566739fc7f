//! The MongoDB fixture: an external server, a `mongo:7` container, or a spawned SecantusDB
//! (a MongoDB-wire server from PyPI), with a database of its own.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use mq_repo::MongoConfig;
use testcontainers::core::{CmdWaitFor, ExecCommand, IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use crate::backing::Backing;
use crate::process::{self, ChildServer, Spawn};
use crate::url::{host_and_port, resolve};
use crate::{docker, wire};

/// Bound on a spawned SecantusDB answering `hello`; a Python server takes about half a second,
/// more on a busy two-core machine.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// Bound on pulling and starting the container; a first pull of `mongo:7` can be slow.
const CONTAINER_STARTUP: Duration = Duration::from_secs(180);

const HOW_TO_GET_ONE: &str = "set MQTEST_MONGO_URI=mongodb://127.0.0.1:27017 (a shared \
    server; each fixture gets its own database), or start a Docker engine (testcontainers runs \
    mongo:7), or install SecantusDB: `python3 -m venv .tools/venv && .tools/venv/bin/pip \
    install SecantusDB` (or point MQTEST_SECANTUSD at secantusd-py); `bash scripts/test.sh` \
    does this for you";

const HOW_TO_GET_AN_OWNED_ONE: &str = "start a Docker engine (testcontainers runs mongo:7) or \
    install SecantusDB: `python3 -m venv .tools/venv && .tools/venv/bin/pip install \
    SecantusDB` (or point MQTEST_SECANTUSD at secantusd-py); MQTEST_MONGO_URI is not used here \
    because the test stops the server; `bash scripts/test.sh` does this for you";

/// A MongoDB-wire server for one test, with a database no other fixture uses.
///
/// Dropping it kills and reaps a spawned server or removes the container; drop it inside the
/// test's Tokio runtime (the usual place), since removing a container is asynchronous.
pub struct MongoServer {
    uri: String,
    host: String,
    port: u16,
    database: String,
    backing: Backing,
}

impl std::fmt::Debug for MongoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoServer")
            .field("uri", &self.uri)
            .field("database", &self.database)
            .field("kind", &self.backing.kind())
            .field("backing", &self.backing)
            .finish()
    }
}

impl MongoServer {
    /// A MongoDB for this test: `MQTEST_MONGO_URI` if set, else a container when a Docker
    /// engine answers, else a SecantusDB spawned for this fixture. Fails, saying how to get
    /// one, when there is none.
    pub async fn start() -> anyhow::Result<MongoServer> {
        if let Some(uri) = process::env_value("MQTEST_MONGO_URI") {
            if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
                bail!("MQTEST_MONGO_URI={uri} must start with mongodb:// or mongodb+srv://");
            }
            let (host, port) = host_and_port(&uri, 27017);
            return Ok(Self::new(uri, host, port, Backing::External));
        }
        Self::start_owned_or(HOW_TO_GET_ONE).await
    }

    /// A MongoDB only this fixture uses, which the test may [`stop`](Self::stop): a container
    /// or a spawned SecantusDB, never `MQTEST_MONGO_URI`.
    pub async fn start_owned() -> anyhow::Result<MongoServer> {
        Self::start_owned_or(HOW_TO_GET_AN_OWNED_ONE).await
    }

    async fn start_owned_or(how_to: &str) -> anyhow::Result<MongoServer> {
        let mut docker_error = None;
        if docker::available().await {
            match start_container().await {
                Ok(server) => return Ok(server),
                Err(error) => {
                    // Said on stderr (shown with a failing test's output) so that a broken
                    // Docker set-up is not mistaken for the fallback being intended.
                    eprintln!(
                        "mq-testkit: mongo:7 via Docker failed ({error:#}); trying SecantusDB"
                    );
                    docker_error = Some(error);
                }
            }
        }
        let candidates = [process::find_on_path("secantusd-py"), Some(workspace_venv_server())];
        let Some(program) = process::find_program("MQTEST_SECANTUSD", candidates)? else {
            let docker_note = match &docker_error {
                Some(error) => format!(" (the Docker engine answered, but: {error:#})"),
                None => String::new(),
            };
            return Err(anyhow!(
                "no MongoDB for tests{docker_note}: secantusd-py is neither on PATH nor at {}; \
                 {how_to}",
                workspace_venv_server().display()
            ));
        };
        let server = spawn_secantus(&program)
            .await
            .with_context(|| format!("starting {} for a test (or {how_to})", program.display()))?;
        let port = server.port();
        let uri = format!("mongodb://127.0.0.1:{port}");
        Ok(Self::new(uri, "127.0.0.1".to_owned(), port, Backing::Process(server)))
    }

    fn new(uri: String, host: String, port: u16, backing: Backing) -> MongoServer {
        // 39 characters, no dots: within MongoDB's 63-character database names.
        let database = format!("mqtest_{}", process::unique_suffix());
        MongoServer { uri, host, port, database, backing }
    }

    /// Settings for mq's MongoDB store: this server's URI, this fixture's own database, and
    /// timeouts short enough that a test against a dead server fails in seconds.
    pub fn config(&self) -> MongoConfig {
        MongoConfig {
            uri: self.uri.clone(),
            database: self.database.clone(),
            connect_timeout_ms: 2_000,
            server_selection_timeout_ms: 2_000,
            operation_timeout_ms: 5_000,
            ..MongoConfig::default()
        }
    }

    /// The server's `mongodb://` connection string.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The server's host name or address, for raw connections.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// This fixture's database (also in [`config`](Self::config)).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Whether [`stop`](Self::stop) may be called: false for a shared external server.
    pub fn is_owned(&self) -> bool {
        self.backing.is_owned()
    }

    /// Takes the server away (kills the process or removes the container), for tests of how
    /// mq behaves when MongoDB is gone. Idempotent.
    ///
    /// # Panics
    ///
    /// On a shared external server, i.e. a fixture from [`start`](Self::start) with
    /// `MQTEST_MONGO_URI` set; use [`start_owned`](Self::start_owned) in such tests.
    pub fn stop(&mut self) {
        self.backing.stop("MongoServer");
    }
}

/// `.tools/venv/bin/secantusd-py` of this workspace, where `scripts/test.sh` installs it.
fn workspace_venv_server() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // crates/mq-testkit -> the workspace root.
    let root = crate_dir.ancestors().nth(2).unwrap_or(crate_dir);
    root.join(".tools/venv/bin/secantusd-py")
}

async fn spawn_secantus(program: &Path) -> anyhow::Result<ChildServer> {
    let args = |port: u16, dir: &Path| -> Vec<OsString> {
        let mut args: Vec<OsString> =
            ["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path"]
                .into_iter()
                .map(OsString::from)
                .collect();
        args.push(dir.join("data").into_os_string());
        args
    };
    let spec = Spawn { name: "secantusd-py", program, args: &args, ready_within: READY_WITHIN };
    // `hello` proves a MongoDB-wire server answers; that it is ours and not a raced neighbour
    // is checked by the child still running afterwards (a server that lost the port race
    // exits), which is as much as the protocol offers without parsing its logs.
    ChildServer::spawn(
        &spec,
        |addr, _dir| async move { wire::mongo_hello(addr).await.map(|_| true) },
    )
    .await
}

/// A `mongo:7` container run as a single-node replica set, as SecantusDB presents itself, so
/// transactions and change streams work on both. The set's member name is only valid inside
/// the container, hence `directConnection=true` in the URI.
async fn start_container() -> anyhow::Result<MongoServer> {
    let container = GenericImage::new("mongo", "7")
        .with_exposed_port(27017.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Waiting for connections"))
        .with_cmd(["mongod", "--replSet", "rs0", "--bind_ip_all"])
        .with_startup_timeout(CONTAINER_STARTUP)
        .start()
        .await
        .context("starting a mongo:7 container")?;
    let initiate = ExecCommand::new(["mongosh", "--quiet", "--eval", "rs.initiate()"])
        .with_cmd_ready_condition(CmdWaitFor::exit_code(0));
    container.exec(initiate).await.context("rs.initiate() in the mongo:7 container")?;
    let host = container.get_host().await.context("the container's host")?.to_string();
    let port = container.get_host_port_ipv4(27017.tcp()).await.context("the mapped port")?;
    let server = MongoServer::new(
        format!("mongodb://{host}:{port}/?directConnection=true"),
        host,
        port,
        Backing::Container(Some(Box::new(container))),
    );
    let addr = resolve(&server.host, server.port).await?;
    let elected = async {
        loop {
            if let Ok(true) = wire::mongo_hello(addr).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), elected)
        .await
        .context("the mongo:7 container did not become a writable primary within 30 s")?;
    Ok(server)
}
