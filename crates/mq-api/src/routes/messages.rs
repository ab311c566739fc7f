//! `POST /messages` (design §5.2.1) and `POST /messages/batch`: immediate or delayed
//! (`messageType: "delay"` with `delaySeconds` or `deliverAt`), or for a single message
//! transactional (`messageType: "transaction"`: a half message, see `transactions.rs`).

use actix_web::{web, HttpResponse};
use mq_broker::Broker;

use super::resource;
use crate::dto::{BatchOut, PreparedOut, PublishedOut, SendBatch, SendMessage};
use crate::envelope::ok;
use crate::extract::Json;
use crate::ApiError;

pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/messages").route(web::post().to(send)))
        .service(resource("/messages/batch").route(web::post().to(send_batch)));
}

async fn send(
    broker: web::Data<Broker>,
    body: Json<SendMessage>,
) -> Result<HttpResponse, ApiError> {
    let options = body.txn_options()?;
    let message = body.outgoing()?;
    if body.is_transaction() {
        let prepared = broker.prepare_transaction(&body.topic_name, message, options).await?;
        return ok("transaction prepared", PreparedOut::from(prepared));
    }
    let published = broker.publish(&body.topic_name, message).await?;
    ok("message sent", PublishedOut::from(published))
}

async fn send_batch(
    broker: web::Data<Broker>,
    body: Json<SendBatch>,
) -> Result<HttpResponse, ApiError> {
    let messages = body.outgoing()?;
    let published = broker.publish_batch(&body.topic_name, messages).await?;
    ok("messages sent", BatchOut::from(published))
}
