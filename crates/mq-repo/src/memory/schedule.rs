//! The in-memory schedule: each partition keeps its delayed messages beside its records, so
//! firing is one step under the partition's lock, as the Redis script is one step on the server.

use async_trait::async_trait;

use super::log::lock;
use crate::{
    Fired, MemoryMessageLog, Original, RepoResult, ScheduleCursor, ScheduleStore, ScheduledEntry,
    ScheduledRecord, TopicRef,
};

#[async_trait]
impl ScheduleStore for MemoryMessageLog {
    async fn schedule(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        records: Vec<ScheduledRecord>,
    ) -> RepoResult<Vec<Option<Original>>> {
        let now_ms = self.clock.now_ms();
        let part = self.partition(topic, partition);
        let mut part = lock(&part);
        let mut answers = Vec::with_capacity(records.len());
        for ScheduledRecord { due_ms, mut record } in records {
            let id = record.message_id.clone();
            if let Some(dedup) = record.dedup.take() {
                if let Some(original) = part.original(&dedup.key, now_ms) {
                    answers.push(Some(original));
                    continue;
                }
                let original = Original::Scheduled { message_id: id.clone(), due_ms };
                part.remember(&dedup, original, now_ms);
            }
            if let Some(old) = part.due_of.insert(id.clone(), due_ms) {
                part.scheduled.remove(&(old, id.clone()));
            }
            part.scheduled.insert((due_ms, id), record);
            answers.push(None);
        }
        Ok(answers)
    }

    async fn due(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        until_ms: i64,
        limit: usize,
    ) -> RepoResult<Vec<(String, i64)>> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(Vec::new());
        };
        let part = lock(&part);
        Ok(part
            .scheduled
            .keys()
            .take_while(|(due, _)| *due <= until_ms)
            .take(limit)
            .map(|(due, id)| (id.clone(), *due))
            .collect())
    }

    async fn fire(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_ids: &[String],
    ) -> RepoResult<Vec<Fired>> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(Vec::new());
        };
        let now_ms = self.clock.now_ms();
        let mut part = lock(&part);
        let mut fired = Vec::new();
        for id in message_ids {
            let Some(&due_ms) = part.due_of.get(id).filter(|due| **due <= now_ms) else {
                continue;
            };
            part.due_of.remove(id);
            let Some(record) = part.scheduled.remove(&(due_ms, id.clone())) else {
                continue;
            };
            let appended = part.push(vec![record], now_ms);
            fired.extend(appended.into_iter().map(|appended| Fired {
                message_id: id.clone(),
                due_ms,
                appended,
            }));
        }
        Ok(fired)
    }

    async fn cancel(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<bool> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(false);
        };
        let mut part = lock(&part);
        let Some(due_ms) = part.due_of.remove(message_id) else {
            return Ok(false);
        };
        part.scheduled.remove(&(due_ms, message_id.to_owned()));
        Ok(true)
    }

    async fn reschedule(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
        due_ms: i64,
    ) -> RepoResult<bool> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(false);
        };
        let mut part = lock(&part);
        let Some(old) = part.due_of.get(message_id).copied() else {
            return Ok(false);
        };
        if let Some(record) = part.scheduled.remove(&(old, message_id.to_owned())) {
            part.scheduled.insert((due_ms, message_id.to_owned()), record);
        }
        part.due_of.insert(message_id.to_owned(), due_ms);
        Ok(true)
    }

    async fn list(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        after: Option<&ScheduleCursor>,
        limit: usize,
    ) -> RepoResult<Vec<ScheduledEntry>> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(Vec::new());
        };
        let part = lock(&part);
        let after = after.map(|c| (c.due_ms, c.message_id.clone()));
        Ok(part
            .scheduled
            .iter()
            .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
            .take(limit)
            .map(|((due_ms, id), record)| ScheduledEntry {
                message_id: id.clone(),
                partition,
                key: record.key.clone(),
                due_ms: *due_ms,
            })
            .collect())
    }

    async fn count(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        until_ms: Option<i64>,
    ) -> RepoResult<u64> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(0);
        };
        let part = lock(&part);
        let count = match until_ms {
            None => part.scheduled.len(),
            Some(until) => part.scheduled.keys().take_while(|(due, _)| *due <= until).count(),
        };
        Ok(count as u64)
    }

    async fn find(
        &self,
        topic: TopicRef<'_>,
        partitions: u32,
        message_id: &str,
    ) -> RepoResult<Option<(u32, i64)>> {
        Ok((0..partitions).find_map(|partition| {
            let part = self.existing(topic, partition)?;
            let due = lock(&part).due_of.get(message_id).copied();
            due.map(|due| (partition, due))
        }))
    }

    async fn delete_topic(&self, topic: TopicRef<'_>, partitions: u32) -> RepoResult<()> {
        // The schedules live in the partitions, which the log's delete_topic removes whole.
        crate::MessageLog::delete_topic(self, topic, partitions).await
    }
}
