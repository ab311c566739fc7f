//! The REST API of mq: actix-web routes under `/api/v1/mq` over an [`mq_broker::Broker`], plus
//! `GET /healthz` and `GET /readyz` at the root. This is the only crate that knows actix-web and
//! the HTTP JSON shapes; the server binary mounts it with [`configure`].
//!
//! Every response under `/api/v1/mq` (success or error, including unknown routes, wrong methods
//! and malformed requests) is the envelope
//! `{"code": <HTTP status>, "message": "...", "data": ...}`, except the API's own description:
//! `GET /api/v1/mq/openapi.json` answers the OpenAPI 3.1 document ([`openapi`]) as it is, and
//! `/docs` is an interactive page on it; both are readable without a token.
//! Errors carry `"data": null` and a message that names the offending field and says why; faults
//! of the server are logged and answered with a generic message only ([`ApiError`]).
//!
//! Message values are JSON. A value sent as any JSON value (object, array, string, number,
//! boolean or `null`) is stored as its JSON text without insignificant whitespace — its
//! length is what the topic's `maxMessageSize` limits — and comes back on consume and browse as
//! the same JSON value: numbers keep their written digits and objects their key order. Values
//! published through the Rust library may be arbitrary bytes; those come back as a JSON string
//! when they are UTF-8 text that is not itself JSON, and otherwise as a base64 string with an
//! extra field `"valueEncoding": "base64"` next to `value`.
//!
//! Lists take `page` (from 1, default 1) and `pageSize` (1 to 1000, default 20) and answer
//! `data: {items, total, page, pageSize}`. Request bodies are JSON, sent with
//! `Content-Type: application/json` (else 415), of at most
//! [`ApiConfig::json_limit_bytes`] bytes (413 beyond), and unknown fields are refused, so a
//! misspelt field is reported instead of silently ignored. Unknown query parameters are refused
//! the same way.
#![deny(missing_docs)]

mod config;
mod dto;
mod envelope;
mod error;
mod extract;
mod limits;
mod observe;
mod openapi;
mod routes;
mod security;
mod value;

pub use config::{ApiConfig, ConsoleConfig, DEFAULT_JSON_LIMIT_BYTES, DEFAULT_MAX_LONG_POLLS};
pub use error::ApiError;
pub use openapi::openapi;
pub use routes::{configure, API_PREFIX};
pub use security::{AuthConfig, RateLimitConfig, SecurityConfig, TokenConfig};
pub use value::{DEFAULT_MAX_VALUE_DEPTH, MAX_VALUE_DEPTH_LIMIT};

/// Not public API: private hot paths of this crate, reachable from its criterion benchmarks
/// (`benches/`, which are separate crates). Hidden from the docs; may change at any time.
#[doc(hidden)]
pub mod __bench {
    use serde_json::value::RawValue;

    use crate::dto::{MessageOut, MessagesOut, SendBatch};

    /// What `POST /messages/batch` does with its body before the broker sees it: syntax check
    /// (as the extractor's first step), shape (fast path, path tracked only on error), then the
    /// messages to publish. Returns how many.
    pub fn parse_batch(body: &[u8]) -> Option<usize> {
        let raw: Box<RawValue> = serde_json::from_slice(body).ok()?;
        let batch: SendBatch = crate::extract::from_raw(&raw).ok()?;
        batch.outgoing(crate::DEFAULT_MAX_VALUE_DEPTH).ok().map(|messages| messages.len())
    }

    /// As [`parse_batch`] with the path tracked on every field (the extractor before its fast
    /// path); the baseline.
    pub fn parse_batch_tracked(body: &[u8]) -> Option<usize> {
        let raw: Box<RawValue> = serde_json::from_slice(body).ok()?;
        let batch: SendBatch = crate::extract::from_raw_tracked(&raw).ok()?;
        batch.outgoing(crate::DEFAULT_MAX_VALUE_DEPTH).ok().map(|messages| messages.len())
    }

    /// The JSON of a `POST /consume` answer's `data` holding these deliveries.
    pub fn render_consumed(messages: Vec<mq_broker::ReceivedMessage>) -> Vec<u8> {
        let messages = messages.into_iter().map(MessageOut::from).collect();
        serde_json::to_vec(&MessagesOut { messages, next_offset: None }).unwrap_or_default()
    }
}
