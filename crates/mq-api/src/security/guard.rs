//! The guard in front of every API route and `/metrics`: client address (behind trusted
//! proxies), IP allow-list, authentication (bearer tokens, protected mode), rate limits,
//! role checks by route, and the audit log.
//!
//! Order: address → allow-list (403) → token or protected mode (401/403) → rate limits (429)
//! → admin-only routes and topic checks that the route and query show (403) → the handler,
//! which checks topics named in the body. Admin actions, auth failures and refusals are
//! audited with actor, address, action, target and outcome.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use chrono::Utc;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use mq_broker::Broker;
use mq_model::{new_id, AuditRecord, IdKind};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::caller::Caller;
use super::config::{AuthConfig, SecurityConfig};
use crate::ApiError;

/// How long the answer to "are any run-time tokens stored?" is trusted (protected mode).
const TOKENS_PRESENT_TTL: Duration = Duration::from_secs(1);

/// A config token, ready to compare.
struct KnownToken {
    hash: [u8; 32],
    caller: Caller,
    expires_at: Option<chrono::DateTime<Utc>>,
}

/// The guard's state, shared by every worker.
pub(crate) struct Guard {
    auth: AuthConfig,
    security: SecurityConfig,
    known: Vec<KnownToken>,
    per_token: Option<DefaultKeyedRateLimiter<String>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failures: Option<DefaultKeyedRateLimiter<IpAddr>>,
    tokens_present: Mutex<Option<(bool, Instant)>>,
    /// When audit records past their retention were last deleted.
    last_purge: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("auth", &self.auth).finish_non_exhaustive()
    }
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(rate))
}

impl Guard {
    /// The guard for these settings (validated by the caller).
    pub(crate) fn new(auth: AuthConfig, security: SecurityConfig) -> Self {
        let known = auth
            .tokens
            .iter()
            .map(|t| {
                let hash = match (&t.token_sha256, &t.token) {
                    (Some(hex_hash), _) => {
                        let mut out = [0u8; 32];
                        // Validated: 64 hex digits.
                        let _ = hex::decode_to_slice(hex_hash.to_ascii_lowercase(), &mut out);
                        out
                    }
                    (None, Some(plain)) => sha256(plain),
                    (None, None) => [0u8; 32],
                };
                KnownToken {
                    hash,
                    caller: Caller {
                        name: t.name.clone(),
                        role: t.role,
                        produce: t.produce.clone(),
                        consume: t.consume.clone(),
                    },
                    expires_at: t.expires_at,
                }
            })
            .collect();
        let r = &security.rate_limit;
        let (per_token, per_ip, failures) = if r.enabled {
            let failures = Quota::per_minute(
                NonZeroU32::new(r.auth_failures_per_minute).unwrap_or(NonZeroU32::MIN),
            );
            (
                Some(RateLimiter::keyed(quota(r.per_token_per_second, r.per_token_burst))),
                Some(RateLimiter::keyed(quota(r.per_ip_per_second, r.per_ip_burst))),
                Some(RateLimiter::keyed(failures)),
            )
        } else {
            (None, None, None)
        };
        Self {
            auth,
            security,
            known,
            per_token,
            per_ip,
            failures,
            tokens_present: Mutex::new(None),
            last_purge: Mutex::new(None),
        }
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
    /// address in `X-Forwarded-For` that is not one. A request without a peer (a Unix socket,
    /// an in-process test) counts as local.
    fn client_ip(&self, request: &ServiceRequest) -> Option<IpAddr> {
        let peer = request.peer_addr()?.ip();
        let trusted = |ip: &IpAddr| self.security.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return Some(peer);
        }
        let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let mut client = peer;
        if let Some(chain) = forwarded {
            for hop in chain.rsplit(',').map(str::trim) {
                match hop.parse::<IpAddr>() {
                    Ok(ip) => {
                        client = ip;
                        if !trusted(&ip) {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        Some(client)
    }

    async fn any_tokens(&self, broker: &Broker) -> bool {
        if !self.known.is_empty() {
            return true;
        }
        if let Some((present, at)) =
            *self.tokens_present.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            if at.elapsed() < TOKENS_PRESENT_TTL {
                return present;
            }
        }
        let present = broker.metadata().tokens.list().await.map(|t| !t.is_empty()).unwrap_or(false);
        *self.tokens_present.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((present, Instant::now()));
        present
    }

    /// At most once an hour, deletes audit records older than `audit_retention_days`, in the
    /// background.
    fn purge_old_audit(&self, broker: &Broker) {
        {
            let mut last =
                self.last_purge.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < Duration::from_secs(3600)) {
                return;
            }
            *last = Some(Instant::now());
        }
        let days =
            i64::try_from(self.security.audit_retention_days).unwrap_or(i64::MAX / 86_400_000);
        let before = Utc::now() - chrono::Duration::days(days.min(365_000));
        let broker = broker.clone();
        tokio_spawn(async move {
            match broker.metadata().audit.delete_before(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "audit records past their retention deleted"),
                Err(error) => tracing::warn!(%error, "could not delete old audit records"),
            }
        });
    }

    /// Forget the cached token presence (after creating or revoking a token).
    pub(crate) fn tokens_changed(&self) {
        *self.tokens_present.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    async fn authenticate(
        &self,
        request: &ServiceRequest,
        broker: &Broker,
        ip: Option<IpAddr>,
    ) -> Result<Caller, ApiError> {
        let header = request.headers().get(actix_web::http::header::AUTHORIZATION);
        let Some(header) = header else {
            if !self.any_tokens(broker).await {
                if self.auth.allow_anonymous {
                    return Ok(Caller::admin("anonymous"));
                }
                if ip.is_none_or(|ip| ip.is_loopback()) {
                    return Ok(Caller::admin("local"));
                }
                return Err(ApiError::Forbidden {
                    reason: "protected mode: no token is configured, so only loopback clients are \
                             served; configure auth.tokens (or set auth.allow_anonymous: true on a \
                             private network)"
                        .into(),
                });
            }
            return Err(ApiError::Unauthorized {
                reason: "missing token: send Authorization: Bearer <token>".into(),
            });
        };
        let presented = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized {
                reason: "malformed Authorization header: expected Bearer <token>".into(),
            })?;
        let hash = sha256(presented);
        let now = Utc::now();
        // Every config token is compared, in constant time, so the time taken says nothing
        // about which one (if any) is close.
        let mut found: Option<&KnownToken> = None;
        for known in &self.known {
            if bool::from(known.hash.ct_eq(&hash)) {
                found = Some(known);
            }
        }
        if let Some(known) = found {
            if known.expires_at.is_some_and(|at| at <= now) {
                return Err(ApiError::Unauthorized {
                    reason: format!("token {:?} has expired", known.caller.name),
                });
            }
            return Ok(known.caller.clone());
        }
        let stored = broker
            .metadata()
            .tokens
            .find_by_hash(&hex::encode(hash))
            .await
            .map_err(|e| ApiError::Broker(mq_broker::BrokerError::Store(e)))?;
        match stored {
            Some(token) if token.expires_at.is_some_and(|at| at <= now) => {
                Err(ApiError::Unauthorized {
                    reason: format!("token {:?} has expired", token.name),
                })
            }
            Some(token) => Ok(Caller {
                name: token.name,
                role: token.role,
                produce: token.produce,
                consume: token.consume,
            }),
            None => Err(ApiError::Unauthorized { reason: "invalid token".into() }),
        }
    }

    fn limit<K: std::hash::Hash + Eq + Clone>(
        limiter: Option<&DefaultKeyedRateLimiter<K>>,
        key: &K,
    ) -> Result<(), ApiError> {
        let Some(limiter) = limiter else { return Ok(()) };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests { retry_after_secs: wait.as_secs().max(1) }
        })
    }
}

/// Who may reach a path at all, before roles: the guard and the OpenAPI document both go by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// No guard at all: the health checks, for load balancers and orchestrators (and
    /// `/metrics` with `auth.metrics_public`).
    Open,
    /// No token, but the IP allow-list and the per-address rate limit: the OpenAPI document, the
    /// API page and the web console's files, which a browser loads without the bearer token.
    Public,
    /// A token (or protected mode), then the route's role and topic permissions.
    Token,
}

/// The [`Access`] of a request path.
pub(crate) fn access(path: &str, metrics_public: bool) -> Access {
    let under = |root: &str| {
        path.strip_prefix(root).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let docs = path.strip_prefix(crate::API_PREFIX) == Some("/openapi.json")
        || under("/docs")
        || under("/console");
    match path {
        "/healthz" | "/readyz" => Access::Open,
        "/metrics" if metrics_public => Access::Open,
        _ if docs => Access::Public,
        _ => Access::Token,
    }
}

/// What a route needs beyond authentication, from its pattern, method and query.
fn route_check(
    caller: &Caller,
    method: &str,
    route: &str,
    request: &ServiceRequest,
) -> Result<(), ApiError> {
    let route = route.strip_prefix(crate::API_PREFIX).unwrap_or(route);
    let query = web::Query::<HashMap<String, String>>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    // The path is not matched yet where the guard runs: read the topic from it directly.
    let topic_param = || {
        let path = request.path().strip_prefix(crate::API_PREFIX).unwrap_or(request.path());
        path.strip_prefix("/topics/").and_then(|rest| rest.split('/').next()).map(str::to_owned)
    };
    match (method, route) {
        // Topics named in the body or resolved from an id: checked by the handler.
        (
            "POST",
            "/messages" | "/messages/batch" | "/consume" | "/ack" | "/nack" | "/release"
            | "/extend",
        )
        | ("POST", "/consumer-groups")
        | ("DELETE", "/messages/{messageId}")
        | ("PUT", "/messages/{messageId}/schedule")
        | ("GET", "/transactions/{id}")
        | ("POST", "/transactions/{id}/commit" | "/transactions/{id}/rollback") => Ok(()),
        ("GET", "/topics/{name}/messages") => {
            caller.may_consume(&topic_param().unwrap_or_default())
        }
        // The handler checks the topic too; without one the query is refused there.
        ("GET", "/consume/stream") => match query.get("topicName") {
            Some(topic) => caller.may_consume(topic),
            None => Ok(()),
        },
        ("GET", "/topics/{name}/scheduled") => {
            caller.may_produce(&topic_param().unwrap_or_default())
        }
        (_, "/consumer-groups" | "/consumer-groups/{groupId}")
        | ("GET", "/consumer-groups/{groupId}/partitions") => match query.get("topicName") {
            Some(topic) if !topic.is_empty() => caller.may_consume(topic),
            _ => caller.must_be_admin("consumer groups of every topic"),
        },
        (_, "/healthz" | "/readyz") | ("GET", "/whoami") => Ok(()),
        _ => caller.must_be_admin(route),
    }
}

/// Whether a request is an admin action to audit even when it succeeds.
fn is_admin_action(method: &str, route: &str) -> bool {
    let route = route.strip_prefix(crate::API_PREFIX).unwrap_or(route);
    method != "GET"
        && (route.starts_with("/topics")
            || route.starts_with("/consumer-groups")
            || route.starts_with("/tokens")
            || route.starts_with("/dead-letters")
            || route.starts_with("/transactions"))
}

/// The middleware.
pub(crate) async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let path = request.path().to_owned();
    let (Some(guard), Some(broker)) = (
        request.app_data::<web::Data<Guard>>().cloned(),
        request.app_data::<web::Data<Broker>>().cloned(),
    ) else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    let access = access(&path, guard.auth.metrics_public);
    if access == Access::Open {
        return Ok(next.call(request).await?.map_into_left_body());
    }
    let method = request.method().to_string();
    let route = request.match_pattern().unwrap_or_else(|| path.clone());
    let ip = guard.client_ip(&request);
    let ip_text = ip.map_or_else(|| "local".to_owned(), |ip| ip.to_string());
    // `GET /whoami` without a token is how a client (the console's sign-in screen) asks
    // whether it needs one: its 401 is an answer, not a failed authentication, so it is neither
    // counted against the address nor audited. A wrong token still is.
    let probe = method == "GET"
        && route.strip_prefix(crate::API_PREFIX) == Some("/whoami")
        && !request.headers().contains_key(actix_web::http::header::AUTHORIZATION);

    let decided: Result<Caller, (ApiError, String)> = async {
        if let Some(ip) = ip {
            let allow = &guard.security.ip_allowlist;
            if !allow.is_empty() && !allow.iter().any(|n| n.contains(&ip)) {
                let reason = format!("client address {ip} is not in security.ip_allowlist");
                return Err((ApiError::Forbidden { reason }, "anonymous".to_owned()));
            }
        }
        if access == Access::Public {
            // Any token sent is ignored: the page and the document are the same for everyone.
            if let Some(ip) = ip {
                Guard::limit(guard.per_ip.as_ref(), &ip)
                    .map_err(|e| (e, "anonymous".to_owned()))?;
            }
            return Ok(Caller::public());
        }
        let caller = match guard.authenticate(&request, &broker, ip).await {
            Ok(caller) => caller,
            Err(error) => {
                if let (Some(ip), ApiError::Unauthorized { .. }, false) = (ip, &error, probe) {
                    Guard::limit(guard.failures.as_ref(), &ip)
                        .map_err(|e| (e, "anonymous".to_owned()))?;
                }
                return Err((error, "anonymous".to_owned()));
            }
        };
        let name = caller.name.clone();
        Guard::limit(guard.per_token.as_ref(), &caller.name).map_err(|e| (e, name.clone()))?;
        if let Some(ip) = ip {
            Guard::limit(guard.per_ip.as_ref(), &ip).map_err(|e| (e, name.clone()))?;
        }
        route_check(&caller, &method, &route, &request).map_err(|e| (e, name))?;
        Ok(caller)
    }
    .await;

    match decided {
        Err((error, actor)) => {
            let response = error.error_response();
            let status = response.status().as_u16();
            if !(probe && status == 401) {
                audit(&broker, actor, ip_text, &method, &route, &path, status).await;
                guard.purge_old_audit(&broker);
            }
            Ok(request.into_response(response).map_into_right_body())
        }
        Ok(caller) => {
            let actor = caller.name.clone();
            request.extensions_mut().insert(caller);
            let response = next.call(request).await?;
            let status = response.status().as_u16();
            if is_admin_action(&method, &route) || matches!(status, 401 | 403 | 429) {
                audit(&broker, actor, ip_text, &method, &route, &path, status).await;
                guard.purge_old_audit(&broker);
            }
            if route.contains("/tokens") && method != "GET" && status < 300 {
                guard.tokens_changed();
            }
            Ok(response.map_into_left_body())
        }
    }
}

/// Appends one audit record; a failure to write it is logged, not the request's failure.
async fn audit(
    broker: &Broker,
    actor: String,
    ip: String,
    method: &str,
    route: &str,
    path: &str,
    status: u16,
) {
    let outcome = match status {
        200..=399 => "ok",
        401 | 403 | 429 => "denied",
        _ => "failed",
    };
    let record = AuditRecord {
        id: new_id(IdKind::Audit),
        at: Utc::now(),
        actor,
        client_ip: ip,
        action: format!("{method} {}", route.strip_prefix(crate::API_PREFIX).unwrap_or(route)),
        target: path.strip_prefix(crate::API_PREFIX).unwrap_or(path).to_owned(),
        outcome: outcome.to_owned(),
        status,
    };
    tracing::info!(
        actor = %record.actor, client_ip = %record.client_ip, action = %record.action,
        target = %record.target, outcome, status, "audit"
    );
    if let Err(error) = broker.metadata().audit.insert(record).await {
        tracing::warn!(%error, "could not write an audit record");
    }
}

/// Spawns on actix's runtime (a Tokio one) without naming tokio in this crate's dependencies.
fn tokio_spawn(task: impl std::future::Future<Output = ()> + 'static) {
    actix_web::rt::spawn(task);
}
