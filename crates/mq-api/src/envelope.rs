//! The response envelope `{"code": <HTTP status>, "message": "...", "data": ...}`.

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

use crate::ApiError;

/// Every response under `/api/v1/mq` has this shape; `code` repeats the HTTP status so that
/// clients which only see the body still know it.
#[derive(Debug, Serialize)]
struct Envelope<'a, T> {
    code: u16,
    message: &'a str,
    data: T,
}

/// A 200 response with `data`.
pub(crate) fn ok<T: Serialize>(message: &str, data: T) -> Result<HttpResponse, ApiError> {
    let body = Envelope { code: StatusCode::OK.as_u16(), message, data };
    let bytes = serde_json::to_vec(&body).map_err(ApiError::Encode)?;
    Ok(HttpResponse::Ok().content_type(ContentType::json()).body(bytes))
}

/// An error response: `data` is `null`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> HttpResponse {
    let body = Envelope { code: status.as_u16(), message, data: () };
    match serde_json::to_vec(&body) {
        Ok(bytes) => HttpResponse::build(status).content_type(ContentType::json()).body(bytes),
        // A struct of a number and a string always encodes; this arm only keeps the envelope
        // promise without a panic.
        Err(_) => HttpResponse::build(status)
            .content_type(ContentType::json())
            .body(format!(r#"{{"code":{},"message":"error","data":null}}"#, status.as_u16())),
    }
}
