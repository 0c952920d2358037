//! The spec's flows end to end over HTTP: a down payment that starts ten monthly installments,
//! dunning, every status of both status tables, refused transitions, pagination and filters,
//! the hosted checkout page, and the operational endpoints.

#[path = "support/http.rs"]
mod app;

use app::*;
use serde_json::{json, Value};

/// Long enough that exactly one more monthly installment falls due (months are 28–31 days).
const MONTH_DAYS: u64 = 31;

// The spec's flow.

#[tokio::test(flavor = "multi_thread")]
async fn a_down_payment_with_a_plan_starts_ten_monthly_installments_that_complete() {
    let app = TestApp::spawn().await;
    // "This creates a payment link for a $2,500 down payment. After the insured pays, a
    // monthly subscription is automatically created for 10 installments of $750."
    let link = app.create_link(plan_link_body(250_000, 10, 75_000)).await;
    let paid = app.pay(&link).await;
    let sub_id = paid["subscription_id"]
        .as_str()
        .unwrap_or_else(|| panic!("paying the plan link started a subscription: {paid}"))
        .to_string();
    assert_eq!(app.link(&link).await["subscription_id"], sub_id.as_str());

    let sub = app.subscription(&sub_id).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["amount_cents"], 75_000);
    assert_eq!(sub["interval"], "monthly");
    assert_eq!(
        sub["installments"],
        json!({ "count": 10, "paid": 0, "remaining": 10 })
    );
    assert_eq!(sub["paid_cents"], 0);
    assert_eq!(sub["source_payment_link_id"], link.as_str());
    assert_eq!(sub["carrier_id"], CARRIER);
    assert_eq!(sub["employer_id"], EMPLOYER);
    assert_eq!(sub["policy_id"], POLICY);
    // The down payment covers the first period: installment 1 is due a month after it.
    let first_due_in_days =
        (millis(&sub["next_billing_date"]) - millis(&paid["updated_at"])) / (DAY as i128 * 1000);
    assert!(
        (27..=31).contains(&first_due_in_days),
        "installment 1 is due a month after the down payment, not {first_due_in_days} days"
    );

    let mut last_due = millis(&sub["next_billing_date"]);
    for month in 1..=10u64 {
        app.advance_days(MONTH_DAYS).await;
        let sub = app.subscription(&sub_id).await;
        assert_eq!(
            sub["installments"]["paid"], month,
            "after month {month}: {sub}"
        );
        assert_eq!(sub["installments"]["remaining"], 10 - month);
        assert_eq!(sub["paid_cents"], 75_000 * month);
        if month < 10 {
            assert_eq!(sub["status"], "active", "after month {month}");
            let due = millis(&sub["next_billing_date"]);
            assert!(due > last_due, "after month {month} the next date moved on");
            last_due = due;
        }
    }

    let sub = app.subscription(&sub_id).await;
    assert_eq!(sub["status"], "completed");
    assert_eq!(
        sub["installments"],
        json!({ "count": 10, "paid": 10, "remaining": 0 })
    );
    assert_eq!(sub["paid_cents"], 750_000);

    // Nothing more is charged after the last installment.
    app.advance_days(MONTH_DAYS).await;
    assert_eq!(app.subscription(&sub_id).await["paid_cents"], 750_000);
    assert_eq!(app.subscription_total().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_links_subscription_is_created_once() {
    let app = TestApp::spawn().await;
    let link = app.create_link(plan_link_body(250_000, 3, 10_000)).await;
    let sub_id = app.pay(&link).await["subscription_id"].clone();

    app.post(
        &format!("/test_helpers/payment-links/{link}/pay"),
        json!({ "outcome": "succeeded" }),
    )
    .await
    .expect_error(409, "invalid_transition");

    let subs = app.get("/subscriptions").await.page();
    assert_eq!(subs.total, 1);
    assert_eq!(json!(subs.ids[0]), sub_id);
    assert_eq!(app.link(&link).await["paid_cents"], 250_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_installment_goes_past_due_and_a_successful_retry_restores_it() {
    let app = TestApp::spawn().await;
    let link = app.create_link(plan_link_body(250_000, 10, 75_000)).await;
    let sub_id = app.pay(&link).await["subscription_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.fail_next_charges(&sub_id, 1).await;

    app.advance_days(MONTH_DAYS).await;
    let sub = app.subscription(&sub_id).await;
    assert_eq!(sub["status"], "past_due");
    assert_eq!(sub["installments"]["paid"], 0);
    assert_eq!(sub["paid_cents"], 0);

    // The first dunning retry comes 3 days later (the default schedule), and succeeds.
    app.advance_days(3).await;
    let sub = app.subscription(&sub_id).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["installments"]["paid"], 1);
    assert_eq!(sub["installments"]["remaining"], 9);
    assert_eq!(sub["paid_cents"], 75_000);
}

// Every status of both tables.

async fn ids_with_status(app: &TestApp, resource: &str, status: &str) -> Vec<String> {
    app.get(&format!("/{resource}?status={status}"))
        .await
        .page()
        .ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_reaches_every_status_of_the_payment_status_table() {
    let app = TestApp::spawn().await;
    // Links expire after 30 days without payment.
    let expired = app.create_link(link_body(10_000)).await;
    app.advance_days(31).await;
    assert_eq!(app.link(&expired).await["status"], "expired");

    let active = app.create_link(link_body(10_000)).await;
    let completed = app.paid_link(10_000).await;
    let cancelled = app.create_link(link_body(10_000)).await;
    app.delete(&format!("/payment-links/{cancelled}"))
        .await
        .expect_status(200);
    let partially_refunded = app.paid_link(10_000).await;
    app.refund(&partially_refunded, Some(4_000))
        .await
        .expect_status(200);
    let refunded = app.paid_link(10_000).await;
    app.refund(&refunded, None).await.expect_status(200);

    let expected = [
        ("active", active),
        ("completed", completed),
        ("expired", expired),
        ("cancelled", cancelled),
        ("partially_refunded", partially_refunded),
        ("refunded", refunded),
    ];
    for (status, id) in expected {
        assert_eq!(app.link(&id).await["status"], status);
        assert_eq!(
            ids_with_status(&app, "payment-links", status).await,
            [id],
            "the {status} filter lists exactly the {status} link"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_reaches_every_status_of_the_subscription_status_table() {
    let app = TestApp::spawn().await;
    let active = app.subscription_due_tomorrow(10_000, None).await;
    let past_due = app.subscription_due_tomorrow(10_000, None).await;
    let cancelled = app.subscription_due_tomorrow(10_000, None).await;
    let completed = app.subscription_due_tomorrow(10_000, Some(1)).await;
    app.fail_next_charges(&past_due, 1).await;
    app.delete(&format!("/subscriptions/{cancelled}"))
        .await
        .expect_status(200);

    app.advance_days(1).await;

    let expected = [
        ("active", active),
        ("past_due", past_due),
        ("cancelled", cancelled),
        ("completed", completed),
    ];
    for (status, id) in expected {
        assert_eq!(app.subscription(&id).await["status"], status);
        assert_eq!(
            ids_with_status(&app, "subscriptions", status).await,
            [id],
            "the {status} filter lists exactly the {status} subscription"
        );
    }
}

// Transitions the state refuses: 409, and nothing changes.

#[tokio::test(flavor = "multi_thread")]
async fn refused_transitions_are_conflicts_that_change_nothing() {
    let app = TestApp::spawn().await;
    let cancelled = app.create_link(link_body(10_000)).await;
    app.delete(&format!("/payment-links/{cancelled}"))
        .await
        .expect_status(200);
    let unpaid = app.create_link(link_body(10_000)).await;
    let paid = app.paid_link(10_000).await;

    let attempts: [(&str, String, Value, &str); 5] = [
        (
            "paying a cancelled link",
            format!("/test_helpers/payment-links/{cancelled}/pay"),
            json!({ "outcome": "succeeded" }),
            &cancelled,
        ),
        (
            "paying a paid link again",
            format!("/test_helpers/payment-links/{paid}/pay"),
            json!({ "outcome": "succeeded" }),
            &paid,
        ),
        (
            "refunding more than was paid",
            format!("/payment-links/{paid}/refund"),
            json!({ "amount_cents": 10_001 }),
            &paid,
        ),
        (
            "refunding an unpaid link",
            format!("/payment-links/{unpaid}/refund"),
            json!({ "amount_cents": 100 }),
            &unpaid,
        ),
        (
            "refunding all of an unpaid link",
            format!("/payment-links/{unpaid}/refund"),
            json!({}),
            &unpaid,
        ),
    ];
    for (what, path, body, link) in attempts {
        let before = app.link(link).await;
        let res = app.post(&path, body).await;
        assert_eq!(res.status, 409, "{what}: {}", res.body);
        assert_eq!(res.body["code"], "invalid_transition", "{what}");
        assert_eq!(res.body["error"], "Conflict", "{what}");
        assert_eq!(app.link(link).await, before, "{what} changed the link");
    }
    assert_eq!(app.link(&cancelled).await["paid_cents"], 0);
    assert_eq!(app.link(&paid).await["refunded_cents"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_link_can_be_neither_paid_nor_cancelled() {
    let app = TestApp::spawn().await;
    let link = app.create_link(link_body(10_000)).await;
    app.advance_days(31).await;
    let before = app.link(&link).await;
    assert_eq!(before["status"], "expired");

    app.post(
        &format!("/test_helpers/payment-links/{link}/pay"),
        json!({ "outcome": "succeeded" }),
    )
    .await
    .expect_error(409, "invalid_transition");
    app.delete(&format!("/payment-links/{link}"))
        .await
        .expect_error(409, "invalid_transition");

    assert_eq!(app.link(&link).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_paid_in_time_does_not_expire() {
    let app = TestApp::spawn().await;
    let link = app.paid_link(10_000).await;
    app.advance_days(31).await;
    assert_eq!(app.link(&link).await["status"], "completed");
}

// Lists.

#[tokio::test(flavor = "multi_thread")]
async fn pages_split_the_list_newest_first_with_consistent_totals() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for i in 1..=7u64 {
        created.push(app.create_link(link_body(i * 1_000)).await);
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    for (page_no, expected_len) in [(1u64, 3usize), (2, 3), (3, 1)] {
        let page = app
            .get(&format!("/payment-links?limit=3&page={page_no}"))
            .await
            .page();
        assert_eq!(page.data.len(), expected_len, "page {page_no}");
        assert_eq!(page.page, page_no);
        assert_eq!(page.limit, 3);
        assert_eq!(page.total, 7);
        assert_eq!(page.total_pages, 3);
        seen.extend(page.ids);
    }
    assert_eq!(seen, newest_first);

    let beyond = app.get("/payment-links?limit=3&page=4").await.page();
    assert!(beyond.data.is_empty());
    assert_eq!(beyond.page, 4);
    assert_eq!(beyond.total, 7);
    assert_eq!(beyond.total_pages, 3);

    let whole = app.get("/payment-links?limit=7").await.page();
    assert_eq!(whole.ids, newest_first);
    assert_eq!(whole.total_pages, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription_pages_split_the_list_newest_first() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(app.subscription_due_tomorrow(1_000, None).await);
    }
    created.reverse();

    let first = app.get("/subscriptions?limit=2&page=1").await.page();
    let second = app.get("/subscriptions?limit=2&page=2").await.page();
    let third = app.get("/subscriptions?limit=2&page=3").await.page();

    assert_eq!(
        (first.total, first.total_pages, third.data.len()),
        (5, 3, 1)
    );
    let seen: Vec<String> = [first.ids, second.ids, third.ids].concat();
    assert_eq!(seen, created);
}

/// A link of the given carrier and employer.
async fn link_of(app: &TestApp, carrier: &str, employer: &str) -> String {
    let mut body = link_body(10_000);
    body["carrier_id"] = json!(carrier);
    body["employer_id"] = json!(employer);
    app.create_link(body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn link_filters_return_only_the_matching_links() {
    let app = TestApp::spawn().await;
    let ours = link_of(&app, CARRIER, EMPLOYER).await;
    let other_carrier = link_of(&app, OTHER_CARRIER, EMPLOYER).await;
    let other_employer = link_of(&app, CARRIER, OTHER_EMPLOYER).await;
    app.delete(&format!("/payment-links/{other_employer}"))
        .await
        .expect_status(200);

    let cases: [(String, Vec<String>); 8] = [
        (
            format!("carrier_id={OTHER_CARRIER}"),
            vec![other_carrier.clone()],
        ),
        (
            format!("employer_id={OTHER_EMPLOYER}"),
            vec![other_employer.clone()],
        ),
        (
            format!("carrier_id={CARRIER}"),
            vec![other_employer.clone(), ours.clone()],
        ),
        (
            format!("employer_id={EMPLOYER}"),
            vec![other_carrier.clone(), ours.clone()],
        ),
        ("status=cancelled".into(), vec![other_employer.clone()]),
        (
            "status=active".into(),
            vec![other_carrier.clone(), ours.clone()],
        ),
        (
            format!("carrier_id={CARRIER}&status=active"),
            vec![ours.clone()],
        ),
        (
            format!("carrier_id={CARRIER}&employer_id={EMPLOYER}"),
            vec![ours.clone()],
        ),
    ];
    for (query, expected) in cases {
        let page = app.get(&format!("/payment-links?{query}")).await.page();
        assert_eq!(page.ids, expected, "?{query}");
        assert_eq!(page.total, expected.len() as u64, "?{query}");
    }
    let none = app
        .get(&format!("/payment-links?carrier_id={UNKNOWN_ID}"))
        .await
        .page();
    assert_eq!((none.total, none.data.len()), (0, 0));
    let none = app.get("/payment-links?status=refunded").await.page();
    assert_eq!(none.total, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription_filters_return_only_the_matching_subscriptions() {
    let app = TestApp::spawn().await;
    let with_ids = |carrier: &str, employer: &str, start: &str| {
        let mut body = subscription_body(10_000);
        body["carrier_id"] = json!(carrier);
        body["employer_id"] = json!(employer);
        body["start_date"] = json!(start);
        body
    };
    let start = app.days_from_now(1).await;
    let ours = app
        .create_subscription(with_ids(CARRIER, EMPLOYER, &start))
        .await;
    let other_carrier = app
        .create_subscription(with_ids(OTHER_CARRIER, EMPLOYER, &start))
        .await;
    let other_employer = app
        .create_subscription(with_ids(CARRIER, OTHER_EMPLOYER, &start))
        .await;
    app.delete(&format!("/subscriptions/{other_carrier}"))
        .await
        .expect_status(200);

    let cases: [(String, Vec<String>); 5] = [
        (
            format!("carrier_id={OTHER_CARRIER}"),
            vec![other_carrier.clone()],
        ),
        (
            format!("employer_id={OTHER_EMPLOYER}"),
            vec![other_employer.clone()],
        ),
        ("status=cancelled".into(), vec![other_carrier.clone()]),
        (
            "status=active".into(),
            vec![other_employer.clone(), ours.clone()],
        ),
        (
            format!("employer_id={EMPLOYER}&status=active"),
            vec![ours.clone()],
        ),
    ];
    for (query, expected) in cases {
        let page = app.get(&format!("/subscriptions?{query}")).await.page();
        assert_eq!(page.ids, expected, "?{query}");
        assert_eq!(page.total, expected.len() as u64, "?{query}");
    }
    assert_eq!(
        app.get("/subscriptions?status=past_due").await.page().total,
        0
    );
}

// The hosted checkout page.

#[tokio::test(flavor = "multi_thread")]
async fn the_checkout_page_shows_the_amount_in_dollars() {
    let app = TestApp::spawn().await;
    let link = app
        .post("/payment-links", link_body(250_000))
        .await
        .expect_status(201);

    let page = app.browse(link["url"].as_str().unwrap()).await;

    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    assert!(page.body.contains("$2,500.00"), "{}", page.body);
    assert!(
        page.body.contains(&format!("/checkout/{}", id_of(&link))),
        "the form posts to the same path"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn paying_on_the_checkout_page_with_the_test_card_completes_the_link() {
    let app = TestApp::spawn().await;
    let link = app
        .post("/payment-links", link_body(250_000))
        .await
        .expect_status(201);
    let url = link["url"].as_str().unwrap();

    app.submit_form(url, "card_number=4242424242424242").await;

    let paid = app.link(&id_of(&link)).await;
    assert_eq!(paid["status"], "completed");
    assert_eq!(paid["paid_cents"], 250_000);

    // Submitting again charges nothing more.
    app.submit_form(url, "card_number=4242424242424242").await;
    assert_eq!(app.link(&id_of(&link)).await, paid);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_card_on_the_checkout_page_leaves_the_link_active() {
    let app = TestApp::spawn().await;
    let id = app.create_link(link_body(250_000)).await;
    let path = format!("/checkout/{id}");

    app.submit_form(&path, "card_number=4000000000000002").await;

    let link = app.link(&id).await;
    assert_eq!(link["status"], "active");
    assert_eq!(link["paid_cents"], 0);

    // The insured can try again with a good card.
    app.submit_form(&path, "card_number=4242+4242+4242+4242")
        .await;
    assert_eq!(app.link(&id).await["status"], "completed");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checkout_page_of_an_unknown_link_is_not_found() {
    let app = TestApp::spawn().await;
    let page = app.browse(&format!("/checkout/{UNKNOWN_ID}")).await;
    assert_eq!(page.status, 404);
    let paid = app
        .submit_form(
            &format!("/checkout/{UNKNOWN_ID}"),
            "card_number=4242424242424242",
        )
        .await;
    assert_eq!(paid.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_link_cannot_be_paid_on_the_sandbox_checkout() {
    let app = TestApp::spawn().await;
    let live = app.create_key(new_key(
        premia::domain::Environment::Live,
        premia::auth::Scope::Payments,
    ));
    let link = app
        .with_key(&live)
        .post("/payment-links", link_body(250_000))
        .await
        .expect_status(201);

    app.submit_form(
        &format!("/checkout/{}", id_of(&link)),
        "card_number=4242424242424242",
    )
    .await;

    let after = app
        .with_key(&live)
        .get(&format!("/payment-links/{}", id_of(&link)))
        .await
        .expect_status(200);
    assert_eq!(after["status"], "active");
    assert_eq!(after["paid_cents"], 0);
}

// Operations.

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness_answer_200() {
    let app = TestApp::spawn().await;
    assert_eq!(app.browse("/healthz").await.status, 200);
    assert_eq!(app.browse("/readyz").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_http_requests_in_prometheus_text() {
    let app = TestApp::spawn().await;
    app.get("/payment-links").await.page();

    let metrics = app.browse("/metrics").await;

    assert_eq!(metrics.status, 200);
    assert!(
        metrics.content_type.starts_with("text/plain"),
        "{}",
        metrics.content_type
    );
    assert!(
        metrics.body.contains("premia_http_requests_total"),
        "{}",
        metrics.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_both_resources() {
    let app = TestApp::spawn().await;
    let doc = app.browse("/openapi.json").await;
    assert_eq!(doc.status, 200);
    let doc: Value = serde_json::from_str(&doc.body).expect("the document is JSON");
    let paths = doc["paths"].as_object().expect("a paths object");
    for path in ["/api/v1/payment-links", "/api/v1/subscriptions"] {
        assert!(paths.contains_key(path), "{path} in {:?}", paths.keys());
    }
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docs_page_is_html() {
    let app = TestApp::spawn().await;
    let docs = app.browse("/docs").await;
    assert_eq!(docs.status, 200);
    assert!(
        docs.content_type.starts_with("text/html"),
        "{}",
        docs.content_type
    );
    assert!(docs.body.contains("/api/v1/payment-links"));
}
