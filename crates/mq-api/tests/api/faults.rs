//! Storage faults: an unreachable store is 503 "storage unavailable", any other fault is 500
//! "internal error", and neither tells the client more.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mq_model::{Page, Paged, Topic};
use mq_repo::{Backend, MemoryMetadata, RepoError, RepoResult, TopicFilter, TopicRepository};
use serde_json::json;

use crate::harness::{api_with, broker_over};

/// Topics that always fail with the error `make` builds.
#[derive(Debug)]
struct FailingTopics {
    make: fn() -> RepoError,
}

#[async_trait]
impl TopicRepository for FailingTopics {
    async fn create(&self, _topic: Topic) -> RepoResult<Topic> {
        Err((self.make)())
    }
    async fn get(&self, _name: &str) -> RepoResult<Option<Topic>> {
        Err((self.make)())
    }
    async fn list(&self, _filter: &TopicFilter, _page: Page) -> RepoResult<Paged<Topic>> {
        Err((self.make)())
    }
    async fn update(&self, _topic: Topic) -> RepoResult<Topic> {
        Err((self.make)())
    }
    async fn delete(&self, _name: &str) -> RepoResult<()> {
        Err((self.make)())
    }
}

fn timeout() -> RepoError {
    RepoError::Timeout { backend: Backend::MongoDb, op: "secret-op", after: Duration::from_secs(2) }
}

fn corrupt() -> RepoError {
    RepoError::Corrupt { what: "topic document", detail: "secret-detail".to_owned() }
}

#[actix_web::test]
async fn faults_are_503_or_500_without_details() {
    for (make, status, message, ready) in [
        (timeout as fn() -> RepoError, 503, "storage unavailable", 503),
        (corrupt, 500, "internal error", 503),
    ] {
        let mut meta = MemoryMetadata::stores();
        meta.topics = Arc::new(FailingTopics { make });
        let api = api_with(broker_over(meta), mq_api::ApiConfig::default()).await;
        for (method, path, body) in [
            ("GET", "/api/v1/mq/topics", None),
            ("GET", "/api/v1/mq/topics/t", None),
            ("POST", "/api/v1/mq/topics", Some(json!({"name": "t"}))),
            ("POST", "/api/v1/mq/messages", Some(json!({"topicName": "t", "value": 1}))),
            (
                "POST",
                "/api/v1/mq/consume",
                Some(json!({"topicName": "t", "groupId": "g", "consumerId": "c"})),
            ),
        ] {
            let body = body.map(|b| b.to_string());
            let reply = api.call(method, path, body.as_deref()).await;
            assert_eq!(reply.status, status, "{method} {path}: {}", reply.text);
            assert_eq!(reply.message(), message, "{method} {path}");
            assert!(!reply.text.contains("secret"), "{}", reply.text);
        }
        let readiness = api.get("/readyz").await;
        assert_eq!((readiness.status, &readiness.body), (ready, &json!({"status": "unavailable"})));
    }
}
