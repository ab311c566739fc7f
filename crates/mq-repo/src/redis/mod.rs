//! The Redis Streams message log and, beside it, the schedule of delayed messages and the half
//! messages of transactions.

mod client;
pub(crate) mod envelope;
mod half;
pub(crate) mod keys;
mod log;
mod reply;
mod schedule;
pub(crate) mod scripts;
mod slots;
mod stats;

pub(crate) use client::not_run;
pub use log::RedisMessageLog;
