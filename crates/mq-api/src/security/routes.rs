//! Tokens (`POST/GET /tokens`, `DELETE /tokens/{name}`) and the audit log
//! (`GET /audit-logs`), admin only (the guard checks).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use mq_broker::{Broker, BrokerError};
use mq_model::{ApiToken, Role};
use mq_repo::{AuditFilter, RepoError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::envelope::ok;
use crate::extract::{page, Json};
use crate::routes::resource;
use crate::ApiError;

pub(crate) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/tokens").route(web::get().to(list)).route(web::post().to(create)))
        .service(resource("/tokens/{name}").route(web::delete().to(revoke)))
        .service(resource("/audit-logs").route(web::get().to(audit_logs)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateToken {
    name: String,
    #[serde(default)]
    role: Role,
    #[serde(default)]
    produce: Vec<String>,
    #[serde(default)]
    consume: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
}

/// A new token: the secret is shown here once and never again.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedToken {
    #[serde(flatten)]
    token: ApiToken,
    token_secret: String,
}

fn store(error: RepoError) -> ApiError {
    ApiError::Broker(BrokerError::Store(error))
}

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

async fn list(broker: web::Data<Broker>) -> Result<HttpResponse, ApiError> {
    ok("ok", broker.metadata().tokens.list().await.map_err(store)?)
}

#[derive(Debug, Serialize)]
struct Revoked {
    revoked: u64,
}

async fn revoke(
    broker: web::Data<Broker>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if broker.metadata().tokens.revoke(&name).await.map_err(store)? {
        ok("token revoked", Revoked { revoked: 1 })
    } else {
        Err(ApiError::field(
            "name",
            format!(
                "no run-time token {:?} (tokens from config are changed in config)",
                name.as_str()
            ),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuditQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    actor: Option<String>,
    action: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
}

async fn audit_logs(
    broker: web::Data<Broker>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(query.page.as_deref(), query.page_size.as_deref())?;
    let q = query.into_inner();
    let filter = AuditFilter { from: q.from, to: q.to, actor: q.actor, action: q.action };
    ok("ok", broker.metadata().audit.list(&filter, page).await.map_err(store)?)
}
