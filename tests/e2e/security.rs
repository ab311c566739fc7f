//! Security over HTTP (issue 8): every route against every kind of caller, protected mode,
//! trusted proxies, the IP allow-list, rate limits and the audit log.
//!
//! New routes must join [`ROUTES`]: the table is the list of what each route requires.

use serde_json::{json, Value};

use crate::server::{StartOptions, TestServer};

const ADMIN: &str = "admin-secret-0123456789";
const ORDERS: &str = "orders-secret-0123456789";
const BILLING: &str = "billing-secret-0123456789";
const EXPIRED: &str = "expired-secret-0123456789";

fn tokens_yaml() -> String {
    "auth:\n  tokens:\n\
     \x20   - {name: admin, token: \"admin-secret-0123456789\", role: admin}\n\
     \x20   - {name: orders-svc, token: \"orders-secret-0123456789\", role: service, produce: [\"orders*\"], consume: [\"orders*\"]}\n\
     \x20   - {name: billing-svc, token: \"billing-secret-0123456789\", role: service, produce: [\"billing*\"], consume: [\"billing*\"]}\n\
     \x20   - {name: old, token: \"expired-secret-0123456789\", role: admin, expires_at: \"2020-01-01T00:00:00Z\"}\n"
        .to_owned()
}

/// Tokens, with failed authentications not rate-limited (the table makes many on purpose).
fn table_yaml() -> String {
    format!("{}security:\n  rate_limit:\n    auth_failures_per_minute: 100000\n", tokens_yaml())
}

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Open,
    Admin,
    /// Any valid token, whatever its role and topics.
    Token,
    /// A service token allowed to publish to (or consume from) `orders`.
    Orders,
}

/// Every route: method, path (`!` = at the root), body, what it needs.
fn routes() -> Vec<(&'static str, &'static str, Option<Value>, Needs)> {
    use Needs::*;
    let settle = json!({"topicName": "orders", "groupId": "g", "receipts": ["x"]});
    vec![
        ("GET", "!/healthz", None, Open),
        ("GET", "!/readyz", None, Open),
        ("GET", "!/metrics", None, Admin),
        // The API's description: no token (a browser loads it), only the IP allow-list.
        ("GET", "/openapi.json", None, Open),
        ("GET", "!/docs/", None, Open),
        // The web console's files: no token either; its API calls need one.
        ("GET", "!/console/", None, Open),
        ("GET", "!/console/js/app.js", None, Open),
        ("GET", "/whoami", None, Token),
        ("POST", "/messages", Some(json!({"topicName": "orders", "value": 1})), Orders),
        (
            "POST",
            "/messages/batch",
            Some(json!({"topicName": "orders", "messages": [{"value": 1}]})),
            Orders,
        ),
        ("GET", "/topics", None, Admin),
        ("POST", "/topics", Some(json!({"name": "scratch", "partitions": 1})), Admin),
        ("GET", "/topics/orders", None, Admin),
        ("PUT", "/topics/orders", Some(json!({"description": "x"})), Admin),
        ("GET", "/topics/orders/messages", None, Orders),
        ("GET", "/topics/orders/scheduled", None, Orders),
        ("GET", "/consumer-groups?topicName=orders", None, Orders),
        ("GET", "/consumer-groups", None, Admin),
        ("GET", "/consumer-groups/g?topicName=orders", None, Orders),
        ("GET", "/consumer-groups/g/partitions?topicName=orders", None, Orders),
        ("PUT", "/consumer-groups/g?topicName=orders", Some(json!({})), Orders),
        (
            "POST",
            "/consume",
            Some(json!({"topicName": "orders", "groupId": "g", "consumerId": "c", "waitMs": 0})),
            Orders,
        ),
        ("POST", "/ack", Some(settle.clone()), Orders),
        ("POST", "/nack", Some(settle.clone()), Orders),
        ("POST", "/release", Some(settle.clone()), Orders),
        (
            "POST",
            "/extend",
            Some(json!({"topicName": "orders", "groupId": "g", "receipts": ["x"], "extendMs": 10})),
            Orders,
        ),
        (
            "GET",
            "/consume/stream?topicName=orders&groupId=g&consumerId=s&maxInFlight=1",
            None,
            Orders,
        ),
        ("GET", "/consumers", None, Admin),
        ("GET", "/monitoring", None, Admin),
        ("GET", "/monitoring/history", None, Admin),
        ("GET", "/alerts", None, Admin),
        ("GET", "/dead-letters", None, Admin),
        ("GET", "/transactions", None, Admin),
        ("GET", "/tokens", None, Admin),
        ("GET", "/audit-logs", None, Admin),
    ]
}

fn expected(needs: Needs, caller: &str) -> &'static [u16] {
    match (needs, caller) {
        (Needs::Open, _) => &[200],
        (_, "none" | "wrong" | "expired") => &[401],
        (Needs::Token, _) => &[200],
        (_, "billing") => &[403],
        (Needs::Admin, "orders") => &[403],
        _ => &[200],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_answers_each_caller_as_its_rights_say() {
    let server =
        TestServer::start_with(StartOptions { top_yaml: table_yaml(), ..StartOptions::default() })
            .await;
    let base = server.api();
    let admin = base.with_token(ADMIN);
    admin.post_ok("/topics", &json!({"name": "orders", "partitions": 1})).await;
    admin.post_ok("/consumer-groups", &json!({"groupId": "g", "topicName": "orders"})).await;
    let callers = [
        ("none", base.clone()),
        ("wrong", base.with_token("not-a-token-at-all")),
        ("expired", base.with_token(EXPIRED)),
        ("billing", base.with_token(BILLING)),
        ("orders", base.with_token(ORDERS)),
        ("admin", admin.clone()),
    ];
    let mut failures = Vec::new();
    for (method, path, body, needs) in routes() {
        for (who, api) in &callers {
            // Creating the same topic twice would be a 409, not an access question.
            let body = match (&body, *who, path) {
                (Some(_), "admin", "/topics") => {
                    Some(json!({"name": "scratch-admin", "partitions": 1}))
                }
                _ => body.clone(),
            };
            let status = api.status_of(method, path, body.as_ref()).await;
            let want = expected(needs, who);
            if !want.contains(&status) {
                failures.push(format!("{method} {path} as {who}: got {status}, want {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "access table mismatches:\n{}", failures.join("\n"));

    // Refusals explain themselves.
    let (status, body) = base.with_token(BILLING).get("/topics/orders/messages").await;
    assert_eq!(status, 403);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("consume permission") && message.contains("orders"), "{message}");
    let (status, body) = base.get("/topics").await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap().contains("Bearer"), "{body}");

    // A service token decides only its own transactions.
    let orders = base.with_token(ORDERS);
    let txn_body = json!({"topicName": "orders", "value": 1, "messageType": "transaction"});
    let mine = orders.post_ok("/messages", &txn_body).await;
    let theirs = admin.post_ok("/messages", &txn_body).await;
    let path = |t: &Value| format!("/transactions/{}/commit", t["transactionId"].as_str().unwrap());
    assert_eq!(orders.status_of("POST", &path(&theirs), Some(&json!({}))).await, 403);
    assert_eq!(orders.status_of("POST", &path(&mine), Some(&json!({}))).await, 200);
    assert_eq!(admin.status_of("POST", &path(&theirs), Some(&json!({}))).await, 200);

    // Tokens at run time: created by an admin, shown once, never listed with a secret.
    let created = admin
        .post_ok("/tokens", &json!({"name": "runtime", "role": "service", "produce": ["orders"]}))
        .await;
    let secret = created["tokenSecret"].as_str().unwrap().to_owned();
    let listed = admin.get_ok("/tokens").await;
    assert!(
        !listed.to_string().contains(&secret) && !listed.to_string().contains("sha256"),
        "{listed}"
    );
    let runtime = base.with_token(&secret);
    assert_eq!(
        runtime
            .status_of("POST", "/messages", Some(&json!({"topicName": "orders", "value": 2})))
            .await,
        200
    );
    assert_eq!(runtime.status_of("GET", "/topics", None).await, 403);
    admin.delete_ok("/tokens/runtime").await;
    assert_eq!(
        runtime
            .status_of("POST", "/messages", Some(&json!({"topicName": "orders", "value": 3})))
            .await,
        401
    );

    // Each admin action leaves exactly one audit record with its fields.
    let audit = admin.get_ok("/audit-logs?actor=admin&action=POST%20/topics&pageSize=100").await;
    let records: Vec<&Value> = audit["items"].as_array().unwrap().iter().collect();
    let targets: Vec<&str> = records.iter().map(|r| r["target"].as_str().unwrap()).collect();
    assert_eq!(
        targets.iter().filter(|t| **t == "/topics").count(),
        2,
        "orders and scratch-admin: {audit}"
    );
    for record in &records {
        assert_eq!(record["outcome"], "ok");
        assert_eq!(record["status"], 200);
        assert_eq!(record["clientIp"], "127.0.0.1");
    }
    let denied = admin.get_ok("/audit-logs?actor=billing-svc&pageSize=1000").await;
    assert!(denied["total"].as_u64().unwrap() > 0, "refusals are audited: {denied}");
    assert!(denied["items"].as_array().unwrap().iter().all(|r| r["outcome"] == "denied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn protected_mode_proxies_allowlist_and_rate_limits() {
    // No token, and loopback is a trusted proxy: X-Forwarded-For says who the client is.
    let proxied = "security:\n  trusted_proxies: [\"127.0.0.1/32\"]\n".to_owned();
    let server =
        TestServer::start_with(StartOptions { top_yaml: proxied, ..StartOptions::default() }).await;
    let api = server.api();
    assert_eq!(
        api.status_of("GET", "/topics", None).await,
        200,
        "loopback is served in protected mode"
    );
    let remote = api.with_header("x-forwarded-for", "203.0.113.9");
    let (status, body) = remote.get("/topics").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("protected mode"), "{body}");
    let local_via_proxy = api.with_header("x-forwarded-for", "127.0.0.1");
    assert_eq!(local_via_proxy.status_of("GET", "/topics", None).await, 200);
    drop(server);

    // An untrusted proxy's X-Forwarded-For is ignored: the peer (loopback) counts.
    let server = TestServer::start_with(StartOptions::default()).await;
    let spoofed = server.api().with_header("x-forwarded-for", "203.0.113.9");
    assert_eq!(spoofed.status_of("GET", "/topics", None).await, 200);
    drop(server);

    // The allow-list applies before authentication.
    let listed = "security:\n  trusted_proxies: [\"127.0.0.1/32\"]\n  ip_allowlist: [\"10.0.0.0/8\", \"2001:db8::/32\"]\n".to_owned();
    let server =
        TestServer::start_with(StartOptions { top_yaml: listed, ..StartOptions::default() }).await;
    let api = server.api();
    for (from, status) in [("10.1.2.3", 200), ("2001:db8::7", 200), ("192.168.1.1", 403)] {
        let (got, body) = api.with_header("x-forwarded-for", from).get("/topics").await;
        // 10.x is allowed but not loopback: protected mode refuses it (403) unless tokens exist;
        // what matters here is that the refusal is the allow-list's for 192.168.1.1.
        if status == 403 {
            assert_eq!(got, 403, "{body}");
            assert!(body["message"].as_str().unwrap().contains("ip_allowlist"), "{from}: {body}");
        } else {
            assert!(
                !body["message"].as_str().unwrap_or("").contains("ip_allowlist"),
                "{from}: {body}"
            );
        }
    }
    assert_eq!(api.status_of("GET", "/topics", None).await, 403, "loopback is not in the list");
    drop(server);

    // Rate limits: 429 with Retry-After.
    let limited = format!(
        "{}security:\n  rate_limit:\n    per_token_per_second: 1\n    per_token_burst: 2\n",
        tokens_yaml()
    );
    let server =
        TestServer::start_with(StartOptions { top_yaml: limited, ..StartOptions::default() }).await;
    let admin = server.api().with_token(ADMIN);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(admin.status_of("GET", "/topics", None).await);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let (status, retry_after) = admin.retry_after("/topics").await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
}
