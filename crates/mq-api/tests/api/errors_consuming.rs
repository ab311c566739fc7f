//! Error statuses of consumer groups, consuming, the consumers view, unknown routes and wrong
//! methods, body limits and content types.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::test::TestRequest;
use mq_api::ApiConfig;
use serde_json::json;

use crate::harness::{api, api_with, broker};
use crate::table::{row, Row};

#[actix_web::test]
async fn consuming_errors_have_their_status_and_name_the_field() {
    let api = api().await;
    api.error_fixture().await;
    let rows: Vec<Row> = vec![
        // Consumer groups.
        row(
            "POST",
            "/consumer-groups",
            Some(json!({"groupId": "g", "topicName": "t"})),
            409,
            &["\"g\" already exists"],
        ),
        row(
            "POST",
            "/consumer-groups",
            Some(json!({"groupId": "g", "topicName": "nope"})),
            404,
            &["\"nope\""],
        ),
        row(
            "POST",
            "/consumer-groups",
            Some(json!({"groupId": "", "topicName": "t"})),
            400,
            &["groupId", "empty"],
        ),
        row(
            "POST",
            "/consumer-groups",
            Some(json!({"groupId": "h", "topicName": "t", "ackTimeoutMs": 0})),
            400,
            &["ackTimeoutMs"],
        ),
        row(
            "POST",
            "/consumer-groups",
            Some(json!({"groupId": "h", "topicName": "t", "sessionTimeoutMs": 86_400_001})),
            400,
            &["sessionTimeoutMs"],
        ),
        row(
            "POST",
            "/consumer-groups",
            Some(json!({"groupId": "h", "topicName": "t", "deliveryMode": "fanout"})),
            400,
            &["unknown variant `fanout`"],
        ),
        row(
            "POST",
            "/consumer-groups",
            Some(json!({"groupId": "h", "topicName": "t", "startFrom": "middle"})),
            400,
            &["unknown variant `middle`"],
        ),
        row("GET", "/consumer-groups?topicName=nope", None, 404, &["\"nope\""]),
        row("GET", "/consumer-groups?pageSize=1001", None, 400, &["pageSize"]),
        row("DELETE", "/consumer-groups/g", None, 400, &["invalid topicName", "required"]),
        row("DELETE", "/consumer-groups/nope?topicName=t", None, 404, &["\"nope\""]),
        row("DELETE", "/consumer-groups/g?topicName=nope", None, 404, &[]),
        // Consuming.
        row(
            "POST",
            "/consume",
            Some(json!({"topicName": "t", "groupId": "nope", "consumerId": "c"})),
            404,
            &["\"nope\""],
        ),
        row(
            "POST",
            "/consume",
            Some(json!({"topicName": "nope", "groupId": "g", "consumerId": "c"})),
            404,
            &["\"nope\""],
        ),
        row(
            "POST",
            "/consume",
            Some(json!({"topicName": "t", "groupId": "g", "consumerId": "c", "maxMessages": 0})),
            400,
            &["maxMessages"],
        ),
        row(
            "POST",
            "/consume",
            Some(json!({"topicName": "t", "groupId": "g", "consumerId": "c", "maxMessages": 1001})),
            400,
            &["maxMessages"],
        ),
        row(
            "POST",
            "/consume",
            Some(json!({"topicName": "t", "groupId": "g", "consumerId": "c", "waitMs": 30_001})),
            400,
            &["waitMs"],
        ),
        row(
            "POST",
            "/consume",
            Some(json!({"topicName": "t", "groupId": "g", "consumerId": ""})),
            400,
            &["consumerId"],
        ),
        row(
            "POST",
            "/consume",
            Some(json!({"topicName": "t", "groupId": "g"})),
            400,
            &["missing field `consumerId`"],
        ),
        row(
            "POST",
            "/ack",
            Some(json!({"topicName": "t", "groupId": "g", "receipts": []})),
            400,
            &["receipts"],
        ),
        row(
            "POST",
            "/ack",
            // A receipt the server never issued is unknown, not an error: it settles nothing.
            Some(json!({"topicName": "t", "groupId": "g", "receipts": ["!!"]})),
            200,
            &["acked"],
        ),
        row(
            "POST",
            "/ack",
            Some(json!({"topicName": "t", "groupId": "nope", "receipts": ["AQAAAA"]})),
            404,
            &["\"nope\""],
        ),
        row(
            "POST",
            "/nack",
            Some(json!({"topicName": "t", "groupId": "g", "receipts": ["!!"], "reason": "r"})),
            200,
            &["nacked"],
        ),
        row(
            "POST",
            "/nack",
            Some(json!({"topicName": "t", "groupId": "g", "receipt": []})),
            400,
            &["unknown field `receipt`"],
        ),
        // Consumers.
        row("GET", "/consumers?groupId=g", None, 400, &["topicName"]),
        row("GET", "/consumers?topicName=nope", None, 404, &["\"nope\""]),
        row("GET", "/consumers?topicName=t&groupId=nope", None, 404, &["\"nope\""]),
        row("GET", "/consumers?page=0", None, 400, &["invalid page"]),
        // Routes and methods.
        row("GET", "/nope", None, 404, &["no route GET /api/v1/mq/nope"]),
        row("GET", "/topics/t/messages/extra", None, 404, &["no route"]),
        row("DELETE", "/messages", None, 405, &["DELETE is not allowed on /api/v1/mq/messages"]),
        row("GET", "/consume", None, 405, &["GET is not allowed"]),
        row("PATCH", "/topics/t", None, 405, &["PATCH"]),
        row("POST", "/consumers", None, 405, &["POST"]),
    ];
    api.check(rows).await;
}

#[actix_web::test]
async fn routes_outside_the_api_get_envelopes_too() {
    let api = api().await;
    for (method, path, status) in [
        ("GET", "/", 404),
        ("GET", "/api/v1", 404),
        ("POST", "/healthz", 405),
        ("GET", "/api/v2/mq/topics", 404),
    ] {
        let reply = api.call(method, path, None).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text);
        assert_eq!(reply.body["code"], status);
    }
}

#[actix_web::test]
async fn bodies_over_the_limit_are_413_and_must_be_declared_json() {
    let api =
        api_with(broker(), ApiConfig { json_limit_bytes: 1024, ..ApiConfig::default() }).await;
    api.topic("t", 1).await;
    let big = json!({"topicName": "t", "value": "x".repeat(2000)}).to_string();
    let reply = api.call("POST", "/api/v1/mq/messages", Some(&big)).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert!(reply.message().contains("limit of 1024 bytes"), "{}", reply.text);
    // Just under the limit, the topic's maxMessageSize (1 MiB by default) is not reached.
    let fits = json!({"topicName": "t", "value": "x".repeat(900)}).to_string();
    api.call("POST", "/api/v1/mq/messages", Some(&fits)).await.ok();

    // The body must be declared as JSON: curl's default form type, plain text or nothing at all
    // get 415 with the header to send.
    let body = json!({"topicName": "t", "value": 1}).to_string();
    for content_type in [Some("application/x-www-form-urlencoded"), Some("text/plain"), None] {
        let request = TestRequest::post().uri("/api/v1/mq/messages").set_payload(body.clone());
        let request = match content_type {
            Some(content_type) => request.insert_header((CONTENT_TYPE, content_type)),
            None => request,
        };
        let reply = api.send(request).await;
        assert_eq!(reply.status, 415, "{content_type:?}: {}", reply.text);
        assert!(reply.message().contains("Content-Type: application/json"), "{}", reply.text);
    }
    let request = TestRequest::post()
        .uri("/api/v1/mq/messages")
        .insert_header((CONTENT_TYPE, "application/json; charset=utf-8"));
    api.send(request.set_payload(body)).await.ok();
}
