//! Consumer groups: create, list (optionally of one topic), show, update (retry policy and
//! timeouts), delete.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use mq_model::{ConsumerGroup, Paged};
use serde::Deserialize;
use utoipa::IntoParams;

use super::Routes;
use crate::dto::{CreateGroup, GroupPartitionOut, UpdateGroup};
use crate::envelope::ok;
use crate::extract::{page, required, Json};
use crate::openapi::{Envelope, ErrorEnvelope, Null};
use crate::security::Caller;
use crate::ApiError;

pub(super) fn mount(routes: &mut Routes<'_>) {
    routes
        .add(__path_list, list)
        .add(__path_create, create)
        .add(__path_show, show)
        .add(__path_partitions, partitions)
        .add(__path_update, update)
        .add(__path_delete, delete);
}

/// Creates a consumer group on a topic.
///
/// Needs the consume permission for the topic.
#[utoipa::path(
    post,
    path = "/api/v1/mq/consumer-groups",
    tag = "consumer-groups",
    operation_id = "createGroup",
    request_body = CreateGroup,
    responses(
        (status = 200, description = "Created.", body = Envelope<ConsumerGroup>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
        (status = 409, description = "The topic already has a group with this id.",
         body = ErrorEnvelope),
    ),
)]
async fn create(
    broker: web::Data<Broker>,
    caller: Caller,
    body: Json<CreateGroup>,
) -> Result<HttpResponse, ApiError> {
    caller.may_consume(body.topic_name())?;
    ok("consumer group created", broker.create_group(body.into_inner().into()).await?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only groups of this topic (without it, the admin role is needed).
    topic_name: Option<String>,
    #[param(schema_with = crate::openapi::page_number)]
    page: Option<String>,
    /// Items per page, 1 to 1000 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    page_size: Option<String>,
}

/// Lists consumer groups, of one topic or of all.
///
/// Needs the consume permission for `topicName`, or the admin role without it.
#[utoipa::path(
    get,
    path = "/api/v1/mq/consumer-groups",
    tag = "consumer-groups",
    operation_id = "listGroups",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of groups.", body = Envelope<Paged<ConsumerGroup>>),
        (status = 404, description = "The topic does not exist.", body = ErrorEnvelope),
    ),
)]
async fn list(
    broker: web::Data<Broker>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(query.page.as_deref(), query.page_size.as_deref())?;
    let topic = query.topic_name.as_deref().filter(|t| !t.is_empty());
    ok("ok", broker.list_groups(topic, page).await?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct GroupQuery {
    /// The group's topic (required: a group id is unique only within its topic).
    #[param(required = true, min_length = 1)]
    topic_name: Option<String>,
}

/// The group id in the path.
const GROUP_ID: &str = "The group's id.";

/// Shows a consumer group.
///
/// Needs the consume permission for the topic.
#[utoipa::path(
    get,
    path = "/api/v1/mq/consumer-groups/{groupId}",
    tag = "consumer-groups",
    operation_id = "getGroup",
    params(("groupId" = String, Path, description = GROUP_ID), GroupQuery),
    responses(
        (status = 200, description = "The group.", body = Envelope<ConsumerGroup>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
    ),
)]
async fn show(
    broker: web::Data<Broker>,
    group: web::Path<String>,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, ApiError> {
    let topic = required("topicName", query.topic_name.as_deref())?;
    ok("ok", broker.describe_group(topic, &group).await?)
}

/// Where a group stands in each partition of its topic (committed, next and end offsets, lag,
/// pending deliveries) and which member reads it, whether or not a member is live.
///
/// Needs the consume permission for the topic.
#[utoipa::path(
    get,
    path = "/api/v1/mq/consumer-groups/{groupId}/partitions",
    tag = "consumer-groups",
    operation_id = "groupPartitions",
    params(("groupId" = String, Path, description = GROUP_ID), GroupQuery),
    responses(
        (status = 200, description = "One entry per partition, in order.",
         body = Envelope<Vec<GroupPartitionOut>>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
    ),
)]
async fn partitions(
    broker: web::Data<Broker>,
    group: web::Path<String>,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, ApiError> {
    let topic = required("topicName", query.topic_name.as_deref())?;
    let found = broker.group_partitions(topic, &group).await?;
    ok("ok", found.into_iter().map(GroupPartitionOut::from).collect::<Vec<_>>())
}

/// Changes a group's retry policy and timeouts.
///
/// Needs the consume permission for the topic.
#[utoipa::path(
    put,
    path = "/api/v1/mq/consumer-groups/{groupId}",
    tag = "consumer-groups",
    operation_id = "updateGroup",
    params(("groupId" = String, Path, description = GROUP_ID), GroupQuery),
    request_body = UpdateGroup,
    responses(
        (status = 200, description = "Updated.", body = Envelope<ConsumerGroup>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
    ),
)]
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

/// Deletes a consumer group.
///
/// Needs the consume permission for the topic.
#[utoipa::path(
    delete,
    path = "/api/v1/mq/consumer-groups/{groupId}",
    tag = "consumer-groups",
    operation_id = "deleteGroup",
    params(("groupId" = String, Path, description = GROUP_ID), GroupQuery),
    responses(
        (status = 200, description = "Deleted; `data` is null.", body = Envelope<Null>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
    ),
)]
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
