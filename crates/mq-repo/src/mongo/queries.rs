//! Query documents: what each listing or purge filter means in MongoDB terms, with the sort
//! order the repository traits promise (every sort ends in a unique key, so pages are stable).

use mongodb::bson::{doc, Document};

use super::docs::to_bson_time_ceil;
use crate::metadata::{ConsumerFilter, DeadLetterFilter, GroupFilter, TopicFilter};

/// A `$regex` matching strings that start with `prefix` literally.
///
/// Every ASCII character other than a letter or digit is escaped: a backslash before such a
/// character always means the character itself in PCRE, and an anchored regex without
/// metacharacters lets MongoDB use the index as a range scan.
fn prefix_regex(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() * 2 + 1);
    pattern.push('^');
    for c in prefix.chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// Filter and sort of a topic listing: by name.
pub(super) fn topic_query(filter: &TopicFilter) -> (Document, Document) {
    let mut query = Document::new();
    if let Some(status) = filter.status {
        query.insert("status", status.as_str());
    }
    if let Some(prefix) = filter.name_prefix.as_deref().filter(|p| !p.is_empty()) {
        query.insert("name", doc! { "$regex": prefix_regex(prefix) });
    }
    (query, doc! { "name": 1 })
}

/// Filter and sort of a group listing: by topic name, then group id.
pub(super) fn group_query(filter: &GroupFilter) -> (Document, Document) {
    let mut query = Document::new();
    if let Some(topic) = &filter.topic_name {
        query.insert("topic_name", topic.as_str());
    }
    if let Some(status) = filter.status {
        query.insert("status", status.as_str());
    }
    (query, doc! { "topic_name": 1, "group_id": 1 })
}

/// Filter and sort of a consumer listing: by topic name, group id, consumer id.
pub(super) fn consumer_query(filter: &ConsumerFilter) -> (Document, Document) {
    let mut query = Document::new();
    if let Some(topic) = &filter.topic_name {
        query.insert("topic_name", topic.as_str());
    }
    if let Some(group) = &filter.group_id {
        query.insert("group_id", group.as_str());
    }
    if let Some(status) = filter.status {
        query.insert("status", status.as_str());
    }
    (query, doc! { "topic_name": 1, "group_id": 1, "consumer_id": 1 })
}

/// Filter and sort of a dead-letter listing: newest `failed_at` first, ties by larger id.
pub(super) fn dead_letter_query(filter: &DeadLetterFilter) -> (Document, Document) {
    (dead_letter_filter(filter), doc! { "failed_at": -1, "_id": -1 })
}

/// Filter of a dead-letter listing or purge: `from` inclusive, `to` exclusive on `failed_at`.
pub(super) fn dead_letter_filter(filter: &DeadLetterFilter) -> Document {
    let mut query = Document::new();
    if let Some(topic) = &filter.topic_name {
        query.insert("original_topic_name", topic.as_str());
    }
    if let Some(group) = &filter.group_id {
        query.insert("consumer_group_id", group.as_str());
    }
    let mut failed_at = Document::new();
    if let Some(from) = filter.from {
        failed_at.insert("$gte", to_bson_time_ceil(from));
    }
    if let Some(to) = filter.to {
        failed_at.insert("$lt", to_bson_time_ceil(to));
    }
    if !failed_at.is_empty() {
        query.insert("failed_at", failed_at);
    }
    query
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::super::docs::to_bson_time;
    use super::*;

    #[test]
    fn prefix_regex_escapes_everything_but_letters_and_digits() {
        for (prefix, pattern) in [
            ("orders", "^orders"),
            ("a.b-c_d", r"^a\.b\-c\_d"),
            ("x*(y)[z]$^|?+{}\\", r"^x\*\(y\)\[z\]\$\^\|\?\+\{\}\\"),
            ("é", "^é"),
        ] {
            assert_eq!(prefix_regex(prefix), pattern, "{prefix}");
        }
    }

    #[test]
    fn dead_letter_filter_bounds_failed_at() {
        let from = Utc.timestamp_millis_opt(1_000).unwrap();
        let to = Utc.timestamp_millis_opt(2_000).unwrap();
        let filter = DeadLetterFilter {
            topic_name: Some("t".into()),
            group_id: None,
            from: Some(from),
            to: Some(to),
        };
        let expected = doc! {
            "original_topic_name": "t",
            "failed_at": { "$gte": to_bson_time(from), "$lt": to_bson_time(to) },
        };
        assert_eq!(dead_letter_filter(&filter), expected);
        assert_eq!(dead_letter_filter(&DeadLetterFilter::default()), Document::new());
    }
}
