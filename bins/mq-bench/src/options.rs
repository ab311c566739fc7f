//! The command line: which scenario, where the server and Redis are, and how much load.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, ValueEnum};
use serde::Serialize;

/// Benchmarks of mq: runs a scenario, prints a table, optionally writes JSON.
#[derive(Debug, Parser)]
#[command(name = "mq-bench", version)]
pub struct Args {
    /// What to measure.
    #[arg(value_enum)]
    pub scenario: Scenario,
    #[command(flatten)]
    pub options: Options,
}

/// The named scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Raw Redis throughput with fred: XADD, and the broker's offset-assigning append script.
    Ceiling,
    /// `Broker::publish` and `publish_batch` in process, concurrent producers.
    PublishLib,
    /// `POST /messages` (sequential latency, concurrent throughput), `POST /messages/batch`.
    PublishHttp,
    /// Consume + ack throughput of a backlog: library `subscribe` and fetch, and HTTP.
    Drain,
    /// Publish -> delivery latency over HTTP at fixed rates.
    E2e,
    /// Lateness of delayed messages, through the library.
    Delay,
    /// Server memory (RSS), and Redis's, before and after a backlog.
    Backlog,
    /// What idempotency keys and replicated acknowledgements (min_replica_acks 1) cost library
    /// publishes, against a baseline without either. A --redis-url Redis (every master of a
    /// cluster) must have a replica; mq-bench gives the redis-server it spawns one.
    Durability,
    /// Every scenario, in this order, with one ceiling.
    All,
}

impl Scenario {
    /// Every scenario `all` runs.
    pub const EACH: [Scenario; 8] = [
        Scenario::Ceiling,
        Scenario::PublishLib,
        Scenario::PublishHttp,
        Scenario::Drain,
        Scenario::E2e,
        Scenario::Delay,
        Scenario::Backlog,
        // Last: it gives a spawned Redis a replica, which would stay for the scenarios after.
        Scenario::Durability,
    ];

    /// The name on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ceiling => "ceiling",
            Scenario::PublishLib => "publish-lib",
            Scenario::PublishHttp => "publish-http",
            Scenario::Drain => "drain",
            Scenario::E2e => "e2e",
            Scenario::Delay => "delay",
            Scenario::Backlog => "backlog",
            Scenario::Durability => "durability",
            Scenario::All => "all",
        }
    }
}

/// Where messages live, in the library broker and in the server mq-bench starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// The in-process memory log (metadata in memory too).
    Memory,
    /// Redis Streams (metadata in memory: nothing measured here needs it durable).
    Redis,
}

/// Everything but the scenario.
#[derive(Debug, Clone, ClapArgs, Serialize)]
pub struct Options {
    /// The message store of the library broker and of the server mq-bench starts.
    #[arg(long, value_enum, default_value = "redis")]
    pub provider: Provider,
    /// An mq server to target (e.g. http://127.0.0.1:8080) instead of starting one; it should
    /// have rate limits off. `backlog` needs a server mq-bench started (it reads its RSS).
    #[arg(long)]
    pub url: Option<String>,
    /// The mq-server binary to start (default: the one next to mq-bench's executable).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// A Redis to use (e.g. redis://127.0.0.1:6379/0) instead of starting a redis-server.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Size of each message value, in bytes.
    #[arg(long, default_value_t = 200)]
    pub size: usize,
    /// The message count of every phase of the scenario. Defaults: ceiling and publish-lib
    /// 200,000; publish-http 20,000 sequential, 100,000 concurrent, 500,000 per batch size;
    /// drain and backlog 1,000,000; delay 10,000; e2e the rate times --seconds; durability
    /// 100,000 single, 300,000 batched and 10,000 sequential per variant.
    #[arg(long)]
    pub messages: Option<u64>,
    /// Concurrent producers (tasks publishing at once).
    #[arg(long, default_value_t = 16)]
    pub producers: usize,
    /// Concurrent consumers.
    #[arg(long, default_value_t = 4)]
    pub consumers: usize,
    /// Partitions of each topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: u32,
    /// Publish rates of `e2e`, messages per second.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000_u64, 10_000])]
    pub rates: Vec<u64>,
    /// How long `e2e` publishes at each rate, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Repeat each scenario this many times and report medians.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Write the figures and counts as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Tiny counts: checks that every scenario runs (the test suite's smoke runs).
    #[arg(long)]
    pub smoke: bool,
}

impl Options {
    /// `--messages`, else the smoke or the full default.
    pub fn count(&self, full: u64, smoke: u64) -> u64 {
        self.messages.unwrap_or(if self.smoke { smoke } else { full })
    }

    /// A value of `--size` bytes.
    pub fn value(&self) -> Vec<u8> {
        vec![b'x'; self.size]
    }

    /// The same value as a JSON string of `--size` bytes (quotes included).
    pub fn json_value(&self) -> serde_json::Value {
        serde_json::Value::String("x".repeat(self.size.saturating_sub(2).max(1)))
    }
}
