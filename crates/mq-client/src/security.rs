//! Run-time tokens (`POST/GET /tokens`, `DELETE /tokens/{name}`) and the audit log
//! (`GET /audit-logs`); admin only.

use chrono::{DateTime, Utc};
use mq_model::{AuditRecord, Role};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::time;
use crate::error::Result;
use crate::{Client, Paged};

/// A token to create (`POST /tokens`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateToken {
    /// Its name, as audit records show it.
    pub name: String,
    /// `service` (default) or `admin`.
    pub role: Role,
    /// Topic patterns it may publish to (`orders*`).
    pub produce: Vec<String>,
    /// Topic patterns it may consume from.
    pub consume: Vec<String>,
    /// When it stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Token {
    /// Its name.
    pub name: String,
    /// Admin or service.
    pub role: Role,
    /// Topic patterns it may publish to.
    #[serde(default)]
    pub produce: Vec<String>,
    /// Topic patterns it may consume from.
    #[serde(default)]
    pub consume: Vec<String>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A new token and its secret, shown this once.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreatedToken {
    /// The token.
    #[serde(flatten)]
    pub token: Token,
    /// The bearer secret; the server keeps only its hash.
    #[serde(rename = "tokenSecret")]
    pub secret: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Which audit records (`GET /audit-logs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// At or after this.
    pub from: Option<DateTime<Utc>>,
    /// Before this.
    pub to: Option<DateTime<Utc>>,
    /// By this token name.
    pub actor: Option<String>,
    /// This action, such as `POST /topics`.
    pub action: Option<String>,
    /// The page, from 1.
    pub page: Option<u64>,
    /// Items per page (server default 20, at most 1000).
    pub page_size: Option<u64>,
}

/// The caller as the server sees it (`GET /whoami`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WhoAmI {
    /// The token's name (`local` in protected mode, `anonymous` with anonymous access).
    pub name: String,
    /// Admin or service.
    pub role: Role,
    /// Topic patterns it may publish to (any topic for an admin).
    pub produce: Vec<String>,
    /// Topic patterns it may consume from (any topic for an admin).
    pub consume: Vec<String>,
    /// Let in without a token because none is configured and the call came from loopback.
    pub protected_mode: bool,
    /// Let in without a token because the server allows anonymous access.
    pub anonymous: bool,
}

impl Client {
    /// `GET /whoami`: the name, role and permissions of this client's token, or how the server
    /// lets it in without one.
    pub async fn whoami(&self) -> Result<WhoAmI> {
        self.data(self.api(Method::GET, &["whoami"])).await
    }

    /// `POST /tokens`: a run-time token; its secret is in the answer only. A 409 when the name
    /// is taken. Not retried once sent (the secret of a lost answer could not be shown again).
    pub async fn create_token(&self, token: &CreateToken) -> Result<CreatedToken> {
        self.data(self.api(Method::POST, &["tokens"]).json(token)?).await
    }

    /// `GET /tokens`: the run-time tokens, without secrets.
    pub async fn list_tokens(&self) -> Result<Vec<Token>> {
        self.data(self.api(Method::GET, &["tokens"])).await
    }

    /// `DELETE /tokens/{name}`: the token stops working at once. A 400 for a name that is no
    /// run-time token (tokens from the config file are changed there).
    pub async fn revoke_token(&self, name: &str) -> Result<()> {
        let _: serde_json::Value = self.data(self.api(Method::DELETE, &["tokens", name])).await?;
        Ok(())
    }

    /// `GET /audit-logs`: admin actions and refusals, newest first.
    pub async fn list_audit_logs(&self, query: &AuditQuery) -> Result<Paged<AuditRecord>> {
        let call = self
            .api(Method::GET, &["audit-logs"])
            .query("from", time(query.from))
            .query("to", time(query.to))
            .query("actor", query.actor.as_deref())
            .query("action", query.action.as_deref())
            .query("page", query.page)
            .query("pageSize", query.page_size);
        self.data(call).await
    }
}
