//! Dead-letter records and the messages a redrive sends.

use chrono::{DateTime, TimeZone, Utc};
use mq_model::{DeadLetterMessage, DeliveryAttempt, MessageType};
use mq_repo::{Attempt, NewRecord, Record};
use uuid::Uuid;

/// Header of a redriven message: the id of the dead letter it came from.
pub const REDRIVEN_FROM_HEADER: &str = "x-mq-redriven-from";
/// Header of a redriven message: the failure reason its dead letter recorded.
pub const ORIGINAL_FAILURE_HEADER: &str = "x-mq-original-failure";
/// Header of a redriven message: the only consumer group it is for. The message goes back
/// into its topic's partition, where every group reads; the other groups acknowledge it
/// unseen, so they never get a duplicate.
pub const REDRIVE_GROUP_HEADER: &str = "x-mq-redrive-group";

/// Namespace of dead-letter ids (a fixed random UUID; changing it would change every id).
const NAMESPACE: Uuid = Uuid::from_u128(0x6d71_646c_7100_4c6f_9e2a_41b7_33d5_0c1e);

/// The id of the dead letter of the message at `offset` of `topic`'s `partition` for
/// `group`: `dlq_` + a name-based UUID (v5) of those and the message id, so two broker
/// instances that both give up on the same delivery record one dead letter.
pub fn dead_letter_id(
    topic: &str,
    partition: u32,
    offset: u64,
    group: &str,
    message_id: &str,
) -> String {
    // Topic names and message ids cannot contain a newline; a group id may, but it comes
    // last but one and the message id is fixed-form, so the name stays unambiguous.
    let name = format!("{topic}\n{partition}\n{offset}\n{group}\n{message_id}");
    format!("dlq_{}", Uuid::new_v5(&NAMESPACE, name.as_bytes()).simple())
}

fn to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The dead letter of `record`, delivered `deliveries` times to `group` and failed as
/// `attempts` tell (oldest first). Its reason is `reason` if given, else the last attempt's.
#[allow(clippy::too_many_arguments)] // each is a distinct fact of the failure; a struct would only rename them
pub fn dead_letter(
    topic: &str,
    partition: u32,
    group: &str,
    record: &Record,
    deliveries: u32,
    attempts: &[Attempt],
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> DeadLetterMessage {
    let failure_reason = reason
        .map(str::to_owned)
        .or_else(|| attempts.last().map(|a| a.reason.clone()))
        .unwrap_or_else(|| "unknown".to_owned());
    DeadLetterMessage {
        id: dead_letter_id(topic, partition, record.offset, group, &record.message_id),
        original_topic_name: topic.to_owned(),
        original_message_id: record.message_id.clone(),
        consumer_group_id: group.to_owned(),
        failure_reason,
        retry_count: deliveries.saturating_sub(1),
        message_content: record.value.clone(),
        headers: record.headers.clone(),
        failed_at: now,
        created_at: now,
        partition,
        offset: record.offset,
        message_key: record.key.clone(),
        published_at: Some(to_time(record.timestamp_ms)),
        attempts: attempts
            .iter()
            .map(|a| DeliveryAttempt {
                delivery: a.delivery_count,
                failed_at: to_time(a.failed_at_ms),
                consumer_id: a.consumer.clone(),
                reason: a.reason.clone(),
            })
            .collect(),
        redrive: None,
    }
}

/// The message a redrive of `dead` sends, under `message_id`: the same key, value and
/// headers, plus the redrive headers.
pub fn redrive_record(dead: &DeadLetterMessage, message_id: &str) -> NewRecord {
    let mut headers = dead.headers.clone();
    headers.insert(REDRIVEN_FROM_HEADER.to_owned(), dead.id.clone());
    headers.insert(ORIGINAL_FAILURE_HEADER.to_owned(), dead.failure_reason.clone());
    headers.insert(REDRIVE_GROUP_HEADER.to_owned(), dead.consumer_group_id.clone());
    NewRecord {
        message_id: message_id.to_owned(),
        key: dead.message_key.clone(),
        value: dead.message_content.clone(),
        headers,
        producer_id: None,
        message_type: MessageType::Normal,
        dedup: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn record() -> Record {
        Record {
            offset: 7,
            timestamp_ms: 1_700_000_000_000,
            message_id: "msg_1".to_owned(),
            key: Some("k".to_owned()),
            value: b"v".to_vec(),
            headers: BTreeMap::from([("h".to_owned(), "1".to_owned())]),
            producer_id: None,
            message_type: MessageType::Normal,
        }
    }

    #[test]
    fn ids_are_stable_and_tell_failures_apart() {
        let id = dead_letter_id("orders", 1, 7, "billing", "msg_1");
        assert_eq!(id, dead_letter_id("orders", 1, 7, "billing", "msg_1"));
        assert!(id.starts_with("dlq_") && id.len() == 36, "{id}");
        for other in [
            dead_letter_id("orders", 2, 7, "billing", "msg_1"),
            dead_letter_id("orders", 1, 8, "billing", "msg_1"),
            dead_letter_id("orders", 1, 7, "audit", "msg_1"),
            dead_letter_id("orders", 1, 7, "billing", "msg_2"),
            dead_letter_id("order", 1, 7, "billing", "msg_1"),
        ] {
            assert_ne!(id, other);
        }
    }

    #[test]
    fn a_dead_letter_keeps_the_message_and_its_history() {
        let attempts = [
            Attempt {
                delivery_count: 1,
                failed_at_ms: 10,
                consumer: "c1".into(),
                reason: "a".into(),
            },
            Attempt {
                delivery_count: 2,
                failed_at_ms: 20,
                consumer: "c2".into(),
                reason: "b".into(),
            },
        ];
        let now = to_time(30);
        let dead = dead_letter("orders", 1, "billing", &record(), 2, &attempts, None, now);
        assert_eq!(dead.failure_reason, "b");
        assert_eq!(dead.retry_count, 1);
        assert_eq!((dead.partition, dead.offset), (1, 7));
        assert_eq!(dead.message_key.as_deref(), Some("k"));
        assert_eq!(dead.attempts.len(), 2);
        assert_eq!(dead.attempts[0].consumer_id, "c1");
        assert_eq!(dead.published_at, Some(to_time(1_700_000_000_000)));
        let forced = dead_letter("orders", 1, "billing", &record(), 1, &[], Some("bad"), now);
        assert_eq!(forced.failure_reason, "bad");
        assert_eq!(forced.retry_count, 0);
        let unknown = dead_letter("orders", 1, "billing", &record(), 1, &[], None, now);
        assert_eq!(unknown.failure_reason, "unknown");
    }

    #[test]
    fn a_redriven_message_is_addressed_to_its_group() {
        let dead = dead_letter("orders", 1, "billing", &record(), 3, &[], Some("boom"), to_time(0));
        let again = redrive_record(&dead, "msg_2");
        assert_eq!(again.message_id, "msg_2");
        assert_eq!(again.key.as_deref(), Some("k"));
        assert_eq!(again.value, b"v");
        assert_eq!(again.headers["h"], "1");
        assert_eq!(again.headers[REDRIVEN_FROM_HEADER], dead.id);
        assert_eq!(again.headers[ORIGINAL_FAILURE_HEADER], "boom");
        assert_eq!(again.headers[REDRIVE_GROUP_HEADER], "billing");
    }
}
