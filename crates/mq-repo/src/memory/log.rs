//! The in-memory message log: each partition is a deque of records behind its own mutex, with
//! consumer groups that track the next offset to deliver and a pending list, like a Redis stream.
//! A pending entry carries its retry state and failure history itself, so whatever removes it
//! from the pending list removes those too.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use mq_model::{Clock, SystemClock};

use crate::{
    Appended, Attempt, Backend, Dedup, Delivery, Failure, GroupLag, MessageLog, NewRecord,
    Original, PartitionStats, PendingEntry, Record, Redelivery, RepoError, RepoResult,
    StartPosition, TopicRef,
};

type PartitionKey = (String, u32);

/// Message log held in process memory; lost on exit. Clones share the same data.
#[derive(Debug, Clone)]
pub struct MemoryMessageLog {
    pub(super) partitions: Arc<Mutex<HashMap<PartitionKey, Arc<Mutex<Partition>>>>>,
    pub(super) clock: Arc<dyn Clock>,
    /// The time-bucketed counters (see `stats.rs`), apart from the partitions.
    pub(super) counters: Arc<Mutex<super::stats::Counters>>,
}

#[derive(Debug, Default)]
pub(super) struct Partition {
    records: VecDeque<Record>,
    /// The offset the next record gets; never goes back, even when records are trimmed.
    next_offset: u64,
    /// The latest timestamp handed out, so timestamps never decrease if the clock does.
    last_timestamp_ms: i64,
    groups: BTreeMap<String, GroupState>,
    /// Delayed messages by (due time, message id), and each id's due time.
    pub(super) scheduled: BTreeMap<(i64, String), NewRecord>,
    pub(super) due_of: HashMap<String, i64>,
    /// Half messages of transactions by message id, waiting for a commit or a rollback.
    pub(super) half: HashMap<String, NewRecord>,
    /// Idempotency keys stored here, with what their first record became and until when (ms)
    /// a repeat is recognised.
    dedup: HashMap<String, (Original, i64)>,
}

#[derive(Debug)]
struct GroupState {
    /// One past the last offset delivered to the group.
    next_offset: u64,
    pending: BTreeMap<u64, PendingState>,
}

#[derive(Debug)]
struct PendingState {
    consumer: String,
    delivery_count: u32,
    delivered_at_ms: i64,
    /// While it waits for a retry after a failed delivery: when it may be delivered again.
    retry_at_ms: Option<i64>,
    /// Its failed deliveries, oldest first; kept across redeliveries until it stops pending.
    attempts: Vec<Attempt>,
}

impl PendingState {
    fn delivered(consumer: &str, now_ms: i64) -> Self {
        Self {
            consumer: consumer.to_owned(),
            delivery_count: 1,
            delivered_at_ms: now_ms,
            retry_at_ms: None,
            attempts: Vec::new(),
        }
    }

    fn entry(&self, offset: u64, now_ms: i64) -> PendingEntry {
        PendingEntry {
            offset,
            consumer: self.consumer.clone(),
            delivery_count: self.delivery_count,
            idle_ms: u64::try_from(now_ms - self.delivered_at_ms).unwrap_or(0),
            retry_at_ms: self.retry_at_ms,
        }
    }
}

impl Partition {
    /// Appends records with the next offsets and one timestamp that never goes back.
    /// What the first record with idempotency key `key` became, if it was stored here within
    /// its window (as of `now_ms`).
    pub(super) fn original(&mut self, key: &str, now_ms: i64) -> Option<Original> {
        match self.dedup.get(key) {
            Some((original, until)) if *until > now_ms => Some(original.clone()),
            Some(_) => {
                self.dedup.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers that the first record with `dedup`'s key became `original`.
    pub(super) fn remember(&mut self, dedup: &Dedup, original: Original, now_ms: i64) {
        // Expired keys go now and then, not on every store: a sweep costs the map's size.
        if self.dedup.len() >= 1024 && self.dedup.len().is_power_of_two() {
            self.dedup.retain(|_, (_, until)| *until > now_ms);
        }
        let window = i64::try_from(dedup.window_ms).unwrap_or(i64::MAX);
        self.dedup.insert(dedup.key.clone(), (original, now_ms.saturating_add(window)));
    }

    pub(super) fn push(&mut self, records: Vec<NewRecord>, now_ms: i64) -> Vec<Appended> {
        let timestamp_ms = now_ms.max(self.last_timestamp_ms);
        self.last_timestamp_ms = timestamp_ms;
        let mut appended = Vec::with_capacity(records.len());
        for new in records {
            if let Some(dedup) = &new.dedup {
                if let Some(original) = self.original(&dedup.key, now_ms) {
                    appended.push(Appended::repeat_of(original));
                    continue;
                }
                let original = Original::Appended {
                    message_id: new.message_id.clone(),
                    offset: self.next_offset,
                    timestamp_ms,
                };
                self.remember(dedup, original, now_ms);
            }
            let offset = self.next_offset;
            self.next_offset += 1;
            self.records.push_back(Record {
                offset,
                timestamp_ms,
                message_id: new.message_id,
                key: new.key,
                value: new.value,
                headers: new.headers,
                producer_id: new.producer_id,
                message_type: new.message_type,
            });
            appended.push(Appended::stored(offset, timestamp_ms));
        }
        appended
    }

    fn first_offset(&self) -> u64 {
        self.records.front().map_or(self.next_offset, |r| r.offset)
    }

    fn record(&self, offset: u64) -> Option<&Record> {
        let index = offset.checked_sub(self.first_offset())?;
        self.records.get(usize::try_from(index).ok()?)
    }

    fn group_mut(&mut self, group: &str) -> RepoResult<&mut GroupState> {
        self.groups.get_mut(group).ok_or_else(|| group_not_found(group))
    }

    /// Moves the pending entries at `offsets` (in order) to `consumer`, raising their delivery
    /// counts and ending any wait for a retry (their failure histories stay); offsets not
    /// pending are skipped. Like Redis 7's XCLAIM, an entry whose record was trimmed away is
    /// dropped from the pending list instead.
    fn claim(
        &mut self,
        group: &str,
        consumer: &str,
        offsets: Vec<u64>,
        now_ms: i64,
    ) -> RepoResult<Vec<Delivery>> {
        self.group_mut(group)?;
        let mut claimed = Vec::with_capacity(offsets.len());
        for offset in offsets {
            let record = self.record(offset).cloned();
            let state = self.group_mut(group)?;
            let Some(pending) = state.pending.get_mut(&offset) else {
                continue;
            };
            let Some(record) = record else {
                state.pending.remove(&offset);
                continue;
            };
            pending.consumer = consumer.to_owned();
            pending.delivery_count = pending.delivery_count.saturating_add(1);
            pending.delivered_at_ms = now_ms;
            pending.retry_at_ms = None;
            claimed.push(Delivery { record, delivery_count: pending.delivery_count });
        }
        Ok(claimed)
    }
}

fn group_not_found(group: &str) -> RepoError {
    RepoError::NotFound { kind: "consumer group", id: group.to_owned() }
}

/// A poisoned lock only means another thread panicked mid-update of plain data; the data is
/// still consistent enough for a test or dev store, so we keep going rather than cascade panics.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Default for MemoryMessageLog {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl MemoryMessageLog {
    /// An empty log whose timestamps and idle times come from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { partitions: Arc::default(), clock, counters: Arc::default() }
    }

    pub(super) fn partition(&self, topic: TopicRef<'_>, partition: u32) -> Arc<Mutex<Partition>> {
        lock(&self.partitions).entry((topic.name().to_owned(), partition)).or_default().clone()
    }

    pub(super) fn existing(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
    ) -> Option<Arc<Mutex<Partition>>> {
        lock(&self.partitions).get(&(topic.name().to_owned(), partition)).cloned()
    }

    /// Applies `settle` to each delivery, given as (offset, count), that is pending with that
    /// count; a repeated offset counts once; a missing group settles nothing.
    fn settle(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        deliveries: &[(u64, u32)],
        settle: impl Fn(&mut GroupState, u64),
    ) -> RepoResult<u64> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(0);
        };
        let mut part = lock(&part);
        let Some(state) = part.groups.get_mut(group) else {
            return Ok(0);
        };
        let mut settled = 0;
        let mut seen = std::collections::BTreeSet::new();
        for &(offset, count) in deliveries {
            if seen.insert(offset)
                && state.pending.get(&offset).is_some_and(|p| p.delivery_count == count)
            {
                settle(state, offset);
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Applies `change` to each given `(offset, delivery count, item)` whose record is pending
    /// with exactly that count and in flight (not waiting for a retry), once per offset (the
    /// first item wins); returns how many it applied to. Like Redis 7, where claiming an entry
    /// trimmed away drops it from the pending list, such an entry is dropped instead: there is
    /// nothing left to deliver. A missing partition or group applies to nothing.
    fn with_in_flight<T>(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        items: impl IntoIterator<Item = (u64, u32, T)>,
        mut change: impl FnMut(&mut PendingState, T),
    ) -> u64 {
        let Some(part) = self.existing(topic, partition) else {
            return 0;
        };
        let mut part = lock(&part);
        let first_offset = part.first_offset();
        let Some(state) = part.groups.get_mut(group) else {
            return 0;
        };
        let mut applied = 0;
        let mut seen = std::collections::BTreeSet::new();
        for (offset, count, item) in items {
            if !seen.insert(offset) {
                continue;
            }
            let Some(pending) = state.pending.get_mut(&offset) else {
                continue;
            };
            if pending.delivery_count != count || pending.retry_at_ms.is_some() {
                continue;
            }
            if offset < first_offset {
                state.pending.remove(&offset);
                continue;
            }
            change(pending, item);
            applied += 1;
        }
        applied
    }

    fn with_group<T>(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        f: impl FnOnce(&mut Partition) -> RepoResult<T>,
    ) -> RepoResult<T> {
        let part = self.existing(topic, partition).ok_or_else(|| group_not_found(group))?;
        let mut part = lock(&part);
        f(&mut part)
    }
}

#[async_trait]
impl MessageLog for MemoryMessageLog {
    fn backend(&self) -> Backend {
        Backend::Memory
    }

    async fn append(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        records: Vec<NewRecord>,
    ) -> RepoResult<Vec<Appended>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let part = self.partition(topic, partition);
        let appended = lock(&part).push(records, self.clock.now_ms());
        Ok(appended)
    }

    async fn read_range(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        from_offset: u64,
        limit: usize,
    ) -> RepoResult<Vec<Record>> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(Vec::new());
        };
        let part = lock(&part);
        let skip = to_usize(from_offset.saturating_sub(part.first_offset()));
        Ok(part.records.iter().skip(skip).take(limit).cloned().collect())
    }

    async fn partition_stats(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
    ) -> RepoResult<PartitionStats> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(PartitionStats::default());
        };
        let part = lock(&part);
        Ok(PartitionStats {
            first_offset: part.first_offset(),
            end_offset: part.next_offset,
            length: part.records.len() as u64,
            // Memory loses nothing it acknowledged short of losing everything.
            last_rollback: None,
        })
    }

    async fn create_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        start: StartPosition,
    ) -> RepoResult<()> {
        let part = self.partition(topic, partition);
        let mut part = lock(&part);
        if part.groups.contains_key(group) {
            return Err(RepoError::AlreadyExists { kind: "consumer group", id: group.to_owned() });
        }
        let next_offset = match start {
            StartPosition::Earliest => 0,
            StartPosition::Latest => part.next_offset,
            StartPosition::Offset(offset) => offset,
        };
        part.groups.insert(group.to_owned(), GroupState { next_offset, pending: BTreeMap::new() });
        Ok(())
    }

    async fn delete_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
    ) -> RepoResult<bool> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(false);
        };
        let removed = lock(&part).groups.remove(group).is_some();
        Ok(removed)
    }

    async fn read_group(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        consumer: &str,
        max: usize,
    ) -> RepoResult<Vec<Delivery>> {
        let now_ms = self.clock.now_ms();
        self.with_group(topic, partition, group, |part| {
            let from = part.group_mut(group)?.next_offset.max(part.first_offset());
            let skip = to_usize(from - part.first_offset());
            let batch: Vec<Record> = part.records.iter().skip(skip).take(max).cloned().collect();
            let state = part.group_mut(group)?;
            for record in &batch {
                state.next_offset = record.offset + 1;
                state.pending.insert(record.offset, PendingState::delivered(consumer, now_ms));
            }
            Ok(batch.into_iter().map(|record| Delivery { record, delivery_count: 1 }).collect())
        })
    }

    async fn ack(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        offsets: &[u64],
    ) -> RepoResult<u64> {
        // Like XACK: acknowledging in a group that does not exist acknowledges nothing.
        let Some(part) = self.existing(topic, partition) else {
            return Ok(0);
        };
        let mut part = lock(&part);
        let Some(state) = part.groups.get_mut(group) else {
            return Ok(0);
        };
        Ok(offsets.iter().filter(|o| state.pending.remove(o).is_some()).count() as u64)
    }

    async fn pending(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        limit: usize,
    ) -> RepoResult<Vec<PendingEntry>> {
        let now_ms = self.clock.now_ms();
        self.with_group(topic, partition, group, |part| {
            let state = part.group_mut(group)?;
            Ok(state
                .pending
                .iter()
                .take(limit)
                .map(|(offset, p)| p.entry(*offset, now_ms))
                .collect())
        })
    }

    async fn claim(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        consumer: &str,
        offsets: &[u64],
    ) -> RepoResult<Vec<Delivery>> {
        let now_ms = self.clock.now_ms();
        let mut wanted = offsets.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        self.with_group(topic, partition, group, |part| {
            // Records waiting for a retry are `redeliver`'s to deliver again.
            let pending = &part.group_mut(group)?.pending;
            wanted.retain(|o| pending.get(o).is_none_or(|p| p.retry_at_ms.is_none()));
            part.claim(group, consumer, wanted, now_ms)
        })
    }

    async fn ack_deliveries(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        deliveries: &[(u64, u32)],
    ) -> RepoResult<u64> {
        self.settle(topic, partition, group, deliveries, |state, offset| {
            state.pending.remove(&offset);
        })
    }

    async fn fail(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        failures: &[Failure],
    ) -> RepoResult<u64> {
        let items = failures.iter().map(|f| (f.offset, f.delivery_count, f));
        Ok(self.with_in_flight(topic, partition, group, items, |pending, failure| {
            pending.retry_at_ms = Some(failure.retry_at_ms);
            pending.attempts.push(Attempt {
                delivery_count: failure.delivery_count,
                failed_at_ms: failure.failed_at_ms,
                consumer: pending.consumer.clone(),
                reason: failure.reason.clone(),
            });
        }))
    }

    async fn defer(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        deliveries: &[(u64, u32)],
        retry_at_ms: i64,
    ) -> RepoResult<u64> {
        let items = deliveries.iter().map(|&(offset, count)| (offset, count, ()));
        Ok(self.with_in_flight(topic, partition, group, items, |pending, ()| {
            pending.retry_at_ms = Some(retry_at_ms);
            pending.delivery_count = pending.delivery_count.saturating_sub(1);
        }))
    }

    async fn touch(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        deliveries: &[(u64, u32)],
        idle: Duration,
    ) -> RepoResult<u64> {
        let delivered_at =
            self.clock.now_ms().saturating_sub(i64::try_from(idle.as_millis()).unwrap_or(i64::MAX));
        let items = deliveries.iter().map(|&(offset, count)| (offset, count, ()));
        Ok(self.with_in_flight(topic, partition, group, items, |pending, ()| {
            pending.delivered_at_ms = delivered_at;
        }))
    }

    async fn redeliver(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        consumer: &str,
        now_ms: i64,
        ack_timeout: Duration,
        max: usize,
    ) -> RepoResult<Redelivery> {
        // Retry times are the caller's (`now_ms`); delivery and idle times are this log's clock,
        // as everywhere else.
        let clock_ms = self.clock.now_ms();
        let timeout_ms = i64::try_from(ack_timeout.as_millis()).unwrap_or(i64::MAX);
        self.with_group(topic, partition, group, |part| {
            let due: Vec<u64> = part
                .group_mut(group)?
                .pending
                .iter()
                .filter(|(_, p)| p.retry_at_ms.is_some_and(|at| at <= now_ms))
                .map(|(offset, _)| *offset)
                .take(max)
                .collect();
            let deliveries = part.claim(group, consumer, due, clock_ms)?;
            let expired = part
                .group_mut(group)?
                .pending
                .iter()
                .filter(|(_, p)| {
                    p.retry_at_ms.is_none()
                        && clock_ms.saturating_sub(p.delivered_at_ms) >= timeout_ms
                })
                .take(max)
                .map(|(offset, p)| p.entry(*offset, clock_ms))
                .collect();
            Ok(Redelivery { deliveries, expired })
        })
    }

    async fn attempts(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
        offset: u64,
    ) -> RepoResult<Vec<Attempt>> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(Vec::new());
        };
        let part = lock(&part);
        Ok(part
            .groups
            .get(group)
            .and_then(|state| state.pending.get(&offset))
            .map(|p| p.attempts.clone())
            .unwrap_or_default())
    }

    async fn group_lag(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        group: &str,
    ) -> RepoResult<GroupLag> {
        self.with_group(topic, partition, group, |part| {
            let (end_offset, first_offset) = (part.next_offset, part.first_offset());
            let state = part.group_mut(group)?;
            Ok(GroupLag {
                end_offset,
                next_offset: state.next_offset,
                lag: end_offset.saturating_sub(state.next_offset.max(first_offset)),
                pending: state.pending.len() as u64,
            })
        })
    }

    async fn trim_before(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        min_timestamp_ms: i64,
    ) -> RepoResult<u64> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(0);
        };
        let mut part = lock(&part);
        let mut removed = 0;
        while part.records.front().is_some_and(|r| r.timestamp_ms < min_timestamp_ms) {
            part.records.pop_front();
            removed += 1;
        }
        Ok(removed)
    }

    async fn trim_to_len(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        max_len: u64,
    ) -> RepoResult<u64> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(0);
        };
        let mut part = lock(&part);
        let excess = (part.records.len() as u64).saturating_sub(max_len);
        part.records.drain(..to_usize(excess));
        Ok(excess)
    }

    async fn delete_topic(&self, topic: TopicRef<'_>, partitions: u32) -> RepoResult<()> {
        let mut all = lock(&self.partitions);
        for partition in 0..partitions {
            all.remove(&(topic.name().to_owned(), partition));
        }
        Ok(())
    }
}
