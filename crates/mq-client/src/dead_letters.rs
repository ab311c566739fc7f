//! Dead letters: list, show, delete, purge by filter, and retry (redrive) to their group.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mq_model::DeliveryAttempt;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::time;
use crate::error::Result;
use crate::value::{payload, read_as, ValueEncoding};
use crate::{Client, Paged};

/// A message that failed past its group's retry limit (or was nacked with `dead_letter`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeadLetter {
    /// `dlq_…`.
    pub id: String,
    /// Where the message was published.
    pub original_topic_name: String,
    /// Its id.
    pub original_message_id: String,
    /// The group that gave up on it.
    pub consumer_group_id: String,
    /// The last failure's reason.
    pub failure_reason: String,
    /// Retries it had after the first delivery.
    pub retry_count: u32,
    /// Its value, as [`crate::StoredMessage::value`] shows values.
    pub message_content: Value,
    /// `Some(Base64)` when `message_content` is base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<ValueEncoding>,
    /// Its headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// When it became a dead letter.
    pub failed_at: DateTime<Utc>,
    /// When the record was written.
    pub created_at: DateTime<Utc>,
    /// Its partition.
    pub partition: u32,
    /// Its offset.
    pub offset: u64,
    /// Its key.
    pub message_key: Option<String>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// Every failed delivery: when, by which consumer, why.
    #[serde(default)]
    pub attempts: Vec<DeliveryAttempt>,
    /// Dead, or being retried right now.
    pub status: DeadLetterStatus,
}

impl DeadLetter {
    /// The payload as bytes, as [`crate::StoredMessage::bytes`] reads it.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        payload(&self.message_content, self.content_encoding)
    }

    /// The content read as `T`.
    pub fn content_as<T: DeserializeOwned>(&self) -> Result<T> {
        read_as(&self.message_content)
    }
}

/// Whether a dead letter is being retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DeadLetterStatus {
    /// Waiting for a decision.
    Dead,
    /// A retry of it is under way.
    Retrying,
}

/// Which dead letters (`GET` and `DELETE /dead-letters`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// Of this topic.
    pub topic_name: Option<String>,
    /// Of this group.
    pub group_id: Option<String>,
    /// Failed at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Failed before this.
    pub to: Option<DateTime<Utc>>,
}

/// What to send back to its group (`POST /dead-letters/retry`).
#[derive(Debug, Clone, PartialEq)]
pub enum RetrySelection {
    /// These dead letters.
    Ids(Vec<String>),
    /// All of a group's, optionally those that failed within a range.
    Group {
        /// The topic.
        topic_name: String,
        /// The group.
        group_id: String,
        /// Failed at or after this.
        from: Option<DateTime<Utc>>,
        /// Failed before this.
        to: Option<DateTime<Utc>>,
    },
}

/// What a retry did.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RetryReport {
    /// Sent back to their group.
    pub retried: u64,
    /// Retried already by another (repeated or racing) request.
    pub already_retried: u64,
    /// Ids that name no dead letter.
    #[serde(default)]
    pub not_found: Vec<String>,
    /// Those that cannot go back, and why.
    #[serde(default)]
    pub failed: Vec<RetryFailure>,
    /// When the last is redelivered (later than now with a rate).
    pub last_due_at: Option<DateTime<Utc>>,
}

/// A dead letter that could not be retried.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct RetryFailure {
    /// The dead letter.
    pub id: String,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Deserialize)]
struct Deleted {
    deleted: u64,
}

impl Client {
    /// `GET /dead-letters`: a page of dead letters, newest first.
    pub async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Option<u64>,
        page_size: Option<u64>,
    ) -> Result<Paged<DeadLetter>> {
        let call = self
            .api(Method::GET, &["dead-letters"])
            .query("topicName", filter.topic_name.as_deref())
            .query("groupId", filter.group_id.as_deref())
            .query("from", time(filter.from))
            .query("to", time(filter.to))
            .query("page", page)
            .query("pageSize", page_size);
        self.data(call).await
    }

    /// `GET /dead-letters/{id}`.
    pub async fn get_dead_letter(&self, id: &str) -> Result<DeadLetter> {
        self.data(self.api(Method::GET, &["dead-letters", id])).await
    }

    /// `DELETE /dead-letters/{id}`: drops one dead letter.
    pub async fn delete_dead_letter(&self, id: &str) -> Result<()> {
        let _: Value = self.data(self.api(Method::DELETE, &["dead-letters", id])).await?;
        Ok(())
    }

    /// `DELETE /dead-letters?…`: drops every dead letter the filter selects and returns how
    /// many. An empty filter is refused by the server (400); use
    /// [`Client::purge_all_dead_letters`] to mean it.
    pub async fn purge_dead_letters(&self, filter: &DeadLetterFilter) -> Result<u64> {
        let call = self
            .api(Method::DELETE, &["dead-letters"])
            .query("topicName", filter.topic_name.as_deref())
            .query("groupId", filter.group_id.as_deref())
            .query("from", time(filter.from))
            .query("to", time(filter.to));
        Ok(self.data::<Deleted>(call).await?.deleted)
    }

    /// `DELETE /dead-letters?all=true`: drops every dead letter of every topic.
    pub async fn purge_all_dead_letters(&self) -> Result<u64> {
        let call = self.api(Method::DELETE, &["dead-letters"]).query("all", Some(true));
        Ok(self.data::<Deleted>(call).await?.deleted)
    }

    /// `POST /dead-letters/retry`: sends dead letters back to their group (only that group
    /// sees them again), at most `rate_per_second` per second when given. Each dead letter is
    /// retried at most once, however often this is called; not retried by the client once
    /// sent, so that the report describes one request.
    pub async fn retry_dead_letters(
        &self,
        selection: &RetrySelection,
        rate_per_second: Option<f64>,
    ) -> Result<RetryReport> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Body<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            ids: Option<&'a [String]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            topic_name: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            group_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            from: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            to: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            rate_per_second: Option<f64>,
        }
        let body = match selection {
            RetrySelection::Ids(ids) => Body {
                ids: Some(ids),
                topic_name: None,
                group_id: None,
                from: None,
                to: None,
                rate_per_second,
            },
            RetrySelection::Group { topic_name, group_id, from, to } => Body {
                ids: None,
                topic_name: Some(topic_name),
                group_id: Some(group_id),
                from: time(*from),
                to: time(*to),
                rate_per_second,
            },
        };
        self.data(self.api(Method::POST, &["dead-letters", "retry"]).json(&body)?).await
    }
}
