//! `ApiError`: every failure the API can answer, mapped to status, `error`, `code` and
//! `message` in this one place. Handlers return `Result<_, ApiError>` and use `?`.

use super::envelope::ErrorBody;
use crate::actors::EngineError;
use crate::auth::AuthError;
use crate::webhooks::WebhookError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the message names every offending field.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// 409: the first request with this Idempotency-Key is still running.
    #[error("a request with this Idempotency-Key is still being processed; retry once it has finished to receive its answer")]
    IdempotencyInProgress,
    /// 422: the Idempotency-Key was first used for a different request.
    #[error("this Idempotency-Key was already used for a different request (method, path or body differ); use a new key for a new request")]
    IdempotencyKeyReused,
    #[error("rate limit exceeded: retry after {retry_after_secs} s")]
    RateLimited {
        limit: Option<u32>,
        retry_after_secs: u64,
    },
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(what: &str) -> ApiError {
        ApiError::NotFound(format!("no {what} with that id"))
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "invalid_transition"),
            ApiError::IdempotencyInProgress => (StatusCode::CONFLICT, "idempotency_in_progress"),
            ApiError::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::NotFound => ApiError::NotFound("no such resource".into()),
            EngineError::Rejected(r) => ApiError::Conflict(r.to_string()),
            EngineError::Invalid(m) => ApiError::BadRequest(m),
            EngineError::Unavailable(m) => ApiError::Unavailable(m),
            EngineError::Processor(m) => ApiError::Unavailable(m),
            e @ (EngineError::Store(_) | EngineError::Corrupt(_)) => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> ApiError {
        match e {
            WebhookError::Invalid(m) => ApiError::BadRequest(m),
            WebhookError::NotFound => ApiError::not_found("webhook endpoint"),
            WebhookError::Store(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let message = match &self {
            // Internals go to the log, never to the client.
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "something went wrong on our side; the request may be retried".to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            ok: false,
            error: status.canonical_reason().unwrap_or("Error"),
            code,
            message,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::RateLimited {
                limit,
                retry_after_secs,
            } => {
                headers.insert("retry-after", retry_after_secs.into());
                if let Some(limit) = limit {
                    headers.insert("x-ratelimit-limit", limit.into());
                    headers.insert("x-ratelimit-remaining", 0.into());
                }
            }
            ApiError::Unavailable(_) | ApiError::IdempotencyInProgress => {
                drop(headers.insert("retry-after", 1.into()))
            }
            _ => {}
        }
        response
    }
}
