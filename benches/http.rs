//! HTTP benchmark, one report: create-link over real HTTP on loopback at 64 concurrent
//! connections, unsigned and HMAC-signed, beside a minimal axum JSON handler measured by the
//! same load generator; then the cost of authentication and signing: a cheap authenticated
//! GET, unsigned and signed, against the unauthenticated `/healthz`, one connection at a time
//! so p50 is service time rather than queueing; and the cached `KeyStore::authenticate` and
//! `signature::verify` timed in-process.
//!
//! Run: `cargo bench --bench http` (`-- --seconds N` to change the 10 s per series).

use axum::routing::post;
use axum::{Json, Router};
use premia::auth::signature::{payload, sign, verify};
use premia::auth::{NewKey, Scope};
use premia::config::{Config, DEFAULT_TOML};
use premia::domain::Environment;
use premia::server::Server;
use reqwest::Method;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONNECTIONS: usize = 64;
const CREATE_PATH: &str = "/api/v1/payment-links";
const CLOCK_PATH: &str = "/api/v1/test_helpers/clock";
const BODY: &str = r#"{"employer_id":"681abc789abc123456789012","carrier_id":"680abc456def789012345678","policy_id":"682def789abc012345678901","amount_cents":250000,"payment_type":"down_payment","customer":{"name":"Smith Industries","email":"billing@smith.example"}}"#;

/// One series' requests, as the load generator saw them.
#[derive(Default)]
struct Series {
    latencies: Vec<Duration>,
    elapsed: Duration,
    errors: usize,
}

impl Series {
    fn merge(mut self, other: Series) -> Series {
        self.latencies.extend(other.latencies);
        self.elapsed += other.elapsed;
        self.errors += other.errors;
        self.latencies.sort();
        self
    }

    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn pct(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        self.latencies
            .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
}

/// What every request of a series sends.
#[derive(Clone)]
struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<&'static str>,
    /// Sign each request (`X-Timestamp`, `X-Signature`) with this secret over this path.
    signed: Option<(String, &'static str)>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `connections` workers, each with its own keep-alive connection, sending `request` for
/// `secs` seconds. Signing happens before the clock starts: the series measure the server.
async fn load(request: Request, connections: usize, secs: f64) -> Series {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let request = Arc::new(request);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let mut latencies = Vec::new();
                let mut errors = 0;
                while Instant::now() < deadline {
                    let mut req = client.request(request.method.clone(), request.url.as_str());
                    if let Some(body) = request.body {
                        req = req.header("content-type", "application/json").body(body);
                    }
                    for (k, v) in &request.headers {
                        req = req.header(k, v);
                    }
                    if let Some((secret, path)) = &request.signed {
                        let ts = now_ms().to_string();
                        let body = request.body.unwrap_or_default().as_bytes();
                        let signature =
                            sign(secret, &payload(&ts, request.method.as_str(), path, body));
                        req = req
                            .header("x-timestamp", ts)
                            .header("x-signature", signature);
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
    let mut series = Series::default();
    for w in workers {
        let (l, e) = w.await.unwrap();
        series.latencies.extend(l);
        series.errors += e;
    }
    series.elapsed = started.elapsed();
    series.latencies.sort();
    series
}

/// The series in alternating halves, so none profits from running first (a fresher store, a
/// quieter machine).
async fn interleaved<const N: usize>(
    requests: [Request; N],
    connections: usize,
    secs: u64,
) -> [Series; N] {
    let half = secs as f64 / 2.0;
    let mut series: [Series; N] = std::array::from_fn(|_| Series::default());
    for _ in 0..2 {
        for (s, request) in series.iter_mut().zip(&requests) {
            *s = std::mem::take(s).merge(load(request.clone(), connections, half).await);
        }
    }
    series
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

fn time(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

/// Mean time of `f` over `n` runs.
async fn per_call<F: std::future::Future<Output = ()>>(
    n: u32,
    mut f: impl FnMut() -> F,
) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f().await;
    }
    t.elapsed() / n
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
        let base = server.base_url();
        let key = server
            .keys()
            .create(NewKey { env: Environment::Test, scope: Scope::Payments, name: None, carriers: vec![], employers: vec![], rate_limit: Some(100_000_000), require_signature: false })
            .unwrap();
        let auth = vec![("x-client-id".to_string(), key.client_id.clone()), ("x-client-secret".to_string(), key.client_secret.clone())];
        let create = Request { method: Method::POST, url: format!("{base}{CREATE_PATH}"), headers: auth.clone(), body: Some(BODY), signed: None };
        let create_signed = Request { signed: Some((key.client_secret.clone(), CREATE_PATH)), ..create.clone() };
        let clock = Request { method: Method::GET, url: format!("{base}{CLOCK_PATH}"), headers: auth, body: None, signed: None };
        let clock_signed = Request { signed: Some((key.client_secret.clone(), CLOCK_PATH)), ..clock.clone() };
        let healthz = Request { method: Method::GET, url: format!("{base}/healthz"), headers: vec![], body: None, signed: None };

        // Warm-up: the key's first use runs bcrypt once; later requests hit the cache.
        let _ = load(create.clone(), CONNECTIONS, 1.0).await;
        let [unsigned, signed] = interleaved([create, create_signed], CONNECTIONS, secs).await;
        let baseline = load(Request { method: Method::POST, url: minimal_axum().await, headers: vec![], body: Some(BODY), signed: None }, CONNECTIONS, secs as f64).await;
        let [open, authenticated, authenticated_signed] = interleaved([healthz, clock, clock_signed], 1, secs).await;

        let keys = server.keys();
        let authenticate = per_call(100_000, || async {
            keys.authenticate(&key.client_id, &key.client_secret).await.unwrap();
        })
        .await;
        let signature = sign(&key.client_secret, &payload(&now_ms().to_string(), "POST", CREATE_PATH, BODY.as_bytes()));
        let ts = now_ms().to_string();
        let verify_time = per_call(100_000, || async {
            verify(&key.client_secret, &signature, Some(&ts), now_ms(), "POST", CREATE_PATH, BODY.as_bytes()).unwrap();
        })
        .await;

        println!("# HTTP benchmark: loopback, one process, {secs} s per series (alternating halves where compared)\n");
        println!("| series | connections | requests/s | p50 | p99 | errors |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (name, conns, s) in [
            ("Premia `POST /api/v1/payment-links` (durable), unsigned", CONNECTIONS, &unsigned),
            ("Premia `POST /api/v1/payment-links` (durable), HMAC-signed", CONNECTIONS, &signed),
            ("minimal axum JSON handler", CONNECTIONS, &baseline),
            ("`GET /healthz` (no auth)", 1, &open),
            ("`GET /api/v1/test_helpers/clock` (authenticated, cached secret)", 1, &authenticated),
            ("`GET /api/v1/test_helpers/clock` (authenticated, HMAC-signed)", 1, &authenticated_signed),
        ] {
            println!("| {name} | {conns} | {:.0} | {} | {} | {} |", s.rps(), time(s.pct(0.50)), time(s.pct(0.99)), s.errors);
        }
        let diff = |a: Duration, b: Duration| a.as_secs_f64() * 1e6 - b.as_secs_f64() * 1e6;
        println!("\nPremia unsigned / minimal axum: {:.0}%", 100.0 * unsigned.rps() / baseline.rps());
        println!("HMAC signing on create-link (64 connections): {:+.1}% requests/s, p50 {:+.0} µs, p99 {:+.0} µs",
            100.0 * (signed.rps() / unsigned.rps() - 1.0), diff(signed.pct(0.5), unsigned.pct(0.5)), diff(signed.pct(0.99), unsigned.pct(0.99)));
        println!("HMAC signing on the authenticated GET at p50 (1 connection): {:+.0} µs",
            diff(authenticated_signed.pct(0.5), authenticated.pct(0.5)));
        println!("Auth overhead at p50 (authenticated GET − /healthz, 1 connection): {:+.0} µs (target < 50 µs)",
            diff(authenticated.pct(0.5), open.pct(0.5)));
        println!("In-process: cached KeyStore::authenticate {:.1} µs per call; signature::verify of the create body {:.1} µs per call",
            authenticate.as_secs_f64() * 1e6, verify_time.as_secs_f64() * 1e6);
        server.stop().await.unwrap();
    });
}
