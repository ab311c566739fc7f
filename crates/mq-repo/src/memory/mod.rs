//! In-memory implementations of every storage trait: the embedded default mode (no Redis or
//! MongoDB needed) and fast unit tests. Same semantics as the real stores, checked by the same
//! conformance suites.

mod alerts;
mod half;
mod log;
mod metadata;
mod schedule;
mod security;
mod stats;
mod transactions;

pub use log::MemoryMessageLog;
pub use metadata::MemoryMetadata;
