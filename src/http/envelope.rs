//! The response envelope of the spec: `{"ok": true, "data": …, "pagination": …}` and
//! `{"ok": false, "error": …, "code": …, "message": …}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// `{"ok": true, "data": …}`
#[derive(Serialize, ToSchema)]
pub struct Envelope<T: Serialize> {
    /// Always true.
    pub ok: bool,
    pub data: T,
}

/// `{"ok": true, "data": [...], "pagination": …}`
#[derive(Serialize, ToSchema)]
pub struct PageEnvelope<T: Serialize> {
    /// Always true.
    pub ok: bool,
    pub data: Vec<T>,
    pub pagination: Pagination,
}

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub page: u64,
    pub limit: u64,
    pub total: u64,
    pub total_pages: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always false.
    pub ok: bool,
    /// The HTTP reason phrase.
    pub error: &'static str,
    /// A machine-readable code: invalid_request, unauthorized, forbidden, not_found,
    /// invalid_transition, idempotency_in_progress, idempotency_key_reused,
    /// payload_too_large, rate_limited, unavailable, internal_error.
    pub code: &'static str,
    /// What went wrong and what to fix.
    pub message: String,
}

/// 200 with `data`.
pub fn ok<T: Serialize>(data: T) -> Response {
    Json(Envelope { ok: true, data }).into_response()
}

/// 201 with `data`.
pub fn created<T: Serialize>(data: T) -> Response {
    (StatusCode::CREATED, Json(Envelope { ok: true, data })).into_response()
}

/// The body `ok` and `created` send, as bytes (what an Idempotency-Key stores and replays).
pub fn data_bytes<T: Serialize>(data: T) -> Vec<u8> {
    serde_json::to_vec(&Envelope { ok: true, data }).expect("views serialise")
}

/// 200 with a page of `data`.
pub fn page<T: Serialize>(data: Vec<T>, pagination: Pagination) -> Response {
    Json(PageEnvelope {
        ok: true,
        data,
        pagination,
    })
    .into_response()
}
