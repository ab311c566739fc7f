//! Exit codes and error reports: the one map from what went wrong to the code `mqctl` exits
//! with, and the `error: …` lines (with a hint where one helps) written to stderr.

use mq_client::ErrorKind;

/// Success.
pub const OK: u8 = 0;
/// Anything not listed below: a server fault (5xx), an answer that is not mq's, a declined
/// confirmation, a local file that cannot be read.
pub const OTHER: u8 = 1;
/// A usage or configuration error: a bad flag or argument (clap exits with 2 too), a
/// destructive command without `--yes` and without a terminal, an unusable config file,
/// server URL or CA certificate.
pub const USAGE: u8 = 2;
/// 404: the topic, group, dead letter, transaction or token does not exist.
pub const NOT_FOUND: u8 = 3;
/// 409: it exists already, or a transaction was decided the other way.
pub const CONFLICT: u8 = 4;
/// 401 or 403: no token, an unknown or expired one, or one without the permission.
pub const AUTH: u8 = 5;
/// No connection could be made, or it broke (refused, timeout, TLS, a stream cut short).
pub const CONNECT: u8 = 6;
/// 429: rate-limited.
pub const RATE_LIMITED: u8 = 7;
/// 400, 413, 415 or 422: the server refused the request as invalid; its message names the
/// field.
pub const INVALID: u8 = 8;

/// The exit-code table of `mqctl --help` (and the README).
pub const HELP: &str = "\
Exit codes:
  0  success
  1  other error: a server fault (5xx), an unexpected answer, a declined confirmation
  2  usage or configuration error: a bad flag or argument, a destructive command without
     --yes and without a terminal, an unusable config file, server URL or CA certificate
  3  not found (404): the topic, group, dead letter, transaction or token does not exist
  4  conflict (409): it exists already, or the transaction was decided the other way
  5  unauthorized or forbidden (401/403): no token, an unknown one, or not allowed
  6  cannot connect, or the connection failed (refused, timeout, TLS, stream cut short)
  7  rate limited (429)
  8  invalid request (400/413/415/422): the message names the field

Values: `send TOPIC VALUE` sends VALUE as JSON when it parses as JSON (42, true, {\"a\":1},
\"text\"), else as a JSON string; --raw always sends a string.

Settings: flags beat MQCTL_SERVER / MQCTL_TOKEN / MQCTL_CA_CERT, which beat the config file
($XDG_CONFIG_HOME/mqctl/config.toml or ~/.config/mqctl/config.toml; keys server, token,
ca_cert).";

/// A failure of `mqctl` itself rather than of an API call.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A usage or configuration error (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The user answered no to a confirmation (exit 1).
    #[error("aborted")]
    Aborted,
    /// A failure that chooses its exit code (a partly failed retry of dead letters, a stream
    /// the server ended).
    #[error("{message}")]
    Code {
        /// The exit code.
        code: u8,
        /// What happened.
        message: String,
    },
}

impl Failure {
    /// A usage error with `message`.
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Failure::Usage(message.into()).into()
    }
}

/// The exit code of an API error's kind and status: the one map behind the table in [`HELP`].
pub fn code_of(kind: ErrorKind, status: Option<u16>) -> u8 {
    match kind {
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::Conflict => CONFLICT,
        ErrorKind::Unauthorized | ErrorKind::Forbidden => AUTH,
        ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Transport | ErrorKind::Stream => {
            CONNECT
        }
        ErrorKind::RateLimited => RATE_LIMITED,
        ErrorKind::BadRequest | ErrorKind::PayloadTooLarge => INVALID,
        ErrorKind::Other if matches!(status, Some(415 | 422)) => INVALID,
        // The client was given something unusable: a server URL that is not http(s), a CA
        // file that is not PEM, a token that cannot be a header.
        ErrorKind::Client => USAGE,
        // 503, other 5xx and 4xx, answers that are not mq's, and kinds added later.
        _ => OTHER,
    }
}

/// The exit code of any error `mqctl` ends with.
pub fn code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return match failure {
                Failure::Usage(_) => USAGE,
                Failure::Aborted => OTHER,
                Failure::Code { code, .. } => *code,
            };
        }
        if let Some(api) = cause.downcast_ref::<mq_client::Error>() {
            return code_of(api.kind(), api.status());
        }
    }
    OTHER
}

/// The report of `error` for stderr: `error: <message>` (the API's own message for its
/// refusals, the cause chain otherwise) and, where it helps, a `hint:` line.
pub fn report(error: &anyhow::Error, server: &str) -> String {
    let api = error.chain().find_map(|c| c.downcast_ref::<mq_client::Error>());
    let Some(api) = api else {
        return format!("error: {error:#}");
    };
    // The context the command added ("topic orders"), then what the API said.
    let context: Vec<String> = error
        .chain()
        .take_while(|c| c.downcast_ref::<mq_client::Error>().is_none())
        .map(ToString::to_string)
        .collect();
    // The innermost cause says what happened ("Connection refused"); the layers in between
    // repeat the URL.
    let mut root: Option<&dyn std::error::Error> = None;
    let mut source = std::error::Error::source(api);
    while let Some(cause) = source {
        root = Some(cause);
        source = cause.source();
    }
    let what = match (api.api_message(), api.kind(), root) {
        (Some(message), _, _) => message.to_owned(),
        (None, ErrorKind::Connect, Some(root)) => format!("cannot connect to {server}: {root}"),
        (None, _, Some(root)) => format!("{api}: {root}"),
        (None, _, None) => api.to_string(),
    };
    let mut line = String::from("error: ");
    for c in &context {
        line.push_str(c);
        line.push_str(": ");
    }
    line.push_str(&what);
    let hint = match api.kind() {
        ErrorKind::Unauthorized => Some(
            "pass a token with --token, the MQCTL_TOKEN variable or `token` in the config file"
                .to_owned(),
        ),
        ErrorKind::Forbidden => Some("the token lacks the permission for this".to_owned()),
        ErrorKind::Connect => Some(format!(
            "is mq-server running at {server}? Choose another with --server or MQCTL_SERVER"
        )),
        ErrorKind::RateLimited => Some(match api.retry_after() {
            Some(after) => format!("try again in {} s", after.as_secs().max(1)),
            None => "try again later".to_owned(),
        }),
        _ => None,
    };
    match hint {
        Some(hint) => format!("{line}\nhint: {hint}"),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_its_code() {
        let check = |kind: ErrorKind, status: Option<u16>, want: u8| {
            assert_eq!(code_of(kind, status), want, "{kind:?} {status:?}");
        };
        check(ErrorKind::NotFound, Some(404), 3);
        check(ErrorKind::Conflict, Some(409), 4);
        check(ErrorKind::Unauthorized, Some(401), 5);
        check(ErrorKind::Forbidden, Some(403), 5);
        check(ErrorKind::Connect, None, 6);
        check(ErrorKind::Timeout, None, 6);
        check(ErrorKind::Transport, None, 6);
        check(ErrorKind::Stream, None, 6);
        check(ErrorKind::RateLimited, Some(429), 7);
        check(ErrorKind::BadRequest, Some(400), 8);
        check(ErrorKind::PayloadTooLarge, Some(413), 8);
        check(ErrorKind::Other, Some(415), 8);
        check(ErrorKind::Other, Some(422), 8);
        check(ErrorKind::Other, Some(405), 1);
        check(ErrorKind::Unavailable, Some(503), 1);
        check(ErrorKind::Server, Some(500), 1);
        check(ErrorKind::Decode, None, 1);
        check(ErrorKind::Client, None, 2);

        let api = |status: u16| -> anyhow::Error {
            mq_client::Error::Api { status, message: "m".into(), retry_after: None }.into()
        };
        assert_eq!(code(&api(404).context("topic t")), NOT_FOUND);
        assert_eq!(code(&Failure::usage("no --yes")), USAGE);
        assert_eq!(code(&Failure::Aborted.into()), OTHER);
        assert_eq!(code(&Failure::Code { code: 6, message: "ended".into() }.into()), CONNECT);
        assert_eq!(code(&anyhow::anyhow!("reading a file")), OTHER);
        for (code, line) in (0..=8)
            .zip(HELP.lines().filter(|l| l.as_bytes().get(2).is_some_and(u8::is_ascii_digit)))
        {
            assert!(line.starts_with(&format!("  {code}  ")), "{line}");
        }
    }

    #[test]
    fn reports_show_the_api_message_and_a_hint() {
        let unauthorized: anyhow::Error = mq_client::Error::Api {
            status: 401,
            message: "a bearer token is required".into(),
            retry_after: None,
        }
        .into();
        let report = report(&unauthorized.context("topics list"), "http://x");
        assert_eq!(
            report,
            "error: topics list: a bearer token is required\nhint: pass a token with --token, \
             the MQCTL_TOKEN variable or `token` in the config file"
        );
        assert_eq!(super::report(&anyhow::anyhow!("plain"), "http://x"), "error: plain");
    }
}
