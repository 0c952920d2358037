//! `/api/v1/subscriptions` over HTTP: create, get, cancel, billing on the sandbox clock, and
//! the response fields of the README's contract.

#[path = "support/http.rs"]
mod app;

use app::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_subscription_answers_201_with_an_active_unbilled_subscription() {
    let app = TestApp::spawn().await;
    let start = app.days_from_now(1).await;
    let mut body = subscription_body(75_000);
    body["count"] = json!(12);
    body["start_date"] = json!(start);
    body["metadata"] = json!({ "policy_year": "2026" });

    let sub = app.post("/subscriptions", body).await.expect_status(201);

    assert_eq!(sub["_id"].as_str().unwrap().len(), 24);
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["amount_cents"], 75_000);
    assert_eq!(sub["interval"], "monthly", "the default interval");
    assert_eq!(
        sub["installments"],
        json!({ "count": 12, "paid": 0, "remaining": 12 })
    );
    assert_eq!(sub["paid_cents"], 0);
    assert_eq!(
        millis(&sub["next_billing_date"]),
        millis(&json!(start)),
        "installment 1 is billed at start_date"
    );
    assert_eq!(sub["employer_id"], EMPLOYER);
    assert_eq!(sub["carrier_id"], CARRIER);
    assert_eq!(sub["policy_id"], POLICY);
    assert_eq!(sub["customer"]["email"], "billing@acme.example");
    assert_eq!(sub["customer"]["name"], "ACME Corp");
    assert_eq!(sub["metadata"], json!({ "policy_year": "2026" }));
    assert!(sub["stripe_subscription_id"]
        .as_str()
        .unwrap()
        .starts_with("sub_"));
    assert_eq!(sub["source_payment_link_id"], json!(null));
    assert!(millis(&sub["updated_at"]) >= millis(&sub["created_at"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_ended_subscription_has_no_count_and_no_remaining() {
    let app = TestApp::spawn().await;
    let id = app.subscription_due_tomorrow(30_000, None).await;
    let sub = app.subscription(&id).await;
    assert_eq!(
        sub["installments"],
        json!({ "count": null, "paid": 0, "remaining": null })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quarterly_subscription_bills_three_months_apart() {
    let app = TestApp::spawn().await;
    let mut body = subscription_body(30_000);
    body["interval"] = json!("quarterly");
    body["start_date"] = json!(app.days_from_now(1).await);
    let created = app.post("/subscriptions", body).await.expect_status(201);
    assert_eq!(created["interval"], "quarterly");
    let id = id_of(&created);

    app.advance_days(1).await;

    let sub = app.subscription(&id).await;
    assert_eq!(sub["installments"]["paid"], 1);
    let gap_days = (millis(&sub["next_billing_date"]) - millis(&created["next_billing_date"]))
        / (DAY as i128 * 1000);
    assert!(
        (89..=92).contains(&gap_days),
        "the next installment is a quarter later, not {gap_days} days"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_without_a_start_date_bills_its_first_installment_now() {
    let app = TestApp::spawn().await;
    let created = app
        .post("/subscriptions", subscription_body(20_000))
        .await
        .expect_status(201);
    let now = app.sandbox_now_ms().await as i128;
    assert!(
        millis(&created["next_billing_date"]) <= now,
        "installment 1 is due at once: {created}"
    );

    // Whatever fell due is committed before the clock helper answers.
    app.advance_seconds(1).await;

    let sub = app.subscription(&id_of(&created)).await;
    assert_eq!(sub["installments"]["paid"], 1);
    assert_eq!(sub["paid_cents"], 20_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backdated_start_bills_from_now_never_the_periods_it_skipped() {
    let app = TestApp::spawn().await;
    let mut body = subscription_body(20_000);
    body["start_date"] = json!("2020-01-31T00:00:00Z");
    let created = app.post("/subscriptions", body).await.expect_status(201);
    let now = app.sandbox_now_ms().await as i128;
    let due = millis(&created["next_billing_date"]);
    assert!(due <= now && now - due < 60_000, "due now: {created}");

    app.advance_seconds(1).await;
    let sub = app.subscription(&id_of(&created)).await;
    assert_eq!(
        sub["installments"]["paid"], 1,
        "one installment, not six years of them"
    );
    assert_eq!(sub["paid_cents"], 20_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_due_installment_is_charged_and_counted() {
    let app = TestApp::spawn().await;
    let id = app.subscription_due_tomorrow(10_000, Some(3)).await;
    let before = app.subscription(&id).await;

    app.advance_days(1).await;

    let sub = app.subscription(&id).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(
        sub["installments"],
        json!({ "count": 3, "paid": 1, "remaining": 2 })
    );
    assert_eq!(sub["paid_cents"], 10_000);
    assert!(millis(&sub["next_billing_date"]) > millis(&before["next_billing_date"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn getting_a_subscription_returns_what_creating_it_returned() {
    let app = TestApp::spawn().await;
    let mut body = subscription_body(10_000);
    body["start_date"] = json!(app.days_from_now(5).await);
    let created = app.post("/subscriptions", body).await.expect_status(201);
    assert_eq!(app.subscription(&id_of(&created)).await, created);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_subscription_id_is_not_found() {
    let app = TestApp::spawn().await;
    let path = format!("/subscriptions/{UNKNOWN_ID}");
    app.get(&path).await.expect_error(404, "not_found");
    app.delete(&path).await.expect_error(404, "not_found");
    app.post(
        &format!("/test_helpers/subscriptions/{UNKNOWN_ID}/next_charge"),
        json!({ "outcome": "failed", "times": 1 }),
    )
    .await
    .expect_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_subscription_is_never_billed_again() {
    let app = TestApp::spawn().await;
    let id = app.subscription_due_tomorrow(10_000, None).await;

    let cancelled = app
        .delete(&format!("/subscriptions/{id}"))
        .await
        .expect_status(200);
    assert_eq!(cancelled["status"], "cancelled");

    app.advance_days(40).await;
    let sub = app.subscription(&id).await;
    assert_eq!(sub["status"], "cancelled");
    assert_eq!(sub["installments"]["paid"], 0);
    assert_eq!(sub["paid_cents"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_cancelled_subscription_is_a_conflict() {
    let app = TestApp::spawn().await;
    let id = app.subscription_due_tomorrow(10_000, None).await;
    let path = format!("/subscriptions/{id}");
    app.delete(&path).await.expect_status(200);
    app.delete(&path)
        .await
        .expect_error(409, "invalid_transition");
    assert_eq!(app.subscription(&id).await["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_of_the_list_are_the_created_ones_newest_first() {
    let app = TestApp::spawn().await;
    let first = app.subscription_due_tomorrow(1_000, None).await;
    let second = app.subscription_due_tomorrow(2_000, Some(2)).await;

    let page = app.get("/subscriptions").await.page();

    assert_eq!(page.ids, [second, first]);
    assert_eq!(page.total, 2);
    assert_eq!(page.limit, 50, "the default limit");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_every_dunning_retry_fails_the_subscription_is_cancelled() {
    let app = TestApp::spawn().await;
    let id = app.subscription_due_tomorrow(10_000, None).await;
    app.fail_next_charges(&id, 4).await;

    app.advance_days(1).await;
    assert_eq!(app.subscription(&id).await["status"], "past_due");
    // Retries after 3, 5 and 7 days (the default dunning schedule), all failing.
    for days in [3, 5, 7] {
        app.advance_days(days).await;
    }

    let sub = app.subscription(&id).await;
    assert_eq!(sub["status"], "cancelled");
    assert_eq!(sub["installments"]["paid"], 0);
}
