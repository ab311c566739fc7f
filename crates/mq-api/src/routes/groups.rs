//! Consumer groups: create, list (optionally of one topic), show, update (retry policy and
//! timeouts), delete.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use serde::Deserialize;

use super::resource;
use crate::dto::{CreateGroup, UpdateGroup};
use crate::envelope::ok;
use crate::extract::{page, required, Json};
use crate::security::Caller;
use crate::ApiError;

pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(
        resource("/consumer-groups").route(web::get().to(list)).route(web::post().to(create)),
    )
    .service(
        resource("/consumer-groups/{groupId}")
            .route(web::get().to(show))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    );
}

async fn create(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<CreateGroup>,
) -> Result<HttpResponse, ApiError> {
    caller.may_consume(body.topic_name())?;
    ok("consumer group created", broker.create_group(body.into_inner().into()).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    topic_name: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
}

async fn list(
    broker: web::Data<Broker>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(query.page.as_deref(), query.page_size.as_deref())?;
    let topic = query.topic_name.as_deref().filter(|t| !t.is_empty());
    ok("ok", broker.list_groups(topic, page).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GroupQuery {
    topic_name: Option<String>,
}

async fn show(
    broker: web::Data<Broker>,
    group: web::Path<String>,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, ApiError> {
    let topic = required("topicName", query.topic_name.as_deref())?;
    broker.get_topic(topic).await?;
    ok("ok", broker.get_group(topic, &group).await?)
}

async fn update(
    broker: web::Data<Broker>,
    group: web::Path<String>,
    query: web::Query<GroupQuery>,
    body: Json<UpdateGroup>,
) -> Result<HttpResponse, ApiError> {
    let topic = required("topicName", query.topic_name.as_deref())?;
    ok(
        "consumer group updated",
        broker.update_group(topic, &group, body.into_inner().into()).await?,
    )
}

async fn delete(
    broker: web::Data<Broker>,
    group: web::Path<String>,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, ApiError> {
    // A group id is unique only within its topic, so the topic must be named.
    let topic = required("topicName", query.topic_name.as_deref())?;
    broker.delete_group(topic, &group).await?;
    ok("consumer group deleted", ())
}
