//! The routes, one file per resource, and what they share.

mod checkout;
mod events;
mod ops;
pub(super) mod payment_links;
pub(super) mod subscriptions;
mod test_helpers;
mod webhook_endpoints;

use super::envelope::{page, Pagination};
use super::error::ApiError;
use super::validate::ListQuery;
use super::AppState;
use crate::auth::Principal;
use crate::domain::{EntityKind, LinkRecord, ObjectId, SubscriptionRecord};
use crate::store::keys::{self, IndexField};
use crate::store::StoreError;
use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

pub fn router(app: AppState) -> Router {
    let max_body_bytes = app.max_body_bytes;
    let api = Router::new()
        .route(
            "/payment-links",
            post(payment_links::create).get(payment_links::list),
        )
        .route(
            "/payment-links/{id}",
            get(payment_links::get).delete(payment_links::cancel),
        )
        .route("/payment-links/{id}/refund", post(payment_links::refund))
        .route(
            "/subscriptions",
            post(subscriptions::create).get(subscriptions::list),
        )
        .route(
            "/subscriptions/{id}",
            get(subscriptions::get).delete(subscriptions::cancel),
        )
        .route(
            "/webhook-endpoints",
            post(webhook_endpoints::create).get(webhook_endpoints::list),
        )
        .route(
            "/webhook-endpoints/{id}",
            get(webhook_endpoints::get)
                .patch(webhook_endpoints::update)
                .delete(webhook_endpoints::delete),
        )
        .route(
            "/webhook-endpoints/{id}/rotate-secret",
            post(webhook_endpoints::rotate_secret),
        )
        .route(
            "/webhook-endpoints/{id}/deliveries",
            get(webhook_endpoints::deliveries),
        )
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::get))
        .route("/events/{id}/redeliver", post(events::redeliver))
        .route(
            "/test_helpers/payment-links/{id}/pay",
            post(test_helpers::pay_link),
        )
        .route(
            "/test_helpers/subscriptions/{id}/next_charge",
            post(test_helpers::next_charge),
        )
        .route(
            "/test_helpers/clock/advance",
            post(test_helpers::advance_clock),
        )
        .route("/test_helpers/clock", get(test_helpers::clock))
        // The last added runs first: backpressure, then the gate (authentication), then
        // idempotency (keys are scoped to the authenticated client).
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            super::idempotency::layer,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            super::middleware::gate,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            super::backpressure::layer,
        ));
    Router::new()
        .nest("/api/v1", api)
        .route("/checkout/{id}", get(checkout::page).post(checkout::pay))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(super::metrics::render))
        .route("/openapi.json", get(ops::openapi))
        .route("/docs", get(ops::docs))
        .fallback(ops::not_found)
        .layer(axum::middleware::map_response(
            move |r: Response| async move { enveloped_413(r, max_body_bytes) },
        ))
        .layer(axum::middleware::from_fn(super::metrics::record))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(app)
}

/// axum's body limit answers 413 in plain text; clients get the envelope like every error.
fn enveloped_413(response: Response, limit: usize) -> Response {
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return axum::response::IntoResponse::into_response(ApiError::PayloadTooLarge(limit));
    }
    response
}

/// 403 unless the key's tenant scope covers this carrier and employer.
pub fn in_scope(who: &Principal, carrier: ObjectId, employer: ObjectId) -> Result<(), ApiError> {
    if who.tenant.allows(carrier, employer) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this resource belongs to a carrier or employer outside this API key's scope".into(),
        ))
    }
}

/// Records that belong to a carrier and an employer (what tenant scopes are made of).
pub trait Owned {
    fn owners(&self) -> (ObjectId, ObjectId);
}

impl Owned for LinkRecord {
    fn owners(&self) -> (ObjectId, ObjectId) {
        (self.terms.carrier_id, self.terms.employer_id)
    }
}

impl Owned for SubscriptionRecord {
    fn owners(&self) -> (ObjectId, ObjectId) {
        (self.carrier_id, self.employer_id)
    }
}

/// One page of a list, newest first. The most selective index given by the filters picks
/// the candidates; the other filters and the tenant scope are applied to each record. When
/// the index holds exactly the records the filters and the scope let through, the total is
/// counted from its keys and only the page's records are loaded.
pub async fn list_page<T: Owned, V: Serialize>(
    app: &AppState,
    who: &Principal,
    query: &ListQuery,
    kind: EntityKind,
    load: impl Fn(ObjectId) -> Result<Option<T>, StoreError>,
    matches: impl Fn(&T) -> bool,
    view: impl Fn(&T) -> V,
) -> Result<Response, ApiError> {
    if query
        .carrier_id
        .is_some_and(|c| !who.tenant.allows_carrier(c))
    {
        return Err(ApiError::Forbidden(
            "carrier_id is outside this API key's scope".into(),
        ));
    }
    if query
        .employer_id
        .is_some_and(|e| !who.tenant.allows_employer(e))
    {
        return Err(ApiError::Forbidden(
            "employer_id is outside this API key's scope".into(),
        ));
    }
    let store = app.engine.store();
    store.read_barrier().await;
    let status = query.status.as_deref();
    // `exact`: every entry under (field, value) passes the filters, and nothing else does.
    let (field, value, exact): (IndexField, Vec<u8>, bool) =
        match (&query.carrier_id, &query.employer_id, status) {
            (Some(c), None, Some(s)) => {
                (IndexField::CarrierStatus, keys::owner_status(*c, s), true)
            }
            (_, Some(e), Some(s)) => (
                IndexField::EmployerStatus,
                keys::owner_status(*e, s),
                query.carrier_id.is_none(),
            ),
            (Some(c), e, None) => (IndexField::Carrier, c.bytes().to_vec(), e.is_none()),
            (None, Some(e), None) => (IndexField::Employer, e.bytes().to_vec(), true),
            (None, None, Some(s)) => (IndexField::Status, s.as_bytes().to_vec(), true),
            (None, None, None) => (IndexField::All, Vec::new(), true),
        };
    // The scope lets every candidate through when each of its lists is empty or already
    // fixed by a filter it allows (checked above).
    let whole_scope = (who.tenant.carriers.is_empty() || query.carrier_id.is_some())
        && (who.tenant.employers.is_empty() || query.employer_id.is_some());
    let skip = (query.page - 1) * query.limit;
    let internal = |e: StoreError| ApiError::Internal(e.to_string());
    let (total, data) = if exact && whole_scope {
        let total = store
            .index_count(who.env, kind, field, &value)
            .map_err(internal)?;
        let mut data = Vec::new();
        for id in store
            .index_page(who.env, kind, field, &value, skip, query.limit)
            .map_err(internal)?
        {
            if let Some(record) = load(id).map_err(internal)? {
                data.push(view(&record));
            }
        }
        (total, data)
    } else {
        let mut total = 0u64;
        let mut data = Vec::new();
        for id in store
            .index_ids(who.env, kind, field, &value)
            .map_err(internal)?
        {
            let Some(record) = load(id).map_err(internal)? else {
                continue;
            };
            let (carrier, employer) = record.owners();
            if !matches(&record) || !who.tenant.allows(carrier, employer) {
                continue;
            }
            if total >= skip && (data.len() as u64) < query.limit {
                data.push(view(&record));
            }
            total += 1;
        }
        (total, data)
    };
    let pagination = Pagination {
        page: query.page,
        limit: query.limit,
        total,
        total_pages: total.div_ceil(query.limit),
    };
    Ok(page(data, pagination))
}
