//! The models' JSON shapes: camelCase names and lowercase status strings, as in the design.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use mq_model::{
    ConsumerGroup, DeadLetterMessage, DeliveryMode, GroupStatus, Message, MessageStatus,
    MessageType, StartFrom, Topic, TopicStatus,
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
    assert_eq!(serde_json::from_value::<Topic>(v).unwrap(), topic);
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
    for key in ["deliveryMode", "startFrom", "ackTimeoutMs", "sessionTimeoutMs"] {
        old.as_object_mut().unwrap().remove(key);
    }
    let old: ConsumerGroup = serde_json::from_value(old).unwrap();
    assert_eq!((old.delivery_mode, old.ack_timeout_ms), (DeliveryMode::Shared, 30_000));

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
    };
    let v = serde_json::to_value(&dead).unwrap();
    for key in
        ["originalTopicName", "originalMessageId", "consumerGroupId", "failureReason", "failedAt"]
    {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(serde_json::from_value::<DeadLetterMessage>(v).unwrap(), dead);
}
