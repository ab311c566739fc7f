//! The routes and how they are mounted: health at the root, everything else under
//! [`API_PREFIX`], and envelopes for unknown paths and wrong methods.

mod consume;
mod consumers;
mod dead_letters;
mod groups;
mod health;
mod messages;
mod monitoring;
mod scheduled;
mod stream;
mod topics;
mod transactions;

use actix_web::{web, HttpRequest, HttpResponse, Resource};
use mq_broker::Broker;

use crate::{extract, ApiConfig, ApiError};

/// Where the REST API lives.
pub const API_PREFIX: &str = "/api/v1/mq";

/// Mounts the API on an actix-web app: `GET /healthz` and `GET /readyz` at the root,
/// every route under [`API_PREFIX`], the body, query and path extractor configs whose errors
/// become envelopes (400; 413 for a body over `cfg.json_limit_bytes`), and a default service
/// that answers unknown paths with a 404 envelope. Use as
/// `App::new().configure(mq_api::configure(broker, cfg))`; the returned closure is cheap to
/// clone into each server worker.
pub fn configure(
    broker: Broker,
    cfg: ApiConfig,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let broker = web::Data::new(broker);
    let guard = web::Data::new(crate::security::Guard::new(cfg.auth.clone(), cfg.security.clone()));
    move |app: &mut web::ServiceConfig| {
        app.app_data(broker.clone())
            .app_data(guard.clone())
            .app_data(extract::json_config(cfg.json_limit_bytes))
            .app_data(extract::query_config())
            .app_data(extract::path_config())
            .configure(health::mount)
            .configure(monitoring::mount_root)
            .service(
                web::scope(API_PREFIX)
                    // The guard inside the observer, so refusals are counted and logged too.
                    .wrap(actix_web::middleware::from_fn(crate::security::guard))
                    .wrap(actix_web::middleware::from_fn(crate::observe::observe))
                    .configure(messages::mount)
                    .configure(scheduled::mount)
                    .configure(topics::mount)
                    .configure(groups::mount)
                    .configure(stream::mount)
                    .configure(consume::mount)
                    .configure(consumers::mount)
                    .configure(dead_letters::mount)
                    .configure(transactions::mount)
                    .configure(monitoring::mount)
                    .configure(crate::security::mount)
                    .default_service(web::to(no_route)),
            )
            .default_service(web::to(no_route));
    }
}

/// A resource whose other methods are answered with a 405 envelope.
pub(crate) fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn no_route(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute { method: request.method().to_string(), path: request.path().to_owned() })
}

async fn method_not_allowed(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.path().to_owned(),
    })
}
