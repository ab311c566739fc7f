//! The OpenAPI 3.1 document of the REST API ([`openapi`]), generated from the code and served at
//! `GET /api/v1/mq/openapi.json`.
//!
//! Where each part comes from:
//! - **Operations**: each handler's `#[utoipa::path]` attribute, which is also what mounts the
//!   handler (`routes::Routes::add` takes the method and path from it), so the document lists
//!   exactly the routes the server has (see [`crate::routes`] for how that is kept).
//! - **Shapes**: the `ToSchema` derives of the request and response types, next to their serde
//!   attributes (`rename_all`, `deny_unknown_fields` → `additionalProperties: false`, `default`
//!   and `Option` → not required, `skip_serializing_if`), in this crate and, behind its
//!   `openapi` feature, in `mq-model` for the models the API sends as they are.
//! - **What every route shares** is added here ([`complete`]) from what the route is, rather than
//!   repeated on each handler: the bearer token and 401/403/429 on every guarded route, 500/503
//!   on every route that reaches the stores, 400/413/415 on every JSON body, 400 on every route
//!   with query parameters (unknown ones are refused too), 404 on every route with path
//!   parameters. Route-specific statuses (404 for what a body names, 409, a 413 for
//!   `maxMessageSize`) are in the handlers' attributes.
//!
//! Every response under `/api/v1/mq` is the envelope `{code, message, data}`: successes are
//! `Envelope<T>` with the route's `data`, errors [`ErrorEnvelope`] with `data: null`. The
//! document itself and `/healthz`, `/readyz`, `/metrics` are outside the envelope.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::security::{access, Access};

/// The name of the bearer-token security scheme.
const BEARER: &str = "bearer";

/// The OpenAPI 3.1 document of every route the server mounts: under `/api/v1/mq`, and
/// `/healthz`, `/readyz` and `/metrics` at the root. `info.version` is this crate's version;
/// the one server is `/` (paths are absolute).
pub fn openapi() -> OpenApi {
    let mut doc = base();
    for mut documented in crate::routes::operations() {
        complete(&documented.path, &mut documented.operation);
        let components = doc.components.get_or_insert_with(Default::default);
        components.schemas.extend(documented.schemas);
        doc.paths.add_path_operation(documented.path, documented.methods, documented.operation);
    }
    doc
}

/// The document without paths: info, server, tags, the security scheme and the shared schemas
/// and responses.
fn base() -> OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        info(
            title = "mq REST API",
            description = "A message queue on Redis Streams and MongoDB (or in memory). Every \
                response under /api/v1/mq is the envelope {code, message, data}; errors carry \
                data: null and a message that names the offending field. Send the token as \
                Authorization: Bearer <token>.",
            license(name = "Apache-2.0", identifier = "Apache-2.0"),
        ),
        servers((url = "/", description = "This server")),
        components(schemas(ErrorEnvelope)),
        tags(
            (name = "messages", description = "Publishing, and delayed messages after publishing"),
            (name = "consume", description = "Fetching, acknowledging and streaming messages"),
            (name = "topics", description = "Topics and browsing their partitions"),
            (name = "consumer-groups", description = "Consumer groups and their consumers"),
            (name = "dead-letters", description = "Messages that failed too often"),
            (name = "transactions", description = "Half messages and their decisions"),
            (name = "monitoring", description = "Rates, lag, alerts and Prometheus metrics"),
            (name = "security", description = "Run-time tokens and the audit log"),
            (name = "health", description = "Liveness and readiness, outside the envelope"),
            (name = "docs", description = "This document"),
        ),
    )]
    struct Base;

    let mut doc = <Base as utoipa::OpenApi>::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let components = doc.components.get_or_insert_with(Default::default);
    let mut bearer = Http::new(HttpAuthScheme::Bearer);
    bearer.description = Some(
        "A token from config (auth.tokens) or created with POST /api/v1/mq/tokens. With no \
         token configured at all (protected mode) only loopback clients are served, without one."
            .to_owned(),
    );
    components.security_schemes.insert(BEARER.to_owned(), RefOr::T(SecurityScheme::Http(bearer)));
    for (name, response) in shared_responses() {
        components.responses.insert(name.to_owned(), RefOr::T(response));
    }
    doc
}

/// The error responses every route may share, as `#/components/responses/<name>`.
fn shared_responses() -> Vec<(&'static str, Response)> {
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build(),
            )
            .build()
    };
    let header = |description: &str, schema: Schema| {
        HeaderBuilder::new().schema(Some(schema)).description(Some(description)).build()
    };
    let mut unauthorized = error("No valid token: missing, malformed, unknown or expired.");
    unauthorized.headers.insert(
        "WWW-Authenticate".to_owned(),
        RefOr::T(header("`Bearer`", ObjectBuilder::new().schema_type(Type::String).into())),
    );
    let mut too_many = error("A rate limit (per token or per client address) is exhausted.");
    too_many.headers.insert(
        "Retry-After".to_owned(),
        RefOr::T(header(
            "Seconds to wait before trying again.",
            ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).into(),
        )),
    );
    vec![
        (
            "BadRequest",
            error(
                "The request is malformed or a field is invalid; the message names the field \
                 and says why.",
            ),
        ),
        ("Unauthorized", unauthorized),
        (
            "Forbidden",
            error(
                "The client address is not allowed (security.ip_allowlist, or protected mode \
                 for a remote client), or the token lacks the permission the route needs.",
            ),
        ),
        (
            "NotFound",
            error(
                "Nothing has this id or name, or a path parameter does not fit the route (the \
                 `no route` envelope).",
            ),
        ),
        ("PayloadTooLarge", error("The request body is larger than api.json_limit_bytes.")),
        (
            "UnsupportedMediaType",
            error("The request body is not declared as JSON: send Content-Type: application/json."),
        ),
        ("TooManyRequests", too_many),
        ("InternalError", error("A fault of the server; the details are in its log only.")),
        (
            "Unavailable",
            error(
                "A store does not answer, or the server is shutting down; try again later. After a \
                 write (a publish, a commit) the outcome is unknown: it may or may not be \
                 stored (e.g. fewer Redis replicas than `min_replica_acks` confirmed it in \
                 time). Repeat a publish with the same idempotency key to be answered with \
                 what the first attempt became.",
            ),
        ),
    ]
}

/// Adds what a route shares with others of its kind (see the module docs) without replacing
/// what its attribute says.
pub(crate) fn complete(path: &str, operation: &mut Operation) {
    let mut shared: Vec<(&str, &str)> = Vec::new();
    match access(path, false) {
        Access::Open => {}
        Access::Public => {
            shared.extend([("403", "Forbidden"), ("429", "TooManyRequests")]);
            operation.security = Some(vec![SecurityRequirement::default()]);
        }
        Access::Token => {
            shared.extend([
                ("401", "Unauthorized"),
                ("403", "Forbidden"),
                ("429", "TooManyRequests"),
                ("500", "InternalError"),
                ("503", "Unavailable"),
            ]);
            operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
        }
    }
    if operation.request_body.is_some() {
        shared.extend([
            ("400", "BadRequest"),
            ("413", "PayloadTooLarge"),
            ("415", "UnsupportedMediaType"),
        ]);
    }
    let has = |place: ParameterIn| {
        operation.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.parameter_in == place,
            RefOr::Ref(_) => true,
        })
    };
    if has(ParameterIn::Query) {
        shared.push(("400", "BadRequest"));
    }
    if has(ParameterIn::Path) {
        shared.push(("404", "NotFound"));
    }
    for (status, name) in shared {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

/// A successful response under `/api/v1/mq`: `code` 200, a short `message` and the route's
/// `data`. (A schema only: responses are written by `envelope::ok`.)
#[derive(ToSchema)]
#[allow(dead_code)] // Never built: it describes what `envelope::ok` writes.
pub(crate) struct Envelope<T> {
    /// The HTTP status again, for clients that see only the body.
    #[schema(minimum = 200, maximum = 299)]
    code: u16,
    /// What was done, e.g. `message sent`, `topic created`, `ok`.
    message: String,
    /// The route's result.
    data: T,
}

/// An error response: `code` is the HTTP status, `message` says what is wrong (which field,
/// which permission) and `data` is `null`.
#[derive(ToSchema)]
#[allow(dead_code)] // Never built: it describes what `envelope::error_response` writes.
pub(crate) struct ErrorEnvelope {
    /// The HTTP status again, for clients that see only the body.
    #[schema(minimum = 400, maximum = 599)]
    code: u16,
    /// What went wrong; for faults of the server only a generic text.
    message: String,
    /// Always `null`.
    #[schema(schema_with = null_schema)]
    data: (),
}

/// `data: null`, for routes whose success carries nothing, and for errors.
fn null_schema() -> Schema {
    ObjectBuilder::new().schema_type(Type::Null).into()
}

/// The `data` of a route that returns nothing: `null`.
#[allow(dead_code)] // A schema only.
pub(crate) struct Null;

impl PartialSchema for Null {
    fn schema() -> RefOr<Schema> {
        RefOr::T(null_schema())
    }
}

impl ToSchema for Null {}

// Query parameters whose schema is written here rather than derived: their fields are text
// parsed by the handler, whose range a derived integer's `format` would get wrong. (A
// parameter's doc comment is lost with `schema_with`, so the description is in the schema.)

/// `page`: a whole number from 1, of any size.
pub(crate) fn page_number() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .description(Some("Page number, from 1 (default 1)."))
        .into()
}

/// `fromOffset`: a whole number from 0, of any size.
pub(crate) fn from_offset() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .description(Some("The first offset to show (default 0)."))
        .into()
}

/// `from` of a dead-letter filter.
pub(crate) fn failed_from() -> Schema {
    time_or_empty("Only those that failed at or after this RFC 3339 time (empty: no bound).")
}

/// `to` of a dead-letter filter.
pub(crate) fn failed_to() -> Schema {
    time_or_empty("Only those that failed before this RFC 3339 time (empty: no bound).")
}

/// An RFC 3339 time, or empty for none.
fn time_or_empty(description: &str) -> Schema {
    use utoipa::openapi::schema::{KnownFormat, OneOfBuilder, SchemaFormat};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(ObjectBuilder::new().schema_type(Type::String).max_length(Some(0)))
        .description(Some(description))
        .into()
}

/// Any JSON value (a message value): object, array, string, number, boolean or `null`.
pub(crate) type AnyValue = serde_json::Value;

/// The methods the document names, as actix-web's.
pub(crate) fn actix_method(method: &HttpMethod) -> actix_web::http::Method {
    use actix_web::http::Method;
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn document() -> Value {
        serde_json::to_value(openapi()).unwrap()
    }

    /// Every operation of the document: (method, path, operation).
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                all.push((method.clone(), path.clone(), operation.clone()));
            }
        }
        all
    }

    #[test]
    fn document_is_openapi_3_1_with_the_crate_version_and_one_server() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(doc["servers"], serde_json::json!([{"url": "/", "description": "This server"}]));
        assert_eq!(doc["components"]["securitySchemes"][BEARER]["scheme"], "bearer");
    }

    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("$ref", Value::String(target)) => out.push(target),
                        _ => refs(inner, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_operation_ids_are_unique() {
        let doc = document();
        let mut targets = Vec::new();
        refs(&doc, &mut targets);
        assert!(targets.len() > 100, "{targets:?}");
        for target in targets {
            let pointer = target.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
        let mut ids = std::collections::BTreeSet::new();
        for (method, path, operation) in operations(&doc) {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            assert!(ids.insert(id.clone()), "{method} {path}: operationId {id} twice");
        }
    }

    #[test]
    fn every_operation_documents_what_it_shares_with_others() {
        let doc = document();
        for (method, path, operation) in operations(&doc) {
            let statuses: Vec<&str> =
                operation["responses"].as_object().unwrap().keys().map(String::as_str).collect();
            let has = |status: &str| statuses.contains(&status);
            let at = format!("{method} {path}: {statuses:?}");
            assert!(statuses.iter().any(|s| s.starts_with('2')), "{at}");
            assert!(operation["summary"].is_string(), "{at}: a doc comment on the handler");
            match access(&path, false) {
                Access::Token => {
                    for status in ["401", "403", "429", "500", "503"] {
                        assert!(has(status), "{at}: {status}");
                    }
                    assert_eq!(operation["security"], serde_json::json!([{BEARER: []}]), "{at}");
                }
                Access::Public => {
                    assert!(has("403") && has("429") && !has("401"), "{at}");
                    assert_eq!(operation["security"], serde_json::json!([{}]), "{at}");
                }
                Access::Open => assert!(!has("401") && !has("403"), "{at}"),
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(has(status), "{at}: {status}");
                }
                let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
                let name = schema["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
                let body = &doc["components"]["schemas"][name];
                assert_eq!(body["additionalProperties"], false, "{at}: unknown fields refused");
            }
            // Errors under the prefix are envelopes.
            if path.starts_with(crate::API_PREFIX) {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    if status.starts_with('2') {
                        continue;
                    }
                    let schema = match response.get("$ref").and_then(Value::as_str) {
                        Some(target) => &doc.pointer(target.strip_prefix('#').unwrap()).unwrap()
                            ["content"]["application/json"]["schema"],
                        None => &response["content"]["application/json"]["schema"],
                    };
                    assert_eq!(schema["$ref"], "#/components/schemas/ErrorEnvelope", "{at}");
                }
            }
        }
    }

    #[test]
    fn envelopes_and_values_have_their_shapes() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let error = &schemas["ErrorEnvelope"];
        assert_eq!(error["required"], serde_json::json!(["code", "message", "data"]));
        assert_eq!(error["properties"]["data"], serde_json::json!({"type": "null"}));
        assert_eq!(schemas["Envelope_Null"]["properties"]["data"]["type"], "null");
        // A value is any JSON, and required in a send even though it may be null.
        assert_eq!(schemas["Value"], serde_json::json!({}));
        for body in ["SendMessage", "BatchItem"] {
            let required = schemas[body]["required"].as_array().unwrap();
            assert!(required.contains(&Value::from("value")), "{body}: {required:?}");
        }
    }
}
