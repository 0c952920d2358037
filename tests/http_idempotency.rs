//! Idempotency keys over real HTTP: a retried POST or DELETE answers what the first one
//! answered, byte for byte, and never executes twice, not even across a kill -9.

#[path = "support/http.rs"]
mod app;

use app::*;
use premia::auth::Scope;
use premia::domain::Environment;
use serde_json::{json, Value};

/// A response as bytes, with the headers that matter here.
struct Raw {
    status: u16,
    bytes: Vec<u8>,
    replayed: bool,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

async fn send(
    base_url: &str,
    key: &Key,
    method: &str,
    path: &str,
    body: &str,
    idempotency_key: Option<&str>,
) -> Raw {
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{base_url}/api/v1{path}"))
        .header("x-client-id", &key.client_id)
        .header("x-client-secret", &key.client_secret)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = idempotency_key {
        req = req.header("idempotency-key", k);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let bytes = res.bytes().await.unwrap().to_vec();
    Raw {
        status,
        bytes,
        replayed,
    }
}

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

    use super::{send, Key};
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn serve(dir: &std::path::Path) -> (Child, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_premia"))
            .env("PREMIA_DATA_DIR", dir)
            .env("PREMIA_LISTEN", "127.0.0.1:0")
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server says where it listens")
                .unwrap();
            if let Some(addr) = line.strip_prefix("premia listening on ") {
                break addr.to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        (child, addr)
    }

    fn create_key(dir: &std::path::Path) -> Key {
        let out = Command::new(env!("CARGO_BIN_EXE_premia"))
            .env("PREMIA_DATA_DIR", dir)
            .args(["keys", "create", "--env", "test", "--scope", "payments"])
            .args(["--rate-limit", "1000000"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        Key {
            client_id: v["client_id"].as_str().unwrap().into(),
            client_secret: v["client_secret"].as_str().unwrap().into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_retry_after_a_crash_never_executes_twice() {
        let dir = tempfile::tempdir().unwrap();
        let key = create_key(dir.path());
        let (mut child, base) = serve(dir.path());
        let body = |i: usize| super::link_body(1_000 + i as u64).to_string();
        // Acknowledged answers, by idempotency key.
        let acked: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Default::default();
        let clients = (0..16).map(|c| {
            let (base, key, acked) = (base.clone(), key.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let k = format!("c{c}-{i}");
                    let url = base.clone();
                    let Ok(res) = tokio::time::timeout(
                        Duration::from_secs(5),
                        send(&url, &key, "POST", "/payment-links", &body(i), Some(&k)),
                    )
                    .await
                    else {
                        break;
                    };
                    if res.status != 201 {
                        break;
                    }
                    acked.lock().unwrap().insert(k, res.bytes);
                }
            })
        });
        let clients: Vec<_> = clients.collect();
        // Let some requests be answered, then kill the server mid-stream.
        while acked.lock().unwrap().len() < 200 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for c in clients {
            // A client's request in flight at the kill fails; the task then stops.
            let _ = c.await;
        }
        let acked = acked.lock().unwrap().clone();

        let (mut child, base) = serve(dir.path());
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
                let v: serde_json::Value = serde_json::from_slice(&res.bytes).unwrap();
                ids.insert(v["data"]["_id"].as_str().unwrap().to_string());
                attempted += 1;
            }
        }
        assert_eq!(ids.len(), attempted, "one link per key");
        let list = reqwest::Client::new()
            .get(format!("{base}/api/v1/payment-links?limit=1"))
            .header("x-client-id", &key.client_id)
            .header("x-client-secret", &key.client_secret)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        assert_eq!(
            list["pagination"]["total"], attempted,
            "no request executed twice, none lost"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
