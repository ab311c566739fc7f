//! `mq-bench`: runs a named benchmark scenario against mq and prints a table (and, with
//! `--json`, writes the figures and the counts behind them).
//!
//! It starts what it needs unless told where to find it: a `redis-server` of its own on a free
//! port (`--redis-url` to use another), and `mq-server` (the binary next to its own executable,
//! or `--server-bin`) on a free loopback port with rate limits off (`--url` to target a running
//! server instead). Library scenarios open an [`mq_broker::Broker`] in process. Every scenario
//! first measures the Redis `ceiling` (unless it is the ceiling), so each throughput figure can
//! be given as a fraction of what Redis itself takes with the same client and pipelining.
//!
//! `cargo run --release -p mq-bench -- all --runs 3 --json bench.json` reproduces
//! docs/PERFORMANCE.md.
// A benchmark tool reports to the person running it, on stdout.
#![allow(clippy::print_stdout)]

mod options;
mod progress;
mod report;
mod scenarios;
mod setup;
mod stats;

use clap::Parser;

use crate::options::{Args, Scenario};
use crate::report::{Outcome, Report};
use crate::setup::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut env = Env::new(args.options.clone());
    let result = run(&args, &mut env).await;
    env.stop().await;
    let report = result?;
    report.print();
    if let Some(path) = &args.options.json {
        report.write_json(path, &args.options)?;
    }
    Ok(())
}

/// The scenario (or all of them), each repeated `--runs` times, the ceiling measured first.
async fn run(args: &Args, env: &mut Env) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let scenarios = match args.scenario {
        Scenario::All => Scenario::EACH.to_vec(),
        one => vec![one],
    };
    // Every figure is set against the ceiling of the same run, so it comes first.
    let ceiling = repeat(env, Scenario::Ceiling).await?;
    report.set_ceiling(&ceiling);
    if scenarios.contains(&Scenario::Ceiling) {
        report.push(ceiling);
    }
    for scenario in scenarios.into_iter().filter(|s| *s != Scenario::Ceiling) {
        let outcome = repeat(env, scenario).await?;
        report.push(outcome);
    }
    Ok(report)
}

/// One scenario `--runs` times, merged into medians.
async fn repeat(env: &mut Env, scenario: Scenario) -> anyhow::Result<Outcome> {
    let runs = env.options.runs.max(1);
    let mut outcomes = Vec::with_capacity(runs);
    for run in 1..=runs {
        eprintln!("mq-bench: {} (run {run} of {runs})", scenario.name());
        outcomes.push(scenarios::run(env, scenario).await?);
    }
    Ok(Outcome::median_of(outcomes))
}
