//! Delayed delivery of mq: messages published with a delay wait in a durable per-partition
//! schedule ([`mq_repo::ScheduleStore`]) and are appended to their partition when due.
//!
//! - [`TimingWheel`]: a hierarchical timing wheel, a pure data structure with no clock.
//! - [`DelayScheduler`]: the runtime. A loader reads what falls due within a horizon from the
//!   schedules into the wheel; a ticker advances the wheel every tick and asks the store to
//!   fire what expired, an atomic move that appends each message exactly once however many
//!   schedulers (broker instances) fire it. [`DelayScheduler::stats`] reports for monitoring.
//! - [`DelayConfig`]: the tick, the loader's cadence and horizon, and the limits;
//!   [`due_from_delay`] and [`due_from_time`] apply the limits to a request.
//!
//! Time comes from a [`mq_model::Clock`], so tests drive the scheduler with a manual clock.
#![deny(missing_docs)]

mod config;
mod error;
mod limits;
mod scheduler;
mod stats;
mod wheel;

pub use config::DelayConfig;
pub use error::DelayError;
pub use limits::{due_from_delay, due_from_time};
pub use scheduler::{DelayScheduler, OnFired};
pub use stats::{DelayStats, LatenessSummary, LATENESS_WINDOW};
pub use wheel::TimingWheel;
