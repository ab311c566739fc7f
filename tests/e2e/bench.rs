//! Smoke runs of `mq-bench` (issue 10): every scenario runs as a process with `--smoke` (tiny
//! counts), on the memory and the Redis providers, against a server and a Redis it is given
//! (the server binary of these tests, a Redis from `mq-testkit`; for `durability` a Redis it
//! spawns, with a replica), and its JSON is checked for counts that add up: every message
//! requested was published, every message published was delivered. No timing is asserted: the
//! figures of a smoke run mean nothing.

use std::collections::BTreeMap;
use std::process::Command;

use mq_testkit::RedisServer;
use serde_json::Value;

use crate::server::{mq_bench_binary, server_binary};

/// Runs `mq-bench <scenario> --smoke --provider <provider>` against `redis`; the scenario's
/// entry of the JSON report.
async fn smoke(scenario: &str, provider: &str, redis: &RedisServer) -> Value {
    let report = run(scenario, provider, Some(redis.url())).await;
    entry_of(&report, scenario)
}

/// The JSON report of `mq-bench <scenario> --smoke --provider <provider>`, with `--redis-url`
/// if given, else with a redis-server mq-bench spawns (`MQTEST_REDIS_SERVER` if set, as the
/// fixtures' is).
async fn run(scenario: &str, provider: &str, redis_url: Option<&str>) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let mut command = Command::new(mq_bench_binary());
    command.args([scenario, "--smoke", "--provider", provider]);
    if let Some(url) = redis_url {
        command.args(["--redis-url", url]);
    } else if let Some(binary) = std::env::var_os("MQTEST_REDIS_SERVER") {
        command.env("MQBENCH_REDIS_SERVER", binary);
    }
    command.arg("--server-bin").arg(server_binary()).arg("--json").arg(&json);
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    assert!(
        output.status.success(),
        "mq-bench {scenario} --provider {provider} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// One scenario's entry of a report, its counts checked.
fn entry_of(report: &Value, scenario: &str) -> Value {
    let scenarios = report["scenarios"].as_array().unwrap();
    let entry = scenarios
        .iter()
        .find(|s| s["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no {scenario} in {report:#}"))
        .clone();
    assert!(!entry["figures"].as_array().unwrap().is_empty(), "{entry:#}");
    check_counts(&entry);
    entry
}

/// For each phase: something was published, all that was requested, and all of it delivered
/// where the scenario delivers.
fn check_counts(entry: &Value) {
    let counts: BTreeMap<String, u64> = serde_json::from_value(entry["counts"].clone()).unwrap();
    let phases: Vec<&str> = counts.keys().filter_map(|k| k.strip_suffix(".published")).collect();
    assert!(!phases.is_empty(), "no published counts: {entry:#}");
    for phase in phases {
        let published = counts[&format!("{phase}.published")];
        assert!(published > 0, "{phase}: nothing published: {entry:#}");
        for other in ["requested", "delivered"] {
            if let Some(n) = counts.get(&format!("{phase}.{other}")) {
                assert_eq!(*n, published, "{phase}: {other} vs published: {entry:#}");
            }
        }
    }
}

async fn both_providers(scenario: &str) -> Vec<Value> {
    let redis = RedisServer::start().await.unwrap();
    let mut entries = Vec::new();
    for provider in ["memory", "redis"] {
        entries.push(smoke(scenario, provider, &redis).await);
    }
    entries
}

#[tokio::test]
async fn bench_ceiling_smoke() {
    let redis = RedisServer::start().await.unwrap();
    let entry = smoke("ceiling", "redis", &redis).await;
    let counts = &entry["counts"];
    for phase in ["xadd", "script1", "script100", "script1000"] {
        assert!(counts[format!("{phase}.published")].as_u64().unwrap() > 0, "{entry:#}");
    }
}

#[tokio::test]
async fn bench_publish_lib_smoke() {
    both_providers("publish-lib").await;
}

#[tokio::test]
async fn bench_publish_http_smoke() {
    both_providers("publish-http").await;
}

#[tokio::test]
async fn bench_drain_smoke() {
    for entry in both_providers("drain").await {
        for phase in ["subscribe", "fetch", "http"] {
            assert!(entry["counts"][format!("{phase}.delivered")].as_u64().is_some(), "{entry:#}");
        }
    }
}

#[tokio::test]
async fn bench_e2e_smoke() {
    for entry in both_providers("e2e").await {
        for rate in ["rate1000", "rate10000"] {
            assert!(entry["counts"][format!("{rate}.delivered")].as_u64().is_some(), "{entry:#}");
        }
    }
}

#[tokio::test]
async fn bench_delay_smoke() {
    for entry in both_providers("delay").await {
        let counts = &entry["counts"];
        // The scheduler fired every message that was scheduled (on a stalled machine some
        // may have been due by the time they were published, and were appended at once), and
        // every message was delivered (checked with the other counts).
        assert_eq!(counts["delayed.fired"], counts["delayed.scheduled"], "{entry:#}");
        assert!(counts["delayed.delivered"].as_u64().is_some(), "{entry:#}");
    }
}

#[tokio::test]
async fn bench_backlog_smoke() {
    for entry in both_providers("backlog").await {
        let names: Vec<&str> = entry["figures"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert!(names.iter().any(|n| n.starts_with("mq-server RSS")), "{entry:#}");
    }
}

/// `durability` on both providers, each against a redis-server mq-bench spawns and, for the
/// acks variants, gives a replica (the fixture's Redis of the other smoke runs has none). On
/// memory the acks variants do not run; every figure is set against the baseline's.
#[tokio::test]
async fn bench_durability_smoke() {
    for provider in ["memory", "redis"] {
        let report = run("durability", provider, None).await;
        let entry = entry_of(&report, "durability");
        for variant in ["baseline", "keys", "acks1", "acks1keys"] {
            let expected = provider == "redis" || !variant.starts_with("acks");
            for phase in ["single", "batch100", "sequential"] {
                let ran = entry["counts"][format!("{variant}.{phase}.published")].is_u64();
                assert_eq!(ran, expected, "{provider}: {variant}.{phase}: {entry:#}");
            }
        }
        for figure in entry["figures"].as_array().unwrap() {
            assert!(figure["vs_baseline"].is_f64(), "{provider}: {figure:#}");
        }
    }
}

/// Every scenario on a Redis Cluster (`--redis-url redis-cluster://…`): no cross-slot command
/// in any of them (the ceiling's clean-up used to send one), and the counts add up. The
/// cluster's masters have replicas, so `durability` runs its acks variants (`WAIT` per master).
#[tokio::test]
async fn bench_every_scenario_on_a_cluster_smoke() {
    let cluster = mq_testkit::RedisCluster::start().await.unwrap();
    let report = run("all", "redis", Some(&cluster.url())).await;
    for scenario in
        ["ceiling", "publish-lib", "publish-http", "drain", "e2e", "delay", "backlog", "durability"]
    {
        entry_of(&report, scenario);
    }
    let durability = entry_of(&report, "durability");
    for phase in ["acks1.single", "acks1keys.batch100", "acks1keys.sequential"] {
        assert!(durability["counts"][format!("{phase}.published")].is_u64(), "{durability:#}");
    }
}
