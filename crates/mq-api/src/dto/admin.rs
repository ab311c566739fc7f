//! Shapes of administration: topics, consumer groups and the consumers view.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mq_broker::{ConsumerInfo, GroupPartition, PartitionPosition};
use mq_model::{DeliveryMode, RetryPolicy, StartFrom, Topic, TopicStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /topics` (design §5.2.2): the topic config; absent fields take the broker's defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateTopic {
    /// 1 to 249 characters: letters, digits, `.`, `_` and `-`, starting with a letter or digit.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,248}$")]
    pub(crate) name: String,
    /// Free text.
    description: Option<String>,
    /// 1 to 1024.
    #[schema(minimum = 1, maximum = 1024)]
    partitions: Option<u32>,
    /// Kept for the design's shape; at least 1.
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 4_294_967_295_u64)]
    replication_factor: Option<u32>,
    /// How long messages are kept, in milliseconds.
    #[schema(minimum = 1)]
    retention_ms: Option<i64>,
    /// Largest value in bytes, 1 to 16 MiB.
    #[schema(minimum = 1, maximum = 16_777_216)]
    max_message_size: Option<i64>,
    /// Free settings; `encryption: aes-256-gcm` encrypts values at rest.
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
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TopicCreated {
    /// The topic's id (`topic_…`).
    topic_id: String,
    /// Its name.
    name: String,
    /// `active`.
    status: TopicStatus,
    /// When it was created.
    created_at: DateTime<Utc>,
}

impl From<Topic> for TopicCreated {
    fn from(t: Topic) -> Self {
        Self { topic_id: t.id, name: t.name, status: t.status, created_at: t.created_at }
    }
}

/// `PUT /topics/{name}`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateTopic {
    /// Free text.
    description: Option<String>,
    /// More partitions (never fewer), at most 1024; existing groups get the new ones.
    #[schema(minimum = 1, maximum = 1024)]
    partitions: Option<u32>,
    /// How long messages are kept, in milliseconds.
    #[schema(minimum = 1)]
    retention_ms: Option<i64>,
    /// Largest value in bytes, 1 to 16 MiB.
    #[schema(minimum = 1, maximum = 16_777_216)]
    max_message_size: Option<i64>,
    /// Free settings, replacing the old ones.
    config: Option<BTreeMap<String, String>>,
    /// `active` or `inactive`.
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateGroup {
    /// The group's id, unique within its topic: 1 to 255 characters, no control characters.
    #[schema(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,255}$")]
    group_id: String,
    /// The topic it reads.
    #[schema(min_length = 1)]
    topic_name: String,
    /// `latest` (default) or `earliest`.
    start_from: Option<StartFrom>,
    /// `shared` (default: a work queue) or `ordered` (one consumer per partition).
    delivery_mode: Option<DeliveryMode>,
    /// How long a delivery may stay unacknowledged, 1 ms to one day (default 30 s).
    #[schema(minimum = 1, maximum = 86_400_000)]
    ack_timeout_ms: Option<i64>,
    /// How long a consumer may stay silent before it counts as gone, 1 ms to one day
    /// (default 10 s).
    #[schema(minimum = 1, maximum = 86_400_000)]
    session_timeout_ms: Option<i64>,
    /// Retries after nacks and timeouts, then dead-lettering.
    retry_policy: Option<RetryPolicy>,
    /// Free settings.
    config: Option<BTreeMap<String, String>>,
}

/// `PUT /consumer-groups/{groupId}?topicName=`: the settings to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateGroup {
    /// The new retry policy, whole.
    retry_policy: Option<RetryPolicy>,
    /// 1 ms to one day.
    #[schema(minimum = 1, maximum = 86_400_000)]
    ack_timeout_ms: Option<i64>,
    /// 1 ms to one day.
    #[schema(minimum = 1, maximum = 86_400_000)]
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
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsumerOut {
    /// The consumer's id.
    consumer_id: String,
    /// Its group.
    group_id: String,
    /// The group's topic.
    topic_name: String,
    /// `active` while its heartbeats are recent.
    status: mq_model::ConsumerStatus,
    /// Its last fetch.
    last_heartbeat: DateTime<Utc>,
    /// The partitions it reads: every partition in a shared group, those it owns in an ordered
    /// group; none while it is not live.
    assigned_partitions: Vec<u32>,
    /// Positions of the partitions it reads.
    partitions: Vec<PositionOut>,
    /// Messages not yet delivered, over its partitions.
    lag: u64,
    /// When it first fetched.
    created_at: DateTime<Utc>,
}

/// Where a group stands in one partition.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PositionOut {
    /// The partition.
    partition: u32,
    /// Everything before it is acknowledged.
    committed_offset: u64,
    /// The next offset to deliver.
    next_offset: u64,
    /// The partition's next offset to append.
    end_offset: u64,
    /// Messages not yet delivered.
    lag: u64,
    /// Messages delivered and not yet acknowledged.
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

/// One partition of a group: its position, and the member that reads it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupPartitionOut {
    #[serde(flatten)]
    position: PositionOut,
    /// The live member that owns it in an ordered group; null in a shared group (every live
    /// member reads every partition) or when no member is live.
    owner: Option<String>,
}

impl From<GroupPartition> for GroupPartitionOut {
    fn from(p: GroupPartition) -> Self {
        Self { position: p.position.into(), owner: p.owner }
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
