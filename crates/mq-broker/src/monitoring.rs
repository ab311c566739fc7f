//! The monitoring view (design §5.2.3 `GET /monitoring`): per topic its stored messages, end
//! offsets, rates and lag; per group its consumers, backlog and age; and the gauges of
//! `GET /metrics`, read from the stores when asked.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mq_model::{ConsumerGroup, DeliveryMode, Page, Topic};
use mq_repo::{DeadLetterFilter, TopicFilter, TopicRef};

use crate::rates::{acked_series, published_series};
use crate::{Broker, BrokerError, BrokerResult};

/// Longest `timeRange`: 24 hours (how long rate buckets are kept).
pub const MAX_RANGE: Duration = Duration::from_secs(24 * 3600);

/// Which parts of the view to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sections {
    /// Per-topic figures.
    pub topics: bool,
    /// Per-group figures.
    pub consumers: bool,
}

impl Default for Sections {
    fn default() -> Self {
        Self { topics: true, consumers: true }
    }
}

/// The monitoring view.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitoring {
    /// Per topic.
    pub topics: Vec<TopicMonitoring>,
    /// Per consumer group.
    pub consumers: Vec<GroupMonitoring>,
    /// When it was taken.
    pub timestamp: DateTime<Utc>,
    /// The range rates are averaged over.
    pub range: Duration,
}

/// One topic's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicMonitoring {
    /// The topic.
    pub name: String,
    /// Messages currently stored (all partitions).
    pub message_count: u64,
    /// Messages appended per second over the range.
    pub message_rate: f64,
    /// Messages acknowledged per second over the range, all groups together.
    pub consume_rate: f64,
    /// Sum over its groups of their lag.
    pub consumer_lag: u64,
    /// Per partition.
    pub partitions: Vec<PartitionMonitoring>,
    /// Delayed messages waiting.
    pub scheduled_count: u64,
    /// Transactional messages awaiting a decision.
    pub half_message_count: u64,
    /// Dead letters stored for the topic.
    pub dead_letter_count: u64,
}

/// One partition's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartitionMonitoring {
    /// The partition.
    pub partition: u32,
    /// Its end offset: the offset the next message gets.
    pub offset: u64,
    /// Messages stored.
    pub message_count: u64,
    /// Messages appended per second over the range.
    pub message_rate: f64,
    /// The last time the partition lost acknowledged writes and skipped their offsets (see
    /// [`mq_repo::OffsetRollback`]); `None` if it never did.
    pub last_offset_rollback: Option<mq_repo::OffsetRollback>,
}

/// One consumer group's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMonitoring {
    /// The group.
    pub group_id: String,
    /// Its topic.
    pub topic_name: String,
    /// Live consumers.
    pub consumer_count: u32,
    /// Stored messages not yet delivered to it.
    pub total_lag: u64,
    /// Delivered, not yet acknowledged (including those waiting for a retry).
    pub pending: u64,
    /// `active` with live consumers, else `inactive`.
    pub status: &'static str,
    /// How old its oldest undelivered message is, in ms; `None` with no lag.
    pub oldest_unconsumed_age_ms: Option<i64>,
    /// Messages it acknowledged per second over the range.
    pub consume_rate: f64,
    /// Its dead letters stored.
    pub dead_letter_count: u64,
    /// `shared` or `ordered`.
    pub delivery_mode: DeliveryMode,
}

/// Parses a `timeRange` like `30s`, `5m`, `1h`, `24h` (1 s to 24 h).
pub fn parse_range(text: &str) -> BrokerResult<Duration> {
    let bad = || {
        BrokerError::invalid(
            "timeRange",
            format!("{text:?} is not a range like 30s, 5m, 1h or 24h (at most 24h)"),
        )
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    let range = Duration::from_secs(secs);
    if secs == 0 || range > MAX_RANGE {
        return Err(bad());
    }
    Ok(range)
}

impl Broker {
    /// The monitoring view of every topic, or of one (`TopicNotFound`), with rates over
    /// `range` (1 s to 24 h). Counts of this instance not yet flushed are flushed first, so
    /// the view includes them.
    pub async fn monitoring(
        &self,
        topic: Option<&str>,
        range: Duration,
        sections: Sections,
    ) -> BrokerResult<Monitoring> {
        if range.is_zero() || range > MAX_RANGE {
            return Err(BrokerError::invalid("timeRange", "must be between 1s and 24h"));
        }
        let topics = self.topics_to_watch(topic).await?;
        let mut out = Monitoring {
            topics: Vec::new(),
            consumers: Vec::new(),
            timestamp: self.inner.clock.now(),
            range,
        };
        for topic in &topics {
            let groups = self.all_groups(&topic.name).await?;
            let mut group_views = Vec::with_capacity(groups.len());
            for group in &groups {
                group_views.push(self.group_monitoring(topic, group, range).await?);
            }
            if sections.topics {
                out.topics.push(self.topic_monitoring(topic, &group_views, range).await?);
            }
            if sections.consumers {
                out.consumers.extend(group_views);
            }
        }
        Ok(out)
    }

    /// Every topic, or the one named (`TopicNotFound`), after flushing this instance's rate
    /// counts so that views of them include its latest traffic.
    pub(crate) async fn topics_to_watch(&self, topic: Option<&str>) -> BrokerResult<Vec<Topic>> {
        if let Err(error) = self.flush_rates().await {
            tracing::warn!(%error, "could not flush message rates before reading them");
        }
        match topic {
            Some(name) => Ok(vec![self.get_topic(name).await?]),
            None => self.every_topic().await,
        }
    }

    pub(crate) async fn every_topic(&self) -> BrokerResult<Vec<Topic>> {
        let mut all = Vec::new();
        for page in 1.. {
            let listed = self.list_topics(&TopicFilter::default(), Page::new(page, 100)).await?;
            let done = listed.items.len() < 100;
            all.extend(listed.items);
            if done {
                break;
            }
        }
        Ok(all)
    }

    async fn topic_monitoring(
        &self,
        topic: &Topic,
        groups: &[GroupMonitoring],
        range: Duration,
    ) -> BrokerResult<TopicMonitoring> {
        let series: Vec<String> =
            (0..topic.partitions).map(|p| published_series(&topic.name, p)).collect();
        let rates = self.rates(&series, range).await?;
        let mut partitions = Vec::with_capacity(series.len());
        let (mut scheduled, mut half) = (0, 0);
        for (partition, rate) in (0..topic.partitions).zip(rates) {
            let at = TopicRef::from(topic);
            let stats = self.inner.log.partition_stats(at, partition).await?;
            scheduled += self.inner.schedule.count(at, partition, None).await?;
            half += self.inner.half.held(at, partition).await?;
            partitions.push(PartitionMonitoring {
                partition,
                offset: stats.end_offset,
                message_count: stats.length,
                message_rate: rate,
                last_offset_rollback: stats.last_rollback,
            });
        }
        let filter =
            DeadLetterFilter { topic_name: Some(topic.name.clone()), ..Default::default() };
        let dead = self.inner.dead_letters.list(&filter, Page::new(1, 1)).await?.total;
        Ok(TopicMonitoring {
            name: topic.name.clone(),
            message_count: partitions.iter().map(|p| p.message_count).sum(),
            message_rate: partitions.iter().map(|p| p.message_rate).sum(),
            consume_rate: groups.iter().map(|g| g.consume_rate).sum(),
            consumer_lag: groups.iter().map(|g| g.total_lag).sum(),
            partitions,
            scheduled_count: scheduled,
            half_message_count: half,
            dead_letter_count: dead,
        })
    }

    async fn group_monitoring(
        &self,
        topic: &Topic,
        group: &ConsumerGroup,
        range: Duration,
    ) -> BrokerResult<GroupMonitoring> {
        let now_ms = self.inner.clock.now_ms();
        let (mut lag, mut pending, mut oldest) = (0, 0, None::<i64>);
        for partition in 0..topic.partitions {
            let at = TopicRef::from(topic);
            let position = self.group_lag_or_owed(at, partition, &group.group_id).await?;
            lag += position.lag;
            pending += position.pending;
            if position.lag > 0 {
                let first =
                    self.inner.log.read_range(at, partition, position.next_offset, 1).await?;
                if let Some(record) = first.first() {
                    let age = (now_ms - record.timestamp_ms).max(0);
                    oldest = Some(oldest.map_or(age, |o| o.max(age)));
                }
            }
        }
        let live = self.live_members(group, now_ms).await?.len();
        let rate = self.rates(&[acked_series(&topic.name, &group.group_id)], range).await?;
        let filter = DeadLetterFilter {
            topic_name: Some(topic.name.clone()),
            group_id: Some(group.group_id.clone()),
            ..Default::default()
        };
        let dead = self.inner.dead_letters.list(&filter, Page::new(1, 1)).await?.total;
        Ok(GroupMonitoring {
            group_id: group.group_id.clone(),
            topic_name: topic.name.clone(),
            consumer_count: u32::try_from(live).unwrap_or(u32::MAX),
            total_lag: lag,
            pending,
            status: if live > 0 { "active" } else { "inactive" },
            oldest_unconsumed_age_ms: oldest,
            consume_rate: rate.first().copied().unwrap_or(0.0),
            dead_letter_count: dead,
            delivery_mode: group.delivery_mode,
        })
    }

    /// Sets the gauges of `GET /metrics` from the stores, then renders every series.
    pub async fn render_metrics(&self) -> BrokerResult<String> {
        let view = self.monitoring(None, Duration::from_secs(60), Sections::default()).await?;
        let m = &self.inner.metrics;
        for g in &view.consumers {
            let labels = [g.topic_name.as_str(), g.group_id.as_str()];
            m.lag.with_label_values(&labels).set(i64::try_from(g.total_lag).unwrap_or(i64::MAX));
            m.pending.with_label_values(&labels).set(i64::try_from(g.pending).unwrap_or(i64::MAX));
            let age_secs = g.oldest_unconsumed_age_ms.unwrap_or(0) / 1000;
            m.oldest_age.with_label_values(&labels).set(age_secs);
            let dead = i64::try_from(g.dead_letter_count).unwrap_or(i64::MAX);
            m.dead_letters_now.with_label_values(&labels).set(dead);
        }
        for t in &view.topics {
            let scheduled = i64::try_from(t.scheduled_count).unwrap_or(i64::MAX);
            m.scheduled_now.with_label_values(&[&t.name]).set(scheduled);
            let half = i64::try_from(t.half_message_count).unwrap_or(i64::MAX);
            m.half_now.with_label_values(&[&t.name]).set(half);
        }
        Ok(m.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_with_their_unit() {
        assert_eq!(parse_range("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_range("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_range("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_range("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_range("1d").unwrap(), Duration::from_secs(86_400));
        for bad in ["", "5", "m", "0m", "25h", "2d", "5x", "-5m", "99999999999999999999h"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }
}
