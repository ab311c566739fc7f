//! Security of the REST API (design §7): bearer tokens with roles and topic patterns, protected
//! mode, IP allow-list and trusted proxies, rate limits, the audit log, and the token and audit
//! routes.

mod caller;
mod config;
mod guard;
mod routes;

pub(crate) use caller::Caller;
pub use config::{AuthConfig, RateLimitConfig, SecurityConfig, TokenConfig};
pub(crate) use guard::{access, guard, Access, Guard};
pub(crate) use routes::mount;
