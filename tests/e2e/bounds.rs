//! Bounds on every part of a message (issue 25): the key, the headers, the whole message
//! against the topic's `maxMessageSize` and the nesting of its value are each refused with a
//! 400 or 413 naming the field, and the largest and deepest message accepted can be consumed
//! by mq-client, browsed, dead-lettered and retried.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mq_client::{Client, Consume, DeadLetterFilter, Delivery, Nack, RetrySelection};
use serde_json::{json, Value};

use crate::server::TestServer;
use crate::support::{browse, create_group};

/// The topic's `maxMessageSize`: under the test server's body limit with room for the JSON.
const MAX_SIZE: usize = 200_000;

/// `n` arrays nested in each other around `1`.
fn nested(n: usize) -> Value {
    (0..n).fold(json!(1), |inner, _| json!([inner]))
}

async fn refused(server: &TestServer, path: &str, body: Value, status: u16, field: &str) {
    let (got, reply) = server.api().post(path, &body).await;
    assert_eq!(got, status, "{field}: {reply}");
    let message = reply["message"].as_str().unwrap_or_default();
    assert!(message.contains(field), "the refusal should name {field}: {reply}");
}

async fn consume_until(mq: &Client, topic: &str, n: usize) -> Vec<Delivery> {
    let started = Instant::now();
    let mut got = Vec::new();
    while got.len() < n && started.elapsed() < Duration::from_secs(10) {
        let request =
            Consume::new(topic, "g", "c").max_messages(10).wait(Duration::from_millis(300));
        got.extend(mq.consume(&request).await.unwrap());
    }
    assert_eq!(got.len(), n, "deliveries of {topic}: {got:?}");
    got
}

pub async fn every_part_of_a_message_is_bounded_and_the_largest_reads_back(server: TestServer) {
    let api = server.api();
    let topic = "bounded";
    api.post_ok("/topics", &json!({"name": topic, "partitions": 1, "maxMessageSize": MAX_SIZE}))
        .await;
    create_group(&api, topic, "g", json!({"retryPolicy": {"maxRetries": 0}})).await;

    // Each part on its own, in a single publish and in a batch.
    let many: BTreeMap<String, String> = (0..65).map(|i| (format!("h{i}"), "v".into())).collect();
    let deep = nested(65);
    let parts = [
        ("key", json!({"value": 1, "key": "k".repeat(1025)})),
        ("headers", json!({"value": 1, "headers": many})),
        ("headers", json!({"value": 1, "headers": {"n".repeat(257): "v"}})),
        ("headers", json!({"value": 1, "headers": {"trace": "v".repeat(8193)}})),
        ("value", json!({"value": deep})),
    ];
    for (field, message) in &parts {
        let mut single = message.clone();
        single["topicName"] = json!(topic);
        refused(&server, "/messages", single, 400, field).await;
        let batch = json!({"topicName": topic, "messages": [{"value": 0}, message]});
        refused(&server, "/messages/batch", batch, 400, &format!("messages[1].{field}")).await;
    }
    // The whole message: a small value cannot carry the rest of a large one in its headers.
    let heavy: BTreeMap<String, String> =
        (0..30).map(|i| (format!("h{i}"), "x".repeat(8192))).collect();
    let over = json!({"value": 1, "headers": heavy});
    let mut single = over.clone();
    single["topicName"] = json!(topic);
    refused(&server, "/messages", single, 413, "headers").await;
    let batch = json!({"topicName": topic, "messages": [over]});
    refused(&server, "/messages/batch", batch, 413, "messages[0].headers").await;
    assert!(browse(&api, topic, 0, 0, 10).await.is_empty(), "nothing refused was stored");

    // The largest message the topic takes, exactly maxMessageSize bytes of value, key and
    // headers, and the deepest value.
    let key = "k".repeat(1024);
    let headers: BTreeMap<String, String> =
        (0..16).map(|i| (format!("{i:0>256}"), "v".repeat(8192))).collect();
    let header_bytes: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    let text_len = MAX_SIZE - key.len() - header_bytes - 2; // The value's JSON text has quotes.
    let largest = json!("x".repeat(text_len));
    let body = json!({"topicName": topic, "key": key, "headers": headers, "value": largest});
    api.post_ok("/messages", &body).await;
    let deepest = nested(64);
    api.post_ok("/messages", &json!({"topicName": topic, "value": deepest})).await;

    // Read back by mqctl (another group, so the deliveries below are unaffected)...
    create_group(&api, topic, "cli", json!({})).await;
    let ctl = crate::mqctl::ctl::Ctl::new(&server);
    let printed =
        ctl.run(&["--json", "consume", topic, "-g", "cli", "--wait", "5s"]).await.ok().json();
    let printed: Vec<&Value> =
        printed["messages"].as_array().unwrap().iter().map(|m| &m["value"]).collect();
    assert_eq!(printed, [&largest, &deepest]);

    // ...and by mq-client: both whole, in one answer.
    let mq = Client::builder(format!("http://127.0.0.1:{}", server.port())).build().unwrap();
    let got = consume_until(&mq, topic, 2).await;
    assert_eq!(got[0].message.key.as_deref(), Some(key.as_str()));
    assert_eq!(got[0].message.headers, headers);
    assert_eq!(got[0].message.value, largest);
    assert_eq!(got[1].message.value, deepest);
    let browsed = browse(&api, topic, 0, 0, 10).await;
    assert_eq!(
        (browsed[0]["value"].clone(), browsed[1]["value"].clone()),
        (largest.clone(), deepest.clone())
    );

    // Dead-lettered whole (maxRetries 0), read back, retried and delivered again.
    let receipts: Vec<String> = got.iter().map(|d| d.receipt.clone()).collect();
    assert_eq!(mq.nack(topic, "g", &receipts, &Nack::reason("bounds")).await.unwrap(), 2);
    let filter = DeadLetterFilter { topic_name: Some(topic.into()), ..DeadLetterFilter::default() };
    let started = Instant::now();
    let dead = loop {
        let page = mq.list_dead_letters(&filter, None, None).await.unwrap();
        if page.items.len() == 2 || started.elapsed() > Duration::from_secs(10) {
            break page.items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead.len(), 2, "{dead:?}");
    let by_offset = |offset: u64| dead.iter().find(|d| d.offset == offset).unwrap();
    assert_eq!(by_offset(0).message_content, largest);
    assert_eq!(by_offset(0).headers, headers);
    assert_eq!(by_offset(0).message_key.as_deref(), Some(key.as_str()));
    assert_eq!(by_offset(1).message_content, deepest);
    let ids = dead.iter().map(|d| d.id.clone()).collect();
    mq.retry_dead_letters(&RetrySelection::Ids(ids), None).await.unwrap();
    let again = consume_until(&mq, topic, 2).await;
    let values: Vec<&Value> = again.iter().map(|d| &d.message.value).collect();
    assert!(values.contains(&&largest) && values.contains(&&deepest), "{values:?}");
}
