//! Topic management: create, read, list, update (partitions grow, never shrink), delete.

use std::collections::BTreeMap;

use mq_model::{
    new_id, validate_max_message_size, validate_retention_ms, IdKind, Page, Paged, Topic,
    TopicConfig, TopicStatus,
};
use mq_repo::{GroupFilter, RepoError, StartPosition, TopicFilter};

use crate::{Broker, BrokerError, BrokerResult};

/// Changes to a topic; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicUpdate {
    /// New description.
    pub description: Option<String>,
    /// New partition count; must not be lower than the current one.
    pub partitions: Option<u32>,
    /// New retention in milliseconds.
    pub retention_ms: Option<i64>,
    /// New largest message size in bytes.
    pub max_message_size: Option<i64>,
    /// New extra settings (replaces the whole map).
    pub config: Option<BTreeMap<String, String>>,
    /// New state (`active` or `inactive`).
    pub status: Option<TopicStatus>,
}

impl Broker {
    /// A topic config with this broker's defaults (retention from `retention_hours`).
    pub fn topic_defaults(&self, name: impl Into<String>) -> TopicConfig {
        TopicConfig {
            retention_ms: self.inner.cfg.default_retention_ms(),
            ..TopicConfig::named(name)
        }
    }

    /// Creates a topic. `TopicExists` if the name is taken.
    pub async fn create_topic(&self, cfg: TopicConfig, created_by: &str) -> BrokerResult<Topic> {
        self.refuse_if_shutting_down()?;
        crate::dedup::topic_window(&cfg.config)?;
        if crate::crypto::topic_encryption(&cfg.config)? && self.inner.keyring.is_empty() {
            // It could be created, but nothing could be published to it.
            return Err(BrokerError::invalid(
                "config.encryption",
                "this server has no encryption key; configure message_queue.encryption.keys \
                 before creating an encrypted topic",
            ));
        }
        let topic =
            cfg.into_topic(new_id(IdKind::Topic), created_by.to_owned(), self.inner.clock.now())?;
        let created = self.inner.meta.topics.create(topic).await.map_err(|e| match e {
            RepoError::AlreadyExists { id, .. } => BrokerError::TopicExists { topic: id },
            other => other.into(),
        })?;
        tracing::info!(topic = %created.name, partitions = created.partitions, "topic created");
        Ok(created)
    }

    /// The topic with this name, or `TopicNotFound`.
    pub async fn get_topic(&self, name: &str) -> BrokerResult<Topic> {
        self.inner.meta.topics.get(name).await?.ok_or_else(|| BrokerError::topic_not_found(name))
    }

    /// Topics matching the filter, by name.
    pub async fn list_topics(
        &self,
        filter: &TopicFilter,
        page: Page,
    ) -> BrokerResult<Paged<Topic>> {
        Ok(self.inner.meta.topics.list(filter, page).await?)
    }

    /// Applies an update. New partitions get every existing group, starting at their beginning.
    pub async fn update_topic(&self, name: &str, update: TopicUpdate) -> BrokerResult<Topic> {
        self.refuse_if_shutting_down()?;
        let mut topic = self.get_topic(name).await?;
        if let Some(retention_ms) = update.retention_ms {
            validate_retention_ms(retention_ms)?;
            topic.retention_ms = retention_ms;
        }
        if let Some(max) = update.max_message_size {
            validate_max_message_size(max)?;
            topic.max_message_size = max;
        }
        if let Some(status) = update.status {
            if status == TopicStatus::Deleted {
                return Err(BrokerError::invalid("status", "use DELETE to delete a topic"));
            }
            topic.status = status;
        }
        if let Some(description) = update.description {
            topic.description = description;
        }
        if let Some(config) = update.config {
            crate::crypto::check_encryption_update(&topic.config, &config)?;
            crate::dedup::topic_window(&config)?;
            topic.config = config;
        }
        let old_partitions = topic.partitions;
        if let Some(partitions) = update.partitions {
            if partitions < old_partitions {
                return Err(BrokerError::PartitionsShrink {
                    current: old_partitions,
                    requested: partitions,
                });
            }
            topic.partitions = partitions;
            // New partitions join the placement; existing ones stay where they are stored.
            topic.placement.grow(partitions);
        }
        topic.validate()?;
        // Groups first, so no consumer ever sees a new partition without its group.
        if topic.partitions > old_partitions {
            self.add_groups_to_partitions(&topic, old_partitions..topic.partitions).await?;
        }
        topic.updated_at = self.inner.clock.now();
        let updated = self.inner.meta.topics.update(topic).await?;
        self.forget_topic(name);
        tracing::info!(topic = %name, partitions = updated.partitions, "topic updated");
        Ok(updated)
    }

    async fn add_groups_to_partitions(
        &self,
        topic: &Topic,
        partitions: std::ops::Range<u32>,
    ) -> BrokerResult<()> {
        for group in self.all_groups(&topic.name).await? {
            for partition in partitions.clone() {
                // Everything in a new partition is new to every group.
                match self
                    .inner
                    .log
                    .create_group(topic.into(), partition, &group.group_id, StartPosition::Earliest)
                    .await
                {
                    Ok(()) | Err(RepoError::AlreadyExists { .. }) => {}
                    Err(other) => return Err(other.into()),
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn all_groups(
        &self,
        topic: &str,
    ) -> BrokerResult<Vec<mq_model::ConsumerGroup>> {
        let filter = GroupFilter { topic_name: Some(topic.to_owned()), status: None };
        let mut groups = Vec::new();
        for page in 1.. {
            let batch = self.inner.meta.groups.list(&filter, Page::new(page, 1000)).await?;
            let done = batch.items.len() < 1000;
            groups.extend(batch.items);
            if done {
                break;
            }
        }
        Ok(groups)
    }

    /// Deletes a topic with its groups, consumers and messages.
    pub async fn delete_topic(&self, name: &str) -> BrokerResult<()> {
        self.refuse_if_shutting_down()?;
        let topic = self.get_topic(name).await?;
        let groups = self.all_groups(name).await?;
        // The topic record goes first: from then on publishing fails with 404 rather than
        // writing into streams that are about to be deleted.
        match self.inner.meta.topics.delete(name).await {
            Ok(()) | Err(RepoError::NotFound { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        self.forget_topic(name);
        for group in &groups {
            self.inner.meta.consumers.delete_by_group(name, &group.group_id).await?;
            // Each group's retry state has its own keys in Redis, which deleting the topic's
            // partitions does not reach.
            for partition in 0..topic.partitions {
                self.inner.log.delete_group((&topic).into(), partition, &group.group_id).await?;
            }
        }
        self.inner.meta.groups.delete_by_topic(name).await?;
        self.inner.log.delete_topic((&topic).into(), topic.partitions).await?;
        self.inner.schedule.delete_topic((&topic).into(), topic.partitions).await?;
        tracing::info!(topic = %name, "topic deleted");
        Ok(())
    }
}
