//! `GET /consumers` (design §5.1): consumers with their group, assignment, positions and lag.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use serde::Deserialize;
use utoipa::IntoParams;

use super::Routes;
use crate::dto::ConsumerOut;
use crate::envelope::ok;
use crate::extract::page;
use crate::openapi::{Envelope, ErrorEnvelope};
use crate::ApiError;

pub(super) fn mount(routes: &mut Routes<'_>) {
    routes.add(__path_list, list);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only consumers of this topic.
    topic_name: Option<String>,
    /// Only consumers of groups with this id.
    group_id: Option<String>,
    #[param(schema_with = crate::openapi::page_number)]
    page: Option<String>,
    /// Items per page, 1 to 1000 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    page_size: Option<String>,
}

/// Lists consumers with their group, assignment, positions and lag.
///
/// Needs the admin role.
#[utoipa::path(
    get,
    path = "/api/v1/mq/consumers",
    tag = "consumer-groups",
    operation_id = "listConsumers",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of consumers.",
         body = Envelope<mq_model::Paged<ConsumerOut>>),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
    ),
)]
async fn list(
    broker: web::Data<Broker>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(query.page.as_deref(), query.page_size.as_deref())?;
    let topic = query.topic_name.as_deref().filter(|t| !t.is_empty());
    let group = query.group_id.as_deref().filter(|g| !g.is_empty());
    let all = broker.consumers(topic, group).await?;
    ok("ok", page.slice(all.into_iter().map(ConsumerOut::from).collect()))
}
