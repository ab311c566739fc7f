//! Monitoring: `GET /monitoring`, `GET /monitoring/history`, `GET /alerts`, and at the root
//! `GET /metrics`, `GET /healthz` and `GET /readyz`.

use chrono::{DateTime, Utc};
use mq_model::{Alert, DeliveryMode};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::snippet;
use crate::error::{Error, Result};
use crate::Client;

/// What `GET /monitoring` covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitoringQuery {
    /// Only this topic (and its groups).
    pub topic_name: Option<String>,
    /// The window of rates: `5m`, `1h` (default), `24h`, ...
    pub time_range: Option<String>,
    /// Only these sections; empty for both.
    pub sections: Vec<MonitoringSection>,
}

/// A section of the monitoring view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MonitoringSection {
    /// Per topic: counts, rates, partitions.
    Topics,
    /// Per consumer group: lag, pending, rates.
    Consumers,
}

impl MonitoringSection {
    fn as_str(self) -> &'static str {
        match self {
            MonitoringSection::Topics => "topics",
            MonitoringSection::Consumers => "consumers",
        }
    }
}

/// The monitoring view (design §5.2.3 plus extra fields).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Monitoring {
    /// Per topic, unless not asked for.
    pub topics: Option<Vec<TopicStats>>,
    /// Per consumer group, unless not asked for.
    pub consumers: Option<Vec<GroupStats>>,
    /// When the view was taken.
    pub timestamp: DateTime<Utc>,
    /// The window of the rates.
    pub time_range: String,
}

/// A topic's figures.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TopicStats {
    /// The topic.
    pub name: String,
    /// Messages in its partitions.
    pub message_count: u64,
    /// Published per second over the window.
    pub message_rate: f64,
    /// The largest lag of its groups.
    pub consumer_lag: u64,
    /// Per partition.
    pub partitions: Vec<PartitionStats>,
    /// Acknowledged per second over the window, all groups.
    pub consume_rate: f64,
    /// Delayed messages waiting.
    pub scheduled_count: u64,
    /// Half messages of undecided transactions.
    pub half_message_count: u64,
    /// Its dead letters.
    pub dead_letter_count: u64,
}

/// A partition's figures.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PartitionStats {
    /// The partition.
    pub partition: u32,
    /// Its next offset.
    pub offset: u64,
    /// Published per second over the window.
    pub message_rate: f64,
    /// Messages in it.
    pub message_count: u64,
}

/// A consumer group's figures.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GroupStats {
    /// The group.
    pub group_id: String,
    /// Its topic.
    pub topic_name: String,
    /// Live consumers.
    pub consumer_count: u32,
    /// Messages not yet delivered.
    pub total_lag: u64,
    /// The group's state as the server sums it up.
    pub status: String,
    /// Delivered and not yet acknowledged.
    pub pending: u64,
    /// Age of the oldest undelivered message.
    pub oldest_unconsumed_age_ms: Option<i64>,
    /// Acknowledged per second over the window.
    pub consume_rate: f64,
    /// Its dead letters.
    pub dead_letter_count: u64,
    /// Shared or ordered.
    pub delivery_mode: DeliveryMode,
}

/// Active alerts and recently resolved ones (`GET /alerts`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Alerts {
    /// Firing now.
    pub active: Vec<Alert>,
    /// Resolved, newest first.
    pub history: Vec<Alert>,
}

/// Published and acknowledged messages over time (`GET /monitoring/history`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RateHistory {
    /// The range, as asked.
    pub time_range: String,
    /// Width of each point in seconds.
    pub step_secs: u64,
    /// Where the first point begins.
    pub from: DateTime<Utc>,
    /// When the history was taken.
    pub to: DateTime<Utc>,
    /// Messages published in all the points.
    pub published: u64,
    /// Messages acknowledged in all the points, all groups together.
    pub acked: u64,
    /// One per step, oldest first; the last is the step under way.
    pub points: Vec<RatePoint>,
}

/// One step of a [`RateHistory`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RatePoint {
    /// Where the step begins.
    pub at: DateTime<Utc>,
    /// Messages published in it.
    pub published: u64,
    /// Messages acknowledged in it.
    pub acked: u64,
    /// Published per second.
    pub publish_rate: f64,
    /// Acknowledged per second.
    pub consume_rate: f64,
}

#[derive(Debug, Deserialize)]
struct Status {
    status: String,
}

impl Client {
    /// `GET /monitoring`: rates, counts and lag per topic and consumer group.
    pub async fn monitoring(&self, query: &MonitoringQuery) -> Result<Monitoring> {
        let sections = (!query.sections.is_empty())
            .then(|| query.sections.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","));
        let call = self
            .api(Method::GET, &["monitoring"])
            .query("topicName", query.topic_name.as_deref())
            .query("timeRange", query.time_range.as_deref())
            .query("metrics", sections);
        self.data(call).await
    }

    /// `GET /monitoring/history`: publish and consume counts per step over `time_range`
    /// (`5m`, `1h` (default), `24h`, ...), of every topic or of one.
    pub async fn rate_history(
        &self,
        topic: Option<&str>,
        time_range: Option<&str>,
    ) -> Result<RateHistory> {
        let call = self
            .api(Method::GET, &["monitoring", "history"])
            .query("topicName", topic)
            .query("timeRange", time_range);
        self.data(call).await
    }

    /// `GET /alerts`: active alerts and up to `limit` (default 100) resolved ones.
    pub async fn alerts(&self, limit: Option<u32>) -> Result<Alerts> {
        self.data(self.api(Method::GET, &["alerts"]).query("limit", limit)).await
    }

    /// `GET /metrics`: the Prometheus text exposition (admin).
    pub async fn metrics(&self) -> Result<String> {
        self.text(self.root(Method::GET, &["metrics"])).await
    }

    /// `GET /healthz`: `Ok` when the process answers.
    pub async fn healthz(&self) -> Result<()> {
        let (status, body) = self.status(self.root(Method::GET, &["healthz"])).await?;
        match status {
            200 => Ok(()),
            _ => Err(not_status(status, &body)),
        }
    }

    /// `GET /readyz`: whether the server is ready (its stores answer and it is not shutting
    /// down). A 503 is `Ok(false)`, not an error, and is not retried.
    pub async fn readyz(&self) -> Result<bool> {
        let (status, body) = self.status(self.root(Method::GET, &["readyz"])).await?;
        match status {
            200 => Ok(true),
            503 => Ok(false),
            _ => Err(not_status(status, &body)),
        }
    }
}

/// An answer of a health check that is neither ready nor unavailable.
fn not_status(status: u16, body: &[u8]) -> Error {
    let message = serde_json::from_slice::<Status>(body)
        .map_or_else(|_| format!("unexpected answer: {}", snippet(body)), |s| s.status);
    Error::Api { status, message, retry_after: None }
}
