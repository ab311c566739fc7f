//! The client and its builder, and how one call travels: URL, token, timeout, retries, and the
//! `{code, message, data}` envelope of the answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where the REST API lives under the base URL.
const API_SEGMENTS: [&str; 3] = ["api", "v1", "mq"];

/// Bound on one call unless [`ClientBuilder::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Retries of a failed idempotent call unless [`ClientBuilder::retries`] says otherwise.
pub const DEFAULT_RETRIES: u32 = 3;

/// The pause before the first retry; each further pause doubles, up to
/// [`DEFAULT_MAX_BACKOFF`].
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);

/// The longest pause between retries unless [`ClientBuilder::backoff`] says otherwise.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A server's `Retry-After` is honoured up to this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Bound on establishing a connection, at most the call's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an unexpected body an error quotes.
const SNIPPET_BYTES: usize = 200;

/// A client of one mq server. Cheap to clone: clones share the connection pool.
///
/// Build one with [`Client::builder`] or [`Client::new`]. Every method is one API call (the
/// route is in its documentation) with the retries its route allows; see the crate
/// documentation for which calls retry.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// The base URL as given, without query or fragment.
    root: Url,
    timeout: Duration,
    retries: u32,
    backoff: Backoff,
}

/// Settings of a [`Client`]; see [`Client::builder`].
pub struct ClientBuilder {
    base_url: String,
    token: Option<String>,
    timeout: Duration,
    retries: u32,
    backoff: Backoff,
    ca_pems: Vec<Vec<u8>>,
    identity_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: say only whether there is one.
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .field("ca_certificates", &self.ca_pems.len())
            .field("identity", &self.identity_pem.is_some())
            .finish()
    }
}

impl Client {
    /// Settings for a client of the server at `base_url`, such as `http://127.0.0.1:8080` or
    /// `https://mq.example.com`; the client appends `/api/v1/mq` (after any path the base URL
    /// has, for a server behind a proxy at a sub-path).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            token: None,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            backoff: Backoff { initial: DEFAULT_BACKOFF, max: DEFAULT_MAX_BACKOFF },
            ca_pems: Vec::new(),
            identity_pem: None,
        }
    }

    /// A client of the server at `base_url` with the default settings and no token.
    pub fn new(base_url: impl Into<String>) -> Result<Client> {
        Client::builder(base_url).build()
    }

    /// The base URL the client was built with.
    pub fn base_url(&self) -> &str {
        self.inner.root.as_str()
    }

    /// A call to `/api/v1/mq/<segments>`; each segment is percent-encoded.
    pub(crate) fn api(&self, method: Method, segments: &[&str]) -> Call {
        self.call_to(method, true, segments)
    }

    /// A call to `/<segments>` at the root (health checks, metrics).
    pub(crate) fn root(&self, method: Method, segments: &[&str]) -> Call {
        self.call_to(method, false, segments)
    }

    fn call_to(&self, method: Method, api: bool, segments: &[&str]) -> Call {
        let mut url = self.inner.root.clone();
        // `build` refused URLs that cannot have a path, so this always applies.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            if api {
                path.extend(API_SEGMENTS);
            }
            path.extend(segments);
        }
        // GET, PUT and DELETE are idempotent; POSTs that are opt in with `idempotent()`.
        let retry = if method == Method::GET || method == Method::DELETE || method == Method::PUT {
            Retry::Idempotent
        } else {
            Retry::UnsentOnly
        };
        Call { method, url, body: None, retry, timeout: None }
    }

    /// Sends `call` with its retries and returns the envelope's `data`.
    pub(crate) async fn data<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        let body = self.fetch(&call).await?;
        decode_envelope(&call.endpoint(), &body)
    }

    /// Sends `call` with its retries and returns the answer's body as text, for the routes
    /// outside the envelope (`/metrics`).
    pub(crate) async fn text(&self, call: Call) -> Result<String> {
        let body = self.fetch(&call).await?;
        String::from_utf8(body).map_err(|e| Error::Decode {
            endpoint: call.endpoint(),
            reason: "the body is not UTF-8 text".to_owned(),
            snippet: snippet(e.as_bytes()),
        })
    }

    /// Sends `call` with its retries and returns the status and body whatever the status, for
    /// the health checks, whose 503 is an answer rather than an error.
    pub(crate) async fn status(&self, call: Call) -> Result<(u16, Vec<u8>)> {
        self.with_retries(call.retry, || async {
            let response = self.send_once(&call, Some(call.bound(self.inner.timeout))).await?;
            let status = response.status().as_u16();
            let body = read_body(&call, response).await?;
            Ok((status, body))
        })
        .await
    }

    /// Sends `call` (retrying as it allows) and returns the response once its status is a
    /// success, without reading the body: for streams. The total timeout does not apply; the
    /// wait for the response head is bounded by the client's timeout.
    pub(crate) async fn open(&self, call: Call) -> Result<reqwest::Response> {
        self.with_retries(call.retry, || async {
            let sent = tokio::time::timeout(self.inner.timeout, self.send_once(&call, None)).await;
            let response = match sent {
                Ok(result) => result?,
                Err(_) => {
                    return Err(Error::Stream {
                        reason: format!(
                            "{}: no answer within {:?}",
                            call.endpoint(),
                            self.inner.timeout
                        ),
                    })
                }
            };
            if response.status().is_success() {
                return Ok(response);
            }
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let body = read_body(&call, response).await?;
            Err(api_error(status, retry_after, &body))
        })
        .await
    }

    /// The client's timeout for one call.
    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Sends `call` with its retries and returns the body of a success.
    async fn fetch(&self, call: &Call) -> Result<Vec<u8>> {
        self.with_retries(call.retry, || async {
            let response = self.send_once(call, Some(call.bound(self.inner.timeout))).await?;
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let body = read_body(call, response).await?;
            if status.is_success() {
                Ok(body)
            } else {
                Err(api_error(status, retry_after, &body))
            }
        })
        .await
    }

    /// Runs `once` until it succeeds, fails in a way `retry` does not repeat, or the retries
    /// are used up, pausing with capped exponential backoff (or the server's `Retry-After`)
    /// in between.
    async fn with_retries<T, F, Fut>(&self, retry: Retry, mut once: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 0;
        loop {
            let result = once().await;
            let error = match &result {
                Ok(_) => return result,
                Err(error) => error,
            };
            if attempt >= self.inner.retries || !retry.repeats(error) {
                return result;
            }
            tokio::time::sleep(self.inner.backoff.delay(attempt, error.retry_after())).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, call: &Call, timeout: Option<Duration>) -> Result<reqwest::Response> {
        let mut request = self.inner.http.request(call.method.clone(), call.url.clone());
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some(body) = &call.body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        request.send().await.map_err(|source| transport(call, source))
    }
}

impl ClientBuilder {
    /// Sends `Authorization: Bearer <token>` with every call (the server's `auth.tokens`, or a
    /// run-time token from [`Client::create_token`]).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Bound on one call, from sending to the last byte of the answer (default 30 s). A long
    /// poll ([`Client::consume`] with `wait_ms`) gets its wait on top; a stream has no total
    /// bound (see [`Client::stream`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a call that failed in a way its route allows to repeat is tried again
    /// (default 3; 0 turns retries off).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The pause before the first retry and the longest pause (defaults 100 ms and 2 s); each
    /// pause doubles the previous one.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff { initial, max: max.max(initial) };
        self
    }

    /// Trusts the CA certificates in `pem` (one or more PEM blocks) for https, besides the
    /// system's roots: for a server with a certificate of a private or self-signed CA.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Presents a client certificate over https (the server's `tls.client_ca_path`): `pem`
    /// holds the certificate chain and its private key.
    pub fn identity_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.identity_pem = Some(pem.into());
        self
    }

    /// The client. Installs ring as the process's default rustls crypto provider unless one is
    /// installed already.
    pub fn build(self) -> Result<Client> {
        let mut root = Url::parse(&self.base_url)
            .map_err(|e| Error::Config { reason: format!("base URL {:?}: {e}", self.base_url) })?;
        if !matches!(root.scheme(), "http" | "https") || root.cannot_be_a_base() {
            return Err(Error::Config {
                reason: format!("base URL {:?} must be http:// or https://", self.base_url),
            });
        }
        root.set_query(None);
        root.set_fragment(None);

        let mut headers = HeaderMap::new();
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                Error::Config { reason: "the token must be visible ASCII".to_owned() }
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        // reqwest's rustls comes without a crypto provider here (the workspace uses ring); an
        // error means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("mq-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT.min(self.timeout))
            // The API never redirects; one from a proxy (http to https, say) is shown as the
            // 3xx it is rather than followed with the token.
            .redirect(reqwest::redirect::Policy::none());
        if root.scheme() == "http" && self.ca_pems.is_empty() && self.identity_pem.is_none() {
            // Plain HTTP uses no certificates: without this, building the client would read
            // the system's roots and fail on a host that has none (a minimal container).
            http = http.tls_certs_only(Vec::new());
        }
        for pem in &self.ca_pems {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Config { reason: format!("CA certificate is not PEM: {e}") })?;
            if certificates.is_empty() {
                return Err(Error::Config {
                    reason: "CA certificate PEM holds no certificate".to_owned(),
                });
            }
            http = http.tls_certs_merge(certificates);
        }
        if let Some(pem) = &self.identity_pem {
            let identity = reqwest::Identity::from_pem(pem).map_err(|e| Error::Config {
                reason: format!("client certificate and key are not PEM: {e}"),
            })?;
            http = http.identity(identity);
        }
        let http = http
            .build()
            .map_err(|e| Error::Config { reason: format!("building the HTTP client: {e}") })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                root,
                timeout: self.timeout,
                retries: self.retries,
                backoff: self.backoff,
            }),
        })
    }
}

/// Which failures of a call are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Repeating the call does no harm: also after a broken connection and on 503.
    Idempotent,
    /// Only when no connection was made, so the server never saw the request.
    UnsentOnly,
}

impl Retry {
    fn repeats(self, error: &Error) -> bool {
        match error {
            Error::Connect { .. } => true,
            Error::Transport { .. } => self == Retry::Idempotent,
            Error::Api { status: 503, .. } => self == Retry::Idempotent,
            _ => false,
        }
    }
}

/// One API call, built by the resource modules.
#[derive(Debug)]
pub(crate) struct Call {
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
    retry: Retry,
    /// Overrides the client's timeout (long polls).
    timeout: Option<Duration>,
}

impl Call {
    /// Adds `name=value` to the query string when `value` is given.
    pub(crate) fn query(mut self, name: &str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.url.query_pairs_mut().append_pair(name, &value.to_string());
        }
        self
    }

    /// The JSON body.
    pub(crate) fn json(mut self, body: &impl Serialize) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|source| Error::Encode { what: "request body", source })?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// Marks a POST whose repetition does no harm (ack, nack, extend, commit), so that it is
    /// retried like a GET.
    pub(crate) fn idempotent(mut self) -> Self {
        self.retry = Retry::Idempotent;
        self
    }

    /// A bound of its own (a long poll's wait on top of the client's timeout).
    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Its bound: its own, or the client's `default`.
    fn bound(&self, default: Duration) -> Duration {
        self.timeout.unwrap_or(default)
    }

    /// `GET http://host:8080/api/v1/mq/topics`, for error messages (without the query, which
    /// may name topics and ids but adds little).
    pub(crate) fn endpoint(&self) -> String {
        let mut url = self.url.clone();
        url.set_query(None);
        // Credentials in the base URL stay out of messages; these setters only fail on URLs
        // that cannot have them, which then have none.
        let _ = url.set_password(None);
        let _ = url.set_username("");
        format!("{} {url}", self.method)
    }
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// The pause before retry `attempt + 1`: `initial × 2^attempt` capped at `max`, or the
    /// server's hint when that is longer (itself capped at [`MAX_RETRY_AFTER`]).
    fn delay(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        let factor = 2u32.checked_pow(attempt).unwrap_or(u32::MAX);
        let backoff = self.initial.saturating_mul(factor).min(self.max);
        match hint {
            Some(hint) => hint.min(MAX_RETRY_AFTER).max(backoff),
            None => backoff,
        }
    }
}

fn transport(call: &Call, source: reqwest::Error) -> Error {
    if source.is_connect() {
        Error::Connect { endpoint: call.endpoint(), source }
    } else {
        Error::Transport { endpoint: call.endpoint(), source }
    }
}

async fn read_body(call: &Call, response: reqwest::Response) -> Result<Vec<u8>> {
    match response.bytes().await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(source) => Err(transport(call, source)),
    }
}

/// `Retry-After` in seconds (the form the server sends; an HTTP date is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// The error of a non-success answer: the envelope's message, or when something other than
/// mq answered (a proxy's 502 page), the status's reason and the start of the body.
fn api_error(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Error {
    #[derive(Deserialize)]
    struct ErrorEnvelope {
        message: String,
    }
    let message = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(envelope) => envelope.message,
        Err(_) => format!(
            "{} (not an mq answer: {:?})",
            status.canonical_reason().unwrap_or("error"),
            snippet(body)
        ),
    };
    Error::Api { status: status.as_u16(), message, retry_after }
}

/// The `data` of a `{code, message, data}` envelope.
pub(crate) fn decode_envelope<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T> {
    #[derive(Deserialize)]
    struct Envelope<T> {
        data: T,
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, Envelope<T>>(&mut deserializer) {
        Ok(envelope) => Ok(envelope.data),
        Err(error) => Err(Error::Decode {
            endpoint: endpoint.to_owned(),
            reason: error.to_string(),
            snippet: snippet(body),
        }),
    }
}

/// A time as a query parameter: RFC 3339 in UTC.
pub(crate) fn time(at: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// The start of a body, as text, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let end = body.len().min(SNIPPET_BYTES);
    let mut text = String::from_utf8_lossy(&body[..end]).into_owned();
    if body.len() > end {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_honours_longer_hints() {
        let backoff =
            Backoff { initial: Duration::from_millis(100), max: Duration::from_millis(700) };
        let pauses: Vec<u128> = (0..5).map(|a| backoff.delay(a, None).as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 700, 700]);
        assert_eq!(backoff.delay(40, None), Duration::from_millis(700));
        assert_eq!(backoff.delay(0, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(backoff.delay(3, Some(Duration::from_millis(1))), Duration::from_millis(700));
        assert_eq!(backoff.delay(0, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
    }

    #[test]
    fn urls_keep_a_base_path_and_encode_segments_and_queries() {
        let client = Client::new("http://127.0.0.1:8080").unwrap();
        let call = client.api(Method::GET, &["topics", "a b/c"]).query("page", Some(2));
        assert_eq!(call.url.as_str(), "http://127.0.0.1:8080/api/v1/mq/topics/a%20b%2Fc?page=2");
        let call = client.api(Method::GET, &["topics"]).query("page", None::<u32>);
        assert_eq!(call.url.as_str(), "http://127.0.0.1:8080/api/v1/mq/topics");
        let proxied = Client::new("https://example.com/queue/?x=1#f").unwrap();
        let call = proxied.root(Method::GET, &["healthz"]);
        assert_eq!(call.url.as_str(), "https://example.com/queue/healthz");
        assert_eq!(call.endpoint(), "GET https://example.com/queue/healthz");
        let secret = Client::new("http://user:pw@example.com").unwrap();
        let call = secret.api(Method::GET, &["topics"]).query("prefix", Some("x"));
        assert_eq!(call.endpoint(), "GET http://example.com/api/v1/mq/topics");
        for bad in ["ftp://example.com", "mailto:a@b", "not a url", "127.0.0.1:8080"] {
            let error = Client::new(bad).unwrap_err();
            assert!(matches!(error, Error::Config { .. }), "{bad}: {error:?}");
        }
    }

    #[test]
    fn methods_choose_their_retries() {
        let client = Client::new("http://localhost").unwrap();
        assert_eq!(client.api(Method::GET, &[]).retry, Retry::Idempotent);
        assert_eq!(client.api(Method::PUT, &[]).retry, Retry::Idempotent);
        assert_eq!(client.api(Method::DELETE, &[]).retry, Retry::Idempotent);
        assert_eq!(client.api(Method::POST, &[]).retry, Retry::UnsentOnly);
        assert_eq!(client.api(Method::POST, &[]).idempotent().retry, Retry::Idempotent);
        let unavailable = Error::Api { status: 503, message: String::new(), retry_after: None };
        let conflict = Error::Api { status: 409, message: String::new(), retry_after: None };
        assert!(Retry::Idempotent.repeats(&unavailable));
        assert!(!Retry::UnsentOnly.repeats(&unavailable));
        assert!(!Retry::Idempotent.repeats(&conflict));
    }

    #[test]
    fn answers_become_data_or_typed_errors() {
        let data: Vec<u32> =
            decode_envelope("GET /x", br#"{"code":200,"message":"ok","data":[1,2]}"#).unwrap();
        assert_eq!(data, [1, 2]);
        let error = decode_envelope::<Vec<u32>>("GET /x", br#"{"code":200,"data":[1,"a"]}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("GET /x") && error.contains("data[1]"), "{error}");
        let error = decode_envelope::<u32>("GET /x", b"<html>").unwrap_err();
        assert!(matches!(&error, Error::Decode { snippet, .. } if snippet == "<html>"));

        let refused = api_error(
            StatusCode::NOT_FOUND,
            None,
            br#"{"code":404,"message":"topic \"t\" does not exist","data":null}"#,
        );
        assert!(refused.is_not_found());
        assert_eq!(refused.api_message(), Some("topic \"t\" does not exist"));
        let proxy = api_error(StatusCode::BAD_GATEWAY, None, b"<h1>bad gateway</h1>");
        assert_eq!(proxy.status(), Some(502));
        assert!(proxy.to_string().contains("Bad Gateway (not an mq answer"), "{proxy}");

        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), None);
        assert_eq!(snippet(&[b'a'; 300]).chars().count(), SNIPPET_BYTES + 1);
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let builder = Client::builder("http://localhost").token("very-secret");
        assert!(!format!("{builder:?}").contains("very-secret"));
        let client = builder.build().unwrap();
        assert!(!format!("{client:?}").contains("very-secret"));
        let error = Client::builder("http://localhost").token("bad\ntoken").build().unwrap_err();
        assert!(matches!(error, Error::Config { .. }));
    }
}
