//! The Redis Sentinel fixture: a master, a replica and three sentinels (`redis-server
//! --sentinel`), spawned on free loopback ports, and what failover tests do to them.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use mq_repo::{RedisConfig, RedisSentinelConfig};

use crate::cluster::redis_server;
use crate::process::{self, ChildServer, Spawn};
use crate::wire::{self, Resp};

/// The name the sentinels monitor the master under.
pub const SERVICE_NAME: &str = "mq-test-master";

/// Bound on one process answering after it is spawned.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// How long the master may be unreachable before the sentinels agree it is down.
const DOWN_AFTER_MS: u64 = 1_000;

/// A master with one replica under three sentinels, for one test alone.
pub struct RedisSentinel {
    master: ChildServer,
    replica: ChildServer,
    sentinels: Vec<ChildServer>,
    key_prefix: String,
}

impl std::fmt::Debug for RedisSentinel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSentinel")
            .field("master", &self.master.port())
            .field("replica", &self.replica.port())
            .field("sentinels", &self.sentinels.iter().map(ChildServer::port).collect::<Vec<_>>())
            .finish()
    }
}

impl RedisSentinel {
    /// Spawns the master, its replica (caught up before this returns) and three sentinels
    /// that watch the master (a quorum of two decides it is down after a second).
    pub async fn start_owned() -> anyhow::Result<RedisSentinel> {
        let program = redis_server()?;
        let master = spawn_data_node(&program, None).await?;
        let replica = spawn_data_node(&program, Some(master.port())).await?;
        wait_replicated(addr(&master), 1, Duration::from_secs(15)).await?;
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            sentinels.push(spawn_sentinel(&program, master.port()).await?);
        }
        let fixture = RedisSentinel {
            master,
            replica,
            sentinels,
            key_prefix: format!("mqtest-{}", process::unique_suffix()),
        };
        // Every sentinel knows the replica before anything may fail over to it.
        let started = Instant::now();
        while !fixture.sentinels_see_replica().await {
            ensure!(started.elapsed() < Duration::from_secs(20), "sentinels never saw the replica");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(fixture)
    }

    async fn sentinels_see_replica(&self) -> bool {
        for sentinel in &self.sentinels {
            let reply =
                wire::redis_command(addr(sentinel), &["SENTINEL", "REPLICAS", SERVICE_NAME]).await;
            match reply {
                Ok(Resp::Array(Some(items))) if !items.is_empty() => {}
                _ => return false,
            }
        }
        true
    }

    /// Settings for mq's Redis store through the sentinels, with this fixture's key prefix.
    pub fn config(&self) -> RedisConfig {
        RedisConfig {
            sentinel: Some(RedisSentinelConfig {
                nodes: self.sentinels.iter().map(|s| addr(s).to_string()).collect(),
                service_name: SERVICE_NAME.to_owned(),
                ..RedisSentinelConfig::default()
            }),
            key_prefix: self.key_prefix.clone(),
            connect_timeout_ms: 2_000,
            command_timeout_ms: 2_000,
            ..RedisConfig::default()
        }
    }

    /// The first master's address.
    pub fn master_addr(&self) -> SocketAddr {
        addr(&self.master)
    }

    /// The replica's address.
    pub fn replica_addr(&self) -> SocketAddr {
        addr(&self.replica)
    }

    /// This fixture's key prefix (also in [`config`](Self::config)).
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// Makes the replica fall behind: it stops for `seconds` (`DEBUG SLEEP`), and the master
    /// drops its replication link (`CLIENT KILL TYPE replica`), so that what the master takes
    /// from then on reaches the replica only once it reconnects, which it cannot while asleep.
    /// Returns once the link is cut.
    pub async fn lag_replica(&self, seconds: f64) -> anyhow::Result<()> {
        let replica = self.replica_addr();
        let pause = seconds.to_string();
        tokio::spawn(async move {
            // The reply comes when the sleep is over; nothing waits for it.
            let _ = wire::redis_command(replica, &["DEBUG", "SLEEP", &pause]).await;
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let killed =
            wire::redis_command(self.master_addr(), &["CLIENT", "KILL", "TYPE", "replica"]);
        ensure!(killed.await?.int()? >= 1, "the master had no replica link to cut");
        Ok(())
    }

    /// Kills the master (SIGKILL).
    pub fn kill_master(&mut self) {
        self.master.stop();
    }

    /// Waits until a sentinel names the replica as the master and the replica says it is one;
    /// returns when that was seen.
    pub async fn wait_promoted(&self, within: Duration) -> anyhow::Result<Instant> {
        let started = Instant::now();
        let replica = self.replica_addr();
        loop {
            if self.promoted(replica).await {
                return Ok(Instant::now());
            }
            if started.elapsed() >= within {
                bail!("the replica {replica} was not promoted within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn promoted(&self, replica: SocketAddr) -> bool {
        let role = wire::redis_command(replica, &["ROLE"]).await;
        let is_master = matches!(&role, Ok(Resp::Array(Some(items)))
            if items.first().and_then(|r| r.text().ok()) == Some("master"));
        if !is_master {
            return false;
        }
        for sentinel in self.sentinels.iter().filter(|s| s.is_running()) {
            let named = wire::redis_command(
                addr(sentinel),
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE_NAME],
            )
            .await;
            if let Ok(Resp::Array(Some(items))) = named {
                let port = items.get(1).and_then(|p| p.text().ok()).and_then(|p| p.parse().ok());
                if port == Some(replica.port()) {
                    return true;
                }
            }
        }
        false
    }
}

fn addr(server: &ChildServer) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()))
}

/// Waits until the master at `master` has `replicas` replicas online and caught up.
pub(crate) async fn wait_replicated(
    master: SocketAddr,
    replicas: usize,
    within: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let info = wire::redis_command(master, &["INFO", "replication"]).await?;
        let info = info.text()?.to_owned();
        let online =
            info.lines().filter(|l| l.starts_with("slave") && l.contains("state=online")).count();
        if online >= replicas {
            return Ok(());
        }
        ensure!(started.elapsed() < within, "{master} has {online} replicas online: {info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn spawn_data_node(program: &Path, replica_of: Option<u16>) -> anyhow::Result<ChildServer> {
    let args = move |port: u16, dir: &Path| -> Vec<OsString> {
        let mut args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
            // Tests pause the replica with DEBUG SLEEP to make it lag.
            "--enable-debug-command",
            "local",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            "",
        ]
        .map(String::from)
        .to_vec();
        if let Some(master) = replica_of {
            args.extend(["--replicaof".to_owned(), "127.0.0.1".to_owned(), master.to_string()]);
        }
        let mut args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
        args.push("--dir".into());
        args.push(dir.as_os_str().to_owned());
        args
    };
    let spec = Spawn {
        name: "redis-server (sentinel data node)",
        program,
        args: &args,
        ready_within: READY_WITHIN,
    };
    ChildServer::spawn(&spec, |addr, dir| async move { wire::redis_ready_in(addr, &dir).await })
        .await
        .context("spawning a data node for the sentinel fixture")
}

async fn spawn_sentinel(program: &Path, master_port: u16) -> anyhow::Result<ChildServer> {
    let args = move |port: u16, dir: &Path| -> Vec<OsString> {
        // A sentinel rewrites its config file, so it needs one of its own.
        let conf = dir.join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile \"\"\n\
             sentinel monitor {SERVICE_NAME} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {SERVICE_NAME} {DOWN_AFTER_MS}\n\
             sentinel failover-timeout {SERVICE_NAME} 5000\n\
             sentinel parallel-syncs {SERVICE_NAME} 1\n",
            dir = dir.display()
        );
        // A failed write shows as the sentinel refusing to start, with its log.
        let _ = std::fs::write(&conf, text);
        vec![conf.into_os_string(), OsString::from("--sentinel")]
    };
    let spec =
        Spawn { name: "redis-server --sentinel", program, args: &args, ready_within: READY_WITHIN };
    ChildServer::spawn(&spec, move |addr, _dir| async move {
        let named =
            wire::redis_command(addr, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE_NAME])
                .await?;
        let port = named.items()?.get(1).map(Resp::text).transpose()?.map(str::to_owned);
        Ok(port == Some(master_port.to_string()))
    })
    .await
    .context("spawning a sentinel")
}
