//! Retries and dead letters of mq (design §1.4 死信处理 and 消息重试, §3.3).
//!
//! - [`retry_delay`]: the pause before a retry, from a group's [`RetryPolicy`](mq_model::RetryPolicy)
//!   with its jitter.
//! - [`dead_letter`]: the record of a message a group gave up on, with its attempt history and
//!   an id derived from where it failed, so recording the same failure twice is harmless.
//! - [`DeadLetters`]: listing, inspecting, purging and redriving dead letters. A redrive puts
//!   the message back into its partition's durable schedule, addressed to its group only (see
//!   [`REDRIVE_GROUP_HEADER`]); a compare-and-set on the record makes each redrive happen once
//!   however many requests race.
//!
//! The broker decides when a delivery has failed and drives these; this crate knows the
//! storage traits of `mq-repo` and nothing of consumers or HTTP.
#![deny(missing_docs)]

mod backoff;
mod dead_letters;
mod record;

pub use backoff::retry_delay;
pub use dead_letters::{DeadLetters, Recorded, Redriven, REDRIVE_STALE_AFTER};
pub use record::{
    dead_letter, dead_letter_id, redrive_record, ORIGINAL_FAILURE_HEADER, REDRIVEN_FROM_HEADER,
    REDRIVE_GROUP_HEADER,
};
