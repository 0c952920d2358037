//! Limits and backpressure over real HTTP: bodies of absurd shape are refused, a saturated
//! server answers 503 at once instead of queueing, and a request has a deadline.

#[path = "support/http.rs"]
mod app;

use app::*;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_body_is_a_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut body = link_body(5_000);
    let mut deep = json!("bottom");
    for _ in 0..20 {
        deep = json!({ "inner": deep });
    }
    body["metadata"] = deep;
    let message = app
        .post("/payment-links", body)
        .await
        .expect_error(400, "invalid_request");
    assert!(message.contains("metadata.inner"), "{message}");
    assert!(message.contains("nests deeper"), "{message}");

    // Past serde_json's own recursion limit too: still a clean 400, never a crash.
    let abyss = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    app.post_raw("/payment-links", &abyss)
        .await
        .expect_error(400, "invalid_request");
    assert_eq!(app.link_total().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_string_is_a_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let mut body = link_body(5_000);
    body["customer"] = json!({ "name": "x".repeat(6_000) });
    let message = app
        .post("/payment-links", body)
        .await
        .expect_error(400, "invalid_request");
    assert!(message.contains("customer.name"), "{message}");
    assert_eq!(app.link_total().await, 0);
}

/// A request whose body never finishes arriving: it holds its place in the server.
async fn stalled_request(app: &TestApp) -> TcpStream {
    let addr = app.base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/payment-links HTTP/1.1\r\nhost: {addr}\r\nx-client-id: {}\r\nx-client-secret: {}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{",
        app.key.client_id, app.key.client_secret
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_server_answers_503_at_once_instead_of_queueing() {
    let app = TestApp::spawn_with(&[("PREMIA_SERVER_MAX_IN_FLIGHT", "2")]).await;
    let mut stalled = vec![stalled_request(&app).await, stalled_request(&app).await];
    let probe = || async {
        let started = Instant::now();
        let res = reqwest::Client::new()
            .get(format!("{}/api/v1/payment-links", app.base_url))
            .header("x-client-id", &app.key.client_id)
            .header("x-client-secret", &app.key.client_secret)
            .send()
            .await
            .unwrap();
        (res, started.elapsed())
    };
    // The stalled requests take their places as soon as the server has read their heads.
    let mut refused = None;
    for _ in 0..100 {
        let (res, took) = probe().await;
        if res.status() == 503 {
            refused = Some((res, took));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (res, took) = refused.expect("two stalled requests saturate a server of two");
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
    assert!(
        took < Duration::from_secs(2),
        "refused at once, not queued behind the stalled requests"
    );

    // The stalled clients go away: the server has room again.
    stalled.clear();
    let mut answered = false;
    for _ in 0..50 {
        if app.get("/payment-links").await.status == 200 {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "capacity comes back once requests finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_gets_503() {
    let app = TestApp::spawn_with(&[("PREMIA_SERVER_REQUEST_TIMEOUT_SECS", "1")]).await;
    let mut stream = stalled_request(&app).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || String::from_utf8_lossy(&answer).contains("\"ok\":false") {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server answered before the client's patience ran out"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("no answer within 1 s"), "{text}");
    assert_eq!(app.link_total().await, 0);
}
