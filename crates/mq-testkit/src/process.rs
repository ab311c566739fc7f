//! A server process spawned for one fixture: its own free loopback port and scratch directory,
//! its output in a log file there, waited for until it answers, and killed and reaped when the
//! fixture stops or drops.

use std::ffi::OsString;
use std::fs::File;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tempfile::TempDir;

/// How often readiness is polled while a server starts.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Bound on one readiness probe, so a server that accepts but never answers cannot stall the
/// wait past its overall deadline.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Attempts when the server exits before it is ready: another process may have taken the free
/// port between our probe bind and the server's own bind.
const ATTEMPTS: usize = 3;

/// How much of a server's log goes into an error message.
const LOG_TAIL_BYTES: usize = 4_000;

/// What to spawn and how to tell that it is ready.
pub(crate) struct Spawn<'a> {
    /// Short name for messages, e.g. `redis-server`.
    pub(crate) name: &'static str,
    /// The executable.
    pub(crate) program: &'a Path,
    /// Arguments given the chosen port and the scratch directory.
    pub(crate) args: &'a dyn Fn(u16, &Path) -> Vec<OsString>,
    /// Overall bound on becoming ready.
    pub(crate) ready_within: Duration,
}

/// A running server process owned by one fixture.
pub(crate) struct ChildServer {
    child: Option<Child>,
    port: u16,
    log_path: PathBuf,
    // Declared last and removed only after `Drop::drop` killed the child, so the server never
    // sees its files vanish while it runs.
    dir: TempDir,
}

impl std::fmt::Debug for ChildServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildServer")
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl ChildServer {
    /// Spawns `spec` on a free port and waits until `ready(addr, dir)` says it answers.
    ///
    /// `ready` is polled, each call bounded by [`PROBE_TIMEOUT`]; it should return `Ok(true)`
    /// only when the server on `addr` is the one spawned in `dir` (a port race could put another
    /// fixture's server there). If the process exits first, the start is retried on a new port
    /// a few times; if it neither exits nor becomes ready in time, the error carries its log.
    pub(crate) async fn spawn<F, Fut>(spec: &Spawn<'_>, ready: F) -> anyhow::Result<ChildServer>
    where
        F: Fn(SocketAddr, PathBuf) -> Fut,
        Fut: Future<Output = anyhow::Result<bool>>,
    {
        let mut last_error = None;
        for attempt in 1..=ATTEMPTS {
            let mut server = Self::spawn_once(spec)?;
            match server.wait_ready(spec, &ready).await {
                Ok(()) => return Ok(server),
                Err(WaitError::Exited(error)) => {
                    last_error = Some(error.context(format!(
                        "{} exited during start-up (attempt {attempt} of {ATTEMPTS})",
                        spec.name
                    )));
                }
                Err(WaitError::TimedOut(error)) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("{} did not start", spec.name)))
    }

    fn spawn_once(spec: &Spawn<'_>) -> anyhow::Result<ChildServer> {
        let port = free_port()?;
        let dir = tempfile::Builder::new()
            .prefix("mqtest-")
            .tempdir()
            .context("creating a scratch directory for a test server")?;
        let log_path = dir.path().join("server.log");
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let log_err = log.try_clone().context("duplicating the server log handle")?;
        let child = Command::new(spec.program)
            .args((spec.args)(port, dir.path()))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .with_context(|| format!("spawning {} ({})", spec.name, spec.program.display()))?;
        Ok(ChildServer { child: Some(child), port, log_path, dir })
    }

    async fn wait_ready<F, Fut>(&mut self, spec: &Spawn<'_>, ready: &F) -> Result<(), WaitError>
    where
        F: Fn(SocketAddr, PathBuf) -> Fut,
        Fut: Future<Output = anyhow::Result<bool>>,
    {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let started = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return Err(WaitError::Exited(anyhow::anyhow!(
                    "{} on port {} exited with {status}; its log:\n{}",
                    spec.name,
                    self.port,
                    self.log_tail()
                )));
            }
            let probe = ready(addr, self.dir.path().to_owned());
            let last_probe = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                // The child must still be ours and alive: a foreign server on a raced port
                // fails the identity check inside `ready`, and an exit is caught next round.
                Ok(Ok(true)) if self.exit_status().is_none() => return Ok(()),
                Ok(Ok(_)) => "answered, but not as the spawned server".to_owned(),
                Ok(Err(error)) => format!("{error:#}"),
                Err(_) => format!("no answer within {PROBE_TIMEOUT:?}"),
            };
            if started.elapsed() >= spec.ready_within {
                let error = anyhow::anyhow!(
                    "{} on 127.0.0.1:{} not ready after {:?} (last probe: {last_probe}); \
                     its log:\n{}",
                    spec.name,
                    self.port,
                    spec.ready_within,
                    self.log_tail()
                );
                return Err(WaitError::TimedOut(error));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The loopback port the server listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Whether it has not been stopped.
    pub(crate) fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (SIGKILL: tests want it gone, not flushed) and reaps it. Idempotent.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors mean it has already exited; waiting still reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|child| child.try_wait().ok().flatten())
    }

    fn log_tail(&self) -> String {
        match std::fs::read(&self.log_path) {
            Ok(bytes) if bytes.is_empty() => "(empty)".to_owned(),
            Ok(bytes) => {
                let tail = &bytes[bytes.len().saturating_sub(LOG_TAIL_BYTES)..];
                String::from_utf8_lossy(tail).into_owned()
            }
            Err(error) => format!("(cannot read {}: {error})", self.log_path.display()),
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.stop();
    }
}

enum WaitError {
    /// The process ended before it was ready; worth another attempt on a new port.
    Exited(anyhow::Error),
    /// It runs but never answered; another attempt would only double the wait.
    TimedOut(anyhow::Error),
}

/// A loopback port nobody listens on right now. The listener is closed before the server
/// binds, hence the retries in [`ChildServer::spawn`].
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("binding 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr().context("reading the bound port")?.port())
}

/// Whether an environment variable is set to something other than empty or `0`.
pub(crate) fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// A non-empty environment variable.
pub(crate) fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `name` in a directory of `PATH`, if there is such a file.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// Resolves the program named by environment variable `var` (which must exist if set), else
/// the first existing file of `fallbacks`. `Ok(None)` when none is there.
pub(crate) fn find_program(
    var: &str,
    fallbacks: impl IntoIterator<Item = Option<PathBuf>>,
) -> anyhow::Result<Option<PathBuf>> {
    if let Some(value) = env_value(var) {
        let path = PathBuf::from(value);
        if !path.is_file() {
            bail!("{var}={} does not name a file", path.display());
        }
        return Ok(Some(path));
    }
    Ok(fallbacks.into_iter().flatten().find(|path| path.is_file()))
}

/// Unique suffix for key prefixes and database names: 32 lowercase hex digits.
pub(crate) fn unique_suffix() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}
