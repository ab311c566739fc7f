//! A small HTTP client for the server under test that checks the response envelope of every
//! `/api/v1/mq` call: a JSON object `{code, message, data}` whose `code` equals the HTTP status.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Where the REST API is mounted.
pub const API_PREFIX: &str = "/api/v1/mq";

/// Bound on one request; above the longest long poll the API allows (30 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);

/// A client of one server. Cheap to clone; clones share nothing that a restart could break.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    /// Headers sent with every call (a bearer token, `X-Forwarded-For`).
    headers: Vec<(String, String)>,
}

impl Api {
    /// A client of the server at `addr`.
    pub fn new(addr: SocketAddr) -> Api {
        // reqwest's TLS is built without a crypto provider in this workspace (mq-txn brings
        // ring's, as the Redis and MongoDB clients do); plain HTTP needs none, but building a
        // client checks for one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // A fresh connection per request: a pooled one may have been closed by the
            // server's keep-alive timer or a restart, which would fail a request at random.
            .pool_max_idle_per_host(0)
            .build()
            .expect("build the HTTP client");
        Api { base: format!("http://{addr}"), http, headers: Vec::new() }
    }

    /// The base URL of the API (`http://host:port/api/v1/mq`).
    pub fn base_url(&self) -> String {
        format!("{}{API_PREFIX}", self.base)
    }

    /// The same client, sending `Authorization: Bearer <token>`.
    pub fn with_token(&self, token: &str) -> Api {
        self.with_header("authorization", &format!("Bearer {token}"))
    }

    /// The same client, sending one more header with every call.
    pub fn with_header(&self, name: &str, value: &str) -> Api {
        let mut api = self.clone();
        api.headers.push((name.to_owned(), value.to_owned()));
        api
    }

    /// `GET /api/v1/mq{path}`: the status and the `Retry-After` header in seconds.
    pub async fn retry_after(&self, path: &str) -> (u16, Option<u64>) {
        let url = format!("{}{API_PREFIX}{path}", self.base);
        let mut request = self.http.get(&url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let retry = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        (response.status().as_u16(), retry)
    }

    /// A call with any method to `/api/v1/mq{path}` (or the root when `path` starts with
    /// `!`): the status only, for tables of access checks.
    pub async fn status_of(&self, method: &str, path: &str, body: Option<&Value>) -> u16 {
        let url = match path.strip_prefix('!') {
            Some(root) => format!("{}{root}", self.base),
            None => format!("{}{API_PREFIX}{path}", self.base),
        };
        let method: Method = method.parse().expect("an HTTP method");
        let mut request = self.http.request(method.clone(), &url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body_bytes(body));
        }
        let response =
            request.send().await.unwrap_or_else(|e| panic!("{method} {url}: request failed: {e}"));
        response.status().as_u16()
    }

    /// Whether `GET /readyz` answers 200 (within 2 s); false on any error.
    pub async fn readyz_is_ok(&self) -> bool {
        let request =
            self.http.get(format!("{}/readyz", self.base)).timeout(Duration::from_secs(2));
        matches!(request.send().await, Ok(response) if response.status() == StatusCode::OK)
    }

    /// `GET` of a path at the root (outside `/api/v1/mq` and its envelope): status and body.
    pub async fn root_get(&self, path: &str) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_else(|e| panic!("GET {url}: body: {e}"));
        (status, body)
    }

    /// `GET /api/v1/mq{path}`: status and the checked envelope.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    /// `POST /api/v1/mq{path}` with a JSON body: status and the checked envelope.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body_bytes(body))).await
    }

    /// `POST /api/v1/mq{path}` with a JSON body: status and the checked envelope, or why the
    /// request failed (connection, timeout), for tests where failures are data.
    pub async fn try_post(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let url = format!("{}{API_PREFIX}{path}", self.base);
        let mut request = self.http.post(&url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = request.header("content-type", "application/json").body(body_bytes(body));
        let response = request.send().await.map_err(|e| format!("POST {url}: {e}"))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| format!("POST {url}: body: {e}"))?;
        Ok((status, envelope(&Method::POST, path, status, &bytes)))
    }

    /// `PUT /api/v1/mq{path}` with a JSON body: status and the checked envelope.
    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(body_bytes(body))).await
    }

    /// `DELETE /api/v1/mq{path}`: status and the checked envelope.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// `POST /api/v1/mq{path}` with raw bytes declared as JSON (for malformed or huge
    /// bodies): status and the checked envelope.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `GET`, asserting 200; returns `data`.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        expect_ok("GET", path, status, body)
    }

    /// `POST`, asserting 200; returns `data`.
    pub async fn post_ok(&self, path: &str, body: &Value) -> Value {
        let (status, reply) = self.post(path, body).await;
        expect_ok("POST", path, status, reply)
    }

    /// `PUT`, asserting 200; returns `data`.
    pub async fn put_ok(&self, path: &str, body: &Value) -> Value {
        let (status, reply) = self.put(path, body).await;
        expect_ok("PUT", path, status, reply)
    }

    /// `DELETE`, asserting 200; returns `data`.
    pub async fn delete_ok(&self, path: &str) -> Value {
        let (status, body) = self.delete(path).await;
        expect_ok("DELETE", path, status, body)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> (u16, Value) {
        let url = format!("{}{API_PREFIX}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response =
            request.send().await.unwrap_or_else(|e| panic!("{method} {url}: request failed: {e}"));
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: reading the body failed: {e}"));
        (status, envelope(&method, path, status, &bytes))
    }
}

fn body_bytes(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).expect("serialize a JSON body")
}

/// Parses and checks a `/api/v1/mq` response body: `{code, message, data}` with `code` equal
/// to the HTTP status, `message` a string, `data` present (it may be null).
fn envelope(method: &Method, path: &str, status: u16, bytes: &[u8]) -> Value {
    let text = String::from_utf8_lossy(bytes);
    let body: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!("{method} {API_PREFIX}{path} -> {status}: body is not JSON ({e}): {text:?}")
    });
    let context = || format!("{method} {API_PREFIX}{path} -> {status}: {body}");
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("the envelope should be a JSON object: {}", context()));
    assert_eq!(
        object.get("code").and_then(Value::as_u64),
        Some(u64::from(status)),
        "envelope `code` should equal the HTTP status: {}",
        context()
    );
    assert!(
        object.get("message").is_some_and(Value::is_string),
        "envelope `message` should be a string: {}",
        context()
    );
    assert!(object.contains_key("data"), "envelope should have `data`: {}", context());
    body
}

fn expect_ok(method: &str, path: &str, status: u16, body: Value) -> Value {
    assert_eq!(status, 200, "{method} {API_PREFIX}{path} should succeed, got {status}: {body}");
    body["data"].clone()
}
