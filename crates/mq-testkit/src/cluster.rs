//! The Redis Cluster fixture: a shared cluster named by `MQTEST_REDIS_CLUSTER_URL`, or a local
//! one of `redis-server --cluster-enabled yes` processes joined by `redis-cli --cluster create`,
//! with a key prefix of its own; and the operations the fault tests need (kill a master, add a
//! master, move slots).

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _};
use mq_repo::{RedisClusterConfig, RedisConfig};

use crate::process::{self, ChildServer, Spawn};
use crate::wire::{self, Resp};

/// Bound on one node answering `PING` after it is spawned.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// Bound on a new cluster agreeing on its slots, and on `wait_healthy` by default.
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);

/// How long a node may be unreachable before the others fail it over. Short, so failover tests
/// take seconds; long enough that a loaded two-core machine does not fail nodes spuriously.
const NODE_TIMEOUT_MS: u64 = 2_000;

const HOW_TO: &str = "install redis-server and redis-cli (`apt-get install redis-server`; \
    MQTEST_REDIS_SERVER / MQTEST_REDIS_CLI point at other binaries), or set \
    MQTEST_REDIS_CLUSTER_URL=redis-cluster://host:port?node=host:port to a shared cluster; \
    `bash scripts/test.sh` does both for you";

/// One node of a cluster this fixture spawned.
struct Node {
    addr: SocketAddr,
    server: ChildServer,
}

/// A Redis Cluster for a test, with a key prefix no other fixture uses.
pub struct RedisCluster {
    /// `host:port` of nodes to connect to.
    seeds: Vec<String>,
    key_prefix: String,
    /// The nodes, when this fixture spawned them (none for a shared cluster).
    nodes: Vec<Node>,
    redis_server: Option<PathBuf>,
}

impl std::fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCluster")
            .field("seeds", &self.seeds)
            .field("key_prefix", &self.key_prefix)
            .field("owned", &self.is_owned())
            .finish()
    }
}

/// A master as the cluster reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMaster {
    /// Its node id.
    pub id: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The slot ranges it owns, inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl ClusterMaster {
    /// Whether it owns `slot`.
    pub fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
    }
}

impl RedisCluster {
    /// A cluster for this test: `MQTEST_REDIS_CLUSTER_URL` if set (shared; each fixture has its
    /// own key prefix), else 3 masters with a replica each spawned for this fixture.
    pub async fn start() -> anyhow::Result<RedisCluster> {
        if let Some(url) = process::env_value("MQTEST_REDIS_CLUSTER_URL") {
            let seeds = seeds_of_url(&url)?;
            return Ok(RedisCluster {
                seeds,
                key_prefix: prefix(),
                nodes: Vec::new(),
                redis_server: None,
            });
        }
        Self::start_owned(3, 1).await
    }

    /// A cluster only this fixture uses, which the test may take apart: `masters` masters with
    /// `replicas` replicas each, spawned on free loopback ports.
    pub async fn start_owned(masters: usize, replicas: usize) -> anyhow::Result<RedisCluster> {
        ensure!(masters >= 3, "Redis Cluster needs at least 3 masters, asked for {masters}");
        let program = redis_server()?;
        let cli = redis_cli(&program)?;
        let mut nodes = Vec::new();
        for _ in 0..masters * (1 + replicas) {
            nodes.push(spawn_node(&program).await.with_context(|| HOW_TO.to_owned())?);
        }
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| n.addr.to_string()));
        args.extend(["--cluster-replicas".into(), replicas.to_string(), "--cluster-yes".into()]);
        run_cli(&cli, &args).await?;
        let cluster = RedisCluster {
            seeds: nodes.iter().map(|n| n.addr.to_string()).collect(),
            key_prefix: prefix(),
            nodes,
            redis_server: Some(program),
        };
        cluster.wait_healthy(HEALTHY_WITHIN).await?;
        Ok(cluster)
    }

    /// Settings for mq's Redis store: this cluster's seed nodes, this fixture's own key prefix,
    /// and timeouts short enough that a test against a broken cluster fails in seconds.
    pub fn config(&self) -> RedisConfig {
        RedisConfig {
            cluster: Some(RedisClusterConfig { nodes: self.seeds.clone(), tls: false }),
            key_prefix: self.key_prefix.clone(),
            connect_timeout_ms: 2_000,
            command_timeout_ms: 2_000,
            ..RedisConfig::default()
        }
    }

    /// The cluster as a `redis-cluster://` URL (for mq-server's config or mq-bench).
    pub fn url(&self) -> String {
        let (first, rest) = self.seeds.split_first().map_or(("", &[][..]), |(f, r)| (f, r));
        let others: Vec<String> = rest.iter().map(|n| format!("node={n}")).collect();
        if others.is_empty() {
            format!("redis-cluster://{first}")
        } else {
            format!("redis-cluster://{first}?{}", others.join("&"))
        }
    }

    /// This fixture's key prefix (also in [`config`](Self::config)).
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// Whether the test may take nodes down or add some: false for a shared cluster.
    pub fn is_owned(&self) -> bool {
        !self.nodes.is_empty()
    }

    /// The masters and the slots each owns, as a live node reports them.
    pub async fn masters(&self) -> anyhow::Result<Vec<ClusterMaster>> {
        let mut last_error = None;
        for seed in self.live_addrs() {
            match masters_seen_by(seed).await {
                Ok(masters) => return Ok(masters),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("no node of the cluster answers")))
    }

    /// The master that owns `slot`.
    pub async fn master_of(&self, slot: u16) -> anyhow::Result<ClusterMaster> {
        self.masters()
            .await?
            .into_iter()
            .find(|m| m.owns(slot))
            .ok_or_else(|| anyhow!("no master owns slot {slot}"))
    }

    /// Waits until every live node says the cluster is ok with every slot served, and all of
    /// them agree on who serves which (as after a failover or resharding settles).
    pub async fn wait_healthy(&self, within: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let state = self.health().await;
            match state {
                Ok(()) => return Ok(()),
                Err(error) if started.elapsed() >= within => {
                    return Err(error.context(format!("cluster not healthy after {within:?}")))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn health(&self) -> anyhow::Result<()> {
        let mut views = Vec::new();
        for addr in self.live_addrs() {
            let info = wire::redis_command(addr, &["CLUSTER", "INFO"]).await?;
            let info = info.text()?;
            ensure!(info.contains("cluster_state:ok"), "{addr}: {info}");
            ensure!(info.contains("cluster_slots_ok:16384"), "{addr}: {info}");
            // A replica that is not in sync could not take over from its master.
            let replication = wire::redis_command(addr, &["INFO", "replication"]).await?;
            let replication = replication.text()?;
            if replication.contains("role:slave") {
                ensure!(
                    replication.contains("master_link_status:up"),
                    "{addr} is a replica out of sync: {replication}"
                );
            }
            let mut masters = masters_seen_by(addr).await?;
            masters.sort_by_key(|m| m.addr);
            views.push((addr, masters));
        }
        let Some((_, first)) = views.first() else { bail!("no live node") };
        for (addr, view) in &views {
            ensure!(view == first, "{addr} disagrees on the slot map: {view:?} vs {first:?}");
        }
        Ok(())
    }

    /// Waits until the master at `victim` (killed) no longer serves any slot: a replica was
    /// promoted in its place and the cluster is healthy again. Returns when that was seen.
    pub async fn wait_failed_over(
        &self,
        victim: SocketAddr,
        within: Duration,
    ) -> anyhow::Result<Instant> {
        let started = Instant::now();
        loop {
            let masters = self.masters().await;
            let replaced = masters
                .as_ref()
                .is_ok_and(|m| m.iter().all(|m| m.addr != victim || m.slots.is_empty()));
            let health = self.health().await;
            if replaced && health.is_ok() {
                return Ok(Instant::now());
            }
            ensure!(
                started.elapsed() < within,
                "{victim} was not failed over within {within:?}: masters {masters:?}, health \
                 {health:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The keys matching `pattern` stored on the node at `addr` (`SCAN … MATCH`).
    pub async fn keys_on(&self, addr: SocketAddr, pattern: &str) -> anyhow::Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            let reply =
                wire::redis_command(addr, &["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])
                    .await?;
            let items = reply.items()?;
            ensure!(items.len() == 2, "SCAN answered {reply:?}");
            cursor = items[0].text()?.to_owned();
            for key in items[1].items()? {
                keys.push(key.text()?.to_owned());
            }
            if cursor == "0" {
                return Ok(keys);
            }
        }
    }

    /// Kills the node at `addr` (SIGKILL), as a crashed host would go. Panics on a shared
    /// cluster.
    pub fn kill(&mut self, addr: SocketAddr) {
        assert!(self.is_owned(), "kill() on a shared cluster: use RedisCluster::start_owned");
        let node = self.nodes.iter_mut().find(|n| n.addr == addr);
        let node = node.unwrap_or_else(|| panic!("{addr} is not a node of this cluster"));
        node.server.stop();
    }

    /// Starts one more node and joins it to the cluster as a master without slots; returns its
    /// address and node id.
    pub async fn add_master(&mut self) -> anyhow::Result<(SocketAddr, String)> {
        let program = self.redis_server.clone().context("add_master() on a shared cluster")?;
        let cli = redis_cli(&program)?;
        let node = spawn_node(&program).await?;
        let existing = self.live_addrs().next().context("no live node to join")?;
        let args = ["--cluster", "add-node", &node.addr.to_string(), &existing.to_string()];
        run_cli(&cli, &args.map(String::from)).await?;
        let addr = node.addr;
        self.nodes.push(node);
        // The new node's id, once it knows itself as part of the cluster.
        let started = Instant::now();
        loop {
            let reply = wire::redis_command(addr, &["CLUSTER", "MYID"]).await?;
            let id = reply.text()?.to_owned();
            let masters = self.masters().await.unwrap_or_default();
            if masters.iter().any(|m| m.id == id) {
                // Every node must know it before slots can move to it.
                self.wait_healthy(HEALTHY_WITHIN).await?;
                return Ok((addr, id));
            }
            ensure!(started.elapsed() < HEALTHY_WITHIN, "{addr} never joined the cluster");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Moves `slots` slots from the master `from` to the master `to` (node ids) with
    /// `redis-cli --cluster reshard`, keys and all, while the cluster keeps serving.
    pub async fn reshard(&self, from: &str, to: &str, slots: u32) -> anyhow::Result<()> {
        let program = self.redis_server.clone().context("reshard() on a shared cluster")?;
        let cli = redis_cli(&program)?;
        // redis-cli refuses to move slots while the nodes disagree about the slot map.
        self.wait_healthy(HEALTHY_WITHIN).await?;
        let via = self.live_addrs().next().context("no live node")?.to_string();
        let args = [
            "--cluster",
            "reshard",
            &via,
            "--cluster-from",
            from,
            "--cluster-to",
            to,
            "--cluster-slots",
            &slots.to_string(),
            "--cluster-yes",
        ];
        run_cli(&cli, &args.map(String::from)).await
    }

    fn live_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        let spawned = self.nodes.iter().filter(|n| n.server.is_running()).map(|n| n.addr);
        let shared = if self.nodes.is_empty() {
            self.seeds.iter().filter_map(|s| s.parse().ok()).collect()
        } else {
            Vec::new()
        };
        spawned.chain(shared)
    }
}

/// The masters and their slots from `CLUSTER SLOTS` of one node.
async fn masters_seen_by(addr: SocketAddr) -> anyhow::Result<Vec<ClusterMaster>> {
    let reply = wire::redis_command(addr, &["CLUSTER", "SLOTS"]).await?;
    let nodes = wire::redis_command(addr, &["CLUSTER", "NODES"]).await?;
    let ids = node_ids(nodes.text()?);
    let mut masters: Vec<ClusterMaster> = Vec::new();
    for range in reply.items()? {
        let items = range.items()?;
        ensure!(items.len() >= 3, "short CLUSTER SLOTS entry {range:?}");
        let (first, last) = (slot(&items[0])?, slot(&items[1])?);
        let master = items[2].items()?;
        let host = master.first().context("master without host")?.text()?;
        let port = u16::try_from(master.get(1).context("master without port")?.int()?)?;
        let addr: SocketAddr = format!("{host}:{port}").parse()?;
        let id = ids.iter().find(|(a, _)| *a == addr).map(|(_, id)| id.clone()).unwrap_or_default();
        match masters.iter_mut().find(|m| m.addr == addr) {
            Some(m) => m.slots.push((first, last)),
            None => masters.push(ClusterMaster { id, addr, slots: vec![(first, last)] }),
        }
    }
    // Masters without slots (just added) are masters too.
    for line in nodes.text()?.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 8 && fields[2].contains("master") && !fields[2].contains("fail") {
            let Some(addr) = fields[1].split('@').next().and_then(|a| a.parse().ok()) else {
                continue;
            };
            if !masters.iter().any(|m| m.addr == addr) {
                masters.push(ClusterMaster { id: fields[0].to_owned(), addr, slots: Vec::new() });
            }
        }
    }
    for m in &mut masters {
        m.slots.sort_unstable();
    }
    Ok(masters)
}

fn slot(value: &Resp) -> anyhow::Result<u16> {
    Ok(u16::try_from(value.int()?)?)
}

/// (address, node id) of each line of `CLUSTER NODES`.
fn node_ids(nodes: &str) -> Vec<(SocketAddr, String)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let id = fields.next()?;
            let addr = fields.next()?.split('@').next()?.parse().ok()?;
            Some((addr, id.to_owned()))
        })
        .collect()
}

async fn spawn_node(program: &Path) -> anyhow::Result<Node> {
    let args = |port: u16, dir: &Path| -> Vec<OsString> {
        // The cluster bus needs a port of its own; a clash makes the node exit and the spawn
        // is retried on new ports.
        let bus = process::free_port().unwrap_or(port.wrapping_add(1));
        let mut args: Vec<OsString> = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &bus.to_string(),
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            &NODE_TIMEOUT_MS.to_string(),
            // Replicas sync at once instead of after the default 5 s wait for more of them: a
            // replica that never synced cannot take over (its data is "too old").
            "--repl-diskless-sync-delay",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
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
    let spec = Spawn {
        name: "redis-server (cluster node)",
        program,
        args: &args,
        ready_within: READY_WITHIN,
    };
    let server =
        ChildServer::spawn(
            &spec,
            |addr, dir| async move { wire::redis_ready_in(addr, &dir).await },
        )
        .await?;
    Ok(Node { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, server.port())), server })
}

pub(crate) fn redis_server() -> anyhow::Result<PathBuf> {
    let candidates = [process::find_on_path("redis-server")];
    process::find_program("MQTEST_REDIS_SERVER", candidates)?
        .ok_or_else(|| anyhow!("redis-server is not on PATH; {HOW_TO}"))
}

/// `redis-cli`: `MQTEST_REDIS_CLI`, beside `redis-server`, or on `PATH`.
pub(crate) fn redis_cli(redis_server: &Path) -> anyhow::Result<PathBuf> {
    let beside = redis_server.parent().map(|dir| dir.join("redis-cli"));
    process::find_program("MQTEST_REDIS_CLI", [beside, process::find_on_path("redis-cli")])?
        .ok_or_else(|| anyhow!("redis-cli is not on PATH; {HOW_TO}"))
}

/// Runs `redis-cli` to completion; its output goes into the error when it fails.
async fn run_cli(cli: &Path, args: &[String]) -> anyhow::Result<()> {
    let out = tokio::process::Command::new(cli)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", cli.display()))?;
    ensure!(
        out.status.success(),
        "redis-cli {} failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn prefix() -> String {
    format!("mqtest-{}", process::unique_suffix())
}

/// The `host:port` seeds of a `redis-cluster://host:port?node=host:port&…` URL.
fn seeds_of_url(url: &str) -> anyhow::Result<Vec<String>> {
    let rest = url.strip_prefix("redis-cluster://").with_context(|| {
        format!("MQTEST_REDIS_CLUSTER_URL={url} must start with redis-cluster://")
    })?;
    let (first, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut seeds = vec![first.trim_end_matches('/').to_owned()];
    seeds.extend(query.split('&').filter_map(|pair| pair.strip_prefix("node=")).map(String::from));
    ensure!(
        seeds.iter().all(|s| s.contains(':')),
        "MQTEST_REDIS_CLUSTER_URL={url}: seeds need host:port"
    );
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_come_out_of_the_url() {
        assert_eq!(
            seeds_of_url("redis-cluster://127.0.0.1:7001?node=127.0.0.1:7002&node=h:3").unwrap(),
            ["127.0.0.1:7001", "127.0.0.1:7002", "h:3"]
        );
        assert_eq!(seeds_of_url("redis-cluster://h:1").unwrap(), ["h:1"]);
        assert!(seeds_of_url("redis://h:1").is_err());
    }

    #[test]
    fn node_ids_come_out_of_cluster_nodes() {
        let nodes = "abc 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460\n\
                     def 127.0.0.1:7004@17004 slave abc 0 0 1 connected\n";
        assert_eq!(
            node_ids(nodes),
            [
                ("127.0.0.1:7001".parse().unwrap(), "abc".to_owned()),
                ("127.0.0.1:7004".parse().unwrap(), "def".to_owned())
            ]
        );
    }
}
