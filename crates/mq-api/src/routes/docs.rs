//! The API's own description: `GET /api/v1/mq/openapi.json` (the OpenAPI 3.1 document, see
//! [`crate::openapi`]) and the interactive API page at `/docs` (Swagger UI, compiled in), both
//! readable without a token since a browser loading the page cannot send one; the IP
//! allow-list still applies.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::Routes;

/// The document as served: encoded once at start-up.
#[derive(Debug)]
pub(super) struct Document(web::Bytes);

impl Document {
    pub(super) fn new() -> Self {
        // A document of strings, maps and numbers always encodes; an empty body would only
        // fail the clients' parsing, never the server.
        Self(serde_json::to_vec(&crate::openapi()).unwrap_or_default().into())
    }
}

pub(super) fn mount(routes: &mut Routes<'_>) {
    routes.add(__path_openapi_json, openapi_json);
}

/// Where the API page is: Swagger UI's files under `/docs/`, pointed at the document.
const UI_PATH: &str = "/docs";

/// Mounts the API page at `/docs/` (and `/docs`, which redirects there so the page's relative
/// links resolve), behind the guard for its IP allow-list. Not in the document: it is the
/// document's viewer.
pub(super) fn mount_ui(app: &mut web::ServiceConfig) {
    let openapi_url = format!("{}/openapi.json", crate::API_PREFIX);
    let ui = SwaggerUi::new("/{_:.*}")
        .config(Config::new([openapi_url]).try_it_out_enabled(true).persist_authorization(true));
    app.service(
        web::scope(UI_PATH)
            .wrap(actix_web::middleware::from_fn(crate::security::guard))
            .service(web::resource("").route(web::get().to(to_ui)))
            .service(ui),
    );
}

async fn to_ui() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header(("location", format!("{UI_PATH}/"))).finish()
}

/// The OpenAPI 3.1 document of this API.
///
/// Generated from the code: every route the server has, its parameters, request and response
/// shapes and statuses. Readable without a token (the API page loads it from the browser).
#[utoipa::path(
    get,
    path = "/api/v1/mq/openapi.json",
    tag = "docs",
    operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI document (not in the envelope).",
         content_type = "application/json", body = crate::openapi::AnyValue),
    ),
)]
async fn openapi_json(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::json()).body(document.0.clone())
}
