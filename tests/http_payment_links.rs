//! `/api/v1/payment-links` over HTTP: create (both request shapes of the spec), get, cancel,
//! refund, and the response fields of the README's contract.

#[path = "support/http.rs"]
mod app;

use app::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_link_answers_201_with_an_active_link_of_the_requested_terms() {
    let app = TestApp::spawn().await;
    let mut body = plan_link_body(250_000, 10, 75_000);
    body["customer"]["phone"] = json!("+1 555 0100");
    body["metadata"] = json!({ "quote": "Q-123" });

    let link = app.post("/payment-links", body).await.expect_status(201);

    assert_eq!(link["_id"].as_str().unwrap().len(), 24);
    assert_eq!(link["status"], "active");
    assert_eq!(link["amount_cents"], 250_000);
    assert_eq!(link["total_cents"], 250_000);
    assert_eq!(link["link_amount_cents"], 250_000);
    assert_eq!(link["paid_cents"], 0);
    assert_eq!(link["refunded_cents"], 0);
    assert_eq!(link["payment_type"], "down_payment");
    assert_eq!(link["billing_entity_type"], "employer");
    assert_eq!(link["employer_id"], EMPLOYER);
    assert_eq!(link["carrier_id"], CARRIER);
    assert_eq!(link["policy_id"], POLICY);
    assert_eq!(link["customer"]["name"], "Smith Industries");
    assert_eq!(link["customer"]["email"], "billing@smith.example");
    assert_eq!(link["customer"]["phone"], "+1 555 0100");
    assert_eq!(
        link["installment_plan"],
        json!({ "count": 10, "interval": "monthly", "per_installment_cents": 75_000 }),
        "the interval defaults to monthly"
    );
    assert_eq!(link["metadata"], json!({ "quote": "Q-123" }));
    assert_eq!(
        link["subscription_id"],
        json!(null),
        "no subscription before payment"
    );
    assert!(link["stripe_payment_link_id"]
        .as_str()
        .unwrap()
        .starts_with("plink_"));
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with("http"), "url is absolute: {url}");
    assert!(url.contains(&link["_id"].as_str().unwrap().to_string()));
    assert!(link["stripe_url"].as_str().unwrap().starts_with("http"));
    // Links expire after 30 days by default.
    let lifetime = millis(&link["expires_at"]) - millis(&link["created_at"]);
    assert!(
        (lifetime - 30 * DAY as i128 * 1000).abs() < 60_000,
        "expires 30 days after creation: {link}"
    );
    assert!(millis(&link["updated_at"]) >= millis(&link["created_at"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_time_link_charges_premium_plus_fee_for_its_payment_context() {
    let app = TestApp::spawn().await;
    let link = app
        .post(
            "/payment-links",
            json!({
                "employer_id": EMPLOYER,
                "carrier_id": CARRIER,
                "policy_id": POLICY,
                "premium_cents": 145_000,
                "fee_cents": 5_000,
                "payment_type": "ONE_TIME",
                "payment_context": "down_payment",
                "customer": { "name": "ACME Corp", "email": "billing@acme.example" }
            }),
        )
        .await
        .expect_status(201);

    assert_eq!(link["total_cents"], 150_000);
    assert_eq!(link["link_amount_cents"], 150_000);
    assert_eq!(link["premium_cents"], 145_000);
    assert_eq!(link["fee_cents"], 5_000);
    assert_eq!(link["payment_type"], "ONE_TIME");
    assert_eq!(link["payment_context"], "down_payment");
    assert_eq!(link["billing_entity_type"], "employer");
    assert_eq!(link["installment_plan"], json!(null));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_payment_type_of_the_spec_is_accepted() {
    let app = TestApp::spawn().await;
    for kind in [
        "down_payment",
        "late_payment",
        "extra_payment",
        "installment",
    ] {
        let mut body = link_body(10_000);
        body["payment_type"] = json!(kind);
        let link = app.post("/payment-links", body).await.expect_status(201);
        assert_eq!(link["payment_type"], kind);
    }
    assert_eq!(app.link_total().await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_smallest_and_largest_amounts_are_accepted() {
    let app = TestApp::spawn().await;
    for amount in [1u64, 1_000_000_000_000] {
        let link = app
            .post("/payment-links", link_body(amount))
            .await
            .expect_status(201);
        assert_eq!(link["amount_cents"], amount);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn getting_a_link_returns_what_creating_it_returned() {
    let app = TestApp::spawn().await;
    let created = app
        .post("/payment-links", link_body(250_000))
        .await
        .expect_status(201);
    let fetched = app.link(&id_of(&created)).await;
    assert_eq!(fetched, created);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_link_id_is_not_found() {
    let app = TestApp::spawn().await;
    let path = format!("/payment-links/{UNKNOWN_ID}");
    app.get(&path).await.expect_error(404, "not_found");
    app.delete(&path).await.expect_error(404, "not_found");
    app.refund(UNKNOWN_ID, Some(100))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_route_is_not_found_in_the_error_envelope() {
    let app = TestApp::spawn().await;
    app.get("/payment-linkz")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_link_answers_the_cancelled_link_and_it_stays_cancelled() {
    let app = TestApp::spawn().await;
    let id = app.create_link(link_body(250_000)).await;

    let cancelled = app
        .delete(&format!("/payment-links/{id}"))
        .await
        .expect_status(200);

    assert_eq!(cancelled["_id"], id.as_str());
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(app.link(&id).await["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_paid_link_is_a_conflict() {
    let app = TestApp::spawn().await;
    let id = app.paid_link(250_000).await;
    app.delete(&format!("/payment-links/{id}"))
        .await
        .expect_error(409, "invalid_transition");
    assert_eq!(app.link(&id).await["status"], "completed");
}

#[tokio::test(flavor = "multi_thread")]
async fn paying_a_link_through_the_sandbox_completes_it() {
    let app = TestApp::spawn().await;
    let id = app.create_link(link_body(250_000)).await;

    let paid = app
        .post(
            &format!("/test_helpers/payment-links/{id}/pay"),
            json!({ "outcome": "succeeded", "method": "ach" }),
        )
        .await
        .expect_status(200);

    assert_eq!(paid["status"], "completed");
    assert_eq!(paid["paid_cents"], 250_000);
    assert_eq!(app.link(&id).await["paid_cents"], 250_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sandbox_payment_leaves_the_link_active_and_unpaid() {
    let app = TestApp::spawn().await;
    let id = app.create_link(link_body(250_000)).await;

    app.post(
        &format!("/test_helpers/payment-links/{id}/pay"),
        json!({ "outcome": "failed" }),
    )
    .await;

    let link = app.link(&id).await;
    assert_eq!(link["status"], "active");
    assert_eq!(link["paid_cents"], 0);
    // It can still be paid afterwards.
    app.pay(&id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_refund_leaves_the_link_partially_refunded() {
    let app = TestApp::spawn().await;
    let id = app.paid_link(250_000).await;

    let refunded = app.refund(&id, Some(50_000)).await.expect_status(200);

    assert_eq!(refunded["status"], "partially_refunded");
    assert_eq!(refunded["refunded_cents"], 50_000);
    assert_eq!(refunded["paid_cents"], 250_000);
    assert_eq!(app.link(&id).await["refunded_cents"], 50_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_without_an_amount_refunds_all_that_remains() {
    let app = TestApp::spawn().await;
    let id = app.paid_link(250_000).await;
    app.refund(&id, Some(50_000)).await.expect_status(200);

    let refunded = app.refund(&id, None).await.expect_status(200);

    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["refunded_cents"], 250_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_refunds_that_add_up_to_the_payment_refund_it() {
    let app = TestApp::spawn().await;
    let id = app.paid_link(100_000).await;
    for _ in 0..3 {
        app.refund(&id, Some(25_000)).await.expect_status(200);
    }
    assert_eq!(app.link(&id).await["status"], "partially_refunded");
    let last = app.refund(&id, Some(25_000)).await.expect_status(200);
    assert_eq!(last["status"], "refunded");
    assert_eq!(last["refunded_cents"], 100_000);
    // Nothing remains to refund.
    app.refund(&id, Some(1))
        .await
        .expect_error(409, "invalid_transition");
}

#[tokio::test(flavor = "multi_thread")]
async fn links_of_the_list_are_the_created_ones_newest_first() {
    let app = TestApp::spawn().await;
    let first = app.create_link(link_body(1_000)).await;
    let second = app.create_link(link_body(2_000)).await;

    let page = app.get("/payment-links").await.page();

    assert_eq!(page.ids, [second, first]);
    assert_eq!(page.total, 2);
    assert_eq!(page.page, 1);
    assert_eq!(page.limit, 50, "the default limit");
    assert_eq!(page.total_pages, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_server_lists_no_links() {
    let app = TestApp::spawn().await;
    let page = app.get("/payment-links").await.page();
    assert!(page.data.is_empty());
    assert_eq!(page.total, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_longest_quarterly_installment_plan_is_accepted() {
    let app = TestApp::spawn().await;
    let mut body = link_body(100_000);
    body["installment_plan"] =
        json!({ "count": 120, "interval": "quarterly", "per_installment_cents": 1 });
    let link = app.post("/payment-links", body).await.expect_status(201);
    assert_eq!(
        link["installment_plan"],
        json!({ "count": 120, "interval": "quarterly", "per_installment_cents": 1 })
    );
}
