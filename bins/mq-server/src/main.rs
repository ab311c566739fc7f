//! `mq-server`: the mq REST API as a process. Glue only: read the config, start logging, open
//! the broker, serve `mq-api` over HTTP until SIGINT or SIGTERM, then shut down in order.

mod config;
mod logging;
mod request_log;
mod tls;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer};
use anyhow::Context as _;
use clap::Parser;
use tracing::info;

use crate::config::Config;

/// mq: a message queue over Redis Streams and MongoDB, with a REST API under /api/v1/mq.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// YAML file layered over the embedded default (config/default.yaml lists every key);
    /// MQ_* environment variables override both, e.g. MQ_SERVER__BIND=0.0.0.0:9000.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line with the whole chain of causes, e.g. which config key is wrong and why.
            eprintln!("mq-server: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::load(args.config.as_deref())?;
    let _log_guard = logging::init(&config.log)?;
    info!(version = env!("CARGO_PKG_VERSION"), "starting mq-server");
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    // Before anything is opened: a bad certificate or key stops the server at once.
    let tls = tls::server_config(&config.server.tls)?;

    let broker =
        mq_broker::Broker::open(&config.broker()).await.context("cannot open the broker")?;

    let api = mq_api::configure(broker.clone(), config.api());
    let mut server = HttpServer::new(move || {
        App::new().wrap(from_fn(request_log::log_request)).configure(api.clone())
    })
    // Signals are handled below: actix alone would stop abruptly on SIGINT and leave the broker.
    .disable_signals()
    // A client that closes its connection is gone: end its response then. Left half-open, a
    // streaming consumer or long poll nobody reads any more would go on taking messages.
    .h1_allow_half_closed(false)
    .shutdown_timeout(config.server.shutdown_timeout_secs);
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let (server, scheme) = match tls {
        Some(tls) => (server.bind_rustls_0_23(&config.server.bind, tls), "https"),
        None => (server.bind(&config.server.bind), "http"),
    };
    let server =
        server.with_context(|| format!("cannot listen on server.bind {}", config.server.bind))?;
    for addr in server.addrs() {
        info!(%addr, scheme, "listening");
    }
    let stop_signal = stop_signal()?;
    let server = server.run();
    let handle = server.handle();
    let mut server = std::pin::pin!(server);

    tokio::select! {
        stopped = &mut server => stopped.context("the HTTP server failed")?,
        signal = stop_signal => {
            let grace_secs = config.server.shutdown_timeout_secs;
            info!(signal, grace_secs, "stopping: no new connections, finishing in-flight requests");
            // Listeners close first; shutting the broker down alongside ends long polls at once
            // (they answer with no messages) instead of holding the drain for up to their waitMs.
            let (stopped, (), ()) = tokio::join!(server, handle.stop(true), broker.shutdown());
            stopped.context("the HTTP server failed while stopping")?;
        }
    }
    info!("stopped");
    Ok(())
}

/// Resolves with the signal's name on the first SIGINT or SIGTERM. The handlers are installed
/// now, before the server runs, so an early signal is not lost to the default action.
fn stop_signal() -> anyhow::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}
