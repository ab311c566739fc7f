//! The command line: global options and every command with its arguments (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::parse;

/// The mq command line: topics, groups, sending and consuming, dead letters, transactions,
/// monitoring, alerts, the audit log and tokens.
#[derive(Debug, Parser)]
#[command(name = "mqctl", version, after_help = crate::exit::HELP)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Base URL of the mq server [default: `server` of the config file, else
    /// http://127.0.0.1:8080]
    #[arg(long, global = true, env = "MQCTL_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// Bearer token [default: `token` of the config file]
    #[arg(long, global = true, env = "MQCTL_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Config file with `server`, `token` and `ca_cert` [default:
    /// $XDG_CONFIG_HOME/mqctl/config.toml or ~/.config/mqctl/config.toml, if present]
    #[arg(long, global = true, env = "MQCTL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// PEM file of the CA that signed the server's certificate (https with a private CA)
    #[arg(long, global = true, env = "MQCTL_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,

    /// Machine output: the API's data as one JSON document (JSON lines for `tail`)
    #[arg(long, global = true)]
    pub json: bool,

    /// Bound on each API call
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s",
          value_parser = parse::duration)]
    pub timeout: Duration,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Topics: list, create, describe, update, delete
    #[command(subcommand)]
    Topics(TopicsCmd),
    /// Consumer groups: list, create, describe, update, delete
    #[command(subcommand)]
    Groups(GroupsCmd),
    /// Publish a message: VALUE, --file or stdin; --lines sends one message per line
    Send(SendArgs),
    /// Fetch messages once (a long poll of up to --wait), print them and acknowledge them
    Consume(ConsumeArgs),
    /// Follow a topic as messages arrive (Server-Sent Events); Ctrl-C ends it
    Tail(TailArgs),
    /// Acknowledge deliveries by their receipts (from `consume --no-ack` or `tail --manual`)
    Ack(AckArgs),
    /// Fail deliveries by their receipts: retried after the group's backoff, or dead-lettered
    Nack(NackArgs),
    /// Dead letters: list, show, retry, purge
    #[command(subcommand)]
    Dlq(DlqCmd),
    /// Transactional messages: commit, rollback, show, list
    #[command(subcommand)]
    Txn(TxnCmd),
    /// A live view of topics and groups: message rates, backlog, lag (--once for one snapshot)
    Monitor(MonitorArgs),
    /// Alerts firing now (`list`, the default) or resolved (`history`)
    Alerts(AlertsArgs),
    /// The audit log: admin actions and refusals, newest first
    Audit(AuditArgs),
    /// Run-time tokens: list, create, revoke
    #[command(subcommand)]
    Tokens(TokensCmd),
}

/// Which page of a listing.
#[derive(Debug, Clone, Copy, Args)]
pub struct PageArgs {
    /// Page number, from 1
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub page: u64,
    /// Items per page, up to 1000
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub page_size: u64,
}

/// A topic's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopicStatusArg {
    /// Accepting and delivering messages
    Active,
    /// Closed to producers
    Inactive,
}

/// `topics …`
#[derive(Debug, Subcommand)]
pub enum TopicsCmd {
    /// List topics
    List {
        /// Only names starting with this
        #[arg(long)]
        prefix: Option<String>,
        /// Only topics of this status
        #[arg(long, value_enum)]
        status: Option<TopicStatusArg>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create a topic
    Create {
        /// Name: letters, digits, `.`, `_`, `-`
        name: String,
        #[command(flatten)]
        settings: TopicSettings,
    },
    /// Show a topic
    Describe {
        /// The topic
        name: String,
    },
    /// Change a topic: only the options given change
    Update {
        /// The topic
        name: String,
        #[command(flatten)]
        settings: TopicSettings,
        /// active or inactive (closed to producers)
        #[arg(long, value_enum)]
        status: Option<TopicStatusArg>,
    },
    /// Delete a topic with its messages and groups (asks first; --yes without a terminal)
    Delete {
        /// The topic
        name: String,
        /// Do not ask
        #[arg(short, long)]
        yes: bool,
    },
}

/// Settings of `topics create` and `topics update`.
#[derive(Debug, Clone, Args)]
pub struct TopicSettings {
    /// Partitions, 1 to 1024 (they can grow later, never shrink)
    #[arg(short, long)]
    pub partitions: Option<u32>,
    /// Free text
    #[arg(short, long)]
    pub description: Option<String>,
    /// How long messages are kept, such as 7d or 12h
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub retention: Option<Duration>,
    /// Largest message value in bytes
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<i64>,
    /// A free-form setting, key=value (repeatable; on update, replaces all settings)
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse::key_value)]
    pub entries: Vec<(String, String)>,
}

/// Where a new group starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartFromArg {
    /// From the oldest message kept
    Earliest,
    /// From messages published after the group is created
    Latest,
}

/// How a group spreads messages over its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// A work queue: any consumer may get any message
    Shared,
    /// A partition per consumer, delivered in order
    Ordered,
}

/// `groups …`
#[derive(Debug, Subcommand)]
pub enum GroupsCmd {
    /// List consumer groups, of one topic or of all
    List {
        /// Only this topic's groups
        #[arg(long)]
        topic: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create a consumer group on a topic
    Create {
        /// The topic
        topic: String,
        /// The group's id
        group: String,
        /// Where the group starts [server default: latest]
        #[arg(long, value_enum)]
        start_from: Option<StartFromArg>,
        /// Delivery mode [server default: shared]
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        #[command(flatten)]
        settings: GroupSettings,
    },
    /// Show a group and its consumers
    Describe {
        /// The topic
        topic: String,
        /// The group
        group: String,
    },
    /// Change a group's timeouts or retry policy: only the options given change
    Update {
        /// The topic
        topic: String,
        /// The group
        group: String,
        #[command(flatten)]
        settings: GroupSettings,
    },
    /// Delete a group
    Delete {
        /// The topic
        topic: String,
        /// The group
        group: String,
    },
}

/// Timeouts and retry policy of `groups create` and `groups update`.
#[derive(Debug, Clone, Args)]
pub struct GroupSettings {
    /// An unacknowledged delivery comes back after this long
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub ack_timeout: Option<Duration>,
    /// A consumer counts as live this long after its last fetch
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub session_timeout: Option<Duration>,
    /// Retries after the first delivery before a message becomes a dead letter
    #[arg(long)]
    pub max_retries: Option<u32>,
    /// Exponential backoff: the pause before the first retry
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub backoff_initial: Option<Duration>,
    /// Exponential backoff: the factor between pauses
    #[arg(long, value_name = "FACTOR")]
    pub backoff_multiplier: Option<f64>,
    /// Exponential backoff: the longest pause
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub backoff_max: Option<Duration>,
    /// Fraction of each pause taken off at random, 0 to 1
    #[arg(long, value_name = "FRACTION")]
    pub backoff_jitter: Option<f64>,
    /// Explicit backoff: the pause before retry 1, 2, … (comma-separated; the last repeats)
    #[arg(long, value_name = "DURATIONS", value_delimiter = ',', value_parser = parse::duration)]
    pub backoff_delays: Vec<Duration>,
}

/// `send TOPIC [VALUE]`
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The topic
    pub topic: String,
    /// The value: JSON if it parses as JSON, else a string; `-` (or nothing, with stdin
    /// piped) reads stdin
    pub value: Option<String>,
    /// Read the value (or with --lines, the messages) from this file
    #[arg(short, long, value_name = "FILE", conflicts_with = "value")]
    pub file: Option<PathBuf>,
    /// One message per line of stdin or --file (empty lines are skipped), sent in batches
    #[arg(long, conflicts_with_all = ["txn"])]
    pub lines: bool,
    /// Send the value as a string even when it parses as JSON
    #[arg(long)]
    pub raw: bool,
    /// Messages with the same key go to the same partition, in order
    #[arg(short, long)]
    pub key: Option<String>,
    /// A header, name=value (repeatable)
    #[arg(short = 'H', long = "header", value_name = "NAME=VALUE", value_parser = parse::key_value)]
    pub headers: Vec<(String, String)>,
    /// Deliver after this long, such as 30s, 5m, 1500ms
    #[arg(long, value_name = "DURATION", value_parser = parse::duration, conflicts_with = "at")]
    pub delay: Option<Duration>,
    /// Deliver at this time (RFC 3339)
    #[arg(long, value_name = "TIME", value_parser = parse::rfc3339)]
    pub at: Option<DateTime<Utc>>,
    /// Prepare a transactional half message and print its transaction id (commit or roll
    /// back with `mqctl txn`)
    #[arg(long, conflicts_with_all = ["delay", "at"])]
    pub txn: bool,
    /// With --txn: where the server asks about the transaction if still undecided
    #[arg(long, value_name = "URL", requires = "txn")]
    pub checkback_url: Option<String>,
    /// With --txn: when the first check-back is due [server default]
    #[arg(long, value_name = "DURATION", value_parser = parse::duration, requires = "txn")]
    pub txn_timeout: Option<Duration>,
    /// With --lines: messages per request, 1 to 1000
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub batch_size: u32,
}

/// `consume TOPIC --group G`
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The topic
    pub topic: String,
    /// The consumer group
    #[arg(short, long)]
    pub group: String,
    /// This consumer's id [default: mqctl-<host name>]
    #[arg(short, long)]
    pub consumer: Option<String>,
    /// At most this many messages, 1 to 1000
    #[arg(short = 'n', long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max: u32,
    /// With nothing waiting, wait up to this long for a message (at most 30s)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse::duration)]
    pub wait: Duration,
    /// Do not acknowledge: print the receipts (settle them with `mqctl ack` / `mqctl nack`)
    #[arg(long)]
    pub no_ack: bool,
}

/// `tail TOPIC --group G`
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The topic
    pub topic: String,
    /// The consumer group
    #[arg(short, long)]
    pub group: String,
    /// This consumer's id [default: mqctl-<host name>]
    #[arg(short, long)]
    pub consumer: Option<String>,
    /// Do not acknowledge: print each message's receipt (settle with `mqctl ack`)
    #[arg(long)]
    pub manual: bool,
    /// Stop after this many messages
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// At most this many unacknowledged messages at a time, 1 to 1000 [server default: 100]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_in_flight: Option<u32>,
}

/// `ack TOPIC --group G RECEIPT…`
#[derive(Debug, Args)]
pub struct AckArgs {
    /// The topic
    pub topic: String,
    /// The consumer group
    #[arg(short, long)]
    pub group: String,
    /// Receipts; `-` reads them from stdin, one per line
    #[arg(required = true)]
    pub receipts: Vec<String>,
}

/// `nack TOPIC --group G RECEIPT…`
#[derive(Debug, Args)]
pub struct NackArgs {
    /// The topic
    pub topic: String,
    /// The consumer group
    #[arg(short, long)]
    pub group: String,
    /// Receipts; `-` reads them from stdin, one per line
    #[arg(required = true)]
    pub receipts: Vec<String>,
    /// Why processing failed (kept in the attempt history)
    #[arg(long)]
    pub reason: Option<String>,
    /// Retry after this long instead of the group's backoff
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub delay: Option<Duration>,
    /// Do not retry: make them dead letters now
    #[arg(long)]
    pub dead_letter: bool,
}

/// A range of failure (or audit) times.
#[derive(Debug, Clone, Copy, Args)]
pub struct TimeRange {
    /// At or after this time: RFC 3339, or a duration ago such as 1h
    #[arg(long, value_name = "TIME", value_parser = parse::time)]
    pub since: Option<DateTime<Utc>>,
    /// Before this time: RFC 3339, or a duration ago such as 10m
    #[arg(long, value_name = "TIME", value_parser = parse::time)]
    pub until: Option<DateTime<Utc>>,
}

/// `dlq …`
#[derive(Debug, Subcommand)]
pub enum DlqCmd {
    /// List dead letters, newest first
    List {
        /// Of this topic
        #[arg(long)]
        topic: Option<String>,
        /// Of this group
        #[arg(long)]
        group: Option<String>,
        #[command(flatten)]
        range: TimeRange,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a dead letter with its content and failed attempts
    Show {
        /// The dead letter (dlq_…)
        id: String,
    },
    /// Send dead letters back to their group: by id, or all of --topic and --group
    Retry {
        /// Dead-letter ids; `-` reads them from stdin, one per line
        #[arg(conflicts_with_all = ["topic", "group", "since", "until"])]
        ids: Vec<String>,
        /// With --group: every dead letter of that group
        #[arg(long, requires = "group")]
        topic: Option<String>,
        /// With --topic
        #[arg(long, requires = "topic")]
        group: Option<String>,
        #[command(flatten)]
        range: TimeRange,
        /// Spread the redeliveries at this many per second
        #[arg(long, value_name = "PER_SECOND")]
        rate: Option<f64>,
    },
    /// Delete the dead letters a filter selects, or --all (asks first; --yes without a terminal)
    Purge {
        /// Of this topic
        #[arg(long)]
        topic: Option<String>,
        /// Of this group
        #[arg(long)]
        group: Option<String>,
        #[command(flatten)]
        range: TimeRange,
        /// Every dead letter of every topic
        #[arg(long, conflicts_with_all = ["topic", "group", "since", "until"])]
        all: bool,
        /// Do not ask
        #[arg(short, long)]
        yes: bool,
    },
}

/// A transaction's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TxnStateArg {
    /// Awaiting a decision
    Prepared,
    /// Committed
    Committed,
    /// Rolled back
    #[value(name = "rolled_back")]
    RolledBack,
}

/// `txn …`
#[derive(Debug, Subcommand)]
pub enum TxnCmd {
    /// Commit: the half message is appended and becomes visible
    Commit {
        /// The transaction (txn_…)
        id: String,
    },
    /// Roll back: the half message is dropped
    Rollback {
        /// The transaction (txn_…)
        id: String,
    },
    /// Show a transaction with its history
    Show {
        /// The transaction (txn_…)
        id: String,
    },
    /// List transactions
    List {
        /// Of this topic
        #[arg(long)]
        topic: Option<String>,
        /// In this state
        #[arg(long, value_enum)]
        state: Option<TxnStateArg>,
        #[command(flatten)]
        page: PageArgs,
    },
}

/// `monitor`
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Print one snapshot and exit
    #[arg(long)]
    pub once: bool,
    /// Time between refreshes
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse::duration)]
    pub interval: Duration,
    /// Only this topic and its groups
    #[arg(long)]
    pub topic: Option<String>,
    /// The window the server's rates cover: 5m, 1h, 24h, …
    #[arg(long, value_name = "RANGE", default_value = "5m")]
    pub range: String,
}

/// Which alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlertsView {
    /// Firing now
    List,
    /// Resolved, newest first
    History,
}

/// `alerts [list|history]`
#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Firing now (list) or resolved (history)
    #[arg(value_enum, default_value_t = AlertsView::List)]
    pub view: AlertsView,
    /// At most this many resolved alerts
    #[arg(long)]
    pub limit: Option<u32>,
}

/// `audit`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// By this token name
    #[arg(long)]
    pub actor: Option<String>,
    /// This action, such as `POST /topics`
    #[arg(long)]
    pub action: Option<String>,
    #[command(flatten)]
    pub range: TimeRange,
    #[command(flatten)]
    pub page: PageArgs,
}

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Everything
    Admin,
    /// Produce and consume on the topics its patterns allow
    Service,
}

/// `tokens …`
#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// List run-time tokens (never their secrets)
    List,
    /// Create a token; its secret is shown this once
    Create {
        /// Its name, as audit records show it
        name: String,
        /// Its role
        #[arg(long, value_enum, default_value_t = RoleArg::Service)]
        role: RoleArg,
        /// Topic patterns it may publish to, such as orders* (repeatable or comma-separated)
        #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
        produce: Vec<String>,
        /// Topic patterns it may consume from (repeatable or comma-separated)
        #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
        consume: Vec<String>,
        /// When it stops working: RFC 3339, or a duration from now such as 30d
        #[arg(long, value_name = "TIME")]
        expires: Option<String>,
    },
    /// Revoke a run-time token: it stops working at once
    Revoke {
        /// The token's name
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:") && help.contains("8  invalid request"), "{help}");
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = Cli::try_parse_from([
            "mqctl",
            "topics",
            "list",
            "--json",
            "--server",
            "http://h:1",
            "--timeout",
            "5s",
        ])
        .unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.server.as_deref(), Some("http://h:1"));
        assert_eq!(cli.global.timeout, Duration::from_secs(5));
        let error = Cli::try_parse_from(["mqctl", "send", "t", "--delay", "soon"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }
}
