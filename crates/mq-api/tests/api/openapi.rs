//! The OpenAPI document against the real app: every documented operation reaches its handler
//! (no 404 "no route", no 405), other methods on its path are 405, and real answers of every
//! operation (successes and errors) have a documented status, content type and shape.
//!
//! The shapes are checked by a small validator of the JSON Schema subset the document uses,
//! stricter than JSON Schema in one way: a response field the schema does not declare is an
//! error, so a field added to a response without its schema is caught here.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use actix_web::test::{self, TestRequest};
use actix_web::App;
use mq_api::ApiConfig;
use serde_json::{json, Value};

use crate::harness::broker;

const ADMIN: &str = "Bearer admin-secret-0123456789";
const SERVICE: &str = "Bearer service-secret-0123456789";

fn config() -> ApiConfig {
    serde_json::from_value(json!({
        "json_limit_bytes": 65536,
        "auth": {"tokens": [
            {"name": "admin", "token": "admin-secret-0123456789", "role": "admin"},
            {"name": "svc", "token": "service-secret-0123456789", "role": "service",
             "produce": ["other"], "consume": ["other"]},
        ]},
    }))
    .unwrap()
}

fn document() -> Value {
    serde_json::to_value(mq_api::openapi()).unwrap()
}

/// `/topics/orders` against `/topics/{name}`.
fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

/// The documented path a request path is, for this method: literal segments win over
/// parameters (`/dead-letters/retry` over `/dead-letters/{id}`).
fn template<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a str> {
    let paths = doc["paths"].as_object().unwrap();
    paths
        .iter()
        .filter(|(t, item)| fits(t, path) && item.get(method).is_some())
        .min_by_key(|(t, _)| t.matches('{').count())
        .map(|(t, _)| t.as_str())
}

fn resolve<'a>(doc: &'a Value, mut node: &'a Value) -> &'a Value {
    while let Some(target) = node.get("$ref").and_then(Value::as_str) {
        node = doc.pointer(target.strip_prefix('#').unwrap()).unwrap_or_else(|| panic!("{target}"));
    }
    node
}

/// The properties an object schema declares, through `$ref` and `allOf`; `None` when it
/// declares none (a map, or any value).
fn declared(doc: &Value, schema: &Value) -> Option<BTreeSet<String>> {
    let schema = resolve(doc, schema);
    let mut names: Option<BTreeSet<String>> = None;
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        names.get_or_insert_with(BTreeSet::new).extend(properties.keys().cloned());
    }
    for branch in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        if let Some(more) = declared(doc, branch) {
            names.get_or_insert_with(BTreeSet::new).extend(more);
        }
    }
    names
}

/// `^(a|b)$` or `^a$`: the only patterns response schemas use.
fn pattern_allows(pattern: &str, text: &str) -> bool {
    let inner = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')).unwrap();
    let inner = inner.strip_prefix('(').and_then(|p| p.strip_suffix(')')).unwrap_or(inner);
    assert!(
        inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '|' || c == '_'),
        "extend the test's validator for the pattern {pattern}"
    );
    inner.split('|').any(|choice| choice == text)
}

fn type_fits(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown type {other}"),
    }
}

/// Checks `value` against `schema`, pushing what does not fit to `errors`. `strict`: fields
/// the schema does not declare are errors too.
fn check(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    strict: bool,
    errors: &mut Vec<String>,
) {
    let schema = resolve(doc, schema);
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        let fitting = branches
            .iter()
            .filter(|branch| {
                let mut inner = Vec::new();
                check(doc, branch, value, at, strict, &mut inner);
                inner.is_empty()
            })
            .count();
        if fitting != 1 {
            errors.push(format!("{at}: fits {fitting} of the oneOf branches: {value}"));
        }
        return;
    }
    if let Some(branches) = schema.get("allOf").and_then(Value::as_array) {
        for branch in branches {
            check(doc, branch, value, at, false, errors);
        }
    }
    match schema.get("type") {
        Some(Value::String(name)) if !type_fits(name, value) => {
            errors.push(format!("{at}: not {name}: {value}"));
            return;
        }
        Some(Value::Array(names))
            if !names.iter().any(|n| type_fits(n.as_str().unwrap(), value)) =>
        {
            errors.push(format!("{at}: not any of {names:?}: {value}"));
            return;
        }
        _ => {}
    }
    if let (Some(pattern), Some(text)) =
        (schema.get("pattern").and_then(Value::as_str), value.as_str())
    {
        if !pattern_allows(pattern, text) {
            errors.push(format!("{at}: {text:?} does not match {pattern}"));
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
        if !choices.contains(value) {
            errors.push(format!("{at}: {value} is not one of {choices:?}"));
        }
    }
    if let Some(number) = value.as_f64() {
        let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
        if bound("minimum").is_some_and(|min| number < min)
            || bound("maximum").is_some_and(|max| number > max)
        {
            errors.push(format!("{at}: {number} is out of range"));
        }
    }
    if let Value::Object(fields) = value {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !fields.contains_key(name.as_str().unwrap()) {
                errors.push(format!("{at}: {name} is missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let known = declared(doc, schema);
        for (name, field) in fields {
            let path = format!("{at}.{name}");
            match (properties.and_then(|p| p.get(name)), schema.get("additionalProperties")) {
                (Some(property), _) => check(doc, property, field, &path, strict, errors),
                (None, Some(Value::Bool(false))) => errors.push(format!("{path}: not allowed")),
                (None, Some(extra @ Value::Object(_))) => {
                    check(doc, extra, field, &path, strict, errors)
                }
                (None, _) if strict && known.as_ref().is_some_and(|k| !k.contains(name)) => {
                    errors.push(format!("{path}: not in the schema"));
                }
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Value::Array(values)) = (schema.get("items"), value) {
        for (i, item) in values.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{i}]"), strict, errors);
        }
    }
}

/// The app with a checker: every answer is held against the document.
struct Checked<S> {
    app: S,
    doc: Value,
    /// Operations answered with a 2xx, as `METHOD template`.
    succeeded: BTreeSet<String>,
    /// Every (operation, status) seen.
    seen: BTreeMap<String, BTreeSet<u16>>,
    problems: Vec<String>,
}

impl<S> Checked<S>
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = ServiceResponse,
        Error = actix_web::Error,
    >,
{
    /// Sends a request as the admin (or as `token`), checks the answer against the document and
    /// returns its status and body (JSON, or the text as a string).
    async fn send(&mut self, request: TestRequest, token: Option<&str>) -> (u16, Value) {
        let request = match token {
            Some(token) => request.insert_header((AUTHORIZATION, token)),
            None => request,
        };
        let request = request.to_request();
        let method = request.method().as_str().to_lowercase();
        let path = request.path().to_owned();
        let response = test::call_service(&self.app, request).await;
        let status = response.status().as_u16();
        let media = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_owned();
        let at = format!("{} {path} → {status}", method.to_uppercase());
        let Some(template) = template(&self.doc, &method, &path) else {
            self.problems.push(format!("{at}: not in the document"));
            return (status, Value::Null);
        };
        let operation = self.doc["paths"][template][&method].clone();
        let key = format!("{} {template}", method.to_uppercase());
        self.seen.entry(key.clone()).or_default().insert(status);
        if (200..300).contains(&status) {
            self.succeeded.insert(key);
        }
        if media == "text/event-stream" {
            // Endless: only the head is checked.
            let documented = &operation["responses"][status.to_string()]["content"][&media];
            if documented.is_null() {
                self.problems.push(format!("{at}: {media} not documented"));
            }
            return (status, Value::Null);
        }
        let bytes = test::read_body(response).await;
        let Some(documented) = operation["responses"].get(status.to_string()) else {
            self.problems.push(format!("{at}: status not documented"));
            return (status, Value::Null);
        };
        let documented = resolve(&self.doc, documented);
        let Some(schema) = documented["content"].get(&media).map(|c| c["schema"].clone()) else {
            self.problems.push(format!("{at}: content type {media:?} not documented"));
            return (status, Value::Null);
        };
        let body = if media == "application/json" {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{at}: {e}"))
        } else {
            Value::String(String::from_utf8(bytes.to_vec()).unwrap())
        };
        let mut errors = Vec::new();
        check(&self.doc, &schema, &body, &at, true, &mut errors);
        self.problems.extend(errors);
        (status, body)
    }

    async fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let request = TestRequest::default()
            .method(actix_web::http::Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        let request = match body {
            Some(body) => request.insert_header((CONTENT_TYPE, "application/json")).set_json(body),
            None => request,
        };
        self.send(request, Some(ADMIN)).await
    }

    /// Like `call`, and the status must be `want`; returns `data` (or the body outside the
    /// envelope).
    async fn expect(&mut self, want: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, body).await;
        assert_eq!(status, want, "{method} {path}: {answer}");
        match answer.get("data") {
            Some(data) if path.starts_with("/api/v1/mq/") && !path.ends_with("openapi.json") => {
                data.clone()
            }
            _ => answer,
        }
    }
}

const P: &str = "/api/v1/mq";

/// Every operation, called with its parameters filled with placeholders and an empty JSON
/// body, reaches its handler: whatever it answers (400 for the empty body, 404 for the
/// placeholder names, 200), it is neither the "no route" 404 nor a 405. Every other method on
/// a documented path is a 405 whose `Allow` header names the documented methods: no route
/// hides beside the documented ones.
#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let doc = document();
    let app = test::init_service(App::new().configure(mq_api::configure(broker(), config()))).await;
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = template.replace('{', "x").replace('}', "");
        for method in ["get", "post", "put", "delete", "patch"] {
            let mut uri = path.clone();
            let operation = item.get(method);
            if let Some(operation) = operation {
                let required: Vec<&str> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query" && p["required"] == true)
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                if !required.is_empty() {
                    let query: Vec<String> = required.iter().map(|n| format!("{n}=x")).collect();
                    uri = format!("{uri}?{}", query.join("&"));
                }
            }
            let mut request = TestRequest::default()
                .method(
                    actix_web::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                )
                .uri(&uri)
                .insert_header((AUTHORIZATION, HeaderValue::from_static(ADMIN)));
            if operation.is_some_and(|o| o.get("requestBody").is_some()) {
                request =
                    request.insert_header((CONTENT_TYPE, "application/json")).set_payload("{}");
            }
            let response = test::call_service(&app, request.to_request()).await;
            let status = response.status().as_u16();
            let allow: BTreeSet<String> = response
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().split(", ").map(str::to_lowercase).collect())
                .unwrap_or_default();
            let body = test::read_body(response).await;
            let text = String::from_utf8_lossy(&body);
            let at = format!("{method} {uri} → {status}: {text}");
            if operation.is_some() {
                assert_ne!(status, 405, "{at}");
                assert!(!(status == 404 && text.contains("no route")), "{at}");
                checked += 1;
            } else {
                assert_eq!(status, 405, "{at}");
                let documented: BTreeSet<String> =
                    item.as_object().unwrap().keys().cloned().collect();
                assert_eq!(allow, documented, "{at}: the Allow header");
            }
        }
    }
    assert!(checked >= 40, "{checked}");
}

/// Real answers of every operation, successes and errors, fit the document: a documented
/// status, content type and shape, and no undocumented field. Every operation is answered with
/// a success at least once.
#[actix_web::test]
async fn real_answers_fit_the_document() {
    let doc = document();
    let app = test::init_service(App::new().configure(mq_api::configure(broker(), config()))).await;
    let mut c = Checked {
        app,
        doc,
        succeeded: BTreeSet::new(),
        seen: BTreeMap::new(),
        problems: Vec::new(),
    };

    // Outside the envelope.
    c.expect(200, "GET", "/healthz", None).await;
    c.expect(200, "GET", "/readyz", None).await;
    c.expect(200, "GET", "/metrics", None).await;
    c.expect(200, "GET", &format!("{P}/openapi.json"), None).await;
    let (status, _) = c.send(TestRequest::get().uri(&format!("{P}/openapi.json")), None).await;
    assert_eq!(status, 200, "the document needs no token");

    // Topics and groups.
    c.expect(200, "POST", &format!("{P}/topics"), Some(json!({"name": "orders", "partitions": 2})))
        .await;
    c.expect(409, "POST", &format!("{P}/topics"), Some(json!({"name": "orders"}))).await;
    c.expect(200, "GET", &format!("{P}/topics?pageSize=5"), None).await;
    c.expect(400, "GET", &format!("{P}/topics?page=0"), None).await;
    c.expect(400, "GET", &format!("{P}/topics?nope=1"), None).await;
    c.expect(200, "GET", &format!("{P}/topics/orders"), None).await;
    c.expect(404, "GET", &format!("{P}/topics/nope"), None).await;
    c.expect(200, "PUT", &format!("{P}/topics/orders"), Some(json!({"description": "d"}))).await;
    c.expect(400, "PUT", &format!("{P}/topics/orders"), Some(json!({"descr": "d"}))).await;
    let group = json!({"groupId": "g", "topicName": "orders", "startFrom": "earliest",
                       "ackTimeoutMs": 60000});
    c.expect(200, "POST", &format!("{P}/consumer-groups"), Some(group.clone())).await;
    c.expect(409, "POST", &format!("{P}/consumer-groups"), Some(group)).await;
    c.expect(200, "GET", &format!("{P}/consumer-groups?topicName=orders"), None).await;
    c.expect(200, "GET", &format!("{P}/consumer-groups/g?topicName=orders"), None).await;
    c.expect(400, "GET", &format!("{P}/consumer-groups/g"), None).await;
    let path = format!("{P}/consumer-groups/g/partitions?topicName=orders");
    let parts = c.expect(200, "GET", &path, None).await;
    assert!(parts.as_array().is_some_and(|p| !p.is_empty()), "{parts}");
    c.expect(404, "GET", &format!("{P}/consumer-groups/nope/partitions?topicName=orders"), None)
        .await;
    let policy = json!({"retryPolicy": {"maxRetries": 0}});
    c.expect(200, "PUT", &format!("{P}/consumer-groups/g?topicName=orders"), Some(policy)).await;

    // Publishing: normal, delayed, transactional, batch.
    let sent = c
        .expect(
            200,
            "POST",
            &format!("{P}/messages"),
            Some(json!({"topicName": "orders", "key": "k", "value": {"a": [1, "x"]},
                        "headers": {"h": "v"}})),
        )
        .await;
    assert_eq!(sent["status"], "appended");
    c.expect(404, "POST", &format!("{P}/messages"), Some(json!({"topicName": "nope", "value": 1})))
        .await;
    c.expect(400, "POST", &format!("{P}/messages"), Some(json!({"topicName": "orders"}))).await;
    let (status, _) = c
        .send(
            TestRequest::post()
                .uri(&format!("{P}/messages"))
                .insert_header((CONTENT_TYPE, "text/plain"))
                .set_payload("{}"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(status, 415);
    let big = json!({"topicName": "orders", "value": "x".repeat(70_000)});
    c.expect(413, "POST", &format!("{P}/messages"), Some(big)).await;
    let delayed = c
        .expect(
            200,
            "POST",
            &format!("{P}/messages"),
            Some(json!({"topicName": "orders", "value": 2, "messageType": "delay",
                        "delaySeconds": 3600})),
        )
        .await;
    assert_eq!(delayed["status"], "scheduled");
    let delayed_id = delayed["messageId"].as_str().unwrap().to_owned();
    let at = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let batch = json!({"topicName": "orders", "messages": [
        {"value": null}, {"value": "x", "key": "k"},
        {"value": 3, "messageType": "delay", "deliverAt": at}]});
    c.expect(200, "POST", &format!("{P}/messages/batch"), Some(batch)).await;
    c.expect(200, "GET", &format!("{P}/topics/orders/scheduled?limit=1"), None).await;
    c.expect(
        200,
        "PUT",
        &format!("{P}/messages/{delayed_id}/schedule"),
        Some(json!({"delaySeconds": 7200})),
    )
    .await;
    c.expect(200, "DELETE", &format!("{P}/messages/{delayed_id}"), None).await;
    c.expect(404, "DELETE", &format!("{P}/messages/{delayed_id}"), None).await;
    let txn = json!({"topicName": "orders", "value": 4, "messageType": "transaction"});
    let prepared = c.expect(200, "POST", &format!("{P}/messages"), Some(txn.clone())).await;
    assert_eq!(prepared["status"], "prepared");
    let committed = prepared["transactionId"].as_str().unwrap().to_owned();
    let prepared = c.expect(200, "POST", &format!("{P}/messages"), Some(txn)).await;
    let rolled_back = prepared["transactionId"].as_str().unwrap().to_owned();
    c.expect(200, "GET", &format!("{P}/transactions?state=prepared"), None).await;
    c.expect(200, "GET", &format!("{P}/transactions/{committed}"), None).await;
    c.expect(404, "GET", &format!("{P}/transactions/txn_nope"), None).await;
    c.expect(200, "POST", &format!("{P}/transactions/{committed}/commit"), None).await;
    c.expect(200, "POST", &format!("{P}/transactions/{rolled_back}/rollback"), None).await;
    c.expect(409, "POST", &format!("{P}/transactions/{rolled_back}/commit"), None).await;

    // Consuming and settling.
    let consume = |max: u32| {
        json!({"topicName": "orders", "groupId": "g", "consumerId": "c1",
               "maxMessages": max})
    };
    c.expect(
        200,
        "POST",
        &format!("{P}/messages"),
        Some(json!({"topicName": "orders", "value": 5})),
    )
    .await;
    let fetched = c.expect(200, "POST", &format!("{P}/consume"), Some(consume(5))).await;
    let receipts: Vec<String> = fetched["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["receipt"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(receipts.len(), 5, "{fetched}");
    let settle =
        |receipt: &str| json!({"topicName": "orders", "groupId": "g", "receipts": [receipt]});
    c.expect(200, "POST", &format!("{P}/ack"), Some(settle(&receipts[0]))).await;
    c.expect(200, "POST", &format!("{P}/release"), Some(settle(&receipts[1]))).await;
    let mut extend = settle(&receipts[2]);
    extend["extendMs"] = json!(1000);
    c.expect(200, "POST", &format!("{P}/extend"), Some(extend)).await;
    let mut nack = json!({"topicName": "orders", "groupId": "g", "receipts": receipts[3..]});
    nack["reason"] = json!("broken");
    nack["deadLetter"] = json!(true);
    c.expect(200, "POST", &format!("{P}/nack"), Some(nack)).await;
    c.expect(
        404,
        "POST",
        &format!("{P}/ack"),
        Some(json!({"topicName": "orders", "groupId": "nope", "receipts": []})),
    )
    .await;
    c.expect(200, "GET", &format!("{P}/topics/orders/messages?partition=0&limit=10"), None).await;
    c.expect(200, "GET", &format!("{P}/consumers?topicName=orders"), None).await;
    let (status, _) = c
        .call("GET", &format!("{P}/consume/stream?topicName=orders&groupId=g&consumerId=s"), None)
        .await;
    assert_eq!(status, 200);
    c.expect(
        404,
        "GET",
        &format!("{P}/consume/stream?topicName=nope&groupId=g&consumerId=s"),
        None,
    )
    .await;

    // Dead letters.
    let dead = c.expect(200, "GET", &format!("{P}/dead-letters?topicName=orders"), None).await;
    let id =
        |i: usize| dead["items"][i]["id"].as_str().unwrap_or_else(|| panic!("{dead}")).to_owned();
    let (retried, deleted) = (id(0), id(1));
    c.expect(200, "GET", &format!("{P}/dead-letters/{retried}"), None).await;
    c.expect(404, "GET", &format!("{P}/dead-letters/dlq_nope"), None).await;
    c.expect(
        200,
        "POST",
        &format!("{P}/dead-letters/retry"),
        Some(json!({"ids": [retried, "dlq_nope"]})),
    )
    .await;
    c.expect(200, "DELETE", &format!("{P}/dead-letters/{deleted}"), None).await;
    c.expect(400, "DELETE", &format!("{P}/dead-letters"), None).await;
    c.expect(200, "DELETE", &format!("{P}/dead-letters?all=true"), None).await;

    // Monitoring and security.
    c.expect(200, "GET", &format!("{P}/monitoring?timeRange=5m"), None).await;
    c.expect(400, "GET", &format!("{P}/monitoring?timeRange=forever"), None).await;
    let history = c.expect(200, "GET", &format!("{P}/monitoring/history?timeRange=1h"), None).await;
    assert!(history["published"].as_u64().unwrap() > 0, "{history}");
    c.expect(400, "GET", &format!("{P}/monitoring/history?timeRange=25h"), None).await;
    c.expect(404, "GET", &format!("{P}/monitoring/history?topicName=nope"), None).await;
    let me = c.expect(200, "GET", &format!("{P}/whoami"), None).await;
    assert_eq!((me["name"].as_str(), me["role"].as_str()), (Some("admin"), Some("admin")));
    c.expect(200, "GET", &format!("{P}/alerts?limit=5"), None).await;
    let token = json!({"name": "runtime", "role": "service", "produce": ["orders"]});
    let created = c.expect(200, "POST", &format!("{P}/tokens"), Some(token.clone())).await;
    assert!(created["tokenSecret"].is_string(), "{created}");
    c.expect(409, "POST", &format!("{P}/tokens"), Some(token)).await;
    c.expect(200, "GET", &format!("{P}/tokens"), None).await;
    c.expect(200, "DELETE", &format!("{P}/tokens/runtime"), None).await;
    c.expect(404, "DELETE", &format!("{P}/tokens/runtime"), None).await;
    c.expect(200, "GET", &format!("{P}/audit-logs?pageSize=3"), None).await;
    let (status, _) = c.send(TestRequest::get().uri(&format!("{P}/topics")), None).await;
    assert_eq!(status, 401);
    let (status, _) = c.send(TestRequest::get().uri(&format!("{P}/topics")), Some(SERVICE)).await;
    assert_eq!(status, 403);
    let (status, _) = c.send(TestRequest::get().uri("/metrics"), Some("Bearer wrong")).await;
    assert_eq!(status, 401);

    // Deleting.
    c.expect(200, "DELETE", &format!("{P}/consumer-groups/g?topicName=orders"), None).await;
    c.expect(404, "DELETE", &format!("{P}/consumer-groups/g?topicName=orders"), None).await;
    c.expect(200, "DELETE", &format!("{P}/topics/orders"), None).await;

    let problems = &c.problems;
    assert!(problems.is_empty(), "answers that break the document:\n{}", problems.join("\n"));
    let documented: BTreeSet<String> = c.doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let missing: Vec<&String> = documented.difference(&c.succeeded).collect();
    assert!(missing.is_empty(), "operations this test never saw succeed: {missing:?}");
    let errors = c.seen.values().flatten().filter(|s| **s >= 400).count();
    assert!(errors >= 20, "{:?}", c.seen);
}

/// The checker itself: it must catch what the test relies on it to catch.
#[test]
fn the_checker_catches_shapes_that_break_the_document() {
    let doc = document();
    let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let published = json!({"messageId": "m", "partition": 0, "offset": 1, "status": "appended",
                           "timestamp": "2024-01-01T00:00:00Z", "topicName": "t"});
    let prepared = json!({"messageId": "m", "transactionId": "x", "topicName": "t",
                          "partition": 0, "status": "prepared", "checkAt": "2024-01-01T00:00:00Z"});
    let with = |base: &Value, key: &str, value: Value| {
        let mut out = base.clone();
        out[key] = value;
        out
    };
    let without = |base: &Value, key: &str| {
        let mut out = base.clone();
        out.as_object_mut().unwrap().remove(key);
        out
    };
    let error = json!({"code": 404, "message": "m", "data": null});
    for (name, value, fits) in [
        ("ErrorEnvelope", error.clone(), true),
        ("ErrorEnvelope", with(&error, "data", json!({})), false),
        ("ErrorEnvelope", with(&error, "extra", json!(1)), false),
        ("ErrorEnvelope", without(&error, "message"), false),
        ("ErrorEnvelope", with(&error, "code", json!(200)), false),
        ("SentOut", published.clone(), true),
        ("SentOut", prepared.clone(), true),
        ("SentOut", with(&published, "status", json!("prepared")), false),
        ("SentOut", with(&published, "surprise", json!(true)), false),
        ("SentOut", without(&prepared, "transactionId"), false),
        (
            "MessageOut",
            json!({"messageId": "m", "topicName": "t", "partition": 0, "offset": 0,
            "key": null, "value": [1, {"a": null}], "headers": {}, "timestamp": "t",
            "messageType": "normal"}),
            true,
        ),
        (
            "MessageOut",
            json!({"messageId": "m", "topicName": "t", "partition": 0, "offset": 0,
            "key": null, "value": 1, "headers": {"h": 1}, "timestamp": "t",
            "messageType": "normal"}),
            false,
        ),
        (
            "MessageOut",
            json!({"messageId": "m", "topicName": "t", "partition": 0, "offset": 0,
            "key": null, "value": 1, "headers": {}, "timestamp": "t",
            "messageType": "weird"}),
            false,
        ),
    ] {
        let mut errors = Vec::new();
        check(&doc, &schema(name), &value, name, true, &mut errors);
        assert_eq!(errors.is_empty(), fits, "{name} {value}: {errors:?}");
    }
}

/// The API page: `/docs` leads to `/docs/`, which serves Swagger UI pointed at the document,
/// without a token.
#[actix_web::test]
async fn the_api_page_is_served_without_a_token() {
    let app = test::init_service(App::new().configure(mq_api::configure(broker(), config()))).await;
    let get = |uri: &str| test::call_service(&app, TestRequest::get().uri(uri).to_request());
    let response = get("/docs").await;
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers().get("location").unwrap(), "/docs/");
    let response = get("/docs/").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response
        .headers()
        .get(CONTENT_TYPE)
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(page.contains("swagger-ui"), "{page}");
    let response = get("/docs/swagger-initializer.js").await;
    assert_eq!(response.status().as_u16(), 200);
    let script = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(script.contains("/api/v1/mq/openapi.json"), "{script}");
}

/// Without a token, but not from anywhere: the IP allow-list holds for the document and the
/// page as for every route.
#[actix_web::test]
async fn the_allow_list_holds_for_the_document_and_the_page() {
    let mut cfg = config();
    cfg.security.ip_allowlist = vec!["10.0.0.0/8".parse().unwrap()];
    let app = test::init_service(App::new().configure(mq_api::configure(broker(), cfg))).await;
    for (peer, want) in [("10.1.2.3:5000", 200), ("192.0.2.1:5000", 403)] {
        for uri in ["/api/v1/mq/openapi.json", "/docs/"] {
            let request = TestRequest::get().uri(uri).peer_addr(peer.parse().unwrap());
            let response = test::call_service(&app, request.to_request()).await;
            assert_eq!(response.status().as_u16(), want, "{uri} from {peer}");
        }
    }
}
