//! `POST /messages` (design §5.2.1) and `POST /messages/batch`: immediate or delayed
//! (`messageType: "delay"` with `delaySeconds` or `deliverAt`), or for a single message
//! transactional (`messageType: "transaction"`: a half message, see `transactions.rs`).

use actix_web::{web, HttpResponse};
use mq_broker::Broker;

use super::resource;
use crate::dto::{BatchOut, PreparedOut, PublishedOut, SendBatch, SendMessage};
use crate::envelope::ok;
use crate::extract::Json;
use crate::security::Caller;
use crate::ApiError;

pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/messages").route(web::post().to(send)))
        .service(resource("/messages/batch").route(web::post().to(send_batch)));
}

async fn send(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<SendMessage>,
) -> Result<HttpResponse, ApiError> {
    caller.may_produce(&body.topic_name)?;
    let options = body.txn_options()?;
    let mut message = body.outgoing()?;
    if body.is_transaction() {
        // The transaction belongs to the token that prepared it: a service token may read and
        // decide only its own.
        message.producer_id = Some(caller.name.clone());
        let prepared = broker.prepare_transaction(&body.topic_name, message, options).await?;
        return ok("transaction prepared", PreparedOut::from(prepared));
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
    ok("message sent", PublishedOut::from(published))
}

async fn send_batch(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<SendBatch>,
) -> Result<HttpResponse, ApiError> {
    caller.may_produce(&body.topic_name)?;
    let messages = body.outgoing()?;
    let published = broker.publish_batch(&body.topic_name, messages).await?;
    ok("messages sent", BatchOut::from(published))
}
