//! Topics and consumer groups: create, list, show, update, delete.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mq_model::{ConsumerGroup, DeliveryMode, RetryPolicy, StartFrom, Topic, TopicStatus};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::{Client, Paged};

/// A topic to create (`POST /topics`); absent fields take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTopic {
    /// `[A-Za-z0-9._-]`, up to 249 characters.
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// 1 to 1024 (default 1); can grow later, never shrink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitions: Option<u32>,
    /// Kept for the design's shape; the stores replicate on their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<u32>,
    /// How long messages are kept (default seven days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_ms: Option<i64>,
    /// The largest value in bytes (default 1 MiB, at most 16 MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_size: Option<i64>,
    /// Free-form settings; `encryption: aes-256-gcm` seals values at rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
}

impl CreateTopic {
    /// A topic named `name` with the server's defaults.
    pub fn new(name: impl Into<String>) -> CreateTopic {
        CreateTopic { name: name.into(), ..CreateTopic::default() }
    }

    /// With `partitions` partitions.
    pub fn partitions(mut self, partitions: u32) -> CreateTopic {
        self.partitions = Some(partitions);
        self
    }
}

/// A created topic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TopicCreated {
    /// `topic_…`.
    pub topic_id: String,
    /// The name.
    pub name: String,
    /// `active`.
    pub status: TopicStatus,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Changes to a topic (`PUT /topics/{name}`): only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTopic {
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// More partitions (existing groups get them too); fewer is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitions: Option<u32>,
    /// How long messages are kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_ms: Option<i64>,
    /// The largest value in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_size: Option<i64>,
    /// Replaces the free-form settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
    /// `active` or `inactive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TopicStatus>,
}

/// Which topics to list (`GET /topics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicQuery {
    /// Only topics of this status.
    pub status: Option<TopicStatus>,
    /// Only names starting with this.
    pub prefix: Option<String>,
    /// The page, from 1.
    pub page: Option<u64>,
    /// Items per page (server default 20, at most 1000).
    pub page_size: Option<u64>,
}

/// A consumer group to create (`POST /consumer-groups`); absent fields take the server's
/// defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateGroup {
    /// The group's id, unique within its topic.
    pub group_id: String,
    /// The topic it reads.
    pub topic_name: String,
    /// `earliest` or `latest` (default): where a new group starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_from: Option<StartFrom>,
    /// `shared` (default, a work queue) or `ordered` (a partition per member, in order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_mode: Option<DeliveryMode>,
    /// An unacknowledged delivery comes back after this long (default 30000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_timeout_ms: Option<i64>,
    /// A consumer is live this long after its last fetch (default 10000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_timeout_ms: Option<i64>,
    /// Retries and backoff before a message becomes a dead letter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Free-form settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
}

impl CreateGroup {
    /// Group `group` on `topic` with the server's defaults.
    pub fn new(topic: impl Into<String>, group: impl Into<String>) -> CreateGroup {
        CreateGroup { topic_name: topic.into(), group_id: group.into(), ..CreateGroup::default() }
    }

    /// Starting from `start`.
    pub fn start_from(mut self, start: StartFrom) -> CreateGroup {
        self.start_from = Some(start);
        self
    }
}

/// Changes to a group (`PUT /consumer-groups/{groupId}`): only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateGroup {
    /// The new retry policy, whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// The new ack timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_timeout_ms: Option<i64>,
    /// The new session timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_timeout_ms: Option<i64>,
}

/// Which groups to list (`GET /consumer-groups`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupQuery {
    /// Only this topic's.
    pub topic_name: Option<String>,
    /// The page, from 1.
    pub page: Option<u64>,
    /// Items per page (server default 20, at most 1000).
    pub page_size: Option<u64>,
}

/// One partition of a group (`GET /consumer-groups/{groupId}/partitions`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GroupPartition {
    /// The group's position in it.
    #[serde(flatten)]
    pub position: crate::PartitionPosition,
    /// The live member that owns it in an ordered group; `None` in a shared group (every live
    /// member reads every partition) or when no member is live.
    pub owner: Option<String>,
}

impl Client {
    /// `GET /topics`: a page of topics, filtered by status and name prefix.
    pub async fn list_topics(&self, query: &TopicQuery) -> Result<Paged<Topic>> {
        let call = self
            .api(Method::GET, &["topics"])
            .query("status", query.status.map(TopicStatus::as_str))
            .query("prefix", query.prefix.as_deref())
            .query("page", query.page)
            .query("pageSize", query.page_size);
        self.data(call).await
    }

    /// `POST /topics`. A 409 when the name is taken. Not retried once sent (a repeat would
    /// answer 409).
    pub async fn create_topic(&self, topic: &CreateTopic) -> Result<TopicCreated> {
        self.data(self.api(Method::POST, &["topics"]).json(topic)?).await
    }

    /// `GET /topics/{name}`. A 404 when there is none.
    pub async fn get_topic(&self, name: &str) -> Result<Topic> {
        self.data(self.api(Method::GET, &["topics", name])).await
    }

    /// `PUT /topics/{name}`: returns the topic as it is now.
    pub async fn update_topic(&self, name: &str, update: &UpdateTopic) -> Result<Topic> {
        self.data(self.api(Method::PUT, &["topics", name]).json(update)?).await
    }

    /// `DELETE /topics/{name}`: the topic, its messages and its groups. A 404 when there is
    /// none (or, after a retry, when the first attempt deleted it).
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let _: Value = self.data(self.api(Method::DELETE, &["topics", name])).await?;
        Ok(())
    }

    /// `POST /consumer-groups`. A 409 when the topic has a group of that id. Not retried
    /// once sent.
    pub async fn create_group(&self, group: &CreateGroup) -> Result<ConsumerGroup> {
        self.data(self.api(Method::POST, &["consumer-groups"]).json(group)?).await
    }

    /// `GET /consumer-groups`: a page of groups, of one topic or of all.
    pub async fn list_groups(&self, query: &GroupQuery) -> Result<Paged<ConsumerGroup>> {
        let call = self
            .api(Method::GET, &["consumer-groups"])
            .query("topicName", query.topic_name.as_deref())
            .query("page", query.page)
            .query("pageSize", query.page_size);
        self.data(call).await
    }

    /// `GET /consumer-groups/{groupId}?topicName=`.
    pub async fn get_group(&self, topic: &str, group: &str) -> Result<ConsumerGroup> {
        let call =
            self.api(Method::GET, &["consumer-groups", group]).query("topicName", Some(topic));
        self.data(call).await
    }

    /// `PUT /consumer-groups/{groupId}?topicName=`: returns the group as it is now.
    pub async fn update_group(
        &self,
        topic: &str,
        group: &str,
        update: &UpdateGroup,
    ) -> Result<ConsumerGroup> {
        let call = self
            .api(Method::PUT, &["consumer-groups", group])
            .query("topicName", Some(topic))
            .json(update)?;
        self.data(call).await
    }

    /// `GET /consumer-groups/{groupId}/partitions?topicName=`: where the group stands in each
    /// partition, and which member reads it, whether or not a member is live.
    pub async fn group_partitions(&self, topic: &str, group: &str) -> Result<Vec<GroupPartition>> {
        let call = self
            .api(Method::GET, &["consumer-groups", group, "partitions"])
            .query("topicName", Some(topic));
        self.data(call).await
    }

    /// `DELETE /consumer-groups/{groupId}?topicName=`.
    pub async fn delete_group(&self, topic: &str, group: &str) -> Result<()> {
        let call =
            self.api(Method::DELETE, &["consumer-groups", group]).query("topicName", Some(topic));
        let _: Value = self.data(call).await?;
        Ok(())
    }
}
