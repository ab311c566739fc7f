//! Delayed messages through the API: the answers of scheduled sends, the listing with its
//! cursor, cancelling and rescheduling, a scheduled message firing into a long poll, and the
//! errors of all of them.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::harness::{api, api_with, broker};
use crate::table::{row, Row};

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap().with_timezone(&Utc)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[actix_web::test]
async fn scheduled_sends_answer_with_status_and_deliver_at() {
    let api = api().await;
    api.topic("d", 2).await;
    api.group("d", "g").await;

    let before = Utc::now();
    let body = json!({"topicName": "d", "key": "k", "value": 1, "messageType": "delay", "delaySeconds": 90.5});
    let reply = api.post("/api/v1/mq/messages", &body).await.ok();
    let sent = reply.data();
    assert_eq!(keys(sent), ["deliverAt", "messageId", "partition", "status", "topicName"]);
    assert!(sent["messageId"].as_str().unwrap().starts_with("msg_"), "{}", reply.text);
    assert_eq!(sent["topicName"], "d");
    assert_eq!(sent["status"], "scheduled");
    let due = time(&sent["deliverAt"]).timestamp_millis();
    let expected = before.timestamp_millis() + 90_500;
    assert!((expected..expected + 5_000).contains(&due), "{due} vs {expected}");

    let at = Utc::now() + chrono::Duration::hours(2);
    let body =
        json!({"topicName": "d", "value": 2, "messageType": "delay", "deliverAt": rfc3339(at)});
    let sent = api.post("/api/v1/mq/messages", &body).await.ok();
    assert_eq!(sent.data()["status"], "scheduled");
    assert_eq!(time(&sent.data()["deliverAt"]).timestamp_millis(), at.timestamp_millis());
    // A time with another offset than UTC's is the same instant.
    let local = at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    let body = json!({"topicName": "d", "value": 3, "messageType": "delay", "deliverAt": local.to_rfc3339()});
    let sent = api.post("/api/v1/mq/messages", &body).await.ok();
    assert_eq!(time(&sent.data()["deliverAt"]).timestamp_millis(), at.timestamp_millis());

    // Immediate messages say where they landed, and that they did.
    let normal = api.post("/api/v1/mq/messages", &json!({"topicName": "d", "value": 4})).await.ok();
    assert_eq!(
        keys(normal.data()),
        ["messageId", "offset", "partition", "status", "timestamp", "topicName"]
    );
    assert_eq!(normal.data()["status"], "appended");
    assert_eq!(normal.data()["offset"], 0);

    // Nothing scheduled is visible to the group yet.
    let got = api.consume("d", "g", "c", 10).await;
    let messages = got.data()["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{}", got.text);
    assert_eq!(messages[0]["value"], 4);
}

#[actix_web::test]
async fn batches_mix_immediate_and_scheduled_messages() {
    let api = api().await;
    api.topic("b", 3).await;
    api.group("b", "g").await;
    let at = rfc3339(Utc::now() + chrono::Duration::minutes(9));
    let messages = json!([
        {"key": "a", "value": 0},
        {"key": "a", "value": 1, "messageType": "delay", "delaySeconds": 600},
        {"key": "b", "value": 2, "messageType": "normal", "delaySeconds": 0},
        {"key": "b", "value": 3, "messageType": "delay", "deliverAt": at},
    ]);
    let reply = api
        .post("/api/v1/mq/messages/batch", &json!({"topicName": "b", "messages": messages}))
        .await
        .ok();
    let results = reply.data()["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{}", reply.text);
    for i in [0, 2] {
        assert_eq!(keys(&results[i]), ["messageId", "offset", "partition", "status", "timestamp"]);
        assert_eq!(results[i]["status"], "appended");
    }
    for i in [1, 3] {
        assert_eq!(keys(&results[i]), ["deliverAt", "messageId", "partition", "status"]);
        assert_eq!(results[i]["status"], "scheduled");
    }
    assert_eq!(results[1]["partition"], results[0]["partition"], "same key, same partition");
    assert_eq!(rfc3339(time(&results[3]["deliverAt"])), at);

    let got = api.consume("b", "g", "c", 10).await;
    let values: BTreeSet<i64> = got.data()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_i64().unwrap())
        .collect();
    assert_eq!(values, BTreeSet::from([0, 2]));

    let listed = api.get("/api/v1/mq/topics/b/scheduled").await.ok();
    let items = listed.data()["items"].as_array().unwrap();
    let ids: Vec<&Value> = items.iter().map(|i| &i["messageId"]).collect();
    assert_eq!(
        ids,
        [&results[3]["messageId"], &results[1]["messageId"]],
        "earliest first: {}",
        listed.text
    );
}

#[actix_web::test]
async fn listing_pages_with_a_cursor_earliest_first() {
    let api = api().await;
    api.topic("l", 3).await;
    let messages: Vec<Value> = (0..25)
        .map(|i| {
            json!({"key": format!("k{i}"), "value": i, "messageType": "delay", "delaySeconds": 1000 + i})
        })
        .collect();
    let sent = api
        .post("/api/v1/mq/messages/batch", &json!({"topicName": "l", "messages": messages}))
        .await
        .ok();
    let sent_ids: Vec<Value> =
        sent.data()["results"].as_array().unwrap().iter().map(|r| r["messageId"].clone()).collect();

    let mut seen = Vec::new();
    let mut path = "/api/v1/mq/topics/l/scheduled?limit=10".to_owned();
    let mut pages = 0;
    loop {
        let reply = api.get(&path).await.ok();
        pages += 1;
        let data = reply.data();
        assert_eq!(keys(data), ["items", "nextCursor"], "{}", reply.text);
        for item in data["items"].as_array().unwrap() {
            assert_eq!(keys(item), ["deliverAt", "key", "messageId", "partition"]);
            seen.push(item.clone());
        }
        match data["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/mq/topics/l/scheduled?limit=10&after={cursor}"),
            None => break,
        }
        assert!(pages < 10, "the cursor should end: {}", reply.text);
    }
    assert_eq!(pages, 3);
    let ids: Vec<Value> = seen.iter().map(|i| i["messageId"].clone()).collect();
    assert_eq!(ids, sent_ids, "in due order, which is the order sent here, each once");
    let times: Vec<DateTime<Utc>> = seen.iter().map(|i| time(&i["deliverAt"])).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "earliest first");
    assert_eq!(seen[7]["key"], "k7");

    // The default limit (100) takes them all in one page.
    let all = api.get("/api/v1/mq/topics/l/scheduled").await.ok();
    assert_eq!(all.data()["items"].as_array().unwrap().len(), 25);
    assert_eq!(all.data()["nextCursor"], Value::Null);
}

#[actix_web::test]
async fn cancel_and_reschedule_a_scheduled_message() {
    let api = api().await;
    api.topic("c", 2).await;
    let send = |delay: f64| json!({"topicName": "c", "key": "order-1", "value": "timeout", "messageType": "delay", "delaySeconds": delay});
    let first = api.post("/api/v1/mq/messages", &send(600.0)).await.ok();
    let id = first.data()["messageId"].as_str().unwrap().to_owned();

    // Later, then earlier, by delay and by time.
    let later = rfc3339(Utc::now() + chrono::Duration::hours(3));
    let path = format!("/api/v1/mq/messages/{id}/schedule");
    let moved = api.put(&path, &json!({"deliverAt": later})).await.ok();
    let data = moved.data();
    assert_eq!(keys(data), ["deliverAt", "messageId", "partition", "status", "topicName"]);
    assert_eq!((&data["messageId"], &data["topicName"]), (&json!(id), &json!("c")));
    assert_eq!(data["partition"], first.data()["partition"]);
    assert_eq!(data["status"], "scheduled");
    assert_eq!(rfc3339(time(&data["deliverAt"])), later);
    let moved = api.put(&path, &json!({"delaySeconds": 30})).await.ok();
    let due = time(&moved.data()["deliverAt"]);
    assert!(due < Utc::now() + chrono::Duration::seconds(31), "{due}");
    let listed = api.get("/api/v1/mq/topics/c/scheduled").await.ok();
    assert_eq!(listed.data()["items"][0]["deliverAt"], moved.data()["deliverAt"]);

    // Cancelled once; the second time there is nothing to cancel.
    let cancelled = api.delete(&format!("/api/v1/mq/messages/{id}")).await.ok();
    assert_eq!(cancelled.data(), &json!({"messageId": id, "status": "cancelled"}));
    let again = api.delete(&format!("/api/v1/mq/messages/{id}")).await;
    assert_eq!(again.status, 404, "{}", again.text);
    assert!(again.message().contains(&id), "{}", again.text);
    let gone = api.put(&path, &json!({"delaySeconds": 5})).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
    let listed = api.get("/api/v1/mq/topics/c/scheduled").await.ok();
    assert_eq!(listed.data(), &json!({"items": [], "nextCursor": null}));

    // An appended message is not scheduled: nothing to cancel.
    let normal = api.post("/api/v1/mq/messages", &json!({"topicName": "c", "value": 1})).await.ok();
    let id = normal.data()["messageId"].as_str().unwrap();
    assert_eq!(api.delete(&format!("/api/v1/mq/messages/{id}")).await.status, 404);
}

#[actix_web::test]
async fn a_scheduled_message_fires_into_a_waiting_long_poll() {
    // The scheduler is a background task; the harness's broker runs none unless started.
    let broker = broker();
    broker.start_background();
    let api = api_with(broker, mq_api::ApiConfig::default()).await;
    api.topic("f", 1).await;
    api.group("f", "g").await;
    let body =
        json!({"topicName": "f", "value": "due", "messageType": "delay", "delaySeconds": 0.3});
    let sent = api.post("/api/v1/mq/messages", &body).await.ok();
    let due = time(&sent.data()["deliverAt"]);

    let started = Instant::now();
    let wait = json!({"topicName": "f", "groupId": "g", "consumerId": "c", "maxMessages": 10, "waitMs": 5_000});
    let got = api.post("/api/v1/mq/consume", &wait).await.ok();
    let arrived = Utc::now();
    let messages = got.data()["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{}", got.text);
    assert_eq!(messages[0]["messageId"], sent.data()["messageId"]);
    assert_eq!(messages[0]["messageType"], "delay");
    assert_eq!(messages[0]["offset"], 0, "it got its offset when it fell due");
    assert!(arrived >= due, "delivered at {arrived}, before it was due at {due}");
    assert!(started.elapsed() < Duration::from_secs(4), "the poll was not woken by the firing");
    let listed = api.get("/api/v1/mq/topics/f/scheduled").await.ok();
    assert_eq!(listed.data()["items"], json!([]), "fired messages leave the schedule");
    let id = sent.data()["messageId"].as_str().unwrap();
    assert_eq!(api.delete(&format!("/api/v1/mq/messages/{id}")).await.status, 404, "fired already");
    api.broker.shutdown().await;
}

#[actix_web::test]
async fn delay_errors_have_their_status_and_name_the_field() {
    let api = api().await;
    api.error_fixture().await;
    let delayed = |extra: Value| {
        let mut body = json!({"topicName": "t", "value": 1, "messageType": "delay"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Some(body)
    };
    let past = rfc3339(Utc::now() - chrono::Duration::hours(1));
    let soon = rfc3339(Utc::now() + chrono::Duration::minutes(5));
    let batch = |message: Value| {
        Some(json!({"topicName": "t", "messages": [{"value": 0}, {"value": 0}, message]}))
    };
    let rows: Vec<Row> = vec![
        // Limits, checked by the broker against its config.
        row("POST", "/messages", delayed(json!({"delaySeconds": -1})), 400, &["delaySeconds"]),
        row("POST", "/messages", delayed(json!({"delaySeconds": 0})), 400, &["delaySeconds"]),
        row(
            "POST",
            "/messages",
            delayed(json!({"delaySeconds": 2_592_001})),
            400,
            &["delaySeconds"],
        ),
        row("POST", "/messages", delayed(json!({"delaySeconds": 2_592_000})), 200, &[]),
        row("POST", "/messages", delayed(json!({"deliverAt": past})), 400, &["deliverAt"]),
        row(
            "POST",
            "/messages",
            delayed(json!({"deliverAt": "2999-01-01T00:00:00Z"})),
            400,
            &["deliverAt"],
        ),
        // Combinations, checked by the API.
        row(
            "POST",
            "/messages",
            delayed(json!({"delaySeconds": 5, "deliverAt": soon})),
            400,
            &["delaySeconds", "not both"],
        ),
        row("POST", "/messages", delayed(json!({})), 400, &["delaySeconds or deliverAt"]),
        row(
            "POST",
            "/messages",
            Some(json!({"topicName": "t", "value": 1, "delaySeconds": 5})),
            400,
            &["delaySeconds", "messageType \"delay\""],
        ),
        row(
            "POST",
            "/messages",
            Some(
                json!({"topicName": "t", "value": 1, "messageType": "normal", "delaySeconds": 0.5}),
            ),
            400,
            &["delaySeconds", "messageType \"delay\""],
        ),
        row(
            "POST",
            "/messages",
            Some(json!({"topicName": "t", "value": 1, "messageType": "normal", "deliverAt": soon})),
            400,
            &["deliverAt", "messageType \"delay\""],
        ),
        row(
            "POST",
            "/messages",
            delayed(json!({"deliverAt": "next tuesday"})),
            400,
            &["deliverAt", "RFC 3339"],
        ),
        row(
            "POST",
            "/messages",
            delayed(json!({"deliverAt": 1_700_000_000})),
            400,
            &["at deliverAt", "invalid type"],
        ),
        row(
            "POST",
            "/messages",
            delayed(json!({"delaySeconds": "5"})),
            400,
            &["at delaySeconds", "invalid type"],
        ),
        // Batches name the message.
        row(
            "POST",
            "/messages/batch",
            batch(json!({"value": 1, "delaySeconds": 3})),
            400,
            &["messages[2].delaySeconds", "messageType \"delay\""],
        ),
        row(
            "POST",
            "/messages/batch",
            batch(json!({"value": 1, "messageType": "delay"})),
            400,
            &["messages[2].delaySeconds", "deliverAt"],
        ),
        row(
            "POST",
            "/messages/batch",
            batch(json!({"value": 1, "messageType": "delay", "deliverAt": "soon"})),
            400,
            &["messages[2].deliverAt", "RFC 3339"],
        ),
        row(
            "POST",
            "/messages/batch",
            batch(json!({"value": 1, "messageType": "delay", "delaySeconds": -2})),
            400,
            &["delaySeconds"],
        ),
        row(
            "POST",
            "/messages/batch",
            batch(
                json!({"value": 1, "messageType": "delay", "delaySeconds": 1, "deliverAt": soon}),
            ),
            400,
            &["messages[2].delaySeconds", "not both"],
        ),
        // Listing.
        row("GET", "/topics/nope/scheduled", None, 404, &["\"nope\""]),
        row("GET", "/topics/t/scheduled?limit=0", None, 400, &["invalid limit", "got 0"]),
        row("GET", "/topics/t/scheduled?limit=1001", None, 400, &["invalid limit", "1001"]),
        row("GET", "/topics/t/scheduled?limit=x", None, 400, &["invalid limit", "whole number"]),
        row("GET", "/topics/t/scheduled?after=garbage", None, 400, &["after", "cursor"]),
        row(
            "GET",
            "/topics/t/scheduled?cursor=1",
            None,
            400,
            &["invalid query string", "unknown field `cursor`"],
        ),
        // Cancelling and rescheduling.
        row("DELETE", "/messages/msg_nope", None, 404, &["\"msg_nope\""]),
        row(
            "PUT",
            "/messages/msg_nope/schedule",
            Some(json!({"delaySeconds": 5})),
            404,
            &["\"msg_nope\""],
        ),
        row(
            "PUT",
            "/messages/msg_nope/schedule",
            Some(json!({})),
            400,
            &["delaySeconds or deliverAt"],
        ),
        row(
            "PUT",
            "/messages/msg_nope/schedule",
            Some(json!({"delaySeconds": 5, "deliverAt": soon})),
            400,
            &["not both"],
        ),
        row(
            "PUT",
            "/messages/msg_nope/schedule",
            Some(json!({"delaySeconds": -5})),
            400,
            &["delaySeconds"],
        ),
        row(
            "PUT",
            "/messages/msg_nope/schedule",
            Some(json!({"deliverAt": past})),
            400,
            &["deliverAt"],
        ),
        row(
            "PUT",
            "/messages/msg_nope/schedule",
            Some(json!({"delay": 5})),
            400,
            &["unknown field `delay`"],
        ),
        row("GET", "/messages/msg_nope", None, 405, &["GET is not allowed"]),
        row("DELETE", "/messages/batch", None, 405, &["DELETE is not allowed"]),
        row("POST", "/messages/msg_nope/schedule", Some(json!({})), 405, &["POST"]),
    ];
    api.check(rows).await;
}
