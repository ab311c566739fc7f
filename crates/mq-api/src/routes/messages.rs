//! `POST /messages` (design §5.2.1) and `POST /messages/batch`: immediate or delayed
//! (`messageType: "delay"` with `delaySeconds` or `deliverAt`), or for a single message
//! transactional (`messageType: "transaction"`: a half message, see `transactions.rs`).

use actix_web::{web, HttpRequest, HttpResponse};
use mq_broker::Broker;

use super::Routes;
use crate::dto::{BatchOut, PreparedOut, PublishedOut, SendBatch, SendMessage, SentOut};
use crate::envelope::ok;
use crate::extract::Json;
use crate::limits::Limits;
use crate::openapi::{Envelope, ErrorEnvelope};
use crate::security::Caller;
use crate::ApiError;

pub(super) fn mount(routes: &mut Routes<'_>) {
    routes.add(__path_send, send).add(__path_send_batch, send_batch);
}

/// Publishes one message.
///
/// Immediate, delayed (`messageType: "delay"` with `delaySeconds` or `deliverAt`) or
/// transactional (`messageType: "transaction"`: a half message, delivered once committed).
/// Needs the produce permission for the topic.
#[utoipa::path(
    post,
    path = "/api/v1/mq/messages",
    tag = "messages",
    operation_id = "sendMessage",
    request_body = SendMessage,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "The same as the body's `idempotencyKey` (1 to 128 bytes).")),
    responses(
        (status = 200, description = "Sent (`message sent`) or prepared (`transaction prepared`); \
         a repeat of an idempotency key answers the first publish with `duplicate: true`.",
         body = Envelope<SentOut>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
        (status = 413, description = "The message (value, key and headers together) is larger \
         than the topic's `maxMessageSize`, or the body larger than the server's limit; the \
         message names the largest part.", body = ErrorEnvelope),
    ),
)]
async fn send(
    broker: web::Data<Broker>,
    limits: web::Data<Limits>,
    caller: Caller,
    request: HttpRequest,
    body: Json<SendMessage>,
) -> Result<HttpResponse, ApiError> {
    caller.may_produce(&body.topic_name)?;
    let options = body.txn_options()?;
    let header_key = match request.headers().get("idempotency-key") {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::field("Idempotency-Key", "must be visible ASCII text (1 to 128 bytes)")
        })?),
    };
    let mut message = body.outgoing(header_key, limits.max_value_depth)?;
    if body.is_transaction() {
        // The transaction belongs to the token that prepared it: a service token may read and
        // decide only its own.
        message.producer_id = Some(caller.name.clone());
        let prepared = broker.prepare_transaction(&body.topic_name, message, options).await?;
        return ok("transaction prepared", SentOut::Prepared(PreparedOut::from(prepared)));
    }
    let started = std::time::Instant::now();
    let published = broker.publish(&body.topic_name, message).await?;
    // The design's §9.2 log line: topic, message id and latency; never the value.
    tracing::info!(
        topic = %published.topic_name,
        message_id = %published.message_id,
        partition = published.partition,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "message sent"
    );
    ok("message sent", SentOut::Published(PublishedOut::from(published)))
}

/// Publishes 1 to 1000 messages to one topic, all or none, in request order.
///
/// Needs the produce permission for the topic.
#[utoipa::path(
    post,
    path = "/api/v1/mq/messages/batch",
    tag = "messages",
    operation_id = "sendBatch",
    request_body = SendBatch,
    responses(
        (status = 200, description = "All sent: where each landed, in request order.",
         body = Envelope<BatchOut>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
        (status = 413, description = "A message (value, key and headers together) is larger \
         than the topic's `maxMessageSize`, or the body larger than the server's limit; the \
         message names it (`messages[i].value`, `.key` or `.headers`).", body = ErrorEnvelope),
    ),
)]
async fn send_batch(
    broker: web::Data<Broker>,
    limits: web::Data<Limits>,
    caller: Caller,
    body: Json<SendBatch>,
) -> Result<HttpResponse, ApiError> {
    caller.may_produce(&body.topic_name)?;
    let messages = body.outgoing(limits.max_value_depth)?;
    let published = broker.publish_batch(&body.topic_name, messages).await?;
    ok("messages sent", BatchOut::from(published))
}
