//! Delayed messages after publishing: `GET /topics/{name}/scheduled` lists what waits,
//! `DELETE /messages/{messageId}` cancels a scheduled message and
//! `PUT /messages/{messageId}/schedule` moves it to another time.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use serde::Deserialize;
use utoipa::IntoParams;

use super::Routes;
use crate::dto::{CancelledOut, Reschedule, ScheduledOut, ScheduledPageOut};
use crate::envelope::ok;
use crate::extract::{number, Json};
use crate::openapi::{Envelope, ErrorEnvelope};
use crate::security::Caller;
use crate::ApiError;

/// `limit` of a listing when none is given.
const DEFAULT_LIMIT: u64 = 100;

/// Mounted after `/messages/batch`, which therefore keeps its path rather than being taken for
/// a message id.
pub(super) fn mount(routes: &mut Routes<'_>) {
    routes.add(__path_list, list).add(__path_cancel, cancel).add(__path_reschedule, reschedule);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Most messages to list, 1 to 1000 (default 100).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    after: Option<String>,
}

/// Lists the delayed messages of a topic that wait to be due, earliest first, page by page.
///
/// Needs the produce permission for the topic.
#[utoipa::path(
    get,
    path = "/api/v1/mq/topics/{name}/scheduled",
    tag = "messages",
    operation_id = "listScheduled",
    params(("name" = String, Path, description = "The topic's name."), ListQuery),
    responses(
        (status = 200, description = "A page of scheduled messages.",
         body = Envelope<ScheduledPageOut>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
    ),
)]
async fn list(
    broker: web::Data<Broker>,
    name: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit =
        number("limit", query.limit.as_deref(), DEFAULT_LIMIT, 1, mq_broker::MAX_FETCH as u64)?;
    // `number` checked the range.
    let limit = usize::try_from(limit).unwrap_or(mq_broker::MAX_FETCH);
    let after = query.after.as_deref().filter(|a| !a.is_empty());
    let page = broker.list_scheduled(&name, after, limit).await?;
    ok("ok", ScheduledPageOut::from(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct TopicQuery {
    /// The message's topic. Optional, but without it every topic's schedules are searched for
    /// the id; give it whenever it is known.
    topic_name: Option<String>,
}

impl TopicQuery {
    fn topic(&self) -> Option<&str> {
        self.topic_name.as_deref().filter(|t| !t.is_empty())
    }
}

/// A service token may handle only its own topics' scheduled messages.
async fn may_handle(
    broker: &Broker,
    caller: &Caller,
    message_id: &str,
    topic: Option<&str>,
) -> Result<(), ApiError> {
    if caller.must_be_admin("").is_ok() {
        return Ok(());
    }
    let (found, _) = broker.locate_scheduled(message_id, topic).await?;
    caller.may_produce(&found.name)
}

/// Cancels a delayed message that is not yet due: it will never be delivered.
///
/// Needs the produce permission for the message's topic.
#[utoipa::path(
    delete,
    path = "/api/v1/mq/messages/{messageId}",
    tag = "messages",
    operation_id = "cancelScheduled",
    params(("messageId" = String, Path, description = "The delayed message's id."), TopicQuery),
    responses(
        (status = 200, description = "Cancelled.", body = Envelope<CancelledOut>),
        (status = 404, description = "No scheduled message has this id (maybe it is due \
         already), or the topic named does not exist.", body = ErrorEnvelope),
    ),
)]
async fn cancel(
    broker: web::Data<Broker>,
    caller: Caller,
    message_id: web::Path<String>,
    query: web::Query<TopicQuery>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&broker, &caller, &message_id, query.topic()).await?;
    broker.cancel_scheduled(&message_id, query.topic()).await?;
    ok(
        "message cancelled",
        CancelledOut { message_id: message_id.into_inner(), status: "cancelled" },
    )
}

/// Moves a delayed message that is not yet due to another time, later or earlier.
///
/// Needs the produce permission for the message's topic.
#[utoipa::path(
    put,
    path = "/api/v1/mq/messages/{messageId}/schedule",
    tag = "messages",
    operation_id = "reschedule",
    params(("messageId" = String, Path, description = "The delayed message's id."), TopicQuery),
    request_body = Reschedule,
    responses(
        (status = 200, description = "Rescheduled.", body = Envelope<ScheduledOut>),
        (status = 404, description = "No scheduled message has this id (maybe it is due \
         already), or the topic named does not exist.", body = ErrorEnvelope),
    ),
)]
async fn reschedule(
    broker: web::Data<Broker>,
    caller: Caller,
    message_id: web::Path<String>,
    query: web::Query<TopicQuery>,
    body: Json<Reschedule>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&broker, &caller, &message_id, query.topic()).await?;
    let delay = body.delay()?;
    let scheduled = broker.reschedule(&message_id, delay, query.topic()).await?;
    ok("message rescheduled", ScheduledOut::from(scheduled))
}
