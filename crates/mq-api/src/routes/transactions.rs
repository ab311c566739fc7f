//! Transactions: `POST /transactions/{id}/commit`, `POST /transactions/{id}/rollback`,
//! `GET /transactions/{id}` and `GET /transactions?topicName=&state=` (prepare is
//! `POST /messages` with `messageType: "transaction"`).

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use mq_model::TransactionState;
use mq_repo::TransactionFilter;
use serde::Deserialize;

use super::resource;
use crate::envelope::ok;
use crate::extract::page;
use crate::security::Caller;
use crate::ApiError;

pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/transactions").route(web::get().to(list)))
        .service(resource("/transactions/{id}").route(web::get().to(show)))
        .service(resource("/transactions/{id}/commit").route(web::post().to(commit)))
        .service(resource("/transactions/{id}/rollback").route(web::post().to(rollback)));
}

/// A service token may handle only its own transactions (prepared with it), on topics it may
/// still produce to.
async fn may_handle(broker: &Broker, caller: &Caller, id: &str) -> Result<(), ApiError> {
    if caller.must_be_admin("").is_ok() {
        return Ok(());
    }
    let txn = broker.get_transaction(id).await?;
    caller.may_produce(&txn.topic_name)?;
    if txn.producer_id.as_deref() == Some(caller.name.as_str()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            reason: format!("transaction {id:?} was not prepared with token {:?}", caller.name),
        })
    }
}

async fn commit(
    broker: web::Data<Broker>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&broker, &caller, &id).await?;
    ok("transaction committed", broker.commit_transaction(&id).await?)
}

async fn rollback(
    broker: web::Data<Broker>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&broker, &caller, &id).await?;
    ok("transaction rolled back", broker.rollback_transaction(&id).await?)
}

async fn show(
    broker: web::Data<Broker>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&broker, &caller, &id).await?;
    ok("ok", broker.get_transaction(&id).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    topic_name: Option<String>,
    state: Option<TransactionState>,
    page: Option<String>,
    page_size: Option<String>,
}

async fn list(
    broker: web::Data<Broker>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(query.page.as_deref(), query.page_size.as_deref())?;
    let filter = TransactionFilter {
        topic_name: query.topic_name.clone().filter(|t| !t.is_empty()),
        state: query.state,
    };
    ok("ok", broker.list_transactions(&filter, page).await?)
}
