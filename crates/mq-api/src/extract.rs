//! How requests are read: the extractor configs that turn malformed bodies, query strings and
//! paths into [`ApiError`]s, and the parsing of numeric query parameters with their names.
//!
//! Query parameters arrive as text and are parsed here rather than by serde, so that an error
//! says which parameter is wrong ("invalid pageSize: ...") instead of only "invalid digit".

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, FromRequest, HttpRequest};
use mq_model::Page;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::ApiError;

/// Largest `pageSize`.
pub(crate) const MAX_PAGE_SIZE: u64 = 1000;
/// `pageSize` when none is given.
pub(crate) const DEFAULT_PAGE_SIZE: u64 = 20;

/// JSON bodies: declared as JSON (`application/json` or `*/*+json`), at most `limit` bytes,
/// errors as envelopes.
pub(crate) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |error, _request| json_error(error, limit).into())
}

fn json_error(error: JsonPayloadError, limit: usize) -> ApiError {
    match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::BodyTooLarge { limit }
        }
        JsonPayloadError::ContentType => ApiError::ContentType,
        JsonPayloadError::Deserialize(error) => ApiError::Json(error),
        JsonPayloadError::Payload(error) => match error {
            actix_web::error::PayloadError::Overflow => ApiError::BodyTooLarge { limit },
            // actix's error enums are non-exhaustive; the rest are broken or cut-off bodies.
            other => ApiError::Body { detail: other.to_string() },
        },
        other => ApiError::Body { detail: other.to_string() },
    }
}

/// A JSON body of shape `T`. Like `web::Json` (same content-type check, size limit and syntax
/// errors, through [`json_config`]), but a body of the wrong shape gets an error that names
/// the field, e.g. `invalid JSON body at headers: invalid type: integer 5, expected a map`.
#[derive(Debug)]
pub(crate) struct Json<T>(pub(crate) T);

impl<T> Json<T> {
    /// The body.
    pub(crate) fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Reading as raw JSON first keeps actix's checks; the typed pass then knows the path.
        let raw = web::Json::<Box<RawValue>>::from_request(request, payload);
        Box::pin(async move {
            let raw = raw.await?.into_inner();
            from_raw(&raw).map(Json).map_err(Into::into)
        })
    }
}

/// A body already checked to be JSON, read into its shape.
///
/// Fast path first: plain serde, which accepts exactly what the path-tracking reader accepts
/// and builds the same value. `serde_path_to_error` allocates a path segment (the key as a
/// `String`) for every field it passes, so it runs only when the body is of the wrong shape, to
/// name the field in the error; the error is then the one it has always been.
pub(crate) fn from_raw<T: DeserializeOwned>(raw: &RawValue) -> Result<T, ApiError> {
    if let Ok(value) = serde_json::from_str(raw.get()) {
        return Ok(value);
    }
    from_raw_tracked(raw)
}

/// The body read into its shape with the path to the first wrong field tracked; the slow path
/// of [`from_raw`] (and its baseline in `benches/json.rs`).
pub(crate) fn from_raw_tracked<T: DeserializeOwned>(raw: &RawValue) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        ApiError::JsonAt { path, source: error.into_inner() }
    })
}

/// Query strings: errors as envelopes.
pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _request| {
        let detail = match error {
            QueryPayloadError::Deserialize(inner) => inner.to_string(),
            // Non-exhaustive upstream: any future kind still becomes a 400 envelope.
            other => other.to_string(),
        };
        ApiError::Query { detail }.into()
    })
}

/// Path segments: errors as envelopes.
pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _request| {
        let detail = match error {
            PathError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        ApiError::Path { detail }.into()
    })
}

/// A whole-number query parameter in `min..=max`, or `default` when absent.
pub(crate) fn number(
    field: &str,
    raw: Option<&str>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let value: u64 = raw
        .parse()
        .map_err(|_| ApiError::field(field, format!("must be a whole number, got {raw:?}")))?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else if max == u64::MAX {
        Err(ApiError::field(field, format!("must be at least {min}, got {value}")))
    } else {
        Err(ApiError::field(field, format!("must be between {min} and {max}, got {value}")))
    }
}

/// The `page` (from 1) and `pageSize` (1 to 1000, default 20) parameters.
pub(crate) fn page(page: Option<&str>, page_size: Option<&str>) -> Result<Page, ApiError> {
    let page = number("page", page, 1, 1, u64::MAX)?;
    let page_size = number("pageSize", page_size, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
    Ok(Page::new(page, page_size))
}

/// A required text query parameter.
pub(crate) fn required<'a>(field: &str, raw: Option<&'a str>) -> Result<&'a str, ApiError> {
    match raw {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ApiError::field(field, "is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_name_their_parameter() {
        let check = |raw: Option<&str>, expected: Result<u64, &str>| {
            let got = number("limit", raw, 100, 1, 1000).map_err(|e| e.to_string());
            match (got, expected) {
                (Ok(n), Ok(want)) => assert_eq!(n, want),
                (Err(text), Err(want)) => assert_eq!(text, want),
                (got, want) => panic!("{raw:?}: got {got:?}, want {want:?}"),
            }
        };
        check(None, Ok(100));
        check(Some("1"), Ok(1));
        check(Some("1000"), Ok(1000));
        check(Some("0"), Err("invalid limit: must be between 1 and 1000, got 0"));
        check(Some("1001"), Err("invalid limit: must be between 1 and 1000, got 1001"));
        check(Some("-1"), Err("invalid limit: must be a whole number, got \"-1\""));
        check(Some(""), Err("invalid limit: must be a whole number, got \"\""));
        check(Some("ten"), Err("invalid limit: must be a whole number, got \"ten\""));
        assert_eq!(page(None, None).unwrap(), Page::new(1, 20));
        assert_eq!(
            page(Some("0"), None).unwrap_err().to_string(),
            "invalid page: must be at least 1, got 0"
        );
        assert!(required("topicName", Some("")).is_err());
        assert_eq!(required("topicName", Some("t")).unwrap(), "t");
    }
}
