//! Starts a local Redis Cluster (3 masters, a replica each) for a whole test run and prints its
//! `redis-cluster://` URL on one line of stdout, so `scripts/test.sh` can hand it to every test
//! as `MQTEST_REDIS_CLUSTER_URL` instead of each test spawning six servers of its own. Runs
//! until SIGTERM or SIGINT, then kills the nodes.

use std::io::Write as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cluster = mq_testkit::RedisCluster::start_owned(3, 1).await?;
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
