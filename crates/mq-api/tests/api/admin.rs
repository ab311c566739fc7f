//! Topics, consumer groups, consumers and health: lifecycles, defaults, filters and paging.

use serde_json::{json, Value};

use crate::harness::api;

fn names(reply: &Value, field: &str) -> Vec<String> {
    reply["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[field].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn topic_lifecycle_with_broker_defaults() {
    let api = api().await;
    api.post("/api/v1/mq/topics", &json!({"name": "life"})).await.ok();
    let topic = api.get("/api/v1/mq/topics/life").await.ok();
    let t = topic.data();
    assert_eq!(t["partitions"], 1);
    assert_eq!(t["replicationFactor"], 1);
    // The broker's retention_hours (168 by default), not a constant of the API.
    assert_eq!(t["retentionMs"], 168 * 3_600_000_i64);
    assert_eq!(t["maxMessageSize"], 1_048_576);
    assert_eq!(t["status"], "active");
    assert_eq!(t["description"], "");

    let update = json!({
        "description": "grown",
        "partitions": 3,
        "config": {"a": "b"},
        "retentionMs": 1000,
        "maxMessageSize": 2048
    });
    let updated = api.put("/api/v1/mq/topics/life", &update).await.ok();
    let u = updated.data();
    assert_eq!((u["description"].as_str(), u["partitions"].as_u64()), (Some("grown"), Some(3)));
    assert_eq!((u["retentionMs"].as_u64(), u["maxMessageSize"].as_u64()), (Some(1000), Some(2048)));
    assert_eq!(u["config"], json!({"a": "b"}));
    assert_eq!(u["id"], t["id"]);
    // An empty update changes nothing; status may close the topic to producers.
    assert_eq!(api.put("/api/v1/mq/topics/life", &json!({})).await.ok().data()["partitions"], 3);
    assert_eq!(
        api.put("/api/v1/mq/topics/life", &json!({"status": "inactive"})).await.ok().data()
            ["status"],
        "inactive"
    );
    let closed = api.post("/api/v1/mq/messages", &json!({"topicName": "life", "value": 1})).await;
    assert_eq!(closed.status, 400, "{}", closed.text);
    assert!(closed.message().contains("topicName"), "{}", closed.text);

    let deleted = api.delete("/api/v1/mq/topics/life").await.ok();
    assert_eq!(deleted.data(), &Value::Null);
    assert_eq!(api.get("/api/v1/mq/topics/life").await.status, 404);
}

#[actix_web::test]
async fn topics_page_and_filter() {
    let api = api().await;
    for i in 0..25 {
        api.topic(&format!("p-{i:02}"), 1).await;
    }
    api.topic("other", 1).await;
    api.put("/api/v1/mq/topics/p-03", &json!({"status": "inactive"})).await.ok();

    let first = api.get("/api/v1/mq/topics").await.ok();
    let d = first.data();
    assert_eq!(
        (d["total"].as_u64(), d["page"].as_u64(), d["pageSize"].as_u64()),
        (Some(26), Some(1), Some(20))
    );
    assert_eq!(d["items"].as_array().unwrap().len(), 20);
    assert_eq!(d["items"][0]["name"], "other");

    let third = api.get("/api/v1/mq/topics?prefix=p-&page=3&pageSize=10").await.ok();
    let d = third.data();
    assert_eq!(
        (d["total"].as_u64(), d["page"].as_u64(), d["pageSize"].as_u64()),
        (Some(25), Some(3), Some(10))
    );
    assert_eq!(names(d, "name"), ["p-20", "p-21", "p-22", "p-23", "p-24"]);

    let beyond = api.get("/api/v1/mq/topics?page=9&pageSize=1000").await.ok();
    assert_eq!(beyond.data()["items"], json!([]));
    assert_eq!(beyond.data()["total"], 26);

    let inactive = api.get("/api/v1/mq/topics?status=inactive").await.ok();
    assert_eq!(names(inactive.data(), "name"), ["p-03"]);
    let empty_prefix = api.get("/api/v1/mq/topics?prefix=&pageSize=1").await.ok();
    assert_eq!(empty_prefix.data()["total"], 26);
}

#[actix_web::test]
async fn consumer_groups_defaults_list_and_delete() {
    let api = api().await;
    api.topic("t", 2).await;
    api.topic("u", 1).await;
    let created = api
        .post("/api/v1/mq/consumer-groups", &json!({"groupId": "g", "topicName": "t"}))
        .await
        .ok();
    let g = created.data();
    assert!(g["id"].as_str().unwrap().starts_with("group_"));
    assert_eq!((g["groupId"].as_str(), g["topicName"].as_str()), (Some("g"), Some("t")));
    assert_eq!(
        (g["startFrom"].as_str(), g["deliveryMode"].as_str()),
        (Some("latest"), Some("shared"))
    );
    assert_eq!(
        (g["ackTimeoutMs"].as_u64(), g["sessionTimeoutMs"].as_u64()),
        (Some(30_000), Some(10_000))
    );
    assert_eq!(g["config"], json!({}));

    let full = json!({
        "groupId": "o",
        "topicName": "t",
        "startFrom": "earliest",
        "deliveryMode": "ordered",
        "ackTimeoutMs": 5000,
        "sessionTimeoutMs": 3000,
        "config": {"team": "payments"}
    });
    let o = api.post("/api/v1/mq/consumer-groups", &full).await.ok();
    for field in ["startFrom", "deliveryMode", "ackTimeoutMs", "sessionTimeoutMs", "config"] {
        assert_eq!(o.data()[field], full[field], "{field}");
    }
    api.group("u", "g").await;

    // One group shows its live members as the list does: none yet, then the one that fetched.
    let live = |g: &Value| (g["consumerCount"].as_u64(), g["status"].as_str().map(str::to_owned));
    let shown = api.get("/api/v1/mq/consumer-groups/g?topicName=t").await.ok();
    assert_eq!(live(shown.data()), (Some(0), Some("inactive".to_owned())));
    let fetch = json!({"topicName": "t", "groupId": "g", "consumerId": "c1", "waitMs": 0});
    api.post("/api/v1/mq/consume", &fetch).await.ok();
    let shown = api.get("/api/v1/mq/consumer-groups/g?topicName=t").await.ok();
    assert_eq!(live(shown.data()), (Some(1), Some("active".to_owned())));
    let listed = api.get("/api/v1/mq/consumer-groups?topicName=t").await.ok();
    assert_eq!(live(&listed.data()["items"][0]), live(shown.data()));

    // Per partition: positions whether or not a member is live, and the owner in ordered mode
    // (none in a shared group, where every member reads every partition).
    api.post("/api/v1/mq/messages", &json!({"topicName": "t", "key": "a", "value": 1})).await.ok();
    let parts = api.get("/api/v1/mq/consumer-groups/g/partitions?topicName=t").await.ok();
    let parts = parts.data().as_array().unwrap();
    assert_eq!(parts.len(), 2);
    let lag: u64 = parts.iter().map(|p| p["lag"].as_u64().unwrap()).sum();
    assert_eq!(lag, 1, "the message published since c1 fetched: {parts:?}");
    assert!(parts.iter().all(|p| p["owner"].is_null()), "shared: {parts:?}");
    let fetch = json!({"topicName": "t", "groupId": "o", "consumerId": "solo", "waitMs": 0});
    api.post("/api/v1/mq/consume", &fetch).await.ok();
    let parts = api.get("/api/v1/mq/consumer-groups/o/partitions?topicName=t").await.ok();
    let owners: Vec<&Value> =
        parts.data().as_array().unwrap().iter().map(|p| &p["owner"]).collect();
    assert_eq!(owners, [&json!("solo"), &json!("solo")], "ordered: the one member owns both");
    for (path, status) in [
        ("/api/v1/mq/consumer-groups/g/partitions", 400),
        ("/api/v1/mq/consumer-groups/nope/partitions?topicName=t", 404),
        ("/api/v1/mq/consumer-groups/g/partitions?topicName=nope", 404),
    ] {
        assert_eq!(api.get(path).await.status, status, "{path}");
    }

    let of_t = api.get("/api/v1/mq/consumer-groups?topicName=t").await.ok();
    assert_eq!(names(of_t.data(), "groupId"), ["g", "o"]);
    assert_eq!(of_t.data()["total"], 2);
    let all = api.get("/api/v1/mq/consumer-groups?pageSize=2&page=2").await.ok();
    assert_eq!(
        (all.data()["total"].as_u64(), all.data()["items"].as_array().unwrap().len()),
        (Some(3), 1)
    );

    assert_eq!(
        api.delete("/api/v1/mq/consumer-groups/g?topicName=t").await.ok().data(),
        &Value::Null
    );
    let of_t = api.get("/api/v1/mq/consumer-groups?topicName=t").await.ok();
    assert_eq!(names(of_t.data(), "groupId"), ["o"]);
    assert_eq!(api.delete("/api/v1/mq/consumer-groups/g?topicName=t").await.status, 404);
    // The same group id on the other topic is untouched.
    assert_eq!(api.get("/api/v1/mq/consumer-groups?topicName=u").await.ok().data()["total"], 1);
}

#[actix_web::test]
async fn consumers_show_assignment_positions_and_lag() {
    let api = api().await;
    api.topic("t", 2).await;
    api.group("t", "g").await;
    for i in 0..4 {
        api.post("/api/v1/mq/messages", &json!({"topicName": "t", "value": i})).await.ok();
    }
    let got = api.consume("t", "g", "c1", 1).await;
    assert_eq!(got.data()["messages"].as_array().unwrap().len(), 1);

    let reply = api.get("/api/v1/mq/consumers?topicName=t&groupId=g").await.ok();
    let d = reply.data();
    assert_eq!(
        (d["total"].as_u64(), d["page"].as_u64(), d["pageSize"].as_u64()),
        (Some(1), Some(1), Some(20))
    );
    let c = &d["items"][0];
    let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "assignedPartitions",
            "consumerId",
            "createdAt",
            "groupId",
            "lag",
            "lastHeartbeat",
            "partitions",
            "status",
            "topicName"
        ]
    );
    assert_eq!(
        (c["consumerId"].as_str(), c["groupId"].as_str(), c["topicName"].as_str()),
        (Some("c1"), Some("g"), Some("t"))
    );
    assert_eq!(c["status"], "active");
    assert_eq!(c["assignedPartitions"], json!([0, 1]));
    let partitions = c["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 2);
    let mut keys: Vec<&str> =
        partitions[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["committedOffset", "endOffset", "lag", "nextOffset", "partition", "pending"]);
    let pending: u64 = partitions.iter().map(|p| p["pending"].as_u64().unwrap()).sum();
    let lag: u64 = partitions.iter().map(|p| p["lag"].as_u64().unwrap()).sum();
    assert_eq!((pending, lag), (1, 3));
    assert_eq!(c["lag"], 3);

    // Unfiltered and paged.
    let all = api.get("/api/v1/mq/consumers?page=2&pageSize=1").await.ok();
    assert_eq!(
        (all.data()["total"].as_u64(), all.data()["items"].as_array().unwrap().len()),
        (Some(1), 0)
    );
}

#[actix_web::test]
async fn health_and_readiness_sit_outside_the_envelope() {
    let api = api().await;
    let health = api.get("/healthz").await;
    assert_eq!((health.status, &health.body), (200, &json!({"status": "ok"})));
    let ready = api.get("/readyz").await;
    assert_eq!((ready.status, &ready.body), (200, &json!({"status": "ready"})));

    api.broker.shutdown().await;
    let ready = api.get("/readyz").await;
    assert_eq!((ready.status, &ready.body), (503, &json!({"status": "unavailable"})));
    assert_eq!(api.get("/healthz").await.status, 200, "the process still answers");
    let refused = api.post("/api/v1/mq/topics", &json!({"name": "late"})).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert!(refused.message().contains("shutting down"));
}
