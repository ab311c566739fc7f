//! `mqctl` (issue 9) as a process against the real server: every command group, human tables
//! and `--json` documents, exit codes (3 not found, 4 conflict, 5 unauthorized, 6 cannot
//! connect, 7 rate limited, 8 invalid, 2 usage), values from arguments, files and stdin, bulk
//! sends, `tail` with `--count` and Ctrl-C, the config file and the environment.

pub(crate) mod ctl;

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::{json, Value};

use self::ctl::{consume_all, url, values, Ctl, RUN_WITHIN};
use crate::server::{StartOptions, TestServer};

/// The admin token of the servers started with [`AUTH_YAML`].
const ADMIN: &str = "admin-secret-0123456789";

/// A server with one admin token; failed authentications are not rate-limited (the tests make
/// some on purpose).
const AUTH_YAML: &str = "auth:\n  tokens:\n\
    \x20   - {name: admin, token: \"admin-secret-0123456789\", role: admin}\n\
    security:\n  rate_limit:\n    auth_failures_per_minute: 100000\n";

/// Topics, groups, every way of sending, consume, tail --count, monitor --once and deletes,
/// human and JSON, with the exit codes of refusals. Runs on every backend.
pub async fn topics_groups_send_consume_and_monitor_through_mqctl(server: TestServer) {
    let ctl = Ctl::new(&server);

    // topics
    let created = ctl
        .run(&[
            "topics",
            "create",
            "cli-orders",
            "-p",
            "3",
            "-d",
            "the orders",
            "--set",
            "cleanup.policy=delete",
        ])
        .await
        .ok();
    assert!(created.stdout.starts_with("created topic cli-orders (topic_"), "{created:?}");
    let duplicate = ctl.run(&["topics", "create", "cli-orders"]).await.code(4);
    assert!(
        duplicate.stderr.starts_with("error: ") && duplicate.stderr.contains("exists"),
        "{duplicate:?}"
    );
    let invalid = ctl.run(&["topics", "create", "bad name!"]).await.code(8);
    assert!(invalid.stderr.contains("name"), "{invalid:?}");
    let list = ctl.run(&["topics", "list"]).await.ok();
    assert!(list.stdout.starts_with("NAME"), "{list:?}");
    assert_eq!(list.row("cli-orders")[1..4], ["3", "7d", "active"]);
    let listed = ctl.run(&["topics", "list", "--json"]).await.ok().json();
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["name"], "cli-orders");
    assert_eq!(listed["items"][0]["description"], "the orders");
    let described = ctl.run(&["topics", "describe", "cli-orders"]).await.ok();
    assert_eq!(described.row("partitions:")[1], "3");
    assert!(described.stdout.contains("cleanup.policy=delete"), "{described:?}");
    let updated = ctl
        .run(&["topics", "update", "cli-orders", "-p", "4", "--retention", "12h", "--json"])
        .await
        .ok();
    assert_eq!(
        (updated.json()["partitions"].clone(), updated.json()["retentionMs"].clone()),
        (json!(4), json!(43_200_000))
    );
    let shrink = ctl.run(&["topics", "update", "cli-orders", "-p", "2"]).await.code(8);
    assert!(shrink.stderr.contains("partitions"), "{shrink:?}");
    ctl.run(&["topics", "update", "cli-orders"]).await.code(2);
    let unknown = ctl.run(&["topics", "describe", "nope"]).await.code(3);
    assert!(unknown.stderr.contains("nope"), "{unknown:?}");

    // groups
    ctl.run(&[
        "groups",
        "create",
        "cli-orders",
        "billing",
        "--start-from",
        "earliest",
        "--ack-timeout",
        "30s",
        "--max-retries",
        "2",
    ])
    .await
    .ok();
    ctl.run(&["groups", "create", "cli-orders", "billing"]).await.code(4);
    ctl.run(&["groups", "create", "nope", "billing"]).await.code(3);
    let groups = ctl.run(&["--json", "groups", "list", "--topic", "cli-orders"]).await.ok().json();
    assert_eq!(groups["items"][0]["groupId"], "billing", "{groups}");
    assert_eq!(groups["items"][0]["retryPolicy"]["maxRetries"], 2, "{groups}");
    let updated = ctl
        .run(&["groups", "update", "cli-orders", "billing", "--max-retries", "5", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (updated["retryPolicy"]["maxRetries"].clone(), updated["ackTimeoutMs"].clone()),
        (json!(5), json!(30_000))
    );
    let group = ctl.run(&["groups", "describe", "cli-orders", "billing"]).await.ok();
    assert_eq!(group.row("max")[2], "5", "{group:?}");
    assert_eq!(ctl.run(&["groups", "list"]).await.ok().row("cli-orders")[1], "billing");

    // send: an argument (JSON or text), stdin, a file, --raw
    let sent = ctl
        .run(&["send", "cli-orders", r#"{"n": 1}"#, "-k", "cust-7", "-H", "src=cli", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(sent["status"], "appended", "{sent}");
    assert!(sent["messageId"].as_str().unwrap().starts_with("msg_"), "{sent}");
    let text = ctl.run(&["send", "cli-orders", "plain text"]).await.ok();
    assert!(
        text.stdout.starts_with("sent msg_") && text.stdout.contains("to cli-orders partition"),
        "{text:?}"
    );
    ctl.run_in(&["send", "cli-orders", "-"], Some(b"from stdin\n".to_vec())).await.ok();
    let file = ctl.home.path().join("value.json");
    std::fs::write(&file, "{\"file\": true}\n").unwrap();
    ctl.run(&["send", "cli-orders", "--file", file.to_str().unwrap()]).await.ok();
    ctl.run(&["send", "cli-orders", "42", "--raw"]).await.ok();
    ctl.run(&["send", "nope", "1"]).await.code(3);
    ctl.run(&["send", "cli-orders", "1", "--delay", "soon"]).await.code(2);

    // consume: everything, acknowledged; then nothing
    let messages = consume_all(&ctl, "cli-orders", "billing", 5).await;
    let got: BTreeSet<String> = values(&messages).iter().map(Value::to_string).collect();
    let want: BTreeSet<String> = [
        json!({"n": 1}),
        json!("plain text"),
        json!("from stdin"),
        json!({"file": true}),
        json!("42"),
    ]
    .iter()
    .map(Value::to_string)
    .collect();
    assert_eq!(got, want);
    let keyed = messages.iter().find(|m| m["key"] == "cust-7").expect("the keyed message");
    assert_eq!(keyed["headers"]["src"], "cli", "{keyed}");
    let none = ctl.run(&["consume", "cli-orders", "-g", "billing", "--wait", "0"]).await.ok();
    assert_eq!(none.stdout.trim(), "no messages", "acknowledged by consume: {none:?}");

    // consume shows a table; tail --count stops after that many
    ctl.run(&["send", "cli-orders", "first", "-k", "a"]).await.ok();
    let table = ctl.run(&["consume", "cli-orders", "-g", "billing", "--wait", "5s"]).await.ok();
    assert!(table.stdout.starts_with("PARTITION"), "{table:?}");
    let cells: Vec<&str> = table.stdout.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(cells[2..], ["a", "1", "first"], "key, delivery, value: {table:?}");
    ctl.run(&["send", "cli-orders", "second"]).await.ok();
    ctl.run(&["send", "cli-orders", "third"]).await.ok();
    let tailed =
        ctl.run(&["tail", "cli-orders", "-g", "billing", "--count", "2", "--json"]).await.ok();
    let mut tailed: Vec<String> =
        values(&tailed.json_lines()).iter().map(Value::to_string).collect();
    tailed.sort();
    assert_eq!(tailed, [r#""second""#, r#""third""#]);

    // monitor --once
    let snapshot = ctl.run(&["monitor", "--once"]).await.ok();
    assert!(snapshot.stdout.starts_with("mq monitor"), "{snapshot:?}");
    assert_eq!(snapshot.row("cli-orders")[2], "8", "messages of cli-orders: {snapshot:?}");
    let view = ctl.run(&["monitor", "--once", "--json"]).await.ok().json();
    let topic = &view["topics"][0];
    assert_eq!(
        (topic["name"].clone(), topic["messageCount"].clone()),
        (json!("cli-orders"), json!(8)),
        "{view}"
    );
    assert_eq!(view["consumers"][0]["groupId"], "billing", "{view}");

    // deletes: a topic only with --yes when there is no terminal
    let deleted =
        ctl.run(&["groups", "delete", "cli-orders", "billing", "--json"]).await.ok().json();
    assert_eq!(deleted["deleted"], "billing");
    let refused = ctl.run(&["topics", "delete", "cli-orders"]).await.code(2);
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    ctl.run(&["topics", "describe", "cli-orders"]).await.ok();
    ctl.run(&["topics", "delete", "cli-orders", "--yes"]).await.ok();
    ctl.run(&["topics", "describe", "cli-orders"]).await.code(3);
}

/// `send --lines` of thousands of lines from stdin (and from a file) arrives complete, each
/// line once; `tail --count` of all of them acknowledges them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_lines_from_stdin_arrives_complete() {
    let server = TestServer::start(crate::Backend::Memory).await;
    let ctl = Ctl::new(&server);
    ctl.run(&["topics", "create", "cli-bulk", "-p", "4"]).await.ok();
    ctl.run(&["groups", "create", "cli-bulk", "all", "--start-from", "earliest"]).await.ok();

    let lines: String = (1..=5000).map(|i| format!("{i}\n")).collect();
    let sent = ctl
        .run_in(&["send", "cli-bulk", "--lines", "--json"], Some(lines.into_bytes()))
        .await
        .ok()
        .json();
    assert_eq!(sent["sent"], 5000, "{sent}");
    assert!(sent["batches"].as_u64().unwrap() >= 10, "batches of at most 500: {sent}");
    let file = ctl.home.path().join("lines.txt");
    std::fs::write(&file, "{\"line\": 1}\n\nnot json\r\n{\"line\": 3}\n").unwrap();
    let from_file =
        ctl.run(&["send", "cli-bulk", "--lines", "--file", file.to_str().unwrap()]).await.ok();
    // How many batches depends on how fast the lines are read; the count does not.
    assert!(from_file.stdout.starts_with("sent 3 message(s) to cli-bulk in "), "{from_file:?}");

    let tailed =
        ctl.run(&["tail", "cli-bulk", "-g", "all", "--count", "5003", "--json"]).await.ok();
    let mut numbers = Vec::new();
    let mut others = Vec::new();
    for value in values(&tailed.json_lines()) {
        match value.as_u64() {
            Some(n) => numbers.push(n),
            None => others.push(value),
        }
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=5000).collect::<Vec<u64>>(), "each line once");
    let others: BTreeSet<String> = others.iter().map(Value::to_string).collect();
    let want: BTreeSet<String> = [json!({"line": 1}), json!("not json"), json!({"line": 3})]
        .iter()
        .map(Value::to_string)
        .collect();
    assert_eq!(others, want);
    let view = ctl.run(&["monitor", "--once", "--json"]).await.ok().json();
    let group = &view["consumers"][0];
    assert_eq!(
        (group["totalLag"].clone(), group["pending"].clone()),
        (json!(0), json!(0)),
        "all acknowledged: {view}"
    );

    ctl.run_in(&["send", "nope", "--lines"], Some(b"1\n".to_vec())).await.code(3);
    ctl.run(&["send", "cli-bulk", "--lines", "x"]).await.code(2);
}

/// `tail` follows as messages arrive and acknowledges after printing; Ctrl-C ends it with exit
/// 0. `tail --manual` prints receipts that `ack` settles; a server shutting down ends it with 6.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tail_follows_until_ctrl_c_and_manual_receipts_settle_by_ack() {
    let mut server = TestServer::start(crate::Backend::Memory).await;
    let ctl = Ctl::new(&server);
    ctl.run(&["topics", "create", "cli-tail"]).await.ok();
    ctl.run(&["groups", "create", "cli-tail", "live"]).await.ok();

    let mut tail = ctl.spawn(&["tail", "cli-tail", "-g", "live"]);
    // The group starts at the latest message, so what is sent after it exists arrives.
    for i in 1..=3 {
        ctl.run(&["send", "cli-tail", &format!("{{\"i\": {i}}}"), "-k", "k"]).await.ok();
    }
    let shown: Vec<String> = (0..3).map(|_| tail.next_line()).collect();
    for (i, line) in shown.iter().enumerate() {
        assert!(
            line.starts_with("0:") && line.ends_with(&format!("  k  {{\"i\":{}}}", i + 1)),
            "{shown:?}"
        );
    }
    let (code, stderr) = tail.interrupt();
    assert_eq!(code, Some(0), "Ctrl-C ends tail cleanly: {stderr}");
    let none = ctl.run(&["consume", "cli-tail", "-g", "live", "--wait", "0"]).await.ok();
    assert_eq!(none.stdout.trim(), "no messages", "tail acknowledged what it printed");

    ctl.run(&["send", "cli-tail", "a"]).await.ok();
    ctl.run(&["send", "cli-tail", "b"]).await.ok();
    let manual =
        ctl.run(&["tail", "cli-tail", "-g", "live", "--manual", "--count", "2"]).await.ok();
    let receipts: Vec<&str> =
        manual.stdout.lines().map(|l| l.rsplit("  ").next().unwrap()).collect();
    assert_eq!(receipts.len(), 2, "{manual:?}");
    let acked = ctl.run(&["ack", "cli-tail", "-g", "live", receipts[0], receipts[1]]).await.ok();
    assert_eq!(acked.stdout.trim(), "acknowledged 2 of 2 deliveries");
    let again =
        ctl.run(&["--json", "ack", "cli-tail", "-g", "live", receipts[0]]).await.ok().json();
    assert_eq!(again, json!({"acked": 0}), "a settled receipt settles nothing");

    ctl.run(&["tail", "nope", "-g", "live", "--count", "1"]).await.code(3);
    ctl.run(&["tail", "cli-tail", "-g", "nope", "--count", "1"]).await.code(3);

    // A server shutting down ends the stream: 6, saying so.
    let mut tail = ctl.spawn(&["tail", "cli-tail", "-g", "live"]);
    ctl.run(&["send", "cli-tail", "before the end"]).await.ok();
    assert!(tail.next_line().ends_with("before the end"));
    server.stop().await;
    let (code, stderr) = tail.wait();
    assert_eq!(code, Some(6), "{stderr}");
    assert!(stderr.contains("the server ended the stream after 1 message(s)"), "{stderr}");
}

/// Dead letters made with `nack --dead-letter`, listed, shown, retried by id and by group,
/// and purged (only with --yes without a terminal).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_list_show_retry_and_purge() {
    let server = TestServer::start(crate::Backend::Memory).await;
    let ctl = Ctl::new(&server);
    ctl.run(&["topics", "create", "cli-dlq"]).await.ok();
    ctl.run(&[
        "groups",
        "create",
        "cli-dlq",
        "workers",
        "--start-from",
        "earliest",
        "--backoff-initial",
        "0s",
    ])
    .await
    .ok();
    for i in 1..=3 {
        ctl.run(&["send", "cli-dlq", &format!("job {i}")]).await.ok();
    }
    let fetched = ctl
        .run(&["--json", "consume", "cli-dlq", "-g", "workers", "--no-ack", "--wait", "5s"])
        .await
        .ok()
        .json();
    let receipts: String = fetched["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}\n", m["receipt"].as_str().unwrap()))
        .collect();
    assert_eq!(receipts.lines().count(), 3, "{fetched}");
    let nacked = ctl
        .run_in(
            &["nack", "cli-dlq", "-g", "workers", "--dead-letter", "--reason", "bad job", "-"],
            Some(receipts.into_bytes()),
        )
        .await
        .ok();
    assert_eq!(nacked.stdout.trim(), "dead-lettered 3 of 3 deliveries");

    let listed = ctl.run(&["dlq", "list", "--topic", "cli-dlq", "--json"]).await.ok().json();
    assert_eq!(listed["total"], 3, "{listed}");
    let ids: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    let table = ctl.run(&["dlq", "list"]).await.ok();
    assert_eq!(table.row(&ids[0])[1..4], ["cli-dlq", "workers", "0"]);
    let shown = ctl.run(&["dlq", "show", &ids[0]]).await.ok();
    assert_eq!(shown.row("reason:")[1..], ["bad", "job"]);
    assert!(shown.stdout.contains("\ncontent:\njob "), "{shown:?}");
    ctl.run(&["dlq", "show", "dlq_nope"]).await.code(3);

    let retried = ctl.run(&["dlq", "retry", &ids[0]]).await.ok();
    assert_eq!(retried.stdout.trim(), "retried 1 dead letter(s)");
    let unknown = ctl.run(&["dlq", "retry", &ids[0], "--json"]).await.code(3);
    assert_eq!(unknown.json()["notFound"], json!([ids[0]]), "{unknown:?}");
    let by_group = ctl
        .run(&["--json", "dlq", "retry", "--topic", "cli-dlq", "--group", "workers"])
        .await
        .ok()
        .json();
    assert_eq!(by_group["retried"], 2, "{by_group}");
    let back = consume_all(&ctl, "cli-dlq", "workers", 3).await;
    assert!(back.iter().all(|m| m["headers"]["x-mq-redriven-from"].is_string()), "{back:?}");
    ctl.run(&["dlq", "retry"]).await.code(2);

    // Dead again, then purged.
    ctl.run(&["send", "cli-dlq", "last"]).await.ok();
    let fetched = ctl
        .run(&["--json", "consume", "cli-dlq", "-g", "workers", "--no-ack", "--wait", "5s"])
        .await
        .ok()
        .json();
    let receipt = fetched["messages"][0]["receipt"].as_str().unwrap().to_owned();
    ctl.run(&["nack", "cli-dlq", "-g", "workers", "--dead-letter", &receipt]).await.ok();
    ctl.run(&["dlq", "purge"]).await.code(2);
    let refused = ctl.run(&["dlq", "purge", "--topic", "cli-dlq"]).await.code(2);
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    let purged =
        ctl.run(&["dlq", "purge", "--topic", "cli-dlq", "--yes", "--json"]).await.ok().json();
    assert_eq!(purged, json!({"deleted": 1}));
    assert_eq!(ctl.run(&["dlq", "list"]).await.ok().stdout.trim(), "no dead letters");
}

/// `dlq retry -` of more ids than one request takes (1000) retries them all, in chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dlq_retry_of_thousands_of_ids_from_stdin() {
    let server = TestServer::start(crate::Backend::Memory).await;
    let ctl = Ctl::new(&server);
    ctl.run(&["topics", "create", "cli-many", "-p", "2"]).await.ok();
    ctl.run(&["groups", "create", "cli-many", "w", "--start-from", "earliest"]).await.ok();
    let lines: String = (1..=1500).map(|i| format!("{i}\n")).collect();
    ctl.run_in(&["send", "cli-many", "--lines"], Some(lines.into_bytes())).await.ok();

    let mut receipts = String::new();
    let started = Instant::now();
    while receipts.lines().count() < 1500 && started.elapsed() < RUN_WITHIN {
        let fetched = ctl
            .run(&[
                "--json", "consume", "cli-many", "-g", "w", "-n", "1000", "--no-ack", "--wait",
                "1s",
            ])
            .await
            .ok()
            .json();
        for m in fetched["messages"].as_array().unwrap() {
            receipts.push_str(m["receipt"].as_str().unwrap());
            receipts.push('\n');
        }
    }
    let nacked = ctl
        .run_in(
            &["--json", "nack", "cli-many", "-g", "w", "--dead-letter", "-"],
            Some(receipts.into_bytes()),
        )
        .await
        .ok()
        .json();
    assert_eq!(nacked, json!({"nacked": 1500}));

    let mut ids = String::new();
    for page in ["1", "2"] {
        let listed = ctl
            .run(&["--json", "dlq", "list", "--page", page, "--page-size", "1000"])
            .await
            .ok()
            .json();
        assert_eq!(listed["total"], 1500, "{listed}");
        for d in listed["items"].as_array().unwrap() {
            ids.push_str(d["id"].as_str().unwrap());
            ids.push('\n');
        }
    }
    let retried =
        ctl.run_in(&["--json", "dlq", "retry", "-"], Some(ids.into_bytes())).await.ok().json();
    assert_eq!(
        (retried["retried"].clone(), retried["notFound"].clone()),
        (json!(1500), json!([])),
        "{retried}"
    );
    let mut numbers: Vec<u64> = values(&consume_all(&ctl, "cli-many", "w", 1500).await)
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=1500).collect::<Vec<u64>>(), "each dead letter back once");
}

/// `send --txn` prints the transaction id; `txn show|commit|rollback|list`; a decision the
/// other way is a conflict (4).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transactions_prepare_show_commit_and_rollback() {
    let server = TestServer::start(crate::Backend::Memory).await;
    let ctl = Ctl::new(&server);
    ctl.run(&["topics", "create", "cli-pay"]).await.ok();
    ctl.run(&["groups", "create", "cli-pay", "ledger", "--start-from", "earliest"]).await.ok();

    let prepared = ctl.run(&["send", "cli-pay", r#"{"pay": 1}"#, "--txn"]).await.ok();
    let committed_id = prepared.stdout.trim().to_owned();
    assert!(committed_id.starts_with("txn_"), "only the id on stdout: {prepared:?}");
    assert!(prepared.stderr.contains("mqctl txn commit"), "{prepared:?}");
    let rolled =
        ctl.run(&["send", "cli-pay", r#"{"pay": 2}"#, "--txn", "--json"]).await.ok().json();
    let rolled_id = rolled["transactionId"].as_str().unwrap().to_owned();

    let shown = ctl.run(&["txn", "show", &committed_id]).await.ok();
    assert_eq!(shown.row("state:")[1], "prepared");
    let none = ctl.run(&["consume", "cli-pay", "-g", "ledger", "--wait", "0"]).await.ok();
    assert_eq!(none.stdout.trim(), "no messages", "a half message is invisible");

    let committed = ctl.run(&["txn", "commit", &committed_id]).await.ok();
    assert!(committed.stdout.starts_with(&format!("committed {committed_id}")), "{committed:?}");
    ctl.run(&["txn", "rollback", &rolled_id]).await.ok();
    let conflict = ctl.run(&["txn", "rollback", &committed_id]).await.code(4);
    assert!(conflict.stderr.contains("committed"), "{conflict:?}");
    ctl.run(&["txn", "commit", "txn_nope"]).await.code(3);
    let shown = ctl.run(&["txn", "show", &committed_id, "--json"]).await.ok().json();
    assert_eq!(shown["state"], "committed", "{shown}");

    let listed = ctl
        .run(&["--json", "txn", "list", "--topic", "cli-pay", "--state", "rolled_back"])
        .await
        .ok()
        .json();
    assert_eq!(listed["items"][0]["transactionId"], rolled_id, "{listed}");
    let table = ctl.run(&["txn", "list"]).await.ok();
    assert_eq!(table.row(&committed_id)[3], "committed");
    let delivered = consume_all(&ctl, "cli-pay", "ledger", 1).await;
    assert_eq!(values(&delivered), [json!({"pay": 1})]);
}

/// Against a server with tokens: no token or a bad one is 5 with a hint; the token from
/// `MQCTL_TOKEN` or the config file works; tokens create|list|revoke; a service token is
/// confined to its topics; audit and alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_audit_and_alerts_with_a_token_from_env_or_config() {
    let server = TestServer::start_with(StartOptions {
        top_yaml: AUTH_YAML.to_owned(),
        ..StartOptions::default()
    })
    .await;
    let anonymous = Ctl::new(&server);
    let refused = anonymous.run(&["topics", "list"]).await.code(5);
    assert!(refused.stderr.contains("hint: pass a token with --token"), "{refused:?}");
    anonymous.run(&["--token", "wrong-secret-0123456789", "topics", "list"]).await.code(5);

    // The token from the environment, the server from the environment too.
    let admin = Ctl::bare().env("MQCTL_SERVER", &url(&server)).env("MQCTL_TOKEN", ADMIN);
    admin.run(&["topics", "create", "cli-svc-a"]).await.ok();
    admin.run(&["topics", "create", "other"]).await.ok();
    let secret = admin
        .run(&[
            "tokens",
            "create",
            "svc",
            "--produce",
            "cli-svc-*",
            "--consume",
            "cli-svc-*",
            "--expires",
            "30d",
        ])
        .await
        .ok();
    let secret = secret.stdout.trim().to_owned();
    assert!(!secret.is_empty() && !secret.contains(' '), "only the secret on stdout: {secret:?}");
    let tokens = admin.run(&["tokens", "list"]).await.ok();
    assert_eq!(tokens.row("svc")[1..4], ["service", "cli-svc-*", "cli-svc-*"]);
    admin.run(&["tokens", "create", "svc"]).await.code(4);

    // A config file gives the service token; a flag beats it.
    let service = Ctl::new(&server);
    std::fs::create_dir_all(service.default_config().parent().unwrap()).unwrap();
    std::fs::write(service.default_config(), format!("token = \"{secret}\"\n")).unwrap();
    service.run(&["send", "cli-svc-a", "1"]).await.ok();
    service.run(&["send", "other", "1"]).await.code(5);
    service.run(&["topics", "list"]).await.code(5);
    service.run(&["--token", ADMIN, "topics", "list"]).await.ok();

    let audit = admin.run(&["audit", "--action", "POST /tokens", "--json"]).await.ok().json();
    assert_eq!(audit["items"][0]["actor"], "admin", "{audit}");
    let audit = admin.run(&["audit", "--actor", "svc"]).await.ok();
    assert!(audit.stdout.starts_with("AT"), "{audit:?}");
    assert!(
        audit.stdout.contains("denied") || audit.stdout.contains("403"),
        "the refusals of svc: {audit:?}"
    );
    let alerts = admin.run(&["alerts", "--json"]).await.ok().json();
    assert_eq!(alerts, json!([]));
    assert_eq!(admin.run(&["alerts", "history"]).await.ok().stdout.trim(), "no resolved alerts");

    let revoked = admin.run(&["tokens", "revoke", "svc"]).await.ok();
    assert_eq!(revoked.stdout.trim(), "revoked token svc");
    service.run(&["send", "cli-svc-a", "2"]).await.code(5);
    assert_eq!(admin.run(&["tokens", "list"]).await.ok().stdout.trim(), "no run-time tokens");
}

/// Where mqctl finds its server (config file, environment, flags in that order of strength)
/// and the exit codes of everything that is not an API refusal: a bad flag (2), a missing or
/// broken config file (2), rate limits (7), a server that is down (6).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn config_file_environment_and_exit_codes_without_an_api_refusal() {
    let mut server = TestServer::start_with(StartOptions {
        top_yaml: "security:\n  rate_limit:\n    per_ip_per_second: 1\n    per_ip_burst: 1\n"
            .to_owned(),
        ..StartOptions::default()
    })
    .await;
    let dead = "http://127.0.0.1:1";

    // The default config file names the server; MQCTL_SERVER beats it; --server beats both.
    let ctl = Ctl::bare();
    std::fs::create_dir_all(ctl.default_config().parent().unwrap()).unwrap();
    std::fs::write(ctl.default_config(), format!("server = \"{}\"\n", url(&server))).unwrap();
    let from_file = ctl.run(&["topics", "list"]).await;
    let env_beats_file = Ctl { env: vec![("MQCTL_SERVER".into(), dead.into())], ..ctl };
    let down = env_beats_file.run(&["topics", "list"]).await.code(6);
    assert!(down.stderr.contains("cannot connect to http://127.0.0.1:1"), "{down:?}");
    assert!(down.stderr.contains("hint: is mq-server running"), "{down:?}");
    let flag_beats_env = env_beats_file.run(&["--server", &url(&server), "topics", "list"]).await;

    // An explicit config file must exist and hold only known keys.
    let explicit = env_beats_file.home.path().join("other.toml");
    std::fs::write(&explicit, format!("server = \"{}\"\n", url(&server))).unwrap();
    let from_explicit =
        Ctl::bare().run(&["--config", explicit.to_str().unwrap(), "topics", "list"]).await;
    let missing =
        Ctl::bare().run(&["--config", "/nonexistent/mqctl.toml", "topics", "list"]).await.code(2);
    assert!(missing.stderr.contains("/nonexistent/mqctl.toml"), "{missing:?}");
    std::fs::write(&explicit, "sever = \"http://x\"\n").unwrap();
    let misspelt = Ctl::bare()
        .env("MQCTL_CONFIG", explicit.to_str().unwrap())
        .run(&["topics", "list"])
        .await
        .code(2);
    assert!(misspelt.stderr.contains("sever"), "{misspelt:?}");

    // Each of the three reached the server: 0, or 7 when the per-address limit (one request
    // a second) refused it; quick runs in a row are refused.
    for run in [&from_file, &flag_beats_env, &from_explicit] {
        assert!(matches!(run.code, Some(0 | 7)), "{run:?}");
    }
    let mut limited = None;
    for _ in 0..5 {
        let run = Ctl::new(&server).run(&["topics", "list"]).await;
        if run.code == Some(7) {
            limited = Some(run);
            break;
        }
    }
    let limited = limited.expect("a run refused with 429 among quick runs");
    assert!(limited.stderr.contains("hint: try again"), "{limited:?}");

    // Usage errors are clap's exit code 2; --help documents the exit codes.
    Ctl::bare().run(&["topics", "lst"]).await.code(2);
    Ctl::bare().run(&["send"]).await.code(2);
    Ctl::bare().run(&["--timeout", "forever", "topics", "list"]).await.code(2);
    Ctl::bare().run(&["--server", "ftp://x", "topics", "list"]).await.code(2);
    let help = Ctl::bare().run(&["--help"]).await.ok();
    assert!(help.stdout.contains("Exit codes:\n  0  success"), "{help:?}");

    // The server is gone: 6.
    server.kill();
    Ctl::new(&server).run(&["monitor", "--once"]).await.code(6);
}

/// https with a private CA: refused (6) until `--ca-cert` or `ca_cert` of the config file
/// (relative to the file) names the CA; an unreadable or non-PEM CA file is a usage error (2).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn https_with_a_private_ca_from_the_flag_or_the_config_file() {
    let pki = crate::tls::Pki::new();
    let server = TestServer::start_with(StartOptions {
        server_yaml: pki.server_yaml(&pki.path("server.pem"), false),
        https: Some(pki.client(false)),
        ..StartOptions::default()
    })
    .await;
    let ctl = Ctl { server: Some(format!("https://127.0.0.1:{}", server.port())), ..Ctl::bare() };
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().unwrap();

    let other = crate::tls::Pki::new();
    let untrusted =
        ctl.run(&["--ca-cert", other.path("ca.pem").to_str().unwrap(), "topics", "list"]).await;
    untrusted.code(6);
    ctl.run(&["--ca-cert", ca, "topics", "create", "secure"]).await.ok();
    let from_env = Ctl {
        env: vec![("MQCTL_CA_CERT".into(), ca.into())],
        server: ctl.server.clone(),
        ..Ctl::bare()
    };
    assert_eq!(from_env.run(&["topics", "list"]).await.ok().row("secure")[1], "1");

    let config = ctl.default_config();
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::copy(pki.path("ca.pem"), config.parent().unwrap().join("ca.pem")).unwrap();
    std::fs::write(&config, "ca_cert = \"ca.pem\"\n").unwrap();
    ctl.run(&["topics", "describe", "secure"]).await.ok();

    ctl.run(&["--ca-cert", "/nonexistent/ca.pem", "topics", "list"]).await.code(2);
    let not_pem = ctl.home.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    ctl.run(&["--ca-cert", not_pem.to_str().unwrap(), "topics", "list"]).await.code(2);
}
