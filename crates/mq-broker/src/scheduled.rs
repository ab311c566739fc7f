//! Scheduled (delayed) messages after publishing: list, cancel, reschedule, counts.

use chrono::{DateTime, Utc};
use mq_model::{Page, Topic};
use mq_repo::{ScheduleCursor, ScheduledEntry, TopicFilter, TopicRef};

use crate::publish::{to_time, Delay};
use crate::{Broker, BrokerError, BrokerResult};

/// A message waiting in a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledMessage {
    /// Its id.
    pub message_id: String,
    /// Its topic.
    pub topic_name: String,
    /// The partition it will be appended to.
    pub partition: u32,
    /// Its routing key.
    pub key: Option<String>,
    /// When it becomes visible.
    pub deliver_at: DateTime<Utc>,
}

/// A page of a topic's scheduled messages, earliest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledPage {
    /// The messages.
    pub items: Vec<ScheduledMessage>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// How many messages a topic has scheduled, and how soon they fall due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScheduledCounts {
    /// All scheduled messages.
    pub scheduled: u64,
    /// Due within the next minute (overdue ones included).
    pub due_within_minute: u64,
    /// Due within the next hour.
    pub due_within_hour: u64,
    /// Due within the next day.
    pub due_within_day: u64,
}

/// Listing cursors are `<due ms>_<message id>`: opaque to clients, stable across pages.
fn encode_cursor(entry: &ScheduledEntry) -> String {
    format!("{}_{}", entry.due_ms, entry.message_id)
}

fn decode_cursor(text: &str) -> BrokerResult<ScheduleCursor> {
    let bad =
        || BrokerError::invalid("after", format!("not a cursor from a previous page: {text:?}"));
    let (due, id) = text.split_once('_').ok_or_else(bad)?;
    Ok(ScheduleCursor { due_ms: due.parse().map_err(|_| bad())?, message_id: id.to_owned() })
}

impl Broker {
    /// Up to `limit` (1 to 1000) scheduled messages of a topic, earliest first, after `after`
    /// (a cursor of a previous page).
    pub async fn list_scheduled(
        &self,
        topic: &str,
        after: Option<&str>,
        limit: usize,
    ) -> BrokerResult<ScheduledPage> {
        let found = self.existing_topic(topic).await?;
        if !(1..=crate::MAX_FETCH).contains(&limit) {
            return Err(BrokerError::invalid(
                "limit",
                format!("must be between 1 and 1000, got {limit}"),
            ));
        }
        let cursor = after.map(decode_cursor).transpose()?;
        let mut all = Vec::new();
        for partition in 0..found.partitions {
            // One more than a page from each partition: whether there is more is only known
            // once one partition alone could fill the page and has another left.
            let at = TopicRef::from(&found);
            let entries = self.inner.schedule.list(at, partition, cursor.as_ref(), limit + 1);
            all.extend(entries.await?);
        }
        all.sort_by(|a, b| (a.due_ms, &a.message_id).cmp(&(b.due_ms, &b.message_id)));
        let more = all.len() > limit;
        all.truncate(limit);
        let next_cursor = if more { all.last().map(encode_cursor) } else { None };
        let items = all
            .into_iter()
            .map(|e| ScheduledMessage {
                message_id: e.message_id,
                topic_name: topic.to_owned(),
                partition: e.partition,
                key: e.key,
                deliver_at: to_time(e.due_ms),
            })
            .collect();
        Ok(ScheduledPage { items, next_cursor })
    }

    /// Cancels a scheduled message of `topic` (or of any topic, which costs a look into every
    /// topic's schedules). `ScheduledNotFound` when it already fired, was cancelled or never
    /// existed: either it is cancelled or it is delivered, never both; `TopicNotFound` for a
    /// named topic that does not exist.
    pub async fn cancel_scheduled(
        &self,
        message_id: &str,
        topic: Option<&str>,
    ) -> BrokerResult<()> {
        let (found, partition) = self.locate_scheduled(message_id, topic).await?;
        if !self.inner.schedule.cancel((&found).into(), partition, message_id).await? {
            return Err(BrokerError::ScheduledNotFound { message_id: message_id.to_owned() });
        }
        tracing::info!(topic = %found.name, partition, message_id, "scheduled message cancelled");
        Ok(())
    }

    /// Moves a scheduled message (of `topic`, or of any topic) to a new time.
    /// `ScheduledNotFound` and `TopicNotFound` as for cancelling.
    pub async fn reschedule(
        &self,
        message_id: &str,
        delay: Delay,
        topic: Option<&str>,
    ) -> BrokerResult<ScheduledMessage> {
        let now_ms = self.inner.clock.now_ms();
        let cfg = &self.inner.cfg.delay;
        let due_ms = match delay {
            Delay::Seconds(seconds) => mq_delay::due_from_delay(cfg, now_ms, seconds)?,
            Delay::At(at) => mq_delay::due_from_time(cfg, now_ms, at.timestamp_millis())?,
        };
        let (found, partition) = self.locate_scheduled(message_id, topic).await?;
        let at = TopicRef::from(&found);
        if !self.inner.schedule.reschedule(at, partition, message_id, due_ms).await? {
            return Err(BrokerError::ScheduledNotFound { message_id: message_id.to_owned() });
        }
        self.inner.delay.track(at, partition, message_id, due_ms);
        Ok(ScheduledMessage {
            message_id: message_id.to_owned(),
            topic_name: found.name,
            partition,
            key: None,
            deliver_at: to_time(due_ms),
        })
    }

    /// The topic and partition a scheduled message waits in: looked for in `topic`'s
    /// partitions, or without a topic in every topic's, a page of topics at a time (each
    /// topic's partitions asked together). `ScheduledNotFound`; `TopicNotFound` for a named
    /// topic that does not exist.
    pub async fn locate_scheduled(
        &self,
        message_id: &str,
        topic: Option<&str>,
    ) -> BrokerResult<(Topic, u32)> {
        let not_found = || BrokerError::ScheduledNotFound { message_id: message_id.to_owned() };
        if let Some(name) = topic {
            let found = self.existing_topic(name).await?;
            let at = self.inner.schedule.find((&found).into(), found.partitions, message_id);
            return match at.await? {
                Some((partition, _)) => Ok((found, partition)),
                None => Err(not_found()),
            };
        }
        for page in 1.. {
            let topics = self.list_topics(&TopicFilter::default(), Page::new(page, 100)).await?;
            let finds = topics
                .items
                .iter()
                .map(|t| self.inner.schedule.find(t.into(), t.partitions, message_id));
            let found = futures_util::future::try_join_all(finds).await?;
            let hit = topics.items.iter().zip(found).find_map(|(t, f)| Some((t.clone(), f?.0)));
            if let Some(hit) = hit {
                return Ok(hit);
            }
            if topics.items.len() < 100 {
                break;
            }
        }
        Err(not_found())
    }

    /// How many messages a topic has scheduled, and how many fall due soon.
    pub async fn scheduled_counts(&self, topic: &str) -> BrokerResult<ScheduledCounts> {
        let found = self.existing_topic(topic).await?;
        let now_ms = self.inner.clock.now_ms();
        let mut counts = ScheduledCounts::default();
        for partition in 0..found.partitions {
            let at = TopicRef::from(&found);
            let count = |until| self.inner.schedule.count(at, partition, until);
            counts.scheduled += count(None).await?;
            counts.due_within_minute += count(Some(now_ms + 60_000)).await?;
            counts.due_within_hour += count(Some(now_ms + 3_600_000)).await?;
            counts.due_within_day += count(Some(now_ms + 86_400_000)).await?;
        }
        Ok(counts)
    }

    /// The delayed-message scheduler's own figures: wheel size, firings and their lateness.
    pub fn delay_stats(&self) -> mq_delay::DelayStats {
        self.inner.delay.stats()
    }
}
