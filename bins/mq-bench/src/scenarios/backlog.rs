//! `backlog`: the resident memory (VmRSS) of the mq-server process, and with the Redis provider
//! the memory Redis reports holding, before and after publishing a backlog (1,000,000 messages by
//! default, `POST /messages/batch` of 1000) to a topic whose group consumes nothing. With the
//! Redis provider the messages live in Redis, so the server's own memory should not grow
//! with them. The server is started afresh for this scenario.

use std::time::Duration;

use anyhow::{bail, Context};
use fred::prelude::{Builder, ClientLike, Config};
use fred::types::InfoKind;

use super::{fill_http, http_topic};
use crate::options::Provider;
use crate::report::{Against, Figure, Outcome};
use crate::setup::{rss_mib, Env};

pub async fn run(env: &mut Env) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new("backlog");
    let client = env.fresh_client().await?;
    let Some(server) = env.server_pid() else {
        bail!("backlog reads the RSS of a server mq-bench started; run it without --url");
    };
    let n = env.options.count(1_000_000, 3_000);
    let topic = http_topic(env, &client, "backlog").await?;
    let server_before = rss_mib(server)?;
    // Redis's own count of the bytes it holds (INFO memory), not its RSS: the allocator keeps
    // pages that earlier scenarios freed, so the RSS says little about this backlog.
    let redis = match env.options.provider {
        Provider::Redis => {
            let client =
                Builder::from_config(Config::from_url(&env.redis_url().await?)?).build()?;
            client.init().await?;
            Some(client)
        }
        Provider::Memory => None,
    };
    let redis_before = match &redis {
        Some(redis) => Some(used_memory_mib(redis).await?),
        None => None,
    };
    let published = fill_http(env, &client, &topic, n, 1_000, "backlog").await?;
    // Let the allocator settle after the burst of requests.
    tokio::time::sleep(Duration::from_secs(if env.options.smoke { 0 } else { 2 })).await;
    let server_after = rss_mib(server)?;
    outcome.figures.push(Figure::new(
        "mq-server RSS before",
        server_before,
        "MB",
        Against::Nothing,
    ));
    outcome.figures.push(Figure::new(
        format!("mq-server RSS with {published} backlog"),
        server_after,
        "MB",
        Against::Nothing,
    ));
    if let (Some(before), Some(redis)) = (redis_before, &redis) {
        let after = used_memory_mib(redis).await?;
        outcome.figures.push(Figure::new(
            "Redis used_memory before",
            before,
            "MB",
            Against::Nothing,
        ));
        outcome.figures.push(Figure::new(
            format!("Redis used_memory with {published} backlog"),
            after,
            "MB",
            Against::Nothing,
        ));
        if published > 0 {
            let per_message = (after - before) * 1024.0 * 1024.0 / published as f64;
            outcome.figures.push(Figure::new(
                "Redis memory per message",
                per_message,
                "bytes",
                Against::Nothing,
            ));
        }
        redis.quit().await?;
    }
    outcome.count("backlog.published", published);
    outcome.count("backlog.requested", n);
    client.delete_topic(&topic).await?;
    Ok(outcome)
}

/// `used_memory` of `INFO memory`, in MiB; on a cluster, summed over the masters.
async fn used_memory_mib(redis: &fred::prelude::Client) -> anyhow::Result<f64> {
    let infos: Vec<String> = if redis.is_clustered() {
        let mut infos = Vec::new();
        // A clustered client keeps connections to the masters only.
        for master in redis.active_connections() {
            infos.push(redis.with_cluster_node(master).info(Some(InfoKind::Memory)).await?);
        }
        infos
    } else {
        vec![redis.info(Some(InfoKind::Memory)).await?]
    };
    let mut bytes = 0_u64;
    for info in infos {
        bytes += info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .context("no used_memory in INFO memory")?;
    }
    Ok(bytes as f64 / (1024.0 * 1024.0))
}
