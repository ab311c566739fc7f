//! `GET /consume/stream` (issue 9): Server-Sent Events with flow control, heartbeats and a
//! clean end on shutdown.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::TestServer;
use crate::support::{ack, create_group, create_topic};

/// Reads events from a streaming response until `stop` says so or `within` passes.
async fn read_events(
    response: &mut reqwest::Response,
    buffer: &mut String,
    within: Duration,
    stop: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let started = Instant::now();
    let mut events = Vec::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event: ") {
                    name = rest.to_owned();
                } else if let Some(rest) = line.strip_prefix("data: ") {
                    data = rest.to_owned();
                } else if line.starts_with(':') {
                    name = "comment".to_owned();
                    data = line.to_owned();
                }
            }
            events.push((name, data));
        }
        if stop(&events) || started.elapsed() > within {
            return events;
        }
        let left = within.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, response.chunk()).await {
            Ok(Ok(Some(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) | Ok(Err(_)) => {
                events.push(("closed".to_owned(), String::new()));
                return events;
            }
            Err(_) => return events,
        }
    }
}

fn messages(events: &[(String, String)]) -> Vec<Value> {
    events
        .iter()
        .filter(|(name, _)| name == "message")
        .map(|(_, data)| serde_json::from_str(data).unwrap())
        .collect()
}

pub async fn streaming_consume_pushes_with_flow_control_and_ends_on_shutdown(
    mut server: TestServer,
) {
    let api = server.api();
    create_topic(&api, "live", 1).await;
    create_group(&api, "live", "g", Value::Null).await;
    for i in 0..5 {
        api.post_ok("/messages", &json!({"topicName": "live", "value": i})).await;
    }
    let url = format!(
        "{}/consume/stream?topicName=live&groupId=g&consumerId=s1&maxInFlight=2&heartbeatMs=300",
        api.base_url()
    );
    let mut response = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let mut buffer = String::new();
    // Two in flight at most: two arrive, then nothing until acked.
    let first =
        read_events(&mut response, &mut buffer, Duration::from_secs(3), |e| messages(e).len() >= 2)
            .await;
    let got = messages(&first);
    assert_eq!(got.len(), 2, "{first:?}");
    assert_eq!((got[0]["value"].clone(), got[1]["value"].clone()), (json!(0), json!(1)));
    assert!(got.iter().all(|m| m["receipt"].is_string() && m["deliveryCount"] == 1));
    let held = read_events(&mut response, &mut buffer, Duration::from_millis(800), |_| false).await;
    assert!(messages(&held).is_empty(), "flow control held the rest back: {held:?}");
    assert!(held.iter().any(|(name, _)| name == "comment"), "heartbeats while idle: {held:?}");
    let receipts: Vec<String> =
        got.iter().map(|m| m["receipt"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ack(&api, "live", "g", &receipts).await, 2);
    let next =
        read_events(&mut response, &mut buffer, Duration::from_secs(3), |e| messages(e).len() >= 2)
            .await;
    let values: Vec<Value> = messages(&next).iter().map(|m| m["value"].clone()).collect();
    assert_eq!(values, [json!(2), json!(3)]);

    // Bad requests are answered before the stream starts.
    let (status, _) = api.get("/consume/stream?topicName=nope&groupId=g&consumerId=s").await;
    assert_eq!(status, 404);
    let (status, body) =
        api.get("/consume/stream?topicName=live&groupId=g&consumerId=s&maxInFlight=0").await;
    assert_eq!(status, 400, "{body}");

    // Shutdown ends the stream cleanly.
    let stopping = tokio::spawn(async move {
        server.stop().await;
        server
    });
    let last = read_events(&mut response, &mut buffer, Duration::from_secs(10), |e| {
        e.iter().any(|(name, _)| name == "end" || name == "closed")
    })
    .await;
    assert!(last.iter().any(|(name, _)| name == "end"), "{last:?}");
    let _server = stopping.await.unwrap();
}
