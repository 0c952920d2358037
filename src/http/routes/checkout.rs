//! The sandbox's hosted checkout page: what `stripe_url`/`url` of a test link opens. Plain
//! server-rendered HTML with a card form taking Stripe's test numbers; paying here is the
//! same transition as the test helper. No API key: the insured opens it from an email.

use crate::domain::{Environment, LinkRecord};
use crate::http::extract::path_id;
use crate::http::AppState;
use crate::processor::PaymentSource;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use std::collections::HashMap;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// 250000 → "$2,500.00".
pub fn dollars(cents: u64) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("${grouped}.{:02}", cents % 100)
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}\
         .amount{{font-size:2rem;font-weight:600}}input,button{{font-size:1rem;padding:.5rem;width:100%;margin:.3rem 0}}\
         .note{{color:#666;font-size:.85rem}}</style></head><body><p class=\"note\">Premia sandbox checkout: no real money moves.</p>{body}</body></html>",
        title = escape(title)
    )
}

fn render(link: &LinkRecord, notice: Option<&str>) -> String {
    let t = &link.terms;
    let payer = t.customer.name.as_deref().unwrap_or("Insured employer");
    let mut body = format!(
        "<h1>Premium payment</h1><p>For {payer}, policy {policy}</p><p class=\"amount\">{amount}</p>",
        payer = escape(payer),
        policy = t.policy_id,
        amount = dollars(t.amount.get())
    );
    if let Some(notice) = notice {
        body.push_str(&format!(
            "<p role=\"status\"><strong>{}</strong></p>",
            escape(notice)
        ));
    }
    match link.machine.state_name() {
        "active" => body.push_str(&format!(
            "<form method=\"post\" action=\"/checkout/{id}\"><label>Card number\
             <input name=\"card_number\" inputmode=\"numeric\" autocomplete=\"cc-number\" placeholder=\"4242 4242 4242 4242\" required></label>\
             <button type=\"submit\">Pay {amount}</button></form>\
             <p class=\"note\">Test cards: 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined.</p>",
            id = link.id,
            amount = dollars(t.amount.get())
        )),
        "completed" | "partially_refunded" | "refunded" => body.push_str("<p>This payment has been received. Thank you.</p>"),
        other => body.push_str(&format!("<p>This payment link is {other} and can no longer be paid.</p>")),
    }
    layout("Premium payment", &body)
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(layout("Not found", "<h1>Payment link not found</h1>")),
    )
        .into_response()
}

async fn test_link(app: &AppState, id: &str) -> Option<LinkRecord> {
    let id = path_id(id).ok()?;
    app.engine.link(Environment::Test, id).await.ok().flatten()
}

pub async fn page(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    match test_link(&app, &id).await {
        Some(link) => Html(render(&link, None)).into_response(),
        None => not_found(),
    }
}

pub async fn pay(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(link) = test_link(&app, &id).await else {
        return not_found();
    };
    let number: String = form
        .get("card_number")
        .map(|n| n.chars().filter(char::is_ascii_digit).collect())
        .unwrap_or_default();
    if number.len() < 12 {
        return (
            StatusCode::BAD_REQUEST,
            Html(render(&link, Some("Enter a card number."))),
        )
            .into_response();
    }
    match app
        .engine
        .pay_link(Environment::Test, link.id, PaymentSource::Card(number))
        .await
    {
        Ok(paid) if paid.machine.state_name() == "completed" => {
            Html(render(&paid, Some("Payment received."))).into_response()
        }
        Ok(declined) => (
            StatusCode::PAYMENT_REQUIRED,
            Html(render(&declined, Some("Your card was declined."))),
        )
            .into_response(),
        Err(e) => (
            StatusCode::CONFLICT,
            Html(render(&link, Some(&e.to_string()))),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dollars_are_grouped_with_two_decimals() {
        assert_eq!(super::dollars(250_000), "$2,500.00");
        assert_eq!(super::dollars(5), "$0.05");
        assert_eq!(super::dollars(123_456_789), "$1,234,567.89");
    }
}
