//! Extractors: the authenticated caller, ids in paths.

use super::error::ApiError;
use super::AppState;
use crate::auth::{AuthError, Principal};
use crate::domain::ObjectId;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    /// The caller the gate in front of `/api/v1` authenticated; the gate is the one place
    /// that checks credentials.
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Principal, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| AuthError::Missing.into())
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
