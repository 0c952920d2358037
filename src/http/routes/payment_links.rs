//! `/api/v1/payment-links`: create, list, get, cancel, refund.

use super::{in_scope, list_page};
use crate::actors::LinkCommand;
use crate::auth::Principal;
use crate::domain::{Customer, EntityKind, InstallmentPlan, LinkRecord, NewLink};
use crate::http::envelope::{created, ok, Envelope, ErrorBody, PageEnvelope};
use crate::http::error::ApiError;
use crate::http::extract::path_id;
use crate::http::idempotency::Idempotent;
use crate::http::validate::{json_object, list_query, whole_number, Fields};
use crate::http::views::{parse_payment_type, LinkView, PAYMENT_TYPES};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};
use state_machines::{Cents, Interval, LinkStatus, MAX_CENTS};
use std::collections::BTreeMap;

pub(crate) const FIELDS: [&str; 11] = [
    "employer_id",
    "carrier_id",
    "policy_id",
    "amount_cents",
    "payment_type",
    "premium_cents",
    "fee_cents",
    "payment_context",
    "customer",
    "installment_plan",
    "metadata",
];

pub fn customer(f: &mut Fields, email_required: bool) -> Customer {
    let read = |c: &mut Fields| {
        let email = if email_required {
            c.required_text("email")
        } else {
            c.text("email")
        };
        if let Some(e) = &email {
            let valid = e.chars().count() <= 254
                && e.split_once('@')
                    .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
            if !valid {
                c.problem("customer.email must be an email address".into());
            }
        }
        Customer {
            name: c.text("name"),
            email,
            phone: c.text("phone"),
        }
    };
    match f.object("customer", &["name", "email", "phone"], read) {
        Some(c) => c,
        None => {
            if email_required && !f.has("customer") {
                f.problem("Required fields: customer.email".into());
            }
            Customer::default()
        }
    }
}

pub fn interval(f: &mut Fields) -> Interval {
    f.one_of("interval", &["monthly", "quarterly"], |s| match s {
        "monthly" => Some(Interval::Monthly),
        "quarterly" => Some(Interval::Quarterly),
        _ => None,
    })
    .unwrap_or(Interval::Monthly)
}

/// Both request shapes of the spec into one `NewLink`.
pub(crate) fn parse(obj: &Map<String, Value>) -> Result<NewLink, ApiError> {
    let mut f = Fields::new(obj);
    f.refuse_unknown(&FIELDS);
    let employer_id = f.required_id("employer_id");
    let carrier_id = f.required_id("carrier_id");
    let policy_id = f.required_id("policy_id");
    let one_time = obj.get("payment_type").and_then(Value::as_str) == Some("ONE_TIME");
    let (amount, payment_type, premium, fee) = if one_time {
        // Each half of the largest amount, so their sum is always a valid amount.
        let premium = f.required_cents_up_to("premium_cents", MAX_CENTS / 2);
        // A fee may be zero.
        let fee = match obj.get("fee_cents") {
            Some(fee) if whole_number(fee) == Some(0) => None,
            _ => f.required_cents_up_to("fee_cents", MAX_CENTS / 2),
        };
        let context = f.one_of("payment_context", &PAYMENT_TYPES, parse_payment_type);
        if context.is_none() && !f.has("payment_context") {
            f.problem("Required fields: payment_context (with payment_type ONE_TIME)".into());
        }
        if f.has("amount_cents") {
            f.problem("amount_cents cannot be sent with payment_type ONE_TIME: the amount is premium_cents + fee_cents".into());
        }
        let total = premium.and_then(|p| p.checked_add(fee.unwrap_or(Cents::ZERO)));
        (total, context, premium, fee.or(Some(Cents::ZERO)))
    } else {
        let amount = f.required_cents("amount_cents");
        let mut allowed = PAYMENT_TYPES.to_vec();
        allowed.push("ONE_TIME");
        let kind = f.one_of("payment_type", &allowed, parse_payment_type);
        if kind.is_none() && !f.has("payment_type") {
            f.problem("Required fields: payment_type".into());
        }
        for only_one_time in ["premium_cents", "fee_cents", "payment_context"] {
            if f.has(only_one_time) {
                f.problem(format!(
                    "{only_one_time} is only accepted with payment_type ONE_TIME"
                ));
            }
        }
        (amount, kind, None, None)
    };
    let customer = customer(&mut f, false);
    let plan = f
        .object("installment_plan", &["count", "interval", "per_installment_cents"], |p| {
            let count = p.integer("count", 1, 120);
            let interval = interval(p);
            let per = p.cents("per_installment_cents");
            match (count, per, p.has("count"), p.has("per_installment_cents")) {
                (Some(count), Some(per), _, _) => Some(InstallmentPlan { count: count as u32, interval, per_installment_cents: per }),
                (_, _, false, true) => {
                    p.problem("installment_plan.per_installment_cents requires installment_plan.count".into());
                    None
                }
                (_, _, true, false) => {
                    p.problem("installment_plan.count requires installment_plan.per_installment_cents".into());
                    None
                }
                (_, _, false, false) => {
                    p.problem("Required fields: installment_plan.count, installment_plan.per_installment_cents".into());
                    None
                }
                _ => None,
            }
        })
        .flatten();
    let metadata = f.metadata("metadata");
    f.finish()?;
    match (employer_id, carrier_id, policy_id, amount, payment_type) {
        (
            Some(employer_id),
            Some(carrier_id),
            Some(policy_id),
            Some(amount),
            Some(payment_type),
        ) => Ok(NewLink {
            carrier_id,
            employer_id,
            policy_id,
            amount,
            payment_type,
            premium_cents: premium,
            fee_cents: fee,
            customer,
            installment_plan: plan,
            metadata,
            expires_at: None,
        }),
        _ => Err(ApiError::BadRequest("the request is incomplete".into())),
    }
}

/// The link, if it exists in the caller's environment and tenant scope.
pub async fn load_link(
    app: &AppState,
    who: &Principal,
    id: crate::domain::ObjectId,
) -> Result<LinkRecord, ApiError> {
    let link = app
        .engine
        .link(who.env, id)
        .await?
        .ok_or_else(|| ApiError::not_found("payment link"))?;
    in_scope(who, link.terms.carrier_id, link.terms.employer_id)?;
    Ok(link)
}

#[utoipa::path(post, path = "/api/v1/payment-links", operation_id = "create_payment_link", tag = "payment links",
    request_body = crate::http::views::requests::CreatePaymentLink,
    responses((status = 201, body = Envelope<LinkView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    who: Principal,
    idempotent: Idempotent,
    body: Bytes,
) -> Result<Response, ApiError> {
    let new = parse(&json_object(&body)?)?;
    in_scope(&who, new.carrier_id, new.employer_id)?;
    let receipt = idempotent.receipt(StatusCode::CREATED, view(&app));
    let link = app.engine.create_link_with(who.env, new, receipt).await?;
    Ok(created(LinkView::new(&link, &app.public_url)))
}

/// How a link is shown, for answers committed with their transition.
pub fn view(app: &AppState) -> impl FnOnce(&LinkRecord) -> LinkView + Send + 'static {
    let public_url = app.public_url.clone();
    move |link| LinkView::new(link, &public_url)
}

#[utoipa::path(get, path = "/api/v1/payment-links", operation_id = "list_payment_links", tag = "payment links",
    params(("carrier_id" = Option<String>, Query, pattern = "^[0-9a-fA-F]{24}$"), ("employer_id" = Option<String>, Query, pattern = "^[0-9a-fA-F]{24}$"), ("status" = Option<crate::http::views::requests::LinkStatus>, Query), ("page" = Option<u64>, Query, minimum = 1, maximum = 1000000), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = PageEnvelope<LinkView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    who: Principal,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = list_query(&params, &LinkStatus::ALL)?;
    let store = app.engine.store();
    let matches = |l: &LinkRecord| {
        query.matches(
            l.terms.carrier_id,
            l.terms.employer_id,
            l.machine.state_name(),
        )
    };
    let view = |l: &LinkRecord| LinkView::new(l, &app.public_url);
    list_page(
        &app,
        &who,
        &query,
        EntityKind::PaymentLink,
        |id| store.link(who.env, id),
        matches,
        view,
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/payment-links/{id}", operation_id = "get_payment_link", tag = "payment links",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")),
    responses((status = 200, body = Envelope<LinkView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let link = load_link(&app, &who, path_id(&id)?).await?;
    Ok(ok(LinkView::new(&link, &app.public_url)))
}

#[utoipa::path(delete, path = "/api/v1/payment-links/{id}", operation_id = "cancel_payment_link", tag = "payment links",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")),
    responses((status = 200, body = Envelope<LinkView>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(app): State<AppState>,
    who: Principal,
    idempotent: Idempotent,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let link = load_link(&app, &who, path_id(&id)?).await?;
    let receipt = idempotent.receipt(StatusCode::OK, view(&app));
    let link = app
        .engine
        .command_link(who.env, link.id, LinkCommand::Cancel, receipt)
        .await?;
    Ok(ok(LinkView::new(&link, &app.public_url)))
}

#[utoipa::path(post, path = "/api/v1/payment-links/{id}/refund", operation_id = "refund_payment_link", tag = "payment links",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$")), request_body = crate::http::views::requests::Refund,
    responses((status = 200, body = Envelope<LinkView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn refund(
    State(app): State<AppState>,
    who: Principal,
    idempotent: Idempotent,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let obj = json_object(&body)?;
    let mut f = Fields::new(&obj);
    f.refuse_unknown(&["amount_cents", "reason"]);
    let amount = f.cents("amount_cents");
    let reason = f.text("reason");
    f.finish()?;
    let link = load_link(&app, &who, id).await?;
    let receipt = idempotent.receipt(StatusCode::OK, view(&app));
    let refund = LinkCommand::Refund { amount, reason };
    let link = app
        .engine
        .command_link(who.env, link.id, refund, receipt)
        .await?;
    Ok(ok(LinkView::new(&link, &app.public_url)))
}
