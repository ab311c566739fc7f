//! The one error type of this crate: a model value that breaks a validation rule.

/// A model or config value that breaks one of the validation rules.
///
/// Each variant names the offending field (in its JSON spelling) so that the API can tell a
/// client exactly which field to fix and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A topic name that is empty, too long, or uses a character outside `[A-Za-z0-9._-]`.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The rejected name.
        name: String,
        /// Why it was rejected, as a sentence fragment.
        reason: &'static str,
    },
    /// A numeric field outside its allowed range.
    #[error("{field} must be {expected}, got {value}")]
    OutOfRange {
        /// The field's JSON name, e.g. `partitions`.
        field: &'static str,
        /// The allowed range in words, e.g. `between 1 and 1024`.
        expected: &'static str,
        /// The rejected value.
        value: i64,
    },
    /// A group, consumer or producer id that is empty, too long or has control characters.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidId {
        /// The field's JSON name, e.g. `groupId`.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A value that breaks a rule other than a numeric range, e.g. a field that does not fit
    /// the others.
    #[error("{field} {reason}")]
    Invalid {
        /// The field's JSON name, e.g. `retryPolicy.delaysMs`.
        field: &'static str,
        /// Why it was rejected, as a sentence fragment.
        reason: String,
    },
}

impl ModelError {
    /// The JSON name of the field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            ModelError::InvalidTopicName { .. } => "name",
            ModelError::OutOfRange { field, .. }
            | ModelError::InvalidId { field, .. }
            | ModelError::Invalid { field, .. } => field,
        }
    }
}
