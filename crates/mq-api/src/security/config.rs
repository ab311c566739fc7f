//! Security settings of the REST API: tokens (`auth`), address lists and rate limits
//! (`security`).

use std::fmt;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use mq_model::Role;
use serde::{Deserialize, Serialize};

use crate::ApiError;

/// Who may call the API (`auth`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Tokens from config; more can be created at run time (`POST /tokens`).
    pub tokens: Vec<TokenConfig>,
    /// With no token configured, serve every client (as admin) instead of loopback only.
    /// Logged as a warning on every start. Never for a server reachable from a network.
    pub allow_anonymous: bool,
    /// Serve `GET /metrics` without a token (for a scraper on a private network).
    pub metrics_public: bool,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("tokens", &self.tokens)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("metrics_public", &self.metrics_public)
            .finish()
    }
}

/// A token from config: its secret as a SHA-256 (preferred) or, for development, in plain.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Unique name; the actor in the audit log.
    pub name: String,
    /// Lowercase hex SHA-256 of the secret (`printf %s "$TOKEN" | sha256sum`).
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// The secret itself (development only; prefer `token_sha256`).
    #[serde(default)]
    pub token: Option<String>,
    /// `admin` or `service` (default).
    #[serde(default)]
    pub role: Role,
    /// Topic patterns a service token may publish to (`user-*`, `*`).
    #[serde(default)]
    pub produce: Vec<String>,
    /// Topic patterns a service token may consume from.
    #[serde(default)]
    pub consume: Vec<String>,
    /// When it stops working.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret and its hash stay out of logs.
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("produce", &self.produce)
            .field("consume", &self.consume)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Network rules (`security`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// CIDRs (`10.0.0.0/8`, `2001:db8::/32`, `203.0.113.7/32`) that may call the API; empty
    /// allows every address. Others get 403 before authentication.
    pub ip_allowlist: Vec<IpNet>,
    /// CIDRs of proxies whose `X-Forwarded-For` is believed (e.g. the nginx in front).
    pub trusted_proxies: Vec<IpNet>,
    /// Token buckets per token and per client address.
    pub rate_limit: RateLimitConfig,
    /// How long audit records are kept, in days.
    pub audit_retention_days: u64,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            ip_allowlist: Vec::new(),
            trusted_proxies: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            audit_retention_days: 90,
        }
    }
}

/// Rate limits: requests per second with a burst, per token and per client address, and a
/// stricter one for failed authentication per address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Whether limits apply.
    pub enabled: bool,
    /// Requests per second per token.
    pub per_token_per_second: u32,
    /// Burst per token.
    pub per_token_burst: u32,
    /// Requests per second per client address.
    pub per_ip_per_second: u32,
    /// Burst per client address.
    pub per_ip_burst: u32,
    /// Failed authentications per minute per client address before 429.
    pub auth_failures_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_token_per_second: 2_000,
            per_token_burst: 4_000,
            per_ip_per_second: 2_000,
            per_ip_burst: 4_000,
            auth_failures_per_minute: 20,
        }
    }
}

/// Whether `pattern` (with `*` matching any run of characters) matches `name`.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

impl AuthConfig {
    /// Checks the tokens: unique names, one secret each, well-formed hashes and patterns.
    pub fn validate(&self) -> Result<(), ApiError> {
        let invalid =
            |field: &'static str, reason: String| Err(ApiError::InvalidConfig { field, reason });
        let mut names = std::collections::BTreeSet::new();
        for (i, t) in self.tokens.iter().enumerate() {
            if t.name.is_empty() || !names.insert(t.name.as_str()) {
                return invalid(
                    "auth.tokens",
                    format!("token {i}: names must be present and unique"),
                );
            }
            match (&t.token_sha256, &t.token) {
                (Some(hash), None) => {
                    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return invalid(
                            "auth.tokens",
                            format!("token {:?}: token_sha256 must be 64 hex digits", t.name),
                        );
                    }
                }
                (None, Some(token)) if token.len() >= 16 => {}
                (None, Some(_)) => {
                    return invalid(
                        "auth.tokens",
                        format!("token {:?}: token must have at least 16 characters", t.name),
                    )
                }
                _ => {
                    return invalid(
                        "auth.tokens",
                        format!("token {:?}: give exactly one of token_sha256 and token", t.name),
                    )
                }
            }
        }
        Ok(())
    }
}

impl SecurityConfig {
    /// Checks the limits.
    pub fn validate(&self) -> Result<(), ApiError> {
        let r = &self.rate_limit;
        if r.enabled
            && [
                r.per_token_per_second,
                r.per_token_burst,
                r.per_ip_per_second,
                r.per_ip_burst,
                r.auth_failures_per_minute,
            ]
            .contains(&0)
        {
            return Err(ApiError::InvalidConfig {
                field: "security.rate_limit",
                reason: "every rate and burst must be at least 1 (or set enabled: false)".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_with_stars() {
        for (pattern, name, matches) in [
            ("*", "anything", true),
            ("user-*", "user-events", true),
            ("user-*", "users", false),
            ("*-events", "user-events", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("orders", "orders", true),
            ("orders", "orders2", false),
            ("a*a", "a", false),
        ] {
            assert_eq!(glob(pattern, name), matches, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn tokens_need_one_good_secret_and_unique_names() {
        let token = |name: &str, hash: Option<&str>, plain: Option<&str>| TokenConfig {
            name: name.into(),
            token_sha256: hash.map(Into::into),
            token: plain.map(Into::into),
            role: Role::Admin,
            produce: vec![],
            consume: vec![],
            expires_at: None,
        };
        let ok = AuthConfig {
            tokens: vec![token("a", None, Some("0123456789abcdef"))],
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        for bad in [
            vec![token("a", None, None)],
            vec![token("a", Some("xyz"), None)],
            vec![token("a", None, Some("short"))],
            vec![
                token("a", None, Some("0123456789abcdef")),
                token("a", None, Some("0123456789abcdef")),
            ],
        ] {
            let cfg = AuthConfig { tokens: bad, ..Default::default() };
            assert!(cfg.validate().unwrap_err().to_string().contains("auth.tokens"));
        }
        let shown = format!("{:?}", token("a", None, Some("secret-secret-secret")));
        assert!(!shown.contains("secret-secret"), "{shown}");
    }
}
