//! Who may call what: credentials (401), environments (404 across test and live), test
//! helpers (sandbox only) and tenant scope (403, lists filtered to the scope).

#[path = "support/http.rs"]
mod app;

use app::*;
use premia::auth::Scope;
use premia::domain::Environment;
use serde_json::json;

/// Every API route, with a body where it takes one.
fn every_route(link: &str, sub: &str) -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/payment-links".into()),
        ("GET", "/payment-links".into()),
        ("GET", format!("/payment-links/{link}")),
        ("DELETE", format!("/payment-links/{link}")),
        ("POST", format!("/payment-links/{link}/refund")),
        ("POST", "/subscriptions".into()),
        ("GET", "/subscriptions".into()),
        ("GET", format!("/subscriptions/{sub}")),
        ("DELETE", format!("/subscriptions/{sub}")),
        ("POST", format!("/test_helpers/payment-links/{link}/pay")),
        (
            "POST",
            format!("/test_helpers/subscriptions/{sub}/next_charge"),
        ),
        ("POST", "/test_helpers/clock/advance".into()),
        ("GET", "/test_helpers/clock".into()),
    ]
}

async fn call(caller: &app::Caller<'_>, method: &str, path: &str) -> Res {
    match method {
        "GET" => caller.get(path).await,
        "DELETE" => caller.delete(path).await,
        _ => caller.post(path, json!({})).await,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_refuses_a_request_without_credentials() {
    let app = TestApp::spawn().await;
    let link = app.create_link(link_body(10_000)).await;
    let sub = app.subscription_due_tomorrow(10_000, None).await;
    let anonymous = app.with_headers(&[]);
    for (method, path) in every_route(&link, &sub) {
        let res = call(&anonymous, method, &path).await;
        assert_eq!(res.status, 401, "{method} {path}: {}", res.body);
        assert_eq!(res.body["code"], "unauthorized", "{method} {path}");
        assert_eq!(res.body["ok"], false);
        assert_eq!(res.body["error"], "Unauthorized");
    }
    // Nothing an anonymous caller sent changed anything.
    assert_eq!(app.link(&link).await["status"], "active");
    assert_eq!(app.subscription(&sub).await["status"], "active");
    assert_eq!(app.link_total().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_id_without_its_secret_is_unauthorized() {
    let app = TestApp::spawn().await;
    app.with_headers(&[("X-Client-ID", app.key.client_id.as_str())])
        .get("/payment-links")
        .await
        .expect_error(401, "unauthorized");
    app.with_headers(&[("X-Client-Secret", app.key.client_secret.as_str())])
        .get("/payment-links")
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_is_unauthorized() {
    let app = TestApp::spawn().await;
    let wrong = Key {
        client_id: app.key.client_id.clone(),
        client_secret: format!("premia_test_sec_{}", "x".repeat(32)),
    };
    app.with_key(&wrong)
        .get("/payment-links")
        .await
        .expect_error(401, "unauthorized");
    // The right secret still works afterwards.
    app.get("/payment-links").await.page();
}

#[tokio::test(flavor = "multi_thread")]
async fn another_keys_secret_is_unauthorized() {
    let app = TestApp::spawn().await;
    let other = app.create_key(new_key(Environment::Test, Scope::Payments));
    let mixed = Key {
        client_id: app.key.client_id.clone(),
        client_secret: other.client_secret.clone(),
    };
    app.with_key(&mixed)
        .get("/payment-links")
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_client_id_is_unauthorized() {
    let app = TestApp::spawn().await;
    let unknown = Key {
        client_id: format!("premia_test_cli_{}", "a".repeat(24)),
        client_secret: app.key.client_secret.clone(),
    };
    app.with_key(&unknown)
        .get("/payment-links")
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_client_id_is_unauthorized() {
    let app = TestApp::spawn().await;
    for client_id in ["", "premia", "nonsense", "audit1_test_cli_abc"] {
        let key = Key {
            client_id: client_id.to_string(),
            client_secret: app.key.client_secret.clone(),
        };
        let res = app.with_key(&key).get("/payment-links").await;
        assert_eq!(res.status, 401, "client id {client_id:?}: {}", res.body);
        assert_eq!(res.body["code"], "unauthorized");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_id_whose_environment_prefix_was_changed_is_unauthorized() {
    // A test key presented as live: the id no longer names a record of that environment.
    let app = TestApp::spawn().await;
    let random = app.key.client_id.trim_start_matches("premia_test_cli_");
    let as_live_id = Key {
        client_id: format!("premia_live_cli_{random}"),
        client_secret: app.key.client_secret.clone(),
    };
    app.with_key(&as_live_id)
        .get("/payment-links")
        .await
        .expect_error(401, "unauthorized");
    let secret = app.key.client_secret.trim_start_matches("premia_test_sec_");
    let both_as_live = Key {
        client_id: as_live_id.client_id.clone(),
        client_secret: format!("premia_live_sec_{secret}"),
    };
    app.with_key(&both_as_live)
        .get("/payment-links")
        .await
        .expect_error(401, "unauthorized");
}

/// Rewrite one field of a key's record in `<data_dir>/keys.json`, as another process
/// managing keys would (written to a temp file and renamed, so the change is atomic).
fn edit_key_record(app: &TestApp, key: &Key, field: &str, value: serde_json::Value) {
    let path = app.data_dir().join("keys.json");
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let record = file["clients"][&key.client_id]
        .as_object_mut()
        .expect("the key's record is in keys.json");
    assert!(
        record.contains_key(field),
        "records have {field}: {record:?}"
    );
    record.insert(field.to_string(), value);
    let tmp = path.with_extension("json.edit");
    // Compact, so the file's length changes as well as its modification time.
    std::fs::write(&tmp, file.to_string()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_whose_record_names_another_environment_is_unauthorized() {
    let app = TestApp::spawn().await;
    let key = app.create_key(new_key(Environment::Test, Scope::Payments));
    app.with_key(&key).get("/payment-links").await.page();

    edit_key_record(&app, &key, "env", json!("live"));

    app.with_key(&key)
        .get("/payment-links")
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payroll_key_is_unauthorized_and_payments_or_all_keys_are_accepted() {
    let app = TestApp::spawn().await;
    let payroll = app.create_key(new_key(Environment::Test, Scope::Payroll));
    let all = app.create_key(new_key(Environment::Test, Scope::All));

    app.with_key(&payroll)
        .get("/payment-links")
        .await
        .expect_error(401, "unauthorized");
    app.with_key(&payroll)
        .post("/payment-links", link_body(10_000))
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(app.link_total().await, 0);

    app.with_key(&all)
        .post("/payment-links", link_body(10_000))
        .await
        .expect_status(201);
    app.get("/payment-links").await.page();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_is_unauthorized_at_once() {
    let app = TestApp::spawn().await;
    let key = app.create_key(new_key(Environment::Test, Scope::Payments));
    // Used once, so its secret is in the verified cache.
    app.with_key(&key).get("/payment-links").await.page();

    app.revoke_key(&key);

    app.with_key(&key)
        .get("/payment-links")
        .await
        .expect_error(401, "unauthorized");
    app.with_key(&key)
        .post("/payment-links", link_body(10_000))
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(app.link_total().await, 0);
    // Other keys are unaffected.
    app.get("/payment-links").await.page();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_key_calling_a_test_helper_is_not_found() {
    let app = TestApp::spawn().await;
    let live = app.create_key(new_key(Environment::Live, Scope::Payments));
    assert!(live.client_id.starts_with("premia_live_cli_"));
    let live_link = id_of(
        &app.with_key(&live)
            .post("/payment-links", link_body(10_000))
            .await
            .expect_status(201),
    );
    let live_sub = id_of(
        &app.with_key(&live)
            .post("/subscriptions", subscription_body(10_000))
            .await
            .expect_status(201),
    );
    let as_live = app.with_key(&live);

    as_live
        .post(
            &format!("/test_helpers/payment-links/{live_link}/pay"),
            json!({ "outcome": "succeeded" }),
        )
        .await
        .expect_error(404, "not_found");
    as_live
        .post(
            &format!("/test_helpers/subscriptions/{live_sub}/next_charge"),
            json!({ "outcome": "failed", "times": 1 }),
        )
        .await
        .expect_error(404, "not_found");
    as_live
        .post("/test_helpers/clock/advance", json!({ "seconds": 86_400 }))
        .await
        .expect_error(404, "not_found");
    as_live
        .get("/test_helpers/clock")
        .await
        .expect_error(404, "not_found");

    let link = as_live
        .get(&format!("/payment-links/{live_link}"))
        .await
        .expect_status(200);
    assert_eq!(link["status"], "active", "the live link was not paid");
    assert_eq!(link["paid_cents"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_link_is_not_found_with_a_live_key_and_a_live_link_with_a_test_key() {
    let app = TestApp::spawn().await;
    let live = app.create_key(new_key(Environment::Live, Scope::Payments));
    let test_link = app.create_link(link_body(10_000)).await;
    let live_link = id_of(
        &app.with_key(&live)
            .post("/payment-links", link_body(20_000))
            .await
            .expect_status(201),
    );
    let as_live = app.with_key(&live);

    as_live
        .get(&format!("/payment-links/{test_link}"))
        .await
        .expect_error(404, "not_found");
    as_live
        .delete(&format!("/payment-links/{test_link}"))
        .await
        .expect_error(404, "not_found");
    as_live
        .post(
            &format!("/payment-links/{test_link}/refund"),
            json!({ "amount_cents": 1 }),
        )
        .await
        .expect_error(404, "not_found");
    app.get(&format!("/payment-links/{live_link}"))
        .await
        .expect_error(404, "not_found");
    app.delete(&format!("/payment-links/{live_link}"))
        .await
        .expect_error(404, "not_found");

    // Neither environment's list shows the other's links.
    assert_eq!(
        as_live.get("/payment-links").await.page().ids,
        [live_link.as_str()]
    );
    assert_eq!(
        app.get("/payment-links").await.page().ids,
        [test_link.as_str()]
    );
    // And nothing was cancelled across environments.
    assert_eq!(app.link(&test_link).await["status"], "active");
    let live_view = as_live
        .get(&format!("/payment-links/{live_link}"))
        .await
        .expect_status(200);
    assert_eq!(live_view["status"], "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_subscription_is_not_found_with_a_live_key() {
    let app = TestApp::spawn().await;
    let live = app.create_key(new_key(Environment::Live, Scope::Payments));
    let sub = app.subscription_due_tomorrow(10_000, None).await;
    let as_live = app.with_key(&live);

    as_live
        .get(&format!("/subscriptions/{sub}"))
        .await
        .expect_error(404, "not_found");
    as_live
        .delete(&format!("/subscriptions/{sub}"))
        .await
        .expect_error(404, "not_found");
    assert_eq!(as_live.get("/subscriptions").await.page().total, 0);
    assert_eq!(app.subscription(&sub).await["status"], "active");
}

// Tenant scope.

/// A link of the given carrier and employer, created with the unrestricted key.
async fn link_of(app: &TestApp, carrier: &str, employer: &str) -> String {
    let mut body = link_body(10_000);
    body["carrier_id"] = json!(carrier);
    body["employer_id"] = json!(employer);
    app.create_link(body).await
}

async fn subscription_of(app: &TestApp, carrier: &str, employer: &str) -> String {
    let mut body = subscription_body(10_000);
    body["carrier_id"] = json!(carrier);
    body["employer_id"] = json!(employer);
    body["start_date"] = json!(app.days_from_now(1).await);
    app.create_subscription(body).await
}

fn carrier_scoped(app: &TestApp) -> Key {
    let mut new = new_key(Environment::Test, Scope::Payments);
    new.carriers = vec![object_id(CARRIER)];
    app.create_key(new)
}

fn employer_scoped(app: &TestApp) -> Key {
    let mut new = new_key(Environment::Test, Scope::Payments);
    new.employers = vec![object_id(EMPLOYER)];
    app.create_key(new)
}

/// Get, cancel and refund of `link` with `key` are all 403 and change nothing.
async fn assert_link_forbidden(app: &TestApp, key: &Key, link: &str) {
    let paid_before = app.link(link).await;
    let scoped = app.with_key(key);
    scoped
        .get(&format!("/payment-links/{link}"))
        .await
        .expect_error(403, "forbidden");
    scoped
        .delete(&format!("/payment-links/{link}"))
        .await
        .expect_error(403, "forbidden");
    scoped
        .post(
            &format!("/payment-links/{link}/refund"),
            json!({ "amount_cents": 1_000 }),
        )
        .await
        .expect_error(403, "forbidden");
    assert_eq!(app.link(link).await, paid_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_carrier_scoped_key_cannot_touch_another_carriers_links() {
    let app = TestApp::spawn().await;
    let key = carrier_scoped(&app);
    let theirs = link_of(&app, OTHER_CARRIER, EMPLOYER).await;
    app.pay(&theirs).await;
    let ours = link_of(&app, CARRIER, EMPLOYER).await;

    assert_link_forbidden(&app, &key, &theirs).await;

    // Its own carrier's link is an ordinary link to it.
    let scoped = app.with_key(&key);
    scoped
        .get(&format!("/payment-links/{ours}"))
        .await
        .expect_status(200);
    let cancelled = scoped
        .delete(&format!("/payment-links/{ours}"))
        .await
        .expect_status(200);
    assert_eq!(cancelled["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_employer_scoped_key_cannot_touch_another_employers_links() {
    let app = TestApp::spawn().await;
    let key = employer_scoped(&app);
    let theirs = link_of(&app, CARRIER, OTHER_EMPLOYER).await;
    app.pay(&theirs).await;
    let ours = link_of(&app, CARRIER, EMPLOYER).await;

    assert_link_forbidden(&app, &key, &theirs).await;

    app.with_key(&key)
        .get(&format!("/payment-links/{ours}"))
        .await
        .expect_status(200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_key_cannot_create_outside_its_scope() {
    let app = TestApp::spawn().await;
    let by_carrier = carrier_scoped(&app);
    let by_employer = employer_scoped(&app);
    let cases = [
        (&by_carrier, OTHER_CARRIER, EMPLOYER),
        (&by_employer, CARRIER, OTHER_EMPLOYER),
    ];
    for (key, carrier, employer) in cases {
        let mut link = link_body(10_000);
        link["carrier_id"] = json!(carrier);
        link["employer_id"] = json!(employer);
        app.with_key(key)
            .post("/payment-links", link)
            .await
            .expect_error(403, "forbidden");
        let mut sub = subscription_body(10_000);
        sub["carrier_id"] = json!(carrier);
        sub["employer_id"] = json!(employer);
        app.with_key(key)
            .post("/subscriptions", sub)
            .await
            .expect_error(403, "forbidden");
    }
    assert_eq!(app.link_total().await, 0);
    assert_eq!(app.subscription_total().await, 0);

    // Inside the scope it creates as usual.
    app.with_key(&by_carrier)
        .post("/payment-links", link_body(10_000))
        .await
        .expect_status(201);
    app.with_key(&by_employer)
        .post("/subscriptions", subscription_body(10_000))
        .await
        .expect_status(201);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_key_cannot_get_or_cancel_another_tenants_subscription() {
    let app = TestApp::spawn().await;
    for (key, carrier, employer) in [
        (carrier_scoped(&app), OTHER_CARRIER, EMPLOYER),
        (employer_scoped(&app), CARRIER, OTHER_EMPLOYER),
    ] {
        let theirs = subscription_of(&app, carrier, employer).await;
        let scoped = app.with_key(&key);
        scoped
            .get(&format!("/subscriptions/{theirs}"))
            .await
            .expect_error(403, "forbidden");
        scoped
            .delete(&format!("/subscriptions/{theirs}"))
            .await
            .expect_error(403, "forbidden");
        assert_eq!(app.subscription(&theirs).await["status"], "active");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_key_lists_only_its_tenants_links_and_subscriptions() {
    let app = TestApp::spawn().await;
    let ours = link_of(&app, CARRIER, EMPLOYER).await;
    let other_carrier = link_of(&app, OTHER_CARRIER, EMPLOYER).await;
    let other_employer = link_of(&app, CARRIER, OTHER_EMPLOYER).await;
    let our_sub = subscription_of(&app, CARRIER, EMPLOYER).await;
    let their_sub = subscription_of(&app, OTHER_CARRIER, OTHER_EMPLOYER).await;
    let by_carrier = carrier_scoped(&app);
    let by_employer = employer_scoped(&app);

    let page = app.with_key(&by_carrier).get("/payment-links").await.page();
    assert_eq!(page.ids, [other_employer.clone(), ours.clone()]);
    assert_eq!(page.total, 2, "the total counts only what the key may see");

    let page = app
        .with_key(&by_employer)
        .get("/payment-links")
        .await
        .page();
    assert_eq!(page.ids, [other_carrier.clone(), ours.clone()]);
    assert_eq!(page.total, 2);

    let page = app.with_key(&by_carrier).get("/subscriptions").await.page();
    assert_eq!(page.ids, [our_sub.as_str()]);
    assert_eq!(page.total, 1);

    // The unrestricted key sees everything.
    assert_eq!(app.link_total().await, 3);
    let all = app.get("/subscriptions").await.page();
    assert_eq!(all.ids, [their_sub, our_sub]);
}

#[tokio::test(flavor = "multi_thread")]
async fn filtering_a_list_by_a_carrier_or_employer_outside_the_scope_is_forbidden() {
    let app = TestApp::spawn().await;
    link_of(&app, OTHER_CARRIER, OTHER_EMPLOYER).await;
    let by_carrier = app.with_key(&carrier_scoped(&app));
    by_carrier
        .get(&format!("/payment-links?carrier_id={OTHER_CARRIER}"))
        .await
        .expect_error(403, "forbidden");
    by_carrier
        .get(&format!("/subscriptions?carrier_id={OTHER_CARRIER}"))
        .await
        .expect_error(403, "forbidden");
    let by_employer = app.with_key(&employer_scoped(&app));
    by_employer
        .get(&format!("/payment-links?employer_id={OTHER_EMPLOYER}"))
        .await
        .expect_error(403, "forbidden");

    // Filtering by its own carrier is fine.
    let page = by_carrier
        .get(&format!("/payment-links?carrier_id={CARRIER}"))
        .await
        .page();
    assert_eq!(page.total, 0);
}
