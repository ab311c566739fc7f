//! Long polling: `POST /consume` with `waitMs` returns as soon as a message arrives, or empty
//! after `waitMs`; and SIGTERM while a long poll is in flight still ends in a clean exit.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::TestServer;
use crate::support::{ack_all, consume, create_group, create_topic, send};

pub async fn long_poll_returns_on_arrival_or_after_wait(server: TestServer) {
    let api = server.api();
    create_topic(&api, "quiet", 2).await;
    create_group(&api, "quiet", "g", Value::Null).await;

    // A message published 300 ms into a 3 s wait ends the wait. The bound is generous (a busy
    // two-core machine), not a performance target; what matters is not waiting out waitMs.
    let publisher = {
        let api = api.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            send(&api, "quiet", Some("k"), json!("wake up")).await
        })
    };
    let started = Instant::now();
    let got = consume(&api, "quiet", "g", "c", 10, 3_000).await;
    let took = started.elapsed();
    publisher.await.expect("the publisher task panicked");
    assert_eq!(got.len(), 1, "the message published during the wait: {got:?}");
    assert_eq!(got[0]["value"], "wake up");
    assert!(took < Duration::from_millis(2_500), "waitMs 3000 returned after {took:?}");
    ack_all(&api, "quiet", "g", &got).await;

    // Nothing comes: empty, after the full wait.
    let started = Instant::now();
    let got = consume(&api, "quiet", "g", "c", 10, 1_000).await;
    let took = started.elapsed();
    assert!(got.is_empty(), "nothing was published: {got:?}");
    assert!(took >= Duration::from_millis(1_000), "waitMs 1000 returned empty after {took:?}");
    assert!(took < Duration::from_millis(4_000), "waitMs 1000 returned after {took:?}");
}

pub async fn sigterm_during_a_long_poll_exits_zero(server: TestServer) {
    const WAIT_MS: u64 = 5_000;
    let mut server = server;
    let api = server.api();
    create_topic(&api, "idle", 1).await;
    create_group(&api, "idle", "g", Value::Null).await;
    let poll = tokio::spawn(async move {
        let body =
            json!({"topicName": "idle", "groupId": "g", "consumerId": "c", "waitMs": WAIT_MS});
        api.post("/consume", &body).await
    });
    // Let the request reach the server and start waiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "the long poll returned before SIGTERM: {:?}", poll.await);

    let started = Instant::now();
    let status = server.stop().await;
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}\n{}", server.logs());
    let bound = Duration::from_millis(WAIT_MS + 7_000);
    assert!(took < bound, "exit took {took:?} after SIGTERM, over {bound:?}\n{}", server.logs());

    // In-flight requests are finished, not cut off: the poll gets its (empty) answer.
    let (status, reply) = poll.await.unwrap_or_else(|e| {
        panic!("the long poll in flight at SIGTERM got no answer (in-flight requests should be finished): {e}")
    });
    assert_eq!(status, 200, "the long poll in flight at SIGTERM: {reply}");
    assert_eq!(reply["data"]["messages"], json!([]), "{reply}");
}
