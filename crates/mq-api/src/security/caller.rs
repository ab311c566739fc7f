//! Who is calling, once authenticated, and what it may do.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use mq_model::Role;

use super::config::glob;
use crate::ApiError;

/// The authenticated caller of a request, put into the request by the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The token's name (`local` in protected mode, `anonymous` with `allow_anonymous`).
    pub(crate) name: String,
    /// Admin or service.
    pub(crate) role: Role,
    /// Topic patterns it may publish to.
    pub(crate) produce: Vec<String>,
    /// Topic patterns it may consume from.
    pub(crate) consume: Vec<String>,
}

impl Caller {
    /// A caller that may do everything.
    pub(crate) fn admin(name: &str) -> Self {
        Self { name: name.to_owned(), role: Role::Admin, produce: vec![], consume: vec![] }
    }

    /// The caller of a public route (the OpenAPI document, the API page): no permissions.
    pub(crate) fn public() -> Self {
        Self { name: "anonymous".to_owned(), role: Role::Service, produce: vec![], consume: vec![] }
    }

    fn allowed(&self, patterns: &[String], topic: &str) -> bool {
        self.role == Role::Admin || patterns.iter().any(|p| glob(p, topic))
    }

    /// `Forbidden` unless it may publish to `topic`.
    pub(crate) fn may_produce(&self, topic: &str) -> Result<(), ApiError> {
        if self.allowed(&self.produce, topic) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                reason: format!(
                    "token {:?} lacks the produce permission for topic {topic:?}",
                    self.name
                ),
            })
        }
    }

    /// `Forbidden` unless it may consume from `topic`.
    pub(crate) fn may_consume(&self, topic: &str) -> Result<(), ApiError> {
        if self.allowed(&self.consume, topic) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                reason: format!(
                    "token {:?} lacks the consume permission for topic {topic:?}",
                    self.name
                ),
            })
        }
    }

    /// `Forbidden` unless it is an admin.
    pub(crate) fn must_be_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                reason: format!(
                    "token {:?} is a service token; {what} needs the admin role",
                    self.name
                ),
            })
        }
    }
}

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The guard runs before every API route; a missing caller is a wiring fault.
        ready(
            request.extensions().get::<Caller>().cloned().ok_or_else(|| {
                ApiError::Forbidden { reason: "no authenticated caller".into() }.into()
            }),
        )
    }
}
