//! Every error status of issue 3 (400, 404, 409, 413), each in the `{code, message, data}`
//! envelope with `code` equal to the HTTP status, plus the health endpoints.

use serde_json::{json, Value};

use crate::client::Api;
use crate::server::{TestServer, JSON_LIMIT_BYTES};
use crate::support::{browse, create_group, create_topic, int, send, text};

/// One request expected to fail with `status`, its message naming `mentions` (each
/// case-insensitively).
struct Case {
    method: &'static str,
    path: String,
    body: Option<Value>,
    status: u16,
    mentions: &'static [&'static str],
}

fn case(method: &'static str, path: &str, body: Option<Value>, status: u16) -> Case {
    Case { method, path: path.to_owned(), body, status, mentions: &[] }
}

impl Case {
    fn naming(mut self, mentions: &'static [&'static str]) -> Case {
        self.mentions = mentions;
        self
    }
}

/// Runs every case and fails once, listing every case that went wrong.
async fn check(api: &Api, cases: Vec<Case>) {
    let mut wrong = Vec::new();
    for case in &cases {
        let (status, reply) = match (case.method, &case.body) {
            ("GET", _) => api.get(&case.path).await,
            ("DELETE", _) => api.delete(&case.path).await,
            ("POST", Some(body)) => api.post(&case.path, body).await,
            ("PUT", Some(body)) => api.put(&case.path, body).await,
            (method, body) => panic!("bad case: {method} with body {body:?}"),
        };
        let message = text(&reply, "message").to_lowercase();
        let unnamed: Vec<&str> = case
            .mentions
            .iter()
            .copied()
            .filter(|word| !message.contains(&word.to_lowercase()))
            .collect();
        if status != case.status || !unnamed.is_empty() {
            let body = case.body.as_ref().map(Value::to_string).unwrap_or_default();
            wrong.push(format!(
                "{} {} {body}\n    expected {} naming {:?}\n    got {status}: {reply}",
                case.method, case.path, case.status, case.mentions
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases went wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

pub async fn invalid_input_is_400_naming_the_field(server: TestServer) {
    let api = server.api();
    create_topic(&api, "valid", 2).await;
    create_group(&api, "valid", "g", Value::Null).await;
    let consume = |extra: Value| {
        let mut body = json!({"topicName": "valid", "groupId": "g", "consumerId": "c"});
        crate::support::merge(&mut body, extra);
        Some(body)
    };
    let group = |extra: Value| {
        let mut body = json!({"groupId": "g2", "topicName": "valid"});
        crate::support::merge(&mut body, extra);
        Some(body)
    };
    let cases = vec![
        case("POST", "/topics", Some(json!({"name": "bad name!", "partitions": 1})), 400)
            .naming(&["name"]),
        case("POST", "/topics", Some(json!({"name": "-dash-first", "partitions": 1})), 400)
            .naming(&["name"]),
        case("POST", "/topics", Some(json!({"name": "zero", "partitions": 0})), 400)
            .naming(&["partitions"]),
        case("POST", "/topics", Some(json!({"name": "many", "partitions": 1025})), 400)
            .naming(&["partitions"]),
        case("POST", "/topics", Some(json!({"name": "unknown", "bogusField": 1})), 400)
            .naming(&["bogusField"]),
        case("POST", "/topics", Some(json!({"name": "keep", "retentionMs": 0})), 400)
            .naming(&["retentionMs"]),
        case("POST", "/topics", Some(json!({"name": "size", "maxMessageSize": 0})), 400)
            .naming(&["maxMessageSize"]),
        case("POST", "/messages", Some(json!({"topicName": "valid", "key": "k"})), 400)
            .naming(&["value"]),
        case(
            "POST",
            "/messages",
            Some(json!({"topicName": "valid", "value": 1, "headers": 5})),
            400,
        )
        .naming(&["headers"]),
        case("POST", "/consume", consume(json!({"maxMessages": 0})), 400).naming(&["maxMessages"]),
        case("POST", "/consume", consume(json!({"maxMessages": 1001})), 400)
            .naming(&["maxMessages"]),
        case("POST", "/consume", consume(json!({"waitMs": 30001})), 400).naming(&["waitMs"]),
        case("GET", "/topics?pageSize=1001", None, 400).naming(&["pageSize"]),
        case("GET", "/topics?page=0", None, 400).naming(&["page"]),
        case("POST", "/consumer-groups", group(json!({"deliveryMode": "sometimes"})), 400)
            .naming(&["deliveryMode"]),
        case("POST", "/consumer-groups", group(json!({"startFrom": "middle"})), 400)
            .naming(&["startFrom"]),
        case("POST", "/consumer-groups", group(json!({"ackTimeoutMs": 0})), 400)
            .naming(&["ackTimeoutMs"]),
        case("POST", "/consumer-groups", group(json!({"groupId": ""})), 400).naming(&["groupId"]),
    ];
    check(&api, cases).await;

    // Malformed JSON.
    for (path, bytes) in [("/topics", &b"{\"name\": "[..]), ("/messages", &b"not json"[..])] {
        let (status, reply) = api.post_raw(path, bytes.to_vec()).await;
        assert_eq!(status, 400, "malformed JSON to {path}: {reply}");
    }
    // Nothing was created by the refused requests.
    let topics = api.get_ok("/topics").await;
    assert_eq!(topics["total"], 1, "only `valid` should exist: {topics}");
    let groups = api.get_ok("/consumer-groups?topicName=valid").await;
    assert_eq!(groups["total"], 1, "only group `g` should exist: {groups}");
}

pub async fn unknown_topic_and_group_are_404(server: TestServer) {
    let api = server.api();
    create_topic(&api, "known", 1).await;
    create_group(&api, "known", "g", Value::Null).await;
    let consume = |topic: &str, group: &str| {
        Some(json!({"topicName": topic, "groupId": group, "consumerId": "c"}))
    };
    let cases = vec![
        // The message says what to do: create the topic first.
        case("POST", "/messages", Some(json!({"topicName": "nope", "value": 1})), 404)
            .naming(&["nope", "create"]),
        case(
            "POST",
            "/messages/batch",
            Some(json!({"topicName": "nope", "messages": [{"value": 1}]})),
            404,
        )
        .naming(&["nope"]),
        case("POST", "/consume", consume("known", "ghost"), 404).naming(&["ghost"]),
        case("POST", "/consume", consume("nope", "g"), 404).naming(&["nope"]),
        case("GET", "/topics/nope", None, 404).naming(&["nope"]),
        case("PUT", "/topics/nope", Some(json!({"partitions": 2})), 404).naming(&["nope"]),
        case("DELETE", "/topics/nope", None, 404).naming(&["nope"]),
        case("GET", "/topics/nope/messages?partition=0&fromOffset=0&limit=10", None, 404)
            .naming(&["nope"]),
        case("POST", "/consumer-groups", Some(json!({"groupId": "g", "topicName": "nope"})), 404)
            .naming(&["nope"]),
        case("DELETE", "/consumer-groups/ghost?topicName=known", None, 404).naming(&["ghost"]),
        case("GET", "/no-such-endpoint", None, 404),
    ];
    check(&api, cases).await;
}

pub async fn duplicates_are_409(server: TestServer) {
    let api = server.api();
    create_topic(&api, "twice", 1).await;
    create_topic(&api, "other", 1).await;
    create_group(&api, "twice", "g", Value::Null).await;
    let cases = vec![
        case("POST", "/topics", Some(json!({"name": "twice", "partitions": 3})), 409)
            .naming(&["twice"]),
        case("POST", "/consumer-groups", Some(json!({"groupId": "g", "topicName": "twice"})), 409)
            .naming(&["g"]),
    ];
    check(&api, cases).await;
    // A group id names one group per topic: the same id on another topic is another group.
    create_group(&api, "other", "g", Value::Null).await;
    let topic = api.get_ok("/topics/twice").await;
    assert_eq!(topic["partitions"], 1, "the refused duplicate changed the topic: {topic}");
}

pub async fn too_large_is_413(server: TestServer) {
    let api = server.api();
    api.post_ok("/topics", &json!({"name": "small", "partitions": 1, "maxMessageSize": 100})).await;
    // The size of a value is the length of its JSON text: a string of 98 characters is 100
    // bytes with its quotes, exactly the limit.
    send(&api, "small", None, json!("x".repeat(98))).await;
    let (status, reply) =
        api.post("/messages", &json!({"topicName": "small", "value": "x".repeat(99)})).await;
    assert_eq!(status, 413, "a 101-byte value on a topic with maxMessageSize 100: {reply}");
    let value = json!({"list": vec![12345; 20]}); // 129 bytes of JSON text.
    let (status, reply) =
        api.post("/messages", &json!({"topicName": "small", "value": value})).await;
    assert_eq!(status, 413, "a 129-byte object value on maxMessageSize 100: {reply}");
    assert_eq!(browse(&api, "small", 0, 0, 10).await.len(), 1, "only the 100-byte value is stored");

    // Bodies over server.json_limit_bytes are refused before anything else, in the envelope.
    create_topic(&api, "big", 1).await;
    let under = JSON_LIMIT_BYTES - 1_000;
    send(&api, "big", None, json!("u".repeat(under))).await;
    let over = JSON_LIMIT_BYTES + 1_000;
    let (status, reply) =
        api.post("/messages", &json!({"topicName": "big", "value": "o".repeat(over)})).await;
    assert_eq!(status, 413, "a body of {over} bytes over json_limit_bytes: {reply}");
    let batch = json!({"topicName": "big", "messages": [{"value": "o".repeat(over)}]});
    let (status, reply) = api.post("/messages/batch", &batch).await;
    assert_eq!(status, 413, "a batch body over json_limit_bytes: {reply}");
    assert_eq!(browse(&api, "big", 0, 0, 10).await.len(), 1, "only the body under the limit");
}

pub async fn partitions_grow_but_never_shrink(server: TestServer) {
    let api = server.api();
    create_topic(&api, "grow", 4).await;
    let (status, reply) = api.put("/topics/grow", &json!({"partitions": 2})).await;
    assert_eq!(status, 400, "shrinking partitions 4 -> 2: {reply}");
    assert!(text(&reply, "message").contains("partitions"), "should name the field: {reply}");
    assert_eq!(api.get_ok("/topics/grow").await["partitions"], 4, "unchanged after the refusal");

    api.put_ok("/topics/grow", &json!({"partitions": 6})).await;
    assert_eq!(api.get_ok("/topics/grow").await["partitions"], 6, "grown to 6");
    api.put_ok("/topics/grow", &json!({"retentionMs": 3_600_000})).await;
    let topic = api.get_ok("/topics/grow").await;
    assert_eq!(topic["retentionMs"], 3_600_000, "{topic}");
    assert_eq!(topic["partitions"], 6, "an update of another field keeps partitions: {topic}");
    // The new partitions take messages (round-robin reaches them) and can be browsed.
    let mut partitions = std::collections::BTreeSet::new();
    for i in 0..12 {
        partitions.insert(int(&send(&api, "grow", None, json!(i)).await, "partition"));
    }
    assert_eq!(partitions.len(), 6, "keyless messages reach all 6 partitions: {partitions:?}");
    assert!(!browse(&api, "grow", 5, 0, 10).await.is_empty(), "partition 5 has messages");
}

pub async fn deleted_topic_is_gone(server: TestServer) {
    let api = server.api();
    create_topic(&api, "doomed", 2).await;
    create_topic(&api, "kept", 1).await;
    send(&api, "doomed", Some("k"), json!("v")).await;
    create_group(&api, "doomed", "g", Value::Null).await;
    api.delete_ok("/topics/doomed").await;
    let (status, reply) = api.get("/topics/doomed").await;
    assert_eq!(status, 404, "GET after DELETE: {reply}");
    let (status, reply) = api.post("/messages", &json!({"topicName": "doomed", "value": 1})).await;
    assert_eq!(status, 404, "send after DELETE: {reply}");
    let topics = api.get_ok("/topics").await;
    let names: Vec<String> =
        topics["items"].as_array().unwrap().iter().map(|t| text(t, "name")).collect();
    assert_eq!(names, ["kept"], "list after DELETE: {topics}");
    // The name is free again, for a new and empty topic.
    create_topic(&api, "doomed", 1).await;
    assert!(browse(&api, "doomed", 0, 0, 10).await.is_empty(), "the new topic starts empty");
}

pub async fn health_endpoints_answer_at_the_root(server: TestServer) {
    let api = server.api();
    for path in ["/healthz", "/readyz"] {
        let (status, body) = api.root_get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
    }
}
