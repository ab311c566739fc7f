//! Consuming: `POST /consume` (fetch with a bounded long poll), `POST /ack`, `POST /nack`,
//! `POST /release`, `POST /extend`.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;

use super::Routes;
use crate::dto::{
    Acked, Consume, ExtendBody, Extended, MessageOut, MessagesOut, NackBody, Nacked, Released,
    Settle,
};
use crate::envelope::ok;
use crate::extract::Json;
use crate::limits::Limits;
use crate::openapi::{Envelope, ErrorEnvelope};
use crate::security::Caller;
use crate::ApiError;

pub(super) fn mount(routes: &mut Routes<'_>) {
    routes
        .add(__path_consume, consume)
        .add(__path_ack, ack)
        .add(__path_nack, nack)
        .add(__path_release, release)
        .add(__path_extend, extend);
}

/// Fetches messages for a consumer of a group, waiting up to `waitMs` for the first.
///
/// Each message comes with a `receipt` that settles this delivery: acknowledge it with
/// `POST /ack` within the group's `ackTimeoutMs`, or it is delivered again. The fetch is also
/// the consumer's heartbeat. Needs the consume permission for the topic.
#[utoipa::path(
    post,
    path = "/api/v1/mq/consume",
    tag = "consume",
    operation_id = "consume",
    request_body = Consume,
    responses(
        (status = 200, description = "The messages delivered (maybe none).",
         body = Envelope<MessagesOut>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
        (status = 503, description = "With `waitMs` > 0: this server already holds \
         `max_long_polls` (default 512) long polls and streams; retry after `Retry-After` \
         seconds.",
         body = ErrorEnvelope),
    ),
)]
async fn consume(
    broker: web::Data<Broker>,
    limits: web::Data<Limits>,
    caller: Caller,
    body: Json<Consume>,
) -> Result<HttpResponse, ApiError> {
    caller.may_consume(&body.topic_name)?;
    let request: mq_broker::FetchRequest = body.into_inner().into();
    // Only a fetch that may wait holds a place; one that answers at once costs no more than
    // any other request.
    let _place = if request.wait.is_zero() { None } else { Some(limits.long_poll()?) };
    let received = broker.fetch(&request).await?;
    let messages = received.into_iter().map(MessageOut::from).collect();
    ok("ok", MessagesOut { messages, next_offset: None })
}

/// Acknowledges deliveries: the messages are done for this group.
///
/// A receipt settles only the delivery it came with; unknown or stale receipts count nothing.
/// Needs the consume permission for the topic.
#[utoipa::path(
    post,
    path = "/api/v1/mq/ack",
    tag = "consume",
    operation_id = "ack",
    request_body = Settle,
    responses(
        (status = 200, description = "`acked`: how many were acknowledged.",
         body = Envelope<Acked>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
    ),
)]
async fn ack(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<Settle>,
) -> Result<HttpResponse, ApiError> {
    caller.may_consume(&body.topic_name)?;
    let acked = broker.ack(&body.topic_name, &body.group_id, &body.receipts).await?;
    ok("acked", Acked { acked })
}

/// Reports failed processing: the messages are retried after the group's backoff (or
/// `delayMs`), or dead-lettered (`deadLetter`, or when retries are used up).
///
/// Needs the consume permission for the topic.
#[utoipa::path(
    post,
    path = "/api/v1/mq/nack",
    tag = "consume",
    operation_id = "nack",
    request_body = NackBody,
    responses(
        (status = 200, description = "`nacked`: how many failed.", body = Envelope<Nacked>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
    ),
)]
async fn nack(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<NackBody>,
) -> Result<HttpResponse, ApiError> {
    caller.may_consume(&body.topic_name)?;
    let nacked =
        broker.nack(&body.topic_name, &body.group_id, &body.receipts, &body.nack()).await?;
    ok("nacked", Nacked { nacked })
}

/// Gives deliveries back without a failed attempt, for another consumer to take now.
///
/// Needs the consume permission for the topic.
#[utoipa::path(
    post,
    path = "/api/v1/mq/release",
    tag = "consume",
    operation_id = "release",
    request_body = Settle,
    responses(
        (status = 200, description = "`released`: how many went back.", body = Envelope<Released>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
    ),
)]
async fn release(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<Settle>,
) -> Result<HttpResponse, ApiError> {
    caller.may_consume(&body.topic_name)?;
    let released = broker.release(&body.topic_name, &body.group_id, &body.receipts).await?;
    ok("released", Released { released })
}

/// Pushes back the redelivery of in-flight messages, for long jobs (like a visibility-timeout
/// change): each is delivered again only `extendMs` from now unless acknowledged.
///
/// Needs the consume permission for the topic.
#[utoipa::path(
    post,
    path = "/api/v1/mq/extend",
    tag = "consume",
    operation_id = "extend",
    request_body = ExtendBody,
    responses(
        (status = 200, description = "`extended`: how many got the new deadline.",
         body = Envelope<Extended>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
    ),
)]
async fn extend(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<ExtendBody>,
) -> Result<HttpResponse, ApiError> {
    caller.may_consume(&body.topic_name)?;
    let by = std::time::Duration::from_millis(body.extend_ms);
    let extended = broker.extend(&body.topic_name, &body.group_id, &body.receipts, by).await?;
    ok("extended", Extended { extended })
}
