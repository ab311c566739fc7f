//! Transactions: `POST /transactions/{id}/commit`, `POST /transactions/{id}/rollback`,
//! `GET /transactions/{id}` and `GET /transactions?topicName=&state=` (prepare is
//! `POST /messages` with `messageType: "transaction"`).

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use mq_model::{Paged, Transaction, TransactionState};
use mq_repo::TransactionFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::Routes;
use crate::envelope::ok;
use crate::extract::page;
use crate::openapi::{Envelope, ErrorEnvelope};
use crate::security::Caller;
use crate::ApiError;

pub(super) fn mount(routes: &mut Routes<'_>) {
    routes
        .add(__path_list, list)
        .add(__path_show, show)
        .add(__path_commit, commit)
        .add(__path_rollback, rollback);
}

/// The transaction id in the path.
const TRANSACTION_ID: &str = "The transaction's id (`transactionId` of the prepare).";

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

/// Commits a prepared transaction: its half message is appended and delivered.
///
/// Committing a committed transaction again is harmless. A service token may commit only the
/// transactions it prepared; an admin any.
#[utoipa::path(
    post,
    path = "/api/v1/mq/transactions/{id}/commit",
    tag = "transactions",
    operation_id = "commitTransaction",
    params(("id" = String, Path, description = TRANSACTION_ID)),
    responses(
        (status = 200, description = "Committed.", body = Envelope<Transaction>),
        (status = 404, description = "No transaction has this id.", body = ErrorEnvelope),
        (status = 409, description = "The transaction was rolled back.", body = ErrorEnvelope),
    ),
)]
async fn commit(
    broker: web::Data<Broker>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&broker, &caller, &id).await?;
    ok("transaction committed", broker.commit_transaction(&id).await?)
}

/// Rolls back a prepared transaction: its half message is never delivered.
///
/// A service token may roll back only the transactions it prepared; an admin any.
#[utoipa::path(
    post,
    path = "/api/v1/mq/transactions/{id}/rollback",
    tag = "transactions",
    operation_id = "rollbackTransaction",
    params(("id" = String, Path, description = TRANSACTION_ID)),
    responses(
        (status = 200, description = "Rolled back.", body = Envelope<Transaction>),
        (status = 404, description = "No transaction has this id.", body = ErrorEnvelope),
        (status = 409, description = "The transaction was committed.", body = ErrorEnvelope),
    ),
)]
async fn rollback(
    broker: web::Data<Broker>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&broker, &caller, &id).await?;
    ok("transaction rolled back", broker.rollback_transaction(&id).await?)
}

/// Shows a transaction with its state and history.
///
/// A service token may see only the transactions it prepared; an admin any.
#[utoipa::path(
    get,
    path = "/api/v1/mq/transactions/{id}",
    tag = "transactions",
    operation_id = "getTransaction",
    params(("id" = String, Path, description = TRANSACTION_ID)),
    responses(
        (status = 200, description = "The transaction.", body = Envelope<Transaction>),
        (status = 404, description = "No transaction has this id.", body = ErrorEnvelope),
    ),
)]
async fn show(
    broker: web::Data<Broker>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&broker, &caller, &id).await?;
    ok("ok", broker.get_transaction(&id).await?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only transactions of this topic.
    topic_name: Option<String>,
    /// Only transactions in this state.
    state: Option<TransactionState>,
    #[param(schema_with = crate::openapi::page_number)]
    page: Option<String>,
    /// Items per page, 1 to 1000 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    page_size: Option<String>,
}

/// Lists transactions, optionally of one topic or in one state.
///
/// Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/transactions",
    tag = "transactions",
    operation_id = "listTransactions",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of transactions.",
         body = Envelope<Paged<Transaction>>),
    ),
)]

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
