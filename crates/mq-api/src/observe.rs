//! Request metrics (design §9.2): every API request is counted by method, route pattern and
//! status, and timed. (The server binary logs each request with its latency.)

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use mq_broker::Broker;

/// The middleware: wrap a scope with `actix_web::middleware::from_fn(observe)`.
pub(crate) async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().to_string();
    // The pattern (`/api/v1/mq/topics/{name}`), not the path: one series per route, and no
    // ids or names in metric labels.
    let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let broker = request.app_data::<web::Data<Broker>>().cloned();
    let response = next.call(request).await?;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(broker) = broker {
        let metrics = broker.metrics();
        metrics.http_requests.with_label_values(&[&method, &route, &status.to_string()]).inc();
        metrics.http_duration.with_label_values(&[&method, &route]).observe(elapsed.as_secs_f64());
    }
    Ok(response)
}
