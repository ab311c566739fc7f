//! The routes and how they are mounted: health and metrics at the root, everything else under
//! [`API_PREFIX`], the API page at `/docs`, and envelopes for unknown paths and wrong methods.
//!
//! # How the OpenAPI document stays complete
//!
//! A handler is mounted only through [`Routes::add`], which takes the handler's
//! `#[utoipa::path]` description and reads the method and path from it: the attribute that
//! documents a route is the one that routes it, and every route mounted that way is recorded
//! for the document ([`operations`] runs the same mount functions as [`configure`]). So the
//! document cannot lack a route, nor name one that does not exist, unless a route is mounted
//! some other way; the tests `every_route_is_mounted_through_routes_add` (a scan of this
//! crate's sources for any other way of mounting) and `every_documented_operation_is_routed`
//! (each documented method and path, called on the real app, reaches a handler rather than
//! the 404 or 405 envelope) hold that. The exceptions are the two browser UIs over the API, not
//! part of it: the API page at `/docs`, the document's viewer, mounted by `docs::mount_ui`, and
//! the web console at `/console/`, mounted by `console::mount_ui`.

mod console;
mod consume;
mod consumers;
mod dead_letters;
mod docs;
mod groups;
mod health;
mod messages;
mod monitoring;
mod scheduled;
mod stream;
mod topics;
mod transactions;

use actix_web::dev::HttpServiceFactory;
use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder};
use mq_broker::Broker;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

use crate::{extract, ApiConfig, ApiError};

/// Where the REST API lives.
pub const API_PREFIX: &str = "/api/v1/mq";

/// Mounts the API on an actix-web app: `GET /healthz`, `GET /readyz` and `GET /metrics` at the
/// root, every route under [`API_PREFIX`] (the OpenAPI document at
/// `GET /api/v1/mq/openapi.json` included), the API page at `/docs`, the body, query and path
/// extractor configs whose errors become envelopes (400; 413 for a body over
/// `cfg.json_limit_bytes`), and a default service that answers unknown paths with a 404
/// envelope. Use as `App::new().configure(mq_api::configure(broker, cfg))`; the returned
/// closure is cheap to clone into each server worker.
pub fn configure(
    broker: Broker,
    cfg: ApiConfig,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let broker = web::Data::new(broker);
    let guard = web::Data::new(crate::security::Guard::new(cfg.auth.clone(), cfg.security.clone()));
    let document = web::Data::new(docs::Document::new());
    let limits = web::Data::new(crate::limits::Limits::new(&cfg));
    let console = console::Files::new(&cfg.console);
    move |app: &mut web::ServiceConfig| {
        app.app_data(broker.clone())
            .app_data(guard.clone())
            .app_data(document.clone())
            .app_data(limits.clone())
            .app_data(extract::json_config(cfg.json_limit_bytes))
            .app_data(extract::query_config())
            .app_data(extract::path_config());
        Routes::mount(app, "", true, root);
        docs::mount_ui(app);
        console::mount_ui(app, console.as_ref());
        app.service(
            web::scope(API_PREFIX)
                // The guard inside the observer, so refusals are counted and logged too.
                .wrap(actix_web::middleware::from_fn(crate::security::guard))
                .wrap(actix_web::middleware::from_fn(crate::observe::observe))
                .configure(|scope| {
                    Routes::mount(scope, API_PREFIX, false, api);
                })
                .default_service(web::to(no_route)),
        )
        .default_service(web::to(no_route));
    }
}

/// The routes at the root.
fn root(routes: &mut Routes<'_>) {
    health::mount(routes);
    monitoring::mount_root(routes);
}

/// The routes under [`API_PREFIX`], in matching order.
fn api(routes: &mut Routes<'_>) {
    messages::mount(routes);
    scheduled::mount(routes);
    topics::mount(routes);
    groups::mount(routes);
    stream::mount(routes);
    consume::mount(routes);
    consumers::mount(routes);
    dead_letters::mount(routes);
    transactions::mount(routes);
    monitoring::mount(routes);
    crate::security::mount(routes);
    docs::mount(routes);
}

/// One documented operation: its path, its methods, what the document says of it (tags
/// included), and the named schemas it refers to.
pub(crate) struct Documented {
    pub(crate) path: String,
    pub(crate) methods: Vec<HttpMethod>,
    pub(crate) operation: Operation,
    pub(crate) schemas: Vec<(String, RefOr<Schema>)>,
}

/// Every operation [`configure`] mounts, as its handlers' attributes describe them, in mounting
/// order: the paths of the OpenAPI document.
pub(crate) fn operations() -> Vec<Documented> {
    let mut all = Vec::new();
    // The mount functions need an app to mount on; this one is only built, never served.
    let _ = actix_web::App::new().configure(|app| {
        all.extend(Routes::mount(app, "", true, root));
        all.extend(Routes::mount(app, API_PREFIX, false, api));
    });
    all
}

/// Where handlers are mounted, each from its `#[utoipa::path]` description (see the module
/// docs). Operations on one path share one resource, whose other methods get a 405 envelope
/// with an `Allow` header listing the documented ones; resources are registered in the order
/// their paths first appear, which decides matching (`/messages/batch` before
/// `/messages/{messageId}`).
pub(crate) struct Routes<'a> {
    app: &'a mut web::ServiceConfig,
    /// What the documented paths start with that the mounting scope already matched.
    prefix: &'static str,
    /// Whether each resource gets the security guard of its own (at the root, where no scope
    /// carries it; the guard lets the health checks through).
    guarded: bool,
    resources: Vec<Pending>,
    documented: Vec<Documented>,
}

/// A resource being built: its path (below the prefix), its methods so far, and those of them
/// whose operation documents no query parameter.
struct Pending {
    path: String,
    resource: Option<Resource>,
    methods: Vec<String>,
    without_query: Vec<actix_web::http::Method>,
}

impl std::fmt::Debug for Routes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&str> = self.resources.iter().map(|r| r.path.as_str()).collect();
        f.debug_struct("Routes").field("prefix", &self.prefix).field("paths", &paths).finish()
    }
}

impl<'a> Routes<'a> {
    /// Runs `mount` on a new `Routes`, registers its resources on `app` and returns what was
    /// mounted.
    fn mount(
        app: &'a mut web::ServiceConfig,
        prefix: &'static str,
        guarded: bool,
        mount: impl FnOnce(&mut Routes<'a>),
    ) -> Vec<Documented> {
        let mut routes =
            Routes { app, prefix, guarded, resources: Vec::new(), documented: Vec::new() };
        mount(&mut routes);
        for pending in routes.resources {
            let Some(resource) = pending.resource else { continue };
            let allow = pending.methods.join(", ");
            let resource = resource.default_service(web::to(move |request: HttpRequest| {
                method_not_allowed(request, allow.clone())
            }));
            // Lists refuse unknown query parameters through their extractors; a write that
            // documents none refuses any, rather than ignoring a misspelt one.
            let without_query = std::rc::Rc::new(pending.without_query);
            let resource = resource.wrap(actix_web::middleware::from_fn(
                move |request: actix_web::dev::ServiceRequest,
                      next: actix_web::middleware::Next<actix_web::body::BoxBody>| {
                    let refuse = without_query.contains(request.method())
                        && !request.query_string().is_empty();
                    async move {
                        if refuse {
                            let name = request.query_string().split(['=', '&']).next();
                            return Err(ApiError::Query {
                                detail: format!(
                                    "unknown parameter {:?}: this operation takes no query \
                                     parameters",
                                    name.unwrap_or_default()
                                ),
                            }
                            .into());
                        }
                        next.call(request).await
                    }
                },
            ));
            if routes.guarded {
                register(
                    routes.app,
                    resource.wrap(actix_web::middleware::from_fn(crate::security::guard)),
                );
            } else {
                register(routes.app, resource);
            }
        }
        routes.documented
    }

    /// Mounts `handler` at the method(s) and path of its description `doc` (the unit struct
    /// `__path_<handler>` that `#[utoipa::path]` generates), and records the description for
    /// the OpenAPI document.
    ///
    /// Tags and the schemas an operation refers to come through utoipa's `__dev` traits, the
    /// ones its own actix-web bindings (`utoipa-actix-web`) use for the same purpose.
    pub(crate) fn add<P, F, Args>(&mut self, doc: P, handler: F) -> &mut Self
    where
        P: utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>,
        F: Handler<Args> + Clone,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let _ = doc;
        let path = P::path();
        let methods = P::methods();
        // A path outside the prefix would be mounted where the document does not say; the
        // test that calls every documented operation catches it.
        let local = path.strip_prefix(self.prefix).unwrap_or(&path).to_owned();
        let index = match self.resources.iter().position(|r| r.path == local) {
            Some(index) => index,
            None => {
                let resource = Some(web::resource(&local));
                self.resources.push(Pending {
                    path: local,
                    resource,
                    methods: Vec::new(),
                    without_query: Vec::new(),
                });
                self.resources.len() - 1
            }
        };
        let takes_query = P::operation().parameters.iter().flatten().any(|parameter| {
            use utoipa::openapi::path::ParameterIn;
            // Parameters of a handler are inline; a reference is taken to mean "maybe".
            match parameter {
                RefOr::T(parameter) => matches!(parameter.parameter_in, ParameterIn::Query),
                RefOr::Ref(_) => true,
            }
        });
        let pending = &mut self.resources[index];
        if let Some(mut resource) = pending.resource.take() {
            for method in &methods {
                let method = crate::openapi::actix_method(method);
                // Reads keep ignoring stray parameters (cache busters, probes that add some).
                if !takes_query && !matches!(method, Method::GET | Method::HEAD) {
                    pending.without_query.push(method.clone());
                }
                pending.methods.push(method.to_string());
                resource = resource.route(web::method(method).to(handler.clone()));
            }
            pending.resource = Some(resource);
        }
        let mut operation = P::operation();
        let tags = P::tags();
        if !tags.is_empty() {
            operation.tags = Some(tags.into_iter().map(str::to_owned).collect());
        }
        let mut schemas = Vec::new();
        P::schemas(&mut schemas);
        self.documented.push(Documented { path, methods, operation, schemas });
        self
    }
}

fn register(app: &mut web::ServiceConfig, service: impl HttpServiceFactory + 'static) {
    app.service(service);
}

async fn no_route(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute { method: request.method().to_string(), path: request.path().to_owned() })
}

/// The 405 envelope, with the `Allow` header RFC 9110 asks for.
async fn method_not_allowed(request: HttpRequest, allow: String) -> HttpResponse {
    let error = ApiError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.path().to_owned(),
    };
    let mut response = actix_web::ResponseError::error_response(&error);
    if let Ok(value) = allow.parse() {
        response.headers_mut().insert(actix_web::http::header::ALLOW, value);
    }
    response
}

#[cfg(test)]
mod tests;
