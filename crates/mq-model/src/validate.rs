//! Validation rules shared by the models and configs, one function per rule.

use crate::ModelError;

/// Longest topic name: one leading character plus 248 more.
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Most partitions a topic may have.
pub const MAX_PARTITIONS: u32 = 1024;
/// Default `maxMessageSize`: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: i64 = 1024 * 1024;
/// Largest `maxMessageSize` a topic may set: 16 MiB.
pub const MAX_MESSAGE_SIZE_LIMIT: i64 = 16 * 1024 * 1024;
/// Longest group, consumer or producer id, in characters.
pub const MAX_CLIENT_ID_LEN: usize = 255;

/// Checks a topic name against `^[A-Za-z0-9][A-Za-z0-9._-]{0,248}$`.
///
/// The character set keeps names safe inside Redis keys (no `{`, `}` or `:` that would break
/// the hash-tag key layout), URLs and file names.
pub fn validate_topic_name(name: &str) -> Result<(), ModelError> {
    let err = |reason| ModelError::InvalidTopicName { name: name.to_owned(), reason };
    let Some(first) = name.chars().next() else {
        return Err(err("must not be empty"));
    };
    if !first.is_ascii_alphanumeric() {
        return Err(err("must start with a letter or digit"));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(err("must be at most 249 characters"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err(err("may only contain letters, digits, '.', '_' and '-'"));
    }
    Ok(())
}

/// Checks a partition count: 1 to 1024.
pub fn validate_partitions(partitions: u32) -> Result<(), ModelError> {
    range("partitions", "between 1 and 1024", i64::from(partitions), 1, i64::from(MAX_PARTITIONS))
}

/// Checks a replication factor: at least 1.
pub fn validate_replication_factor(factor: u32) -> Result<(), ModelError> {
    range("replicationFactor", "at least 1", i64::from(factor), 1, i64::MAX)
}

/// Checks a retention: more than 0 milliseconds.
pub fn validate_retention_ms(retention_ms: i64) -> Result<(), ModelError> {
    range("retentionMs", "greater than 0", retention_ms, 1, i64::MAX)
}

/// Checks a maximum message size: 1 byte to 16 MiB.
pub fn validate_max_message_size(bytes: i64) -> Result<(), ModelError> {
    range("maxMessageSize", "between 1 and 16777216 bytes", bytes, 1, MAX_MESSAGE_SIZE_LIMIT)
}

/// Checks a group, consumer or producer id: non-empty, at most 255 characters, no control
/// characters. `field` is the JSON name used in the error.
pub fn validate_client_id(field: &'static str, value: &str) -> Result<(), ModelError> {
    let err = |reason| ModelError::InvalidId { field, value: value.to_owned(), reason };
    if value.is_empty() {
        return Err(err("must not be empty"));
    }
    if value.chars().count() > MAX_CLIENT_ID_LEN {
        return Err(err("must be at most 255 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(err("must not contain control characters"));
    }
    Ok(())
}

/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Checks an idempotency key: 1 to 128 bytes, no control characters. `field` is the JSON
/// name used in the error (`idempotencyKey`, `messages[3].idempotencyKey`, `Idempotency-Key`).
pub fn validate_idempotency_key(field: &'static str, value: &str) -> Result<(), ModelError> {
    let err = |reason| ModelError::InvalidId { field, value: value.to_owned(), reason };
    if value.is_empty() {
        return Err(err("must not be empty"));
    }
    if value.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(err("must be at most 128 bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(err("must not contain control characters"));
    }
    Ok(())
}

fn range(
    field: &'static str,
    expected: &'static str,
    value: i64,
    min: i64,
    max: i64,
) -> Result<(), ModelError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ModelError::OutOfRange { field, expected, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_topic(name: &str, ok: bool) {
        assert_eq!(validate_topic_name(name).is_ok(), ok, "topic name {name:?}");
    }

    #[test]
    fn topic_names() {
        let longest = format!("a{}", "b".repeat(248));
        let too_long = format!("a{}", "b".repeat(249));
        for (name, ok) in [
            ("orders", true),
            ("user-events", true),
            ("a", true),
            ("9lives", true),
            ("pay.v1_events-x", true),
            (longest.as_str(), true),
            (too_long.as_str(), false),
            ("", false),
            ("-orders", false),
            (".hidden", false),
            ("_x", false),
            ("has space", false),
            ("brace{x}", false),
            ("colon:x", false),
            ("slash/x", false),
            ("ünïcode", false),
            ("tab\tx", false),
        ] {
            check_topic(name, ok);
        }
    }

    #[test]
    fn numeric_ranges() {
        assert!(validate_partitions(0).is_err());
        assert!(validate_partitions(1).is_ok());
        assert!(validate_partitions(1024).is_ok());
        assert!(validate_partitions(1025).is_err());
        assert!(validate_replication_factor(0).is_err());
        assert!(validate_replication_factor(3).is_ok());
        assert!(validate_retention_ms(0).is_err());
        assert!(validate_retention_ms(-5).is_err());
        assert!(validate_retention_ms(1).is_ok());
        assert!(validate_max_message_size(0).is_err());
        assert!(validate_max_message_size(1).is_ok());
        assert!(validate_max_message_size(MAX_MESSAGE_SIZE_LIMIT).is_ok());
        assert!(validate_max_message_size(MAX_MESSAGE_SIZE_LIMIT + 1).is_err());
    }

    #[test]
    fn client_ids() {
        let longest = "é".repeat(255);
        let too_long = "x".repeat(256);
        for (id, ok) in [
            ("g1", true),
            ("order service/worker 7", true),
            (longest.as_str(), true),
            (too_long.as_str(), false),
            ("", false),
            ("bad\nid", false),
            ("nul\0", false),
        ] {
            assert_eq!(validate_client_id("groupId", id).is_ok(), ok, "id {id:?}");
        }
    }

    #[test]
    fn errors_name_their_field() {
        let err = validate_partitions(0).unwrap_err();
        assert_eq!(err.field(), "partitions");
        assert_eq!(err.to_string(), "partitions must be between 1 and 1024, got 0");
        assert_eq!(validate_client_id("consumerId", "").unwrap_err().field(), "consumerId");
        assert_eq!(validate_topic_name("").unwrap_err().field(), "name");
    }
}
