//! `GET /consumers` (design §5.1): consumers with their group, assignment, positions and lag.

use actix_web::{web, HttpResponse};
use mq_broker::Broker;
use serde::Deserialize;

use super::resource;
use crate::dto::ConsumerOut;
use crate::envelope::ok;
use crate::extract::page;
use crate::ApiError;

pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/consumers").route(web::get().to(list)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    topic_name: Option<String>,
    group_id: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
}

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
