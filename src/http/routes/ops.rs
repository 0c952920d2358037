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
        requests::LinkStatus,
        requests::SubscriptionStatus,
        views::EndpointView,
        views::DeliveryView,
        views::AttemptView,
        views::EventView,
        views::webhook_requests::CreateEndpoint,
        views::webhook_requests::UpdateEndpoint,
        views::webhook_requests::RotateSecret,
        views::webhook_requests::Redeliver,
        views::webhook_requests::EventType,
        views::webhook_requests::DeliveryStatus,
        ErrorBody,
        Pagination,
    )),
    modifiers(&CommonAnswers)
)]
struct ApiDoc;

/// What every operation may answer whatever it does (the gate, backpressure), and the
/// Idempotency-Key every POST and DELETE accepts: documented once here rather than on each
/// route.
struct CommonAnswers;

impl utoipa::Modify for CommonAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
        use utoipa::openapi::{
            ContentBuilder, ObjectBuilder, Ref, Required, ResponseBuilder, Type,
        };
        let error = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        let key = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes the request safe to retry: the first answer is replayed for 24 hours",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some("^[!-~]+$")),
            ))
            .build();
        // Every `/api/v1` operation takes the key pair (documented so that tools such as
        // schemathesis can check that a request without it is refused).
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, header) in [
            ("client_id", "X-Client-ID"),
            ("client_secret", "X-Client-Secret"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(header))),
            );
        }
        doc.security = Some(vec![SecurityRequirement::new(
            "client_id",
            Vec::<String>::new(),
        )
        .add("client_secret", Vec::<String>::new())]);
        for item in doc.paths.paths.values_mut() {
            let writes = [&mut item.post, &mut item.delete, &mut item.patch];
            for op in writes.into_iter().flatten() {
                op.parameters.get_or_insert_with(Vec::new).push(key.clone());
                let answers = &mut op.responses.responses;
                answers
                    .entry("409".into())
                    .or_insert_with(|| error("A refused transition, or this Idempotency-Key's first request is still running").into());
                answers.entry("422".into()).or_insert_with(|| {
                    error("This Idempotency-Key was used for a different request").into()
                });
            }
            let all = [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in all.into_iter().flatten() {
                let answers = &mut op.responses.responses;
                for (status, what) in [
                    ("400", "Bad input: the message names every offending field"),
                    (
                        "401",
                        "Missing, wrong or revoked credentials, or a bad signature",
                    ),
                    ("413", "The body is too large"),
                    ("429", "Rate limited: see Retry-After"),
                    (
                        "503",
                        "Saturated, timed out or restarting: retry after Retry-After",
                    ),
                ] {
                    answers
                        .entry(status.into())
                        .or_insert_with(|| error(what).into());
                }
            }
        }
    }
}

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
    Json(document()).into_response()
}

/// The OpenAPI document, with links from each created resource to what its id leads to, so
/// stateful tests and code generators follow `data._id` rather than guess. The links are
/// added here as JSON: utoipa 5.5 serialises `Link` fields in snake_case (`operation_id`),
/// which no OpenAPI tool reads.
fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
    for (path, follow) in [
        (
            "/api/v1/payment-links",
            &[
                "get_payment_link",
                "cancel_payment_link",
                "refund_payment_link",
                "pay_payment_link",
            ][..],
        ),
        (
            "/api/v1/subscriptions",
            &["get_subscription", "cancel_subscription", "set_next_charge"][..],
        ),
        (
            "/api/v1/webhook-endpoints",
            &[
                "get_webhook_endpoint",
                "update_webhook_endpoint",
                "delete_webhook_endpoint",
                "rotate_webhook_secret",
                "list_webhook_deliveries",
            ][..],
        ),
    ] {
        let links: serde_json::Map<String, serde_json::Value> = follow
            .iter()
            .map(|op| {
                let link = serde_json::json!({
                    "operationId": op,
                    "parameters": { "id": "$response.body#/data/_id" },
                });
                (op.to_string(), link)
            })
            .collect();
        if let Some(created) = doc
            .pointer_mut(&format!(
                "/paths/{}/post/responses/201",
                path.replace('/', "~1")
            ))
            .and_then(|r| r.as_object_mut())
        {
            created.insert("links".into(), links.into());
        }
    }
    doc
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_webhook_url_pattern_is_the_one_enforced() {
        let doc = super::document();
        for schema in ["CreateEndpoint", "UpdateEndpoint"] {
            let url = &doc["components"]["schemas"][schema]["properties"]["url"];
            let documented = url["pattern"]
                .as_str()
                .or_else(|| url["oneOf"][1]["pattern"].as_str())
                .unwrap_or_else(|| panic!("{schema}.url has a pattern: {url}"));
            assert_eq!(documented, crate::webhooks::ssrf::URL_PATTERN, "{schema}");
        }
    }
}
