//! Consuming: fetch (with a bounded long poll), ack, nack, browse and the consumers view.
//!
//! Delivery per group mode, for each partition the fetching consumer may read:
//! - `shared`: first failed deliveries whose retry time has come (see `retry.rs`), to whoever
//!   fetches; then new messages. Partitions are visited from a rotating start.
//! - `ordered`: only the partitions assigned to this consumer (see `membership.rs`). Entries
//!   still in flight with a previous owner are taken over first; then failed entries whose
//!   retry time has come; new messages only when nothing of the partition is pending (in flight
//!   or waiting for a retry), so a partition has one batch in flight at a time and is
//!   delivered in offset order, through retries too.
//!
//! Each fetch also looks for deliveries whose ack timeout ran out and records them as failed
//! attempts, and screens what it hands out (`Broker::screen`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use mq_model::{ConsumerGroup, ConsumerStatus, DeliveryMode, MessageType, Topic};
use mq_repo::{Delivery, PendingEntry, Record, RepoError, StartPosition, TopicRef};
use std::sync::atomic::Ordering;

use crate::membership::assigned_partitions;
use crate::receipt::Receipt;
use crate::{Broker, BrokerError, BrokerResult};

/// Most messages one fetch returns.
pub const MAX_FETCH: usize = 1000;
/// Longest long-poll wait.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting fetch looks again even without a local publish: catches messages
/// published through other broker instances and deliveries whose ack timeout ran out.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How many pending entries an ordered fetch inspects per partition.
const PENDING_SCAN: usize = 1000;

/// What a consumer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The topic.
    pub topic_name: String,
    /// The consumer group.
    pub group_id: String,
    /// The consumer's own id; a fetch is also its heartbeat.
    pub consumer_id: String,
    /// Most messages to return, 1 to 1000.
    pub max_messages: usize,
    /// How long to wait when nothing is available, at most 30 s; returns as soon as any
    /// message is.
    pub wait: Duration,
}

/// A stored message, as browsing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its unique id.
    pub message_id: String,
    /// Its topic.
    pub topic_name: String,
    /// Its partition.
    pub partition: u32,
    /// Its offset in the partition.
    pub offset: u64,
    /// Its routing key.
    pub key: Option<String>,
    /// Its payload bytes.
    pub value: Vec<u8>,
    /// Its headers.
    pub headers: BTreeMap<String, String>,
    /// When it was appended.
    pub timestamp: DateTime<Utc>,
    /// Who produced it, if known.
    pub producer_id: Option<String>,
    /// Its kind.
    pub message_type: MessageType,
}

/// A message delivered to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The message.
    pub message: StoredMessage,
    /// Hand this back to ack or nack the delivery.
    pub receipt: String,
    /// How many times the group has delivered it, this time included.
    pub delivery_count: u32,
}

/// A page of a partition, read without touching any group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browse {
    /// The messages, in offset order.
    pub messages: Vec<StoredMessage>,
    /// Where to continue reading.
    pub next_offset: u64,
}

/// A group's position in one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionPosition {
    /// The partition.
    pub partition: u32,
    /// Every message below this offset is acknowledged (or was trimmed).
    pub committed_offset: u64,
    /// The next offset the group will deliver for the first time.
    pub next_offset: u64,
    /// The offset the next published message gets.
    pub end_offset: u64,
    /// Messages not yet delivered.
    pub lag: u64,
    /// Messages delivered and not yet acknowledged.
    pub pending: u64,
}

/// A consumer as the consumers view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// The consumer's own id.
    pub consumer_id: String,
    /// Its group.
    pub group_id: String,
    /// Its topic.
    pub topic_name: String,
    /// `active` while heartbeating within the session timeout, else `inactive`.
    pub status: ConsumerStatus,
    /// Its last heartbeat (fetch).
    pub last_heartbeat: DateTime<Utc>,
    /// The partitions it may receive from: its share in `ordered` mode, all in `shared` mode;
    /// none when inactive.
    pub assigned_partitions: Vec<u32>,
    /// The group's position in each assigned partition.
    pub partitions: Vec<PartitionPosition>,
    /// Sum of the lag of its assigned partitions.
    pub lag: u64,
    /// When it first joined.
    pub created_at: DateTime<Utc>,
}

fn to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub(crate) fn stored(topic: &str, partition: u32, record: Record) -> StoredMessage {
    StoredMessage {
        message_id: record.message_id,
        topic_name: topic.to_owned(),
        partition,
        offset: record.offset,
        key: record.key,
        value: record.value,
        headers: record.headers,
        timestamp: to_time(record.timestamp_ms),
        producer_id: record.producer_id,
        message_type: record.message_type,
    }
}

fn received(topic: &str, partition: u32, delivery: Delivery) -> ReceivedMessage {
    let receipt = Receipt::new(partition, delivery.record.offset, delivery.delivery_count);
    ReceivedMessage {
        message: stored(topic, partition, delivery.record),
        receipt: receipt.encode(),
        delivery_count: delivery.delivery_count,
    }
}

impl Broker {
    /// A stored record with its value in plaintext (see `crypto.rs`). An undecryptable value is
    /// `Undecryptable`: the fetch or browse fails rather than hand out garbage. Deliveries of
    /// a failed fetch stay pending and come back after the ack timeout, so a value that never
    /// opens ends as a dead letter after the group's retries, like any unprocessed message.
    fn opened(&self, topic: &Topic, partition: u32, mut record: Record) -> BrokerResult<Record> {
        let offset = record.offset;
        let at = || format!("partition {partition} offset {offset}");
        record.value = self.open_value(topic, at, std::mem::take(&mut record.value))?;
        Ok(record)
    }

    fn deliver(
        &self,
        topic: &Topic,
        partition: u32,
        deliveries: Vec<Delivery>,
    ) -> BrokerResult<Vec<ReceivedMessage>> {
        deliveries
            .into_iter()
            .map(|mut d| {
                d.record = self.opened(topic, partition, d.record)?;
                Ok(received(&topic.name, partition, d))
            })
            .collect()
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Broker {
    /// Delivers up to `max_messages` to a consumer, waiting up to `wait` for the first.
    pub async fn fetch(&self, request: &FetchRequest) -> BrokerResult<Vec<ReceivedMessage>> {
        if !(1..=MAX_FETCH).contains(&request.max_messages) {
            return Err(BrokerError::invalid(
                "maxMessages",
                format!("must be between 1 and {MAX_FETCH}, got {}", request.max_messages),
            ));
        }
        if request.wait > MAX_WAIT {
            return Err(BrokerError::invalid(
                "waitMs",
                format!("must be between 0 and 30000, got {}", request.wait.as_millis()),
            ));
        }
        mq_model::validate_client_id("consumerId", &request.consumer_id)?;
        self.refuse_if_shutting_down()?;
        let topic = self.existing_topic(&request.topic_name).await?;
        let group = self.existing_group(&topic.name, &request.group_id).await?;
        let deadline = tokio::time::Instant::now() + request.wait;
        let mut shutdown = self.shutdown_signal();
        loop {
            // Listen before looking, so a publish between the look and the wait is not missed.
            let published = self.inner.published.notified();
            tokio::pin!(published);
            published.as_mut().enable();

            self.heartbeat(&group, &request.consumer_id);
            let messages =
                self.fetch_once(&topic, &group, &request.consumer_id, request.max_messages).await?;
            let now = tokio::time::Instant::now();
            if !messages.is_empty() || now >= deadline || self.is_shutting_down() {
                self.count_deliveries(&topic.name, &group.group_id, &messages);
                return Ok(messages);
            }
            let nap = (deadline - now).min(POLL_INTERVAL);
            tokio::select! {
                () = &mut published => {}
                () = tokio::time::sleep(nap) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn fetch_once(
        &self,
        topic: &Topic,
        group: &ConsumerGroup,
        consumer: &str,
        max: usize,
    ) -> BrokerResult<Vec<ReceivedMessage>> {
        let mut out = Vec::new();
        match group.delivery_mode {
            DeliveryMode::Shared => {
                let n = topic.partitions.max(1);
                let start = (self.inner.next_fetch_start.fetch_add(1, Ordering::Relaxed)
                    % u64::from(n)) as u32;
                let order: Vec<u32> = (0..n).map(|i| (start + i) % n).collect();
                let log = self.inner.log.as_ref();
                // Retries whose time has come first, then new messages.
                for &partition in &order {
                    let want = max - out.len();
                    if want == 0 {
                        break;
                    }
                    let again = self.redeliver(topic, group, partition, consumer, want).await?;
                    out.extend(self.deliver(topic, partition, again)?);
                }
                for &partition in &order {
                    let want = max - out.len();
                    if want == 0 {
                        break;
                    }
                    let new = self
                        .healing(topic, group, partition, || {
                            log.read_group(topic.into(), partition, &group.group_id, consumer, want)
                        })
                        .await?;
                    let new = self.screen(topic, group, partition, new).await?;
                    out.extend(self.deliver(topic, partition, new)?);
                }
            }
            DeliveryMode::Ordered => {
                let members = self.live_members(group, self.inner.clock.now_ms()).await?;
                for partition in assigned_partitions(&members, topic.partitions, consumer) {
                    let want = max - out.len();
                    if want == 0 {
                        break;
                    }
                    let batch = self.fetch_ordered(topic, group, partition, consumer, want).await?;
                    out.extend(self.deliver(topic, partition, batch)?);
                }
            }
        }
        Ok(out)
    }

    async fn fetch_ordered(
        &self,
        topic: &Topic,
        group: &ConsumerGroup,
        partition: u32,
        consumer: &str,
        want: usize,
    ) -> BrokerResult<Vec<Delivery>> {
        let (t, g) = (TopicRef::from(topic), group.group_id.as_str());
        let log = self.inner.log.as_ref();
        let scan = || log.pending(t, partition, g, PENDING_SCAN);
        let mut pending = self.healing(topic, group, partition, scan).await?;
        if pending.is_empty() {
            // Nothing in flight or waiting for a retry: only then may the partition move on,
            // so it is delivered in offset order through retries.
            let new = log.read_group(t, partition, g, consumer, want).await?;
            return self.screen(topic, group, partition, new).await;
        }
        // This consumer's deliveries whose ack timeout ran out are failed attempts.
        let ack_timeout = u64::try_from(group.ack_timeout_ms).unwrap_or(0);
        let expired: Vec<PendingEntry> = pending
            .iter()
            .filter(|p| {
                p.consumer == consumer && p.retry_at_ms.is_none() && p.idle_ms >= ack_timeout
            })
            .cloned()
            .collect();
        if !expired.is_empty() {
            self.expire(topic, group, partition, expired).await?;
            pending = log.pending(t, partition, g, PENDING_SCAN).await?;
        }
        // Take over what a previous owner left in flight: it comes before anything newer.
        // (Records waiting for a retry are `redeliver`'s, whoever holds them.)
        let inherited: Vec<u64> = pending
            .iter()
            .filter(|p| p.consumer != consumer && p.retry_at_ms.is_none())
            .map(|p| p.offset)
            .take(want)
            .collect();
        let mut batch = if inherited.is_empty() {
            Vec::new()
        } else {
            log.claim(t, partition, g, consumer, &inherited).await?
        };
        // Retries whose time has come, but none past a record still in flight or still
        // waiting: that one comes first.
        let now_ms = self.inner.clock.now_ms();
        let barrier = pending
            .iter()
            .filter(|p| p.retry_at_ms.is_none_or(|at| at > now_ms))
            .map(|p| p.offset)
            .min()
            .unwrap_or(u64::MAX);
        let due = pending
            .iter()
            .filter(|p| p.offset < barrier && p.retry_at_ms.is_some_and(|at| at <= now_ms))
            .count();
        let room = (want - batch.len()).min(due);
        if room > 0 {
            batch.extend(self.redeliver(topic, group, partition, consumer, room).await?);
        }
        batch.sort_by_key(|d| d.record.offset);
        batch.dedup_by_key(|d| d.record.offset);
        self.screen(topic, group, partition, batch).await
    }

    /// Up to `max` failed deliveries of a partition whose retry time has come, delivered again
    /// to `consumer` and screened. Deliveries found timed out on the way are recorded as failed;
    /// those due at once (a zero backoff) come along in the same call.
    async fn redeliver(
        &self,
        topic: &Topic,
        group: &ConsumerGroup,
        partition: u32,
        consumer: &str,
        max: usize,
    ) -> BrokerResult<Vec<Delivery>> {
        let (t, g) = (TopicRef::from(topic), group.group_id.as_str());
        let log = self.inner.log.as_ref();
        let ack_timeout = millis(group.ack_timeout_ms);
        let call = |max: usize| {
            log.redeliver(t, partition, g, consumer, self.inner.clock.now_ms(), ack_timeout, max)
        };
        let first = self.healing(topic, group, partition, || call(max)).await?;
        let mut out = first.deliveries;
        if !first.expired.is_empty() {
            self.expire(topic, group, partition, first.expired).await?;
            if out.len() < max {
                let again = call(max - out.len()).await?;
                self.expire(topic, group, partition, again.expired).await?;
                out.extend(again.deliveries);
            }
        }
        self.screen(topic, group, partition, out).await
    }

    /// Runs a log call for a group's partition; if the log has lost the group there (a Redis
    /// restored without it, or a partition added while the group was being created), recreates
    /// it from the partition's start and tries once more.
    async fn healing<T, F, Fut>(
        &self,
        topic: &Topic,
        group: &ConsumerGroup,
        partition: u32,
        call: F,
    ) -> BrokerResult<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, RepoError>>,
    {
        match call().await {
            Err(RepoError::NotFound { .. }) => {
                // Only for a group that still exists: the cached copy may be up to a second
                // old, and a group deleted meanwhile must not come back in the log.
                self.forget_group(&topic.name, &group.group_id);
                self.get_group(&topic.name, &group.group_id).await?;
                tracing::warn!(topic = %topic.name, group = %group.group_id, partition, "log group missing; recreating it");
                match self
                    .inner
                    .log
                    .create_group(topic.into(), partition, &group.group_id, StartPosition::Earliest)
                    .await
                {
                    Ok(()) | Err(RepoError::AlreadyExists { .. }) => {}
                    Err(other) => return Err(other.into()),
                }
                Ok(call().await?)
            }
            other => Ok(other?),
        }
    }

    /// Acknowledges deliveries; returns how many were outstanding. A receipt settles only the
    /// delivery it came with: unknown, malformed or already settled receipts, and the receipt
    /// of an earlier delivery of a message now delivered again, are not counted and are not an
    /// error. `TopicNotFound`, `GroupNotFound`.
    pub async fn ack(&self, topic: &str, group: &str, receipts: &[String]) -> BrokerResult<u64> {
        let (found, by_partition) = self.decode_receipts(topic, group, receipts).await?;
        // All partitions at once: on Redis one pipelined round trip instead of one per
        // partition. Each partition's settle is atomic on its own, as it always was.
        let log = self.inner.log.as_ref();
        let settles = by_partition.iter().map(|(partition, deliveries)| {
            log.ack_deliveries((&found).into(), *partition, group, deliveries)
        });
        let acked: u64 = futures_util::future::try_join_all(settles).await?.into_iter().sum();
        self.inner.metrics.acked.with_label_values(&[topic, group]).inc_by(acked);
        let series = crate::rates::acked_series(topic, group);
        self.inner.rates.add(series, self.inner.clock.now_ms(), acked);
        if acked > 0 {
            self.inner.commits.note(topic, group, self.inner.clock.now());
        }
        Ok(acked)
    }

    /// Counts deliveries, and the end-to-end latency of first deliveries.
    fn count_deliveries(&self, topic: &str, group: &str, messages: &[ReceivedMessage]) {
        if messages.is_empty() {
            return;
        }
        let metrics = &self.inner.metrics;
        metrics.delivered.with_label_values(&[topic, group]).inc_by(messages.len() as u64);
        let now_ms = self.inner.clock.now_ms();
        let latency = metrics.end_to_end_latency.with_label_values(&[topic]);
        for m in messages.iter().filter(|m| m.delivery_count == 1) {
            let ms = (now_ms - m.message.timestamp.timestamp_millis()).max(0);
            latency.observe(ms as f64 / 1000.0);
        }
    }

    /// The topic, and the deliveries the receipts name, by partition, as (offset, delivery
    /// count). Receipts that are malformed or name a partition the topic lacks name nothing
    /// this group holds: like unknown receipts they are not counted and are not an error.
    pub(crate) async fn decode_receipts(
        &self,
        topic: &str,
        group: &str,
        receipts: &[String],
    ) -> BrokerResult<(Topic, BTreeMap<u32, Vec<(u64, u32)>>)> {
        // Unknown topics and groups first: they are the likelier mistake to report.
        let found = self.existing_topic(topic).await?;
        let partitions = found.partitions;
        self.existing_group(topic, group).await?;
        if receipts.is_empty() || receipts.len() > MAX_FETCH {
            return Err(BrokerError::invalid(
                "receipts",
                format!("give 1 to {MAX_FETCH} receipts, got {}", receipts.len()),
            ));
        }
        let mut by_partition: BTreeMap<u32, Vec<(u64, u32)>> = BTreeMap::new();
        for receipt in receipts.iter().filter_map(|r| Receipt::decode(r).ok()) {
            if receipt.partition < partitions {
                by_partition
                    .entry(receipt.partition)
                    .or_default()
                    .push((receipt.offset, receipt.delivery_count));
            }
        }
        Ok((found, by_partition))
    }

    /// Up to `limit` (1 to 1000) messages of a partition from `from_offset`, touching no group.
    pub async fn browse(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
        limit: usize,
    ) -> BrokerResult<Browse> {
        let found = self.existing_topic(topic).await?;
        if partition >= found.partitions {
            return Err(BrokerError::invalid(
                "partition",
                format!(
                    "topic {topic:?} has partitions 0 to {}, got {partition}",
                    found.partitions - 1
                ),
            ));
        }
        if !(1..=MAX_FETCH).contains(&limit) {
            return Err(BrokerError::invalid(
                "limit",
                format!("must be between 1 and {MAX_FETCH}, got {limit}"),
            ));
        }
        let at = TopicRef::from(&found);
        let records = self.inner.log.read_range(at, partition, from_offset, limit).await?;
        let next_offset = match records.last() {
            Some(last) => last.offset + 1,
            None => {
                from_offset.max(self.inner.log.partition_stats(at, partition).await?.first_offset)
            }
        };
        let messages = records
            .into_iter()
            .map(|r| Ok(stored(topic, partition, self.opened(&found, partition, r)?)))
            .collect::<BrokerResult<_>>()?;
        Ok(Browse { messages, next_offset })
    }

    /// The consumers of every topic, or of one topic, or of one group of one topic, with
    /// status, assignment and positions; sorted by topic, group and consumer id.
    /// `TopicNotFound`, `GroupNotFound`; a group without a topic is an invalid request.
    pub async fn consumers(
        &self,
        topic: Option<&str>,
        group: Option<&str>,
    ) -> BrokerResult<Vec<ConsumerInfo>> {
        let Some(topic) = topic else {
            if group.is_some() {
                return Err(BrokerError::invalid("topicName", "is required when groupId is given"));
            }
            let mut all = Vec::new();
            for page in 1.. {
                let topics = self
                    .list_topics(&mq_repo::TopicFilter::default(), mq_model::Page::new(page, 100))
                    .await?;
                for t in &topics.items {
                    all.extend(self.topic_consumers(&t.name, None).await?);
                }
                if topics.items.len() < 100 {
                    break;
                }
            }
            return Ok(all);
        };
        self.topic_consumers(topic, group).await
    }

    async fn topic_consumers(
        &self,
        topic: &str,
        group: Option<&str>,
    ) -> BrokerResult<Vec<ConsumerInfo>> {
        let found = self.existing_topic(topic).await?;
        let groups = match group {
            Some(g) => vec![self.get_group(topic, g).await?],
            None => self.all_groups(topic).await?,
        };
        let now_ms = self.inner.clock.now_ms();
        let mut out = Vec::new();
        for group in groups {
            let members = self.live_members(&group, now_ms).await?;
            let mut positions = BTreeMap::new();
            for partition in 0..found.partitions {
                positions
                    .insert(partition, self.position(&found, &group.group_id, partition).await?);
            }
            for consumer in self.group_consumers(&group).await? {
                let live = members.contains(&consumer.consumer_id);
                let assigned = match (live, group.delivery_mode) {
                    (false, _) => Vec::new(),
                    (true, DeliveryMode::Shared) => (0..found.partitions).collect(),
                    (true, DeliveryMode::Ordered) => {
                        assigned_partitions(&members, found.partitions, &consumer.consumer_id)
                    }
                };
                let partitions: Vec<PartitionPosition> =
                    assigned.iter().filter_map(|p| positions.get(p).copied()).collect();
                out.push(ConsumerInfo {
                    consumer_id: consumer.consumer_id,
                    group_id: group.group_id.clone(),
                    topic_name: topic.to_owned(),
                    status: if live { ConsumerStatus::Active } else { ConsumerStatus::Inactive },
                    last_heartbeat: consumer.last_heartbeat,
                    lag: partitions.iter().map(|p| p.lag).sum(),
                    assigned_partitions: assigned,
                    partitions,
                    created_at: consumer.created_at,
                });
            }
        }
        Ok(out)
    }

    async fn position(
        &self,
        topic: &Topic,
        group: &str,
        partition: u32,
    ) -> BrokerResult<PartitionPosition> {
        let topic = TopicRef::from(topic);
        let lag = self.group_lag_or_owed(topic, partition, group).await?;
        let oldest_pending = if lag.pending > 0 {
            self.inner.log.pending(topic, partition, group, 1).await?.first().map(|p| p.offset)
        } else {
            None
        };
        Ok(PartitionPosition {
            partition,
            committed_offset: oldest_pending.unwrap_or(lag.next_offset),
            next_offset: lag.next_offset,
            end_offset: lag.end_offset,
            lag: lag.lag,
            pending: lag.pending,
        })
    }
}

/// One partition of a consumer group: where the group stands in it, and who reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPartition {
    /// The group's position.
    pub position: PartitionPosition,
    /// The live member that owns it in an ordered group; `None` in a shared group (every live
    /// member reads every partition) or when no member is live.
    pub owner: Option<String>,
}

impl Broker {
    /// Where a group stands in each partition of its topic, whether or not a member is live:
    /// what an operator looks at for a stuck group. `TopicNotFound`, `GroupNotFound`.
    pub async fn group_partitions(
        &self,
        topic: &str,
        group: &str,
    ) -> BrokerResult<Vec<GroupPartition>> {
        let found = self.existing_topic(topic).await?;
        let group = self.get_group(topic, group).await?;
        let members = self.live_members(&group, self.inner.clock.now_ms()).await?;
        let mut owners = BTreeMap::new();
        if group.delivery_mode == DeliveryMode::Ordered {
            for member in &members {
                for partition in assigned_partitions(&members, found.partitions, member) {
                    owners.insert(partition, member.clone());
                }
            }
        }
        let mut out = Vec::with_capacity(found.partitions as usize);
        for partition in 0..found.partitions {
            let position = self.position(&found, &group.group_id, partition).await?;
            out.push(GroupPartition { position, owner: owners.remove(&partition) });
        }
        Ok(out)
    }

    /// How far a group is behind in a partition. A partition whose log group is missing is
    /// healed on the next fetch; until then everything stored in it is owed.
    pub(crate) async fn group_lag_or_owed(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
    ) -> BrokerResult<mq_repo::GroupLag> {
        match self.inner.log.group_lag(topic, partition, group).await {
            Ok(lag) => Ok(lag),
            Err(RepoError::NotFound { .. }) => {
                let stats = self.inner.log.partition_stats(topic, partition).await?;
                Ok(mq_repo::GroupLag {
                    end_offset: stats.end_offset,
                    next_offset: stats.first_offset,
                    lag: stats.length,
                    pending: 0,
                })
            }
            Err(other) => Err(other.into()),
        }
    }
}

impl Broker {
    /// How many deliveries `consumer` of a group holds unacknowledged and in flight (not
    /// waiting for a retry, and within the ack timeout), counting up to 1000 per partition: the
    /// flow control of streaming consumers. A delivery past its ack timeout no longer counts:
    /// only a fetch records it as failed, so a stream whose room it took would never fetch
    /// again and never get it back. `TopicNotFound`, `GroupNotFound`.
    pub async fn in_flight(&self, topic: &str, group: &str, consumer: &str) -> BrokerResult<u64> {
        let found = self.existing_topic(topic).await?;
        let ack_timeout =
            u64::try_from(self.existing_group(topic, group).await?.ack_timeout_ms).unwrap_or(0);
        let mut held = 0;
        for partition in 0..found.partitions {
            let at = TopicRef::from(&found);
            let pending = match self.inner.log.pending(at, partition, group, PENDING_SCAN).await {
                Ok(pending) => pending,
                // Healed by the next fetch; nothing is held there meanwhile.
                Err(RepoError::NotFound { .. }) => continue,
                Err(other) => return Err(other.into()),
            };
            held += pending
                .iter()
                .filter(|p| {
                    p.consumer == consumer && p.retry_at_ms.is_none() && p.idle_ms < ack_timeout
                })
                .count() as u64;
        }
        Ok(held)
    }
}
