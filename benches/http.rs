//! HTTP benchmark: create-link over real HTTP on loopback at 64 concurrent connections,
//! beside a minimal axum JSON handler measured by the same load generator in the same run.
//!
//! Run: `cargo bench --bench http` (`-- --seconds N` to change the 10 s per series).

use axum::routing::post;
use axum::{Json, Router};
use premia::auth::{NewKey, Scope};
use premia::config::{Config, DEFAULT_TOML};
use premia::domain::Environment;
use premia::server::Server;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONNECTIONS: usize = 64;

struct Series {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

/// `CONNECTIONS` workers, each with its own keep-alive connection, POSTing `body` to `url`
/// for `secs` seconds.
async fn load(url: String, headers: Vec<(String, String)>, body: String, secs: u64) -> Series {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let url = Arc::new(url);
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (url, headers, body) = (url.clone(), headers.clone(), body.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let mut latencies = Vec::new();
                let mut errors = 0;
                while Instant::now() < deadline {
                    let mut req = client
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .body(body.clone());
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
        rps: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    }
}

async fn minimal_axum() -> String {
    async fn echo(Json(body): Json<serde_json::Value>) -> Json<serde_json::Value> {
        Json(
            serde_json::json!({ "ok": true, "data": { "_id": "683abc123def456789012345", "request": body } }),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, Router::new().route("/", post(echo)))
            .await
            .unwrap()
    });
    format!("http://{addr}/")
}

fn main() {
    let secs: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let vars = vec![
            ("PREMIA_LISTEN".to_string(), "127.0.0.1:0".to_string()),
            ("PREMIA_DATA_DIR".to_string(), dir.path().display().to_string()),
        ];
        let server = Server::start(Config::from_sources(DEFAULT_TOML, vars).unwrap()).await.unwrap();
        let key = server
            .keys()
            .create(NewKey { env: Environment::Test, scope: Scope::Payments, name: None, carriers: vec![], employers: vec![], rate_limit: Some(100_000_000), require_signature: false })
            .unwrap();
        let headers = vec![("x-client-id".to_string(), key.client_id.clone()), ("x-client-secret".to_string(), key.client_secret.clone())];
        let body = r#"{"employer_id":"681abc789abc123456789012","carrier_id":"680abc456def789012345678","policy_id":"682def789abc012345678901","amount_cents":250000,"payment_type":"down_payment","customer":{"name":"Smith Industries","email":"billing@smith.example"}}"#;
        // Warm-up: the key's first use runs bcrypt once; later requests hit the cache.
        let _ = load(format!("{}/api/v1/payment-links", server.base_url()), headers.clone(), body.to_string(), 1).await;
        let premia = load(format!("{}/api/v1/payment-links", server.base_url()), headers, body.to_string(), secs).await;
        let baseline = load(minimal_axum().await, vec![], body.to_string(), secs).await;
        println!("# HTTP benchmark: {CONNECTIONS} connections, {secs} s per series, loopback, one process\n");
        println!("| endpoint | requests/s | p50 | p99 | errors |");
        println!("|---|---:|---:|---:|---:|");
        for (name, s) in [("Premia POST /api/v1/payment-links (durable)", &premia), ("minimal axum JSON handler", &baseline)] {
            println!("| {name} | {:.0} | {:.2} ms | {:.2} ms | {} |", s.rps, s.p50.as_secs_f64() * 1e3, s.p99.as_secs_f64() * 1e3, s.errors);
        }
        println!("\nPremia / minimal axum: {:.0}%", 100.0 * premia.rps / baseline.rps);
        server.stop().await.unwrap();
    });
}
