//! Security models (design §7): API tokens with roles and topic patterns, and audit records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Produce to and consume from the topics its patterns allow.
    #[default]
    Service,
}

impl Role {
    /// The lowercase name used in JSON, BSON and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

/// An API token as stored: the secret only as its SHA-256 (hex), never in plain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    /// Unique name, e.g. `order-service`; the actor in audit records.
    pub name: String,
    /// Lowercase hex SHA-256 of the secret.
    #[serde(skip_serializing, default)]
    pub token_sha256: String,
    /// Admin or service.
    pub role: Role,
    /// Topic patterns (`user-*`, `*`) the token may publish to.
    #[serde(default)]
    pub produce: Vec<String>,
    /// Topic patterns the token may consume from.
    #[serde(default)]
    pub consume: Vec<String>,
    /// When it stops working, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// One audited event: an admin action, an authentication failure or a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// `audit_` + UUID v7.
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The token's name, or `anonymous`.
    pub actor: String,
    /// The client's address.
    pub client_ip: String,
    /// What, e.g. `POST /topics`, `auth`.
    pub action: String,
    /// On what, e.g. a topic name or a route.
    pub target: String,
    /// `ok`, `denied` (401/403/429) or `failed` (other errors).
    pub outcome: String,
    /// The HTTP status answered.
    pub status: u16,
}
