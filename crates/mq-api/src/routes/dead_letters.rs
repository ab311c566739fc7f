//! Dead letters: `GET /dead-letters` (filtered, newest first), `GET /dead-letters/{id}`,
//! `POST /dead-letters/retry`, `DELETE /dead-letters/{id}` and `DELETE /dead-letters` (purge by
//! filter).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use mq_broker::Broker;
use mq_model::Paged;
use mq_repo::DeadLetterFilter;
use serde::{Deserialize, Serialize};

use super::resource;
use crate::dto::{DeadLetterOut, RetryBody, RetryOut};
use crate::envelope::ok;
use crate::extract::{page, Json};
use crate::ApiError;

/// `/dead-letters/retry` is mounted before `/dead-letters/{id}` so it is not taken for an id.
pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(
        resource("/dead-letters").route(web::get().to(list)).route(web::delete().to(purge)),
    )
    .service(resource("/dead-letters/retry").route(web::post().to(retry)))
    .service(
        resource("/dead-letters/{id}").route(web::get().to(show)).route(web::delete().to(delete)),
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    topic_name: Option<String>,
    group_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
}

fn time(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match raw.filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(raw) => {
            DateTime::parse_from_rfc3339(raw).map(|t| Some(t.with_timezone(&Utc))).map_err(|e| {
                ApiError::field(
                    field,
                    format!("{raw:?} is not an RFC 3339 time ({e}), e.g. 2026-11-27T10:00:00Z"),
                )
            })
        }
    }
}

fn non_empty(raw: Option<&String>) -> Option<String> {
    raw.filter(|r| !r.is_empty()).cloned()
}

fn filter(
    topic: Option<&String>,
    group: Option<&String>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<DeadLetterFilter, ApiError> {
    Ok(DeadLetterFilter {
        topic_name: non_empty(topic),
        group_id: non_empty(group),
        from: time("from", from)?,
        to: time("to", to)?,
    })
}

async fn list(
    broker: web::Data<Broker>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(query.page.as_deref(), query.page_size.as_deref())?;
    let q = query.into_inner();
    let filter =
        filter(q.topic_name.as_ref(), q.group_id.as_ref(), q.from.as_deref(), q.to.as_deref())?;
    let found = broker.list_dead_letters(&filter, page).await?;
    let out = Paged {
        items: found.items.into_iter().map(DeadLetterOut::from).collect(),
        total: found.total,
        page: found.page,
        page_size: found.page_size,
    };
    ok("ok", out)
}

async fn show(broker: web::Data<Broker>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    ok("ok", DeadLetterOut::from(broker.get_dead_letter(&id).await?))
}

/// How many dead letters a delete or purge removed.
#[derive(Debug, Serialize)]
struct Deleted {
    deleted: u64,
}

async fn delete(
    broker: web::Data<Broker>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    broker.delete_dead_letter(&id).await?;
    ok("dead letter deleted", Deleted { deleted: 1 })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PurgeQuery {
    topic_name: Option<String>,
    group_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    all: Option<bool>,
}

async fn purge(
    broker: web::Data<Broker>,
    query: web::Query<PurgeQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let filter =
        filter(q.topic_name.as_ref(), q.group_id.as_ref(), q.from.as_deref(), q.to.as_deref())?;
    // An empty filter would delete every dead letter of every topic: that must be said.
    if filter == DeadLetterFilter::default() && q.all != Some(true) {
        return Err(ApiError::field(
            "topicName",
            "give topicName, groupId, from or to to choose what to purge, or all=true to purge every dead letter",
        ));
    }
    let deleted = broker.purge_dead_letters(&filter).await?;
    ok("dead letters purged", Deleted { deleted })
}

async fn retry(broker: web::Data<Broker>, body: Json<RetryBody>) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner().try_into()?;
    ok("dead letters retried", RetryOut::from(broker.retry_dead_letters(&request).await?))
}
