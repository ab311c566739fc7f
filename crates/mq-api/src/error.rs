//! The one error type of the API and its mapping to HTTP statuses and envelopes.
//!
//! [`ApiError::classify`] is the single place that decides, for every error of every crate
//! below, the status a client gets and whether it may see the error's own message. Server
//! faults are answered with a generic message; their details go to the log only.

use std::fmt::Write as _;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use mq_broker::BrokerError;
use mq_delay::DelayError;
use mq_repo::RepoError;

use crate::envelope;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The broker refused the request or failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// A request field the API checks itself is missing or out of range.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field's JSON name, e.g. `value` or `messages[3].value`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The body is not JSON (the message gives the position).
    #[error("invalid JSON body: {0}")]
    Json(#[source] serde_json::Error),
    /// The body is JSON of the wrong shape at a field (`.` for the body as a whole).
    #[error("invalid JSON body at {path}: {source}")]
    JsonAt {
        /// Where in the body, e.g. `messages[3].headers`.
        path: String,
        /// What serde found there.
        #[source]
        source: serde_json::Error,
    },
    /// The body could not be read (the connection broke or the encoding is damaged).
    #[error("invalid request body: {detail}")]
    Body {
        /// What went wrong.
        detail: String,
    },
    /// The body is larger than the configured limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// `json_limit_bytes`.
        limit: usize,
    },
    /// The body is declared as something other than JSON.
    #[error("request body must be JSON: send Content-Type: application/json")]
    ContentType,
    /// The query string does not fit the route's parameters.
    #[error("invalid query string: {detail}")]
    Query {
        /// What is wrong with it.
        detail: String,
    },
    /// A path segment does not fit the route.
    #[error("invalid path: {detail}")]
    Path {
        /// What is wrong with it.
        detail: String,
    },
    /// No route has this path.
    #[error("no route {method} {path}; the API is under /api/v1/mq")]
    NoRoute {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// The path exists but not with this method.
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// A response could not be encoded as JSON.
    #[error("response could not be encoded")]
    Encode(#[source] serde_json::Error),
    /// No valid token: missing, unknown or expired.
    #[error("{reason}")]
    Unauthorized {
        /// What is wrong with the credentials.
        reason: String,
    },
    /// The caller may not do this (the message says which permission is missing), or its
    /// address is not allowed.
    #[error("{reason}")]
    Forbidden {
        /// Why.
        reason: String,
    },
    /// Too many requests; try again after `retry_after_secs`.
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds to wait (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// This instance already holds as many long polls and streams as it allows
    /// (`max_long_polls`); try again after `retry_after_secs`, or on another instance.
    #[error(
        "this server holds {limit} long polls and streams already (max_long_polls); retry \
         after {retry_after_secs} s, or consume without waiting"
    )]
    Busy {
        /// The configured limit.
        limit: usize,
        /// Seconds to wait (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// An [`ApiConfig`](crate::ApiConfig) value is unusable.
    #[error("invalid config {field}: {reason}")]
    InvalidConfig {
        /// The config key.
        field: &'static str,
        /// Why it is unusable.
        reason: String,
    },
}

/// Whether a client may read an error's own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// The error's message is for the client: it says what to fix.
    Message,
    /// A server fault: the client sees only this text; the details are logged.
    Hidden(&'static str),
}

const INTERNAL: Shown = Shown::Hidden("internal error");
const UNAVAILABLE: Shown = Shown::Hidden("storage unavailable");

impl ApiError {
    /// The status and visibility of every error, in one exhaustive match: a new variant in any
    /// crate below fails to compile here until someone decides how clients see it.
    fn classify(&self) -> (StatusCode, Shown) {
        use BrokerError as B;
        use DelayError as D;
        use Shown::Message;
        match self {
            ApiError::Broker(
                B::Invalid(_)
                | B::InvalidRequest { .. }
                | B::PartitionsShrink { .. }
                | B::Unsupported { .. },
            ) => (StatusCode::BAD_REQUEST, Message),
            ApiError::Broker(B::TopicNotFound { .. } | B::GroupNotFound { .. }) => {
                (StatusCode::NOT_FOUND, Message)
            }
            ApiError::Broker(B::TopicExists { .. } | B::GroupExists { .. }) => {
                (StatusCode::CONFLICT, Message)
            }
            ApiError::Broker(B::MessageTooLarge { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, Message),
            ApiError::Broker(B::ShuttingDown) => (StatusCode::SERVICE_UNAVAILABLE, Message),
            ApiError::Broker(
                B::ScheduledNotFound { .. }
                | B::DeadLetterNotFound { .. }
                | B::TransactionNotFound { .. },
            ) => (StatusCode::NOT_FOUND, Message),
            ApiError::Broker(B::TransactionConflict(_)) => (StatusCode::CONFLICT, Message),
            ApiError::Broker(B::Delay(D::InvalidRequest { .. })) => {
                (StatusCode::BAD_REQUEST, Message)
            }
            // The server's own config: not something the client can fix.
            ApiError::Broker(B::Delay(D::InvalidConfig { .. })) => {
                (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
            }
            ApiError::Broker(B::Store(e) | B::Delay(D::Store { source: e, .. })) => {
                classify_store(e)
            }
            // Encryption at rest: the server's keys or stored data, never the client's to fix;
            // the details (topic, offset, key id) go to the log only.
            ApiError::Broker(B::InvalidConfig { .. } | B::Undecryptable { .. }) => {
                (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
            }
            // The topic is encrypted and this server has no key (its keys were removed after
            // the topic was created): unavailable until an operator configures one, and the
            // message names the setting, never a key.
            ApiError::Broker(B::EncryptionKeyMissing { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, Message)
            }
            ApiError::InvalidField { .. }
            | ApiError::Json(_)
            | ApiError::JsonAt { .. }
            | ApiError::Body { .. }
            | ApiError::Query { .. }
            | ApiError::Path { .. } => (StatusCode::BAD_REQUEST, Message),
            ApiError::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, Message),
            ApiError::ContentType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, Message),
            ApiError::NoRoute { .. } => (StatusCode::NOT_FOUND, Message),
            ApiError::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, Message),
            ApiError::Forbidden { .. } => (StatusCode::FORBIDDEN, Message),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, Message),
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, Message),
            ApiError::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, Message),
            ApiError::Encode(_) | ApiError::InvalidConfig { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
            }
        }
    }

    /// A field the API checks itself is wrong.
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::InvalidField { field: field.into(), reason: reason.into() }
    }

    /// The message a client sees.
    fn client_message(&self, shown: Shown) -> String {
        match shown {
            Shown::Message => self.to_string(),
            Shown::Hidden(text) => text.to_owned(),
        }
    }
}

/// The status and visibility of a store error, whether the broker or the delay scheduler met it.
fn classify_store(error: &RepoError) -> (StatusCode, Shown) {
    use RepoError as R;
    use Shown::Message;
    match error {
        // Says what the client needs to know (the write may or may not be kept, and repeating
        // it with its idempotency key is safe), and names no store internals.
        R::NotReplicated { .. } => (StatusCode::SERVICE_UNAVAILABLE, Message),
        // Unreachable or slow stores next: any kind of store error may be one.
        e if e.is_unavailable() => (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        R::NotFound { .. } => (StatusCode::NOT_FOUND, Message),
        R::AlreadyExists { .. } => (StatusCode::CONFLICT, Message),
        R::Model(_) => (StatusCode::BAD_REQUEST, Message),
        R::InvalidConfig { .. }
        | R::Redis { .. }
        | R::Mongo { .. }
        | R::Timeout { .. }
        | R::Corrupt { .. } => (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL),
    }
}

/// The error with its sources, for the log: `mongodb list topics failed: <driver's error>`.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.classify().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, shown) = self.classify();
        match shown {
            Shown::Hidden(_) if status == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(status = status.as_u16(), error = %chain(self), "store unavailable");
            }
            Shown::Hidden(_) => {
                tracing::error!(status = status.as_u16(), error = %chain(self), "request failed");
            }
            // Broker refusals name topics, groups and fields, never message values. Errors about
            // the request's shape may quote pieces of the body, which stays out of the log.
            Shown::Message => match self {
                ApiError::Broker(error) => {
                    tracing::debug!(status = status.as_u16(), %error, "request refused")
                }
                _ => tracing::debug!(status = status.as_u16(), "request refused"),
            },
        }
        let mut response = envelope::error_response(status, &self.client_message(shown));
        if let ApiError::TooManyRequests { retry_after_secs }
        | ApiError::Busy { retry_after_secs, .. } = self
        {
            if let Ok(value) = retry_after_secs.to_string().parse() {
                response.headers_mut().insert(actix_web::http::header::RETRY_AFTER, value);
            }
        }
        if let ApiError::Unauthorized { .. } = self {
            if let Ok(value) = "Bearer".parse() {
                response.headers_mut().insert(actix_web::http::header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mq_model::ModelError;
    use mq_repo::Backend;

    use super::*;

    fn check(error: impl Into<ApiError>, status: u16, message: &str) {
        let error = error.into();
        let response = error.error_response();
        assert_eq!(response.status().as_u16(), status, "{error:?}");
        assert_eq!(error.status_code().as_u16(), status, "{error:?}");
        let (_, shown) = error.classify();
        let text = error.client_message(shown);
        assert!(text.contains(message), "{error:?}: {text:?} should contain {message:?}");
    }

    #[test]
    fn every_error_has_its_status_and_hides_faults() {
        let model = ModelError::OutOfRange {
            field: "partitions",
            expected: "between 1 and 1024",
            value: 0,
        };
        check(
            BrokerError::Invalid(model.clone()),
            400,
            "partitions must be between 1 and 1024, got 0",
        );
        check(
            BrokerError::InvalidRequest { field: "waitMs", reason: "too long".into() },
            400,
            "invalid waitMs: too long",
        );
        check(BrokerError::PartitionsShrink { current: 6, requested: 3 }, 400, "never shrink");
        check(
            BrokerError::Unsupported { what: "messageType \"transaction\"" },
            400,
            "not supported yet",
        );
        check(BrokerError::ScheduledNotFound { message_id: "msg_1".into() }, 404, "\"msg_1\"");
        check(BrokerError::DeadLetterNotFound { id: "dlq_1".into() }, 404, "\"dlq_1\"");
        check(BrokerError::TransactionNotFound { id: "txn_1".into() }, 404, "\"txn_1\"");
        check(BrokerError::TransactionConflict("is committed".into()), 409, "is committed");
        let delay = |e: DelayError| ApiError::Broker(BrokerError::Delay(e));
        check(
            delay(DelayError::InvalidRequest {
                field: "delaySeconds",
                reason: "must be > 0".into(),
            }),
            400,
            "invalid delaySeconds: must be > 0",
        );
        check(
            delay(DelayError::InvalidConfig { field: "message_queue.delay.tick_ms", reason: "x" }),
            500,
            "internal error",
        );
        let store_timeout = RepoError::Timeout {
            backend: Backend::Redis,
            op: "fire",
            after: Duration::from_secs(5),
        };
        check(
            delay(DelayError::Store { op: "cancel", source: store_timeout }),
            503,
            "storage unavailable",
        );
        let store_corrupt = RepoError::Corrupt { what: "schedule entry", detail: "secret".into() };
        check(
            delay(DelayError::Store { op: "list scheduled", source: store_corrupt }),
            500,
            "internal error",
        );
        check(
            BrokerError::EncryptionKeyMissing { topic: "vault".into() },
            503,
            "message_queue.encryption.keys",
        );
        check(BrokerError::TopicNotFound { topic: "t".into() }, 404, "create it first");
        check(
            BrokerError::GroupNotFound { topic: "t".into(), group: "g".into() },
            404,
            "\"g\" does not exist",
        );
        check(BrokerError::TopicExists { topic: "t".into() }, 409, "already exists");
        check(
            BrokerError::GroupExists { topic: "t".into(), group: "g".into() },
            409,
            "already exists",
        );
        check(
            BrokerError::MessageTooLarge {
                topic: "t".into(),
                size: 9,
                max: 8,
                field: "messages[2].headers".into(),
            },
            413,
            "maxMessageSize",
        );
        check(BrokerError::ShuttingDown, 503, "shutting down");
        let store = |e: RepoError| ApiError::Broker(BrokerError::Store(e));
        check(store(RepoError::NotFound { kind: "topic", id: "t".into() }), 404, "not found");
        check(
            store(RepoError::AlreadyExists { kind: "topic", id: "t".into() }),
            409,
            "already exists",
        );
        check(store(RepoError::Model(model)), 400, "partitions");
        let timeout = RepoError::Timeout {
            backend: Backend::Redis,
            op: "append",
            after: Duration::from_secs(5),
        };
        check(store(timeout), 503, "storage unavailable");
        let corrupt =
            RepoError::Corrupt { what: "message envelope", detail: "secret detail".into() };
        check(store(corrupt), 500, "internal error");
        let config = RepoError::InvalidConfig { field: "redis.port", reason: "secret".into() };
        check(store(config), 500, "internal error");
        check(ApiError::field("value", "is required"), 400, "invalid value: is required");
        check(ApiError::Body { detail: "eof".into() }, 400, "invalid request body");
        check(ApiError::BodyTooLarge { limit: 10 }, 413, "limit of 10 bytes");
        check(ApiError::ContentType, 415, "application/json");
        check(ApiError::Query { detail: "x".into() }, 400, "invalid query string");
        check(ApiError::Path { detail: "x".into() }, 400, "invalid path");
        check(
            ApiError::NoRoute { method: "GET".into(), path: "/x".into() },
            404,
            "no route GET /x",
        );
        check(
            ApiError::MethodNotAllowed { method: "PUT".into(), path: "/x".into() },
            405,
            "PUT is not allowed",
        );
        check(
            ApiError::InvalidConfig { field: "json_limit_bytes", reason: "secret".into() },
            500,
            "internal error",
        );
        let json = serde_json::from_str::<u32>("x").unwrap_err();
        check(ApiError::Json(json), 400, "invalid JSON body");
    }

    #[test]
    fn hidden_messages_leak_nothing() {
        let corrupt =
            RepoError::Corrupt { what: "message envelope", detail: "secret detail".into() };
        let error = ApiError::Broker(BrokerError::Store(corrupt));
        let (_, shown) = error.classify();
        assert_eq!(error.client_message(shown), "internal error");
        assert!(chain(&error).contains("secret detail"), "the log gets the details");
    }
}
