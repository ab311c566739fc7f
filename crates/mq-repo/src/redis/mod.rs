//! The Redis Streams message log and, beside it, the schedule of delayed messages.

mod envelope;
mod keys;
mod log;
mod reply;
mod schedule;
mod scripts;

pub use log::RedisMessageLog;
