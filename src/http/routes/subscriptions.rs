//! `/api/v1/subscriptions`: create, list, get, cancel.

use super::payment_links::{customer, interval};
use super::{in_scope, list_page};
use crate::actors::SubscriptionCommand;
use crate::auth::Principal;
use crate::domain::{EntityKind, NewSubscription, ObjectId, SubscriptionRecord};
use crate::http::envelope::{created, ok, Envelope, ErrorBody, PageEnvelope};
use crate::http::error::ApiError;
use crate::http::extract::path_id;
use crate::http::idempotency::Idempotent;
use crate::http::validate::{json_object, list_query, Fields};
use crate::http::views::SubscriptionView;
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use state_machines::{SubscriptionStatus, Timestamp};
use std::collections::BTreeMap;

pub(crate) const FIELDS: [&str; 9] = [
    "employer_id",
    "carrier_id",
    "policy_id",
    "amount_cents",
    "interval",
    "count",
    "start_date",
    "customer",
    "metadata",
];

pub(crate) fn parse(
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Result<NewSubscription, ApiError> {
    let mut f = Fields::new(obj);
    f.refuse_unknown(&FIELDS);
    let employer_id = f.required_id("employer_id");
    let carrier_id = f.required_id("carrier_id");
    let policy_id = f.required_id("policy_id");
    let amount = f.required_cents("amount_cents");
    let interval = interval(&mut f);
    let count = f.integer("count", 1, 1200).map(|n| n as u32);
    let start = f.text("start_date");
    let first_billing_at = start.as_deref().and_then(|s| match parse_rfc3339(s) {
        Some(t) => Some(t),
        None => {
            f.problem("start_date must be an RFC 3339 date-time, e.g. 2026-01-31T00:00:00Z".into());
            None
        }
    });
    let customer = customer(&mut f, true);
    let metadata = f.metadata("metadata");
    f.finish()?;
    match (employer_id, carrier_id, policy_id, amount) {
        (Some(employer_id), Some(carrier_id), Some(policy_id), Some(amount)) => {
            Ok(NewSubscription {
                carrier_id,
                employer_id,
                policy_id,
                amount,
                interval,
                count,
                customer,
                metadata,
                first_billing_at,
            })
        }
        _ => Err(ApiError::BadRequest("the request is incomplete".into())),
    }
}

fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(Timestamp::from_millis(
        (t.unix_timestamp_nanos() / 1_000_000) as i64,
    ))
}

/// The subscription, if it exists in the caller's environment and tenant scope.
pub async fn load(
    app: &AppState,
    who: &Principal,
    id: ObjectId,
) -> Result<SubscriptionRecord, ApiError> {
    let sub = app
        .engine
        .subscription(who.env, id)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription"))?;
    in_scope(who, sub.carrier_id, sub.employer_id)?;
    Ok(sub)
}

#[utoipa::path(post, path = "/api/v1/subscriptions", operation_id = "create_subscription", tag = "subscriptions",
    request_body = crate::http::views::requests::CreateSubscription,
    responses((status = 201, body = Envelope<SubscriptionView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    who: Principal,
    idempotent: Idempotent,
    body: Bytes,
) -> Result<Response, ApiError> {
    let new = parse(&json_object(&body)?)?;
    in_scope(&who, new.carrier_id, new.employer_id)?;
    let receipt = idempotent.receipt(StatusCode::CREATED, SubscriptionView::new);
    let sub = app
        .engine
        .create_subscription_with(who.env, new, receipt)
        .await?;
    Ok(created(SubscriptionView::new(&sub)))
}

#[utoipa::path(get, path = "/api/v1/subscriptions", operation_id = "list_subscriptions", tag = "subscriptions",
    params(("carrier_id" = Option<String>, Query, pattern = "^[0-9a-fA-F]{24}$"), ("employer_id" = Option<String>, Query, pattern = "^[0-9a-fA-F]{24}$"), ("status" = Option<crate::http::views::requests::SubscriptionStatus>, Query), ("page" = Option<u64>, Query, minimum = 1, maximum = 1000000), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = PageEnvelope<SubscriptionView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    who: Principal,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = list_query(&params, &SubscriptionStatus::ALL)?;
    let store = app.engine.store();
    let matches =
        |s: &SubscriptionRecord| query.matches(s.carrier_id, s.employer_id, s.machine.state_name());
    let load = |id| store.subscription(who.env, id);
    list_page(
        &app,
        &who,
        &query,
        EntityKind::Subscription,
        load,
        matches,
        SubscriptionView::new,
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/subscriptions/{id}", operation_id = "get_subscription", tag = "subscriptions",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")),
    responses((status = 200, body = Envelope<SubscriptionView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let sub = load(&app, &who, path_id(&id)?).await?;
    Ok(ok(SubscriptionView::new(&sub)))
}

#[utoipa::path(delete, path = "/api/v1/subscriptions/{id}", operation_id = "cancel_subscription", tag = "subscriptions",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")),
    responses((status = 200, body = Envelope<SubscriptionView>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(app): State<AppState>,
    who: Principal,
    idempotent: Idempotent,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let sub = load(&app, &who, path_id(&id)?).await?;
    let receipt = idempotent.receipt(StatusCode::OK, SubscriptionView::new);
    let cancel = SubscriptionCommand::Cancel;
    let sub = app
        .engine
        .command_subscription(who.env, sub.id, cancel, receipt)
        .await?;
    Ok(ok(SubscriptionView::new(&sub)))
}
