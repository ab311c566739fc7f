//! Shapes of administration: topics, consumer groups and the consumers view.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mq_broker::{ConsumerInfo, PartitionPosition};
use mq_model::{DeliveryMode, RetryPolicy, StartFrom, Topic, TopicStatus};
use serde::{Deserialize, Serialize};

/// `POST /topics` (design §5.2.2): the topic config; absent fields take the broker's defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateTopic {
    pub(crate) name: String,
    description: Option<String>,
    partitions: Option<u32>,
    replication_factor: Option<u32>,
    retention_ms: Option<i64>,
    max_message_size: Option<i64>,
    config: Option<BTreeMap<String, String>>,
}

impl CreateTopic {
    /// The broker's defaults for the name, overridden by every field given.
    pub(crate) fn into_config(self, defaults: mq_model::TopicConfig) -> mq_model::TopicConfig {
        mq_model::TopicConfig {
            name: self.name,
            description: self.description.unwrap_or(defaults.description),
            partitions: self.partitions.unwrap_or(defaults.partitions),
            replication_factor: self.replication_factor.unwrap_or(defaults.replication_factor),
            retention_ms: self.retention_ms.unwrap_or(defaults.retention_ms),
            max_message_size: self.max_message_size.unwrap_or(defaults.max_message_size),
            config: self.config.unwrap_or(defaults.config),
        }
    }
}

/// A created topic, as design §5.2.2 answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TopicCreated {
    topic_id: String,
    name: String,
    status: TopicStatus,
    created_at: DateTime<Utc>,
}

impl From<Topic> for TopicCreated {
    fn from(t: Topic) -> Self {
        Self { topic_id: t.id, name: t.name, status: t.status, created_at: t.created_at }
    }
}

/// `PUT /topics/{name}`: only the fields given change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateTopic {
    description: Option<String>,
    partitions: Option<u32>,
    retention_ms: Option<i64>,
    max_message_size: Option<i64>,
    config: Option<BTreeMap<String, String>>,
    status: Option<TopicStatus>,
}

impl From<UpdateTopic> for mq_broker::TopicUpdate {
    fn from(u: UpdateTopic) -> Self {
        Self {
            description: u.description,
            partitions: u.partitions,
            retention_ms: u.retention_ms,
            max_message_size: u.max_message_size,
            config: u.config,
            status: u.status,
        }
    }
}

/// `POST /consumer-groups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateGroup {
    group_id: String,
    topic_name: String,
    start_from: Option<StartFrom>,
    delivery_mode: Option<DeliveryMode>,
    ack_timeout_ms: Option<i64>,
    session_timeout_ms: Option<i64>,
    retry_policy: Option<RetryPolicy>,
    config: Option<BTreeMap<String, String>>,
}

/// `PUT /consumer-groups/{groupId}?topicName=`: the settings to change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateGroup {
    retry_policy: Option<RetryPolicy>,
    ack_timeout_ms: Option<i64>,
    session_timeout_ms: Option<i64>,
}

impl From<UpdateGroup> for mq_broker::GroupUpdate {
    fn from(g: UpdateGroup) -> Self {
        Self {
            retry_policy: g.retry_policy,
            ack_timeout_ms: g.ack_timeout_ms,
            session_timeout_ms: g.session_timeout_ms,
        }
    }
}

impl CreateGroup {
    /// The topic the group is for.
    pub(crate) fn topic_name(&self) -> &str {
        &self.topic_name
    }
}

impl From<CreateGroup> for mq_broker::GroupSpec {
    fn from(g: CreateGroup) -> Self {
        let defaults = mq_broker::GroupSpec::new(g.topic_name, g.group_id);
        Self {
            start_from: g.start_from.unwrap_or(defaults.start_from),
            delivery_mode: g.delivery_mode.unwrap_or(defaults.delivery_mode),
            ack_timeout_ms: g.ack_timeout_ms.unwrap_or(defaults.ack_timeout_ms),
            session_timeout_ms: g.session_timeout_ms.unwrap_or(defaults.session_timeout_ms),
            retry_policy: g.retry_policy.unwrap_or(defaults.retry_policy),
            config: g.config.unwrap_or(defaults.config),
            ..defaults
        }
    }
}

/// A consumer with its assignment and positions (`GET /consumers`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsumerOut {
    consumer_id: String,
    group_id: String,
    topic_name: String,
    status: mq_model::ConsumerStatus,
    last_heartbeat: DateTime<Utc>,
    assigned_partitions: Vec<u32>,
    partitions: Vec<PositionOut>,
    lag: u64,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PositionOut {
    partition: u32,
    committed_offset: u64,
    next_offset: u64,
    end_offset: u64,
    lag: u64,
    pending: u64,
}

impl From<PartitionPosition> for PositionOut {
    fn from(p: PartitionPosition) -> Self {
        Self {
            partition: p.partition,
            committed_offset: p.committed_offset,
            next_offset: p.next_offset,
            end_offset: p.end_offset,
            lag: p.lag,
            pending: p.pending,
        }
    }
}

impl From<ConsumerInfo> for ConsumerOut {
    fn from(c: ConsumerInfo) -> Self {
        Self {
            consumer_id: c.consumer_id,
            group_id: c.group_id,
            topic_name: c.topic_name,
            status: c.status,
            last_heartbeat: c.last_heartbeat,
            assigned_partitions: c.assigned_partitions,
            partitions: c.partitions.into_iter().map(PositionOut::from).collect(),
            lag: c.lag,
            created_at: c.created_at,
        }
    }
}
