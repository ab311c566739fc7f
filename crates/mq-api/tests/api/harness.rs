//! One API over fresh in-memory stores per test, and requests that check the envelope.

use std::sync::Arc;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::Method;
use actix_web::test::{self, TestRequest};
use actix_web::App;
use mq_api::ApiConfig;
use mq_broker::{Broker, MessageQueueConfig};
use mq_repo::{MemoryMessageLog, MemoryMetadata, MetadataStores};
use serde_json::Value;

/// A broker over new, empty in-memory stores.
pub fn broker() -> Broker {
    broker_over(MemoryMetadata::stores())
}

/// A broker over new in-memory messages and the given metadata stores.
pub fn broker_over(meta: MetadataStores) -> Broker {
    Broker::new(
        mq_repo::MessageStores::from_shared(Arc::new(MemoryMessageLog::default())),
        meta,
        MessageQueueConfig::default(),
        Arc::new(mq_model::SystemClock),
    )
}

/// An answer: the status and the JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// The body as sent, for checks that `Value` cannot make (big numbers, key order).
    pub text: String,
}

impl Reply {
    /// `data` of the envelope.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// `message` of the envelope.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    /// Panics unless the status is 200.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.status, 200, "{}", self.text);
        self
    }
}

/// The API mounted the way the server mounts it, with its broker.
pub struct Api<S> {
    app: S,
    pub broker: Broker,
}

/// The API with the default config.
pub async fn api() -> Api<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    api_with(broker(), ApiConfig::default()).await
}

/// The API over this broker with this config.
pub async fn api_with(
    broker: Broker,
    cfg: ApiConfig,
) -> Api<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    let app =
        test::init_service(App::new().configure(mq_api::configure(broker.clone(), cfg))).await;
    Api { app, broker }
}

impl<S, B> Api<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    /// Sends a request with an optional raw JSON body; checks the envelope of API answers.
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let request =
            TestRequest::default().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        let request = match body {
            Some(body) => request
                .insert_header((CONTENT_TYPE, "application/json"))
                .set_payload(body.to_owned()),
            None => request,
        };
        self.send(request).await
    }

    /// Sends any request; checks the envelope of API answers.
    pub async fn send(&self, request: TestRequest) -> Reply {
        let request = request.to_request();
        let path = request.path().to_owned();
        let response = test::call_service(&self.app, request).await;
        let status = response.status().as_u16();
        assert_eq!(
            response.headers().get(CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/json")),
            "{path}"
        );
        let bytes = test::read_body(response).await;
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
        if !matches!(path.as_str(), "/healthz" | "/readyz") {
            let object =
                body.as_object().unwrap_or_else(|| panic!("{path}: not an object: {text}"));
            let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["code", "data", "message"], "{path}: {text}");
            assert_eq!(body["code"], status, "{path}: envelope code is the HTTP status: {text}");
            assert!(body["message"].is_string(), "{path}: {text}");
            if status != 200 {
                assert!(body["data"].is_null(), "{path}: errors carry no data: {text}");
            }
        }
        Reply { status, body, text }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call("POST", path, Some(&body.to_string())).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.call("PUT", path, Some(&body.to_string())).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// Creates a topic with this many partitions.
    pub async fn topic(&self, name: &str, partitions: u32) {
        let body = serde_json::json!({"name": name, "partitions": partitions});
        self.post("/api/v1/mq/topics", &body).await.ok();
    }

    /// Creates a consumer group reading from the earliest message.
    pub async fn group(&self, topic: &str, group: &str) {
        let body =
            serde_json::json!({"groupId": group, "topicName": topic, "startFrom": "earliest"});
        self.post("/api/v1/mq/consumer-groups", &body).await.ok();
    }

    /// Fetches without waiting; returns the messages.
    pub async fn consume(&self, topic: &str, group: &str, consumer: &str, max: u32) -> Reply {
        let body = serde_json::json!({
            "topicName": topic,
            "groupId": group,
            "consumerId": consumer,
            "maxMessages": max
        });
        self.post("/api/v1/mq/consume", &body).await.ok()
    }
}
