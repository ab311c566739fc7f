//! The Redis Streams message log.

mod envelope;
mod keys;
mod log;
mod reply;
mod scripts;

pub use log::RedisMessageLog;
