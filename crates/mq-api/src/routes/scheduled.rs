//! Delayed messages after publishing: `GET /topics/{name}/scheduled` lists what waits,
//! `DELETE /messages/{messageId}` cancels a scheduled message and
//! `PUT /messages/{messageId}/schedule` moves it to another time.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use serde::Deserialize;

use super::resource;
use crate::dto::{CancelledOut, Reschedule, ScheduledOut, ScheduledPageOut};
use crate::envelope::ok;
use crate::extract::{number, Json};
use crate::security::Caller;
use crate::ApiError;

/// `limit` of a listing when none is given.
const DEFAULT_LIMIT: u64 = 100;

/// Mounted after `/messages/batch`, which therefore keeps its path rather than being taken for
/// a message id.
pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/topics/{name}/scheduled").route(web::get().to(list)))
        .service(resource("/messages/{messageId}").route(web::delete().to(cancel)))
        .service(resource("/messages/{messageId}/schedule").route(web::put().to(reschedule)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    limit: Option<String>,
    after: Option<String>,
}

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

/// A service token may handle only its own topics' scheduled messages.
async fn may_handle(broker: &Broker, caller: &Caller, message_id: &str) -> Result<(), ApiError> {
    if caller.must_be_admin("").is_ok() {
        return Ok(());
    }
    let (topic, _) = broker.locate_scheduled(message_id).await?;
    caller.may_produce(&topic)
}

async fn cancel(
    broker: web::Data<Broker>,
    caller: Caller,
    message_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&broker, &caller, &message_id).await?;
    broker.cancel_scheduled(&message_id).await?;
    ok(
        "message cancelled",
        CancelledOut { message_id: message_id.into_inner(), status: "cancelled" },
    )
}

async fn reschedule(
    broker: web::Data<Broker>,
    caller: Caller,
    message_id: web::Path<String>,
    body: Json<Reschedule>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&broker, &caller, &message_id).await?;
    let delay = body.delay()?;
    let scheduled = broker.reschedule(&message_id, delay).await?;
    ok("message rescheduled", ScheduledOut::from(scheduled))
}
