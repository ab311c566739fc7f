//! Asking a producer what became of an undecided transaction.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use mq_model::Transaction;
use serde::{Deserialize, Serialize};

/// A producer's answer to a check-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckDecision {
    /// The local transaction succeeded: deliver the message.
    Commit,
    /// It failed: discard the message.
    Rollback,
    /// Not known yet: ask again later.
    Unknown,
}

/// Answers check-backs for library producers: given a prepared transaction whose producer
/// neither committed nor rolled back in time, says what its local transaction did (usually
/// by looking up local state keyed by the transaction or message id). An `Err` counts as
/// `Unknown`, with its text kept in the transaction's history.
#[async_trait]
pub trait TransactionChecker: Send + Sync + Debug {
    /// The decision for `txn`.
    async fn check(&self, txn: &Transaction) -> Result<CheckDecision, String>;
}

/// The body of an HTTP check-back.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckbackRequest<'a> {
    transaction_id: &'a str,
    message_id: &'a str,
    topic_name: &'a str,
    key: Option<&'a str>,
    headers: &'a std::collections::BTreeMap<String, String>,
}

/// The answer an HTTP check-back expects.
#[derive(Debug, Deserialize)]
struct CheckbackReply {
    decision: CheckDecision,
}

/// Check-backs over HTTP: `POST <checkbackUrl>` with
/// `{transactionId, messageId, topicName, key, headers}`, expecting a 2xx answer
/// `{"decision": "commit" | "rollback" | "unknown"}`. Anything else (no answer within the
/// timeout, another status, another body) is an error, which counts as unknown.
#[derive(Debug, Clone)]
pub struct HttpChecker {
    /// The client, or why it could not be built (then every check-back fails with that).
    client: Result<reqwest::Client, String>,
}

impl HttpChecker {
    /// A checker whose calls give up after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        // https uses the ring provider the other clients bring; installing it twice is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A check-back goes where it was told; a redirect could lead past the allow-list.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"));
        if let Err(error) = &client {
            tracing::error!(%error, "HTTP check-backs will fail");
        }
        Self { client }
    }

    /// Asks `url` about `txn`.
    pub async fn check(&self, url: &str, txn: &Transaction) -> Result<CheckDecision, String> {
        let body = CheckbackRequest {
            transaction_id: &txn.transaction_id,
            message_id: &txn.message_id,
            topic_name: &txn.topic_name,
            key: txn.key.as_deref(),
            headers: &txn.headers,
        };
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let response = client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("check-back to {url} failed: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("check-back to {url} answered {status}"));
        }
        let reply: CheckbackReply = response.json().await.map_err(|e| {
            format!("check-back to {url}: expected {{\"decision\": \"commit\"|\"rollback\"|\"unknown\"}}: {e}")
        })?;
        Ok(reply.decision)
    }
}

/// Whether `url` may be used as a check-back URL under `allowlist`; the error says why not.
pub(crate) fn check_url(url: &str, allowlist: &[String]) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} must be an http or https URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{url:?} must not carry credentials"));
    }
    if parsed.host_str().is_none() {
        return Err(format!("{url:?} has no host"));
    }
    // Compare the normalised form, so that case or default ports cannot slip past a prefix.
    if allowlist.iter().any(|prefix| parsed.as_str().starts_with(prefix.as_str())) {
        Ok(())
    } else if allowlist.is_empty() {
        Err(format!(
            "{url:?} is not allowed: no check-back URLs are configured \
             (message_queue.transactions.checkback_allowlist)"
        ))
    } else {
        Err(format!(
            "{url:?} is not allowed: it must start with one of {allowlist:?} \
             (message_queue.transactions.checkback_allowlist)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_and_allowed() {
        let allow = vec!["http://127.0.0.1:".to_owned(), "https://pay.internal/".to_owned()];
        assert_eq!(check_url("http://127.0.0.1:8080/check", &allow), Ok(()));
        assert_eq!(check_url("https://pay.internal/tx", &allow), Ok(()));
        assert_eq!(check_url("HTTPS://PAY.internal/tx", &allow), Ok(()), "normalised first");
        for bad in [
            "ftp://pay.internal/tx",
            "https://pay.internal.evil.com/tx",
            "https://user:pw@pay.internal/tx",
            "http://localhost/x",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(check_url(bad, &allow).is_err(), "{bad}");
        }
        let error = check_url("http://127.0.0.1:1/", &[]).unwrap_err();
        assert!(error.contains("checkback_allowlist"), "{error}");
    }
}
