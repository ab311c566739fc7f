//! Topics: list, create (design §5.2.2), read, update, delete, and browse a partition.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use mq_model::{Paged, Topic, TopicStatus};
use mq_repo::TopicFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::Routes;
use crate::dto::{CreateTopic, MessageOut, MessagesOut, TopicCreated, UpdateTopic};
use crate::envelope::ok;
use crate::extract::{number, page, Json};
use crate::openapi::{Envelope, ErrorEnvelope, Null};
use crate::ApiError;

/// `limit` of a browse when none is given.
const DEFAULT_BROWSE_LIMIT: u64 = 100;

pub(super) fn mount(routes: &mut Routes<'_>) {
    routes
        .add(__path_list, list)
        .add(__path_create, create)
        .add(__path_get, get)
        .add(__path_update, update)
        .add(__path_delete, delete)
        .add(__path_browse, browse);
}

/// The topic name in the path.
const TOPIC_NAME: &str = "The topic's name.";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    #[param(schema_with = crate::openapi::page_number)]
    page: Option<String>,
    /// Items per page, 1 to 1000 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    page_size: Option<String>,
    /// Only topics in this status.
    #[param(value_type = Option<TopicStatus>)]
    status: Option<String>,
    /// Only topics whose name starts with this.
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

/// Lists topics, optionally by status or name prefix.
///
/// Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/topics",
    tag = "topics",
    operation_id = "listTopics",
    params(ListQuery),
    responses((status = 200, description = "A page of topics.", body = Envelope<Paged<Topic>>)),
)]
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

/// Creates a topic (design §5.2.2); absent fields take the server's defaults.
///
/// Needs the admin role.
#[utoipa::path(
    post,
    path = "/api/v1/mq/topics",
    tag = "topics",
    operation_id = "createTopic",
    request_body = CreateTopic,
    responses(
        (status = 200, description = "Created.", body = Envelope<TopicCreated>),
        (status = 409, description = "A topic with this name exists.", body = ErrorEnvelope),
    ),
)]
async fn create(
    broker: web::Data<Broker>,
    body: Json<CreateTopic>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let defaults = broker.topic_defaults(body.name.clone());
    let topic = broker.create_topic(body.into_config(defaults), "").await?;
    ok("topic created", TopicCreated::from(topic))
}

/// Shows a topic.
///
/// Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/topics/{name}",
    tag = "topics",
    operation_id = "getTopic",
    params(("name" = String, Path, description = TOPIC_NAME)),
    responses(
        (status = 200, description = "The topic.", body = Envelope<Topic>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
    ),
)]
async fn get(broker: web::Data<Broker>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    ok("ok", broker.get_topic(&name).await?)
}

/// Changes a topic: only the fields given. Partitions grow, never shrink.
///
/// Needs the admin role.
#[utoipa::path(
    put,
    path = "/api/v1/mq/topics/{name}",
    tag = "topics",
    operation_id = "updateTopic",
    params(("name" = String, Path, description = TOPIC_NAME)),
    request_body = UpdateTopic,
    responses(
        (status = 200, description = "Updated.", body = Envelope<Topic>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
    ),
)]
async fn update(
    broker: web::Data<Broker>,
    name: web::Path<String>,
    body: Json<UpdateTopic>,
) -> Result<HttpResponse, ApiError> {
    ok("topic updated", broker.update_topic(&name, body.into_inner().into()).await?)
}

/// Deletes a topic with its messages and groups.
///
/// Needs the admin role.
#[utoipa::path(
    delete,
    path = "/api/v1/mq/topics/{name}",
    tag = "topics",
    operation_id = "deleteTopic",
    params(("name" = String, Path, description = TOPIC_NAME)),
    responses(
        (status = 200, description = "Deleted; `data` is null.", body = Envelope<Null>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
    ),
)]
async fn delete(
    broker: web::Data<Broker>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    broker.delete_topic(&name).await?;
    ok("topic deleted", ())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct BrowseQuery {
    /// The partition (default 0).
    #[param(value_type = Option<u32>, minimum = 0)]
    partition: Option<String>,
    #[param(schema_with = crate::openapi::from_offset)]
    from_offset: Option<String>,
    /// Most messages to show, 1 to 1000 (default 100).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// Reads a partition's messages from an offset, without consuming them.
///
/// Needs the consume permission for the topic.
#[utoipa::path(
    get,
    path = "/api/v1/mq/topics/{name}/messages",
    tag = "topics",
    operation_id = "browse",
    params(("name" = String, Path, description = TOPIC_NAME), BrowseQuery),
    responses(
        (status = 200, description = "The messages and `nextOffset`.",
         body = Envelope<MessagesOut>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
    ),
)]
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
