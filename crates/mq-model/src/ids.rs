//! Identifiers: a kind prefix plus a time-ordered UUID, e.g. `topic_0190f5c4...`.

/// What an id names; decides its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A topic (`topic_`).
    Topic,
    /// A message (`msg_`).
    Message,
    /// A consumer group (`group_`).
    Group,
    /// A consumer (`consumer_`).
    Consumer,
    /// A dead letter (`dlq_`).
    DeadLetter,
    /// A transaction (`txn_`).
    Transaction,
    /// An alert (`alert_`).
    Alert,
    /// An audit record (`audit_`).
    Audit,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::Topic => "topic_",
            IdKind::Message => "msg_",
            IdKind::Group => "group_",
            IdKind::Consumer => "consumer_",
            IdKind::DeadLetter => "dlq_",
            IdKind::Transaction => "txn_",
            IdKind::Alert => "alert_",
            IdKind::Audit => "audit_",
        }
    }
}

/// A new unique id of the given kind.
///
/// UUID v7 makes ids sort by creation time, which keeps index inserts local and lets a reader
/// see roughly when something was made.
pub fn new_id(kind: IdKind) -> String {
    format!("{}{}", kind.prefix(), uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_unique_and_time_ordered() {
        let a = new_id(IdKind::Message);
        let b = new_id(IdKind::Message);
        assert!(a.starts_with("msg_"));
        assert_eq!(a.len(), 4 + 32);
        assert_ne!(a, b);
        assert!(a < b, "v7 ids sort by creation: {a} < {b}");
        assert!(new_id(IdKind::Topic).starts_with("topic_"));
    }
}
