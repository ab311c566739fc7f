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
mod observe;
mod openapi;
mod routes;
mod security;
mod value;

pub use config::{ApiConfig, DEFAULT_JSON_LIMIT_BYTES};
pub use error::ApiError;
pub use openapi::openapi;
pub use routes::{configure, API_PREFIX};
pub use security::{AuthConfig, RateLimitConfig, SecurityConfig, TokenConfig};
