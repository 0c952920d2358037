//! Webhooks over real HTTP: the server on a random port, partners' receivers as axum servers
//! on other random ports. Signatures are checked with the `standardwebhooks` crate, an
//! implementation independent of ours.

#[path = "support/http.rs"]
mod app;

use app::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use premia::auth::Scope;
use premia::domain::Environment;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Retries after 0.2 s instead of 5 s, 5 min, …: the same code path, fast.
const FAST_RETRIES: (&str, &str) = (
    "PREMIA_WEBHOOKS_RETRY_SCHEDULE_SECS",
    "[0.2, 0.2, 0.2, 0.2, 0.2, 0.2]",
);
const WAIT: Duration = Duration::from_secs(20);

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
    json: Value,
    /// The status the receiver answered.
    answered: u16,
}

impl Received {
    fn webhook_id(&self) -> &str {
        self.headers["webhook-id"].to_str().unwrap()
    }

    fn kind(&self) -> &str {
        self.json["type"].as_str().unwrap()
    }

    fn object(&self) -> &Value {
        &self.json["data"]["object"]
    }
}

#[derive(Default)]
struct Behaviour {
    log: Mutex<Vec<Received>>,
    /// Answer 500 to this many requests first.
    fail_next: AtomicU32,
    /// Answer 503 to everything.
    down: AtomicBool,
    /// Take this long to answer.
    delay_ms: AtomicU64,
}

/// A partner's webhook receiver: a real HTTP server on a random port.
#[derive(Clone)]
struct Receiver {
    url: String,
    behaviour: Arc<Behaviour>,
}

async fn receive(State(b): State<Arc<Behaviour>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let delay = b.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let failing = b
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if b.down.load(Ordering::SeqCst) {
        StatusCode::SERVICE_UNAVAILABLE
    } else if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    b.log.lock().unwrap().push(Received {
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        headers,
        body: body.to_vec(),
        answered: status.as_u16(),
    });
    status
}

impl Receiver {
    async fn start() -> Receiver {
        let behaviour = Arc::new(Behaviour::default());
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(behaviour.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { url, behaviour }
    }

    fn fail_next(&self, n: u32) {
        self.behaviour.fail_next.store(n, Ordering::SeqCst);
    }

    fn set_down(&self, down: bool) {
        self.behaviour.down.store(down, Ordering::SeqCst);
    }

    /// Everything received, answered or not.
    fn requests(&self) -> Vec<Received> {
        self.behaviour.log.lock().unwrap().clone()
    }

    /// What it accepted (answered 2xx).
    fn delivered(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.answered == 200)
            .collect()
    }

    fn delivered_types(&self) -> Vec<String> {
        self.delivered()
            .iter()
            .map(|r| r.kind().to_string())
            .collect()
    }

    /// Wait until it accepted an event of each of `types` (in any order), then return them.
    async fn wait_for_types(&self, types: &[&str]) -> Vec<Received> {
        eventually(&format!("{} received {types:?}", self.url), || async {
            let got = self.delivered_types();
            types
                .iter()
                .all(|t| got.iter().any(|g| g == t))
                .then(|| self.delivered())
        })
        .await
    }

    async fn wait_for_count(&self, n: usize) -> Vec<Received> {
        eventually(&format!("{} accepted {n} events", self.url), || async {
            let got = self.delivered();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

/// Poll `check` until it gives a value; fail after `WAIT`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Verify a received request as a partner would, with the standardwebhooks crate.
fn verifies(secret: &str, r: &Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&r.body, &r.headers)
        .is_ok()
}

/// Register `url` for `events` with `key`; returns the endpoint (with its secret).
async fn register(app: &TestApp, key: &Key, url: &str, events: Value) -> Value {
    app.with_key(key)
        .post(
            "/webhook-endpoints",
            json!({ "url": url, "events": events, "description": "billing platform" }),
        )
        .await
        .expect_status(201)
}

fn secret_of(endpoint: &Value) -> String {
    endpoint["secret"].as_str().unwrap().to_string()
}

async fn deliveries(app: &TestApp, endpoint: &Value) -> Vec<Value> {
    let path = format!(
        "/webhook-endpoints/{}/deliveries?limit=100",
        id_of(endpoint)
    );
    app.get(&path).await.page().data
}

fn scoped_key(env: Environment, carriers: &[&str]) -> premia::auth::NewKey {
    let mut key = new_key(env, Scope::Payments);
    key.carriers = carriers.iter().map(|c| object_id(c)).collect();
    key
}

fn link_of_carrier(carrier: &str) -> Value {
    let mut body = link_body(10_000);
    body["carrier_id"] = json!(carrier);
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn the_specs_flow_arrives_signed_with_each_resource_as_the_api_shows_it() {
    let app = TestApp::spawn_with(&[FAST_RETRIES]).await;
    let receiver = Receiver::start().await;
    let endpoint = register(&app, &app.key, &receiver.url, json!(["*"])).await;
    let secret = secret_of(&endpoint);
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(endpoint["status"], "enabled");
    assert_eq!(endpoint["environment"], "test");

    // A down payment with a 3-installment plan: paid, then installment 1 is paid,
    // installment 2 fails, the subscription is cancelled, the down payment refunded.
    let link = app.create_link(plan_link_body(250_000, 3, 75_000)).await;
    let paid = app.pay(&link).await;
    let sub = paid["subscription_id"].as_str().unwrap().to_string();
    app.advance_days(31).await;
    app.fail_next_charges(&sub, 1).await;
    app.advance_days(31).await;
    app.delete(&format!("/subscriptions/{sub}"))
        .await
        .expect_status(200);
    app.refund(&link, None).await.expect_status(200);

    let expected = [
        "payment_link.created",
        "payment.completed",
        "subscription.created",
        "installment.paid",
        "installment.failed",
        "subscription.past_due",
        "subscription.cancelled",
        "payment.refunded",
    ];
    let got = receiver.wait_for_types(&expected).await;
    for r in &got {
        assert!(verifies(&secret, r), "{} verifies", r.kind());
        assert_eq!(r.webhook_id(), r.json["id"], "webhook-id is the event id");
        assert!(r.webhook_id().starts_with("evt_"));
        assert_eq!(r.json["environment"], "test");
        assert!(millis(&r.json["created_at"]) > 0);
        assert_eq!(r.headers["content-type"], "application/json");
    }
    let ids: Vec<&str> = got.iter().map(Received::webhook_id).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no event twice: {ids:?}");

    let one = |kind: &str| got.iter().find(|r| r.kind() == kind).unwrap().clone();
    assert_eq!(id_of(one("payment.completed").object()), link);
    assert_eq!(one("payment.completed").object()["status"], "completed");
    assert_eq!(id_of(one("subscription.created").object()), sub);
    assert_eq!(
        one("subscription.created").object()["source_payment_link_id"],
        link.as_str()
    );
    assert_eq!(one("installment.paid").object()["installments"]["paid"], 1);
    assert_eq!(one("subscription.past_due").object()["status"], "past_due");
    // The last events carry the resources exactly as the API returns them now.
    assert_eq!(*one("payment.refunded").object(), app.link(&link).await);
    assert_eq!(
        *one("subscription.cancelled").object(),
        app.subscription(&sub).await
    );

    // The event log holds the same events, newest first, the payment before the
    // subscription it started.
    let log = app.get("/events?limit=100").await.page();
    let kinds: Vec<&str> = log
        .data
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    let pos = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(
        pos("subscription.created") < pos("payment.completed"),
        "{kinds:?}"
    );
    let completed = &log.data[pos("payment.completed")];
    let one_event = app
        .get(&format!("/events/{}", completed["id"].as_str().unwrap()))
        .await
        .expect_status(200);
    assert_eq!(
        one_event,
        one("payment.completed").json,
        "GET /events/{{id}} is the payload"
    );

    // Every delivery is recorded as one successful attempt.
    let recorded = deliveries(&app, &endpoint).await;
    assert_eq!(recorded.len(), got.len());
    for d in &recorded {
        assert_eq!(d["status"], "succeeded", "{d}");
        assert_eq!(d["attempts"][0]["status_code"], 200);
        assert!(d["attempts"][0]["latency_ms"].is_u64());
        assert_eq!(d["next_attempt_at"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_down_payment_sends_payment_failed_to_subscribers_of_it_only() {
    let app = TestApp::spawn_with(&[FAST_RETRIES]).await;
    let failures = Receiver::start().await;
    let everything = Receiver::start().await;
    register(&app, &app.key, &failures.url, json!(["payment.failed"])).await;
    register(&app, &app.key, &everything.url, json!(["*"])).await;
    let link = app.create_link(link_body(10_000)).await;
    app.post(
        &format!("/test_helpers/payment-links/{link}/pay"),
        json!({ "outcome": "failed", "method": "card" }),
    )
    .await
    .expect_status(200);
    everything
        .wait_for_types(&["payment_link.created", "payment.failed"])
        .await;
    let got = failures.wait_for_types(&["payment.failed"]).await;
    assert_eq!(id_of(got[0].object()), link);
    assert_eq!(failures.delivered_types(), vec!["payment.failed"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_fails_then_recovers_gets_every_event() {
    let app = TestApp::spawn_with(&[FAST_RETRIES]).await;
    let receiver = Receiver::start().await;
    receiver.fail_next(7);
    let endpoint = register(
        &app,
        &app.key,
        &receiver.url,
        json!(["payment_link.created"]),
    )
    .await;
    let mut links = Vec::new();
    for _ in 0..3 {
        links.push(app.create_link(link_body(10_000)).await);
    }
    let got = receiver.wait_for_count(3).await;
    let mut delivered: Vec<String> = got.iter().map(|r| id_of(r.object())).collect();
    delivered.sort();
    links.sort();
    assert_eq!(delivered, links);
    assert_eq!(
        receiver.requests().len(),
        3 + 7,
        "7 failures, then one success each"
    );

    // The deliveries show the failed attempts and then the success.
    let recorded = eventually("every delivery settled", || async {
        let ds = deliveries(&app, &endpoint).await;
        ds.iter().all(|d| d["status"] == "succeeded").then_some(ds)
    })
    .await;
    let attempts: usize = recorded
        .iter()
        .map(|d| d["attempt_count"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(attempts, 10);
    for d in &recorded {
        let list = d["attempts"].as_array().unwrap();
        for failed in &list[..list.len() - 1] {
            assert_eq!(failed["status_code"], 500, "{d}");
            assert!(failed["error"].as_str().unwrap().contains("500"), "{d}");
        }
        assert_eq!(list.last().unwrap()["status_code"], 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_that_exhausts_its_retries_is_marked_failed() {
    let app = TestApp::spawn_with(&[("PREMIA_WEBHOOKS_RETRY_SCHEDULE_SECS", "[0.1, 0.1]")]).await;
    let receiver = Receiver::start().await;
    receiver.set_down(true);
    let endpoint = register(&app, &app.key, &receiver.url, json!(["*"])).await;
    app.create_link(link_body(10_000)).await;
    let failed = eventually("the delivery failed", || async {
        let ds = deliveries(&app, &endpoint).await;
        ds.first().filter(|d| d["status"] == "failed").cloned()
    })
    .await;
    assert_eq!(
        failed["attempt_count"], 3,
        "the first attempt and two retries"
    );
    assert_eq!(failed["next_attempt_at"], Value::Null);
    assert_eq!(failed["attempts"][2]["status_code"], 503);
    assert_eq!(receiver.requests().len(), 3);
    let endpoint = app
        .get(&format!("/webhook-endpoints/{}", id_of(&endpoint)))
        .await
        .expect_status(200);
    assert!(endpoint["failing_since"].is_string(), "{endpoint}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_failing_for_too_long_is_disabled_and_an_event_says_so() {
    let app = TestApp::spawn_with(&[
        (
            "PREMIA_WEBHOOKS_RETRY_SCHEDULE_SECS",
            "[0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]",
        ),
        ("PREMIA_WEBHOOKS_DISABLE_AFTER_FAILING_SECS", "1"),
    ])
    .await;
    let dead = Receiver::start().await;
    dead.set_down(true);
    let watcher = Receiver::start().await;
    let endpoint = register(&app, &app.key, &dead.url, json!(["*"])).await;
    register(
        &app,
        &app.key,
        &watcher.url,
        json!(["webhook_endpoint.disabled"]),
    )
    .await;
    app.create_link(link_body(10_000)).await;

    let notice = watcher.wait_for_types(&["webhook_endpoint.disabled"]).await;
    assert_eq!(id_of(notice[0].object()), id_of(&endpoint));
    assert_eq!(notice[0].object()["status"], "disabled");
    let now = app
        .get(&format!("/webhook-endpoints/{}", id_of(&endpoint)))
        .await
        .expect_status(200);
    assert_eq!(now["status"], "disabled");
    assert!(now["disabled_reason"].as_str().unwrap().contains("failed"));

    // Disabled: new events are not delivered to it. Enabled again by its owner: they are.
    let before = dead.requests().len();
    app.create_link(link_body(10_000)).await;
    dead.set_down(false);
    app.patch(
        &format!("/webhook-endpoints/{}", id_of(&endpoint)),
        json!({ "disabled": false }),
    )
    .await
    .expect_status(200);
    let third = app.create_link(link_body(10_000)).await;
    eventually("the re-enabled endpoint gets new events", || async {
        dead.delivered()
            .iter()
            .any(|r| id_of(r.object()) == third)
            .then_some(())
    })
    .await;
    assert!(dead.requests().len() > before);
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_hear_only_their_environment_and_tenant_scope() {
    let app = TestApp::spawn_with(&[
        FAST_RETRIES,
        // So a live endpoint can be a local receiver in this test.
        ("PREMIA_WEBHOOKS_LIVE_ALLOW_HTTP", "true"),
        ("PREMIA_WEBHOOKS_LIVE_ALLOW_PRIVATE_ADDRESSES", "true"),
        // One at a time: each receiver gets its events in order, so the last one proves
        // nothing else is on its way.
        ("PREMIA_WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT", "1"),
    ])
    .await;
    let ours = app.create_key(scoped_key(Environment::Test, &[CARRIER]));
    let theirs = app.create_key(scoped_key(Environment::Test, &[OTHER_CARRIER]));
    let live = app.create_key(scoped_key(Environment::Live, &[]));
    let (r_ours, r_theirs, r_live) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let e_ours = register(&app, &ours, &r_ours.url, json!(["*"])).await;
    register(&app, &theirs, &r_theirs.url, json!(["*"])).await;
    let e_live = register(&app, &live, &r_live.url, json!(["*"])).await;

    let create = |key: &Key, carrier: &str| {
        let caller = app.with_key(key);
        let body = link_of_carrier(carrier);
        async move { id_of(&caller.post("/payment-links", body).await.expect_status(201)) }
    };
    let a1 = create(&ours, CARRIER).await;
    let b1 = create(&theirs, OTHER_CARRIER).await;
    let l1 = create(&live, CARRIER).await;
    let a2 = create(&app.key, CARRIER).await;
    let b2 = create(&app.key, OTHER_CARRIER).await;

    let ids =
        |r: &Receiver| -> Vec<String> { r.delivered().iter().map(|x| id_of(x.object())).collect() };
    r_ours.wait_for_count(2).await;
    r_theirs.wait_for_count(2).await;
    r_live.wait_for_count(1).await;
    assert_eq!(ids(&r_ours), vec![a1.clone(), a2]);
    assert_eq!(ids(&r_theirs), vec![b1, b2]);
    assert_eq!(ids(&r_live), vec![l1]);
    for r in r_live.delivered() {
        assert_eq!(r.json["environment"], "live");
    }

    // The event log is scoped the same way.
    let events_of = |key: &Key| {
        let caller = app.with_key(key);
        async move { caller.get("/events?type=payment_link.created").await.page() }
    };
    assert_eq!(events_of(&ours).await.total, 2);
    assert_eq!(events_of(&theirs).await.total, 2);
    assert_eq!(events_of(&live).await.total, 1);
    let a1_event = r_ours.delivered()[0].webhook_id().to_string();
    app.with_key(&theirs)
        .get(&format!("/events/{a1_event}"))
        .await
        .expect_error(403, "forbidden");
    app.with_key(&live)
        .get(&format!("/events/{a1_event}"))
        .await
        .expect_error(404, "not_found");

    // Another client's or environment's endpoint does not exist for them.
    for (key, endpoint) in [(&theirs, &e_ours), (&live, &e_ours), (&ours, &e_live)] {
        let path = format!("/webhook-endpoints/{}", id_of(endpoint));
        app.with_key(key)
            .get(&path)
            .await
            .expect_error(404, "not_found");
        app.with_key(key)
            .delete(&path)
            .await
            .expect_error(404, "not_found");
    }
    assert_eq!(
        app.with_key(&theirs)
            .get("/webhook-endpoints")
            .await
            .page()
            .total,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_can_be_redelivered() {
    let app = TestApp::spawn_with(&[FAST_RETRIES]).await;
    let receiver = Receiver::start().await;
    let endpoint = register(
        &app,
        &app.key,
        &receiver.url,
        json!(["payment_link.created"]),
    )
    .await;
    app.create_link(link_body(10_000)).await;
    let first = receiver.wait_for_count(1).await.remove(0);

    let again = app
        .post(
            &format!("/events/{}/redeliver", first.webhook_id()),
            json!({}),
        )
        .await
        .expect_status(200);
    assert_eq!(again.as_array().unwrap().len(), 1);
    assert_eq!(again[0]["redelivery"], true);
    let both = receiver.wait_for_count(2).await;
    assert_eq!(
        both[1].webhook_id(),
        first.webhook_id(),
        "the same webhook-id"
    );
    assert_eq!(both[1].json, first.json, "the same event");
    assert!(verifies(&secret_of(&endpoint), &both[1]));

    // To one endpoint by id; unknown ids are refused.
    app.post(
        &format!("/events/{}/redeliver", first.webhook_id()),
        json!({ "endpoint_id": id_of(&endpoint) }),
    )
    .await
    .expect_status(200);
    receiver.wait_for_count(3).await;
    app.post(
        &format!("/events/{}/redeliver", first.webhook_id()),
        json!({ "endpoint_id": UNKNOWN_ID }),
    )
    .await
    .expect_error(404, "not_found");
    app.post(&format!("/events/evt_{UNKNOWN_ID}/redeliver"), json!({}))
        .await
        .expect_error(404, "not_found");
    let recorded = deliveries(&app, &endpoint).await;
    assert_eq!(
        recorded.iter().filter(|d| d["redelivery"] == true).count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_secret_signs_new_deliveries_and_the_old_one_expires() {
    let app = TestApp::spawn_with(&[FAST_RETRIES]).await;
    let receiver = Receiver::start().await;
    let endpoint = register(
        &app,
        &app.key,
        &receiver.url,
        json!(["payment_link.created"]),
    )
    .await;
    let old = secret_of(&endpoint);
    let path = format!("/webhook-endpoints/{}", id_of(&endpoint));
    let shown = app.get(&path).await.expect_status(200);
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown only at creation: {shown}"
    );
    let listed = app.get("/webhook-endpoints").await.page();
    assert!(!listed.data[0].to_string().contains(&old));

    // With a grace period both secrets sign.
    let rotated = app
        .post(&format!("{path}/rotate-secret"), json!({}))
        .await
        .expect_status(200);
    let new = secret_of(&rotated);
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    app.create_link(link_body(10_000)).await;
    let got = receiver.wait_for_count(1).await;
    assert!(verifies(&new, &got[0]));
    assert!(
        verifies(&old, &got[0]),
        "the old secret still verifies during the grace period"
    );

    // Without one, only the newest secret signs.
    let rotated = app
        .post(
            &format!("{path}/rotate-secret"),
            json!({ "expire_previous_after_secs": 0 }),
        )
        .await
        .expect_status(200);
    let newest = secret_of(&rotated);
    app.create_link(link_body(10_000)).await;
    let got = receiver.wait_for_count(2).await;
    assert!(verifies(&newest, &got[1]));
    assert!(!verifies(&new, &got[1]));
    assert!(!verifies(&old, &got[1]));
}

#[tokio::test(flavor = "multi_thread")]
async fn live_endpoints_must_be_public_https() {
    let app = TestApp::spawn().await;
    let live = app.create_key(scoped_key(Environment::Live, &[]));
    for url in [
        "http://hooks.example.com/premia",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hook",
        "https://192.168.1.20/hook",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/",
        "ftp://hooks.example.com/",
    ] {
        let message = app
            .with_key(&live)
            .post("/webhook-endpoints", json!({ "url": url, "events": ["*"] }))
            .await
            .expect_error(400, "invalid_request");
        assert!(message.contains("url"), "{url}: {message}");
    }
    assert_eq!(
        app.with_key(&live)
            .get("/webhook-endpoints")
            .await
            .page()
            .total,
        0
    );
    // The sandbox may use http and localhost.
    let receiver = Receiver::start().await;
    register(&app, &app.key, &receiver.url, json!(["*"])).await;
    app.post(
        "/webhook-endpoints",
        json!({ "url": "ftp://localhost/", "events": ["*"] }),
    )
    .await
    .expect_error(400, "invalid_request");
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoint_requests_are_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let message = app
        .post("/webhook-endpoints", json!({}))
        .await
        .expect_error(400, "invalid_request");
    assert!(
        message.contains("url") && message.contains("events"),
        "{message}"
    );
    let message = app
        .post(
            "/webhook-endpoints",
            json!({ "url": "http://localhost/x", "events": ["payment.exploded"], "colour": 1 }),
        )
        .await
        .expect_error(400, "invalid_request");
    assert!(
        message.contains("events") && message.contains("colour"),
        "{message}"
    );
    app.post(
        "/webhook-endpoints",
        json!({ "url": "http://localhost/x", "events": [] }),
    )
    .await
    .expect_error(400, "invalid_request");
    app.get(&format!("/webhook-endpoints/{UNKNOWN_ID}"))
        .await
        .expect_error(404, "not_found");
    app.get("/webhook-endpoints/nope")
        .await
        .expect_error(400, "invalid_request");
    app.get("/events?type=nope")
        .await
        .expect_error(400, "invalid_request");
    app.get("/events?created_gte=yesterday")
        .await
        .expect_error(400, "invalid_request");

    // PATCH changes what it names, and only that.
    let endpoint = app
        .post(
            "/webhook-endpoints",
            json!({ "url": "http://localhost/x", "events": ["*"] }),
        )
        .await
        .expect_status(201);
    let path = format!("/webhook-endpoints/{}", id_of(&endpoint));
    let changed = app
        .patch(
            &path,
            json!({ "events": ["payment.completed", "payment.refunded"] }),
        )
        .await
        .expect_status(200);
    assert_eq!(
        changed["events"],
        json!(["payment.completed", "payment.refunded"])
    );
    assert_eq!(changed["url"], "http://localhost/x");
    app.patch(&path, json!({ "disabled": "yes" }))
        .await
        .expect_error(400, "invalid_request");
    app.delete(&path).await.expect_status(200);
    app.get(&path).await.expect_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_log_filters_by_type_and_creation_time() {
    let app = TestApp::spawn().await;
    let link = app.create_link(link_body(10_000)).await;
    app.pay(&link).await;
    let all = app.get("/events").await.page();
    assert_eq!(all.total, 2);
    let completed = app.get("/events?type=payment.completed").await.page();
    assert_eq!(completed.total, 1);
    assert_eq!(id_of(&completed.data[0]["data"]["object"]), link);
    let created_at = completed.data[0]["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    let from = app
        .get(&format!("/events?created_gte={created_at}"))
        .await
        .page();
    assert!(from.data.iter().any(|e| e["type"] == "payment.completed"));
    let future = app
        .get("/events?created_gte=2999-01-01T00:00:00Z")
        .await
        .page();
    assert_eq!(future.total, 0);
    let past = app
        .get("/events?created_lte=2000-01-01T00:00:00Z")
        .await
        .page();
    assert_eq!(past.total, 0);
    let paged = app.get("/events?limit=1&page=2").await.page();
    assert_eq!(
        (paged.total, paged.total_pages, paged.data.len()),
        (2, 2, 1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_endpoint_does_not_hold_up_another() {
    let app = TestApp::spawn_with(&[
        FAST_RETRIES,
        ("PREMIA_WEBHOOKS_TIMEOUT_SECS", "30"),
        ("PREMIA_WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT", "2"),
    ])
    .await;
    let slow = Receiver::start().await;
    slow.behaviour.delay_ms.store(10_000, Ordering::SeqCst);
    let fast = Receiver::start().await;
    register(&app, &app.key, &slow.url, json!(["*"])).await;
    register(&app, &app.key, &fast.url, json!(["*"])).await;
    let started = Instant::now();
    for _ in 0..20 {
        app.create_link(link_body(10_000)).await;
    }
    fast.wait_for_count(20).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the fast endpoint got 20 events while the slow one answered none: {:?}",
        started.elapsed()
    );
    assert!(slow.requests().is_empty());
}

/// `premia serve` as an operator runs it, on `dir`; returns the process, its base URL and
/// the first-run sandbox key (only printed on the first run of a data dir).
async fn serve_binary(
    dir: &std::path::Path,
    first_run: bool,
) -> (std::process::Child, String, Option<Key>) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_premia"))
        .arg("serve")
        .env("PREMIA_DATA_DIR", dir)
        .env("PREMIA_LISTEN", "127.0.0.1:0")
        .env(
            "PREMIA_WEBHOOKS_RETRY_SCHEDULE_SECS",
            format!("[{}]", vec!["0.3"; 60].join(", ")),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (base, key) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        let (mut id, mut secret) = (None, None);
        while let Some(Ok(line)) = lines.next() {
            if let Some(addr) = line.strip_prefix("premia listening on ") {
                base = Some(addr.trim().to_string());
            }
            if let Some(v) = line.trim().strip_prefix("client_id:") {
                id = Some(v.trim().to_string());
            }
            if let Some(v) = line.trim().strip_prefix("client_secret:") {
                secret = Some(v.trim().to_string());
            }
            if base.is_some() && (!first_run || (id.is_some() && secret.is_some())) {
                break;
            }
        }
        // Keep draining so the server never writes into a closed pipe.
        std::thread::spawn(move || for _ in lines {});
        let key = id.zip(secret).map(|(client_id, client_secret)| Key {
            client_id,
            client_secret,
        });
        (base.expect("the server says where it listens"), key)
    })
    .await
    .unwrap();
    (child, base, key)
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    key: &Key,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http
        .request(method, format!("{base}/api/v1{path}"))
        .header("X-Client-ID", &key.client_id)
        .header("X-Client-Secret", &key.client_secret);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_with_deliveries_pending_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    receiver.set_down(true);
    let http = reqwest::Client::new();
    let (mut child, base, key) = serve_binary(dir.path(), true).await;
    let key = key.expect("the first run prints a sandbox key");
    let post = |path: &'static str, body: Value| {
        let (http, base, key) = (&http, &base, &key);
        async move { call(http, base, key, reqwest::Method::POST, path, Some(body)).await }
    };
    let endpoint = post(
        "/webhook-endpoints",
        json!({ "url": receiver.url, "events": ["payment_link.created"] }),
    )
    .await;
    let secret = secret_of(&endpoint["data"]);

    // Ten events whose deliveries are failing and waiting for a retry...
    let mut links = Vec::new();
    for _ in 0..10 {
        links.push(id_of(
            &post("/payment-links", link_body(10_000)).await["data"],
        ));
    }
    eventually("every delivery was tried at least once", || async {
        let mut tried: Vec<String> = receiver
            .requests()
            .iter()
            .map(|r| id_of(r.object()))
            .collect();
        tried.sort();
        tried.dedup();
        (tried.len() == 10).then_some(())
    })
    .await;
    // ...and ten acknowledged just before the kill, perhaps not yet fanned out.
    for _ in 0..10 {
        links.push(id_of(
            &post("/payment-links", link_body(10_000)).await["data"],
        ));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(receiver.delivered().is_empty());

    receiver.set_down(false);
    let (mut child, base, _) = serve_binary(dir.path(), false).await;
    let got = eventually(
        "every acknowledged event arrived after the restart",
        || async {
            let got = receiver.delivered();
            let mut ids: Vec<String> = got.iter().map(|r| id_of(r.object())).collect();
            ids.sort();
            ids.dedup();
            (ids.len() == links.len()).then_some(got)
        },
    )
    .await;
    for r in &got {
        assert!(verifies(&secret, r));
        assert!(links.contains(&id_of(r.object())));
    }
    let path = format!(
        "/webhook-endpoints/{}/deliveries?limit=100",
        id_of(&endpoint["data"])
    );
    let recorded = eventually("every delivery recorded as succeeded", || async {
        let page = call(&http, &base, &key, reqwest::Method::GET, &path, None).await;
        let data = page["data"].as_array().unwrap().clone();
        data.iter()
            .all(|d| d["status"] == "succeeded")
            .then_some(data)
    })
    .await;
    assert_eq!(
        recorded.len(),
        20,
        "one delivery per event, none lost, none doubled"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_webhooks_and_events() {
    let app = TestApp::spawn().await;
    let doc: Value = serde_json::from_str(&app.browse("/openapi.json").await.body).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/webhook-endpoints",
        "/api/v1/webhook-endpoints/{id}",
        "/api/v1/webhook-endpoints/{id}/rotate-secret",
        "/api/v1/webhook-endpoints/{id}/deliveries",
        "/api/v1/events",
        "/api/v1/events/{id}",
        "/api/v1/events/{id}/redeliver",
    ] {
        assert!(paths.contains_key(path), "{path} in {:?}", paths.keys());
    }
    assert!(paths["/api/v1/webhook-endpoints/{id}"]["patch"].is_object());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_can_be_guarded_like_live() {
    let app = TestApp::spawn_with(&[
        ("PREMIA_WEBHOOKS_SANDBOX_ALLOW_HTTP", "false"),
        ("PREMIA_WEBHOOKS_SANDBOX_ALLOW_PRIVATE_ADDRESSES", "false"),
    ])
    .await;
    let receiver = Receiver::start().await;
    for url in [
        receiver.url.as_str(),
        "https://127.0.0.1/hook",
        "https://localhost/hook",
    ] {
        let message = app
            .post("/webhook-endpoints", json!({ "url": url, "events": ["*"] }))
            .await
            .expect_error(400, "invalid_request");
        assert!(message.contains("url"), "{url}: {message}");
    }
}
