//! Metadata repositories (design §3.4): topics, consumer groups, consumers, dead letters and
//! transaction records.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mq_model::{
    Alert, ApiToken, AuditRecord, Consumer, ConsumerGroup, ConsumerStatus, DeadLetterMessage,
    DecidedBy, GroupStatus, Page, Paged, Redrive, Topic, TopicStatus, Transaction,
    TransactionEvent, TransactionState,
};

use crate::RepoResult;

/// Which topics a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicFilter {
    /// Only topics in this state.
    pub status: Option<TopicStatus>,
    /// Only topics whose name starts with this.
    pub name_prefix: Option<String>,
}

/// Topics, unique by name.
#[async_trait]
pub trait TopicRepository: Send + Sync + Debug {
    /// Stores a new topic; `AlreadyExists` if the name is taken.
    async fn create(&self, topic: Topic) -> RepoResult<Topic>;
    /// The topic with this name.
    async fn get(&self, name: &str) -> RepoResult<Option<Topic>>;
    /// Topics matching the filter, sorted by name.
    async fn list(&self, filter: &TopicFilter, page: Page) -> RepoResult<Paged<Topic>>;
    /// Replaces the topic with the same name; `NotFound` if there is none.
    async fn update(&self, topic: Topic) -> RepoResult<Topic>;
    /// Deletes the topic with this name; `NotFound` if there is none.
    async fn delete(&self, name: &str) -> RepoResult<()>;
}

/// Which consumer groups a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFilter {
    /// Only groups of this topic.
    pub topic_name: Option<String>,
    /// Only groups in this state.
    pub status: Option<GroupStatus>,
}

/// Consumer groups, unique by (topic name, group id).
#[async_trait]
pub trait ConsumerGroupRepository: Send + Sync + Debug {
    /// Stores a new group; `AlreadyExists` if the topic already has a group of that id.
    async fn create(&self, group: ConsumerGroup) -> RepoResult<ConsumerGroup>;
    /// The group of this id on this topic.
    async fn get(&self, topic: &str, group_id: &str) -> RepoResult<Option<ConsumerGroup>>;
    /// Groups matching the filter, sorted by topic name, then group id.
    async fn list(&self, filter: &GroupFilter, page: Page) -> RepoResult<Paged<ConsumerGroup>>;
    /// Replaces the group with the same topic and id, except that `last_commit_time` keeps
    /// the later of the stored and the given value (a concurrent [`record_commit`] is never
    /// undone); returns what is stored. `NotFound` if there is none.
    ///
    /// [`record_commit`]: ConsumerGroupRepository::record_commit
    async fn update(&self, group: ConsumerGroup) -> RepoResult<ConsumerGroup>;
    /// Deletes a group; `NotFound` if there is none.
    async fn delete(&self, topic: &str, group_id: &str) -> RepoResult<()>;
    /// Deletes every group of a topic; returns how many.
    async fn delete_by_topic(&self, topic: &str) -> RepoResult<u64>;
    /// Notes that a member of the group acknowledged a message at `at`: sets the group's
    /// `last_commit_time` to `at` unless it is already later, in one atomic write, so it never
    /// moves back however instances race. `updated_at` is left alone (it tracks changes of
    /// the settings). A group that does not exist is left so: not an error, not recreated.
    async fn record_commit(&self, topic: &str, group_id: &str, at: DateTime<Utc>)
        -> RepoResult<()>;
}

/// Which consumers a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerFilter {
    /// Only consumers of groups on this topic.
    pub topic_name: Option<String>,
    /// Only consumers of this group.
    pub group_id: Option<String>,
    /// Only consumers in this state.
    pub status: Option<ConsumerStatus>,
}

/// Consumers, unique by (consumer id, group id, topic name): one client may be in many groups.
#[async_trait]
pub trait ConsumerRepository: Send + Sync + Debug {
    /// Inserts the consumer, or replaces the one with the same key while keeping its stored
    /// `id` and `createdAt`; returns what is stored.
    async fn upsert(&self, consumer: Consumer) -> RepoResult<Consumer>;
    /// Records that these consumers of one group were seen at `at` (their heartbeats, gathered
    /// by the broker and written together): each becomes `active` with `last_heartbeat` and
    /// `updated_at` set to `at` and its other fields reset as [`heartbeat_consumer`] builds
    /// them, inserted when new. The default upserts them one by one; a store may do it in
    /// fewer round trips.
    async fn heartbeat(
        &self,
        topic: &str,
        group_id: &str,
        consumer_ids: &[String],
        at: DateTime<Utc>,
    ) -> RepoResult<()> {
        for consumer_id in consumer_ids {
            self.upsert(heartbeat_consumer(topic, group_id, consumer_id, at)).await?;
        }
        Ok(())
    }
    /// The consumer with this key.
    async fn get(
        &self,
        topic: &str,
        group_id: &str,
        consumer_id: &str,
    ) -> RepoResult<Option<Consumer>>;
    /// Consumers matching the filter, sorted by topic name, group id, consumer id.
    async fn list(&self, filter: &ConsumerFilter, page: Page) -> RepoResult<Paged<Consumer>>;
    /// Deletes a consumer; `NotFound` if there is none.
    async fn delete(&self, topic: &str, group_id: &str, consumer_id: &str) -> RepoResult<()>;
    /// Deletes every consumer of a group; returns how many.
    async fn delete_by_group(&self, topic: &str, group_id: &str) -> RepoResult<u64>;
}

/// The record a heartbeat stores for a consumer: `active`, seen at `at`, no partition or
/// offsets of its own (a group's progress lives in the message log), no client info.
pub fn heartbeat_consumer(
    topic: &str,
    group_id: &str,
    consumer_id: &str,
    at: DateTime<Utc>,
) -> Consumer {
    Consumer {
        id: mq_model::new_id(mq_model::IdKind::Consumer),
        consumer_id: consumer_id.to_owned(),
        group_id: group_id.to_owned(),
        topic_name: topic.to_owned(),
        partition: 0,
        current_offset: 0,
        committed_offset: 0,
        lag: 0,
        status: ConsumerStatus::Active,
        last_heartbeat: at,
        client_info: std::collections::BTreeMap::new(),
        created_at: at,
        updated_at: at,
    }
}

/// Which dead letters a listing or purge covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// Only dead letters of this topic.
    pub topic_name: Option<String>,
    /// Only dead letters of this group.
    pub group_id: Option<String>,
    /// Only those that failed at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only those that failed before this time.
    pub to: Option<DateTime<Utc>>,
}

/// Dead letters, unique by id.
#[async_trait]
pub trait DeadLetterRepository: Send + Sync + Debug {
    /// Stores a dead letter; `AlreadyExists` if its id is taken.
    async fn insert(&self, dead: DeadLetterMessage) -> RepoResult<DeadLetterMessage>;
    /// The dead letter with this id.
    async fn get(&self, id: &str) -> RepoResult<Option<DeadLetterMessage>>;
    /// Dead letters matching the filter, newest `failedAt` first (ties: larger id first).
    async fn list(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> RepoResult<Paged<DeadLetterMessage>>;
    /// Deletes one; `NotFound` if there is none.
    async fn delete(&self, id: &str) -> RepoResult<()>;
    /// Deletes all matching the filter; returns how many.
    async fn delete_matching(&self, filter: &DeadLetterFilter) -> RepoResult<u64>;
    /// Sets a dead letter's `redrive` to `new` if it is currently `expected` (compared by
    /// message id and start time; `None` matches an unset field), atomically, so that of two
    /// racing callers exactly one wins. Returns whether it was set; false also when there is
    /// no dead letter with this id.
    async fn swap_redrive(
        &self,
        id: &str,
        expected: Option<&Redrive>,
        new: Option<Redrive>,
    ) -> RepoResult<bool>;
}

/// Which transactions a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    /// Only transactions of this topic.
    pub topic_name: Option<String>,
    /// Only transactions in this state.
    pub state: Option<TransactionState>,
}

/// Transaction records, unique by transaction id. Every change is one atomic conditional
/// update, so broker instances racing on one transaction agree on its outcome.
#[async_trait]
pub trait TransactionRepository: Send + Sync + Debug {
    /// Stores a new record; `AlreadyExists` if its id is taken.
    async fn insert(&self, txn: Transaction) -> RepoResult<Transaction>;
    /// The record with this id.
    async fn get(&self, id: &str) -> RepoResult<Option<Transaction>>;
    /// Records matching the filter, newest `createdAt` first (ties: larger id first).
    async fn list(&self, filter: &TransactionFilter, page: Page) -> RepoResult<Paged<Transaction>>;
    /// Decides a prepared transaction: sets `state` (committed or rolled back), `decided_by`,
    /// `reason`, `updated_at = event.at`, clears `lease_until` and appends `event` to the
    /// history. Returns the record as updated, or `None` if it is not prepared (decided
    /// already) or does not exist.
    async fn decide(
        &self,
        id: &str,
        state: TransactionState,
        by: DecidedBy,
        reason: Option<String>,
        event: TransactionEvent,
    ) -> RepoResult<Option<Transaction>>;
    /// Marks a decided, not yet applied transaction as applied, with the offset its message
    /// got when committed; appends `event`. False if it is prepared, already applied, or
    /// missing.
    async fn mark_applied(
        &self,
        id: &str,
        offset: Option<u64>,
        event: TransactionEvent,
    ) -> RepoResult<bool>;
    /// Up to `limit` prepared transactions due for a check-back (`check_at <= now`) and not
    /// held by a check in progress (`lease_until` unset or `<= now`), earliest `check_at` first.
    async fn due_checks(&self, now: DateTime<Utc>, limit: usize) -> RepoResult<Vec<Transaction>>;
    /// Takes a prepared transaction for one check-back: if its `check_count` is still
    /// `check_count` and no lease is held at `now`, sets `lease_until = until` and raises
    /// `check_count` by one. False otherwise (another instance took it, or it was decided).
    async fn lease_check(
        &self,
        id: &str,
        check_count: u32,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> RepoResult<bool>;
    /// After a check-back that decided nothing: if the transaction is still prepared with
    /// `check_count`, sets `check_at = next_check_at`, clears `lease_until` and appends
    /// `event`. False otherwise.
    async fn check_inconclusive(
        &self,
        id: &str,
        check_count: u32,
        next_check_at: DateTime<Utc>,
        event: TransactionEvent,
    ) -> RepoResult<bool>;
    /// Up to `limit` decided transactions not yet applied whose `updated_at <= before`, oldest
    /// first: decisions whose effect a crash may have cut off.
    async fn unapplied(&self, before: DateTime<Utc>, limit: usize) -> RepoResult<Vec<Transaction>>;
}

/// Alerts: the active ones, one per key, and the history of resolved ones. Opening and
/// closing are atomic, so of several broker instances evaluating the same rule, one opens an
/// alert and one closes it.
#[async_trait]
pub trait AlertRepository: Send + Sync + Debug {
    /// Makes `alert` the active alert of its key; false if the key has one already.
    async fn open(&self, alert: Alert) -> RepoResult<bool>;
    /// Ends the active alert of `key` at `resolved_at`, moving it to the history; returns it,
    /// or `None` if the key has no active alert (another instance closed it).
    async fn close(&self, key: &str, resolved_at: DateTime<Utc>) -> RepoResult<Option<Alert>>;
    /// The active alerts, oldest `fired_at` first.
    async fn active(&self) -> RepoResult<Vec<Alert>>;
    /// Up to `limit` resolved alerts, newest `resolved_at` first.
    async fn history(&self, limit: usize) -> RepoResult<Vec<Alert>>;
}

/// API tokens created at run time, unique by name, found by the SHA-256 of their secret.
#[async_trait]
pub trait TokenRepository: Send + Sync + Debug {
    /// Stores a token; `AlreadyExists` if the name is taken.
    async fn insert(&self, token: ApiToken) -> RepoResult<ApiToken>;
    /// The token whose secret hashes to `token_sha256`.
    async fn find_by_hash(&self, token_sha256: &str) -> RepoResult<Option<ApiToken>>;
    /// Every token, by name.
    async fn list(&self) -> RepoResult<Vec<ApiToken>>;
    /// Deletes (revokes) the token with this name; false if there is none.
    async fn revoke(&self, name: &str) -> RepoResult<bool>;
}

/// Which audit records a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only by this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
}

/// The audit log.
#[async_trait]
pub trait AuditRepository: Send + Sync + Debug {
    /// Appends a record.
    async fn insert(&self, record: AuditRecord) -> RepoResult<()>;
    /// Records matching the filter, newest first (ties: larger id first), with the total.
    async fn list(&self, filter: &AuditFilter, page: Page) -> RepoResult<Paged<AuditRecord>>;
    /// Deletes records older than `before`; returns how many.
    async fn delete_before(&self, before: DateTime<Utc>) -> RepoResult<u64>;
}

/// The metadata repositories of one store, shareable across tasks.
#[derive(Debug, Clone)]
pub struct MetadataStores {
    /// Topics.
    pub topics: Arc<dyn TopicRepository>,
    /// Consumer groups.
    pub groups: Arc<dyn ConsumerGroupRepository>,
    /// Consumers.
    pub consumers: Arc<dyn ConsumerRepository>,
    /// Dead letters.
    pub dead_letters: Arc<dyn DeadLetterRepository>,
    /// Transaction records.
    pub transactions: Arc<dyn TransactionRepository>,
    /// Alerts.
    pub alerts: Arc<dyn AlertRepository>,
    /// API tokens created at run time.
    pub tokens: Arc<dyn TokenRepository>,
    /// The audit log.
    pub audit: Arc<dyn AuditRepository>,
}

impl MetadataStores {
    /// The repositories served by one store that implements them all.
    pub fn from_shared<T>(store: Arc<T>) -> Self
    where
        T: TopicRepository
            + ConsumerGroupRepository
            + ConsumerRepository
            + DeadLetterRepository
            + TransactionRepository
            + AlertRepository
            + TokenRepository
            + AuditRepository
            + 'static,
    {
        Self {
            topics: store.clone(),
            groups: store.clone(),
            consumers: store.clone(),
            dead_letters: store.clone(),
            transactions: store.clone(),
            alerts: store.clone(),
            tokens: store.clone(),
            audit: store,
        }
    }
}
