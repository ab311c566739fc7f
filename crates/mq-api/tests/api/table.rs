//! Table-driven error checks: each row is a request and the status and message words it must
//! get. The envelope itself is checked by the harness on every answer.

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use serde_json::{json, Value};

use crate::harness::Api;

/// (method, path, body, status, words the message must contain)
pub type Row = (&'static str, String, Option<String>, u16, &'static [&'static str]);

/// A row under `/api/v1/mq` with a JSON body.
pub fn row(
    method: &'static str,
    path: &str,
    body: Option<Value>,
    status: u16,
    words: &'static [&'static str],
) -> Row {
    (method, format!("/api/v1/mq{path}"), body.map(|b| b.to_string()), status, words)
}

/// A row under `/api/v1/mq` with a raw body, for bodies that are not JSON.
pub fn raw(
    method: &'static str,
    path: &str,
    body: &str,
    status: u16,
    words: &'static [&'static str],
) -> Row {
    (method, format!("/api/v1/mq{path}"), Some(body.to_owned()), status, words)
}

impl<S, B> Api<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    /// Topic `t` with 2 partitions and `maxMessageSize` 16, and group `g` on it.
    pub async fn error_fixture(&self) {
        let body = json!({"name": "t", "partitions": 2, "maxMessageSize": 16});
        self.post("/api/v1/mq/topics", &body).await.ok();
        self.group("t", "g").await;
    }

    /// Sends every row and checks its status and message.
    pub async fn check(&self, rows: Vec<Row>) {
        for (method, path, body, status, words) in rows {
            let reply = self.call(method, &path, body.as_deref()).await;
            assert_eq!(reply.status, status, "{method} {path} {body:?}: {}", reply.text);
            for word in words {
                assert!(
                    reply.message().contains(word),
                    "{method} {path} {body:?}: {:?} lacks {word:?}",
                    reply.message()
                );
            }
        }
    }
}
