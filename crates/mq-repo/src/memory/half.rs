//! The in-memory half messages: each partition holds its transactions' half messages beside its
//! records, so a commit takes the message and appends it in one step under the partition's lock,
//! as the Redis script does in one step on the server.

use async_trait::async_trait;

use super::log::lock;
use crate::{
    Appended, HalfMessageStore, MemoryMessageLog, NewRecord, Original, RepoResult, TopicRef,
};

#[async_trait]
impl HalfMessageStore for MemoryMessageLog {
    async fn prepare(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        mut record: NewRecord,
    ) -> RepoResult<Option<Original>> {
        let now_ms = self.clock.now_ms();
        let part = self.partition(topic, partition);
        let mut part = lock(&part);
        if let Some(dedup) = record.dedup.take() {
            if let Some(original) = part.original(&dedup.key, now_ms) {
                return Ok(Some(original));
            }
            let original = Original::Held { message_id: record.message_id.clone() };
            part.remember(&dedup, original, now_ms);
        }
        part.half.insert(record.message_id.clone(), record);
        Ok(None)
    }

    async fn commit(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<Option<Appended>> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(None);
        };
        let now_ms = self.clock.now_ms();
        let mut part = lock(&part);
        let Some(record) = part.half.remove(message_id) else {
            return Ok(None);
        };
        // Appended exactly as a fired delayed message is: the next offset, a timestamp that
        // never goes back.
        Ok(part.push(vec![record], now_ms).pop())
    }

    async fn rollback(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<bool> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(false);
        };
        let removed = lock(&part).half.remove(message_id).is_some();
        Ok(removed)
    }

    async fn holds(
        &self,
        topic: TopicRef<'_>,
        partition: u32,
        message_id: &str,
    ) -> RepoResult<bool> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(false);
        };
        let held = lock(&part).half.contains_key(message_id);
        Ok(held)
    }

    async fn held(&self, topic: TopicRef<'_>, partition: u32) -> RepoResult<u64> {
        let Some(part) = self.existing(topic, partition) else {
            return Ok(0);
        };
        let count = lock(&part).half.len();
        Ok(count as u64)
    }

    async fn delete_topic(&self, topic: TopicRef<'_>, partitions: u32) -> RepoResult<()> {
        // The half messages live in the partitions, which the log's delete_topic removes whole.
        crate::MessageLog::delete_topic(self, topic, partitions).await
    }
}
