//! Request hardening over real HTTP: HMAC signatures, rate limits, and key rotation, update
//! and revocation done by another process (as `premia keys …` does) while the server runs.

#[path = "support/http.rs"]
mod app;

use app::*;
use premia::auth::signature::{payload, sign};
use premia::auth::{KeyStore, KeyUpdate, Scope};
use premia::domain::Environment;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// What a client signs: (secret, timestamp, method, path, body).
type Signing<'a> = (&'a str, i64, &'a str, &'a str, &'a str);

struct Signed {
    status: u16,
    body: serde_json::Value,
    headers: reqwest::header::HeaderMap,
}

/// Send `method path` with `body`, signing `signed_*` (which may differ from what is sent).
#[allow(clippy::too_many_arguments)]
async fn send(
    app: &TestApp,
    key: &Key,
    method: &str,
    path: &str,
    body: &str,
    signature: Option<Signing<'_>>,
    timestamp_header: bool,
) -> Signed {
    let url = format!("{}{path}", app.base_url);
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .header("x-client-id", &key.client_id)
        .header("x-client-secret", &key.client_secret)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some((secret, ts, m, p, b)) = signature {
        let sig = sign(secret, &payload(&ts.to_string(), m, p, b.as_bytes()));
        req = req.header("x-signature", sig);
        if timestamp_header {
            req = req.header("x-timestamp", ts.to_string());
        }
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(serde_json::Value::Null);
    Signed {
        status,
        body,
        headers,
    }
}

const PATH: &str = "/api/v1/payment-links";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signature_matrix() {
    let app = TestApp::spawn().await;
    let key = app.key.clone();
    let body = link_body(10_000).to_string();
    let s = key.client_secret.as_str();
    let now = now_ms();
    let five_min = 5 * 60 * 1000;

    let ok = send(
        &app,
        &key,
        "POST",
        PATH,
        &body,
        Some((s, now, "POST", PATH, &body)),
        true,
    )
    .await;
    assert_eq!(ok.status, 201, "a valid signature: {}", ok.body);

    let cases: Vec<(&str, Option<Signing<'_>>, bool, &str)> = vec![
        (
            "wrong key",
            Some(("premia_test_sec_other", now, "POST", PATH, &body)),
            true,
            "does not match",
        ),
        (
            "stale",
            Some((s, now - five_min - 10_000, "POST", PATH, &body)),
            true,
            "old",
        ),
        (
            "future",
            Some((s, now + five_min + 10_000, "POST", PATH, &body)),
            true,
            "future",
        ),
        (
            "tampered body",
            Some((s, now, "POST", PATH, "{}")),
            true,
            "does not match",
        ),
        (
            "other path",
            Some((s, now, "POST", "/api/v1/subscriptions", &body)),
            true,
            "does not match",
        ),
        (
            "other method",
            Some((s, now, "GET", PATH, &body)),
            true,
            "does not match",
        ),
        (
            "missing timestamp",
            Some((s, now, "POST", PATH, &body)),
            false,
            "X-Timestamp",
        ),
    ];
    let before = app.get("/payment-links").await.page().total;
    for (what, signature, with_ts, says) in cases {
        let res = send(&app, &key, "POST", PATH, &body, signature, with_ts).await;
        assert_eq!(res.status, 401, "{what}: {}", res.body);
        assert_eq!(res.body["code"], "unauthorized", "{what}");
        assert!(
            res.body["message"].as_str().unwrap().contains(says),
            "{what}: {}",
            res.body["message"]
        );
    }
    assert_eq!(
        app.get("/payment-links").await.page().total,
        before,
        "no refused request created anything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_path_includes_the_query_string() {
    let app = TestApp::spawn().await;
    let key = app.key.clone();
    let s = key.client_secret.as_str();
    let (asked, signed) = (
        "/api/v1/payment-links?status=cancelled",
        "/api/v1/payment-links?status=active",
    );
    let good = send(
        &app,
        &key,
        "GET",
        asked,
        "",
        Some((s, now_ms(), "GET", asked, "")),
        true,
    )
    .await;
    assert_eq!(good.status, 200, "{}", good.body);
    let bad = send(
        &app,
        &key,
        "GET",
        asked,
        "",
        Some((s, now_ms(), "GET", signed, "")),
        true,
    )
    .await;
    assert_eq!(
        bad.status, 401,
        "a signature for another query does not fit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_requires_signatures_refuses_unsigned_requests() {
    let app = TestApp::spawn().await;
    let mut new = new_key(Environment::Test, Scope::Payments);
    new.require_signature = true;
    let key = app.create_key(new);
    let unsigned = send(&app, &key, "GET", PATH, "", None, false).await;
    assert_eq!(unsigned.status, 401);
    assert!(unsigned.body["message"]
        .as_str()
        .unwrap()
        .contains("requires signed requests"));
    let s = key.client_secret.clone();
    let signed = send(
        &app,
        &key,
        "GET",
        PATH,
        "",
        Some((&s, now_ms(), "GET", PATH, "")),
        true,
    )
    .await;
    assert_eq!(signed.status, 200, "{}", signed.body);
}

fn header(res: &Signed, name: &str) -> u64 {
    res.headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} header"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_count_down_and_the_limit_answers_429_with_retry_after() {
    let app = TestApp::spawn().await;
    let mut new = new_key(Environment::Test, Scope::Payments);
    new.rate_limit = Some(5);
    let key = app.create_key(new);
    for remaining in (0..5).rev() {
        let res = send(&app, &key, "GET", PATH, "", None, false).await;
        assert_eq!(res.status, 200);
        assert_eq!(header(&res, "x-ratelimit-limit"), 5);
        assert_eq!(header(&res, "x-ratelimit-remaining"), remaining);
    }
    let limited = send(&app, &key, "GET", PATH, "", None, false).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["code"], "rate_limited");
    // At 5 per minute one request comes back every 12 s.
    let retry = header(&limited, "retry-after");
    assert!((1..=12).contains(&retry), "Retry-After {retry}");
    assert_eq!(header(&limited, "x-ratelimit-remaining"), 0);
    // Another key is not affected, and has the default limit.
    let other = send(&app, &app.key.clone(), "GET", PATH, "", None, false).await;
    assert_eq!(other.status, 200);
    assert_eq!(header(&other, "x-ratelimit-limit"), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_authentication_from_one_address_is_limited_before_bcrypt() {
    let app = TestApp::spawn().await;
    // An unknown key fails without bcrypt, so the loop is fast enough that no budget refills.
    let wrong = Key {
        client_id: format!("premia_test_cli_{}", "x".repeat(24)),
        client_secret: format!("premia_test_sec_{}", "x".repeat(32)),
    };
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(
            send(&app, &wrong, "GET", PATH, "", None, false)
                .await
                .status,
        );
    }
    assert_eq!(
        &statuses[..20],
        &[401; 20][..],
        "the budget is 20 failures a minute"
    );
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    // Even the right key is refused from that address until the block ends.
    let blocked = send(&app, &app.key.clone(), "GET", PATH, "", None, false).await;
    assert_eq!(blocked.status, 429);
    assert!(header(&blocked, "retry-after") >= 1);
}

/// The key file as `premia keys …` in another process sees it.
fn key_admin(app: &TestApp) -> KeyStore {
    KeyStore::open(app.data_dir(), "premia").expect("the key file opens")
}

/// Rotate `key` from another process; the key with its new secret.
fn rotate(app: &TestApp, key: &Key, overlap: Duration) -> Key {
    let rotated = tokio::task::block_in_place(|| key_admin(app).rotate(&key.client_id, overlap))
        .expect("key rotated");
    Key {
        client_id: rotated.key.client_id,
        client_secret: rotated.key.client_secret,
    }
}

async fn get_links(app: &TestApp, key: &Key) -> Signed {
    send(app, key, "GET", PATH, "", None, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_takes_the_new_secret_and_the_old_one_during_the_overlap() {
    let app = TestApp::spawn().await;
    let old = app.create_key(new_key(Environment::Test, Scope::Payments));
    assert_eq!(get_links(&app, &old).await.status, 200);

    let new = rotate(&app, &old, Duration::from_secs(3600));
    assert_ne!(new.client_secret, old.client_secret);
    let body = link_body(10_000).to_string();
    let created = send(&app, &new, "POST", PATH, &body, None, false).await;
    assert_eq!(
        created.status, 201,
        "the new secret works: {}",
        created.body
    );
    for _ in 0..2 {
        assert_eq!(
            get_links(&app, &old).await.status,
            200,
            "old, in the overlap"
        );
        assert_eq!(get_links(&app, &new).await.status, 200, "new");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_without_overlap_refuses_the_old_secret_at_once_even_when_cached() {
    let app = TestApp::spawn().await;
    let old = app.create_key(new_key(Environment::Test, Scope::Payments));
    // The first request runs bcrypt, the second is served from the verification cache.
    for _ in 0..2 {
        assert_eq!(get_links(&app, &old).await.status, 200);
    }
    let new = rotate(&app, &old, Duration::ZERO);
    let refused = get_links(&app, &old).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.body["code"], "unauthorized");
    assert_eq!(get_links(&app, &new).await.status, 200);
    assert_eq!(get_links(&app, &old).await.status, 401, "still refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_updated_rate_limit_applies_to_the_running_server() {
    let app = TestApp::spawn().await;
    let key = app.create_key(new_key(Environment::Test, Scope::Payments));
    let before = get_links(&app, &key).await;
    assert_eq!(header(&before, "x-ratelimit-limit"), 100);

    let update = KeyUpdate {
        rate_limit: Some(Some(2)),
        ..KeyUpdate::default()
    };
    tokio::task::block_in_place(|| key_admin(&app).update(&key.client_id, update))
        .expect("key updated");
    for remaining in [1, 0] {
        let res = get_links(&app, &key).await;
        assert_eq!(res.status, 200);
        assert_eq!(header(&res, "x-ratelimit-limit"), 2);
        assert_eq!(header(&res, "x-ratelimit-remaining"), remaining);
    }
    let limited = get_links(&app, &key).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.body["code"], "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_after_cached_use_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let key = app.create_key(new_key(Environment::Test, Scope::Payments));
    for _ in 0..2 {
        assert_eq!(get_links(&app, &key).await.status, 200);
    }
    tokio::task::block_in_place(|| key_admin(&app).revoke(&key.client_id)).expect("revoked");
    let refused = get_links(&app, &key).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
}
