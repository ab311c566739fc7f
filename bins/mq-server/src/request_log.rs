//! One log event per HTTP request: method, path, status and latency.
//!
//! Only the path is logged, never the query string, headers or body, so message values and
//! anything a client puts in a request stay out of the logs.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// Middleware for `App::wrap(from_fn(log_request))`.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    // Milliseconds with microsecond precision: readable, and a number for log collectors.
    let latency_ms = started.elapsed().as_micros() as f64 / 1e3;
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), latency_ms, "request");
    } else {
        tracing::info!(%method, %path, status = status.as_u16(), latency_ms, "request");
    }
    result
}
