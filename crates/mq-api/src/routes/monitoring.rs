//! Monitoring: `GET /monitoring` (design §5.2.3), `GET /monitoring/history` (rates over time,
//! for charts), `GET /alerts`, and `GET /metrics` at the root in the Prometheus text format.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use mq_broker::{Broker, Monitoring, Sections};
use mq_model::{Alert, DeliveryMode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Routes;
use crate::envelope::ok;
use crate::extract::number;
use crate::openapi::{Envelope, ErrorEnvelope};
use crate::ApiError;

pub(super) fn mount(routes: &mut Routes<'_>) {
    routes
        .add(__path_monitoring, monitoring)
        .add(__path_history, history)
        .add(__path_alerts, alerts);
}

/// `GET /metrics`, mounted at the root like the health checks.
pub(super) fn mount_root(routes: &mut Routes<'_>) {
    routes.add(__path_metrics, metrics);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct MonitoringQuery {
    /// Only this topic (and its groups).
    topic_name: Option<String>,
    /// The range rates are computed over: a number and `s`, `m`, `h` or `d`, at most 24 hours
    /// (default `1h`).
    #[param(pattern = "^([0-9]+[smhd])?$", example = "1h")]
    time_range: Option<String>,
    /// The sections to show, comma-separated: `topics`, `consumers` (default both).
    #[param(example = "topics,consumers")]
    metrics: Option<String>,
}

/// The design's shape, plus extra fields per topic and group.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct MonitoringOut {
    /// Per topic (unless `metrics` leaves them out).
    #[serde(skip_serializing_if = "Option::is_none")]
    topics: Option<Vec<TopicOut>>,
    /// Per consumer group (unless `metrics` leaves them out).
    #[serde(skip_serializing_if = "Option::is_none")]
    consumers: Option<Vec<GroupOut>>,
    /// When the view was taken.
    timestamp: DateTime<Utc>,
    /// The range of the rates, as asked.
    time_range: String,
}

/// One topic's figures; rates are messages per second over the range.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TopicOut {
    /// The topic.
    name: String,
    /// Messages stored.
    message_count: u64,
    /// Messages published per second.
    message_rate: f64,
    /// Messages not yet delivered, over its groups.
    consumer_lag: u64,
    /// Per partition.
    partitions: Vec<PartitionOut>,
    /// Messages acknowledged per second.
    consume_rate: f64,
    /// Delayed messages waiting.
    scheduled_count: u64,
    /// Half messages of undecided transactions.
    half_message_count: u64,
    /// Dead letters.
    dead_letter_count: u64,
}

/// One partition's figures.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PartitionOut {
    /// The partition.
    partition: u32,
    /// The next offset to append.
    offset: u64,
    /// Messages published per second.
    message_rate: f64,
    /// Messages stored.
    message_count: u64,
    /// The last time the partition lost writes it had acknowledged (a Redis failover to a
    /// replica that lagged, or a restart that lost the last writes) and skipped the offsets
    /// they had, so that no offset is handed out twice. Left out if it never did.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_offset_rollback: Option<RollbackOut>,
}

/// Offsets a partition skipped after losing acknowledged writes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RollbackOut {
    /// When it was found.
    at: chrono::DateTime<chrono::Utc>,
    /// The first offset skipped: what the partition would have handed out next.
    from_offset: u64,
    /// One past the last offset skipped: where it went on.
    to_offset: u64,
}

/// One consumer group's figures.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct GroupOut {
    /// The group.
    group_id: String,
    /// Its topic.
    topic_name: String,
    /// Live consumers.
    consumer_count: u32,
    /// Messages not yet delivered.
    total_lag: u64,
    /// `active` with a live consumer, else `inactive`.
    #[schema(pattern = "^(active|inactive)$")]
    status: &'static str,
    /// Deliveries not yet acknowledged.
    pending: u64,
    /// Age of the oldest message not yet delivered, if any.
    oldest_unconsumed_age_ms: Option<i64>,
    /// Messages acknowledged per second.
    consume_rate: f64,
    /// Its dead letters.
    dead_letter_count: u64,
    /// `shared` or `ordered`.
    delivery_mode: DeliveryMode,
}

/// Rates rounded to 1/1000 per second: enough for people and for tests with a tolerance.
fn round(rate: f64) -> f64 {
    (rate * 1000.0).round() / 1000.0
}

/// `timeRange` as given (default `1h`) and as a duration.
fn time_range(raw: Option<&str>) -> Result<(&str, std::time::Duration), ApiError> {
    let text = raw.filter(|r| !r.is_empty()).unwrap_or("1h");
    Ok((text, mq_broker::parse_range(text)?))
}

fn sections(raw: Option<&str>) -> Result<Sections, ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(Sections::default());
    };
    let mut chosen = Sections { topics: false, consumers: false };
    for part in raw.split(',').map(str::trim) {
        match part {
            "topics" => chosen.topics = true,
            "consumers" => chosen.consumers = true,
            other => {
                let reason = format!("{other:?} is not a section; use topics and/or consumers");
                return Err(ApiError::field("metrics", reason));
            }
        }
    }
    Ok(chosen)
}

fn render(view: Monitoring, chosen: Sections, range: &str) -> MonitoringOut {
    let topics = view
        .topics
        .into_iter()
        .map(|t| TopicOut {
            name: t.name,
            message_count: t.message_count,
            message_rate: round(t.message_rate),
            consumer_lag: t.consumer_lag,
            partitions: t
                .partitions
                .into_iter()
                .map(|p| PartitionOut {
                    partition: p.partition,
                    offset: p.offset,
                    message_rate: round(p.message_rate),
                    message_count: p.message_count,
                    last_offset_rollback: p.last_offset_rollback.map(|r| RollbackOut {
                        at: chrono::DateTime::from_timestamp_millis(r.at_ms).unwrap_or_default(),
                        from_offset: r.from,
                        to_offset: r.to,
                    }),
                })
                .collect(),
            consume_rate: round(t.consume_rate),
            scheduled_count: t.scheduled_count,
            half_message_count: t.half_message_count,
            dead_letter_count: t.dead_letter_count,
        })
        .collect();
    let consumers = view
        .consumers
        .into_iter()
        .map(|g| GroupOut {
            group_id: g.group_id,
            topic_name: g.topic_name,
            consumer_count: g.consumer_count,
            total_lag: g.total_lag,
            status: g.status,
            pending: g.pending,
            oldest_unconsumed_age_ms: g.oldest_unconsumed_age_ms,
            consume_rate: round(g.consume_rate),
            dead_letter_count: g.dead_letter_count,
            delivery_mode: g.delivery_mode,
        })
        .collect();
    MonitoringOut {
        topics: chosen.topics.then_some(topics),
        consumers: chosen.consumers.then_some(consumers),
        timestamp: view.timestamp,
        time_range: range.to_owned(),
    }
}

/// Rates, counts and lag per topic, partition and consumer group (design §5.2.3).
///
/// Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/monitoring",
    tag = "monitoring",
    operation_id = "monitoring",
    params(MonitoringQuery),
    responses(
        (status = 200, description = "The view.", body = Envelope<MonitoringOut>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
    ),
)]
async fn monitoring(
    broker: web::Data<Broker>,
    query: web::Query<MonitoringQuery>,
) -> Result<HttpResponse, ApiError> {
    let (range_text, range) = time_range(query.time_range.as_deref())?;
    let chosen = sections(query.metrics.as_deref())?;
    let topic = query.topic_name.as_deref().filter(|t| !t.is_empty());
    let view = broker.monitoring(topic, range, chosen).await?;
    ok("ok", render(view, chosen, range_text))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// Only this topic.
    topic_name: Option<String>,
    /// How far back: a number and `s`, `m`, `h` or `d`, at most 24 hours (default `1h`).
    #[param(pattern = "^([0-9]+[smhd])?$", example = "5m")]
    time_range: Option<String>,
}

/// Published and acknowledged messages per step, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct HistoryOut {
    /// The range, as asked.
    time_range: String,
    /// Width of each point in seconds, so that there are at most 181 points: 10 seconds up to
    /// 30 minutes, 20 for an hour; beyond an hour whole minutes (a minute up to 3 hours, 8 for
    /// 24 hours).
    step_secs: u64,
    /// Where the first point begins (up to a step before the range starts).
    from: DateTime<Utc>,
    /// When the history was taken.
    to: DateTime<Utc>,
    /// Messages published in all the points.
    published: u64,
    /// Messages acknowledged in all the points, all groups together.
    acked: u64,
    /// One per step, with no gaps; the last is the step under way.
    points: Vec<PointOut>,
}

/// One step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PointOut {
    /// Where the step begins.
    at: DateTime<Utc>,
    /// Messages published in it.
    published: u64,
    /// Messages acknowledged in it (a message two groups consume counts twice).
    acked: u64,
    /// Published per second over the step (the step under way: over its seconds so far).
    publish_rate: f64,
    /// Acknowledged per second, likewise.
    consume_rate: f64,
}

/// Publish and consume rates over time, of every topic or one: for charts.
///
/// Counts are kept per 10 seconds for an hour and per minute for 24 hours, by every server
/// instance together. Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/monitoring/history",
    tag = "monitoring",
    operation_id = "rateHistory",
    params(HistoryQuery),
    responses(
        (status = 200, description = "The history.", body = Envelope<HistoryOut>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
    ),
)]
async fn history(
    broker: web::Data<Broker>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (range_text, range) = time_range(query.time_range.as_deref())?;
    let topic = query.topic_name.as_deref().filter(|t| !t.is_empty());
    let history = broker.rate_history(topic, range).await?;
    let out = HistoryOut {
        time_range: range_text.to_owned(),
        step_secs: history.step.as_secs(),
        from: history.points.first().map_or(history.taken_at, |p| p.at),
        to: history.taken_at,
        published: history.published(),
        acked: history.acked(),
        points: history
            .points
            .into_iter()
            .map(|p| PointOut {
                at: p.at,
                published: p.published,
                acked: p.acked,
                publish_rate: round(p.publish_rate),
                consume_rate: round(p.consume_rate),
            })
            .collect(),
    };
    ok("ok", out)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct AlertsQuery {
    /// Most resolved alerts to show, 1 to 1000 (default 100).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// Open alerts and the latest resolved ones.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AlertsOut {
    /// Open now.
    active: Vec<Alert>,
    /// Resolved, newest first.
    history: Vec<Alert>,
}

/// Open alerts and the history of resolved ones.
///
/// Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/alerts",
    tag = "monitoring",
    operation_id = "alerts",
    params(AlertsQuery),
    responses((status = 200, description = "The alerts.", body = Envelope<AlertsOut>)),
)]
async fn alerts(
    broker: web::Data<Broker>,
    query: web::Query<AlertsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = number("limit", query.limit.as_deref(), 100, 1, 1000)?;
    let view = broker.alerts(usize::try_from(limit).unwrap_or(1000)).await?;
    ok("ok", AlertsOut { active: view.active, history: view.history })
}

/// Prometheus metrics in the text exposition format (not in the envelope).
///
/// Needs the admin role, unless `auth.metrics_public` makes it open.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "monitoring",
    operation_id = "metrics",
    responses(
        (status = 200, description = "The metrics, Prometheus text format 0.0.4.",
         content_type = "text/plain", body = String),
    ),
)]
async fn metrics(broker: web::Data<Broker>) -> Result<HttpResponse, ApiError> {
    let text = broker.render_metrics().await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
