//! A typed async client for the mq REST API (`/api/v1/mq`): publishing (single, batch,
//! delayed, transactional), consuming (long poll, or a stream of Server-Sent Events) with ack,
//! nack, release and lease extension, topics, consumer groups, dead letters, transactions,
//! scheduled messages, monitoring, alerts, tokens and the audit log.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use futures_util::StreamExt as _;
//! use mq_client::{Client, Consume, CreateGroup, CreateTopic, Publish, StartFrom, StreamConsume};
//! use serde_json::json;
//!
//! # async fn run() -> Result<(), mq_client::Error> {
//! let client = Client::builder("http://127.0.0.1:8080")
//!     .token("my-secret")
//!     .timeout(Duration::from_secs(10))
//!     .retries(3)
//!     .build()?;
//!
//! match client.create_topic(&CreateTopic::new("orders").partitions(6)).await {
//!     Ok(_) => {}
//!     Err(e) if e.is_conflict() => {} // exists already
//!     Err(e) => return Err(e),
//! }
//! client.create_group(&CreateGroup::new("orders", "billing").start_from(StartFrom::Earliest)).await?;
//!
//! let sent = client.publish("orders", &Publish::new(json!({"id": 42})).key("customer-7")).await?;
//! println!("partition {} offset {:?}", sent.partition, sent.offset);
//!
//! // Long poll: answers when a message arrives, or after the wait.
//! let request = Consume::new("orders", "billing", "worker-1").wait(Duration::from_secs(5));
//! for delivery in client.consume(&request).await? {
//!     println!("{}", delivery.value);
//!     client.ack("orders", "billing", &[&delivery.receipt]).await?;
//! }
//!
//! // Or pushed as they arrive, at most 10 unacknowledged at a time.
//! let mut stream = client.stream(&StreamConsume::new("orders", "billing", "worker-1").max_in_flight(10)).await?;
//! while let Some(delivery) = stream.next().await {
//!     let delivery = delivery?;
//!     client.ack("orders", "billing", &[delivery.receipt]).await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! Every call returns [`Error`]: [`Error::Api`] carries the status, the API's message (which
//! names the offending field or resource) and `Retry-After`; [`Error::kind`] sorts errors into
//! [`ErrorKind`]s (`NotFound`, `Conflict`, `BadRequest`, `Unauthorized`, `Connect`, ...) for
//! matching. Answers that are not the API's envelope are [`Error::Decode`], with the start of
//! the body.
//!
//! # Retries
//!
//! A call that fails is tried again up to [`ClientBuilder::retries`] times (default 3), after
//! pauses doubling from 100 ms up to 2 s (or the server's `Retry-After`, if longer), when:
//!
//! - **no connection could be made** ([`ErrorKind::Connect`]): any call, since the server never
//!   saw it;
//! - **the connection broke after sending, or the server answered 503**: only calls that are
//!   harmless to repeat: every `GET` (lists, shows, browse, monitoring, alerts, metrics, health,
//!   opening a stream), every `PUT` (`update_topic`, `update_group`, `reschedule`), every
//!   `DELETE` (`delete_topic`, `delete_group`, `cancel_scheduled`, `delete_dead_letter`,
//!   `purge_dead_letters`, `revoke_token`), the settling calls `ack`, `nack`, `release`,
//!   `extend`, `commit_transaction`, `rollback_transaction`, which act only on what is still
//!   pending or answer a repeated decision alike, and the publishing calls `publish`,
//!   `publish_batch` and `prepare_transaction`: every message carries an idempotency key (the
//!   caller's, [`Publish::idempotency_key`], or a UUID made for the call), so a repeat of a
//!   publish that reached the server stores nothing and answers the first one
//!   (`duplicate: true`) as long as it comes within the topic's window (default 10 minutes).
//!
//! Not repeated once sent: `consume` (a repeat would leave the first
//! answer's messages in flight until their ack timeout), `create_topic`, `create_group`,
//! `create_token` and `retry_dead_letters`. 429 is never retried automatically: see
//! [`Error::retry_after`]. A repeated `DELETE` whose first attempt did succeed answers 404, and
//! a repeated settling call counts only what the last attempt settled.
//!
//! # TLS
//!
//! `https://` base URLs work with the system's roots plus any
//! [`ClientBuilder::ca_certificate_pem`]; [`ClientBuilder::identity_pem`] presents a client
//! certificate. TLS is rustls on ring; building a client installs ring as the process's default
//! rustls provider unless one is installed already.
//!
//! # Values
//!
//! The API returns a message's value as the JSON that was published, or, for bytes published
//! through the Rust library that are not JSON, as a string: their text, or base64 with
//! `valueEncoding: "base64"`. [`StoredMessage::value`] (also reached from a [`Delivery`]) is
//! that JSON, [`StoredMessage::value_as`] reads it as a type, and [`StoredMessage::bytes`]
//! gives the payload bytes.
//!
//! Answers are `Serialize` as well as `Deserialize`, to the API's JSON shape, so that a program
//! can pass them on as JSON (`mqctl --json` does).
#![deny(missing_docs)]

mod admin;
mod client;
mod consume;
mod dead_letters;
mod error;
mod messages;
mod monitoring;
mod security;
mod stream;
mod transactions;
mod value;

pub use admin::{
    CreateGroup, CreateTopic, GroupPartition, GroupQuery, TopicCreated, TopicQuery, UpdateGroup,
    UpdateTopic,
};
pub use client::{
    Client, ClientBuilder, DEFAULT_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT,
};
pub use consume::{
    Browse, Browsed, Consume, ConsumerInfo, ConsumerQuery, Delivery, Nack, PartitionPosition,
    StoredMessage,
};
pub use dead_letters::{
    DeadLetter, DeadLetterFilter, DeadLetterStatus, RetryFailure, RetryReport, RetrySelection,
};
pub use error::{Error, ErrorKind, Result};
pub use messages::{
    Delay, Prepared, Publish, PublishStatus, Published, Scheduled, ScheduledMessage, ScheduledPage,
    TxnOptions,
};
pub use monitoring::{
    Alerts, GroupStats, Monitoring, MonitoringQuery, MonitoringSection, PartitionStats,
    RateHistory, RatePoint, TopicStats,
};
pub use security::{AuditQuery, CreateToken, CreatedToken, Token, WhoAmI};
pub use stream::{DeliveryStream, StreamConsume};
pub use transactions::TransactionQuery;
pub use value::ValueEncoding;

/// The records the API sends exactly as `mq-model` defines them, re-exported so that users
/// need not depend on `mq-model` themselves.
pub use mq_model::{
    Alert, AlertRule, AuditRecord, BackoffKind, ConsumerGroup, ConsumerStatus, DeliveryAttempt,
    DeliveryMode, GroupStatus, MessageType, Paged, RetryPolicy, Role, StartFrom, Topic,
    TopicStatus, Transaction, TransactionState,
};
