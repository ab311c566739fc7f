//! Monitoring over HTTP (issue 7): `GET /monitoring` in the design's shape, `GET /alerts`, and
//! `GET /metrics` read by a Prometheus text-format parser.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::server::TestServer;
use crate::support::{ack_all, check_time, consume, create_group, create_topic, send};

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

pub async fn monitoring_and_metrics_show_known_traffic(server: TestServer) {
    let api = server.api();
    create_topic(&api, "watched", 2).await;
    create_group(&api, "watched", "g", Value::Null).await;
    for i in 0..30 {
        send(&api, "watched", Some(&format!("k{i}")), json!({"n": i})).await;
    }
    let mut got = Vec::new();
    while got.len() < 10 {
        got.extend(consume(&api, "watched", "g", "c", 10 - got.len() as u32, 1000).await);
    }
    assert_eq!(ack_all(&api, "watched", "g", &got).await, 10);

    let view = api.get_ok("/monitoring?topicName=watched&timeRange=5m").await;
    assert_eq!(keys(&view), set(&["topics", "consumers", "timestamp", "timeRange"]), "{view}");
    let topic = &view["topics"][0];
    for field in ["name", "messageCount", "messageRate", "consumerLag", "partitions"] {
        assert!(topic.get(field).is_some(), "topics[0].{field} missing: {topic}");
    }
    assert_eq!(topic["name"], "watched");
    assert_eq!(topic["messageCount"], 30);
    assert_eq!(topic["consumerLag"], 20);
    assert_eq!(topic["messageRate"], 0.1, "30 messages over 300 s");
    let partitions = topic["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 2);
    let offsets: u64 = partitions.iter().map(|p| p["offset"].as_u64().unwrap()).sum();
    assert_eq!(offsets, 30, "end offsets");
    for p in partitions {
        for field in ["partition", "offset", "messageRate"] {
            assert!(p.get(field).is_some(), "partitions[].{field} missing: {p}");
        }
    }
    let group = &view["consumers"][0];
    for field in ["groupId", "topicName", "consumerCount", "totalLag", "status"] {
        assert!(group.get(field).is_some(), "consumers[0].{field} missing: {group}");
    }
    assert_eq!((group["totalLag"].as_u64(), group["consumerCount"].as_u64()), (Some(20), Some(1)));
    assert_eq!(group["status"], "active");

    let only = api.get_ok("/monitoring?metrics=consumers&timeRange=1h").await;
    assert!(only.get("topics").is_none() && only["consumers"].is_array(), "{only}");
    for (query, field) in
        [("timeRange=7x", "timeRange"), ("timeRange=48h", "timeRange"), ("metrics=cpu", "metrics")]
    {
        let (status, body) = api.get(&format!("/monitoring?{query}")).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{body}");
    }
    let (status, _) = api.get("/monitoring?topicName=nope").await;
    assert_eq!(status, 404);
    let alerts = api.get_ok("/alerts").await;
    assert_eq!(keys(&alerts), set(&["active", "history"]), "{alerts}");

    let (status, text) = api.root_get("/metrics").await;
    assert_eq!(status, 200);
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape =
        prometheus_parse::Scrape::parse(lines).expect("/metrics parses as Prometheus text");
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape.samples.iter().find_map(|s| {
            let matches =
                s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v));
            let number = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            };
            matches.then_some(number)
        })
    };
    let tg = [("topic", "watched"), ("group", "g")];
    assert_eq!(value("mq_messages_published_total", &[("topic", "watched")]), Some(30.0));
    assert_eq!(value("mq_messages_delivered_total", &tg), Some(10.0));
    assert_eq!(value("mq_messages_acked_total", &tg), Some(10.0));
    assert_eq!(value("mq_consumer_lag_messages", &tg), Some(20.0));
    assert_eq!(value("mq_consumer_pending_messages", &tg), Some(0.0));
    let posts = [("method", "POST"), ("route", "/api/v1/mq/messages"), ("status", "200")];
    assert_eq!(value("mq_http_requests_total", &posts), Some(30.0));
    assert!(
        value("process_resident_memory_bytes", &[]).is_some_and(|v| v > 0.0),
        "process metrics"
    );
    let histograms: BTreeSet<&str> = scrape
        .samples
        .iter()
        .filter(|s| matches!(s.value, prometheus_parse::Value::Histogram(_)))
        .map(|s| s.metric.as_str())
        .collect();
    for name in [
        "mq_publish_latency_seconds",
        "mq_end_to_end_latency_seconds",
        "mq_http_request_duration_seconds",
    ] {
        assert!(histograms.contains(name), "{name} missing from {histograms:?}");
    }
}

/// `GET /monitoring/history`: the counts of known traffic land in the step under way, of all
/// topics or of one, with rates that match the counts; errors name the parameter.
pub async fn rate_history_counts_known_traffic_per_step(server: TestServer) {
    let api = server.api();
    create_topic(&api, "charted", 2).await;
    create_topic(&api, "quiet", 1).await;
    create_group(&api, "charted", "g", Value::Null).await;
    for i in 0..12 {
        send(&api, "charted", Some(&format!("k{i}")), json!({"n": i})).await;
    }
    send(&api, "quiet", None, json!("one")).await;
    let mut got = Vec::new();
    while got.len() < 5 {
        got.extend(consume(&api, "charted", "g", "c", 5 - got.len() as u32, 1000).await);
    }
    assert_eq!(ack_all(&api, "charted", "g", &got).await, 5);

    let all = api.get_ok("/monitoring/history?timeRange=5m").await;
    assert_eq!(
        keys(&all),
        set(&["timeRange", "stepSecs", "from", "to", "published", "acked", "points"]),
        "{all}"
    );
    assert_eq!((all["published"].as_u64(), all["acked"].as_u64()), (Some(13), Some(5)), "{all}");
    assert_eq!(all["stepSecs"], 10, "10-second points up to an hour");
    let points = all["points"].as_array().unwrap();
    assert!((30..=31).contains(&points.len()), "a point per 10 s: {all}");
    let published: u64 = points.iter().map(|p| p["published"].as_u64().unwrap()).sum();
    assert_eq!(published, 13);
    for p in points {
        let rate = p["publishRate"].as_f64().unwrap();
        assert_eq!(rate > 0.0, p["published"].as_u64() > Some(0), "rate follows count: {p}");
    }
    let charted = api.get_ok("/monitoring/history?timeRange=1h&topicName=charted").await;
    assert_eq!((charted["published"].as_u64(), charted["acked"].as_u64()), (Some(12), Some(5)));
    assert_eq!(charted["stepSecs"], 20, "an hour in at most 181 points");
    let hours = api.get_ok("/monitoring/history?timeRange=3h").await;
    assert_eq!((hours["stepSecs"].as_u64(), hours["published"].as_u64()), (Some(60), Some(13)));
    let day = api.get_ok("/monitoring/history?timeRange=24h").await;
    assert_eq!(day["stepSecs"], 480, "a day in at most 181 points: {}", day["stepSecs"]);
    assert!(day["points"].as_array().unwrap().len() <= 181);
    assert_eq!(day["published"], 13);

    let (status, body) = api.get("/monitoring/history?timeRange=2d").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("timeRange"), "{body}");
    let (status, _) = api.get("/monitoring/history?topicName=missing").await;
    assert_eq!(status, 404);
}

/// `GET /consumer-groups/{id}` shows `lastCommitTime`, written within about a second of an
/// ack (polled for up to ten), in the listing too.
pub async fn groups_show_when_they_last_acked(server: TestServer) {
    let api = server.api();
    create_topic(&api, "committed", 1).await;
    create_group(&api, "committed", "g", Value::Null).await;
    create_group(&api, "committed", "idle", Value::Null).await;
    send(&api, "committed", None, json!("one")).await;
    let path = "/consumer-groups/g?topicName=committed";
    assert!(api.get_ok(path).await.get("lastCommitTime").is_none(), "unset until an ack");

    let mut got = Vec::new();
    while got.is_empty() {
        got = consume(&api, "committed", "g", "c", 1, 1000).await;
    }
    // Milliseconds, as MongoDB keeps them.
    let before = chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis());
    assert_eq!(ack_all(&api, "committed", "g", &got).await, 1);
    let after = chrono::Utc::now();
    let started = std::time::Instant::now();
    let group = loop {
        let group = api.get_ok(path).await;
        if group.get("lastCommitTime").is_some() || started.elapsed().as_secs() >= 10 {
            break group;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    check_time(&group, "lastCommitTime");
    let at = chrono::DateTime::parse_from_rfc3339(group["lastCommitTime"].as_str().unwrap())
        .unwrap()
        .to_utc();
    assert!(before.is_some_and(|b| b <= at) && at <= after, "{at} not in {before:?}..={after}");

    let listed = api.get_ok("/consumer-groups?topicName=committed").await;
    let items = listed["items"].as_array().unwrap_or_else(|| panic!("items in {listed}"));
    let find = |id: &str| items.iter().find(|g| g["groupId"] == id).unwrap().clone();
    assert_eq!(find("g")["lastCommitTime"], group["lastCommitTime"], "{listed}");
    assert!(find("idle").get("lastCommitTime").is_none(), "{listed}");
}
