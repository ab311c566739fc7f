//! The REST API through actix-web's test service, over a broker on the in-memory stores:
//! every route, every error status, the design's request bodies verbatim and the value round
//! trip. End-to-end tests through the server binary live in the workspace's `tests/e2e`.
// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod admin;
mod console;
mod delay;
mod errors;
mod errors_consuming;
mod faults;
mod harness;
mod messages;
mod openapi;
mod table;
