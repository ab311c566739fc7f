//! Validation rules shared by the models and configs, one function per rule.

use std::collections::BTreeMap;

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

/// Longest routing key, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// Most headers one message may carry.
pub const MAX_HEADERS: usize = 64;
/// Longest header name, in bytes.
pub const MAX_HEADER_NAME_LEN: usize = 256;
/// Longest header value, in bytes.
pub const MAX_HEADER_VALUE_LEN: usize = 8 * 1024;

/// Checks a message's routing key and headers against their bounds: a key of at most 1024
/// bytes, at most 64 headers, names of at most 256 bytes and values of at most 8 KiB. Together
/// with the topic's `maxMessageSize` over value, key and headers, these keep every accepted
/// message small enough to be delivered, browsed and dead-lettered whole. The error names
/// `key` or `headers` (the offending header's name is in the reason).
pub fn validate_message_parts(
    key: Option<&str>,
    headers: &BTreeMap<String, String>,
) -> Result<(), ModelError> {
    if let Some(key) = key {
        if key.len() > MAX_KEY_LEN {
            return Err(ModelError::Invalid {
                field: "key",
                reason: format!("must be at most {MAX_KEY_LEN} bytes, got {}", key.len()),
            });
        }
    }
    let invalid = |reason: String| ModelError::Invalid { field: "headers", reason };
    if headers.len() > MAX_HEADERS {
        return Err(invalid(format!(
            "may hold at most {MAX_HEADERS} headers, got {}",
            headers.len()
        )));
    }
    for (name, value) in headers {
        if name.len() > MAX_HEADER_NAME_LEN {
            return Err(invalid(format!(
                "names must be at most {MAX_HEADER_NAME_LEN} bytes; {:?}... is {} bytes",
                shorten(name),
                name.len()
            )));
        }
        if value.len() > MAX_HEADER_VALUE_LEN {
            return Err(invalid(format!(
                "values must be at most {MAX_HEADER_VALUE_LEN} bytes; the value of {name:?} is {} \
                 bytes",
                value.len()
            )));
        }
    }
    Ok(())
}

/// The first 32 characters of `text`, to name a long value in an error.
fn shorten(text: &str) -> &str {
    text.char_indices().nth(32).map_or(text, |(end, _)| &text[..end])
}

/// The bytes a message counts against its topic's `maxMessageSize`: value, key, and every
/// header's name and value.
pub fn message_size(value: usize, key: Option<&str>, headers: &BTreeMap<String, String>) -> usize {
    let headers: usize = headers.iter().map(|(name, value)| name.len() + value.len()).sum();
    value + key.map_or(0, str::len) + headers
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
    fn message_parts_are_bounded() {
        let none = BTreeMap::new();
        assert!(validate_message_parts(Some(&"k".repeat(MAX_KEY_LEN)), &none).is_ok());
        let err = validate_message_parts(Some(&"k".repeat(MAX_KEY_LEN + 1)), &none).unwrap_err();
        assert_eq!(err.field(), "key");
        assert!(err.to_string().contains("1024"), "{err}");

        let many: BTreeMap<String, String> =
            (0..=MAX_HEADERS).map(|i| (format!("h{i}"), String::new())).collect();
        let err = validate_message_parts(None, &many).unwrap_err();
        assert_eq!(err.field(), "headers");
        assert!(err.to_string().contains("at most 64 headers, got 65"), "{err}");

        let long_name = BTreeMap::from([("n".repeat(MAX_HEADER_NAME_LEN + 1), String::new())]);
        assert_eq!(validate_message_parts(None, &long_name).unwrap_err().field(), "headers");
        let long_value =
            BTreeMap::from([("trace".to_owned(), "v".repeat(MAX_HEADER_VALUE_LEN + 1))]);
        let err = validate_message_parts(None, &long_value).unwrap_err();
        assert!(err.to_string().contains("\"trace\""), "{err}");
        let largest: BTreeMap<String, String> = (0..MAX_HEADERS)
            .map(|i| (format!("{i:0>256}"), "v".repeat(MAX_HEADER_VALUE_LEN)))
            .collect();
        assert!(validate_message_parts(Some(&"k".repeat(MAX_KEY_LEN)), &largest).is_ok());
        assert_eq!(message_size(10, Some("key"), &BTreeMap::from([("a".into(), "bc".into())])), 16);
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
