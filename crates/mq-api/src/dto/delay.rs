//! Shapes of delayed messages: the delay fields of a message, the scheduled listing, cancelling
//! and rescheduling.

use chrono::{DateTime, Utc};
use mq_broker::{Delay, ScheduledMessage, ScheduledPage};
use mq_model::MessageType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiError;

/// The delay fields a message carries: `messageType`, `delaySeconds` and `deliverAt`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DelayFields<'a> {
    /// Where the fields sit in the body: `""` for a single message, `"messages[3]."` in a batch.
    pub(crate) prefix: &'a str,
    pub(crate) message_type: MessageType,
    pub(crate) delay_seconds: Option<f64>,
    pub(crate) deliver_at: Option<&'a str>,
}

impl DelayFields<'_> {
    /// When the message becomes visible: `None` to append it at once.
    ///
    /// Only the combination is checked here, so that the error names the message of a batch;
    /// the range (more than 0, at most the configured maximum, not in the past) is the broker's,
    /// which knows the limits.
    pub(crate) fn delay(&self) -> Result<Option<Delay>, ApiError> {
        let field = |name: &str| format!("{}{name}", self.prefix);
        let deliver_at =
            self.deliver_at.map(|raw| parse_time(&field("deliverAt"), raw)).transpose()?;
        match (self.message_type, self.delay_seconds, deliver_at) {
            (_, Some(_), Some(_)) => Err(ApiError::field(
                field("delaySeconds"),
                "give either delaySeconds or deliverAt, not both",
            )),
            // The design's send body carries `"delaySeconds": 0` on normal messages.
            (MessageType::Normal, None | Some(0.0), None) => Ok(None),
            (MessageType::Normal, Some(_), None) => Err(ApiError::field(
                field("delaySeconds"),
                "must be 0 or absent for a normal message; \
                 use messageType \"delay\" to delay a message",
            )),
            (MessageType::Normal, None, Some(_)) => Err(ApiError::field(
                field("deliverAt"),
                "is only for messageType \"delay\"; normal messages are delivered at once",
            )),
            (MessageType::Delay, None, None) => Err(ApiError::field(
                field("delaySeconds"),
                "a message of messageType \"delay\" needs delaySeconds or deliverAt",
            )),
            // Transactional messages are refused by the broker, whatever their delay.
            (MessageType::Delay | MessageType::Transaction, Some(seconds), None) => {
                Ok(Some(Delay::Seconds(seconds)))
            }
            (MessageType::Delay | MessageType::Transaction, None, Some(at)) => {
                Ok(Some(Delay::At(at)))
            }
            (MessageType::Transaction, None, None) => Ok(None),
        }
    }
}

/// An RFC 3339 time, read here rather than by serde so that the error says what is expected.
fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        ApiError::field(
            field,
            format!("must be an RFC 3339 time such as 2024-01-15T10:30:00Z, got {raw:?}"),
        )
    })
}

/// `PUT /messages/{messageId}/schedule`: the new time, as a delay from now or an instant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Reschedule {
    /// Seconds from now, fractions allowed.
    delay_seconds: Option<f64>,
    /// An RFC 3339 time. Give this or `delaySeconds`, not both.
    #[schema(format = DateTime)]
    deliver_at: Option<String>,
}

impl Reschedule {
    /// The new time; exactly one of the two fields.
    pub(crate) fn delay(&self) -> Result<Delay, ApiError> {
        let fields = DelayFields {
            prefix: "",
            message_type: MessageType::Delay,
            delay_seconds: self.delay_seconds,
            deliver_at: self.deliver_at.as_deref(),
        };
        // A delay message without either is refused by `delay`, so `None` cannot come back.
        fields
            .delay()?
            .ok_or_else(|| ApiError::field("delaySeconds", "give delaySeconds or deliverAt"))
    }
}

/// A scheduled message, as publishing and rescheduling answer it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduledOut {
    /// The message's id.
    message_id: String,
    /// Its topic.
    topic_name: String,
    /// Its partition.
    partition: u32,
    /// `scheduled`.
    #[schema(pattern = "^scheduled$")]
    status: &'static str,
    /// When it becomes visible.
    deliver_at: DateTime<Utc>,
}

impl From<ScheduledMessage> for ScheduledOut {
    fn from(m: ScheduledMessage) -> Self {
        Self {
            message_id: m.message_id,
            topic_name: m.topic_name,
            partition: m.partition,
            status: "scheduled",
            deliver_at: m.deliver_at,
        }
    }
}

/// `GET /topics/{name}/scheduled`: a page of scheduled messages, earliest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduledPageOut {
    /// Scheduled messages, earliest first.
    items: Vec<ScheduledItem>,
    /// `null` on the last page.
    next_cursor: Option<String>,
}

/// A message waiting to be due.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ScheduledItem {
    /// The message's id.
    message_id: String,
    /// Its partition.
    partition: u32,
    /// Its key, if it has one.
    key: Option<String>,
    /// When it becomes visible.
    deliver_at: DateTime<Utc>,
}

impl From<ScheduledPage> for ScheduledPageOut {
    fn from(page: ScheduledPage) -> Self {
        let items = page
            .items
            .into_iter()
            .map(|m| ScheduledItem {
                message_id: m.message_id,
                partition: m.partition,
                key: m.key,
                deliver_at: m.deliver_at,
            })
            .collect();
        Self { items, next_cursor: page.next_cursor }
    }
}

/// `DELETE /messages/{messageId}`: the message will not be delivered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelledOut {
    /// The message's id.
    pub(crate) message_id: String,
    /// `cancelled`.
    #[schema(pattern = "^cancelled$")]
    pub(crate) status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        message_type: MessageType,
        delay_seconds: Option<f64>,
        deliver_at: Option<&str>,
        expected: Result<Option<Delay>, &str>,
    ) {
        let fields =
            DelayFields { prefix: "messages[2].", message_type, delay_seconds, deliver_at };
        let got = fields.delay().map_err(|e| e.to_string());
        match (&got, &expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(text), Err(words)) => assert!(text.contains(words), "{text:?} lacks {words:?}"),
            _ => panic!("{message_type:?} {delay_seconds:?} {deliver_at:?}: got {got:?}"),
        }
    }

    #[test]
    fn delay_fields_combine_or_are_refused_by_name() {
        use MessageType::{Delay as D, Normal as N, Transaction as T};
        let at = "2030-01-02T03:04:05.5+01:00";
        let at_utc = DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&Utc);
        check(N, None, None, Ok(None));
        check(N, Some(0.0), None, Ok(None));
        check(N, Some(5.0), None, Err("invalid messages[2].delaySeconds: must be 0 or absent"));
        check(N, Some(-1.0), None, Err("messages[2].delaySeconds"));
        check(N, None, Some(at), Err("invalid messages[2].deliverAt: is only for messageType"));
        check(D, Some(1.5), None, Ok(Some(Delay::Seconds(1.5))));
        // Ranges are the broker's: the API passes them on.
        check(D, Some(-3.0), None, Ok(Some(Delay::Seconds(-3.0))));
        check(D, None, Some(at), Ok(Some(Delay::At(at_utc))));
        check(D, None, None, Err("needs delaySeconds or deliverAt"));
        check(D, Some(1.0), Some(at), Err("not both"));
        check(N, Some(0.0), Some(at), Err("not both"));
        check(D, None, Some("tomorrow"), Err("invalid messages[2].deliverAt: must be an RFC 3339"));
        check(D, None, Some("2030-01-02 03:04:05"), Err("RFC 3339"));
        check(T, None, None, Ok(None));
    }
}
