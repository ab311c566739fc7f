//! The models' JSON shapes: camelCase names and lowercase status strings, as in the design.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use mq_model::{
    Alert, AlertRule, ApiToken, AuditRecord, BackoffKind, ConsumerGroup, DeadLetterMessage,
    DecidedBy, DeliveryAttempt, DeliveryMode, GroupStatus, Message, MessageStatus, MessageType,
    Placement, Redrive, RetryPolicy, Role, StartFrom, Topic, TopicStatus, Transaction,
    TransactionEvent, TransactionState,
};
use serde_json::json;

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap()
}

#[test]
fn topic_json_uses_camel_case_and_lowercase_status() {
    let topic = Topic {
        id: "topic_1".into(),
        name: "payment-events".into(),
        description: "d".into(),
        partitions: 6,
        replication_factor: 3,
        retention_ms: 604_800_000,
        max_message_size: 1_048_576,
        config: BTreeMap::from([("cleanup.policy".into(), "delete".into())]),
        status: TopicStatus::Inactive,
        created_by: "ops".into(),
        created_at: at(),
        updated_at: at(),
        placement: Placement::spread(6),
    };
    let v = serde_json::to_value(&topic).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "topic_1", "name": "payment-events", "description": "d", "partitions": 6,
            "replicationFactor": 3, "retentionMs": 604800000, "maxMessageSize": 1048576,
            "config": {"cleanup.policy": "delete"}, "status": "inactive", "createdBy": "ops",
            "createdAt": "2024-01-15T10:30:00Z", "updatedAt": "2024-01-15T10:30:00Z"
        })
    );
    // Where partitions are stored is the stores' business, not the API's.
    let read = serde_json::from_value::<Topic>(v).unwrap();
    assert_eq!(read, Topic { placement: Placement::default(), ..topic });
}

#[test]
fn message_value_is_base64_and_types_are_lowercase() {
    let msg = Message {
        id: "msg_1".into(),
        topic_name: "t".into(),
        partition: 2,
        offset: 12345,
        key: Some("user_123456".into()),
        value: b"hi".to_vec(),
        headers: BTreeMap::new(),
        timestamp: at(),
        producer_id: None,
        message_type: MessageType::Delay,
        delay_until: None,
        retry_count: 0,
        status: MessageStatus::Consumed,
        created_at: at(),
    };
    let v = serde_json::to_value(&msg).unwrap();
    assert_eq!(v["value"], "aGk=");
    assert_eq!(v["messageType"], "delay");
    assert_eq!(v["status"], "consumed");
    assert_eq!(v["topicName"], "t");
    assert_eq!(serde_json::from_value::<Message>(v).unwrap(), msg);
}

#[test]
fn group_and_dead_letter_names() {
    let group = ConsumerGroup {
        id: "group_1".into(),
        group_id: "g".into(),
        topic_name: "t".into(),
        consumer_count: 3,
        status: GroupStatus::Rebalancing,
        delivery_mode: DeliveryMode::Ordered,
        start_from: StartFrom::Earliest,
        ack_timeout_ms: 30_000,
        session_timeout_ms: 10_000,
        retry_policy: RetryPolicy::default(),
        config: BTreeMap::new(),
        last_commit_time: None,
        created_at: at(),
        updated_at: at(),
    };
    let v = serde_json::to_value(&group).unwrap();
    assert_eq!(v["status"], "rebalancing");
    assert_eq!(v["consumerCount"], 3);
    assert_eq!(v["groupId"], "g");
    assert_eq!(v["deliveryMode"], "ordered");
    assert_eq!(v["startFrom"], "earliest");
    assert_eq!(v["ackTimeoutMs"], 30000);
    // Groups stored before these fields existed read back with the defaults.
    let mut old = v.clone();
    for key in ["deliveryMode", "startFrom", "ackTimeoutMs", "sessionTimeoutMs", "retryPolicy"] {
        old.as_object_mut().unwrap().remove(key);
    }
    let old: ConsumerGroup = serde_json::from_value(old).unwrap();
    assert_eq!((old.delivery_mode, old.ack_timeout_ms), (DeliveryMode::Shared, 30_000));
    assert_eq!(old.retry_policy, RetryPolicy::default());

    let dead = DeadLetterMessage {
        id: "dlq_1".into(),
        original_topic_name: "t".into(),
        original_message_id: "msg_1".into(),
        consumer_group_id: "g".into(),
        failure_reason: "boom".into(),
        retry_count: 16,
        message_content: vec![0, 255],
        headers: BTreeMap::new(),
        failed_at: at(),
        created_at: at(),
        partition: 0,
        offset: 0,
        message_key: None,
        published_at: None,
        attempts: Vec::new(),
        redrive: None,
    };
    let v = serde_json::to_value(&dead).unwrap();
    for key in
        ["originalTopicName", "originalMessageId", "consumerGroupId", "failureReason", "failedAt"]
    {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(serde_json::from_value::<DeadLetterMessage>(v).unwrap(), dead);
}

#[test]
fn group_retry_policy_is_camel_case_and_defaults_when_absent() {
    let json = json!({
        "id": "group_1", "groupId": "g", "topicName": "t", "consumerCount": 0,
        "status": "active", "config": {},
        "createdAt": "2024-01-15T10:30:00Z", "updatedAt": "2024-01-15T10:30:00Z",
        "retryPolicy": {
            "maxRetries": 3, "backoff": "explicit", "initialBackoffMs": 500, "multiplier": 3.0,
            "maxBackoffMs": 60000, "jitter": 0.25, "delaysMs": [1000, 5000]
        }
    });
    let group: ConsumerGroup = serde_json::from_value(json.clone()).unwrap();
    let expected = RetryPolicy {
        max_retries: 3,
        backoff: BackoffKind::Explicit,
        initial_backoff_ms: 500,
        multiplier: 3.0,
        max_backoff_ms: 60_000,
        jitter: 0.25,
        delays_ms: vec![1_000, 5_000],
    };
    assert_eq!(group.retry_policy, expected);
    assert_eq!(serde_json::to_value(&group).unwrap()["retryPolicy"], json["retryPolicy"]);

    // A partial policy fills the rest with defaults, and an exponential one has no delaysMs.
    let mut partial = json.clone();
    partial["retryPolicy"] = json!({ "maxRetries": 5 });
    let group: ConsumerGroup = serde_json::from_value(partial).unwrap();
    assert_eq!(group.retry_policy, RetryPolicy { max_retries: 5, ..RetryPolicy::default() });
    assert_eq!(
        serde_json::to_value(&group).unwrap()["retryPolicy"],
        json!({
            "maxRetries": 5, "backoff": "exponential", "initialBackoffMs": 1000,
            "multiplier": 2.0, "maxBackoffMs": 7200000, "jitter": 0.0
        })
    );

    // A misspelt policy key is an error, not silently the default.
    let mut misspelt = json;
    misspelt["retryPolicy"] = json!({ "maxRetry": 5 });
    let error = serde_json::from_value::<ConsumerGroup>(misspelt).unwrap_err();
    assert!(error.to_string().contains("maxRetry"), "{error}");
}

#[test]
fn dead_letter_places_attempts_and_redrive() {
    let later = at() + chrono::Duration::milliseconds(1_500);
    let dead = DeadLetterMessage {
        id: "dlq_1".into(),
        original_topic_name: "t".into(),
        original_message_id: "msg_1".into(),
        consumer_group_id: "g".into(),
        failure_reason: "boom".into(),
        retry_count: 1,
        message_content: b"hi".to_vec(),
        headers: BTreeMap::from([("k".into(), "v".into())]),
        failed_at: later,
        created_at: later,
        partition: 2,
        offset: 12_345,
        message_key: Some("user_1".into()),
        published_at: Some(at()),
        attempts: vec![
            DeliveryAttempt {
                delivery: 1,
                failed_at: at(),
                consumer_id: "c1".into(),
                reason: "nack".into(),
            },
            DeliveryAttempt {
                delivery: 2,
                failed_at: later,
                consumer_id: "c2".into(),
                reason: "ack timeout".into(),
            },
        ],
        redrive: Some(Redrive { message_id: "msg_2".into(), started_at: later }),
    };
    let v = serde_json::to_value(&dead).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "dlq_1", "originalTopicName": "t", "originalMessageId": "msg_1",
            "consumerGroupId": "g", "failureReason": "boom", "retryCount": 1,
            "messageContent": "aGk=", "headers": {"k": "v"},
            "failedAt": "2024-01-15T10:30:01.500Z", "createdAt": "2024-01-15T10:30:01.500Z",
            "partition": 2, "offset": 12345, "messageKey": "user_1",
            "publishedAt": "2024-01-15T10:30:00Z",
            "attempts": [
                {"delivery": 1, "failedAt": "2024-01-15T10:30:00Z", "consumerId": "c1",
                 "reason": "nack"},
                {"delivery": 2, "failedAt": "2024-01-15T10:30:01.500Z", "consumerId": "c2",
                 "reason": "ack timeout"}
            ],
            "redrive": {"messageId": "msg_2", "startedAt": "2024-01-15T10:30:01.500Z"}
        })
    );
    assert_eq!(serde_json::from_value::<DeadLetterMessage>(v.clone()).unwrap(), dead);

    // Unset optional fields are left out, and dead letters written before the new fields
    // existed read back with the defaults.
    let mut old = v;
    for key in ["partition", "offset", "messageKey", "publishedAt", "attempts", "redrive"] {
        old.as_object_mut().unwrap().remove(key);
    }
    let old: DeadLetterMessage = serde_json::from_value(old).unwrap();
    let bare = DeadLetterMessage {
        partition: 0,
        offset: 0,
        message_key: None,
        published_at: None,
        attempts: Vec::new(),
        redrive: None,
        ..dead
    };
    assert_eq!(old, bare);
    let v = serde_json::to_value(&bare).unwrap();
    for key in ["messageKey", "publishedAt", "redrive"] {
        assert!(v.get(key).is_none(), "{key} should be left out when unset");
    }
    assert_eq!((&v["partition"], &v["attempts"]), (&json!(0), &json!([])));
}

#[test]
fn transaction_is_camel_case_with_snake_case_states() {
    let later = at() + chrono::Duration::milliseconds(6_000);
    let txn = Transaction {
        transaction_id: "txn_1".into(),
        message_id: "msg_1".into(),
        topic_name: "orders".into(),
        partition: 2,
        key: Some("user_1".into()),
        headers: BTreeMap::from([("k".into(), "v".into())]),
        producer_id: Some("p1".into()),
        state: TransactionState::RolledBack,
        checkback_url: Some("http://producer/check".into()),
        timeout_ms: 6_000,
        check_at: later,
        check_count: 1,
        lease_until: Some(later),
        decided_by: Some(DecidedBy::FinalAction),
        reason: Some("unknown after 1 check".into()),
        applied: true,
        offset: Some(12_345),
        history: vec![
            TransactionEvent { at: at(), kind: "prepared".into(), detail: String::new() },
            TransactionEvent { at: later, kind: "rolled_back".into(), detail: "final".into() },
        ],
        created_at: at(),
        updated_at: later,
        placement: Placement::default(),
    };
    let v = serde_json::to_value(&txn).unwrap();
    assert_eq!(
        v,
        json!({
            "transactionId": "txn_1", "messageId": "msg_1", "topicName": "orders",
            "partition": 2, "key": "user_1", "headers": {"k": "v"}, "producerId": "p1",
            "state": "rolled_back", "checkbackUrl": "http://producer/check",
            "timeoutMs": 6000, "checkAt": "2024-01-15T10:30:06Z", "checkCount": 1,
            "leaseUntil": "2024-01-15T10:30:06Z", "decidedBy": "final_action",
            "reason": "unknown after 1 check", "applied": true, "offset": 12345,
            "history": [
                {"at": "2024-01-15T10:30:00Z", "kind": "prepared", "detail": ""},
                {"at": "2024-01-15T10:30:06Z", "kind": "rolled_back", "detail": "final"}
            ],
            "createdAt": "2024-01-15T10:30:00Z", "updatedAt": "2024-01-15T10:30:06Z"
        })
    );
    assert_eq!(serde_json::from_value::<Transaction>(v.clone()).unwrap(), txn);

    // Unset optional fields are left out, and read back as unset; so are defaults.
    let mut bare = v;
    for key in [
        "key",
        "headers",
        "producerId",
        "checkbackUrl",
        "leaseUntil",
        "decidedBy",
        "reason",
        "applied",
        "offset",
        "history",
    ] {
        bare.as_object_mut().unwrap().remove(key);
    }
    let bare: Transaction = serde_json::from_value(bare).unwrap();
    let expected = Transaction {
        key: None,
        headers: BTreeMap::new(),
        producer_id: None,
        checkback_url: None,
        lease_until: None,
        decided_by: None,
        reason: None,
        applied: false,
        offset: None,
        history: Vec::new(),
        ..txn
    };
    assert_eq!(bare, expected);
    let v = serde_json::to_value(&expected).unwrap();
    for key in ["key", "producerId", "checkbackUrl", "leaseUntil", "decidedBy", "reason", "offset"]
    {
        assert!(v.get(key).is_none(), "{key} should be left out when unset");
    }

    for (state, name) in [
        (TransactionState::Prepared, "prepared"),
        (TransactionState::Committed, "committed"),
        (TransactionState::RolledBack, "rolled_back"),
    ] {
        assert_eq!(serde_json::to_value(state).unwrap(), json!(name));
        assert_eq!(state.as_str(), name);
        assert_eq!(state.validate_decision().is_ok(), state != TransactionState::Prepared);
    }
    for (by, name) in [
        (DecidedBy::Producer, "producer"),
        (DecidedBy::Checkback, "checkback"),
        (DecidedBy::FinalAction, "final_action"),
    ] {
        assert_eq!(serde_json::to_value(by).unwrap(), json!(name));
        assert_eq!(by.as_str(), name);
    }
}

#[test]
fn alert_is_camel_case_with_snake_case_rules() {
    let later = at() + chrono::Duration::milliseconds(90_000);
    let alert = Alert {
        id: "alert_1".into(),
        key: "consumer_lag:orders:billing".into(),
        rule: AlertRule::ConsumerLag,
        severity: "critical".into(),
        topic_name: "orders".into(),
        group_id: Some("billing".into()),
        message: "oldest message waits 90 s".into(),
        value: 90_000.0,
        threshold: 60_000.5,
        fired_at: at(),
        resolved_at: Some(later),
    };
    let v = serde_json::to_value(&alert).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "alert_1", "key": "consumer_lag:orders:billing", "rule": "consumer_lag",
            "severity": "critical", "topicName": "orders", "groupId": "billing",
            "message": "oldest message waits 90 s", "value": 90000.0, "threshold": 60000.5,
            "firedAt": "2024-01-15T10:30:00Z", "resolvedAt": "2024-01-15T10:31:30Z"
        })
    );
    assert_eq!(serde_json::from_value::<Alert>(v.clone()).unwrap(), alert);

    // An active, topic-wide alert leaves the unset fields out, and reads back as unset.
    let mut bare = v;
    for key in ["groupId", "resolvedAt"] {
        bare.as_object_mut().unwrap().remove(key);
    }
    let expected = Alert { group_id: None, resolved_at: None, ..alert };
    assert_eq!(serde_json::from_value::<Alert>(bare.clone()).unwrap(), expected);
    assert_eq!(serde_json::to_value(&expected).unwrap(), bare);

    for (rule, name) in [
        (AlertRule::Backlog, "backlog"),
        (AlertRule::ConsumerLag, "consumer_lag"),
        (AlertRule::DeadLetters, "dead_letters"),
        (AlertRule::NoConsumer, "no_consumer"),
    ] {
        assert_eq!(serde_json::to_value(rule).unwrap(), json!(name));
        assert_eq!(rule.as_str(), name);
    }
}

#[test]
fn api_token_is_camel_case_and_never_shows_its_hash() {
    let later = at() + chrono::Duration::days(30);
    let token = ApiToken {
        name: "order-service".into(),
        token_sha256: "ab".repeat(32),
        role: Role::Service,
        produce: vec!["order-*".into()],
        consume: vec!["order-*".into(), "payments".into()],
        expires_at: Some(later),
        created_at: at(),
    };
    let v = serde_json::to_value(&token).unwrap();
    assert_eq!(
        v,
        json!({
            "name": "order-service", "role": "service", "produce": ["order-*"],
            "consume": ["order-*", "payments"], "expiresAt": "2024-02-14T10:30:00Z",
            "createdAt": "2024-01-15T10:30:00Z"
        })
    );
    assert!(!serde_json::to_string(&token).unwrap().contains(&"ab".repeat(32)));

    // No expiry is left out, and no hash is shown whatever the role.
    let admin = ApiToken { role: Role::Admin, expires_at: None, ..token };
    let v = serde_json::to_value(&admin).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(!keys.iter().any(|k| k.to_lowercase().contains("sha")), "{keys:?}");
    assert_eq!(v["role"], json!("admin"));
    assert!(v.get("expiresAt").is_none());

    for (role, name) in [(Role::Admin, "admin"), (Role::Service, "service")] {
        assert_eq!(serde_json::to_value(role).unwrap(), json!(name));
        assert_eq!(serde_json::from_value::<Role>(json!(name)).unwrap(), role);
        assert_eq!(role.as_str(), name);
    }
}

#[test]
fn audit_record_is_camel_case() {
    let record = AuditRecord {
        id: "audit_1".into(),
        at: at(),
        actor: "anonymous".into(),
        client_ip: "10.0.0.7".into(),
        action: "auth".into(),
        target: "/topics".into(),
        outcome: "denied".into(),
        status: 401,
    };
    let v = serde_json::to_value(&record).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "audit_1", "at": "2024-01-15T10:30:00Z", "actor": "anonymous",
            "clientIp": "10.0.0.7", "action": "auth", "target": "/topics",
            "outcome": "denied", "status": 401
        })
    );
    assert_eq!(serde_json::from_value::<AuditRecord>(v).unwrap(), record);
}
