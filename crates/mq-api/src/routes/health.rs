//! `GET /healthz` (the process answers) and `GET /readyz` (both stores answer), at the root and
//! outside the envelope, for load balancers and orchestrators.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use serde::Serialize;
use utoipa::ToSchema;

use super::Routes;
use crate::error::chain;

pub(super) fn mount(routes: &mut Routes<'_>) {
    routes.add(__path_healthz, healthz).add(__path_readyz, readyz);
}

/// A health answer (not in the envelope).
#[derive(Debug, Serialize, ToSchema)]
struct Status {
    /// `ok` (`/healthz`), `ready` or `unavailable` (`/readyz`).
    #[schema(value_type = HealthStatus)]
    status: &'static str,
}

/// The values of [`Status::status`].
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // A schema only.
enum HealthStatus {
    Ok,
    Ready,
    Unavailable,
}

/// Liveness: the process answers.
///
/// Needs no token and is outside the envelope.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    responses(
        (status = 200, description = "The process answers: `{\"status\": \"ok\"}`.",
         body = Status),
    ),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// Readiness: both stores answer and the server is not shutting down.
///
/// Not ready while shutting down too, so a load balancer stops sending before the listener
/// closes. Needs no token and is outside the envelope.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready: `{\"status\": \"ready\"}`.", body = Status),
        (status = 503, description = "Not ready: `{\"status\": \"unavailable\"}`.", body = Status),
    ),
)]
async fn readyz(broker: web::Data<Broker>) -> HttpResponse {
    if broker.is_shutting_down() {
        return HttpResponse::ServiceUnavailable().json(Status { status: "unavailable" });
    }
    match broker.ready().await {
        Ok(()) => HttpResponse::Ok().json(Status { status: "ready" }),
        Err(error) => {
            tracing::warn!(error = %chain(&error), "not ready: a store does not answer");
            HttpResponse::ServiceUnavailable().json(Status { status: "unavailable" })
        }
    }
}
