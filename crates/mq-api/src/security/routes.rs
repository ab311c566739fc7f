//! Tokens (`POST/GET /tokens`, `DELETE /tokens/{name}`) and the audit log
//! (`GET /audit-logs`), admin only (the guard checks); and `GET /whoami`, for any caller.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use mq_broker::{Broker, BrokerError};
use mq_model::{ApiToken, AuditRecord, Paged, Role};
use mq_repo::{AuditFilter, RepoError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::envelope::ok;
use crate::extract::{page, Json};
use crate::openapi::{Envelope, ErrorEnvelope};
use crate::routes::Routes;
use crate::security::Caller;
use crate::ApiError;

pub(crate) fn mount(routes: &mut Routes<'_>) {
    routes
        .add(__path_list, list)
        .add(__path_create, create)
        .add(__path_revoke, revoke)
        .add(__path_audit_logs, audit_logs)
        .add(__path_whoami, whoami);
}

/// `GET /whoami`: the caller as the guard authenticated it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct WhoAmI {
    /// The token's name (`local` in protected mode, `anonymous` with `auth.allow_anonymous`).
    name: String,
    /// `admin` or `service`.
    role: Role,
    /// Topic patterns it may publish to (any topic for an admin).
    produce: Vec<String>,
    /// Topic patterns it may consume from (any topic for an admin).
    consume: Vec<String>,
    /// Served without a token because none is configured and the call came from loopback.
    protected_mode: bool,
    /// Served without a token because `auth.allow_anonymous` is on.
    anonymous: bool,
}

/// Who the caller is: the name, role and permissions of the token sent, or how a call without
/// one was let in. For clients such as the web console to check a token before using it.
///
/// Any authenticated caller.
#[utoipa::path(
    get,
    path = "/api/v1/mq/whoami",
    tag = "security",
    operation_id = "whoami",
    responses((status = 200, description = "The caller.", body = Envelope<WhoAmI>)),
)]
async fn whoami(request: actix_web::HttpRequest, caller: Caller) -> Result<HttpResponse, ApiError> {
    let tokenless = !request.headers().contains_key(actix_web::http::header::AUTHORIZATION);
    let protected_mode = tokenless && caller.name == "local";
    ok(
        "ok",
        WhoAmI {
            anonymous: tokenless && !protected_mode,
            protected_mode,
            name: caller.name,
            role: caller.role,
            produce: caller.produce,
            consume: caller.consume,
        },
    )
}

/// `POST /tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateToken {
    /// The token's name: who calls (the audit log's actor), unique; 1 to 255 characters, no
    /// control characters.
    #[schema(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,255}$")]
    name: String,
    /// `service` (default) or `admin`.
    #[serde(default)]
    role: Role,
    /// Topic patterns (`*` matches any run) a service token may publish to.
    #[serde(default)]
    produce: Vec<String>,
    /// Topic patterns a service token may consume from.
    #[serde(default)]
    consume: Vec<String>,
    /// When it stops working; never without.
    expires_at: Option<DateTime<Utc>>,
}

/// A new token: the secret is shown here once and never again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CreatedToken {
    #[serde(flatten)]
    token: ApiToken,
    /// The secret to send as `Authorization: Bearer <tokenSecret>`; shown only now.
    token_secret: String,
}

fn store(error: RepoError) -> ApiError {
    ApiError::Broker(BrokerError::Store(error))
}

/// Creates a run-time token; its secret is in the answer, and only there.
///
/// Needs the admin role.
#[utoipa::path(
    post,
    path = "/api/v1/mq/tokens",
    tag = "security",
    operation_id = "createToken",
    request_body = CreateToken,
    responses(
        (status = 200, description = "Created, with `tokenSecret`.", body = Envelope<CreatedToken>),
        (status = 409, description = "A token with this name exists.", body = ErrorEnvelope),
    ),
)]
async fn create(
    broker: web::Data<Broker>,
    body: Json<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    mq_model::validate_client_id("name", &body.name).map_err(|e| ApiError::Broker(e.into()))?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| ApiError::InvalidConfig {
        field: "token",
        reason: format!("no randomness: {e}"),
    })?;
    let secret = format!("mq_{}", hex::encode(secret));
    let token = ApiToken {
        name: body.name,
        token_sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        role: body.role,
        produce: body.produce,
        consume: body.consume,
        expires_at: body.expires_at,
        created_at: Utc::now(),
    };
    // A taken name is `AlreadyExists`: 409.
    let stored = broker.metadata().tokens.insert(token).await.map_err(store)?;
    ok(
        "token created; its secret is shown only now",
        CreatedToken { token: stored, token_secret: secret },
    )
}

/// Lists the run-time tokens, without secrets.
///
/// Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/tokens",
    tag = "security",
    operation_id = "listTokens",
    responses((status = 200, description = "The tokens.", body = Envelope<Vec<ApiToken>>)),
)]
async fn list(broker: web::Data<Broker>) -> Result<HttpResponse, ApiError> {
    ok("ok", broker.metadata().tokens.list().await.map_err(store)?)
}

/// How many tokens a revocation removed.
#[derive(Debug, Serialize, ToSchema)]
struct Revoked {
    /// 1.
    revoked: u64,
}

/// Revokes a run-time token (tokens from config are changed in config).
///
/// Needs the admin role.
#[utoipa::path(
    delete,
    path = "/api/v1/mq/tokens/{name}",
    tag = "security",
    operation_id = "revokeToken",
    params(("name" = String, Path, description = "The token's name.")),
    responses(
        (status = 200, description = "Revoked.", body = Envelope<Revoked>),
        (status = 404, description = "No run-time token has this name (tokens from config are \
         changed in config).", body = ErrorEnvelope),
    ),
)]

async fn revoke(
    broker: web::Data<Broker>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if broker.metadata().tokens.revoke(&name).await.map_err(store)? {
        ok("token revoked", Revoked { revoked: 1 })
    } else {
        // Tokens from config are not stored, so they are not found here either: they are
        // changed in config.
        Err(store(RepoError::NotFound { kind: "run-time token", id: name.into_inner() }))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only records at or after this RFC 3339 time.
    from: Option<DateTime<Utc>>,
    /// Only records before this RFC 3339 time.
    to: Option<DateTime<Utc>>,
    /// Only records of this actor (a token's name, `local` or `anonymous`).
    actor: Option<String>,
    /// Only records of this action, e.g. `POST /topics`.
    action: Option<String>,
    #[param(schema_with = crate::openapi::page_number)]
    page: Option<String>,
    /// Items per page, 1 to 1000 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    page_size: Option<String>,
}

/// Reads the audit log: admin actions, failed authentications and refusals, newest first.
///
/// Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/audit-logs",
    tag = "security",
    operation_id = "auditLogs",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit records.",
         body = Envelope<Paged<AuditRecord>>),
    ),
)]

async fn audit_logs(
    broker: web::Data<Broker>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(query.page.as_deref(), query.page_size.as_deref())?;
    let q = query.into_inner();
    let filter = AuditFilter { from: q.from, to: q.to, actor: q.actor, action: q.action };
    ok("ok", broker.metadata().audit.list(&filter, page).await.map_err(store)?)
}
