//! `GET /healthz` (the process answers) and `GET /readyz` (both stores answer), at the root and
//! outside the envelope, for load balancers and orchestrators.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use serde::Serialize;

use super::resource;
use crate::error::chain;

pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/healthz").route(web::get().to(healthz)))
        .service(resource("/readyz").route(web::get().to(readyz)));
}

#[derive(Debug, Serialize)]
struct Status {
    status: &'static str,
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// Not ready while shutting down too, so a load balancer stops sending before the listener
/// closes.
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
