//! Idempotency keys over real HTTP: a retried POST or DELETE answers what the first one
//! answered, byte for byte, and never executes twice, not even across a kill -9.

#[path = "support/http.rs"]
mod app;
#[path = "support/process.rs"]
mod process;

use app::*;
use premia::auth::Scope;
use premia::domain::Environment;
use process::{send, Premia};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_replays_the_first_answer_byte_for_byte() {
    let app = TestApp::spawn().await;
    let body = link_body(250_000).to_string();
    let first = send(
        &app.base_url,
        &app.key,
        "POST",
        "/payment-links",
        &body,
        Some("k-1"),
    )
    .await;
    assert_eq!(first.status, 201);
    assert!(!first.replayed);
    let again = send(
        &app.base_url,
        &app.key,
        "POST",
        "/payment-links",
        &body,
        Some("k-1"),
    )
    .await;
    assert_eq!(again.status, 201);
    assert!(again.replayed, "a replay says so");
    assert_eq!(again.bytes, first.bytes, "byte for byte");
    assert_eq!(app.link_total().await, 1, "executed once");

    // Without a key, the same request is a new link.
    let fresh = send(
        &app.base_url,
        &app.key,
        "POST",
        "/payment-links",
        &body,
        None,
    )
    .await;
    assert_eq!(fresh.status, 201);
    assert_ne!(fresh.json()["data"]["_id"], first.json()["data"]["_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reused_for_a_different_request_is_422_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let body = link_body(250_000).to_string();
    let first = send(
        &app.base_url,
        &app.key,
        "POST",
        "/payment-links",
        &body,
        Some("k"),
    )
    .await;
    assert_eq!(first.status, 201);

    let other_body = link_body(100).to_string();
    let reused = send(
        &app.base_url,
        &app.key,
        "POST",
        "/payment-links",
        &other_body,
        Some("k"),
    )
    .await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.json()["code"], "idempotency_key_reused");
    let reused_path = send(
        &app.base_url,
        &app.key,
        "POST",
        "/subscriptions",
        &body,
        Some("k"),
    )
    .await;
    assert_eq!(reused_path.status, 422);
    assert_eq!(app.link_total().await, 1);
    assert_eq!(app.subscription_total().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_belong_to_the_api_client_that_sent_them() {
    let app = TestApp::spawn().await;
    let other = app.create_key(new_key(Environment::Test, Scope::Payments));
    let body = link_body(250_000).to_string();
    let mine = send(
        &app.base_url,
        &app.key,
        "POST",
        "/payment-links",
        &body,
        Some("shared"),
    )
    .await;
    let theirs = send(
        &app.base_url,
        &other,
        "POST",
        "/payment-links",
        &body,
        Some("shared"),
    )
    .await;
    assert_eq!((mine.status, theirs.status), (201, 201));
    assert!(!theirs.replayed);
    assert_ne!(mine.json()["data"]["_id"], theirs.json()["data"]["_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_execute_once() {
    let app = TestApp::spawn().await;
    let link = app.paid_link(250_000).await;
    let path = format!("/payment-links/{link}/refund");
    let body = json!({ "amount_cents": 1_000 }).to_string();
    let answers = futures::future::join_all((0..24).map(|_| {
        send(
            &app.base_url,
            &app.key,
            "POST",
            &path,
            &body,
            Some("refund-once"),
        )
    }))
    .await;
    let mut executed = 0;
    for a in &answers {
        match a.status {
            200 if !a.replayed => executed += 1,
            200 => assert_eq!(a.json()["data"]["refunded_cents"], 1_000),
            409 => assert_eq!(a.json()["code"], "idempotency_in_progress"),
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&a.bytes)),
        }
    }
    assert_eq!(executed, 1, "exactly one execution");
    assert_eq!(app.link(&link).await["refunded_cents"], 1_000);
    // Once the first has finished, the same key replays its answer.
    let after = send(
        &app.base_url,
        &app.key,
        "POST",
        &path,
        &body,
        Some("refund-once"),
    )
    .await;
    assert_eq!(after.status, 200);
    assert!(after.replayed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_transition_is_an_answer_and_is_replayed() {
    let app = TestApp::spawn().await;
    let link = app.create_link(link_body(5_000)).await;
    let path = format!("/payment-links/{link}/refund");
    let refund = send(&app.base_url, &app.key, "POST", &path, "{}", Some("r")).await;
    assert_eq!(refund.status, 409, "nothing was paid yet");
    app.pay(&link).await;
    let retry = send(&app.base_url, &app.key, "POST", &path, "{}", Some("r")).await;
    assert_eq!(retry.status, 409, "the key's answer stands");
    assert!(retry.replayed);
    assert_eq!(retry.bytes, refund.bytes);
    assert_eq!(app.link(&link).await["refunded_cents"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_before_it_ran_can_be_fixed_and_retried_with_the_same_key() {
    let app = TestApp::spawn().await;
    let bad = json!({ "amount_cents": -5 }).to_string();
    let refused = send(
        &app.base_url,
        &app.key,
        "POST",
        "/payment-links",
        &bad,
        Some("fix"),
    )
    .await;
    assert_eq!(refused.status, 400);
    let fixed = link_body(5_000).to_string();
    let created = send(
        &app.base_url,
        &app.key,
        "POST",
        "/payment-links",
        &fixed,
        Some("fix"),
    )
    .await;
    assert_eq!(created.status, 201, "a 400 is not stored");
    assert_eq!(app.link_total().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_sandbox_helpers_are_idempotent_too() {
    let app = TestApp::spawn().await;
    let sub = app.create_subscription(subscription_body(10_000)).await;
    let path = format!("/subscriptions/{sub}");
    let cancel = send(&app.base_url, &app.key, "DELETE", &path, "", Some("c")).await;
    assert_eq!(cancel.status, 200);
    let again = send(&app.base_url, &app.key, "DELETE", &path, "", Some("c")).await;
    assert_eq!((again.status, again.replayed), (200, true));
    assert_eq!(again.bytes, cancel.bytes);
    // Without the key a second cancel is refused: it really is cancelled once.
    let plain = send(&app.base_url, &app.key, "DELETE", &path, "", None).await;
    assert_eq!(plain.status, 409);

    // The clock is advanced once, however often the request is retried.
    let before = app.sandbox_now_ms().await;
    let advance = json!({ "seconds": 3_600 }).to_string();
    for _ in 0..3 {
        let a = send(
            &app.base_url,
            &app.key,
            "POST",
            "/test_helpers/clock/advance",
            &advance,
            Some("tick"),
        )
        .await;
        assert_eq!(a.status, 200);
    }
    let moved = app.sandbox_now_ms().await - before;
    assert!((3_600_000..7_200_000).contains(&moved), "moved {moved} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_is_idempotent_too() {
    let app = TestApp::spawn().await;
    let endpoint = json!({ "url": "http://localhost/hook", "events": ["*"] }).to_string();
    let created = send(
        &app.base_url,
        &app.key,
        "POST",
        "/webhook-endpoints",
        &endpoint,
        None,
    )
    .await;
    let path = format!(
        "/webhook-endpoints/{}",
        created.json()["data"]["_id"].as_str().unwrap()
    );
    let change = json!({ "description": "billing" }).to_string();
    let first = send(&app.base_url, &app.key, "PATCH", &path, &change, Some("p")).await;
    assert_eq!(first.status, 200);
    let again = send(&app.base_url, &app.key, "PATCH", &path, &change, Some("p")).await;
    assert_eq!((again.status, again.replayed), (200, true));
    assert_eq!(again.bytes, first.bytes);
    let other = json!({ "description": "claims" }).to_string();
    let reused = send(&app.base_url, &app.key, "PATCH", &path, &other, Some("p")).await;
    assert_eq!(reused.status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_key_is_a_400_naming_the_header() {
    let app = TestApp::spawn().await;
    let body = link_body(5_000).to_string();
    let long = "x".repeat(256);
    let res = send(
        &app.base_url,
        &app.key,
        "POST",
        "/payment-links",
        &body,
        Some(&long),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.json()["message"]
        .as_str()
        .unwrap()
        .contains("Idempotency-Key"));
    assert_eq!(app.link_total().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_offers_the_key_on_every_write() {
    let app = TestApp::spawn().await;
    let doc: Value = serde_json::from_str(&app.browse("/openapi.json").await.body).unwrap();
    for (path, method) in [
        ("/api/v1/payment-links", "post"),
        ("/api/v1/payment-links/{id}", "delete"),
        ("/api/v1/subscriptions", "post"),
    ] {
        let op = &doc["paths"][path][method];
        let params = op["parameters"].as_array().unwrap();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
            "{method} {path}"
        );
        for status in ["409", "422", "503"] {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path} {status}"
            );
        }
    }
    let read = &doc["paths"]["/api/v1/payment-links"]["get"];
    assert!(read["responses"]["422"].is_null(), "reads take no key");
}

mod kill_9 {
    //! The real binary, SIGKILLed while idempotent requests are in flight: a retry of every
    //! request after the restart executes nothing twice.

    use super::process::{create_key, try_send};
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_retry_after_a_crash_never_executes_twice() {
        let dir = tempfile::tempdir().unwrap();
        let key = create_key(dir.path());
        let server = Premia::serve(dir.path());
        let base = server.base_url.clone();
        let body = |i: usize| link_body(1_000 + i as u64).to_string();
        // Acknowledged answers, by idempotency key.
        let acked: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Default::default();
        let clients: Vec<_> = (0..16)
            .map(|c| {
                let (base, key, acked) = (base.clone(), key.clone(), acked.clone());
                tokio::spawn(async move {
                    for i in 0.. {
                        let k = format!("c{c}-{i}");
                        let body = body(i);
                        let sent = try_send(&base, &key, "POST", "/payment-links", &body, Some(&k));
                        match tokio::time::timeout(Duration::from_secs(5), sent).await {
                            Ok(Ok(res)) if res.status == 201 => {
                                acked.lock().unwrap().insert(k, res.bytes);
                            }
                            // The server is gone: this request may or may not have run.
                            _ => break,
                        }
                    }
                })
            })
            .collect();
        // Let some requests be answered, then kill the server mid-stream.
        while acked.lock().unwrap().len() < 200 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill9();
        for c in clients {
            c.await.unwrap();
        }
        let acked = acked.lock().unwrap().clone();

        let server = Premia::serve(dir.path());
        let base = server.base_url.clone();
        // Retry every request each client may have sent (acknowledged or not), with its key.
        let mut ids = BTreeSet::new();
        let mut attempted = 0;
        for c in 0..16 {
            let sent = acked
                .keys()
                .filter(|k| k.starts_with(&format!("c{c}-")))
                .count();
            // Each client had at most one unacknowledged request in flight at the kill.
            for i in 0..=sent {
                let k = format!("c{c}-{i}");
                let res = send(&base, &key, "POST", "/payment-links", &body(i), Some(&k)).await;
                assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.bytes));
                if let Some(first) = acked.get(&k) {
                    assert!(res.replayed, "{k} was acknowledged: it must replay");
                    assert_eq!(&res.bytes, first, "{k}: replayed byte for byte");
                }
                ids.insert(res.json()["data"]["_id"].as_str().unwrap().to_string());
                attempted += 1;
            }
        }
        assert_eq!(ids.len(), attempted, "one link per key");
        let list = send(&base, &key, "GET", "/payment-links?limit=1", "", None).await;
        assert_eq!(
            list.json()["pagination"]["total"],
            attempted,
            "no request executed twice, none lost"
        );
        server.stop();
        let (clean, report) = process::check(dir.path());
        assert!(clean, "{report}");
    }
}
