//! Starts a local Redis Cluster (3 masters, a replica each) for a whole test run and prints its
//! `redis-cluster://` URL on one line of stdout, so `scripts/test.sh` can hand it to every test
//! as `MQTEST_REDIS_CLUSTER_URL` instead of each test spawning six servers of its own. Runs
//! until SIGTERM or SIGINT, then kills the nodes.
//!
//! `mq-test-cluster [MASTERS [REPLICAS]]` sizes it otherwise (e.g. `3 0` for benchmarks).

use std::io::Write as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut count = |what: &str, default: usize| -> anyhow::Result<usize> {
        args.next().map_or(Ok(default), |a| {
            a.parse().map_err(|_| anyhow::anyhow!("{what} must be a number, got {a:?}"))
        })
    };
    let masters = count("MASTERS", 3)?;
    let replicas = count("REPLICAS", 1)?;
    let cluster = mq_testkit::RedisCluster::start_owned(masters, replicas).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", cluster.url())?;
    stdout.flush()?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(cluster);
    Ok(())
}
