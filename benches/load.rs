//! Load report: the real server (`premia::server::Server::start`, in this process, on a fresh
//! temp data dir, loopback HTTP) under a realistic mix of reads and durable writes at 1, 16,
//! 64 and 256 connections, beside a minimal axum JSON server driven by the same generator;
//! durable create-link alone at 64 connections against the minimal server at 64; and lists
//! with filters over 1,000,000 stored links, seeded through the engine (not HTTP) before the
//! measurements. Writes `benches/report/report.md` and `benches/report/plot.svg`.
//!
//! Run: `cargo bench --bench load` (`-- --seconds N` per series, default 10;
//! `--links N` stored links, default 1,000,000).
//!
//! Soak: `cargo bench --bench load -- --soak 600` measures the mix's peak rate at 64
//! connections, then holds half of it for 600 s, sampling this process's resident memory
//! (server and generator share it) every 5 s; writes `benches/report/soak.md`. Fails if RSS
//! grows more than 10% after the first fifth of the run (at most 2 minutes) or any request
//! fails. `--reads-only` soaks with the mix's reads alone (`soak-reads-only.md`): where
//! memory growth comes from.
//!
//! `--create-only` runs durable create-link and the minimal handler at 64 connections and
//! prints their figures (no report): the loop for profiling the write path.

use axum::routing::post;
use axum::{Json, Router};
use plotters::prelude::*;
use premia::auth::{NewKey, Scope};
use premia::config::{Config, DEFAULT_TOML};
use premia::domain::{Customer, Environment, NewLink, ObjectId, PaymentType};
use premia::server::Server;
use premia::webhooks::Webhooks;
use premia::{Engine, PaymentSource, Processors, Sandbox, Store, TestClock};
use reqwest::Method;
use state_machines::Cents;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ENV: Environment = Environment::Test;
const CARRIERS: u64 = 50;
const EMPLOYERS: u64 = 200;
const CONNECTIONS: [usize; 4] = [1, 16, 64, 256];
/// Links each worker remembers to pay and refund (bounded: the soak must not grow them).
const POOL: usize = 256;
const LINK_AMOUNT: u64 = 250_000;

fn carrier(i: u64) -> String {
    format!("c0ffee{:018x}", i % CARRIERS)
}

fn employer(i: u64) -> String {
    format!("e11e00{:018x}", i % EMPLOYERS)
}

fn link_body(i: u64) -> String {
    format!(
        r#"{{"employer_id":"{}","carrier_id":"{}","policy_id":"682def789abc012345678901","amount_cents":{LINK_AMOUNT},"payment_type":"down_payment","customer":{{"name":"Smith Industries","email":"billing@smith.example"}}}}"#,
        employer(i),
        carrier(i)
    )
}

/// What one request of the mix is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    GetLink,
    ListCarrierStatus,
    ListEmployerStatus,
    ListCarrier,
    /// Outside the mix: a status alone, and no filter, over every stored link.
    ListStatus,
    ListAll,
    Create,
    Pay,
    Refund,
    /// The minimal axum handler (its own series).
    Echo,
}

const OPS: usize = 10;

impl Op {
    const ALL: [Op; OPS] = [
        Op::GetLink,
        Op::ListCarrierStatus,
        Op::ListEmployerStatus,
        Op::ListCarrier,
        Op::ListStatus,
        Op::ListAll,
        Op::Create,
        Op::Pay,
        Op::Refund,
        Op::Echo,
    ];

    fn label(self) -> &'static str {
        match self {
            Op::GetLink => "`GET /payment-links/{id}`",
            Op::ListCarrierStatus => "`GET /payment-links?carrier_id=…&status=active&limit=20`",
            Op::ListEmployerStatus => {
                "`GET /payment-links?employer_id=…&status=completed&limit=20`"
            }
            Op::ListCarrier => "`GET /payment-links?carrier_id=…&limit=20&page=2`",
            Op::ListStatus => "`GET /payment-links?status=active&limit=20`",
            Op::ListAll => "`GET /payment-links?limit=20`",
            Op::Create => "`POST /payment-links`",
            Op::Pay => "`POST /test_helpers/payment-links/{id}/pay`",
            Op::Refund => "`POST /payment-links/{id}/refund` (1 cent)",
            Op::Echo => "minimal axum JSON handler",
        }
    }

    fn is_list(self) -> bool {
        matches!(
            self,
            Op::ListCarrierStatus | Op::ListEmployerStatus | Op::ListCarrier
        )
    }

    /// The realistic mix, percent: 70% reads (30 GET one, 40 lists), 30% writes.
    fn pick(roll: u64) -> Op {
        match roll % 100 {
            0..30 => Op::GetLink,
            30..50 => Op::ListCarrierStatus,
            50..60 => Op::ListEmployerStatus,
            60..70 => Op::ListCarrier,
            70..85 => Op::Create,
            85..95 => Op::Pay,
            _ => Op::Refund,
        }
    }
}

/// Latencies in log-linear buckets (< 1% error), fixed size however long the run.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    n: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; 256 + 40 * 128],
            n: 0,
        }
    }
}

impl Histogram {
    fn bucket(us: u64) -> usize {
        if us < 256 {
            return us as usize;
        }
        let e = 63 - us.leading_zeros() as u64 - 7;
        (256 + (e - 1) * 128 + ((us >> e) - 128)) as usize
    }

    fn lower_bound(bucket: usize) -> u64 {
        if bucket < 256 {
            return bucket as u64;
        }
        let e = (bucket as u64 - 256) / 128 + 1;
        ((bucket as u64 - 256) % 128 + 128) << e
    }

    fn record(&mut self, d: Duration) {
        let b = Self::bucket(d.as_micros() as u64).min(self.counts.len() - 1);
        self.counts[b] += 1;
        self.n += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.n += other.n;
    }

    fn pct(&self, p: f64) -> Duration {
        let rank = ((self.n as f64 * p).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(Self::lower_bound(b));
            }
        }
        Duration::ZERO
    }
}

/// One series, as the generator saw it.
#[derive(Clone, Default)]
struct Series {
    ops: BTreeMap<usize, Histogram>,
    failures: BTreeMap<String, u64>,
    elapsed: Duration,
    /// CPU time this process (server, generator, committer) spent during the series.
    cpu: Duration,
}

impl Series {
    fn all(&self) -> Histogram {
        let mut h = Histogram::default();
        self.ops.values().for_each(|o| h.merge(o));
        h
    }

    fn op(&self, op: Op) -> Histogram {
        self.ops.get(&(op as usize)).cloned().unwrap_or_default()
    }

    fn lists(&self) -> Histogram {
        let mut h = Histogram::default();
        for op in Op::ALL.into_iter().filter(|o| o.is_list()) {
            h.merge(&self.op(op));
        }
        h
    }

    fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    fn rps(&self) -> f64 {
        self.all().n as f64 / self.elapsed.as_secs_f64()
    }

    fn merge(&mut self, other: Series) {
        for (op, h) in other.ops {
            self.ops.entry(op).or_default().merge(&h);
        }
        for (k, v) in other.failures {
            *self.failures.entry(k).or_default() += v;
        }
        self.elapsed += other.elapsed;
        self.cpu += other.cpu;
    }

    /// CPU time per answered request, µs.
    fn cpu_per_request(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.all().n.max(1) as f64
    }
}

/// What the generator sends to.
#[derive(Clone)]
struct Target {
    base: String,
    auth: Vec<(String, String)>,
    /// Ids of stored links, for `GET /payment-links/{id}`.
    stored: Arc<Vec<String>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mix {
    Realistic,
    /// The mix's three list shapes, in its proportions, and nothing else.
    ListsOnly,
    /// The mix's reads (GET one, lists), in its proportions, and no writes.
    ReadsOnly,
    Only(Op),
}

/// Counters the soak's sampler reads while the workers run.
#[derive(Default)]
struct Live {
    requests: AtomicU64,
    failures: AtomicU64,
}

struct Worker {
    rng: u64,
    unpaid: VecDeque<String>,
    paid: VecDeque<String>,
    series: Series,
}

impl Worker {
    fn roll(&mut self) -> u64 {
        // xorshift64*: a fixed, cheap sequence per worker.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next operation and its request (method, path, body). Pay and refund need a link
    /// of this worker's in the right state; without one, it creates one.
    fn next(&mut self, mix: Mix, target: &Target) -> (Op, Method, String, Option<String>) {
        let roll = self.roll();
        let mut op = match mix {
            Mix::Realistic => Op::pick(roll),
            Mix::ListsOnly => Op::pick(30 + roll % 40),
            Mix::ReadsOnly => Op::pick(roll % 70),
            Mix::Only(op) => op,
        };
        if op == Op::Refund && self.paid.is_empty() {
            op = Op::Pay;
        }
        if op == Op::Pay && self.unpaid.is_empty() {
            op = Op::Create;
        }
        let n = self.roll();
        let status = ["active", "completed"];
        match op {
            Op::GetLink => {
                let id = &target.stored[(n % target.stored.len() as u64) as usize];
                (op, Method::GET, format!("/api/v1/payment-links/{id}"), None)
            }
            Op::ListCarrierStatus => (
                op,
                Method::GET,
                format!(
                    "/api/v1/payment-links?carrier_id={}&status={}&limit=20",
                    carrier(n),
                    status[0]
                ),
                None,
            ),
            Op::ListEmployerStatus => (
                op,
                Method::GET,
                format!(
                    "/api/v1/payment-links?employer_id={}&status={}&limit=20",
                    employer(n),
                    status[1]
                ),
                None,
            ),
            Op::ListCarrier => (
                op,
                Method::GET,
                format!(
                    "/api/v1/payment-links?carrier_id={}&limit=20&page=2",
                    carrier(n)
                ),
                None,
            ),
            Op::ListStatus => (
                op,
                Method::GET,
                "/api/v1/payment-links?status=active&limit=20".into(),
                None,
            ),
            Op::ListAll => (
                op,
                Method::GET,
                "/api/v1/payment-links?limit=20".into(),
                None,
            ),
            Op::Create => (
                op,
                Method::POST,
                "/api/v1/payment-links".into(),
                Some(link_body(n)),
            ),
            Op::Pay => {
                let id = self.unpaid.front().expect("checked above");
                (
                    op,
                    Method::POST,
                    format!("/api/v1/test_helpers/payment-links/{id}/pay"),
                    Some(r#"{"outcome":"succeeded","method":"card"}"#.into()),
                )
            }
            Op::Refund => {
                let id = self.paid.front().expect("checked above");
                (
                    op,
                    Method::POST,
                    format!("/api/v1/payment-links/{id}/refund"),
                    Some(r#"{"amount_cents":1,"reason":"overpaid"}"#.into()),
                )
            }
            Op::Echo => (op, Method::POST, String::new(), Some(link_body(n))),
        }
    }

    /// Keep the worker's links moving: a created link waits to be paid, a paid one to be
    /// refunded a cent at a time (250,000 cents outlast any run).
    fn done(&mut self, op: Op, body: &[u8]) {
        match op {
            Op::Create => {
                let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                if let Some(id) = v["data"]["_id"].as_str() {
                    self.unpaid.push_back(id.to_string());
                    if self.unpaid.len() > POOL {
                        self.unpaid.pop_front();
                    }
                }
            }
            Op::Pay => {
                if let Some(id) = self.unpaid.pop_front() {
                    self.paid.push_back(id);
                    if self.paid.len() > POOL {
                        self.paid.pop_front();
                    }
                }
            }
            Op::Refund => {
                // Rotate, so refunds spread over the worker's paid links.
                if let Some(id) = self.paid.pop_front() {
                    self.paid.push_back(id);
                }
            }
            _ => {}
        }
    }
}

/// `connections` workers, each with its own keep-alive connection, for `secs` seconds; with
/// `rate`, the workers together send at most that many requests per second.
async fn load(
    target: &Target,
    mix: Mix,
    connections: usize,
    secs: f64,
    rate: Option<f64>,
    live: Arc<Live>,
) -> Series {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let cpu_before = cpu_time();
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            let target = target.clone();
            let live = live.clone();
            let interval = rate.map(|r| Duration::from_secs_f64(connections as f64 / r));
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let mut worker = Worker {
                    rng: 0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9),
                    unpaid: VecDeque::new(),
                    paid: VecDeque::new(),
                    series: Series::default(),
                };
                // Paced workers start spread over one interval, not all at once.
                let mut next_send = Instant::now()
                    + interval.map_or(Duration::ZERO, |i| i.mul_f64(w as f64 / connections as f64));
                while Instant::now() < deadline {
                    if let Some(i) = interval {
                        tokio::time::sleep_until(next_send.into()).await;
                        next_send += i;
                    }
                    let (op, method, path, body) = worker.next(mix, &target);
                    let url = format!("{}{path}", target.base);
                    let mut req = client.request(method, url);
                    if let Some(body) = body {
                        req = req.header("content-type", "application/json").body(body);
                    }
                    if op != Op::Echo {
                        for (k, v) in &target.auth {
                            req = req.header(k, v);
                        }
                    }
                    let t = Instant::now();
                    let outcome = match req.send().await {
                        Ok(res) => {
                            let status = res.status();
                            match res.bytes().await {
                                Ok(bytes) if status.is_success() => Ok(bytes),
                                Ok(_) => Err(format!("{op:?} {}", status.as_u16())),
                                Err(e) => Err(format!("{op:?} body: {e}")),
                            }
                        }
                        Err(e) => Err(format!("{op:?} transport: {e}")),
                    };
                    live.requests.fetch_add(1, Ordering::Relaxed);
                    match outcome {
                        Ok(bytes) => {
                            worker
                                .series
                                .ops
                                .entry(op as usize)
                                .or_default()
                                .record(t.elapsed());
                            worker.done(op, &bytes);
                        }
                        Err(e) => {
                            live.failures.fetch_add(1, Ordering::Relaxed);
                            *worker.series.failures.entry(e).or_default() += 1;
                            // A link that cannot be paid or refunded leaves the pool.
                            match op {
                                Op::Pay => drop(worker.unpaid.pop_front()),
                                Op::Refund => drop(worker.paid.pop_front()),
                                _ => {}
                            }
                        }
                    }
                }
                worker.series
            })
        })
        .collect();
    let mut series = Series::default();
    for w in workers {
        series.merge(w.await.unwrap());
    }
    series.elapsed = started.elapsed();
    series.cpu = cpu_time().saturating_sub(cpu_before);
    series
}

/// User and system CPU time of this process so far (`/proc/self/stat`, clock ticks of
/// 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

async fn minimal_axum() -> Target {
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
    Target {
        base: format!("http://{addr}/"),
        auth: vec![],
        stored: Arc::new(vec![]),
    }
}

fn config(dir: &Path) -> Config {
    let mut vars = vec![
        ("PREMIA_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("PREMIA_DATA_DIR".to_string(), dir.display().to_string()),
        // 256 connections plus headroom: no request is refused with 503 for being one too many.
        (
            "PREMIA_SERVER_MAX_IN_FLIGHT".to_string(),
            "4096".to_string(),
        ),
    ];
    // Settings a run may change from the environment (the soak's passivation, sled's cache).
    vars.extend(
        std::env::vars()
            .filter(|(k, _)| k.starts_with("PREMIA_ENGINE_") || k.starts_with("PREMIA_STORE_")),
    );
    Config::from_sources(DEFAULT_TOML, vars).unwrap()
}

/// What seeding did.
struct Seeded {
    links: u64,
    secs: f64,
    statuses: BTreeMap<&'static str, u64>,
    sample: Vec<String>,
}

/// Store `n` links through the engine (the same commits as the API's), spread over
/// 50 carriers × 200 employers, then move some on: 20% paid (completed), of those one in
/// five partly refunded, 8% cancelled; the rest stay active. The webhook fan-out queue is
/// drained before returning, so the server starts with nothing left to do in the background.
async fn seed(dir: &Path, n: u64) -> Seeded {
    let started = Instant::now();
    let config = config(dir);
    let sandbox = Arc::new(Sandbox::new());
    let engine = Engine::start(
        Store::open(dir).unwrap(),
        config.engine(),
        Processors {
            test: sandbox.clone(),
            live: sandbox,
        },
        Arc::new(TestClock::following_system()),
    )
    .await
    .unwrap();
    let webhooks = Webhooks::new(engine.clone(), config.webhooks(), String::new());
    webhooks.start();
    const BATCH: u64 = 50_000;
    let next = Arc::new(AtomicU64::new(0));
    let ids: Arc<Vec<std::sync::OnceLock<ObjectId>>> =
        Arc::new((0..n).map(|_| std::sync::OnceLock::new()).collect());
    let counts: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let mut batch_start = 0;
    while batch_start < n {
        let batch_end = (batch_start + BATCH).min(n);
        next.store(batch_start, Ordering::Relaxed);
        let tasks: Vec<_> = (0..512)
            .map(|_| {
                let (engine, next, ids, counts) =
                    (engine.clone(), next.clone(), ids.clone(), counts.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= batch_end {
                            return;
                        }
                        let link = engine.create_link(ENV, new_link(i)).await.unwrap();
                        ids[i as usize].set(link.id).unwrap();
                        let status = match i % 100 {
                            0..20 => {
                                engine
                                    .pay_link(ENV, link.id, PaymentSource::OnFile)
                                    .await
                                    .unwrap();
                                if i % 5 == 0 {
                                    let one = Cents::positive(100).unwrap();
                                    engine
                                        .refund_link(ENV, link.id, Some(one), None)
                                        .await
                                        .unwrap();
                                    2
                                } else {
                                    1
                                }
                            }
                            20..28 => {
                                engine.cancel_link(ENV, link.id).await.unwrap();
                                3
                            }
                            _ => 0,
                        };
                        counts[status].fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // Memory follows the active set: the actors spawned to pay and cancel go.
        engine.passivate_idle(Duration::ZERO);
        batch_start = batch_end;
        eprintln!(
            "seeded {batch_end} links in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    while !engine.store().queued_events(1).unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    webhooks.stop();
    engine.shutdown().await.unwrap();
    drop(engine);
    let names = ["active", "completed", "partially_refunded", "cancelled"];
    let statuses = names
        .into_iter()
        .zip(counts.iter())
        .map(|(name, c)| (name, c.load(Ordering::Relaxed) as u64))
        .collect();
    let step = (n / 10_000).max(1) as usize;
    let sample = ids
        .iter()
        .step_by(step)
        .map(|id| id.get().unwrap().to_string())
        .collect();
    Seeded {
        links: n,
        secs: started.elapsed().as_secs_f64(),
        statuses,
        sample,
    }
}

fn new_link(i: u64) -> NewLink {
    NewLink {
        carrier_id: carrier(i).parse().unwrap(),
        employer_id: employer(i / CARRIERS).parse().unwrap(),
        policy_id: "682def789abc012345678901".parse().unwrap(),
        amount: Cents::positive(LINK_AMOUNT as i128).unwrap(),
        payment_type: PaymentType::DownPayment,
        premium_cents: None,
        fee_cents: None,
        customer: Customer {
            name: Some("Smith Industries".into()),
            email: Some("billing@smith.example".into()),
            phone: None,
        },
        installment_plan: None,
        metadata: BTreeMap::new(),
        expires_at: None,
    }
}

/// Entity actors resident in the server, from its own metrics.
async fn resident_actors(metrics_url: &str) -> u64 {
    let Ok(response) = reqwest::get(metrics_url).await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("premia_actors_resident"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Resident memory of this process (the server and the generator), MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|s| s.parse().ok())
}

fn report_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/report")
}

fn failures(s: &Series) -> String {
    if s.failures.is_empty() {
        return "0".into();
    }
    let list: Vec<_> = s
        .failures
        .iter()
        .map(|(k, v)| format!("{v}× {k}"))
        .collect();
    format!("{} ({})", s.failed(), list.join(", "))
}

fn main() {
    let secs: f64 = arg("--seconds").unwrap_or(10.0);
    let links: u64 = arg("--links").unwrap_or(1_000_000);
    let soak: Option<u64> = arg("--soak");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let load_before = loadavg();
        let seeded = seed(dir.path(), links).await;
        eprintln!("seeded {links} links in {:.1} s", seeded.secs);
        let server = Server::start(config(dir.path())).await.unwrap();
        let key = server
            .keys()
            .create(NewKey {
                env: ENV,
                scope: Scope::Payments,
                name: Some("load report".into()),
                carriers: vec![],
                employers: vec![],
                rate_limit: Some(u32::MAX),
                require_signature: false,
            })
            .unwrap();
        let premia = Target {
            base: server.base_url(),
            auth: vec![
                ("x-client-id".into(), key.client_id.clone()),
                ("x-client-secret".into(), key.client_secret.clone()),
            ],
            stored: Arc::new(seeded.sample.clone()),
        };
        let minimal = minimal_axum().await;
        let live = Arc::new(Live::default());
        // Warm-up: bcrypt runs once for the key, the first pages come into sled's cache.
        let _ = load(&premia, Mix::Realistic, 16, 2.0, None, live.clone()).await;
        let args: Vec<String> = std::env::args().collect();
        if args.iter().any(|a| a == "--create-only") {
            // For profiling the durable write path: one series, printed, no report.
            for series in [
                load(&premia, Mix::Only(Op::Create), 64, secs, None, live.clone()).await,
                load(&minimal, Mix::Only(Op::Echo), 64, secs, None, live.clone()).await,
            ] {
                let all = series.all();
                eprintln!(
                    "{:.0} req/s, p50 {}, p99 {}, {:.0} µs CPU per request, failed {}",
                    series.rps(),
                    ms(all.pct(0.5)),
                    ms(all.pct(0.99)),
                    series.cpu_per_request(),
                    failures(&series)
                );
            }
            server.stop().await.unwrap();
            return;
        }
        match soak {
            Some(soak_secs) => {
                let has = |flag: &str| args.iter().any(|a| a == flag);
                if has("--minimal") {
                    // The control: the same generator and process, the minimal handler.
                    run_soak(&minimal, soak_secs, &seeded, Mix::Only(Op::Echo)).await
                } else if has("--reads-only") {
                    run_soak(&premia, soak_secs, &seeded, Mix::ReadsOnly).await
                } else {
                    run_soak(&premia, soak_secs, &seeded, Mix::Realistic).await
                }
            }
            None => run_report(&premia, &minimal, secs, &seeded, &load_before).await,
        }
        server.stop().await.unwrap();
    });
}

async fn run_report(
    premia: &Target,
    minimal: &Target,
    secs: f64,
    seeded: &Seeded,
    load_before: &str,
) {
    let live = Arc::new(Live::default());
    let mut mixed = Vec::new();
    let mut baseline = Vec::new();
    for c in CONNECTIONS {
        eprintln!("{c} connections");
        mixed.push(load(premia, Mix::Realistic, c, secs, None, live.clone()).await);
        baseline.push(load(minimal, Mix::Only(Op::Echo), c, secs, None, live.clone()).await);
    }
    // Create-link alone beside the minimal server, in alternating halves so neither profits
    // from running first.
    let (mut create, mut echo) = (Series::default(), Series::default());
    for _ in 0..2 {
        create.merge(
            load(
                premia,
                Mix::Only(Op::Create),
                64,
                secs / 2.0,
                None,
                live.clone(),
            )
            .await,
        );
        echo.merge(
            load(
                minimal,
                Mix::Only(Op::Echo),
                64,
                secs / 2.0,
                None,
                live.clone(),
            )
            .await,
        );
    }
    // Lists alone (no writes, so no wait for a group commit before reading), then the list
    // shapes that must count every active or every stored link, one connection.
    let lists_alone: Vec<Series> = {
        let mut v = Vec::new();
        for c in [1, 16] {
            v.push(load(premia, Mix::ListsOnly, c, secs, None, live.clone()).await);
        }
        v
    };
    let status_only = load(
        premia,
        Mix::Only(Op::ListStatus),
        1,
        secs / 2.0,
        None,
        live.clone(),
    )
    .await;
    let unfiltered = load(
        premia,
        Mix::Only(Op::ListAll),
        1,
        secs / 2.0,
        None,
        live.clone(),
    )
    .await;
    let load_after = loadavg();

    let mut md = String::new();
    let _ = writeln!(md, "# Load report\n");
    let _ = writeln!(
        md,
        "`cargo bench --bench load` (`-- --seconds {secs}`): the real server \
         (`premia::server::Server::start`, in the bench's process, release build, 2 tokio \
         worker threads shared with the load generator) on a fresh temp data dir, over \
         loopback HTTP with keep-alive connections; every write durable before it is \
         answered. Load average before: {load_before}; after: {load_after} (the machine \
         has 2 cores and is shared). CPU per request is this process's user + system CPU \
         time over the series (server, load generator and committer together) divided by \
         the requests answered.\n"
    );
    let _ = writeln!(md, "## Stored links\n");
    let _ = writeln!(
        md,
        "| links | carriers × employers | active | completed | partially_refunded | cancelled | seeding time | links/s |"
    );
    let _ = writeln!(md, "|---:|---|---:|---:|---:|---:|---:|---:|");
    let s = &seeded.statuses;
    let _ = writeln!(
        md,
        "| {} | {CARRIERS} × {EMPLOYERS} | {} | {} | {} | {} | {:.0} s | {:.0} |\n",
        seeded.links,
        s["active"],
        s["completed"],
        s["partially_refunded"],
        s["cancelled"],
        seeded.secs,
        seeded.links as f64 / seeded.secs
    );
    let _ = writeln!(
        md,
        "Seeded through `Engine::create_link`, `pay_link`, `refund_link` and `cancel_link` \
         (512 at a time; the same commits as the API's, webhook fan-out drained), before the \
         server starts on the same data dir.\n"
    );
    let _ = writeln!(md, "## Realistic mix\n");
    let _ = writeln!(
        md,
        "70% reads (30% `GET /payment-links/{{id}}` of a stored link, 20% \
         `?carrier_id=…&status=active&limit=20`, 10% `?employer_id=…&status=completed&limit=20`, \
         10% `?carrier_id=…&limit=20&page=2`), 30% writes (15% create-link, 10% pay through \
         the sandbox test helper, 5% refund of 1 cent). {secs} s per series.\n"
    );
    let _ = writeln!(
        md,
        "| connections | Premia mix req/s | p50 | p99 | failed | CPU per request | minimal axum req/s | p50 | p99 | CPU per request | Premia / minimal |"
    );
    let _ = writeln!(
        md,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for ((c, m), b) in CONNECTIONS.iter().zip(&mixed).zip(&baseline) {
        let (ma, ba) = (m.all(), b.all());
        let _ = writeln!(
            md,
            "| {c} | {:.0} | {} | {} | {} | {:.0} µs | {:.0} | {} | {} | {:.0} µs | {:.0}% |",
            m.rps(),
            ms(ma.pct(0.5)),
            ms(ma.pct(0.99)),
            failures(m),
            m.cpu_per_request(),
            b.rps(),
            ms(ba.pct(0.5)),
            ms(ba.pct(0.99)),
            b.cpu_per_request(),
            100.0 * m.rps() / b.rps()
        );
    }
    let _ = writeln!(md, "\np99 of each operation in the mix:\n");
    let _ = write!(md, "| operation |");
    for c in CONNECTIONS {
        let _ = write!(md, " {c} conn. |");
    }
    let _ = writeln!(md, "\n|---|{}", "---:|".repeat(CONNECTIONS.len()));
    for op in Op::ALL
        .into_iter()
        .filter(|&o| mixed.iter().any(|m| m.op(o).n > 0))
    {
        let _ = write!(md, "| {} |", op.label());
        for m in &mixed {
            let _ = write!(md, " {} |", ms(m.op(op).pct(0.99)));
        }
        let _ = writeln!(md);
    }

    let _ = writeln!(md, "\n## Lists over {} stored links\n", seeded.links);
    let _ = writeln!(md, "| series | connections | req/s | p50 | p99 | failed |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    for (name, c, s) in [
        ("the mix's three list shapes alone", 1, &lists_alone[0]),
        ("the mix's three list shapes alone", 16, &lists_alone[1]),
        ("the same, inside the realistic mix", 16, &mixed[1]),
        ("the same, inside the realistic mix", 64, &mixed[2]),
        (Op::ListStatus.label(), 1, &status_only),
        (Op::ListAll.label(), 1, &unfiltered),
    ] {
        let h = if s.lists().n > 0 { s.lists() } else { s.all() };
        let rps = h.n as f64 / s.elapsed.as_secs_f64();
        let _ = writeln!(
            md,
            "| {name} | {c} | {rps:.0} | {} | {} | {} |",
            ms(h.pct(0.5)),
            ms(h.pct(0.99)),
            failures(s)
        );
    }

    let list_alone = lists_alone[1].lists();
    let list_ok = list_alone.pct(0.99) < Duration::from_millis(20);
    let list_at_64 = mixed[2].lists();
    let list_mix_ok = list_at_64.pct(0.99) < Duration::from_millis(20);
    let ratio = create.rps() / echo.rps();
    let create_p99 = create.all().pct(0.99);
    let create_ok = ratio >= 0.40 && create_p99 < Duration::from_millis(25);
    let _ = writeln!(md, "\n## Durable create-link alone, 64 connections\n");
    let _ = writeln!(
        md,
        "| series | req/s | p50 | p99 | failed | CPU per request |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    for (name, s) in [
        ("Premia `POST /api/v1/payment-links` (durable)", &create),
        ("minimal axum JSON handler", &echo),
    ] {
        let h = s.all();
        let _ = writeln!(
            md,
            "| {name} | {:.0} | {} | {} | {} | {:.0} µs |",
            s.rps(),
            ms(h.pct(0.5)),
            ms(h.pct(0.99)),
            failures(s),
            s.cpu_per_request()
        );
    }
    let _ = writeln!(md, "\n## Targets\n");
    let _ = writeln!(md, "| target | measured | met |");
    let _ = writeln!(md, "|---|---|---|");
    let _ = writeln!(
        md,
        "| durable create-link ≥ 40% of minimal axum at 64 connections, p99 < 25 ms | {:.0}%, p99 {} | {} |",
        100.0 * ratio,
        ms(create_p99),
        if create_ok { "yes" } else { "**no**" }
    );
    let _ = writeln!(
        md,
        "| list with filters p99 < 20 ms with {} stored links: lists alone, 16 connections | p99 {} (p50 {}) | {} |",
        seeded.links,
        ms(list_alone.pct(0.99)),
        ms(list_alone.pct(0.5)),
        if list_ok { "yes" } else { "**no**" }
    );
    let _ = writeln!(
        md,
        "| the same inside the realistic mix, 64 connections | p99 {} (p50 {}) | {} |",
        ms(list_at_64.pct(0.99)),
        ms(list_at_64.pct(0.5)),
        if list_mix_ok { "yes" } else { "**no**" }
    );
    let _ = writeln!(md, "\nList p99 in the mix at each concurrency: {}.", {
        let v: Vec<_> = CONNECTIONS
            .iter()
            .zip(&mixed)
            .map(|(c, m)| format!("{c}: {}", ms(m.lists().pct(0.99))))
            .collect();
        v.join(", ")
    });
    let _ = writeln!(
        md,
        "\n![Throughput and p99 latency against connections](plot.svg)"
    );

    let dir = report_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report.md"), &md).unwrap();
    plot(&dir.join("plot.svg"), &mixed, &baseline);
    println!("{md}");
}

/// Throughput (left) and p99 latency (right) against connections, log scale.
fn plot(path: &Path, mixed: &[Series], baseline: &[Series]) {
    let root = SVGBackend::new(path, (1100, 420)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let (left, right) = root.split_horizontally(550);
    let xs: Vec<f64> = CONNECTIONS.iter().map(|&c| c as f64).collect();
    let rps_max = mixed
        .iter()
        .chain(baseline)
        .map(|s| s.rps())
        .fold(0.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&left)
        .caption("Throughput (requests/s)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d((1f64..256f64).log_scale(), 0f64..rps_max)
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("connections")
        .x_labels(9)
        .draw()
        .unwrap();
    let series: [(&str, &[Series], RGBColor); 2] = [
        ("Premia, realistic mix", mixed, BLUE),
        ("minimal axum", baseline, RED),
    ];
    for (name, data, color) in series {
        chart
            .draw_series(LineSeries::new(
                xs.iter().zip(data).map(|(&x, s)| (x, s.rps())),
                color.stroke_width(2),
            ))
            .unwrap()
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .unwrap();

    let p99 = |h: Histogram| h.pct(0.99).as_secs_f64() * 1e3;
    let lines: [(&str, Vec<f64>, RGBColor); 4] = [
        (
            "Premia mix, all",
            mixed.iter().map(|s| p99(s.all())).collect(),
            BLUE,
        ),
        (
            "lists with filters",
            mixed.iter().map(|s| p99(s.lists())).collect(),
            GREEN,
        ),
        (
            "create-link",
            mixed.iter().map(|s| p99(s.op(Op::Create))).collect(),
            MAGENTA,
        ),
        (
            "minimal axum",
            baseline.iter().map(|s| p99(s.all())).collect(),
            RED,
        ),
    ];
    let ms_max = lines
        .iter()
        .flat_map(|(_, v, _)| v.iter().copied())
        .fold(0.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&right)
        .caption("p99 latency (ms)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d((1f64..256f64).log_scale(), 0f64..ms_max.max(1.0))
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("connections")
        .x_labels(9)
        .draw()
        .unwrap();
    for (name, values, color) in lines {
        chart
            .draw_series(LineSeries::new(
                xs.iter().copied().zip(values),
                color.stroke_width(2),
            ))
            .unwrap()
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .unwrap();
    root.present().unwrap();
}

/// Half the peak rate of the mix at 64 connections for `secs`, RSS sampled every 5 s.
async fn run_soak(premia: &Target, secs: u64, seeded: &Seeded, mix: Mix) {
    const CONNS: usize = 64;
    const SAMPLE: Duration = Duration::from_secs(5);
    let live = Arc::new(Live::default());
    let peak = load(premia, mix, CONNS, 10.0, None, live.clone()).await;
    let rate = peak.rps() / 2.0;
    eprintln!(
        "peak {:.0} req/s; soaking at {rate:.0} req/s for {secs} s",
        peak.rps()
    );
    let live = Arc::new(Live::default());
    let sampler = {
        let live = live.clone();
        let metrics = format!("{}/metrics", premia.base);
        tokio::spawn(async move {
            let started = Instant::now();
            let mut samples = vec![(0.0, rss_mib(), 0, 0, resident_actors(&metrics).await)];
            loop {
                tokio::time::sleep(SAMPLE).await;
                let t = started.elapsed().as_secs_f64();
                let sample = (
                    t,
                    rss_mib(),
                    live.requests.load(Ordering::Relaxed),
                    live.failures.load(Ordering::Relaxed),
                    resident_actors(&metrics).await,
                );
                eprintln!(
                    "{:.0} s: RSS {:.0} MiB, {} requests, {} failed, {} resident actors",
                    sample.0, sample.1, sample.2, sample.3, sample.4
                );
                samples.push(sample);
                if t >= secs as f64 {
                    return samples;
                }
            }
        })
    };
    let soaked = load(premia, mix, CONNS, secs as f64, Some(rate), live.clone()).await;
    let samples = sampler.await.unwrap();
    let warm_up = (secs as f64 / 5.0).min(120.0);
    let at_warm = samples.iter().find(|s| s.0 >= warm_up).map_or(0.0, |s| s.1);
    let max_after = samples
        .iter()
        .filter(|s| s.0 >= warm_up)
        .map(|s| s.1)
        .fold(0.0, f64::max);
    let end = samples.last().map_or(0.0, |s| s.1);
    let growth = 100.0 * (max_after / at_warm - 1.0);
    let requests_at_warm = samples.iter().find(|s| s.0 >= warm_up).map_or(0, |s| s.2);
    let requests_after = samples
        .last()
        .map_or(0, |s| s.2)
        .saturating_sub(requests_at_warm);
    let bytes_per_request = (end - at_warm) * 1024.0 * 1024.0 / requests_after.max(1) as f64;
    let all = soaked.all();
    let ok = growth <= 10.0 && soaked.failed() == 0;

    let mut md = String::new();
    let _ = writeln!(md, "# Soak\n");
    let _ = writeln!(
        md,
        "`cargo bench --bench load -- --soak {secs}{}{}`: the {} at {CONNS} connections, \
         paced at half the peak rate measured just before ({:.0} req/s peak, {rate:.0} req/s \
         target), for {secs} s, over {} stored links. RSS is this process's (server and load \
         generator together; the generator's memory is fixed-size), sampled every {} s. \
         Entity actors passivate after {} s in this run.\n",
        if seeded.links == 1_000_000 {
            String::new()
        } else {
            format!(" --links {}", seeded.links)
        },
        if mix == Mix::ReadsOnly {
            " --reads-only"
        } else {
            ""
        },
        if mix == Mix::ReadsOnly {
            "mix's reads alone (no writes)"
        } else {
            "realistic mix"
        },
        peak.rps(),
        seeded.links,
        SAMPLE.as_secs(),
        std::env::var("PREMIA_ENGINE_PASSIVATE_AFTER_SECS")
            .unwrap_or_else(|_| "300 (default)".into())
    );
    let _ = writeln!(md, "| requests | req/s | p50 | p99 | failed | RSS at {warm_up:.0} s (warm-up end) | RSS max after | RSS at end | growth after warm-up | growth per request after warm-up | met |");
    let _ = writeln!(
        md,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let _ = writeln!(
        md,
        "| {} | {:.0} | {} | {} | {} | {at_warm:.0} MiB | {max_after:.0} MiB | {end:.0} MiB | {growth:+.1}% | {bytes_per_request:.0} bytes | {} |\n",
        all.n,
        soaked.rps(),
        ms(all.pct(0.5)),
        ms(all.pct(0.99)),
        failures(&soaked),
        if ok { "yes" } else { "**no**" }
    );
    let _ = writeln!(
        md,
        "| time (s) | RSS (MiB) | requests so far | failed so far | resident actors |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|");
    for (t, rss, n, f, actors) in samples.iter().step_by(6) {
        let _ = writeln!(md, "| {t:.0} | {rss:.0} | {n} | {f} | {actors} |");
    }
    let dir = report_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let name = match mix {
        Mix::ReadsOnly => "soak-reads-only.md",
        Mix::Only(Op::Echo) => "soak-minimal.md",
        _ => "soak.md",
    };
    std::fs::write(dir.join(name), &md).unwrap();
    println!("{md}");
    if !ok {
        eprintln!("soak target not met");
    }
}
