//! In-memory metadata: every metadata repository over ordered maps behind one mutex. The
//! transaction repository is in `super::transactions`, the alert repository in
//! `super::alerts`, the token and audit repositories in `super::security`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mq_model::{
    Alert, ApiToken, AuditRecord, Consumer, ConsumerGroup, DeadLetterMessage, Page, Paged, Redrive,
    Topic, Transaction,
};

use crate::metadata::{
    ConsumerFilter, ConsumerGroupRepository, ConsumerRepository, DeadLetterFilter,
    DeadLetterRepository, GroupFilter, TopicFilter, TopicRepository,
};
use crate::{MetadataStores, RepoError, RepoResult};

/// Metadata held in process memory; lost on exit. Clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryMetadata {
    state: Arc<Mutex<State>>,
}

/// Maps keyed so that iteration order is each listing's documented sort order (dead letters
/// and transactions are sorted when listed, alerts and audit records too).
#[derive(Debug, Default)]
pub(super) struct State {
    topics: BTreeMap<String, Topic>,
    /// Keyed by (topic name, group id).
    groups: BTreeMap<(String, String), ConsumerGroup>,
    /// Keyed by (topic name, group id, consumer id).
    consumers: BTreeMap<(String, String, String), Consumer>,
    dead_letters: BTreeMap<String, DeadLetterMessage>,
    /// Keyed by transaction id.
    pub(super) transactions: BTreeMap<String, Transaction>,
    /// Active alerts, keyed by alert key: one per key.
    pub(super) active_alerts: BTreeMap<String, Alert>,
    /// Resolved alerts, keyed by alert id.
    pub(super) alert_history: BTreeMap<String, Alert>,
    /// API tokens, keyed by name.
    pub(super) tokens: BTreeMap<String, ApiToken>,
    /// Audit records, keyed by record id.
    pub(super) audit: BTreeMap<String, AuditRecord>,
}

impl MemoryMetadata {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The repositories, all served by one new empty store.
    pub fn stores() -> MetadataStores {
        MetadataStores::from_shared(Arc::new(Self::new()))
    }

    /// See `memory::log::lock` for why poisoning is tolerated.
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn not_found(kind: &'static str, id: impl Into<String>) -> RepoError {
    RepoError::NotFound { kind, id: id.into() }
}

pub(super) fn matches<T: PartialEq>(wanted: &Option<T>, actual: &T) -> bool {
    wanted.as_ref().is_none_or(|w| w == actual)
}

pub(super) fn matches_str(wanted: &Option<String>, actual: &str) -> bool {
    wanted.as_deref().is_none_or(|w| w == actual)
}

#[async_trait]
impl TopicRepository for MemoryMetadata {
    async fn create(&self, topic: Topic) -> RepoResult<Topic> {
        let mut state = self.state();
        if state.topics.contains_key(&topic.name) {
            return Err(RepoError::AlreadyExists { kind: "topic", id: topic.name });
        }
        state.topics.insert(topic.name.clone(), topic.clone());
        Ok(topic)
    }

    async fn get(&self, name: &str) -> RepoResult<Option<Topic>> {
        Ok(self.state().topics.get(name).cloned())
    }

    async fn list(&self, filter: &TopicFilter, page: Page) -> RepoResult<Paged<Topic>> {
        let all = self
            .state()
            .topics
            .values()
            .filter(|t| matches(&filter.status, &t.status))
            .filter(|t| filter.name_prefix.as_deref().is_none_or(|p| t.name.starts_with(p)))
            .cloned()
            .collect();
        Ok(page.slice(all))
    }

    async fn update(&self, topic: Topic) -> RepoResult<Topic> {
        let mut state = self.state();
        let slot =
            state.topics.get_mut(&topic.name).ok_or_else(|| not_found("topic", &topic.name))?;
        *slot = topic.clone();
        Ok(topic)
    }

    async fn delete(&self, name: &str) -> RepoResult<()> {
        self.state().topics.remove(name).map(drop).ok_or_else(|| not_found("topic", name))
    }
}

#[async_trait]
impl ConsumerGroupRepository for MemoryMetadata {
    async fn create(&self, group: ConsumerGroup) -> RepoResult<ConsumerGroup> {
        let mut state = self.state();
        let key = (group.topic_name.clone(), group.group_id.clone());
        if state.groups.contains_key(&key) {
            return Err(RepoError::AlreadyExists { kind: "consumer group", id: group.group_id });
        }
        state.groups.insert(key, group.clone());
        Ok(group)
    }

    async fn get(&self, topic: &str, group_id: &str) -> RepoResult<Option<ConsumerGroup>> {
        Ok(self.state().groups.get(&(topic.to_owned(), group_id.to_owned())).cloned())
    }

    async fn list(&self, filter: &GroupFilter, page: Page) -> RepoResult<Paged<ConsumerGroup>> {
        let all = self
            .state()
            .groups
            .values()
            .filter(|g| matches_str(&filter.topic_name, &g.topic_name))
            .filter(|g| matches(&filter.status, &g.status))
            .cloned()
            .collect();
        Ok(page.slice(all))
    }

    async fn update(&self, group: ConsumerGroup) -> RepoResult<ConsumerGroup> {
        let mut state = self.state();
        let key = (group.topic_name.clone(), group.group_id.clone());
        let slot = state
            .groups
            .get_mut(&key)
            .ok_or_else(|| not_found("consumer group", &group.group_id))?;
        let last_commit_time = slot.last_commit_time.max(group.last_commit_time);
        *slot = ConsumerGroup { last_commit_time, ..group };
        Ok(slot.clone())
    }

    async fn delete(&self, topic: &str, group_id: &str) -> RepoResult<()> {
        let key = (topic.to_owned(), group_id.to_owned());
        self.state()
            .groups
            .remove(&key)
            .map(drop)
            .ok_or_else(|| not_found("consumer group", group_id))
    }

    async fn delete_by_topic(&self, topic: &str) -> RepoResult<u64> {
        let mut state = self.state();
        let before = state.groups.len();
        state.groups.retain(|(t, _), _| t != topic);
        Ok((before - state.groups.len()) as u64)
    }

    async fn record_commit(
        &self,
        topic: &str,
        group_id: &str,
        at: DateTime<Utc>,
    ) -> RepoResult<()> {
        let mut state = self.state();
        if let Some(group) = state.groups.get_mut(&(topic.to_owned(), group_id.to_owned())) {
            group.last_commit_time = group.last_commit_time.max(Some(at));
        }
        Ok(())
    }
}

#[async_trait]
impl ConsumerRepository for MemoryMetadata {
    async fn upsert(&self, mut consumer: Consumer) -> RepoResult<Consumer> {
        let mut state = self.state();
        let key =
            (consumer.topic_name.clone(), consumer.group_id.clone(), consumer.consumer_id.clone());
        if let Some(existing) = state.consumers.get(&key) {
            consumer.id.clone_from(&existing.id);
            consumer.created_at = existing.created_at;
        }
        state.consumers.insert(key, consumer.clone());
        Ok(consumer)
    }

    async fn get(
        &self,
        topic: &str,
        group_id: &str,
        consumer_id: &str,
    ) -> RepoResult<Option<Consumer>> {
        let key = (topic.to_owned(), group_id.to_owned(), consumer_id.to_owned());
        Ok(self.state().consumers.get(&key).cloned())
    }

    async fn list(&self, filter: &ConsumerFilter, page: Page) -> RepoResult<Paged<Consumer>> {
        let all = self
            .state()
            .consumers
            .values()
            .filter(|c| matches_str(&filter.topic_name, &c.topic_name))
            .filter(|c| matches_str(&filter.group_id, &c.group_id))
            .filter(|c| matches(&filter.status, &c.status))
            .cloned()
            .collect();
        Ok(page.slice(all))
    }

    async fn delete(&self, topic: &str, group_id: &str, consumer_id: &str) -> RepoResult<()> {
        let key = (topic.to_owned(), group_id.to_owned(), consumer_id.to_owned());
        self.state()
            .consumers
            .remove(&key)
            .map(drop)
            .ok_or_else(|| not_found("consumer", consumer_id))
    }

    async fn delete_by_group(&self, topic: &str, group_id: &str) -> RepoResult<u64> {
        let mut state = self.state();
        let before = state.consumers.len();
        state.consumers.retain(|(t, g, _), _| !(t == topic && g == group_id));
        Ok((before - state.consumers.len()) as u64)
    }
}

fn dead_letter_matches(filter: &DeadLetterFilter, d: &DeadLetterMessage) -> bool {
    matches_str(&filter.topic_name, &d.original_topic_name)
        && matches_str(&filter.group_id, &d.consumer_group_id)
        && filter.from.is_none_or(|from| d.failed_at >= from)
        && filter.to.is_none_or(|to| d.failed_at < to)
}

/// Whether a stored redrive is the expected one: same message id and the same start time to
/// the millisecond, the precision MongoDB stores it with, so both stores accept the same
/// `expected` values.
fn same_redrive(stored: Option<&Redrive>, expected: Option<&Redrive>) -> bool {
    match (stored, expected) {
        (None, None) => true,
        (Some(s), Some(e)) => {
            s.message_id == e.message_id
                && s.started_at.timestamp_millis() == e.started_at.timestamp_millis()
        }
        _ => false,
    }
}

#[async_trait]
impl DeadLetterRepository for MemoryMetadata {
    async fn insert(&self, dead: DeadLetterMessage) -> RepoResult<DeadLetterMessage> {
        let mut state = self.state();
        if state.dead_letters.contains_key(&dead.id) {
            return Err(RepoError::AlreadyExists { kind: "dead letter", id: dead.id });
        }
        state.dead_letters.insert(dead.id.clone(), dead.clone());
        Ok(dead)
    }

    async fn get(&self, id: &str) -> RepoResult<Option<DeadLetterMessage>> {
        Ok(self.state().dead_letters.get(id).cloned())
    }

    async fn list(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> RepoResult<Paged<DeadLetterMessage>> {
        let mut all: Vec<DeadLetterMessage> = self
            .state()
            .dead_letters
            .values()
            .filter(|d| dead_letter_matches(filter, d))
            .cloned()
            .collect();
        all.sort_by(|a, b| b.failed_at.cmp(&a.failed_at).then_with(|| b.id.cmp(&a.id)));
        Ok(page.slice(all))
    }

    async fn delete(&self, id: &str) -> RepoResult<()> {
        self.state().dead_letters.remove(id).map(drop).ok_or_else(|| not_found("dead letter", id))
    }

    async fn delete_matching(&self, filter: &DeadLetterFilter) -> RepoResult<u64> {
        let mut state = self.state();
        let before = state.dead_letters.len();
        state.dead_letters.retain(|_, d| !dead_letter_matches(filter, d));
        Ok((before - state.dead_letters.len()) as u64)
    }

    async fn swap_redrive(
        &self,
        id: &str,
        expected: Option<&Redrive>,
        new: Option<Redrive>,
    ) -> RepoResult<bool> {
        let mut state = self.state();
        let Some(dead) = state.dead_letters.get_mut(id) else { return Ok(false) };
        if !same_redrive(dead.redrive.as_ref(), expected) {
            return Ok(false);
        }
        dead.redrive = new;
        Ok(true)
    }
}
