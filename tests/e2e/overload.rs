//! A flood of long polls (issue 25): 1,000 consumers with distinct ids long-poll one server on
//! Redis + the MongoDB-wire server for 20 s. Beyond `max_long_polls` they are refused with 503
//! and `Retry-After`, no other 5xx comes, and once they stop the server is ready, takes a
//! publish and delivers it within 5 s.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::server::TestServer;
use crate::support::{consume, create_group, create_topic};

/// Consumers polling at once.
const POLLERS: usize = 1_000;
/// How long they poll.
const FLOOD: Duration = Duration::from_secs(20);
/// How soon after the flood the server must answer normally.
const RECOVER_WITHIN: Duration = Duration::from_secs(5);

pub async fn a_flood_of_long_polls_is_bounded_and_the_server_recovers_at_once(server: TestServer) {
    let api = server.api();
    create_topic(&api, "flood", 4).await;
    create_group(&api, "flood", "g", json!({})).await;

    let statuses: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let until = Instant::now() + FLOOD;
    let pollers: Vec<_> = (0..POLLERS)
        .map(|i| {
            let (api, statuses) = (api.clone(), statuses.clone());
            tokio::spawn(async move {
                let body = json!({
                    "topicName": "flood", "groupId": "g", "consumerId": format!("c{i}"),
                    "maxMessages": 10, "waitMs": 3000,
                });
                while Instant::now() < until {
                    let answer = api.try_post("/consume", &body).await;
                    let seen = match &answer {
                        Ok((status, _)) => status.to_string(),
                        Err(error) => format!("failed: {error}"),
                    };
                    *statuses.lock().unwrap().entry(seen).or_default() += 1;
                    if !matches!(answer, Ok((200, _))) {
                        // As Retry-After asks.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            })
        })
        .collect();
    for poller in pollers {
        poller.await.unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    let refused = statuses.get("503").copied().unwrap_or(0);
    assert!(refused > 0, "more long polls than max_long_polls (512) were refused: {statuses:?}");
    let unexpected: Vec<_> =
        statuses.keys().filter(|s| !["200", "503"].contains(&s.as_str())).collect();
    assert!(unexpected.is_empty(), "only 200 and 503 answers: {statuses:?}");

    // Right after the flood: ready, a publish is taken and delivered.
    let stopped = Instant::now();
    while !api.readyz_is_ok().await {
        assert!(stopped.elapsed() < RECOVER_WITHIN, "not ready within {RECOVER_WITHIN:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, reply) =
        api.post("/messages", &json!({"topicName": "flood", "value": "after"})).await;
    assert_eq!(status, 200, "{reply}");
    let got = consume(&api, "flood", "g", "after-flood", 10, 3000).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        stopped.elapsed() < RECOVER_WITHIN,
        "ready, publish and consume took {:?} after the flood ({statuses:?})",
        stopped.elapsed()
    );
}

/// `GET /readyz` says 503 within a second when a store is down, not after its timeouts.
pub async fn readyz_answers_within_a_second_with_a_store_down(mut server: TestServer) {
    let api = server.api();
    assert!(api.readyz_is_ok().await);
    server.stop_mongo();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, _) = api.root_get("/readyz").await;
        let took = started.elapsed();
        assert_eq!(status, 503, "MongoDB is down");
        assert!(took < Duration::from_secs(1), "/readyz took {took:?} with MongoDB down");
    }
}
