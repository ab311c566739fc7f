//! Dead letters: `GET /dead-letters` (filtered, newest first), `GET /dead-letters/{id}`,
//! `POST /dead-letters/retry`, `DELETE /dead-letters/{id}` and `DELETE /dead-letters` (purge by
//! filter).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use mq_broker::Broker;
use mq_model::Paged;
use mq_repo::DeadLetterFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Routes;
use crate::dto::{DeadLetterOut, RetryBody, RetryOut};
use crate::envelope::ok;
use crate::extract::{page, Json};
use crate::openapi::{Envelope, ErrorEnvelope};
use crate::ApiError;

/// `/dead-letters/retry` is mounted before `/dead-letters/{id}` so it is not taken for an id.
pub(super) fn mount(routes: &mut Routes<'_>) {
    routes
        .add(__path_list, list)
        .add(__path_purge, purge)
        .add(__path_retry, retry)
        .add(__path_show, show)
        .add(__path_delete, delete);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only dead letters of this topic.
    topic_name: Option<String>,
    /// Only dead letters of this group.
    group_id: Option<String>,
    #[param(schema_with = crate::openapi::failed_from)]
    from: Option<String>,
    #[param(schema_with = crate::openapi::failed_to)]
    to: Option<String>,
    #[param(schema_with = crate::openapi::page_number)]
    page: Option<String>,
    /// Items per page, 1 to 1000 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
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

/// Lists dead letters, newest first, optionally of one topic, group or time range.
///
/// Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/dead-letters",
    tag = "dead-letters",
    operation_id = "listDeadLetters",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of dead letters.",
         body = Envelope<mq_model::Paged<DeadLetterOut>>),
    ),
)]
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

/// Shows one dead letter with its content and attempt history.
///
/// Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/dead-letters/{id}",
    tag = "dead-letters",
    operation_id = "getDeadLetter",
    params(("id" = String, Path, description = "The dead letter's id.")),
    responses(
        (status = 200, description = "The dead letter.", body = Envelope<DeadLetterOut>),
        (status = 404, description = "No dead letter has this id.", body = ErrorEnvelope),
    ),
)]
async fn show(broker: web::Data<Broker>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    ok("ok", DeadLetterOut::from(broker.get_dead_letter(&id).await?))
}

/// How many dead letters a delete or purge removed.
#[derive(Debug, Serialize, ToSchema)]
struct Deleted {
    /// How many were deleted.
    deleted: u64,
}

/// Deletes one dead letter.
///
/// Needs the admin role.
#[utoipa::path(
    delete,
    path = "/api/v1/mq/dead-letters/{id}",
    tag = "dead-letters",
    operation_id = "deleteDeadLetter",
    params(("id" = String, Path, description = "The dead letter's id.")),
    responses(
        (status = 200, description = "Deleted: `{deleted: 1}`.", body = Envelope<Deleted>),
        (status = 404, description = "No dead letter has this id.", body = ErrorEnvelope),
    ),
)]
async fn delete(
    broker: web::Data<Broker>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    broker.delete_dead_letter(&id).await?;
    ok("dead letter deleted", Deleted { deleted: 1 })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct PurgeQuery {
    /// Only dead letters of this topic.
    topic_name: Option<String>,
    /// Only dead letters of this group.
    group_id: Option<String>,
    #[param(schema_with = crate::openapi::failed_from)]
    from: Option<String>,
    #[param(schema_with = crate::openapi::failed_to)]
    to: Option<String>,
    /// `true` to purge every dead letter when no filter is given.
    all: Option<bool>,
}

/// Deletes the dead letters a filter selects; with no filter, only with `all=true`.
///
/// Needs the admin role.
#[utoipa::path(
    delete,
    path = "/api/v1/mq/dead-letters",
    tag = "dead-letters",
    operation_id = "purgeDeadLetters",
    params(PurgeQuery),
    responses(
        (status = 200, description = "How many were deleted.", body = Envelope<Deleted>),
    ),
)]
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

/// Sends dead letters back to their group: by id, or all of a group (optionally within a time
/// range), optionally spread at `ratePerSecond`.
///
/// A dead letter already retried by another request is counted, not sent twice. Needs the
/// admin role.
#[utoipa::path(
    post,
    path = "/api/v1/mq/dead-letters/retry",
    tag = "dead-letters",
    operation_id = "retryDeadLetters",
    request_body = RetryBody,
    responses(
        (status = 200, description = "What the retry did.", body = Envelope<RetryOut>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
    ),
)]
async fn retry(broker: web::Data<Broker>, body: Json<RetryBody>) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner().try_into()?;
    ok("dead letters retried", RetryOut::from(broker.retry_dead_letters(&request).await?))
}
