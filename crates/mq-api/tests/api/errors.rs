//! Error statuses of sending and of topics.

use serde_json::json;

use crate::harness::api;
use crate::table::{raw, row, Row};

#[actix_web::test]
async fn sending_errors_have_their_status_and_name_the_field() {
    let api = api().await;
    api.error_fixture().await;
    let batch_1001: Vec<_> = (0..1001).map(|i| json!({"value": i})).collect();
    let rows: Vec<Row> = vec![
        // Sending.
        row("POST", "/messages", Some(json!({"topicName": "t"})), 400, &["value", "required"]),
        row(
            "POST",
            "/messages",
            Some(json!({"topicName": "t", "vaule": 1})),
            400,
            &["unknown field `vaule`"],
        ),
        row("POST", "/messages", Some(json!({"value": 1})), 400, &["missing field `topicName`"]),
        row(
            "POST",
            "/messages",
            Some(json!({"topicName": "nope", "value": 1})),
            404,
            &["\"nope\"", "create it first"],
        ),
        row(
            "POST",
            "/messages",
            Some(json!({"topicName": "t", "value": "x".repeat(15)})),
            413,
            &["17 bytes", "maxMessageSize"],
        ),
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
            Some(json!({"topicName": "t", "value": 1, "messageType": "transaction",
                "checkbackUrl": "http://example.com/check"})),
            400,
            &["checkbackUrl", "checkback_allowlist"],
        ),
        row(
            "POST",
            "/messages/batch",
            Some(
                json!({"topicName": "t", "messages": [{"value": 1, "messageType": "transaction"}]}),
            ),
            400,
            &["messageType", "prepared on its own"],
        ),
        row("POST", "/transactions/txn_missing/commit", None, 404, &["txn_missing"]),
        row(
            "POST",
            "/messages",
            Some(json!({"topicName": "t", "value": 1, "messageType": "urgent"})),
            400,
            &["unknown variant `urgent`"],
        ),
        row(
            "POST",
            "/messages",
            Some(json!({"topicName": "t", "value": 1, "headers": {"n": 1}})),
            400,
            &["invalid type"],
        ),
        raw(
            "POST",
            "/messages",
            "{\"topicName\": \"t\", \"value\": ",
            400,
            &["invalid JSON body", "EOF"],
        ),
        raw("POST", "/messages", "", 400, &["invalid JSON body"]),
        // A body of the wrong shape names the field, however deep.
        row(
            "POST",
            "/messages",
            Some(json!({"topicName": "t", "value": 1, "headers": 5})),
            400,
            &["at headers", "expected a map"],
        ),
        row(
            "POST",
            "/messages/batch",
            Some(
                json!({"topicName": "t", "messages": [{"value": 1}, {"value": 2, "headers": {"a": 1}}]}),
            ),
            400,
            &["at messages[1].headers.a"],
        ),
        row(
            "POST",
            "/consumer-groups",
            Some(json!({"topicName": "t", "groupId": "g2", "deliveryMode": "sometimes"})),
            400,
            &["at deliveryMode", "unknown variant"],
        ),
        row(
            "POST",
            "/messages/batch",
            Some(json!({"topicName": "t", "messages": []})),
            400,
            &["messages", "1 to 1000", "got 0"],
        ),
        row(
            "POST",
            "/messages/batch",
            Some(json!({"topicName": "t", "messages": batch_1001})),
            400,
            &["messages", "got 1001"],
        ),
        row(
            "POST",
            "/messages/batch",
            Some(json!({"topicName": "t", "messages": [{"value": 1}, {"key": "k"}]})),
            400,
            &["messages[1].value", "required"],
        ),
        row(
            "POST",
            "/messages/batch",
            Some(json!({"topicName": "t", "messages": [{"value": 1, "messageTyp": "normal"}]})),
            400,
            &["unknown field `messageTyp`"],
        ),
        row(
            "POST",
            "/messages/batch",
            Some(json!({"topicName": "t", "messages": [{"value": 1}, {"value": "x".repeat(20)}]})),
            413,
            &["maxMessageSize"],
        ),
        row(
            "POST",
            "/messages/batch",
            Some(json!({"topicName": "nope", "messages": [{"value": 1}]})),
            404,
            &["create it first"],
        ),
    ];
    api.check(rows).await;
}

#[actix_web::test]
async fn topic_errors_have_their_status_and_name_the_field() {
    let api = api().await;
    api.error_fixture().await;
    let rows: Vec<Row> = vec![
        // Topics.
        row(
            "POST",
            "/topics",
            Some(json!({"name": "bad name"})),
            400,
            &["topic name", "may only contain"],
        ),
        row(
            "POST",
            "/topics",
            Some(json!({"name": "x", "partitions": 0})),
            400,
            &["partitions must be between 1 and 1024, got 0"],
        ),
        row(
            "POST",
            "/topics",
            Some(json!({"name": "x", "maxMessageSize": 16_777_217})),
            400,
            &["maxMessageSize"],
        ),
        row("POST", "/topics", Some(json!({"name": "x", "retentionMs": 0})), 400, &["retentionMs"]),
        raw(
            "POST",
            "/topics",
            r#"{"name": "x", "partitons": 3}"#,
            400,
            &["unknown field `partitons`", "expected one of", "line 1 column"],
        ),
        row(
            "POST",
            "/topics",
            Some(json!({"name": "x", "partitions": "6"})),
            400,
            &["invalid type: string \"6\", expected u32"],
        ),
        row("POST", "/topics", Some(json!({"partitions": 1})), 400, &["missing field `name`"]),
        row("POST", "/topics", Some(json!({"name": "t"})), 409, &["\"t\" already exists"]),
        row("GET", "/topics/nope", None, 404, &["\"nope\" does not exist"]),
        row("PUT", "/topics/nope", Some(json!({"description": "d"})), 404, &["\"nope\""]),
        row("DELETE", "/topics/nope", None, 404, &["\"nope\""]),
        row(
            "PUT",
            "/topics/t",
            Some(json!({"partitions": 1})),
            400,
            &["never shrink", "has 2, asked for 1"],
        ),
        row("PUT", "/topics/t", Some(json!({"status": "deleted"})), 400, &["status", "DELETE"]),
        row("PUT", "/topics/t", Some(json!({"name": "renamed"})), 400, &["unknown field `name`"]),
        row("PUT", "/topics/t", Some(json!({"retentionMs": -1})), 400, &["retentionMs"]),
        row("GET", "/topics?page=0", None, 400, &["invalid page", "at least 1, got 0"]),
        row(
            "GET",
            "/topics?pageSize=0",
            None,
            400,
            &["invalid pageSize", "between 1 and 1000, got 0"],
        ),
        row(
            "GET",
            "/topics?pageSize=1001",
            None,
            400,
            &["invalid pageSize", "between 1 and 1000, got 1001"],
        ),
        row("GET", "/topics?page=two", None, 400, &["invalid page", "whole number"]),
        row(
            "GET",
            "/topics?status=gone",
            None,
            400,
            &["invalid status", "active, inactive or deleted"],
        ),
        row(
            "GET",
            "/topics?pagesize=5",
            None,
            400,
            &["invalid query string", "unknown field `pagesize`"],
        ),
        row(
            "GET",
            "/topics/t/messages?partition=2",
            None,
            400,
            &["invalid partition", "0 to 1, got 2"],
        ),
        row("GET", "/topics/t/messages?limit=0", None, 400, &["invalid limit"]),
        row("GET", "/topics/t/messages?limit=1001", None, 400, &["invalid limit"]),
        row("GET", "/topics/t/messages?fromOffset=-1", None, 400, &["invalid fromOffset"]),
        row("GET", "/topics/nope/messages", None, 404, &["\"nope\""]),
    ];
    api.check(rows).await;
}
