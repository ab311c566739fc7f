//! `GET /consume/stream` (issue 9): Server-Sent Events with flow control, heartbeats and a
//! clean end on shutdown; a 10,000-message burst delivered exactly once to a client that acks,
//! and the unacked messages of a client that disconnects delivered again after the ack timeout.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::client::Api;
use crate::server::TestServer;
use crate::support::{ack, check_delivered, consume, create_group, create_topic, int, text};

/// One Server-Sent Events stream: the response and the bytes of a block not yet complete.
struct Sse {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

/// What reading a stream gave.
#[derive(Debug)]
enum Next {
    /// An event: its name (`comment` for a comment line) and its data.
    Event(String, String),
    /// The server ended the response.
    Closed,
    /// Nothing complete arrived before the deadline.
    TimedOut,
}

impl Sse {
    /// `GET /consume/stream` with `query` (after `topicName`, `groupId` and `consumerId`),
    /// asserting a 200 `text/event-stream` answer.
    async fn open(api: &Api, topic: &str, group: &str, consumer: &str, query: &str) -> Sse {
        let url = format!(
            "{}/consume/stream?topicName={topic}&groupId={group}&consumerId={consumer}{query}",
            api.base_url()
        );
        let response = reqwest::Client::new().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {url}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Sse { response, buffer: Vec::new() }
    }

    /// The next event, or why there is none by `deadline`.
    async fn next(&mut self, deadline: Instant) -> Next {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return parse_block(&String::from_utf8_lossy(&block));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Ok(None)) | Ok(Err(_)) => return Next::Closed,
                Err(_) => return Next::TimedOut,
            }
        }
    }
}

fn parse_block(block: &str) -> Next {
    let mut name = String::new();
    let mut data = String::new();
    for line in block.lines() {
        if let Some(rest) = line.strip_prefix("event: ") {
            rest.clone_into(&mut name);
        } else if let Some(rest) = line.strip_prefix("data: ") {
            rest.clone_into(&mut data);
        } else if line.starts_with(':') {
            "comment".clone_into(&mut name);
            line.clone_into(&mut data);
        }
    }
    Next::Event(name, data)
}

/// Reads events until `stop` says so or `within` passes; a closed stream ends the list with
/// a `closed` event.
async fn read_events(
    sse: &mut Sse,
    within: Duration,
    stop: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = Instant::now() + within;
    let mut events = Vec::new();
    while !stop(&events) {
        match sse.next(deadline).await {
            Next::Event(name, data) => events.push((name, data)),
            Next::Closed => {
                events.push(("closed".to_owned(), String::new()));
                break;
            }
            Next::TimedOut => break,
        }
    }
    events
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
    let mut sse = Sse::open(&api, "live", "g", "s1", "&maxInFlight=2&heartbeatMs=300").await;
    // Two in flight at most: two arrive, then nothing until acked.
    let first = read_events(&mut sse, Duration::from_secs(3), |e| messages(e).len() >= 2).await;
    let got = messages(&first);
    assert_eq!(got.len(), 2, "{first:?}");
    assert_eq!((got[0]["value"].clone(), got[1]["value"].clone()), (json!(0), json!(1)));
    assert!(got.iter().all(|m| m["receipt"].is_string() && m["deliveryCount"] == 1));
    let held = read_events(&mut sse, Duration::from_millis(800), |_| false).await;
    assert!(messages(&held).is_empty(), "flow control held the rest back: {held:?}");
    assert!(held.iter().any(|(name, _)| name == "comment"), "heartbeats while idle: {held:?}");
    let receipts: Vec<String> =
        got.iter().map(|m| m["receipt"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ack(&api, "live", "g", &receipts).await, 2);
    let next = read_events(&mut sse, Duration::from_secs(3), |e| messages(e).len() >= 2).await;
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
    let last = read_events(&mut sse, Duration::from_secs(10), |e| {
        e.iter().any(|(name, _)| name == "end" || name == "closed")
    })
    .await;
    assert!(last.iter().any(|(name, _)| name == "end"), "{last:?}");
    let _server = stopping.await.unwrap();
}

/// Messages of the burst.
const BURST: usize = 10_000;
/// Messages per `POST /messages/batch` of the burst (the API takes up to 1000).
const BURST_BATCH: usize = 500;
/// `maxInFlight` of the burst's stream: the flow control is in play throughout.
const BURST_IN_FLIGHT: u32 = 200;
/// Bound on the whole burst arriving; generous, as a failure rather than a benchmark.
const BURST_WITHIN: Duration = Duration::from_secs(240);

/// Publishes one message per number of `values` (its value, a unique sequence number) to
/// `topic`, `batch` messages a request.
async fn publish_numbers(api: &Api, topic: &str, values: std::ops::Range<usize>, batch: usize) {
    let values: Vec<usize> = values.collect();
    for chunk in values.chunks(batch) {
        let messages: Vec<Value> = chunk.iter().map(|n| json!({"value": n})).collect();
        let body = json!({"topicName": topic, "messages": messages});
        let data = api.post_ok("/messages/batch", &body).await;
        let results = data["results"].as_array().unwrap();
        assert_eq!(results.len(), chunk.len(), "one result per message: {data}");
    }
}

/// Acks the receipts that come down `receipts`, up to 1000 a call (the API's limit), as they
/// come; returns how many acks counted once the channel closes. Every receipt is the fresh
/// one of its message, so each must count.
async fn ack_as_they_come(
    api: Api,
    topic: &'static str,
    group: &'static str,
    mut receipts: mpsc::UnboundedReceiver<String>,
) -> usize {
    let mut acked = 0;
    while let Some(first) = receipts.recv().await {
        let mut batch = vec![first];
        while batch.len() < 1000 {
            match receipts.try_recv() {
                Ok(receipt) => batch.push(receipt),
                Err(_) => break,
            }
        }
        let counted = ack(&api, topic, group, &batch).await;
        assert_eq!(counted, batch.len() as u64, "every fresh receipt counts once");
        acked += batch.len();
    }
    acked
}

/// The sequence number a test message carries as its value.
fn number(message: &Value) -> usize {
    let n = message["value"].as_u64().unwrap_or_else(|| panic!("a number value: {message}"));
    usize::try_from(n).unwrap()
}

pub async fn stream_delivers_a_burst_exactly_once_to_a_client_that_acks(server: TestServer) {
    let api = server.api();
    let (topic, group) = ("burst", "g");
    create_topic(&api, topic, 4).await;
    // An ack timeout far longer than the test: nothing may be delivered twice legitimately, so
    // any second delivery is a duplicate.
    create_group(&api, topic, group, json!({"ackTimeoutMs": 3_600_000})).await;
    let query = format!("&maxInFlight={BURST_IN_FLIGHT}&heartbeatMs=500");
    let mut sse = Sse::open(&api, topic, group, "s1", &query).await;
    let started = Instant::now();

    // The burst is published while the client is connected; acks go back as they come.
    let publisher = {
        let api = api.clone();
        tokio::spawn(async move { publish_numbers(&api, topic, 0..BURST, BURST_BATCH).await })
    };
    let (to_ack, receipts) = mpsc::unbounded_channel();
    let acker = tokio::spawn(ack_as_they_come(api.clone(), topic, group, receipts));

    let mut times_seen = vec![0_u32; BURST];
    let mut distinct = 0;
    let mut duplicates = Vec::new();
    let deadline = started + BURST_WITHIN;
    while distinct < BURST {
        match sse.next(deadline).await {
            Next::Event(name, data) if name == "message" => {
                let message: Value = serde_json::from_str(&data).unwrap();
                check_delivered(&message, topic);
                let n = number(&message);
                assert!(n < BURST, "a value that was never sent: {message}");
                times_seen[n] += 1;
                if times_seen[n] == 1 {
                    distinct += 1;
                } else {
                    duplicates.push(message.clone());
                }
                to_ack.send(text(&message, "receipt")).unwrap();
            }
            Next::Event(name, data) => {
                assert!(name == "comment", "unexpected event {name}: {data}");
            }
            other => {
                if acker.is_finished() {
                    // A failed ack stops the acks, and so the stream: show that failure.
                    acker.await.unwrap();
                }
                let missing: Vec<usize> =
                    (0..BURST).filter(|&n| times_seen[n] == 0).take(20).collect();
                panic!(
                    "{other:?} with {distinct} of {BURST} messages received after {:?}; \
                     first missing: {missing:?}; duplicates: {duplicates:?}",
                    started.elapsed()
                );
            }
        }
    }
    let received = started.elapsed();
    publisher.await.unwrap();
    drop(to_ack);
    let acked = acker.await.unwrap();
    let settled = started.elapsed();

    // Two heartbeats after the last ack, quiet: nothing more is coming.
    let mut heartbeats = 0;
    let quiet_deadline = Instant::now() + Duration::from_secs(30);
    while heartbeats < 2 {
        match sse.next(quiet_deadline).await {
            Next::Event(name, _) if name == "comment" => heartbeats += 1,
            Next::Event(_, data) => duplicates.push(serde_json::from_str(&data).unwrap()),
            other => panic!("{other:?} while waiting for heartbeats after the burst"),
        }
    }
    assert!(duplicates.is_empty(), "{} duplicates, e.g. {:?}", duplicates.len(), &duplicates[..1]);
    assert_eq!(acked, BURST, "every delivery acked once");
    let left = consume(&api, topic, group, "checker", 1000, 0).await;
    assert!(left.is_empty(), "left undelivered or unsettled: {left:?}");
    eprintln!("burst of {BURST}: all received after {received:?}, all acked after {settled:?}");
}

/// The ack timeout of the group whose client disconnects.
const DROP_ACK_TIMEOUT_MS: u64 = 1_000;
/// Messages published before the client disconnects, and its `maxInFlight`.
const DROP_BEFORE: usize = 12;
const DROP_IN_FLIGHT: usize = 5;
/// Messages published after the second client got everything.
const DROP_AFTER: usize = 6;

/// Reads messages from `sse` until `count` distinct values arrived (within 30 s), acking each at
/// once; returns them by value.
async fn receive_acking(
    api: &Api,
    sse: &mut Sse,
    topic: &str,
    group: &str,
    count: usize,
) -> BTreeMap<usize, Value> {
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < count {
        match sse.next(deadline).await {
            Next::Event(name, data) if name == "message" => {
                let message: Value = serde_json::from_str(&data).unwrap();
                check_delivered(&message, topic);
                let counted = ack(api, topic, group, &[text(&message, "receipt")]).await;
                assert_eq!(counted, 1, "a fresh receipt: {message}");
                let earlier = got.insert(number(&message), message);
                assert!(earlier.is_none(), "delivered twice: {earlier:?}");
            }
            Next::Event(..) => {}
            other => panic!("{other:?} with {} of {count} received: {got:?}", got.len()),
        }
    }
    got
}

pub async fn stream_client_that_disconnects_gets_its_unacked_messages_redelivered(
    server: TestServer,
) {
    let api = server.api();
    let (topic, group) = ("dropped", "g");
    create_topic(&api, topic, 2).await;
    create_group(&api, topic, group, json!({"ackTimeoutMs": DROP_ACK_TIMEOUT_MS})).await;
    publish_numbers(&api, topic, 0..DROP_BEFORE, DROP_BEFORE).await;

    // The first client takes its maxInFlight and goes away without acking. Its heartbeat is
    // the default 15 s: the server must notice the disconnect without writing to the socket.
    let mut first =
        Sse::open(&api, topic, group, "s1", &format!("&maxInFlight={DROP_IN_FLIGHT}")).await;
    let events =
        read_events(&mut first, Duration::from_secs(10), |e| messages(e).len() >= DROP_IN_FLIGHT)
            .await;
    let taken = messages(&events);
    assert_eq!(taken.len(), DROP_IN_FLIGHT, "{events:?}");
    assert!(taken.iter().all(|m| int(m, "deliveryCount") == 1), "{taken:?}");
    drop(first);

    // A second client gets everything: what the first never received at once, what it held
    // after the ack timeout, as the same messages delivered a second time.
    let mut second = Sse::open(&api, topic, group, "s2", "&maxInFlight=100&heartbeatMs=500").await;
    let got = receive_acking(&api, &mut second, topic, group, DROP_BEFORE).await;
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), (0..DROP_BEFORE).collect::<Vec<_>>());
    for message in &taken {
        let again = &got[&number(message)];
        assert_eq!(text(again, "messageId"), text(message, "messageId"), "{again}");
        assert_eq!(int(again, "deliveryCount"), 2, "redelivered once: {again}");
    }
    let held: Vec<usize> = taken.iter().map(number).collect();
    for (n, message) in got.iter().filter(|(n, _)| !held.contains(n)) {
        assert_eq!(int(message, "deliveryCount"), 1, "message {n} was never delivered: {message}");
    }

    // The first client's receipts are stale now: they settle nothing.
    let stale: Vec<String> = taken.iter().map(|m| text(m, "receipt")).collect();
    assert_eq!(ack(&api, topic, group, &stale).await, 0, "stale receipts of the gone client");

    // Messages published later go to the live client, once each: the stream of the gone one
    // must not take them (it would hold them for an ack timeout and count a failed attempt).
    for n in DROP_BEFORE..DROP_BEFORE + DROP_AFTER {
        publish_numbers(&api, topic, n..n + 1, 1).await;
    }
    let late = receive_acking(&api, &mut second, topic, group, DROP_AFTER).await;
    for (n, message) in &late {
        assert!((DROP_BEFORE..DROP_BEFORE + DROP_AFTER).contains(n), "{message}");
        assert_eq!(int(message, "deliveryCount"), 1, "a gone client took message {n}: {message}");
    }

    // A client that comes back under the same consumerId gets what it held, once the ack
    // timeout ran out: deliveries past it stop counting against its maxInFlight.
    drop(second);
    let n = DROP_BEFORE + DROP_AFTER;
    publish_numbers(&api, topic, n..n + 2, 2).await;
    let mut third = Sse::open(&api, topic, group, "s3", "&maxInFlight=2").await;
    let events = read_events(&mut third, Duration::from_secs(10), |e| messages(e).len() >= 2).await;
    let held = messages(&events);
    assert_eq!(held.len(), 2, "{events:?}");
    drop(third);
    let mut back = Sse::open(&api, topic, group, "s3", "&maxInFlight=2").await;
    let again = receive_acking(&api, &mut back, topic, group, 2).await;
    for message in &held {
        let again = &again[&number(message)];
        assert_eq!(text(again, "messageId"), text(message, "messageId"), "{again}");
        assert_eq!(int(again, "deliveryCount"), 2, "redelivered once: {again}");
    }
    let left = consume(&api, topic, group, "checker", 100, 0).await;
    assert!(left.is_empty(), "left undelivered or unsettled: {left:?}");
}
