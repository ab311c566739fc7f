//! Data and config models of mq: topics, messages, consumer groups, consumers, dead letters,
//! and the configs that create them, with their validation rules.
//!
//! JSON names are camelCase (the REST API's shapes); storage crates map them to the snake_case
//! BSON names of the design (see `mq-repo`'s MongoDB documents). This crate knows no Redis,
//! MongoDB or HTTP types, so every layer above can depend on it.
#![deny(missing_docs)]

mod alert;
mod clock;
mod config;
mod consumer;
mod dead_letter;
mod error;
mod ids;
mod message;
mod page;
mod placement;
mod retry;
mod security;
mod serde_bytes_b64;
mod topic;
mod transaction;
mod validate;

pub use alert::{Alert, AlertRule};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConsumerConfig, ProducerConfig, StartFrom, TopicConfig};
pub use consumer::{
    validate_timeout_ms, Consumer, ConsumerGroup, ConsumerStatus, DeliveryMode, GroupStatus,
    DEFAULT_ACK_TIMEOUT_MS, DEFAULT_SESSION_TIMEOUT_MS, MAX_TIMEOUT_MS,
};
pub use dead_letter::{DeadLetterMessage, DeliveryAttempt, Redrive};
pub use error::ModelError;
pub use ids::{new_id, IdKind};
pub use message::{Message, MessageStatus, MessageType};
pub use page::{Page, Paged};
pub use placement::Placement;
pub use retry::{
    BackoffKind, RetryPolicy, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS,
    DEFAULT_MAX_RETRIES, DEFAULT_MULTIPLIER, MAX_BACKOFF_LIMIT_MS, MAX_DELAY_LEVELS,
    MAX_RETRIES_LIMIT,
};
pub use security::{ApiToken, AuditRecord, Role};
pub use topic::{Topic, TopicStatus};
pub use transaction::{DecidedBy, Transaction, TransactionEvent, TransactionState};
pub use validate::{
    message_size, validate_client_id, validate_idempotency_key, validate_max_message_size,
    validate_message_parts, validate_partitions, validate_replication_factor,
    validate_retention_ms, validate_topic_name, DEFAULT_MAX_MESSAGE_SIZE, MAX_CLIENT_ID_LEN,
    MAX_HEADERS, MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN, MAX_IDEMPOTENCY_KEY_LEN, MAX_KEY_LEN,
    MAX_MESSAGE_SIZE_LIMIT, MAX_PARTITIONS, MAX_TOPIC_NAME_LEN,
};
