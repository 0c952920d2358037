//! `/api/v1/events`: the event log (what webhooks deliver), filtered to the caller's
//! environment and tenant scope, and redelivery of one event.

use super::in_scope;
use super::webhook_endpoints::{self, paged};
use crate::auth::Principal;
use crate::domain::{EventObject, ObjectId, OutboxEvent};
use crate::http::envelope::{ok, Envelope, ErrorBody, PageEnvelope};
use crate::http::error::ApiError;
use crate::http::validate::{json_object, page_query, Fields};
use crate::http::views::{DeliveryView, EventView};
use crate::http::AppState;
use crate::webhooks::EVENT_TYPES;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;
use state_machines::Timestamp;
use std::collections::BTreeMap;

/// `evt_<hex>` or the bare hex.
fn event_id(raw: &str) -> Result<ObjectId, ApiError> {
    raw.strip_prefix("evt_")
        .unwrap_or(raw)
        .parse()
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "id must be evt_ followed by 24 hex digits, got {:?}",
                raw.chars().take(40).collect::<String>()
            ))
        })
}

/// Whether the caller may see the event: its entity in the key's tenant scope, or (for an
/// endpoint's own events) the caller's endpoint.
fn visible(who: &Principal, event: &OutboxEvent) -> Result<(), ApiError> {
    match &event.data {
        EventObject::PaymentLink(l) => in_scope(who, l.terms.carrier_id, l.terms.employer_id),
        EventObject::Subscription(s) => in_scope(who, s.carrier_id, s.employer_id),
        EventObject::WebhookEndpoint(e) if e.client_id == who.client_id => Ok(()),
        EventObject::WebhookEndpoint(_) => Err(ApiError::not_found("event")),
    }
}

fn view(app: &AppState, event: &OutboxEvent) -> EventView {
    app.webhooks.payload(event)
}

fn rfc3339(f: &mut Fields, params: &BTreeMap<String, String>, key: &str) -> Option<Timestamp> {
    let text = params.get(key)?;
    match time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        Ok(t) => Some(Timestamp::from_millis(
            (t.unix_timestamp_nanos() / 1_000_000) as i64,
        )),
        Err(_) => {
            f.problem(format!(
                "{key} must be an RFC 3339 date-time, e.g. 2026-01-31T00:00:00Z"
            ));
            None
        }
    }
}

#[utoipa::path(get, path = "/api/v1/events", operation_id = "list_events", tag = "webhooks",
    params(("type" = Option<crate::http::views::webhook_requests::EventType>, Query), ("created_gte" = Option<String>, Query, format = DateTime, description = "RFC 3339: created at or after"), ("created_lte" = Option<String>, Query, format = DateTime, description = "RFC 3339: created at or before"), ("page" = Option<u64>, Query, minimum = 1, maximum = 1000000), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = PageEnvelope<EventView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    who: Principal,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let (page_no, limit) = page_query(&params, &["type", "created_gte", "created_lte"])?;
    let obj = serde_json::Map::new();
    let mut f = Fields::new(&obj);
    let kind = params.get("type");
    if kind.is_some_and(|k| !EVENT_TYPES.contains(&k.as_str())) {
        f.problem(format!("type must be one of: {}", EVENT_TYPES.join(", ")));
    }
    let from = rfc3339(&mut f, &params, "created_gte");
    let to = rfc3339(&mut f, &params, "created_lte");
    f.finish()?;
    let secs = |t: Timestamp| (t.millis().max(0) / 1000).min(u32::MAX as i64) as u32;
    let store = app.engine.store();
    store.read_barrier().await;
    let mut matching = Vec::new();
    for event in store.events_newest_first(who.env, from.map(secs), to.map(secs)) {
        let event = event?;
        let in_range =
            from.is_none_or(|t| event.created_at >= t) && to.is_none_or(|t| event.created_at <= t);
        if in_range && kind.is_none_or(|k| *k == event.kind) && visible(&who, &event).is_ok() {
            matching.push(event);
        }
    }
    Ok(paged(
        matching.iter().map(|e| view(&app, e)),
        page_no,
        limit,
    ))
}

async fn load(app: &AppState, who: &Principal, raw: &str) -> Result<OutboxEvent, ApiError> {
    let id = event_id(raw)?;
    let store = app.engine.store();
    store.read_barrier().await;
    let event = store
        .outbox_event(who.env, id)?
        .ok_or_else(|| ApiError::not_found("event"))?;
    visible(who, &event)?;
    Ok(event)
}

#[utoipa::path(get, path = "/api/v1/events/{id}", operation_id = "get_event", tag = "webhooks",
    params(("id" = String, Path, pattern = "^evt_[0-9a-fA-F]{24}$")),
    responses((status = 200, body = Envelope<EventView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let event = load(&app, &who, &id).await?;
    Ok(ok(view(&app, &event)))
}

#[utoipa::path(post, path = "/api/v1/events/{id}/redeliver", operation_id = "redeliver_event", tag = "webhooks",
    params(("id" = String, Path, pattern = "^evt_[0-9a-fA-F]{24}$")),
    request_body = crate::http::views::webhook_requests::Redeliver,
    responses((status = 200, body = Envelope<Vec<DeliveryView>>, description = "the new deliveries, due now"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn redeliver(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let event = load(&app, &who, &id).await?;
    let obj = json_object(&body)?;
    let mut f = Fields::new(&obj);
    f.refuse_unknown(&["endpoint_id"]);
    let endpoint_id = f.id("endpoint_id");
    f.finish()?;
    let targets = match endpoint_id {
        Some(id) => {
            let endpoint = webhook_endpoints::load(&app, &who, id).await?;
            if endpoint.disabled {
                return Err(ApiError::Conflict(
                    "the webhook endpoint is disabled: enable it first".into(),
                ));
            }
            vec![endpoint]
        }
        None => {
            let store = app.engine.store();
            store
                .webhook_endpoints(who.env)?
                .into_iter()
                .filter(|e| {
                    e.client_id == who.client_id
                        && !e.disabled
                        && e.wants(&event.kind)
                        && e.may_see(&event)
                })
                .collect()
        }
    };
    if targets.is_empty() {
        return Err(ApiError::Conflict(
            "no enabled webhook endpoint of this API key subscribes to this event".into(),
        ));
    }
    let deliveries = app.webhooks.redeliver(&event, &targets).await;
    let views: Vec<DeliveryView> = deliveries.iter().map(DeliveryView::new).collect();
    Ok(ok(json!(views)))
}
