//! Delayed messages through the server (issue 4): invisible until due, then delivered as
//! `messageType: "delay"`; fractional delays, `deliverAt` and mixed batches; the limits; the
//! scheduled listing; cancel and reschedule, also racing the firing; and on Redis + MongoDB a
//! restart with a full schedule and two server processes sharing one schedule.
//!
//! Timing checks lean on what the server records rather than on when the test looks: a
//! delivered message's `timestamp` is when it was appended, which must not be before its
//! `deliverAt`. Waits are generous: CI is a busy two-core machine.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::client::Api;
use crate::server::{TestServer, MAX_DELAY_SECS, PAST_TOLERANCE_MS};
use crate::support::{ack_all, browse, consume, create_group, create_topic, ids, int, text};

/// How late a message may be appended after its `deliverAt` before a test calls it a failure;
/// far above the target (a few 10 ms ticks) so that a loaded CI machine does not fail tests.
const LATE_BOUND_MS: i64 = 5_000;

/// A time field, parsed.
fn time(value: &Value, field: &str) -> DateTime<Utc> {
    let raw = text(value, field);
    DateTime::parse_from_rfc3339(&raw)
        .unwrap_or_else(|e| panic!("`{field}` should be RFC 3339 in {value}: {e}"))
        .with_timezone(&Utc)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `ms` from now, to the millisecond: the precision of due times, so that comparisons with
/// what the server answers are exact.
fn in_ms(ms: i64) -> DateTime<Utc> {
    let now = Utc::now();
    now + chrono::Duration::milliseconds(ms)
        - chrono::Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos() % 1_000_000))
}

/// `POST /messages` with `messageType: "delay"` and the delay fields in `delay`; asserts the
/// answer of a scheduled message and returns it.
async fn send_delayed(
    api: &Api,
    topic: &str,
    key: Option<&str>,
    value: Value,
    delay: Value,
) -> Value {
    let mut body = json!({"topicName": topic, "value": value, "messageType": "delay"});
    crate::support::merge(&mut body, delay);
    if let Some(key) = key {
        body["key"] = json!(key);
    }
    let sent = api.post_ok("/messages", &body).await;
    check_scheduled(&sent);
    assert_eq!(text(&sent, "topicName"), topic, "{sent}");
    sent
}

/// Asserts the shape of a scheduled message's answer: a status, a due time, and no offset yet.
fn check_scheduled(sent: &Value) {
    assert_eq!(sent["status"], "scheduled", "{sent}");
    assert!(!text(sent, "messageId").is_empty(), "{sent}");
    int(sent, "partition");
    time(sent, "deliverAt");
    assert!(sent.get("offset").is_none(), "a scheduled message has no offset yet: {sent}");
}

/// Asserts that a delivered message was delayed and appended no earlier than `due` (and not
/// absurdly late).
fn check_fired(message: &Value, due: DateTime<Utc>) {
    assert_eq!(message["messageType"], "delay", "{message}");
    let appended = time(message, "timestamp");
    assert!(appended >= due, "appended at {appended}, before its deliverAt {due}: {message}");
    let late = (appended - due).num_milliseconds();
    assert!(late < LATE_BOUND_MS, "appended {late} ms after its deliverAt: {message}");
}

/// Consumes (acking) until `count` messages arrived or `within` passed; returns them.
async fn collect(
    api: &Api,
    topic: &str,
    group: &str,
    count: usize,
    within: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < count && Instant::now() < deadline {
        let batch = consume(api, topic, group, "collector", 100, 1_000).await;
        if !batch.is_empty() {
            ack_all(api, topic, group, &batch).await;
        }
        got.extend(batch);
    }
    got
}

/// Consumes (acking) for `period`, returning whatever arrives; for "nothing more comes".
async fn drain_for(api: &Api, topic: &str, group: &str, period: Duration) -> Vec<Value> {
    let deadline = Instant::now() + period;
    let mut got = Vec::new();
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now()).as_millis() as u64;
        let batch = consume(api, topic, group, "drain", 100, left.clamp(1, 1_000)).await;
        if !batch.is_empty() {
            ack_all(api, topic, group, &batch).await;
        }
        got.extend(batch);
    }
    got
}

pub async fn delayed_message_is_invisible_until_due_then_delivered(server: TestServer) {
    let api = server.api();
    create_topic(&api, "later", 2).await;
    create_group(&api, "later", "g", Value::Null).await;

    let before = Utc::now();
    let sent = send_delayed(
        &api,
        "later",
        Some("order-1"),
        json!({"order": 1}),
        json!({"delaySeconds": 1.5}),
    )
    .await;
    let due = time(&sent, "deliverAt");
    let asked = due.timestamp_millis() - before.timestamp_millis();
    assert!((1_500..3_000).contains(&asked), "deliverAt should be ~1.5 s ahead, is {asked} ms");

    // Before it is due nobody sees it: neither a consumer nor a browse of its partition.
    let early = consume(&api, "later", "g", "c", 10, 0).await;
    assert!(early.iter().all(|m| time(m, "timestamp") >= due), "delivered early: {early:?}");
    let partition = int(&sent, "partition") as u32;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let early = consume(&api, "later", "g", "c", 10, 0).await;
    assert!(early.iter().all(|m| time(m, "timestamp") >= due), "delivered early: {early:?}");
    let logged = browse(&api, "later", partition, 0, 10).await;
    assert!(logged.iter().all(|m| time(m, "timestamp") >= due), "in the log early: {logged:?}");

    // A long poll waiting across the due time gets it.
    let got =
        if early.is_empty() { consume(&api, "later", "g", "c", 10, 10_000).await } else { early };
    let arrived = Utc::now();
    assert_eq!(ids(&got), [text(&sent, "messageId")], "{got:?}");
    let message = &got[0];
    check_fired(message, due);
    assert!(arrived >= due, "seen at {arrived}, before its deliverAt {due}");
    assert_eq!(message["value"], json!({"order": 1}));
    assert_eq!(message["key"], "order-1");
    assert_eq!(int(message, "partition"), u64::from(partition));
    assert_eq!(int(message, "offset"), 0, "it got its offset when it fell due");
    ack_all(&api, "later", "g", &got).await;
    let listed = api.get_ok("/topics/later/scheduled").await;
    assert_eq!(listed, json!({"items": [], "nextCursor": null}), "it left the schedule");
}

pub async fn fractional_delays_and_deliver_at_are_honoured(server: TestServer) {
    let api = server.api();
    create_topic(&api, "fractions", 1).await;
    create_group(&api, "fractions", "g", Value::Null).await;

    let quarter =
        send_delayed(&api, "fractions", None, json!("quarter"), json!({"delaySeconds": 0.6})).await;
    let at = in_ms(1_200);
    let timed =
        send_delayed(&api, "fractions", None, json!("timed"), json!({"deliverAt": rfc3339(at)}))
            .await;
    assert_eq!(time(&timed, "deliverAt").timestamp_millis(), at.timestamp_millis(), "{timed}");
    // A time a little in the past (clocks differ) is due at once, so it is appended at once.
    let past = rfc3339(in_ms(-(PAST_TOLERANCE_MS as i64) / 2));
    let body = json!({"topicName": "fractions", "value": "now", "messageType": "delay", "deliverAt": past});
    let now = api.post_ok("/messages", &body).await;
    assert_eq!(now["status"], "appended", "{now}");
    int(&now, "offset");

    let got = collect(&api, "fractions", "g", 3, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let by_value: HashMap<String, &Value> =
        got.iter().map(|m| (m["value"].as_str().unwrap_or_default().to_owned(), m)).collect();
    check_fired(by_value["quarter"], time(&quarter, "deliverAt"));
    check_fired(by_value["timed"], at);
    assert_eq!(by_value["now"]["messageType"], "delay", "{}", by_value["now"]);
    assert!(
        int(by_value["quarter"], "offset") < int(by_value["timed"], "offset"),
        "offsets are given in firing order: {got:?}"
    );
}

pub async fn batch_mixes_normal_and_delayed_messages(server: TestServer) {
    let api = server.api();
    create_topic(&api, "mixed", 3).await;
    create_group(&api, "mixed", "g", Value::Null).await;
    let messages: Vec<Value> = (0..10)
        .map(|i| {
            if i % 2 == 0 {
                json!({"key": format!("k{i}"), "value": i})
            } else {
                let delay = 1.0 + f64::from(i) / 10.0;
                json!({"key": format!("k{i}"), "value": i, "messageType": "delay", "delaySeconds": delay})
            }
        })
        .collect();
    let data =
        api.post_ok("/messages/batch", &json!({"topicName": "mixed", "messages": messages})).await;
    let results = data["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 10, "{data}");
    let mut due = HashMap::new();
    for (i, result) in results.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(result["status"], "appended", "{result}");
            int(result, "offset");
            assert!(result.get("deliverAt").is_none(), "{result}");
        } else {
            check_scheduled(result);
            due.insert(text(result, "messageId"), time(result, "deliverAt"));
        }
    }

    // The normal half is there at once, the delayed half not before it is due.
    let got = collect(&api, "mixed", "g", 10, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 10, "{got:?}");
    let firsts: BTreeSet<i64> =
        got[..5].iter().map(|m| m["value"].as_i64().expect("a number")).collect();
    assert_eq!(firsts, BTreeSet::from([0, 2, 4, 6, 8]), "the normal ones come first: {got:?}");
    for message in &got[5..] {
        check_fired(message, due[&text(message, "messageId")]);
    }
    let mut all: Vec<String> = ids(&got);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 10, "each once");
}

pub async fn delay_limits_are_400_naming_the_field(server: TestServer) {
    let api = server.api();
    create_topic(&api, "limits", 2).await;
    let over = MAX_DELAY_SECS + 1;
    let far_past = rfc3339(in_ms(-3_600_000));
    let far_future = rfc3339(in_ms((MAX_DELAY_SECS as i64 + 60) * 1_000));
    let soon = rfc3339(in_ms(60_000));
    let delayed = |fields: Value| {
        let mut body = json!({"topicName": "limits", "value": 1, "messageType": "delay"});
        crate::support::merge(&mut body, fields);
        body
    };
    let rows: Vec<(Value, &[&str])> = vec![
        (delayed(json!({"delaySeconds": -1})), &["delaySeconds", "more than 0"]),
        (delayed(json!({"delaySeconds": 0})), &["delaySeconds", "more than 0"]),
        (delayed(json!({"delaySeconds": over})), &["delaySeconds", "at most 3600"]),
        (delayed(json!({"deliverAt": far_past})), &["deliverAt", "in the past"]),
        (delayed(json!({"deliverAt": far_future})), &["deliverAt"]),
        (delayed(json!({"deliverAt": "tomorrow"})), &["deliverAt", "RFC 3339"]),
        (delayed(json!({"delaySeconds": 5, "deliverAt": soon})), &["not both"]),
        (delayed(json!({})), &["delaySeconds or deliverAt"]),
        (
            json!({"topicName": "limits", "value": 1, "messageType": "normal", "delaySeconds": 5}),
            &["delaySeconds", "messageType \"delay\""],
        ),
        (
            json!({"topicName": "limits", "value": 1, "delaySeconds": 0.5}),
            &["delaySeconds", "messageType \"delay\""],
        ),
        (
            json!({"topicName": "limits", "value": 1, "deliverAt": soon}),
            &["deliverAt", "messageType \"delay\""],
        ),
    ];
    for (body, words) in rows {
        let (status, reply) = api.post("/messages", &body).await;
        assert_eq!(status, 400, "{body} -> {reply}");
        let message = reply["message"].as_str().unwrap_or_default();
        for word in words {
            assert!(message.contains(word), "{body}: {message:?} lacks {word:?}");
        }
    }
    // At the maximum exactly is fine.
    send_delayed(&api, "limits", None, json!(1), json!({"delaySeconds": MAX_DELAY_SECS})).await;

    // One bad message fails its batch, which then stores nothing, scheduled or not.
    let batch = json!({"topicName": "limits", "messages": [
        {"value": "normal"},
        {"value": "ok", "messageType": "delay", "delaySeconds": 5},
        {"value": "bad", "messageType": "delay", "delaySeconds": -5},
    ]});
    let (status, reply) = api.post("/messages/batch", &batch).await;
    assert_eq!(status, 400, "{reply}");
    assert!(browse(&api, "limits", 0, 0, 10).await.is_empty());
    assert!(browse(&api, "limits", 1, 0, 10).await.is_empty());
    let listed = api.get_ok("/topics/limits/scheduled").await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "only the one at the maximum");
}

pub async fn scheduled_messages_are_listed_page_by_page(server: TestServer) {
    let api = server.api();
    create_topic(&api, "listed", 3).await;
    let messages: Vec<Value> = (0..25)
        .map(|i| json!({"key": format!("k{i}"), "value": i, "messageType": "delay", "delaySeconds": 600 + i}))
        .collect();
    let data =
        api.post_ok("/messages/batch", &json!({"topicName": "listed", "messages": messages})).await;
    let sent: Vec<Value> = data["results"].as_array().expect("results").clone();

    let mut seen = Vec::new();
    let mut after = String::new();
    for page in 1.. {
        assert!(page <= 3, "three pages of 10, 10 and 5");
        let data = api.get_ok(&format!("/topics/listed/scheduled?limit=10&after={after}")).await;
        let items = data["items"].as_array().expect("items");
        assert_eq!(items.len(), if page < 3 { 10 } else { 5 }, "page {page}: {data}");
        seen.extend(items.iter().cloned());
        match data["nextCursor"].as_str() {
            Some(cursor) => after = cursor.to_owned(),
            None => break,
        }
    }
    assert_eq!(ids(&seen), ids(&sent), "earliest first, each once");
    for (item, result) in seen.iter().zip(&sent) {
        assert_eq!(item["partition"], result["partition"], "{item}");
        assert_eq!(item["deliverAt"], result["deliverAt"], "{item}");
    }
    assert_eq!(seen[3]["key"], "k3");

    // One partition holding more than a page: the page is full and says there is more.
    create_topic(&api, "single", 1).await;
    let messages: Vec<Value> =
        (0..3).map(|i| json!({"value": i, "messageType": "delay", "delaySeconds": 600})).collect();
    api.post_ok("/messages/batch", &json!({"topicName": "single", "messages": messages})).await;
    let first = api.get_ok("/topics/single/scheduled?limit=2").await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2), "{first}");
    let cursor = first["nextCursor"].as_str().expect("a cursor: one more is left").to_owned();
    let rest = api.get_ok(&format!("/topics/single/scheduled?limit=2&after={cursor}")).await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1), "{rest}");
    assert!(rest["nextCursor"].is_null(), "{rest}");
    let exact = api.get_ok("/topics/single/scheduled?limit=3").await;
    assert!(exact["nextCursor"].is_null(), "a page that holds them all has no cursor: {exact}");

    for (path, status) in [
        ("/topics/listed/scheduled?limit=0", 400),
        ("/topics/listed/scheduled?limit=1001", 400),
        ("/topics/listed/scheduled?after=not-a-cursor", 400),
        ("/topics/nope/scheduled", 404),
    ] {
        let (got, reply) = api.get(path).await;
        assert_eq!(got, status, "{path}: {reply}");
    }
}

pub async fn cancelled_message_is_never_delivered(server: TestServer) {
    let api = server.api();
    create_topic(&api, "orders", 2).await;
    create_group(&api, "orders", "g", Value::Null).await;
    // The seed's use case: an order-timeout message, cancelled when the order is paid.
    let timeout = send_delayed(
        &api,
        "orders",
        Some("order-7"),
        json!({"timeout": 7}),
        json!({"delaySeconds": 1.5}),
    )
    .await;
    let control = send_delayed(
        &api,
        "orders",
        Some("order-8"),
        json!({"timeout": 8}),
        json!({"delaySeconds": 1.5}),
    )
    .await;
    let id = text(&timeout, "messageId");

    let cancelled = api.delete_ok(&format!("/messages/{id}")).await;
    assert_eq!(cancelled, json!({"messageId": id, "status": "cancelled"}));
    let (status, reply) = api.delete(&format!("/messages/{id}")).await;
    assert_eq!(status, 404, "a second cancel finds nothing: {reply}");
    let (status, reply) =
        api.put(&format!("/messages/{id}/schedule"), &json!({"delaySeconds": 1})).await;
    assert_eq!(status, 404, "nor can it be rescheduled: {reply}");
    let listed = api.get_ok("/topics/orders/scheduled").await;
    assert_eq!(ids(listed["items"].as_array().expect("items")), [text(&control, "messageId")]);

    // The control message arrives; the cancelled one never does.
    let got = collect(&api, "orders", "g", 1, Duration::from_secs(15)).await;
    assert_eq!(ids(&got), [text(&control, "messageId")], "{got:?}");
    let more = drain_for(&api, "orders", "g", Duration::from_millis(1_500)).await;
    assert!(more.is_empty(), "the cancelled message was delivered: {more:?}");
    let (status, _) = api.delete(&format!("/messages/{}", text(&control, "messageId"))).await;
    assert_eq!(status, 404, "a fired message cannot be cancelled");
    let (status, _) = api.delete("/messages/msg_never_existed").await;
    assert_eq!(status, 404);
}

pub async fn rescheduled_messages_move_later_or_earlier(server: TestServer) {
    let api = server.api();
    create_topic(&api, "moves", 2).await;
    create_group(&api, "moves", "g", Value::Null).await;
    let a = send_delayed(&api, "moves", Some("a"), json!("a"), json!({"delaySeconds": 600})).await;
    let b = send_delayed(&api, "moves", Some("b"), json!("b"), json!({"delaySeconds": 1})).await;
    let (a_id, b_id) = (text(&a, "messageId"), text(&b, "messageId"));

    // A from ten minutes to one second; B from one second to three.
    let earlier =
        api.put_ok(&format!("/messages/{a_id}/schedule"), &json!({"delaySeconds": 1})).await;
    assert_eq!(earlier["messageId"], a["messageId"], "{earlier}");
    assert_eq!(earlier["topicName"], "moves");
    assert_eq!(earlier["partition"], a["partition"]);
    assert_eq!(earlier["status"], "scheduled");
    let a_due = time(&earlier, "deliverAt");
    let b_at = in_ms(3_000);
    let later = api
        .put_ok(&format!("/messages/{b_id}/schedule"), &json!({"deliverAt": rfc3339(b_at)}))
        .await;
    assert_eq!(time(&later, "deliverAt").timestamp_millis(), b_at.timestamp_millis(), "{later}");
    let listed = api.get_ok("/topics/moves/scheduled").await;
    assert_eq!(ids(listed["items"].as_array().expect("items")), [a_id.clone(), b_id.clone()]);

    let got = collect(&api, "moves", "g", 2, Duration::from_secs(20)).await;
    assert_eq!(ids(&got), [a_id.clone(), b_id.clone()], "{got:?}");
    check_fired(&got[0], a_due);
    // Not at its old time, one second after sending: at its new one.
    check_fired(&got[1], b_at);

    let (status, reply) =
        api.put(&format!("/messages/{a_id}/schedule"), &json!({"delaySeconds": 5})).await;
    assert_eq!(status, 404, "a fired message cannot be rescheduled: {reply}");
    let (status, reply) = api
        .put(
            &format!("/messages/{a_id}/schedule"),
            &json!({"delaySeconds": 5, "deliverAt": rfc3339(b_at)}),
        )
        .await;
    assert_eq!(status, 400, "{reply}");
}

pub async fn cancel_racing_the_firing_is_either_or(server: TestServer) {
    const COUNT: usize = 300;
    let api = server.api();
    create_topic(&api, "race", 4).await;
    create_group(&api, "race", "g", Value::Null).await;
    // Due over 300 ms, starting a second from now; the cancels go out in the middle of that.
    let start = in_ms(1_000);
    let messages: Vec<Value> = (0..COUNT)
        .map(|i| {
            let at = start + chrono::Duration::milliseconds(i as i64);
            json!({"value": i, "messageType": "delay", "deliverAt": rfc3339(at)})
        })
        .collect();
    let data =
        api.post_ok("/messages/batch", &json!({"topicName": "race", "messages": messages})).await;
    let sent = ids(data["results"].as_array().expect("results"));
    let wait = (start - Utc::now()).num_milliseconds() + 150;
    tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;

    let mut cancels = JoinSet::new();
    for id in sent.clone() {
        let api = api.clone();
        cancels.spawn(async move {
            let (status, reply) = api.delete(&format!("/messages/{id}")).await;
            assert!(status == 200 || status == 404, "cancel {id}: {status} {reply}");
            (id, status == 200)
        });
    }
    let mut cancelled = BTreeSet::new();
    while let Some(joined) = cancels.join_next().await {
        let (id, done) = joined.expect("a cancel task panicked");
        if done {
            cancelled.insert(id);
        }
    }

    let expected = COUNT - cancelled.len();
    let mut delivered = collect(&api, "race", "g", expected, Duration::from_secs(30)).await;
    delivered.extend(drain_for(&api, "race", "g", Duration::from_millis(1_500)).await);
    let delivered_ids = ids(&delivered);
    let unique: BTreeSet<String> = delivered_ids.iter().cloned().collect();
    eprintln!("cancel race: {} cancelled, {} delivered of {COUNT}", cancelled.len(), unique.len());
    assert_eq!(unique.len(), delivered_ids.len(), "a message was delivered twice");
    let both: Vec<&String> = unique.intersection(&cancelled).collect();
    assert!(both.is_empty(), "cancelled (200) and delivered too: {both:?}");
    let neither: Vec<&String> =
        sent.iter().filter(|id| !unique.contains(*id) && !cancelled.contains(*id)).collect();
    assert!(neither.is_empty(), "neither cancelled nor delivered: {neither:?}");
}

pub async fn restart_with_a_full_schedule_loses_nothing(server: TestServer) {
    const COUNT: usize = 2_000;
    let mut server = server;
    let api = server.api();
    create_topic(&api, "durable", 4).await;
    create_group(&api, "durable", "g", Value::Null).await;
    let mut due = HashMap::new();
    for chunk in 0..2 {
        let messages: Vec<Value> = (0..COUNT / 2)
            .map(|i| {
                let n = chunk * COUNT / 2 + i;
                let delay = 2.0 + (n as f64) / (COUNT as f64) * 2.0;
                json!({"key": format!("k{n}"), "value": n, "messageType": "delay", "delaySeconds": delay})
            })
            .collect();
        let data = api
            .post_ok("/messages/batch", &json!({"topicName": "durable", "messages": messages}))
            .await;
        for result in data["results"].as_array().expect("results") {
            check_scheduled(result);
            due.insert(text(result, "messageId"), time(result, "deliverAt"));
        }
    }
    assert_eq!(due.len(), COUNT);

    server.restart().await;
    let api = server.api();
    let got = collect(&api, "durable", "g", COUNT, Duration::from_secs(60)).await;
    let more = drain_for(&api, "durable", "g", Duration::from_secs(2)).await;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for message in got.iter().chain(&more) {
        assert_eq!(message["messageType"], "delay", "{message}");
        *seen.entry(text(message, "messageId")).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let missing: Vec<_> = due.keys().filter(|id| !seen.contains_key(*id)).take(10).collect();
    assert!(
        missing.is_empty(),
        "{} of {COUNT} lost across the restart, e.g. {missing:?}",
        COUNT - seen.len()
    );
    assert_eq!(seen.len(), COUNT);
    for message in &got {
        let appended = time(message, "timestamp");
        let id = text(message, "messageId");
        assert!(appended >= due[&id], "appended at {appended} before its deliverAt: {message}");
    }
}

pub async fn two_servers_deliver_each_delayed_message_once(server: TestServer) {
    const COUNT: usize = 20_000;
    const CHUNK: usize = 1_000;
    let other = TestServer::start_sharing(&server).await;
    let apis = [server.api(), other.api()];
    create_topic(&apis[0], "shared", 4).await;
    create_group(&apis[0], "shared", "g", Value::Null).await;

    // Published through both servers, due 3 to 6 s after each batch is sent.
    let started = Instant::now();
    let mut publishers = JoinSet::new();
    for (n, api) in apis.iter().enumerate() {
        let api = api.clone();
        publishers.spawn(async move {
            let mut due = HashMap::new();
            for chunk in (n..COUNT / CHUNK).step_by(2) {
                let messages: Vec<Value> = (0..CHUNK)
                    .map(|i| {
                        let delay = 3.0 + (i as f64) * 3.0 / (CHUNK as f64);
                        json!({"value": chunk * CHUNK + i, "messageType": "delay", "delaySeconds": delay})
                    })
                    .collect();
                let body = json!({"topicName": "shared", "messages": messages});
                let data = api.post_ok("/messages/batch", &body).await;
                for result in data["results"].as_array().expect("results") {
                    due.insert(text(result, "messageId"), time(result, "deliverAt"));
                }
            }
            due
        });
    }
    let mut due: HashMap<String, DateTime<Utc>> = HashMap::new();
    while let Some(joined) = publishers.join_next().await {
        due.extend(joined.expect("a publisher panicked"));
    }
    assert_eq!(due.len(), COUNT, "distinct ids published");
    eprintln!("two servers: published {COUNT} delayed messages in {:?}", started.elapsed());

    // Two consumers on each server, in one shared group, until all arrived or time is up.
    let seen: Arc<Mutex<HashMap<String, (u32, Value)>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut consumers = JoinSet::new();
    for (n, api) in apis.iter().enumerate() {
        for c in 0..2 {
            let (api, seen) = (api.clone(), seen.clone());
            let consumer = format!("server{n}-consumer{c}");
            consumers.spawn(async move {
                // Until every message arrived, plus a while longer to catch duplicates.
                let mut quiet_until: Option<Instant> = None;
                while Instant::now() < deadline && quiet_until.is_none_or(|t| Instant::now() < t) {
                    let batch = consume(&api, "shared", "g", &consumer, 500, 1_000).await;
                    if !batch.is_empty() {
                        ack_all(&api, "shared", "g", &batch).await;
                    }
                    let mut seen = seen.lock().expect("the seen map");
                    for message in batch {
                        let entry = seen.entry(text(&message, "messageId")).or_insert((0, message));
                        entry.0 += 1;
                    }
                    if quiet_until.is_none() && seen.len() >= COUNT {
                        quiet_until = Some(Instant::now() + Duration::from_secs(2));
                    }
                }
            });
        }
    }
    while let Some(joined) = consumers.join_next().await {
        joined.expect("a consumer panicked");
    }
    let seen = Arc::try_unwrap(seen).expect("consumers are done").into_inner().expect("seen");
    let twice: Vec<_> =
        seen.iter().filter(|(_, (n, _))| *n > 1).map(|(id, _)| id).take(10).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let missing = due.keys().filter(|id| !seen.contains_key(*id)).count();
    assert_eq!(missing, 0, "{missing} of {COUNT} never delivered within 120 s");
    assert_eq!(seen.len(), COUNT);

    let mut partitions = BTreeMap::<u64, usize>::new();
    let mut late: Vec<i64> = Vec::with_capacity(COUNT);
    for (id, (_, message)) in &seen {
        assert_eq!(message["messageType"], "delay", "{message}");
        *partitions.entry(int(message, "partition")).or_default() += 1;
        let lateness = (time(message, "timestamp") - due[id]).num_milliseconds();
        assert!(lateness >= 0, "appended before its deliverAt: {message}");
        late.push(lateness);
    }
    assert_eq!(partitions.len(), 4, "spread over the 4 partitions: {partitions:?}");
    late.sort_unstable();
    eprintln!(
        "two servers: {COUNT} delivered once each in {:?}; append lateness p50 {} ms, p99 {} ms, \
         max {} ms; per partition {partitions:?}",
        started.elapsed(),
        late[late.len() / 2],
        late[late.len() * 99 / 100],
        late[late.len() - 1],
    );
    drop(other);
}
