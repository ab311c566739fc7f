//! The commands, one module per group, and what they share: the client and output of a run,
//! the default consumer id, ids read from arguments or stdin, and page footers.

mod admin;
mod consume;
mod dlq;
mod groups;
mod monitor;
mod send;
mod topics;
mod txn;

use std::io::BufRead as _;

use mq_client::{Client, Paged};

use crate::cli::Command;
use crate::output::{self, Output};

/// What every command works with.
#[derive(Debug)]
pub struct Ctx {
    /// The client of the server.
    pub client: Client,
    /// How results are shown.
    pub out: Output,
}

/// Runs `command`.
pub async fn run(command: Command, ctx: &Ctx) -> anyhow::Result<()> {
    match command {
        Command::Topics(cmd) => topics::run(cmd, ctx).await,
        Command::Groups(cmd) => groups::run(cmd, ctx).await,
        Command::Send(args) => send::run(args, ctx).await,
        Command::Consume(args) => consume::consume(args, ctx).await,
        Command::Tail(args) => consume::tail(args, ctx).await,
        Command::Ack(args) => consume::ack(args, ctx).await,
        Command::Nack(args) => consume::nack(args, ctx).await,
        Command::Dlq(cmd) => dlq::run(cmd, ctx).await,
        Command::Txn(cmd) => txn::run(cmd, ctx).await,
        Command::Monitor(args) => monitor::run(args, ctx).await,
        Command::Alerts(args) => admin::alerts(args, ctx).await,
        Command::Audit(args) => admin::audit(args, ctx).await,
        Command::Tokens(cmd) => admin::tokens(cmd, ctx).await,
    }
}

/// The consumer id when none is given: `mqctl-<host name>`, the same on every run from one
/// machine, so that repeated runs do not pile up consumers in the group.
pub fn default_consumer() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".to_owned());
    format!("mqctl-{host}")
}

/// Ids (receipts, dead-letter ids) from the arguments, where `-` stands for stdin's lines.
pub fn ids_from(args: Vec<String>) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(args.len());
    for arg in args {
        if arg == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                let line = line.trim();
                if !line.is_empty() {
                    ids.push(line.to_owned());
                }
            }
        } else {
            ids.push(arg);
        }
    }
    Ok(ids)
}

/// On stderr, when a page does not show everything: which items these are and how to see more.
pub fn page_note<T>(out: &Output, paged: &Paged<T>) {
    if out.json || paged.items.is_empty() {
        return;
    }
    let first = (paged.page - 1) * paged.page_size + 1;
    let last = first + paged.items.len() as u64 - 1;
    if first > 1 || last < paged.total {
        let more = if last < paged.total {
            format!("; --page {} for more", paged.page + 1)
        } else {
            String::new()
        };
        output::note(&format!("showing {first}-{last} of {}{more}", paged.total));
    }
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
