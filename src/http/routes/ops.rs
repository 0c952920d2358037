//! Health, readiness, the OpenAPI document and its human page.

use super::{events, payment_links, subscriptions, test_helpers, webhook_endpoints};
use crate::http::envelope::{ok, ErrorBody, Pagination};
use crate::http::error::ApiError;
use crate::http::views::{self, requests};
use crate::http::AppState;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Premia payment API",
        version = "1",
        description = "Payment links and installment subscriptions for insurance premiums. Authenticate with X-Client-ID and X-Client-Secret. Webhooks are signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body keyed by the base64 part of whsec_…>)."
    ),
    paths(
        payment_links::create,
        payment_links::list,
        payment_links::get,
        payment_links::cancel,
        payment_links::refund,
        subscriptions::create,
        subscriptions::list,
        subscriptions::get,
        subscriptions::cancel,
        test_helpers::pay_link,
        test_helpers::next_charge,
        test_helpers::advance_clock,
        test_helpers::clock,
        webhook_endpoints::create,
        webhook_endpoints::list,
        webhook_endpoints::get,
        webhook_endpoints::update,
        webhook_endpoints::delete,
        webhook_endpoints::rotate_secret,
        webhook_endpoints::deliveries,
        events::list,
        events::get,
        events::redeliver,
    ),
    components(schemas(
        views::LinkView,
        views::SubscriptionView,
        views::CustomerView,
        views::InstallmentPlanView,
        views::InstallmentsView,
        requests::CreatePaymentLink,
        requests::CreateSubscription,
        requests::Refund,
        requests::PayLink,
        requests::NextCharge,
        requests::AdvanceClock,
        requests::CustomerInput,
        requests::InstallmentPlanInput,
        test_helpers::ClockView,
        views::EndpointView,
        views::DeliveryView,
        views::AttemptView,
        views::EventView,
        views::webhook_requests::CreateEndpoint,
        views::webhook_requests::UpdateEndpoint,
        views::webhook_requests::RotateSecret,
        views::webhook_requests::Redeliver,
        ErrorBody,
        Pagination,
    ))
)]
struct ApiDoc;

pub async fn healthz() -> Response {
    ok(serde_json::json!({ "status": "ok" }))
}

/// Ready when the store answers a read.
pub async fn readyz(State(app): State<AppState>) -> Result<Response, ApiError> {
    app.engine
        .store()
        .next_due(crate::domain::Environment::Live)
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(ok(serde_json::json!({ "status": "ready" })))
}

pub async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// A plain page listing every operation, generated from the same OpenAPI document.
pub async fn docs() -> Html<String> {
    let doc = ApiDoc::openapi();
    let mut rows = String::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                rows.push_str(&format!(
                    "<tr><td><code>{method}</code></td><td><code>{path}</code></td><td>{}</td></tr>",
                    op.tags.as_ref().map(|t| t.join(", ")).unwrap_or_default()
                ));
            }
        }
    }
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Premia API</title></head><body>\
         <h1>Premia payment API v1</h1><p>Send <code>X-Client-ID</code> and <code>X-Client-Secret</code> with every request. \
         The full schema is at <a href=\"/openapi.json\">/openapi.json</a>.</p>\
         <table><thead><tr><th>method</th><th>path</th><th>group</th></tr></thead><tbody>{rows}</tbody></table></body></html>"
    ))
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see /docs".into())
}
