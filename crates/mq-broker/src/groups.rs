//! Consumer group management: a group is a metadata record plus a log-level group on every
//! partition of its topic.

use std::collections::BTreeMap;

use mq_model::{
    new_id, ConsumerGroup, DeliveryMode, GroupStatus, IdKind, Page, Paged, RetryPolicy, StartFrom,
    Topic, DEFAULT_ACK_TIMEOUT_MS, DEFAULT_SESSION_TIMEOUT_MS,
};
use mq_repo::{GroupFilter, RepoError, StartPosition, TopicRef};

use crate::{Broker, BrokerError, BrokerResult};

/// A consumer group to create.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// The group's id, unique within the topic.
    pub group_id: String,
    /// The topic it reads.
    pub topic_name: String,
    /// Where it starts: the oldest stored message or only new ones.
    pub start_from: StartFrom,
    /// `shared` (work queue) or `ordered` (one consumer per partition, in order).
    pub delivery_mode: DeliveryMode,
    /// How long a delivery may stay unacknowledged before it is delivered again.
    pub ack_timeout_ms: i64,
    /// How long a consumer may stay silent before it is considered gone.
    pub session_timeout_ms: i64,
    /// Retries and their backoff before a failed message becomes a dead letter.
    pub retry_policy: RetryPolicy,
    /// Free-form extra settings.
    pub config: BTreeMap<String, String>,
}

/// Changes to a consumer group; `None` leaves a setting as it is. Changes apply to failures
/// and deliveries from then on (within a second on other broker instances).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupUpdate {
    /// A new retry policy, replacing the old one as a whole.
    pub retry_policy: Option<RetryPolicy>,
    /// A new ack timeout.
    pub ack_timeout_ms: Option<i64>,
    /// A new session timeout.
    pub session_timeout_ms: Option<i64>,
}

impl GroupSpec {
    /// A shared group starting at the latest message, with default timeouts.
    pub fn new(topic_name: impl Into<String>, group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            topic_name: topic_name.into(),
            start_from: StartFrom::Latest,
            delivery_mode: DeliveryMode::Shared,
            ack_timeout_ms: DEFAULT_ACK_TIMEOUT_MS,
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
            retry_policy: RetryPolicy::default(),
            config: BTreeMap::new(),
        }
    }
}

impl Broker {
    /// Creates a consumer group on a topic. `TopicNotFound`, `GroupExists`.
    pub async fn create_group(&self, spec: GroupSpec) -> BrokerResult<ConsumerGroup> {
        self.refuse_if_shutting_down()?;
        let now = self.inner.clock.now();
        let group = ConsumerGroup {
            id: new_id(IdKind::Group),
            group_id: spec.group_id,
            topic_name: spec.topic_name,
            consumer_count: 0,
            status: GroupStatus::Active,
            delivery_mode: spec.delivery_mode,
            start_from: spec.start_from,
            ack_timeout_ms: spec.ack_timeout_ms,
            session_timeout_ms: spec.session_timeout_ms,
            retry_policy: spec.retry_policy,
            config: spec.config,
            last_commit_time: None,
            created_at: now,
            updated_at: now,
        };
        group.validate()?;
        let topic = self.existing_topic(&group.topic_name).await?;
        let group = self.inner.meta.groups.create(group).await.map_err(|e| match e {
            RepoError::AlreadyExists { id, .. } => {
                BrokerError::GroupExists { topic: topic.name.clone(), group: id }
            }
            other => other.into(),
        })?;
        let start = match group.start_from {
            StartFrom::Earliest => StartPosition::Earliest,
            StartFrom::Latest => StartPosition::Latest,
        };
        for partition in 0..topic.partitions {
            if let Err(error) =
                self.create_log_group((&topic).into(), partition, &group.group_id, start).await
            {
                // Undo, so a retry of the same request can succeed.
                let _ = self.remove_group(&topic, &group.group_id).await;
                return Err(error);
            }
        }
        tracing::info!(topic = %topic.name, group = %group.group_id, mode = group.delivery_mode.as_str(), "consumer group created");
        Ok(group)
    }

    /// A log-level group on one partition; one left over from an earlier group of the same
    /// name (a failed delete) is replaced, since a new group must not inherit old positions.
    async fn create_log_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        start: StartPosition,
    ) -> BrokerResult<()> {
        match self.inner.log.create_group(topic, partition, group, start).await {
            Err(RepoError::AlreadyExists { .. }) => {
                self.inner.log.delete_group(topic, partition, group).await?;
                Ok(self.inner.log.create_group(topic, partition, group, start).await?)
            }
            other => Ok(other?),
        }
    }

    /// The group, or `GroupNotFound`.
    pub async fn get_group(&self, topic: &str, group: &str) -> BrokerResult<ConsumerGroup> {
        self.inner
            .meta
            .groups
            .get(topic, group)
            .await?
            .ok_or_else(|| BrokerError::group_not_found(topic, group))
    }

    /// Groups, optionally of one topic (`TopicNotFound` if it does not exist), by topic and
    /// id, with `consumerCount` the number of live consumers.
    pub async fn list_groups(
        &self,
        topic: Option<&str>,
        page: Page,
    ) -> BrokerResult<Paged<ConsumerGroup>> {
        if let Some(topic) = topic {
            self.existing_topic(topic).await?;
        }
        let filter = GroupFilter { topic_name: topic.map(str::to_owned), status: None };
        let mut groups = self.inner.meta.groups.list(&filter, page).await?;
        let now_ms = self.inner.clock.now_ms();
        for group in &mut groups.items {
            self.count_live_members(group, now_ms).await?;
        }
        Ok(groups)
    }

    /// The group as [`Broker::list_groups`] shows it: `consumerCount` the number of live
    /// consumers, `inactive` without any. `TopicNotFound`, `GroupNotFound`.
    pub async fn describe_group(&self, topic: &str, group: &str) -> BrokerResult<ConsumerGroup> {
        self.existing_topic(topic).await?;
        let mut found = self.get_group(topic, group).await?;
        self.count_live_members(&mut found, self.inner.clock.now_ms()).await?;
        Ok(found)
    }

    /// Sets `consumer_count` and `status` from the members alive at `now_ms` (the stored
    /// values are those of the group's creation).
    async fn count_live_members(&self, group: &mut ConsumerGroup, now_ms: i64) -> BrokerResult<()> {
        let live = self.live_members(group, now_ms).await?;
        group.consumer_count = u32::try_from(live.len()).unwrap_or(u32::MAX);
        group.status = if live.is_empty() { GroupStatus::Inactive } else { GroupStatus::Active };
        Ok(())
    }

    /// Changes a group's retry policy or timeouts. `TopicNotFound`, `GroupNotFound`, and
    /// `Invalid` naming the field (e.g. `retryPolicy.multiplier`) for a bad value.
    pub async fn update_group(
        &self,
        topic: &str,
        group: &str,
        update: GroupUpdate,
    ) -> BrokerResult<ConsumerGroup> {
        self.refuse_if_shutting_down()?;
        self.existing_topic(topic).await?;
        let mut found = self.get_group(topic, group).await?;
        if let Some(policy) = update.retry_policy {
            found.retry_policy = policy;
        }
        if let Some(ms) = update.ack_timeout_ms {
            found.ack_timeout_ms = ms;
        }
        if let Some(ms) = update.session_timeout_ms {
            found.session_timeout_ms = ms;
        }
        found.updated_at = self.inner.clock.now();
        found.validate()?;
        let updated = self.inner.meta.groups.update(found).await.map_err(|e| match e {
            RepoError::NotFound { .. } => BrokerError::group_not_found(topic, group),
            other => other.into(),
        })?;
        self.forget_group(topic, group);
        tracing::info!(topic, group, "consumer group updated");
        Ok(updated)
    }

    /// Deletes a group with its consumers and pending lists. `GroupNotFound`.
    pub async fn delete_group(&self, topic: &str, group: &str) -> BrokerResult<()> {
        self.refuse_if_shutting_down()?;
        let topic_record = self.existing_topic(topic).await?;
        let found = self.get_group(topic, group).await?;
        self.remove_group(&topic_record, &found.group_id).await?;
        self.forget_group(topic, group);
        tracing::info!(topic = %topic, group = %group, "consumer group deleted");
        Ok(())
    }

    async fn remove_group(&self, topic: &Topic, group: &str) -> BrokerResult<()> {
        match self.inner.meta.groups.delete(&topic.name, group).await {
            Ok(()) | Err(RepoError::NotFound { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        self.inner.meta.consumers.delete_by_group(&topic.name, group).await?;
        for partition in 0..topic.partitions {
            self.inner.log.delete_group(topic.into(), partition, group).await?;
        }
        Ok(())
    }
}
