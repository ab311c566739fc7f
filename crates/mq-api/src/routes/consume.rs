//! Consuming: `POST /consume` (fetch with a bounded long poll), `POST /ack`, `POST /nack`,
//! `POST /release`, `POST /extend`.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;

use super::resource;
use crate::dto::{
    Acked, Consume, ExtendBody, Extended, MessageOut, MessagesOut, NackBody, Nacked, Released,
    Settle,
};
use crate::envelope::ok;
use crate::extract::Json;
use crate::security::Caller;
use crate::ApiError;

pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/consume").route(web::post().to(consume)))
        .service(resource("/ack").route(web::post().to(ack)))
        .service(resource("/nack").route(web::post().to(nack)))
        .service(resource("/release").route(web::post().to(release)))
        .service(resource("/extend").route(web::post().to(extend)));
}

async fn consume(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<Consume>,
) -> Result<HttpResponse, ApiError> {
    caller.may_consume(&body.topic_name)?;
    let received = broker.fetch(&body.into_inner().into()).await?;
    let messages = received.into_iter().map(MessageOut::from).collect();
    ok("ok", MessagesOut { messages, next_offset: None })
}

async fn ack(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<Settle>,
) -> Result<HttpResponse, ApiError> {
    caller.may_consume(&body.topic_name)?;
    let acked = broker.ack(&body.topic_name, &body.group_id, &body.receipts).await?;
    ok("acked", Acked { acked })
}

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

async fn release(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<Settle>,
) -> Result<HttpResponse, ApiError> {
    caller.may_consume(&body.topic_name)?;
    let released = broker.release(&body.topic_name, &body.group_id, &body.receipts).await?;
    ok("released", Released { released })
}

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
