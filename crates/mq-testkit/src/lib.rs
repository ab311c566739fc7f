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
//! [`RedisCluster`] is a Redis Cluster (`MQTEST_REDIS_CLUSTER_URL`, shared, or 3 masters with a
//! replica each spawned for the fixture) and [`RedisSentinel`] a master, a replica and three
//! sentinels, always spawned; both come with the operations fault tests need (kill a master,
//! add one, move slots, wait for a promotion).
//!
//! `start_owned` never uses an external server, so the test may [`RedisServer::stop`] it to see
//! how the code under test behaves when its server goes away. Spawned processes and containers
//! are killed and reaped when the fixture drops, also when a test panics.
#![deny(missing_docs)]

mod backing;
mod cluster;
mod docker;
mod mongo;
mod process;
mod redis;
mod sentinel;
mod url;
mod wire;

pub use cluster::{ClusterMaster, RedisCluster};
pub use mongo::MongoServer;
pub use redis::RedisServer;
pub use sentinel::{RedisSentinel, SERVICE_NAME as SENTINEL_SERVICE_NAME};
