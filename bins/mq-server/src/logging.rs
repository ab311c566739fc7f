//! Logging (design §9.2): `tracing` events to stderr, human-readable or JSON, and, when
//! `log.dir` is set, also to daily-rotated files of which the newest 7 are kept.
//!
//! Libraries only emit events; this is the one place that decides where they go. Events of
//! crates that use the `log` facade (actix) are forwarded into `tracing` too.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogConfig, LogFormat};

/// Rotated log files kept in `log.dir`: a week of daily files.
const KEPT_FILES: usize = 7;

/// Keeps the file writer's background thread alive; dropping it flushes what is buffered, so it
/// must live until the process ends.
#[derive(Debug)]
#[must_use = "dropping the guard stops writing log files"]
pub struct LogGuard {
    _file_writer: Option<WorkerGuard>,
}

/// Installs the global subscriber. `RUST_LOG`, when set, replaces `log.level`.
pub fn init(cfg: &LogConfig) -> anyhow::Result<LogGuard> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .with_context(|| format!("invalid RUST_LOG {directives:?}"))?,
        _ => EnvFilter::try_new(&cfg.level)
            .with_context(|| format!("invalid log.level {:?}", cfg.level))?,
    };

    // Colours only where a person is watching, and not for those who opted out (no-color.org).
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let mut layers = vec![layer(cfg.format, std::io::stderr, colour)];
    let mut file_writer = None;
    if let Some(dir) = &cfg.dir {
        // Made here, so that a directory that cannot be created is a start-up error with its
        // name (the appender would only complain on stderr when pruning old files).
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create log.dir {}", dir.display()))?;
        let files = RollingFileAppender::builder()
            .rotation(Rotation::DAILY)
            .filename_prefix("mq-server")
            .filename_suffix("log")
            .max_log_files(KEPT_FILES)
            .build(dir)
            .with_context(|| format!("cannot write log files in log.dir {}", dir.display()))?;
        // Writes go through a background thread, so a slow disk does not stall requests.
        let (writer, guard) = tracing_appender::non_blocking(files);
        layers.push(layer(cfg.format, writer, false));
        file_writer = Some(guard);
    }

    // actix-http reports a client's malformed request or dropped connection at ERROR; it is
    // the client's fault, so it comes out at WARN instead (see `ClientProtocolErrors`), unless
    // RUST_LOG names actix_http itself.
    let filter = if filter.to_string().contains("actix_http") {
        filter
    } else {
        filter.add_directive(
            format!("{ACTIX_H1}=off").parse().context("the actix_http::h1 directive")?,
        )
    };
    let client_errors = ClientProtocolErrors.with_filter(
        tracing_subscriber::filter::Targets::new().with_target(ACTIX_H1, tracing::Level::ERROR),
    );
    tracing_subscriber::registry()
        .with(layers.with_filter(filter))
        .with(client_errors)
        .try_init()
        .context("a global tracing subscriber was already installed")?;
    Ok(LogGuard { _file_writer: file_writer })
}

/// Where actix-http's HTTP/1 connection handling logs from.
const ACTIX_H1: &str = "actix_http::h1";

/// Re-emits actix-http's ERROR events about a connection (a malformed request, a client that
/// hung up mid-request) as WARN events of `mq_server::http`: a client's fault is not the
/// server's error, and alerting on ERROR lines must not page anyone for it.
struct ClientProtocolErrors;

impl<S: tracing::Subscriber> Layer<S> for ClientProtocolErrors {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut message = Message(String::new());
        event.record(&mut message);
        tracing::warn!(target: "mq_server::http", error = %message.0, "HTTP connection error");
    }
}

/// The `message` field of an event, as text.
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }
}

/// One output in the configured format, with or without colours.
fn layer<W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    match format {
        LogFormat::Pretty => layer.boxed(),
        // Event fields at the top level of each object, where log collectors look for them.
        LogFormat::Json => layer.json().flatten_event(true).boxed(),
    }
}
