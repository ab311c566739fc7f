//! Publishing: validation, partition choice and appending, one message or a batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use mq_model::{new_id, IdKind, MessageType, Topic, TopicStatus};
use mq_repo::{NewRecord, ScheduledRecord, TopicRef};

use crate::partition::partition_for_key;
use crate::{Broker, BrokerError, BrokerResult};

/// Most messages in one batch.
pub const MAX_BATCH: usize = 1000;

/// When a delayed message becomes visible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// This many seconds from now (more than 0; fractions allowed).
    Seconds(f64),
    /// At this time (not more than a small tolerance in the past).
    At(DateTime<Utc>),
}

/// A message to publish.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutgoingMessage {
    /// Routing key: messages with the same key go to the same partition, in order.
    pub key: Option<String>,
    /// Payload bytes. Value, key and headers together are at most the topic's
    /// `maxMessageSize`; the key at most 1024 bytes, at most 64 headers, each name at most 256
    /// and each value at most 8 KiB (see [`mq_model::validate_message_parts`]).
    pub value: Vec<u8>,
    /// Application headers.
    pub headers: BTreeMap<String, String>,
    /// Producer id recorded with the message.
    pub producer_id: Option<String>,
    /// `normal` or `delay`; transactional messages go through `prepare_transaction`.
    pub message_type: MessageType,
    /// For `delay` messages: when the message becomes visible.
    pub delay: Option<Delay>,
    /// Makes publishing it idempotent (1 to 128 bytes): a repeat with the same key within the
    /// topic's window stores nothing and answers what the first publish got. A message without
    /// a routing key goes to the partition of its idempotency key, so repeats meet there.
    pub idempotency_key: Option<String>,
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

    /// The same message, delivered after `delay` instead of at once.
    pub fn delayed_by(mut self, delay: Duration) -> Self {
        self.message_type = MessageType::Delay;
        self.delay = Some(Delay::Seconds(delay.as_secs_f64()));
        self
    }

    /// The same message with an idempotency key.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// The same message, delivered at `at` instead of at once.
    pub fn deliver_at(mut self, at: DateTime<Utc>) -> Self {
        self.message_type = MessageType::Delay;
        self.delay = Some(Delay::At(at));
        self
    }
}

/// Where a published message landed, or when it will.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its unique id.
    pub message_id: String,
    /// Its topic.
    pub topic_name: String,
    /// Its partition.
    pub partition: u32,
    /// Its offset in the partition; `None` while it is scheduled (it gets one when due).
    pub offset: Option<u64>,
    /// When it was appended, or was accepted for scheduling.
    pub timestamp: DateTime<Utc>,
    /// For a scheduled message: when it becomes visible.
    pub deliver_at: Option<DateTime<Utc>>,
    /// True for a repeat of an idempotency key: nothing was stored, and the fields are the
    /// first publish's.
    pub duplicate: bool,
}

impl Published {
    /// True while the message waits in the schedule.
    pub fn is_scheduled(&self) -> bool {
        self.deliver_at.is_some() && self.offset.is_none()
    }
}

impl Broker {
    /// Publishes one message.
    pub async fn publish(&self, topic: &str, message: OutgoingMessage) -> BrokerResult<Published> {
        let mut results = self.publish_records(topic, vec![message], false).await?;
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
        self.publish_records(topic_name, messages, true).await
    }

    /// `publish_batch`; errors about one message name it `messages[i]` when `batch` is set.
    async fn publish_records(
        &self,
        topic_name: &str,
        messages: Vec<OutgoingMessage>,
        batch: bool,
    ) -> BrokerResult<Vec<Published>> {
        self.refuse_if_shutting_down()?;
        if messages.is_empty() || messages.len() > MAX_BATCH {
            return Err(BrokerError::invalid(
                "messages",
                format!("a batch holds 1 to {MAX_BATCH} messages, got {}", messages.len()),
            ));
        }
        let started = std::time::Instant::now();
        let topic = self.topic_for_publish(topic_name).await?;
        let now_ms = self.inner.clock.now_ms();
        let mut dues = Vec::with_capacity(messages.len());
        for (index, message) in messages.iter().enumerate() {
            check_message(&topic, message, batch.then_some(index))?;
            dues.push(self.due_ms(message, now_ms)?);
        }

        // Group by partition, remembering each message's place in the request; messages due
        // later go to the partition's schedule instead of its log.
        let mut now_by_partition: HashMap<u32, Vec<(usize, NewRecord)>> = HashMap::new();
        let mut later_by_partition: HashMap<u32, Vec<(usize, ScheduledRecord)>> = HashMap::new();
        for (index, (message, due)) in messages.into_iter().zip(dues).enumerate() {
            let idempotency_key = message.idempotency_key.as_deref();
            let partition =
                self.choose_partition(&topic, message.key.as_deref().or(idempotency_key));
            let dedup = self.dedup_for(&topic, idempotency_key);
            let record = NewRecord {
                message_id: new_id(IdKind::Message),
                key: message.key,
                // Sealed before anything is stored, so a missing key fails the whole batch.
                value: self.seal_value(&topic, message.value)?,
                headers: message.headers,
                producer_id: message.producer_id,
                message_type: message.message_type,
                dedup,
            };
            match due {
                Some(due_ms) if due_ms > now_ms => later_by_partition
                    .entry(partition)
                    .or_default()
                    .push((index, ScheduledRecord { due_ms, record })),
                _ => now_by_partition.entry(partition).or_default().push((index, record)),
            }
        }

        let total = now_by_partition.values().map(Vec::len).sum::<usize>()
            + later_by_partition.values().map(Vec::len).sum::<usize>();
        let mut results: Vec<Option<Published>> = vec![None; total];
        // Every partition's share is appended at once rather than one after the other: on Redis
        // each share is one script call, and calls in flight together are pipelined on the
        // pool's connections, so a batch over P partitions costs one round trip instead of P.
        // Each share is still atomic on its own and the batch as a whole never was (a failed
        // share fails the call; shares of other partitions may be stored, as the ones appended
        // before it were), so what a caller can observe is unchanged. Shares that landed are
        // counted in the metrics before the first error is returned, as before.
        let (log, at) = (self.inner.log.as_ref(), TopicRef::from(&topic));
        let appends = now_by_partition.into_iter().map(|(partition, entries)| async move {
            let (indexes, records): (Vec<usize>, Vec<NewRecord>) = entries.into_iter().unzip();
            let ids: Vec<String> = records.iter().map(|r| r.message_id.clone()).collect();
            let count = records.len();
            let landed = log.append(at, partition, records).await?;
            if landed.len() != count {
                return Err(short_append(landed.len()));
            }
            Ok::<_, BrokerError>((partition, indexes, ids, landed))
        });
        let mut first_error = None;
        for appended in futures_util::future::join_all(appends).await {
            let (partition, indexes, ids, landed) = match appended {
                Ok(appended) => appended,
                Err(error) => {
                    first_error.get_or_insert(error);
                    continue;
                }
            };
            let count = landed.len();
            let series = crate::rates::published_series(&topic.name, partition);
            self.inner.rates.add(series, now_ms, count as u64);
            self.inner.metrics.published.with_label_values(&[&topic.name]).inc_by(count as u64);
            for ((index, message_id), at) in indexes.into_iter().zip(ids).zip(landed) {
                results[index] = Some(match at.duplicate_of {
                    Some(original) => crate::dedup::repeat(&topic, partition, original, now_ms),
                    None => Published {
                        message_id,
                        topic_name: topic.name.clone(),
                        partition,
                        offset: Some(at.offset),
                        timestamp: to_time(at.timestamp_ms),
                        deliver_at: None,
                        duplicate: false,
                    },
                });
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        for (partition, entries) in later_by_partition {
            let (indexes, records): (Vec<usize>, Vec<ScheduledRecord>) =
                entries.into_iter().unzip();
            let tracked: Vec<(String, i64)> =
                records.iter().map(|r| (r.record.message_id.clone(), r.due_ms)).collect();
            let answers = self.inner.schedule.schedule(at, partition, records).await?;
            if answers.len() != tracked.len() {
                return Err(short_append(answers.len()));
            }
            let scheduled = self.inner.metrics.scheduled.with_label_values(&[&topic.name]);
            scheduled.inc_by(answers.iter().filter(|a| a.is_none()).count() as u64);
            for ((index, (message_id, due_ms)), answer) in
                indexes.into_iter().zip(tracked).zip(answers)
            {
                if let Some(original) = answer {
                    results[index] =
                        Some(crate::dedup::repeat(&topic, partition, original, now_ms));
                    continue;
                }
                self.inner.delay.track(at, partition, &message_id, due_ms);
                results[index] = Some(Published {
                    message_id,
                    topic_name: topic.name.clone(),
                    partition,
                    offset: None,
                    timestamp: to_time(now_ms),
                    deliver_at: Some(to_time(due_ms)),
                    duplicate: false,
                });
            }
        }
        self.inner.published.notify_waiters();
        let latency = self.inner.metrics.publish_latency.with_label_values(&[&topic.name]);
        latency.observe(started.elapsed().as_secs_f64());
        let results: Vec<Published> = results.into_iter().flatten().collect();
        tracing::debug!(topic = %topic.name, count = results.len(), "published");
        Ok(results)
    }

    /// When a message is due: `None` to append at once; checks the delay against the type.
    fn due_ms(&self, message: &OutgoingMessage, now_ms: i64) -> BrokerResult<Option<i64>> {
        let cfg = &self.inner.cfg.delay;
        match (message.message_type, message.delay) {
            (MessageType::Delay, Some(Delay::Seconds(seconds))) => {
                Ok(Some(mq_delay::due_from_delay(cfg, now_ms, seconds)?))
            }
            (MessageType::Delay, Some(Delay::At(at))) => {
                Ok(Some(mq_delay::due_from_time(cfg, now_ms, at.timestamp_millis())?))
            }
            (MessageType::Delay, None) => Err(BrokerError::invalid(
                "delaySeconds",
                "a message of type delay needs delaySeconds or deliverAt",
            )),
            (MessageType::Normal, Some(_)) => Err(BrokerError::invalid(
                "messageType",
                "a delayed message needs messageType \"delay\"; normal messages are delivered at once",
            )),
            (MessageType::Normal, None) => Ok(None),
            (MessageType::Transaction, _) => Err(BrokerError::invalid(
                "messageType",
                "a transactional message is prepared on its own (Broker::prepare_transaction, \
                 or POST /messages with one message), then committed or rolled back",
            )),
        }
    }

    pub(crate) async fn topic_for_publish(&self, name: &str) -> BrokerResult<Topic> {
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

    pub(crate) fn choose_partition(&self, topic: &Topic, key: Option<&str>) -> u32 {
        match key {
            Some(key) => partition_for_key(key.as_bytes(), topic.partitions),
            None => {
                let n = self.inner.next_partition.fetch_add(1, Ordering::Relaxed);
                (n % u64::from(topic.partitions.max(1))) as u32
            }
        }
    }
}

pub(crate) fn to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub(crate) fn check_message(
    topic: &Topic,
    message: &OutgoingMessage,
    index: Option<usize>,
) -> BrokerResult<()> {
    let within = |error: mq_model::ModelError| match (index, error) {
        (Some(i), mq_model::ModelError::Invalid { field, reason }) => {
            BrokerError::invalid(field, format!("(message {i} of the batch) {reason}"))
        }
        (_, error) => error.into(),
    };
    if let Some(key) = &message.idempotency_key {
        mq_model::validate_idempotency_key("idempotencyKey", key)?;
    }
    mq_model::validate_message_parts(message.key.as_deref(), &message.headers).map_err(within)?;
    let key = message.key.as_deref();
    let size = mq_model::message_size(message.value.len(), key, &message.headers);
    if i64::try_from(size).unwrap_or(i64::MAX) > topic.max_message_size {
        let headers = mq_model::message_size(0, None, &message.headers);
        let part = [
            ("value", message.value.len()),
            ("key", key.map_or(0, str::len)),
            ("headers", headers),
        ]
        .into_iter()
        .max_by_key(|(_, bytes)| *bytes)
        .map_or("value", |(part, _)| part);
        return Err(BrokerError::MessageTooLarge {
            topic: topic.name.clone(),
            size,
            max: topic.max_message_size,
            field: index.map_or_else(|| part.to_owned(), |i| format!("messages[{i}].{part}")),
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
