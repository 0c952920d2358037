//! Extractors: the authenticated caller, ids in paths.

use super::error::ApiError;
use super::AppState;
use crate::auth::{AuthError, Principal};
use crate::domain::ObjectId;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Principal, ApiError> {
        // The gate in front of `/api/v1` already authenticated the request.
        if let Some(who) = parts.extensions.get::<Principal>() {
            return Ok(who.clone());
        }
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let (Some(id), Some(secret)) = (header("x-client-id"), header("x-client-secret")) else {
            return Err(AuthError::Missing.into());
        };
        Ok(app.keys.authenticate(id, secret).await?)
    }
}

/// A path id: 400 (not 404) when it is not an ObjectId at all.
pub fn path_id(raw: &str) -> Result<ObjectId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "id must be a 24-character hex ObjectId, got {:?}",
            truncate(raw)
        ))
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}
