//! Webhook benchmark, one process, loopback, about 50 s:
//! 1. deliveries per second to one local receiver (create-link events at 64 connections,
//!    timed from the first create to the last delivery the receiver accepts);
//! 2. create-link latency (p50/p99) with no endpoint, then with an endpoint that is down
//!    (it accepts connections and never answers, the worst kind), in the same run; then with
//!    a healthy endpoint on a fresh server, to tell fan-out's cost from the dead endpoint's.
//!
//! Run: `cargo bench --bench webhooks` (`-- --seconds N` for the latency series, default 8).

use axum::extract::State;
use axum::http::StatusCode;
use premia::auth::{NewKey, Scope};
use premia::config::{Config, DEFAULT_TOML};
use premia::domain::Environment;
use premia::server::Server;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONNECTIONS: usize = 64;
const EVENTS: usize = 10_000;
const BODY: &str = r#"{"employer_id":"681abc789abc123456789012","carrier_id":"680abc456def789012345678","policy_id":"682def789abc012345678901","amount_cents":250000,"payment_type":"down_payment","customer":{"name":"Smith Industries","email":"billing@smith.example"}}"#;

struct Series {
    requests: usize,
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

/// `CONNECTIONS` workers POSTing `BODY` to `url` until `stop` says so.
async fn load(url: String, headers: Vec<(String, String)>, stop: Stop) -> Series {
    let started = Instant::now();
    let url = Arc::new(url);
    let stop = Arc::new(stop);
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (url, headers, stop) = (url.clone(), headers.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let mut latencies = Vec::new();
                let mut errors = 0;
                while !stop.done() {
                    let mut req = client
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .body(BODY);
                    for (k, v) in &headers {
                        req = req.header(k, v);
                    }
                    let t = Instant::now();
                    match req.send().await {
                        Ok(res) if res.status().is_success() => {
                            let _ = res.bytes().await;
                            latencies.push(t.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Series {
        requests: all.len(),
        rps: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    }
}

/// When the load stops: after a time, or after a number of requests started.
enum Stop {
    At(Instant),
    After(AtomicUsize),
}

impl Stop {
    fn done(&self) -> bool {
        match self {
            Stop::At(t) => Instant::now() >= *t,
            Stop::After(left) => left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err(),
        }
    }
}

/// A receiver that accepts everything and counts.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    async fn accept(State(count): State<Arc<AtomicUsize>>) -> StatusCode {
        count.fetch_add(1, Ordering::SeqCst);
        StatusCode::NO_CONTENT
    }
    let count = Arc::new(AtomicUsize::new(0));
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(accept))
        .with_state(count.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, count)
}

/// An endpoint that is down the worst way: it accepts connections and never answers.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

async fn start_server(dir: &std::path::Path) -> (Server, Vec<(String, String)>) {
    let vars = vec![
        ("PREMIA_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("PREMIA_DATA_DIR".to_string(), dir.display().to_string()),
    ];
    let server = Server::start(Config::from_sources(DEFAULT_TOML, vars).unwrap())
        .await
        .unwrap();
    let key = server
        .keys()
        .create(NewKey {
            env: Environment::Test,
            scope: Scope::Payments,
            name: None,
            carriers: vec![],
            employers: vec![],
            rate_limit: Some(100_000_000),
            require_signature: false,
        })
        .unwrap();
    let headers = vec![
        ("x-client-id".to_string(), key.client_id),
        ("x-client-secret".to_string(), key.client_secret),
    ];
    (server, headers)
}

async fn register(server: &Server, headers: &[(String, String)], url: &str) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v1/webhook-endpoints", server.base_url()))
        .json(&serde_json::json!({ "url": url, "events": ["*"] }));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

fn main() {
    let secs: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let began = Instant::now();
    let phase = move |what: &str| eprintln!("[{:6.1} s] {what}", began.elapsed().as_secs_f64());
    rt.block_on(async move {
        // 1. Throughput to one live receiver.
        let dir = tempfile::tempdir().unwrap();
        let (server, headers) = start_server(dir.path()).await;
        let create = format!("{}/api/v1/payment-links", server.base_url());
        let (url, delivered) = receiver().await;
        // Warm-up: bcrypt once for the key.
        load(create.clone(), headers.clone(), Stop::After(AtomicUsize::new(64))).await;
        register(&server, &headers, &url).await;
        let started = Instant::now();
        let creating = load(create.clone(), headers.clone(), Stop::After(AtomicUsize::new(EVENTS)));
        let created = creating.await;
        let api_done = started.elapsed();
        while delivered.load(Ordering::SeqCst) < created.requests {
            assert!(started.elapsed() < Duration::from_secs(120), "deliveries stalled at {}", delivered.load(Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let all_delivered = started.elapsed();
        phase("delivered");
        server.stop().await.unwrap();
        phase("stopped");

        // 2. Create-link latency without an endpoint, then with one that is down.
        let dir = tempfile::tempdir().unwrap();
        let (server, headers) = start_server(dir.path()).await;
        let create = format!("{}/api/v1/payment-links", server.base_url());
        load(create.clone(), headers.clone(), Stop::After(AtomicUsize::new(64))).await;
        let without = load(create.clone(), headers.clone(), Stop::At(Instant::now() + Duration::from_secs(secs))).await;
        register(&server, &headers, &black_hole().await).await;
        let with_down = load(create.clone(), headers.clone(), Stop::At(Instant::now() + Duration::from_secs(secs))).await;
        phase("down series");
        server.stop().await.unwrap();
        phase("stopped");
        // The same with a healthy endpoint, on a fresh server: what fan-out itself costs.
        let dir = tempfile::tempdir().unwrap();
        let (server, headers) = start_server(dir.path()).await;
        let create = format!("{}/api/v1/payment-links", server.base_url());
        load(create.clone(), headers.clone(), Stop::After(AtomicUsize::new(64))).await;
        register(&server, &headers, &receiver().await.0).await;
        let with_healthy = load(create.clone(), headers.clone(), Stop::At(Instant::now() + Duration::from_secs(secs))).await;
        server.stop().await.unwrap();

        println!("# Webhook benchmark: loopback, one process, 2 worker threads\n");
        println!("| deliveries to one receiver | |");
        println!("|---|---:|");
        println!("| events (create-link at {CONNECTIONS} connections) | {} |", created.requests);
        println!("| all created (API) | {:.2} s |", api_done.as_secs_f64());
        println!("| all delivered, signed, recorded | {:.2} s |", all_delivered.as_secs_f64());
        println!("| deliveries/s (end to end) | {:.0} |", created.requests as f64 / all_delivered.as_secs_f64());
        println!();
        println!("| create-link, {CONNECTIONS} connections, {secs} s each | requests/s | p50 | p99 | errors |");
        println!("|---|---:|---:|---:|---:|");
        for (name, s) in [("no webhook endpoint", &without), ("an endpoint that never answers", &with_down), ("a healthy endpoint (fresh server)", &with_healthy)] {
            println!("| {name} | {:.0} | {:.2} ms | {:.2} ms | {} |", s.rps, s.p50.as_secs_f64() * 1e3, s.p99.as_secs_f64() * 1e3, s.errors);
        }
    });
}
