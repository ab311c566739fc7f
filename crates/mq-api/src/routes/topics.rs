//! Topics: list, create (design §5.2.2), read, update, delete, and browse a partition.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use mq_model::TopicStatus;
use mq_repo::TopicFilter;
use serde::Deserialize;

use super::resource;
use crate::dto::{CreateTopic, MessageOut, MessagesOut, TopicCreated, UpdateTopic};
use crate::envelope::ok;
use crate::extract::{number, page, Json};
use crate::ApiError;

/// `limit` of a browse when none is given.
const DEFAULT_BROWSE_LIMIT: u64 = 100;

pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/topics").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            resource("/topics/{name}")
                .route(web::get().to(get))
                .route(web::put().to(update))
                .route(web::delete().to(delete)),
        )
        .service(resource("/topics/{name}/messages").route(web::get().to(browse)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    page: Option<String>,
    page_size: Option<String>,
    status: Option<String>,
    prefix: Option<String>,
}

fn status(raw: &str) -> Result<TopicStatus, ApiError> {
    match raw {
        "active" => Ok(TopicStatus::Active),
        "inactive" => Ok(TopicStatus::Inactive),
        "deleted" => Ok(TopicStatus::Deleted),
        other => Err(ApiError::field(
            "status",
            format!("must be active, inactive or deleted, got {other:?}"),
        )),
    }
}

async fn list(
    broker: web::Data<Broker>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(query.page.as_deref(), query.page_size.as_deref())?;
    let filter = TopicFilter {
        status: query.status.as_deref().map(status).transpose()?,
        name_prefix: query.prefix.clone().filter(|p| !p.is_empty()),
    };
    ok("ok", broker.list_topics(&filter, page).await?)
}

async fn create(
    broker: web::Data<Broker>,
    body: Json<CreateTopic>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let defaults = broker.topic_defaults(body.name.clone());
    let topic = broker.create_topic(body.into_config(defaults), "").await?;
    ok("topic created", TopicCreated::from(topic))
}

async fn get(broker: web::Data<Broker>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    ok("ok", broker.get_topic(&name).await?)
}

async fn update(
    broker: web::Data<Broker>,
    name: web::Path<String>,
    body: Json<UpdateTopic>,
) -> Result<HttpResponse, ApiError> {
    ok("topic updated", broker.update_topic(&name, body.into_inner().into()).await?)
}

async fn delete(
    broker: web::Data<Broker>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    broker.delete_topic(&name).await?;
    ok("topic deleted", ())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BrowseQuery {
    partition: Option<String>,
    from_offset: Option<String>,
    limit: Option<String>,
}

async fn browse(
    broker: web::Data<Broker>,
    name: web::Path<String>,
    query: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ApiError> {
    let partition = number("partition", query.partition.as_deref(), 0, 0, u64::from(u32::MAX))?;
    let from_offset = number("fromOffset", query.from_offset.as_deref(), 0, 0, u64::MAX)?;
    let limit = number(
        "limit",
        query.limit.as_deref(),
        DEFAULT_BROWSE_LIMIT,
        1,
        mq_broker::MAX_FETCH as u64,
    )?;
    // Both fit: `number` checked the ranges.
    let partition = u32::try_from(partition).unwrap_or(u32::MAX);
    let limit = usize::try_from(limit).unwrap_or(mq_broker::MAX_FETCH);
    let page = broker.browse(&name, partition, from_offset, limit).await?;
    let messages = page.messages.into_iter().map(MessageOut::from).collect();
    ok("ok", MessagesOut { messages, next_offset: Some(page.next_offset) })
}
