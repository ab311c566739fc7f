//! Test fixtures for mq: a real Redis and a real MongoDB-wire server per test, never a mock.
//!
//! [`RedisServer::start`] and [`MongoServer::start`] pick, in this order:
//!
//! 1. a shared external server named by `MQTEST_REDIS_URL` / `MQTEST_MONGO_URI`;
//! 2. a container (`redis:7`, `mongo:7`) through testcontainers, when a Docker engine answers
//!    (`MQTEST_NO_DOCKER=1` skips the probe);
//! 3. a server process spawned for this fixture alone on a free loopback port with a scratch
//!    directory: `redis-server` (`MQTEST_REDIS_SERVER` or `PATH`) and SecantusDB's
//!    `secantusd-py` (`MQTEST_SECANTUSD`, `PATH`, or `.tools/venv` of the workspace).
//!
//! Each fixture's config carries its own key prefix or database, so fixtures sharing one external
//! server do not see each other's data. When no server can be had, `start` fails with a message
//! saying how to get one: tests never skip silently. `bash scripts/test.sh` installs everything.
//!
//! `start_owned` never uses an external server, so the test may [`RedisServer::stop`] it to see
//! how the code under test behaves when its server goes away. Spawned processes and containers
//! are killed and reaped when the fixture drops, also when a test panics.
#![deny(missing_docs)]

mod backing;
mod docker;
mod mongo;
mod process;
mod redis;
mod url;
mod wire;

pub use mongo::MongoServer;
pub use redis::RedisServer;
