//! The API's config: how large a JSON request body may be, how deep a value may nest, how many
//! long polls may wait at once, and the web console.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ApiError;

/// Default [`ApiConfig::json_limit_bytes`]: 32 MiB. Room for one message at the largest
/// `maxMessageSize` a topic may have (16 MiB) even when its JSON is escaped or indented, and for
/// a batch of 1000 messages of several KiB each.
pub const DEFAULT_JSON_LIMIT_BYTES: usize = 32 * 1024 * 1024;

/// Default [`ApiConfig::max_long_polls`].
pub const DEFAULT_MAX_LONG_POLLS: usize = 512;

/// Largest accepted [`ApiConfig::json_limit_bytes`]: 1 GiB. A body is held in memory whole
/// while it is parsed, so a limit beyond this would let a few requests exhaust the server.
const MAX_JSON_LIMIT_BYTES: usize = 1024 * 1024 * 1024;

/// Settings of the REST API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Largest JSON request body in bytes; larger bodies are refused with 413
    /// (default 32 MiB, at most 1 GiB).
    pub json_limit_bytes: usize,
    /// How deeply arrays and objects may nest in a message value (default 64, at most 100);
    /// deeper values are refused with 400 naming the field.
    pub max_value_depth: usize,
    /// Long polls (`POST /consume` with `waitMs` > 0) and message streams open at once on this
    /// instance (default 512); beyond it they are refused with 503 and `Retry-After`, so a
    /// flood of waiting consumers cannot starve the rest.
    pub max_long_polls: usize,
    /// Who may call the API.
    pub auth: crate::AuthConfig,
    /// Address lists, rate limits, audit retention.
    pub security: crate::SecurityConfig,
    /// The web console at `/console/`.
    pub console: ConsoleConfig,
}

/// The web console (`console.*`): a browser UI over this API, served by the server itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve it at `/console/` (default true). Off, `/console` answers 404 like any unknown
    /// path. The pages need no token to load; every call they make does.
    pub enabled: bool,
    /// Read the files from this directory on every request instead of the copy compiled into
    /// the server: for working on the console (`crates/mq-api/console`) without rebuilding.
    /// Unset (the default) serves the compiled-in copy.
    pub assets_dir: Option<PathBuf>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { enabled: true, assets_dir: None }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            json_limit_bytes: DEFAULT_JSON_LIMIT_BYTES,
            max_value_depth: crate::value::DEFAULT_MAX_VALUE_DEPTH,
            max_long_polls: DEFAULT_MAX_LONG_POLLS,
            auth: crate::AuthConfig::default(),
            security: crate::SecurityConfig::default(),
            console: ConsoleConfig::default(),
        }
    }
}

impl ApiConfig {
    /// Checks that the limits are usable (a body of 1 byte to 1 GiB, a value depth of 1 to 100,
    /// at least one long poll) and the security settings.
    pub fn validate(&self) -> Result<(), ApiError> {
        self.auth.validate()?;
        self.security.validate()?;
        let depth_limit = crate::value::MAX_VALUE_DEPTH_LIMIT;
        let checks = [
            (
                "json_limit_bytes",
                (1..=MAX_JSON_LIMIT_BYTES).contains(&self.json_limit_bytes),
                format!("must be between 1 and {MAX_JSON_LIMIT_BYTES} bytes"),
                self.json_limit_bytes,
            ),
            (
                "max_value_depth",
                (1..=depth_limit).contains(&self.max_value_depth),
                format!("must be between 1 and {depth_limit}"),
                self.max_value_depth,
            ),
            (
                "max_long_polls",
                self.max_long_polls >= 1,
                "must be at least 1".to_owned(),
                self.max_long_polls,
            ),
        ];
        for (field, ok, expected, got) in checks {
            if !ok {
                return Err(ApiError::InvalidConfig {
                    field,
                    reason: format!("{expected}, got {got}"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bounds_are_named() {
        ApiConfig::default().validate().unwrap();
        for bad in [0, MAX_JSON_LIMIT_BYTES + 1] {
            let err =
                ApiConfig { json_limit_bytes: bad, ..ApiConfig::default() }.validate().unwrap_err();
            assert!(err.to_string().contains("json_limit_bytes"), "{err}");
        }
        for bad in [0, crate::value::MAX_VALUE_DEPTH_LIMIT + 1] {
            let err =
                ApiConfig { max_value_depth: bad, ..ApiConfig::default() }.validate().unwrap_err();
            assert!(err.to_string().contains("max_value_depth"), "{err}");
        }
        let err = ApiConfig { max_long_polls: 0, ..ApiConfig::default() }.validate().unwrap_err();
        assert!(err.to_string().contains("max_long_polls"), "{err}");
        let parsed: ApiConfig = serde_json::from_str(r#"{"json_limit_bytes": 1024}"#).unwrap();
        assert_eq!(parsed.json_limit_bytes, 1024);
        assert!(serde_json::from_str::<ApiConfig>(r#"{"json_limit": 1}"#).is_err());
        assert_eq!(serde_json::from_str::<ApiConfig>("{}").unwrap(), ApiConfig::default());
    }
}
