//! `/api/v1/webhook-endpoints`: register, list, get, change, delete an endpoint, rotate its
//! secret, and inspect its deliveries. An endpoint belongs to the API client that registered
//! it: another client's (or another environment's) endpoint is 404.

use crate::auth::Principal;
use crate::domain::ObjectId;
use crate::http::envelope::{created, ok, page, Envelope, ErrorBody, PageEnvelope, Pagination};
use crate::http::error::ApiError;
use crate::http::extract::path_id;
use crate::http::validate::{json_object, page_query, Fields};
use crate::http::views::{DeliveryView, EndpointView};
use crate::http::AppState;
use crate::webhooks::{
    now, DeliveryStatus, EndpointRecord, SigningSecret, WebhookError, EVENT_TYPES,
};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::BTreeMap;

/// Event types an endpoint may ask for: every type, or "*".
fn event_choices() -> Vec<&'static str> {
    let mut choices = vec!["*"];
    choices.extend(EVENT_TYPES);
    choices
}

/// The endpoint, if it belongs to the caller (client and environment).
pub async fn load(
    app: &AppState,
    who: &Principal,
    id: ObjectId,
) -> Result<EndpointRecord, ApiError> {
    let store = app.engine.store();
    store.read_barrier().await;
    store
        .webhook_endpoint(who.env, id)?
        .filter(|e| e.client_id == who.client_id)
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

#[utoipa::path(post, path = "/api/v1/webhook-endpoints", operation_id = "create_webhook_endpoint", tag = "webhooks",
    request_body = crate::http::views::webhook_requests::CreateEndpoint,
    responses((status = 201, body = Envelope<EndpointView>, description = "the endpoint with its signing secret (shown only here and on rotation)"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    who: Principal,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = json_object(&body)?;
    let mut f = Fields::new(&obj);
    f.refuse_unknown(&["url", "events", "description"]);
    let url = f.required_text("url");
    let events = f.required_list_of("events", &event_choices());
    let description = f.text("description");
    f.finish()?;
    let (Some(url), Some(events)) = (url, events) else {
        return Err(ApiError::BadRequest("the request is incomplete".into()));
    };
    let url = app.webhooks.check_url(who.env, &url).await?;
    let now = now();
    let endpoint = EndpointRecord {
        id: ObjectId::new(now.millis()),
        env: who.env,
        client_id: who.client_id.clone(),
        tenant: who.tenant.clone(),
        url,
        events,
        description,
        secret: SigningSecret::generate(),
        previous_secret: None,
        disabled: false,
        disabled_reason: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    let endpoint = app.webhooks.create_endpoint(endpoint).await;
    Ok(created(EndpointView::with_secret(&endpoint)))
}

#[utoipa::path(get, path = "/api/v1/webhook-endpoints", operation_id = "list_webhook_endpoints", tag = "webhooks",
    params(("page" = Option<u64>, Query, minimum = 1, maximum = 1000000), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = PageEnvelope<EndpointView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    who: Principal,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let (page_no, limit) = page_query(&params, &[])?;
    let store = app.engine.store();
    store.read_barrier().await;
    let mine: Vec<EndpointRecord> = store
        .webhook_endpoints(who.env)?
        .into_iter()
        .rev()
        .filter(|e| e.client_id == who.client_id)
        .collect();
    Ok(paged(mine.iter().map(EndpointView::new), page_no, limit))
}

/// One page of `items` (already filtered, newest first).
pub fn paged<V: serde::Serialize>(
    items: impl Iterator<Item = V>,
    page_no: u64,
    limit: u64,
) -> Response {
    let skip = (page_no - 1) * limit;
    let mut total = 0u64;
    let mut data = Vec::new();
    for item in items {
        if total >= skip && (data.len() as u64) < limit {
            data.push(item);
        }
        total += 1;
    }
    let pagination = Pagination {
        page: page_no,
        limit,
        total,
        total_pages: total.div_ceil(limit),
    };
    page(data, pagination)
}

#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}", operation_id = "get_webhook_endpoint", tag = "webhooks",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")),
    responses((status = 200, body = Envelope<EndpointView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let endpoint = load(&app, &who, path_id(&id)?).await?;
    Ok(ok(EndpointView::new(&endpoint)))
}

#[utoipa::path(patch, path = "/api/v1/webhook-endpoints/{id}", operation_id = "update_webhook_endpoint", tag = "webhooks",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")),
    request_body = crate::http::views::webhook_requests::UpdateEndpoint,
    responses((status = 200, body = Envelope<EndpointView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let endpoint = load(&app, &who, path_id(&id)?).await?;
    let obj = json_object(&body)?;
    let mut f = Fields::new(&obj);
    f.refuse_unknown(&["url", "events", "description", "disabled"]);
    let url = f.text("url");
    let events = f.list_of("events", &event_choices());
    let description = f.text("description");
    let disabled = f.boolean("disabled");
    f.finish()?;
    let url = match url {
        Some(url) => Some(app.webhooks.check_url(who.env, &url).await?),
        None => None,
    };
    let updated = app
        .webhooks
        .update_endpoint(who.env, endpoint.id, |e| {
            if let Some(url) = url {
                e.url = url;
            }
            if let Some(events) = events {
                e.events = events;
            }
            if obj.contains_key("description") {
                e.description = description;
            }
            if let Some(disabled) = disabled {
                e.disabled = disabled;
                // Enabling starts afresh: the failing streak that disabled it is forgotten.
                e.disabled_reason = None;
                if !disabled {
                    e.failing_since = None;
                }
            }
            Ok(())
        })
        .await?;
    Ok(ok(EndpointView::new(&updated)))
}

#[utoipa::path(delete, path = "/api/v1/webhook-endpoints/{id}", operation_id = "delete_webhook_endpoint", tag = "webhooks",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")),
    responses((status = 200, body = Envelope<EndpointView>, description = "the deleted endpoint; its pending deliveries are dropped"), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let endpoint = load(&app, &who, path_id(&id)?).await?;
    let deleted = app.webhooks.delete_endpoint(who.env, endpoint.id).await?;
    Ok(ok(EndpointView::new(&deleted)))
}

#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "webhooks",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")),
    request_body = crate::http::views::webhook_requests::RotateSecret,
    responses((status = 200, body = Envelope<EndpointView>, description = "the endpoint with its new secret; the old one keeps signing beside it until previous_secret_expires_at"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate_secret(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let endpoint = load(&app, &who, path_id(&id)?).await?;
    let obj = json_object(&body)?;
    let mut f = Fields::new(&obj);
    f.refuse_unknown(&["expire_previous_after_secs"]);
    let grace = f
        .integer("expire_previous_after_secs", 0, 7 * 86_400)
        .unwrap_or(app.webhooks.config().rotation_grace.as_secs());
    f.finish()?;
    let rotated = app
        .webhooks
        .update_endpoint(who.env, endpoint.id, |e| {
            let old = std::mem::replace(&mut e.secret, SigningSecret::generate());
            e.previous_secret = (grace > 0).then(|| (old, now().plus_seconds(grace)));
            Ok::<(), WebhookError>(())
        })
        .await?;
    Ok(ok(EndpointView::with_secret(&rotated)))
}

#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$"), ("status" = Option<crate::http::views::webhook_requests::DeliveryStatus>, Query), ("page" = Option<u64>, Query, minimum = 1, maximum = 1000000), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = PageEnvelope<DeliveryView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let endpoint = load(&app, &who, path_id(&id)?).await?;
    let (page_no, limit) = page_query(&params, &["status"])?;
    let status = match params.get("status").map(String::as_str) {
        None => None,
        Some("pending") => Some(DeliveryStatus::Pending),
        Some("succeeded") => Some(DeliveryStatus::Succeeded),
        Some("failed") => Some(DeliveryStatus::Failed),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "status must be one of: pending, succeeded, failed".into(),
            ))
        }
    };
    let all = app
        .engine
        .store()
        .deliveries_newest_first(who.env, endpoint.id)
        .collect::<Result<Vec<_>, _>>()?;
    let matching = all
        .iter()
        .filter(|d| status.is_none_or(|s| d.status == s))
        .map(DeliveryView::new);
    Ok(paged(matching, page_no, limit))
}
