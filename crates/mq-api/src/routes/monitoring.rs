//! Monitoring: `GET /monitoring` (design §5.2.3), `GET /alerts`, and `GET /metrics` at the root
//! in the Prometheus text format.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use mq_broker::{Broker, Monitoring, Sections};
use mq_model::{Alert, DeliveryMode};
use serde::{Deserialize, Serialize};

use super::resource;
use crate::envelope::ok;
use crate::extract::number;
use crate::ApiError;

pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/monitoring").route(web::get().to(monitoring)))
        .service(resource("/alerts").route(web::get().to(alerts)));
}

/// `GET /metrics`, mounted at the root like the health checks.
pub(super) fn mount_root(app: &mut web::ServiceConfig) {
    app.service(
        resource("/metrics")
            .wrap(actix_web::middleware::from_fn(crate::security::guard))
            .route(web::get().to(metrics)),
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MonitoringQuery {
    topic_name: Option<String>,
    time_range: Option<String>,
    metrics: Option<String>,
}

/// The design's shape, plus extra fields per topic and group.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MonitoringOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    topics: Option<Vec<TopicOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumers: Option<Vec<GroupOut>>,
    timestamp: DateTime<Utc>,
    time_range: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicOut {
    name: String,
    message_count: u64,
    message_rate: f64,
    consumer_lag: u64,
    partitions: Vec<PartitionOut>,
    consume_rate: f64,
    scheduled_count: u64,
    half_message_count: u64,
    dead_letter_count: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PartitionOut {
    partition: u32,
    offset: u64,
    message_rate: f64,
    message_count: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupOut {
    group_id: String,
    topic_name: String,
    consumer_count: u32,
    total_lag: u64,
    status: &'static str,
    pending: u64,
    oldest_unconsumed_age_ms: Option<i64>,
    consume_rate: f64,
    dead_letter_count: u64,
    delivery_mode: DeliveryMode,
}

/// Rates rounded to 1/1000 per second: enough for people and for tests with a tolerance.
fn round(rate: f64) -> f64 {
    (rate * 1000.0).round() / 1000.0
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

async fn monitoring(
    broker: web::Data<Broker>,
    query: web::Query<MonitoringQuery>,
) -> Result<HttpResponse, ApiError> {
    let range_text = query.time_range.as_deref().filter(|r| !r.is_empty()).unwrap_or("1h");
    let range = mq_broker::parse_range(range_text)?;
    let chosen = sections(query.metrics.as_deref())?;
    let topic = query.topic_name.as_deref().filter(|t| !t.is_empty());
    let view = broker.monitoring(topic, range, chosen).await?;
    ok("ok", render(view, chosen, range_text))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AlertsQuery {
    limit: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertsOut {
    active: Vec<Alert>,
    history: Vec<Alert>,
}

async fn alerts(
    broker: web::Data<Broker>,
    query: web::Query<AlertsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = number("limit", query.limit.as_deref(), 100, 1, 1000)?;
    let view = broker.alerts(usize::try_from(limit).unwrap_or(1000)).await?;
    ok("ok", AlertsOut { active: view.active, history: view.history })
}

async fn metrics(broker: web::Data<Broker>) -> Result<HttpResponse, ApiError> {
    let text = broker.render_metrics().await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
