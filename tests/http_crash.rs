//! kill -9 through the front door: the real `premia` binary, concurrent clients over HTTP
//! (create, pay, refund and cancel links, create and cancel subscriptions, advance the sandbox
//! clock), every write with an Idempotency-Key, every 2xx recorded. The server is SIGKILLed at
//! a random moment and restarted on the same data dir, then:
//! - every acknowledged write is there, in the acknowledged state or a legal later one;
//! - every acknowledged request, retried with its key, replays its answer byte for byte (it
//!   did not run twice); the request in flight at the kill, retried, succeeds exactly once;
//! - after a clean stop, `premia check` finds every invariant intact;
//! - at the end, a partner's receiver (alive throughout) has every event of the event log:
//!   no webhook was lost to a crash.
//!
//! `PREMIA_HTTP_CRASH_ROUNDS` sets the rounds (default 3; the long mode is 100). Rounds share
//! the data dir, so each also recovers from all the crashes before it.

#[path = "support/http.rs"]
mod app;
#[path = "support/process.rs"]
mod process;

use app::*;
use process::{check, create_key, send, try_send, Premia, Raw};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One write a client sent: enough to retry it and to know what its answer promised.
#[derive(Clone)]
struct Write {
    key: String,
    method: &'static str,
    path: String,
    body: String,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    CreateLink,
    Pay,
    Refund,
    CancelLink,
    CreateSubscription,
    CancelSubscription,
    Advance,
}

/// What the clients were told, and the one request each had in flight at the kill.
#[derive(Default)]
struct Log {
    acked: Vec<(Write, Raw)>,
    in_flight: Vec<Write>,
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b) % n
}

/// Send `write`; `None` once the server is gone (the write may or may not have run).
async fn attempt(base: &str, key: &Key, w: &Write, log: &Mutex<Log>) -> Option<Value> {
    let sent = try_send(base, key, w.method, &w.path, &w.body, Some(&w.key));
    match tokio::time::timeout(Duration::from_secs(10), sent).await {
        Ok(Ok(res)) if (200..300).contains(&res.status) => {
            let data = res.json()["data"].clone();
            log.lock().unwrap().acked.push((w.clone(), res));
            Some(data)
        }
        Ok(Ok(res)) => panic!(
            "{} {} answered {}: {}",
            w.method,
            w.path,
            res.status,
            String::from_utf8_lossy(&res.bytes)
        ),
        _ => {
            log.lock().unwrap().in_flight.push(w.clone());
            None
        }
    }
}

/// One client's life: links through their states, and now and then a subscription.
async fn client(base: String, key: Key, round: usize, c: usize, log: Arc<Mutex<Log>>) {
    let mut n = 0;
    let mut next = |kind, method, path: String, body: Value| {
        n += 1;
        Write {
            key: format!("r{round}-c{c}-{n}"),
            method,
            path,
            // DELETEs carry no body.
            body: if body.is_null() {
                String::new()
            } else {
                body.to_string()
            },
            kind,
        }
    };
    for i in 0u64.. {
        let plan = i % 3 == 0;
        let body = if plan {
            plan_link_body(10_000, 3, 1_000)
        } else {
            link_body(10_000)
        };
        let create = next(Kind::CreateLink, "POST", "/payment-links".into(), body);
        let Some(link) = attempt(&base, &key, &create, &log).await else {
            return;
        };
        let id = link["_id"].as_str().unwrap().to_string();
        if (i + c as u64).is_multiple_of(5) {
            let cancel = next(
                Kind::CancelLink,
                "DELETE",
                format!("/payment-links/{id}"),
                json!(null),
            );
            if attempt(&base, &key, &cancel, &log).await.is_none() {
                return;
            }
            continue;
        }
        let pay = next(
            Kind::Pay,
            "POST",
            format!("/test_helpers/payment-links/{id}/pay"),
            json!({ "outcome": "succeeded", "method": "card" }),
        );
        if attempt(&base, &key, &pay, &log).await.is_none() {
            return;
        }
        for _ in 0..(i % 3) {
            let refund = next(
                Kind::Refund,
                "POST",
                format!("/payment-links/{id}/refund"),
                json!({ "amount_cents": 700 }),
            );
            if attempt(&base, &key, &refund, &log).await.is_none() {
                return;
            }
        }
        if i % 4 == 1 {
            let create = next(
                Kind::CreateSubscription,
                "POST",
                "/subscriptions".into(),
                subscription_body(2_500),
            );
            let Some(sub) = attempt(&base, &key, &create, &log).await else {
                return;
            };
            if i % 8 == 1 {
                let id = sub["_id"].as_str().unwrap();
                let cancel = next(
                    Kind::CancelSubscription,
                    "DELETE",
                    format!("/subscriptions/{id}"),
                    json!(null),
                );
                if attempt(&base, &key, &cancel, &log).await.is_none() {
                    return;
                }
            }
        }
    }
}

/// The sandbox clock moves an hour at a time while the clients work.
async fn clock(base: String, key: Key, round: usize, log: Arc<Mutex<Log>>) {
    for n in 0.. {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let advance = Write {
            key: format!("r{round}-clock-{n}"),
            method: "POST",
            path: "/test_helpers/clock/advance".into(),
            body: json!({ "seconds": 3_600 }).to_string(),
            kind: Kind::Advance,
        };
        if attempt(&base, &key, &advance, &log).await.is_none() {
            return;
        }
    }
}

/// The state every acknowledged write promised, folded over all rounds.
#[derive(Default)]
struct Promised {
    /// Link id → (paid, cancelled, least refunded_cents).
    links: HashMap<String, (bool, bool, u64)>,
    /// Subscription id → cancelled.
    subscriptions: HashMap<String, bool>,
    clock_ms: i64,
}

impl Promised {
    fn learn(&mut self, w: &Write, res: &Raw) {
        let data = &res.json()["data"];
        let id = || data["_id"].as_str().unwrap().to_string();
        match w.kind {
            Kind::CreateLink => drop(self.links.insert(id(), (false, false, 0))),
            Kind::Pay => self.links.get_mut(&id()).unwrap().0 = true,
            Kind::CancelLink => self.links.get_mut(&id()).unwrap().1 = true,
            Kind::Refund => {
                let l = self.links.get_mut(&id()).unwrap();
                l.2 = l.2.max(data["refunded_cents"].as_u64().unwrap());
            }
            Kind::CreateSubscription => drop(self.subscriptions.insert(id(), false)),
            Kind::CancelSubscription => drop(self.subscriptions.insert(id(), true)),
            Kind::Advance => self.clock_ms = self.clock_ms.max(data["now_ms"].as_i64().unwrap()),
        }
    }

    async fn verify(&self, base: &str, key: &Key) {
        for (id, (paid, cancelled, refunded)) in &self.links {
            let res = send(base, key, "GET", &format!("/payment-links/{id}"), "", None).await;
            assert_eq!(res.status, 200, "acknowledged link {id} is missing");
            let link = &res.json()["data"];
            let status = link["status"].as_str().unwrap();
            if *paid {
                assert!(
                    ["completed", "partially_refunded", "refunded"].contains(&status),
                    "paid link {id} is {status}"
                );
            }
            if *cancelled {
                assert_eq!(status, "cancelled", "cancelled link {id}");
            }
            let now_refunded = link["refunded_cents"].as_u64().unwrap();
            assert!(now_refunded >= *refunded, "link {id} lost a refund");
        }
        for (id, cancelled) in &self.subscriptions {
            let res = send(base, key, "GET", &format!("/subscriptions/{id}"), "", None).await;
            assert_eq!(res.status, 200, "acknowledged subscription {id} is missing");
            if *cancelled {
                assert_eq!(res.json()["data"]["status"], "cancelled");
            }
        }
        let clock = send(base, key, "GET", "/test_helpers/clock", "", None).await;
        let now = clock.json()["data"]["now_ms"].as_i64().unwrap();
        assert!(now >= self.clock_ms, "the sandbox clock went back");
    }
}

/// A partner's webhook receiver that stays up while the server is killed: the `webhook-id`
/// of everything it was sent.
async fn receiver() -> (String, Arc<Mutex<HashSet<String>>>) {
    let seen: Arc<Mutex<HashSet<String>>> = Default::default();
    let record = seen.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                    record.lock().unwrap().insert(id.to_string());
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

/// Every event id in the event log.
async fn event_log(base: &str, key: &Key) -> HashSet<String> {
    let mut ids = HashSet::new();
    for page in 1.. {
        let res = send(
            base,
            key,
            "GET",
            &format!("/events?limit=100&page={page}"),
            "",
            None,
        )
        .await;
        let data = res.json()["data"].as_array().cloned().unwrap_or_default();
        if data.is_empty() {
            return ids;
        }
        ids.extend(data.iter().map(|e| e["id"].as_str().unwrap().to_string()));
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_and_retries_never_run_twice() {
    let rounds: usize = std::env::var("PREMIA_HTTP_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path());
    let (hook, delivered) = receiver().await;
    {
        let server = Premia::serve(dir.path());
        let endpoint = json!({ "url": hook, "events": ["*"] }).to_string();
        let res = send(
            &server.base_url,
            &key,
            "POST",
            "/webhook-endpoints",
            &endpoint,
            None,
        )
        .await;
        assert_eq!(res.status, 201);
        server.stop();
    }
    let mut promised = Promised::default();
    let mut total = 0;
    for round in 1..=rounds {
        let server = Premia::serve(dir.path());
        let base = server.base_url.clone();
        let log = Arc::new(Mutex::new(Log::default()));
        let mut tasks: Vec<_> = (0..12)
            .map(|c| tokio::spawn(client(base.clone(), key.clone(), round, c, log.clone())))
            .collect();
        tasks.push(tokio::spawn(clock(
            base.clone(),
            key.clone(),
            round,
            log.clone(),
        )));
        // A random moment, once the clients are under way (a busy machine starts slowly).
        tokio::time::sleep(Duration::from_millis(random_below(1_200))).await;
        while log.lock().unwrap().acked.len() < 20 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.kill9();
        for t in tasks {
            t.await.unwrap();
        }
        let Log { acked, in_flight } = std::mem::take(&mut *log.lock().unwrap());

        let server = Premia::serve(dir.path());
        let base = server.base_url.clone();
        // The requests cut off by the kill: retried with their keys, each runs exactly once.
        let mut all = acked;
        for w in in_flight {
            let res = send(&base, &key, w.method, &w.path, &w.body, Some(&w.key)).await;
            assert!(
                (200..300).contains(&res.status),
                "retrying {} {}: {} {}",
                w.method,
                w.path,
                res.status,
                String::from_utf8_lossy(&res.bytes)
            );
            all.push((w, res));
        }
        for (w, res) in &all {
            promised.learn(w, res);
        }
        promised.verify(&base, &key).await;
        // Every acknowledged request, retried, is answered from its record: it ran once.
        for (w, first) in &all {
            let again = send(&base, &key, w.method, &w.path, &w.body, Some(&w.key)).await;
            assert!(again.replayed, "{} {} ran again", w.method, w.path);
            assert_eq!(again.bytes, first.bytes, "{} {}", w.method, w.path);
        }
        server.stop();
        let (clean, report) = check(dir.path());
        assert!(clean, "round {round}: premia check:\n{report}");
        println!(
            "round {round}: {} writes acknowledged and verified",
            all.len()
        );
        total += all.len();
    }
    // Every event of every round reaches the receiver, crashes or not.
    let server = Premia::serve(dir.path());
    let events = event_log(&server.base_url, &key).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let missing = events.difference(&delivered.lock().unwrap()).count();
        if missing == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{missing} of {} events never reached the receiver",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop();
    println!(
        "{rounds} rounds, {total} acknowledged writes survived SIGKILL, {} webhook events all delivered",
        events.len()
    );
}
