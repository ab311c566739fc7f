//! The client's one error type: the API's refusals by status, failures to reach it, and
//! answers that are not what the API promises.

use std::time::Duration;

/// Everything a call can fail with.
///
/// Match on [`Error::kind`] (or use the `is_*` helpers) rather than on status numbers:
///
/// ```
/// # fn show(error: mq_client::Error) {
/// use mq_client::ErrorKind;
/// match error.kind() {
///     ErrorKind::NotFound => eprintln!("no such topic"),
///     ErrorKind::Conflict => eprintln!("exists already"),
///     ErrorKind::Connect | ErrorKind::Timeout => eprintln!("server unreachable: {error}"),
///     _ => eprintln!("{error}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API answered with an error status and its envelope's message (or, when a proxy in
    /// between answered with something else, the status's reason and the start of its body).
    #[error("the server answered {status}: {message}")]
    Api {
        /// The HTTP status; the envelope's `code` repeats it.
        status: u16,
        /// The envelope's `message`: what was wrong, naming the field or resource.
        message: String,
        /// The `Retry-After` header (429 answers carry it): when to try again.
        retry_after: Option<Duration>,
    },
    /// No connection could be made (refused, unreachable, DNS, TLS handshake, connect
    /// timeout): the request never reached the server, so every call may be repeated.
    #[error("{endpoint}: could not connect")]
    Connect {
        /// The call, such as `GET http://127.0.0.1:8080/api/v1/mq/topics`.
        endpoint: String,
        /// What the HTTP client reported.
        #[source]
        source: reqwest::Error,
    },
    /// The connection failed after the request was sent (reset, closed, timed out): the server
    /// may or may not have acted on it.
    #[error("{endpoint}: request failed")]
    Transport {
        /// The call, such as `POST http://127.0.0.1:8080/api/v1/mq/messages`.
        endpoint: String,
        /// What the HTTP client reported.
        #[source]
        source: reqwest::Error,
    },
    /// A successful answer that is not the envelope or not of the expected shape: the server is
    /// not mq, or of another version.
    #[error("{endpoint}: unexpected response: {reason}; the body begins {snippet:?}")]
    Decode {
        /// The call, such as `GET http://127.0.0.1:8080/api/v1/mq/topics`.
        endpoint: String,
        /// What did not fit, with the field's path (`data.items[3].status: unknown variant`).
        reason: String,
        /// The first bytes of the body, as text.
        snippet: String,
    },
    /// A consume stream ended abnormally: the server sent an `error` event, closed the
    /// connection without `event: end`, or went silent past heartbeats.
    #[error("consume stream: {reason}")]
    Stream {
        /// The server's reason, or what the client saw.
        reason: String,
    },
    /// The client was configured with something unusable (a base URL that is not http(s), a
    /// certificate that is not PEM, a token that cannot be a header).
    #[error("invalid client config: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// A request value could not be encoded as JSON (see [`crate::Publish::json`]).
    #[error("the {what} could not be encoded as JSON")]
    Encode {
        /// What was encoded, such as `message value`.
        what: &'static str,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },
    /// A value marked `valueEncoding: "base64"` is not base64.
    #[error("value marked base64 could not be decoded")]
    Base64(#[source] base64::DecodeError),
}

/// What kind of failure an [`Error`] is, for matching and for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: a field is missing or out of range; the message names it.
    BadRequest,
    /// 401: no token, or an unknown or expired one.
    Unauthorized,
    /// 403: the token lacks the permission, or the address is not allowed.
    Forbidden,
    /// 404: the topic, group, message, dead letter or transaction does not exist.
    NotFound,
    /// 409: it exists already, or a transaction was decided the other way.
    Conflict,
    /// 413: the message or the body is over the limit.
    PayloadTooLarge,
    /// 429: rate-limited; see [`Error::retry_after`].
    RateLimited,
    /// 503: a store is unavailable or the server is shutting down.
    Unavailable,
    /// Another 5xx: a fault of the server (details are in its log).
    Server,
    /// Another status (405, 415, ...).
    Other,
    /// [`Error::Connect`].
    Connect,
    /// [`Error::Transport`] caused by a timeout (the request or reading the answer took
    /// longer than the client's timeout).
    Timeout,
    /// [`Error::Transport`] for any other reason.
    Transport,
    /// [`Error::Decode`].
    Decode,
    /// [`Error::Stream`].
    Stream,
    /// [`Error::Config`], [`Error::Encode`] or [`Error::Base64`]: a mistake on this side.
    Client,
}

impl ErrorKind {
    /// The kind of an HTTP error status.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            413 => ErrorKind::PayloadTooLarge,
            429 => ErrorKind::RateLimited,
            503 => ErrorKind::Unavailable,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Other,
        }
    }
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { status, .. } => ErrorKind::from_status(*status),
            Error::Connect { .. } => ErrorKind::Connect,
            Error::Transport { source, .. } if source.is_timeout() => ErrorKind::Timeout,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Decode { .. } => ErrorKind::Decode,
            Error::Stream { .. } => ErrorKind::Stream,
            Error::Config { .. } | Error::Encode { .. } | Error::Base64(_) => ErrorKind::Client,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API's message of an API error.
    pub fn api_message(&self) -> Option<&str> {
        match self {
            Error::Api { message, .. } => Some(message),
            _ => None,
        }
    }

    /// How long the server asked to wait before trying again (429 answers).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// 404: the named resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// 409: it exists already, or conflicts with a decision made.
    pub fn is_conflict(&self) -> bool {
        self.kind() == ErrorKind::Conflict
    }

    /// 400: the request is invalid; [`Error::api_message`] names the field.
    pub fn is_bad_request(&self) -> bool {
        self.kind() == ErrorKind::BadRequest
    }

    /// 401 or 403: the token is missing, unknown, expired or lacks the permission.
    pub fn is_auth(&self) -> bool {
        matches!(self.kind(), ErrorKind::Unauthorized | ErrorKind::Forbidden)
    }

    /// The server could not be reached or the connection broke: [`ErrorKind::Connect`],
    /// [`ErrorKind::Timeout`] or [`ErrorKind::Transport`].
    pub fn is_connection(&self) -> bool {
        matches!(self.kind(), ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Transport)
    }

    /// Whether trying again later may succeed: connection failures, 429, 503.
    pub fn is_transient(&self) -> bool {
        self.is_connection()
            || matches!(self.kind(), ErrorKind::RateLimited | ErrorKind::Unavailable)
    }
}

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_their_kinds() {
        for (status, kind) in [
            (400, ErrorKind::BadRequest),
            (401, ErrorKind::Unauthorized),
            (403, ErrorKind::Forbidden),
            (404, ErrorKind::NotFound),
            (405, ErrorKind::Other),
            (409, ErrorKind::Conflict),
            (413, ErrorKind::PayloadTooLarge),
            (415, ErrorKind::Other),
            (429, ErrorKind::RateLimited),
            (500, ErrorKind::Server),
            (502, ErrorKind::Server),
            (503, ErrorKind::Unavailable),
        ] {
            let error = Error::Api { status, message: "m".into(), retry_after: None };
            assert_eq!(error.kind(), kind, "{status}");
            assert_eq!(error.status(), Some(status));
        }
        let not_found = Error::Api { status: 404, message: "no topic".into(), retry_after: None };
        assert!(not_found.is_not_found() && !not_found.is_transient());
        assert_eq!(not_found.to_string(), "the server answered 404: no topic");
        let limited = Error::Api {
            status: 429,
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(limited.is_transient());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(2)));
    }
}
