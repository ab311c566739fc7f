//! Publishing: validation, partition choice and appending, one message or a batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use chrono::{DateTime, TimeZone, Utc};
use mq_model::{new_id, IdKind, MessageType, Topic, TopicStatus};
use mq_repo::NewRecord;

use crate::partition::partition_for_key;
use crate::{Broker, BrokerError, BrokerResult};

/// Most messages in one batch.
pub const MAX_BATCH: usize = 1000;

/// A message to publish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Routing key: messages with the same key go to the same partition, in order.
    pub key: Option<String>,
    /// Payload bytes; at most the topic's `maxMessageSize`.
    pub value: Vec<u8>,
    /// Application headers.
    pub headers: BTreeMap<String, String>,
    /// Producer id recorded with the message.
    pub producer_id: Option<String>,
    /// `normal` (delayed and transactional messages come with their own issues).
    pub message_type: MessageType,
}

impl OutgoingMessage {
    /// A normal message with this value and no key.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self { value: value.into(), ..Self::default() }
    }

    /// The same message with a routing key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

/// Where a published message landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its unique id.
    pub message_id: String,
    /// Its topic.
    pub topic_name: String,
    /// Its partition.
    pub partition: u32,
    /// Its offset in the partition.
    pub offset: u64,
    /// When it was appended.
    pub timestamp: DateTime<Utc>,
}

impl Broker {
    /// Publishes one message.
    pub async fn publish(&self, topic: &str, message: OutgoingMessage) -> BrokerResult<Published> {
        let mut results = self.publish_batch(topic, vec![message]).await?;
        // publish_batch returns one result per message, checked against the log's answer.
        results.pop().ok_or_else(|| short_append(0))
    }

    /// Publishes 1 to 1000 messages. All are validated before any is stored; each partition's
    /// share is appended in one atomic step. Results come in request order.
    pub async fn publish_batch(
        &self,
        topic_name: &str,
        messages: Vec<OutgoingMessage>,
    ) -> BrokerResult<Vec<Published>> {
        self.refuse_if_shutting_down()?;
        if messages.is_empty() || messages.len() > MAX_BATCH {
            return Err(BrokerError::invalid(
                "messages",
                format!("a batch holds 1 to {MAX_BATCH} messages, got {}", messages.len()),
            ));
        }
        let topic = self.topic_for_publish(topic_name).await?;
        for message in &messages {
            check_message(&topic, message)?;
        }

        // Group by partition, remembering each message's place in the request.
        let mut by_partition: HashMap<u32, Vec<(usize, NewRecord)>> = HashMap::new();
        for (index, message) in messages.into_iter().enumerate() {
            let partition = self.choose_partition(&topic, message.key.as_deref());
            let record = NewRecord {
                message_id: new_id(IdKind::Message),
                key: message.key,
                value: message.value,
                headers: message.headers,
                producer_id: message.producer_id,
                message_type: message.message_type,
            };
            by_partition.entry(partition).or_default().push((index, record));
        }

        let total = by_partition.values().map(Vec::len).sum();
        let mut results: Vec<Option<Published>> = vec![None; total];
        for (partition, entries) in by_partition {
            let (indexes, records): (Vec<usize>, Vec<NewRecord>) = entries.into_iter().unzip();
            let ids: Vec<String> = records.iter().map(|r| r.message_id.clone()).collect();
            let count = records.len();
            let landed = self.inner.log.append(&topic.name, partition, records).await?;
            if landed.len() != count {
                return Err(short_append(landed.len()));
            }
            for ((index, message_id), at) in indexes.into_iter().zip(ids).zip(landed) {
                results[index] = Some(Published {
                    message_id,
                    topic_name: topic.name.clone(),
                    partition,
                    offset: at.offset,
                    timestamp: Utc
                        .timestamp_millis_opt(at.timestamp_ms)
                        .single()
                        .unwrap_or_default(),
                });
            }
        }
        self.inner.published.notify_waiters();
        let results: Vec<Published> = results.into_iter().flatten().collect();
        tracing::debug!(topic = %topic.name, count = results.len(), "published");
        Ok(results)
    }

    async fn topic_for_publish(&self, name: &str) -> BrokerResult<Topic> {
        if let Some(topic) = self.cached_topic(name).await? {
            if topic.status != TopicStatus::Active {
                return Err(BrokerError::invalid(
                    "topicName",
                    format!("topic {name:?} is {} and takes no messages", topic.status.as_str()),
                ));
            }
            return Ok(topic);
        }
        if !self.inner.cfg.auto_create_topics {
            return Err(BrokerError::topic_not_found(name));
        }
        match self.create_topic(self.topic_defaults(name), "auto-create").await {
            Ok(topic) => Ok(topic),
            // Another publisher created it first: use theirs.
            Err(BrokerError::TopicExists { .. }) => self.existing_topic(name).await,
            Err(other) => Err(other),
        }
    }

    fn choose_partition(&self, topic: &Topic, key: Option<&str>) -> u32 {
        match key {
            Some(key) => partition_for_key(key.as_bytes(), topic.partitions),
            None => {
                let n = self.inner.next_partition.fetch_add(1, Ordering::Relaxed);
                (n % u64::from(topic.partitions.max(1))) as u32
            }
        }
    }
}

fn check_message(topic: &Topic, message: &OutgoingMessage) -> BrokerResult<()> {
    match message.message_type {
        MessageType::Normal => {}
        MessageType::Delay => {
            return Err(BrokerError::Unsupported { what: "messageType \"delay\"" })
        }
        MessageType::Transaction => {
            return Err(BrokerError::Unsupported { what: "messageType \"transaction\"" })
        }
    }
    let size = message.value.len();
    if i64::try_from(size).unwrap_or(i64::MAX) > topic.max_message_size {
        return Err(BrokerError::MessageTooLarge {
            topic: topic.name.clone(),
            size,
            max: topic.max_message_size,
        });
    }
    Ok(())
}

/// The log answered an append with fewer positions than records: a store fault, not a request
/// error.
fn short_append(got: usize) -> BrokerError {
    BrokerError::Store(mq_repo::RepoError::Corrupt {
        what: "append result",
        detail: format!("the log returned {got} positions for a batch"),
    })
}
