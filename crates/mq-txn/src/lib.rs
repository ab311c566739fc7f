//! Transactional messages of mq (design §6.4 事务消息, scenario §1.3): a producer sends a half
//! message, does its local work, then commits (the message becomes visible, once) or rolls back
//! (it never does). A transaction left undecided past its timeout is checked back: the
//! producer's [`TransactionChecker`] (library producers) or its `checkbackUrl` (HTTP producers)
//! says commit, rollback or unknown; unknown or unreachable is asked again with backoff, up to
//! `max_checks`, then the configured final action applies.
//!
//! State lives in two stores, each change atomic in its own store:
//! - the half message in the message store, beside its partition's log
//!   ([`HalfMessageStore`](mq_repo::HalfMessageStore)): committing appends it and drops it in one
//!   step, so it is appended once however many instances commit it;
//! - the record in the metadata store ([`TransactionRepository`](mq_repo::TransactionRepository)):
//!   `prepared` moves to `committed` or `rolled_back` by one conditional update, so of two racing
//!   decisions one wins and the other sees the outcome; then the decision is *applied* (the half
//!   message appended or dropped) and the record marked `applied` with the offset.
//!
//! A crash between deciding and applying leaves a decided, unapplied record; the background
//! task applies it after a grace period. A crash between writing the record and the half
//! message leaves a record whose half message is missing; its check-back rolls it back.
#![deny(missing_docs)]

mod checker;
mod config;
mod coordinator;
mod error;

pub use checker::{CheckDecision, HttpChecker, TransactionChecker};
pub use config::{FinalAction, TxnConfig};
pub use coordinator::{transaction_id_of, OnApplied, Prepare, Prepared, Transactions};
pub use error::{TxnError, TxnResult};
