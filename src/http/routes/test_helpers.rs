//! `/api/v1/test_helpers/…`: steer the sandbox (test keys only; live keys get 404).

use super::payment_links::{load_link, view};
use crate::actors::LinkCommand;
use crate::auth::Principal;
use crate::domain::Environment;
use crate::http::envelope::{ok, Envelope, ErrorBody};
use crate::http::error::ApiError;
use crate::http::extract::path_id;
use crate::http::idempotency::Idempotent;
use crate::http::validate::{json_object, Fields};
use crate::http::views::{LinkView, SubscriptionView};
use crate::http::AppState;
use crate::processor::{
    PaymentSource, TEST_ACH_INSUFFICIENT_FUNDS, TEST_ACH_OK, TEST_CARD_DECLINED, TEST_CARD_OK,
};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

fn succeeded(outcome: &str) -> Option<bool> {
    match outcome {
        "succeeded" => Some(true),
        "failed" => Some(false),
        _ => None,
    }
}

fn sandbox_only(who: &Principal) -> Result<(), ApiError> {
    match who.env {
        Environment::Test => Ok(()),
        Environment::Live => Err(ApiError::NotFound(
            "test helpers exist only in the sandbox: use a test key".into(),
        )),
    }
}

#[utoipa::path(post, path = "/api/v1/test_helpers/payment-links/{id}/pay", operation_id = "pay_payment_link", tag = "sandbox",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")), request_body = crate::http::views::requests::PayLink,
    responses((status = 200, body = Envelope<LinkView>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn pay_link(
    State(app): State<AppState>,
    who: Principal,
    idempotent: Idempotent,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    sandbox_only(&who)?;
    let id = path_id(&id)?;
    let obj = json_object(&body)?;
    let mut f = Fields::new(&obj);
    f.refuse_unknown(&["outcome", "method"]);
    let succeed = f
        .one_of("outcome", &["succeeded", "failed"], succeeded)
        .unwrap_or(true);
    let ach = f
        .one_of("method", &["card", "ach"], |s| match s {
            "card" => Some(false),
            "ach" => Some(true),
            _ => None,
        })
        .unwrap_or(false);
    f.finish()?;
    // The outcome travels with the payment source, as Stripe's test cards and accounts do:
    // nothing is armed in the sandbox that a refused payment could leave behind.
    let source = match (ach, succeed) {
        (false, true) => PaymentSource::Card(TEST_CARD_OK.into()),
        (false, false) => PaymentSource::Card(TEST_CARD_DECLINED.into()),
        (true, true) => PaymentSource::Ach(TEST_ACH_OK.into()),
        (true, false) => PaymentSource::Ach(TEST_ACH_INSUFFICIENT_FUNDS.into()),
    };
    let id = load_link(&app, &who, id).await?.id;
    let receipt = idempotent.receipt(StatusCode::OK, view(&app));
    let pay = LinkCommand::Pay { source };
    let link = app.engine.command_link(who.env, id, pay, receipt).await?;
    Ok(ok(LinkView::new(&link, &app.public_url)))
}

#[utoipa::path(post, path = "/api/v1/test_helpers/subscriptions/{id}/next_charge", operation_id = "set_next_charge", tag = "sandbox",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")), request_body = crate::http::views::requests::NextCharge,
    responses((status = 200, body = Envelope<SubscriptionView>), (status = 404, body = ErrorBody)))]
pub async fn next_charge(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    sandbox_only(&who)?;
    let id = path_id(&id)?;
    let obj = json_object(&body)?;
    let mut f = Fields::new(&obj);
    f.refuse_unknown(&["outcome", "times"]);
    let fail = f
        .one_of("outcome", &["failed", "succeeded"], succeeded)
        .map(|ok| !ok);
    if fail.is_none() && !f.has("outcome") {
        f.problem("Required fields: outcome".into());
    }
    let times = f.integer("times", 1, 100).unwrap_or(1) as u32;
    f.finish()?;
    let sub = super::subscriptions::load(&app, &who, id).await?;
    app.sandbox
        .fail_next(id, if fail == Some(true) { times } else { 0 });
    Ok(ok(SubscriptionView::new(&sub)))
}

#[derive(Serialize, ToSchema)]
pub struct ClockView {
    /// The sandbox's current time, RFC 3339.
    pub now: String,
    pub now_ms: i64,
}

fn clock_view(now: state_machines::Timestamp) -> ClockView {
    ClockView {
        now: now.to_rfc3339(),
        now_ms: now.millis(),
    }
}

#[utoipa::path(post, path = "/api/v1/test_helpers/clock/advance", operation_id = "advance_clock", tag = "sandbox",
    request_body = crate::http::views::requests::AdvanceClock,
    responses((status = 200, body = Envelope<ClockView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn advance_clock(
    State(app): State<AppState>,
    who: Principal,
    body: Bytes,
) -> Result<Response, ApiError> {
    sandbox_only(&who)?;
    let obj = json_object(&body)?;
    let mut f = Fields::new(&obj);
    f.refuse_unknown(&["seconds"]);
    // Up to a year at a time: every installment that falls due is charged before the answer.
    let seconds = f.integer("seconds", 1, 366 * 86_400);
    if seconds.is_none() && !f.has("seconds") {
        f.problem("Required fields: seconds".into());
    }
    f.finish()?;
    let now = app.engine.advance_clock(seconds.unwrap_or(0)).await?;
    Ok(ok(clock_view(now)))
}

#[utoipa::path(get, path = "/api/v1/test_helpers/clock", operation_id = "get_clock", tag = "sandbox",
    responses((status = 200, body = Envelope<ClockView>), (status = 404, body = ErrorBody)))]
pub async fn clock(State(app): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    sandbox_only(&who)?;
    Ok(ok(clock_view(app.engine.now(Environment::Test))))
}
