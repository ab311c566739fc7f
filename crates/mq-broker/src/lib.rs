//! The mq broker: the library other Rust crates embed to publish and consume in process, and
//! the core behind the REST API.
//!
//! A [`Broker`] is built from config ([`Broker::open`]) or from explicit stores
//! ([`Broker::new`]) and is cheap to clone. It manages topics, publishes (one or a batch; by
//! key to a stable partition, else round-robin), manages consumer groups, and delivers with
//! at-least-once semantics: a fetched message is delivered again if it is neither acknowledged
//! nor negatively acknowledged within the group's `ackTimeoutMs`.
//!
//! Groups deliver in one of two modes ([`mq_model::DeliveryMode`]): `shared`, a work queue where
//! any live consumer may receive any message, and `ordered`, where each partition belongs to one
//! live consumer at a time and is delivered in offset order, one batch in flight at a time.
#![deny(missing_docs)]

mod alerts;
mod broker;
mod commits;
mod config;
mod consume;
mod crypto;
mod dead_letters;
mod dedup;
mod error;
mod groups;
mod membership;
mod metrics;
mod monitoring;
mod partition;
mod publish;
mod rates;
mod receipt;
mod retention;
mod retry;
mod scheduled;
mod subscribe;
mod topics;
mod transactions;

pub use alerts::{AlertConfig, AlertsView};
pub use broker::{Broker, READY_WITHIN};
pub use config::{BrokerConfig, MessageQueueConfig, MetadataConfig};
pub use consume::{
    Browse, ConsumerInfo, FetchRequest, GroupPartition, PartitionPosition, ReceivedMessage,
    StoredMessage, MAX_FETCH, MAX_WAIT,
};
pub use crypto::{
    CryptoError, EncryptionConfig, EncryptionKey, AES_256_GCM, MAX_KEY_ID_LEN, TOPIC_SETTING,
};
pub use dead_letters::{
    RetryReport, RetryRequest, RetrySelection, MAX_RETRY_IDS, MAX_RETRY_MATCHING, MAX_RETRY_RATE,
};
pub use error::{BrokerError, BrokerResult};
pub use groups::{GroupSpec, GroupUpdate};
pub use metrics::Metrics;
pub use monitoring::{
    parse_range, GroupMonitoring, Monitoring, PartitionMonitoring, Sections, TopicMonitoring,
    MAX_RANGE,
};
pub use mq_txn::{CheckDecision, FinalAction, Prepared, TransactionChecker, TxnConfig};
pub use partition::partition_for_key;
pub use publish::{Delay, OutgoingMessage, Published, MAX_BATCH};
pub use rates::{RateHistory, RatePoint, BUCKET_SECS, KEEP_SECS, MAX_POINTS};
pub use retry::{Nack, DEAD_LETTER_GRACE, MAX_NACK_DELAY, MAX_REASON_LEN};
pub use scheduled::{ScheduledCounts, ScheduledMessage, ScheduledPage};
pub use subscribe::{DoNotRetry, HandlerError, RetryAfter, SubscribeOptions, Subscription};
pub use topics::TopicUpdate;
pub use transactions::{TxnContext, TxnFailure, TxnOptions};

/// Not public API: private hot paths of this crate, reachable from its criterion benchmarks
/// (`benches/`, which are separate crates). Hidden from the docs; may change at any time.
#[doc(hidden)]
pub mod __bench {
    /// A receipt for this delivery, as consumers get it.
    pub fn encode_receipt(partition: u32, offset: u64, delivery_count: u32) -> String {
        crate::receipt::Receipt::new(partition, offset, delivery_count).encode()
    }

    /// `(partition, offset, delivery count)` of a receipt, or `None` when it is malformed.
    pub fn decode_receipt(text: &str) -> Option<(u32, u64, u32)> {
        let r = crate::receipt::Receipt::decode(text).ok()?;
        Some((r.partition, r.offset, r.delivery_count))
    }
}
