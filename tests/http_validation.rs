//! Bad input is refused at the edge: 400 `invalid_request`, a message naming every offending
//! field at once, and nothing created or changed.

#[path = "support/http.rs"]
mod app;

use app::*;
use serde_json::{json, Value};

/// One bad request: what it gets wrong, its body, and the fields its message must name.
struct Bad {
    what: &'static str,
    body: String,
    fields: &'static [&'static str],
}

fn bad(what: &'static str, body: Value, fields: &'static [&'static str]) -> Bad {
    Bad {
        what,
        body: body.to_string(),
        fields,
    }
}

fn with(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

fn without(mut body: Value, field: &str) -> Value {
    body.as_object_mut().unwrap().remove(field);
    body
}

/// The checks every refusal must pass.
#[track_caller]
fn assert_names(res: Res, what: &str, fields: &[&str]) -> String {
    assert_eq!(res.status, 400, "{what}: expected 400, got {}", res.body);
    assert_eq!(res.body["ok"], false, "{what}: {}", res.body);
    assert_eq!(res.body["code"], "invalid_request", "{what}: {}", res.body);
    assert_eq!(res.body["error"], "Bad Request", "{what}: {}", res.body);
    let message = res.body["message"].as_str().unwrap_or_default();
    for field in fields {
        assert!(
            message.contains(field),
            "{what}: the message should name {field}: {message:?}"
        );
    }
    message.to_string()
}

/// POSTs each bad body to `path` and checks it was refused and created nothing.
async fn assert_refused(app: &TestApp, path: &str, cases: Vec<Bad>) {
    for case in cases {
        let links = app.link_total().await;
        let subscriptions = app.subscription_total().await;
        let res = app.post_raw(path, &case.body).await;
        assert_names(res, case.what, case.fields);
        assert_eq!(
            app.link_total().await,
            links,
            "{}: a link was created",
            case.what
        );
        assert_eq!(
            app.subscription_total().await,
            subscriptions,
            "{}: a subscription was created",
            case.what
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_missing_required_fields_names_every_missing_one_at_once() {
    let app = TestApp::spawn().await;
    let full = link_body(250_000);
    assert_refused(
        &app,
        "/payment-links",
        vec![
            bad(
                "an empty object",
                json!({}),
                &[
                    "employer_id",
                    "carrier_id",
                    "policy_id",
                    "amount_cents",
                    "payment_type",
                ],
            ),
            bad(
                "only an amount and a type",
                json!({ "amount_cents": 100, "payment_type": "down_payment" }),
                &["employer_id", "carrier_id", "policy_id"],
            ),
            bad(
                "no policy_id",
                without(full.clone(), "policy_id"),
                &["policy_id"],
            ),
            bad(
                "no payment_type",
                without(full.clone(), "payment_type"),
                &["payment_type"],
            ),
            bad(
                "no amount_cents",
                without(full.clone(), "amount_cents"),
                &["amount_cents"],
            ),
            bad(
                "a null employer_id",
                with(full, "employer_id", Value::Null),
                &["employer_id"],
            ),
        ],
    )
    .await;
    assert_refused(
        &app,
        "/payment-links",
        vec![Bad {
            what: "an empty body",
            body: String::new(),
            fields: &[],
        }],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn link_ids_must_be_24_hex_object_ids() {
    let app = TestApp::spawn().await;
    let full = link_body(250_000);
    assert_refused(
        &app,
        "/payment-links",
        vec![
            bad(
                "a numeric employer_id",
                with(full.clone(), "employer_id", json!(681_123)),
                &["employer_id"],
            ),
            bad(
                "a carrier_id that is not an id",
                with(full.clone(), "carrier_id", json!("not-an-id")),
                &["carrier_id"],
            ),
            bad(
                "a policy_id of 23 hex digits",
                with(full.clone(), "policy_id", json!("682def789abc01234567890")),
                &["policy_id"],
            ),
            bad(
                "a policy_id of 24 non-hex characters",
                with(full.clone(), "policy_id", json!("zzzzzzzzzzzzzzzzzzzzzzzz")),
                &["policy_id"],
            ),
            bad(
                "two bad ids at once",
                with(
                    with(full, "employer_id", json!("x")),
                    "carrier_id",
                    json!(["680abc456def789012345678"]),
                ),
                &["employer_id", "carrier_id"],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn amounts_must_be_whole_cents_from_one_to_a_trillion() {
    let app = TestApp::spawn().await;
    let full = link_body(250_000);
    let amount = |v: Value| with(full.clone(), "amount_cents", v);
    assert_refused(
        &app,
        "/payment-links",
        vec![
            bad("amount 0", amount(json!(0)), &["amount_cents"]),
            bad("a negative amount", amount(json!(-100)), &["amount_cents"]),
            bad(
                "one cent over 1,000,000,000,000",
                amount(json!(1_000_000_000_001u64)),
                &["amount_cents"],
            ),
            bad(
                "an absurd amount",
                amount(json!(u64::MAX)),
                &["amount_cents"],
            ),
            bad(
                "a fractional amount",
                amount(json!(1500.5)),
                &["amount_cents"],
            ),
            bad(
                "an amount in exponent form",
                amount(json!(1e20)),
                &["amount_cents"],
            ),
            bad(
                "an amount as a string",
                amount(json!("150000")),
                &["amount_cents"],
            ),
            bad(
                "an amount as a boolean",
                amount(json!(true)),
                &["amount_cents"],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_payment_type_must_be_one_of_the_spec() {
    let app = TestApp::spawn().await;
    let full = link_body(250_000);
    assert_refused(
        &app,
        "/payment-links",
        vec![
            bad(
                "an unknown payment_type",
                with(full.clone(), "payment_type", json!("subscription")),
                &["payment_type"],
            ),
            bad(
                "a numeric payment_type",
                with(full, "payment_type", json!(5)),
                &["payment_type"],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_installment_plan_needs_a_count_from_1_to_120_and_its_amount() {
    let app = TestApp::spawn().await;
    let plan = |p: Value| with(link_body(250_000), "installment_plan", p);
    assert_refused(
        &app,
        "/payment-links",
        vec![
            bad(
                "per_installment_cents without count",
                plan(json!({ "per_installment_cents": 75_000 })),
                &["installment_plan.count"],
            ),
            bad(
                "count without per_installment_cents",
                plan(json!({ "count": 10 })),
                &["installment_plan.per_installment_cents"],
            ),
            bad(
                "count 0",
                plan(json!({ "count": 0, "per_installment_cents": 75_000 })),
                &["installment_plan.count"],
            ),
            bad(
                "count 121",
                plan(json!({ "count": 121, "per_installment_cents": 75_000 })),
                &["installment_plan.count"],
            ),
            bad(
                "a fractional count",
                plan(json!({ "count": 2.5, "per_installment_cents": 75_000 })),
                &["installment_plan.count"],
            ),
            bad(
                "an unknown interval",
                plan(json!({ "count": 10, "per_installment_cents": 75_000, "interval": "weekly" })),
                &["installment_plan.interval"],
            ),
            bad(
                "per_installment_cents 0",
                plan(json!({ "count": 10, "per_installment_cents": 0 })),
                &["installment_plan.per_installment_cents"],
            ),
            bad(
                "a plan that is not an object",
                plan(json!("monthly")),
                &["installment_plan"],
            ),
            bad(
                "an empty plan",
                plan(json!({})),
                &[
                    "installment_plan.count",
                    "installment_plan.per_installment_cents",
                ],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_time_link_needs_premium_fee_and_a_payment_context() {
    let app = TestApp::spawn().await;
    let one_time = json!({
        "employer_id": EMPLOYER,
        "carrier_id": CARRIER,
        "policy_id": POLICY,
        "premium_cents": 145_000,
        "fee_cents": 5_000,
        "payment_type": "ONE_TIME",
        "payment_context": "down_payment"
    });
    // The well-formed request is accepted: each case below breaks exactly one thing.
    let accepted = app
        .post("/payment-links", one_time.clone())
        .await
        .expect_status(201);
    assert_eq!(accepted["total_cents"], 150_000);
    assert_refused(
        &app,
        "/payment-links",
        vec![
            bad(
                "ONE_TIME without payment_context",
                without(one_time.clone(), "payment_context"),
                &["payment_context"],
            ),
            bad(
                "ONE_TIME with an unknown payment_context",
                with(one_time.clone(), "payment_context", json!("rent")),
                &["payment_context"],
            ),
            bad(
                "ONE_TIME without premium_cents",
                without(one_time.clone(), "premium_cents"),
                &["premium_cents"],
            ),
            bad(
                "ONE_TIME with a negative premium",
                with(one_time, "premium_cents", json!(-1)),
                &["premium_cents"],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_and_customer_must_have_the_documented_shapes() {
    let app = TestApp::spawn().await;
    let full = link_body(250_000);
    assert_refused(
        &app,
        "/payment-links",
        vec![
            bad(
                "a numeric metadata value",
                with(full.clone(), "metadata", json!({ "quote": 5 })),
                &["metadata"],
            ),
            bad(
                "a nested metadata value",
                with(full.clone(), "metadata", json!({ "quote": { "id": "Q" } })),
                &["metadata"],
            ),
            bad(
                "metadata that is a list",
                with(full.clone(), "metadata", json!(["quote"])),
                &["metadata"],
            ),
            bad(
                "a customer that is a string",
                with(full.clone(), "customer", json!("ACME Corp")),
                &["customer"],
            ),
            bad(
                "a numeric customer.email",
                with(full, "customer", json!({ "email": 42 })),
                &["customer.email"],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_not_a_json_object_is_refused() {
    let app = TestApp::spawn().await;
    for (what, body) in [
        ("truncated JSON", r#"{"employer_id": "#),
        ("a trailing comma", r#"{"amount_cents": 100,}"#),
        ("not JSON at all", "amount_cents=100"),
        ("a JSON array", "[]"),
        ("a JSON string", r#""down_payment""#),
    ] {
        for path in ["/payment-links", "/subscriptions"] {
            let what = format!("{what} to {path}");
            let message = assert_names(app.post_raw(path, body).await, &what, &[]);
            assert!(
                message.to_lowercase().contains("json"),
                "{what}: the message should say the body is not a JSON object: {message:?}"
            );
        }
    }
    assert_eq!(app.link_total().await, 0);
    assert_eq!(app.subscription_total().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_needs_its_ids_amount_and_customer_email() {
    let app = TestApp::spawn().await;
    let full = subscription_body(75_000);
    assert_refused(
        &app,
        "/subscriptions",
        vec![
            bad(
                "an empty object",
                json!({}),
                &[
                    "employer_id",
                    "carrier_id",
                    "policy_id",
                    "amount_cents",
                    "customer.email",
                ],
            ),
            bad(
                "no customer",
                without(full.clone(), "customer"),
                &["customer.email"],
            ),
            bad(
                "a customer without an email",
                with(full.clone(), "customer", json!({ "name": "ACME Corp" })),
                &["customer.email"],
            ),
            bad(
                "amount 0",
                with(full.clone(), "amount_cents", json!(0)),
                &["amount_cents"],
            ),
            bad(
                "a non-ObjectId carrier_id",
                with(full.clone(), "carrier_id", json!("carrier-1")),
                &["carrier_id"],
            ),
            bad(
                "an unknown interval",
                with(full.clone(), "interval", json!("weekly")),
                &["interval"],
            ),
            bad("count 0", with(full.clone(), "count", json!(0)), &["count"]),
            bad(
                "a start_date that is not RFC 3339",
                with(full.clone(), "start_date", json!("tomorrow")),
                &["start_date"],
            ),
            bad(
                "a numeric metadata value",
                with(full, "metadata", json!({ "seats": 12 })),
                &["metadata"],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn list_queries_need_valid_pages_limits_and_filters() {
    let app = TestApp::spawn().await;
    app.create_link(link_body(10_000)).await;
    let cases: [(&str, &str, &[&str]); 11] = [
        ("/payment-links?page=0", "page 0", &["page"]),
        ("/payment-links?limit=0", "limit 0", &["limit"]),
        ("/payment-links?limit=101", "limit 101", &["limit"]),
        ("/payment-links?page=abc", "a non-numeric page", &["page"]),
        (
            "/payment-links?limit=ten",
            "a non-numeric limit",
            &["limit"],
        ),
        ("/payment-links?page=-1", "a negative page", &["page"]),
        (
            "/payment-links?status=pending",
            "an unknown status",
            &["status"],
        ),
        (
            "/payment-links?carrier_id=xyz",
            "a non-ObjectId carrier_id",
            &["carrier_id"],
        ),
        (
            "/payment-links?employer_id=123",
            "a non-ObjectId employer_id",
            &["employer_id"],
        ),
        (
            "/subscriptions?status=expired",
            "a link status for subscriptions",
            &["status"],
        ),
        (
            "/subscriptions?page=0&limit=500",
            "page and limit both wrong",
            &["page", "limit"],
        ),
    ];
    for (path, what, fields) in cases {
        assert_names(app.get(path).await, what, fields);
    }
    // The edges of the ranges are fine.
    let page = app.get("/payment-links?page=1&limit=100").await.page();
    assert_eq!((page.limit, page.total), (100, 1));
    let page = app.get("/payment-links?limit=1").await.page();
    assert_eq!(page.data.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_amount_must_be_a_positive_whole_number_of_cents() {
    let app = TestApp::spawn().await;
    let id = app.paid_link(250_000).await;
    let path = format!("/payment-links/{id}/refund");
    let before = app.link(&id).await;
    for (what, body) in [
        ("refund amount 0", json!({ "amount_cents": 0 })),
        ("a negative refund", json!({ "amount_cents": -5 })),
        ("a fractional refund", json!({ "amount_cents": 12.5 })),
        (
            "a refund amount as a string",
            json!({ "amount_cents": "100" }),
        ),
    ] {
        assert_names(app.post(&path, body).await, what, &["amount_cents"]);
    }
    assert_names(
        app.post(&path, json!({ "reason": 7 })).await,
        "a numeric reason",
        &["reason"],
    );
    let after = app.link(&id).await;
    assert_eq!(after, before, "no refund happened");
    assert_eq!(after["refunded_cents"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_id_in_a_path_must_be_an_object_id() {
    let app = TestApp::spawn().await;
    let id = app.create_link(link_body(10_000)).await;
    assert_names(
        app.get("/payment-links/not-an-id").await,
        "GET a link by a bad id",
        &["id"],
    );
    assert_names(
        app.delete(&format!("/payment-links/{}", &id[..23])).await,
        "DELETE a link by a 23-digit id",
        &["id"],
    );
    assert_names(
        app.get("/subscriptions/12345").await,
        "GET a subscription by a bad id",
        &["id"],
    );
    assert_eq!(app.link(&id).await["status"], "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clock_helper_needs_a_positive_number_of_seconds() {
    let app = TestApp::spawn().await;
    let sub = app.subscription_due_tomorrow(10_000, None).await;
    for (what, body) in [
        ("no seconds", json!({})),
        ("zero seconds", json!({ "seconds": 0 })),
        ("seconds as a string", json!({ "seconds": "1d" })),
        ("going back in time", json!({ "seconds": -86_400 })),
        ("fractional seconds", json!({ "seconds": 86_400.5 })),
    ] {
        assert_names(
            app.post("/test_helpers/clock/advance", body).await,
            what,
            &["seconds"],
        );
    }
    assert_eq!(
        app.subscription(&sub).await["installments"]["paid"],
        0,
        "the clock did not move a day"
    );
}

/// The pay helper's `outcome` is "succeeded" or "failed" and its `method` "card" or "ach";
/// anything else is refused before any payment is attempted.
async fn assert_pay_refused(body: Value, field: &str) {
    let app = TestApp::spawn().await;
    let link = app.create_link(link_body(10_000)).await;
    let before = app.link(&link).await;
    assert_names(
        app.post(
            &format!("/test_helpers/payment-links/{link}/pay"),
            body.clone(),
        )
        .await,
        &format!("pay with {body}"),
        &[field],
    );
    assert_eq!(app.link(&link).await, before, "no payment was attempted");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pay_helper_refuses_an_unknown_outcome() {
    assert_pay_refused(json!({ "outcome": "maybe" }), "outcome").await;
    assert_pay_refused(json!({ "outcome": 1 }), "outcome").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pay_helper_refuses_an_unknown_method() {
    assert_pay_refused(json!({ "method": "cash" }), "method").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_charge_helper_refuses_an_unknown_outcome() {
    let app = TestApp::spawn().await;
    let sub = app.subscription_due_tomorrow(10_000, None).await;
    let path = format!("/test_helpers/subscriptions/{sub}/next_charge");
    for (what, body, field) in [
        (
            "an unknown outcome",
            json!({ "outcome": "exploded", "times": 1 }),
            "outcome",
        ),
        ("no outcome", json!({ "times": 1 }), "outcome"),
        (
            "times 0",
            json!({ "outcome": "failed", "times": 0 }),
            "times",
        ),
    ] {
        assert_names(app.post(&path, body).await, what, &[field]);
    }
    // Had a failure been arranged, tomorrow's installment would fail.
    app.advance_days(1).await;
    let sub = app.subscription(&sub).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["installments"]["paid"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_time_links_premium_and_fee_are_each_at_most_half_a_trillion_cents() {
    // So their sum is always a valid amount (at most a trillion cents), which the OpenAPI
    // schema can state field by field.
    let app = TestApp::spawn().await;
    let body = json!({
        "employer_id": EMPLOYER,
        "carrier_id": CARRIER,
        "policy_id": POLICY,
        "premium_cents": 500_000_000_001u64,
        "fee_cents": 600_000_000_000u64,
        "payment_type": "ONE_TIME",
        "payment_context": "late_payment"
    });
    assert_refused(
        &app,
        "/payment-links",
        vec![bad(
            "premium and fee over half the maximum",
            body,
            &["premium_cents", "fee_cents"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_is_refused_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let mut body = link_body(10_000);
    body["metadata"] = json!({ "padding": "x".repeat(70_000) });
    let res = app.post("/payment-links", body).await;
    assert_eq!(res.status, 413, "{}", res.body);
    assert_eq!(app.link_total().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_number_written_with_a_decimal_point_is_a_number_of_cents() {
    // JSON Schema's `integer` (and so the OpenAPI document) counts 250000.0 as an integer.
    let app = TestApp::spawn().await;
    let mut body = link_body(1);
    body["amount_cents"] = json!(250_000.0);
    let link = app.post("/payment-links", body).await.expect_status(201);
    assert_eq!(link["amount_cents"], 250_000);
    let mut half = link_body(1);
    half["amount_cents"] = json!(250_000.5);
    app.post("/payment-links", half)
        .await
        .expect_error(400, "invalid_request");
}
