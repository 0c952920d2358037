//! Engine benchmark, one run, one report:
//! - durable engine transitions/s with 1, 64 and 1,024 concurrent entities, beside the raw
//!   sled group-commit baseline (plain durable 512-byte inserts through the same committer)
//!   at the same concurrency, and their ratio;
//! - resident memory with 100,000 entities live versus passivated;
//! - how fast 100,000 installments due at the same instant are processed.
//!
//! Run: `cargo bench --bench engine` (add `-- --quick` for a smaller, faster run).

use premia::processor::TEST_CARD_DECLINED;
use premia::{Engine, EngineConfig, PaymentSource, Processors, Sandbox, Store, TestClock};
use state_machines::{Dunning, OnExhausted};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// The same allocator as the binary: sled's page copies are allocation-heavy.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/mod.rs"]
mod support;

use support::{cents, new_subscription, DAY, ENV, START};

fn link(amount: u64) -> premia::domain::NewLink {
    support::new_link(amount, None)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if let Some(n) = std::env::args().skip_while(|a| a != "--memory-only").nth(1) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(memory(n.parse().unwrap()));
        return;
    }
    if let Some(n) = std::env::args()
        .skip_while(|a| a != "--installments-only")
        .nth(1)
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(due_installments(n.parse().unwrap()));
        return;
    }
    if let Some(n) = std::env::args().skip_while(|a| a != "--engine-only").nth(1) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ops = rt.block_on(engine_transitions(
            n.parse().unwrap(),
            Duration::from_secs(5),
        ));
        println!("engine transitions/s at {n}: {ops:.0}");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(quick));
}

async fn run(quick: bool) {
    let secs = if quick { 2 } else { 5 };
    let entities = if quick { 20_000 } else { 100_000 };
    println!(
        "# Premia engine benchmark ({} s per throughput point, {entities} entities)\n",
        secs
    );
    println!("| concurrency | raw durable inserts/s | engine transitions/s | engine / raw |");
    println!("|---:|---:|---:|---:|");
    for concurrency in [1usize, 64, 1024] {
        let raw = raw_baseline(concurrency, Duration::from_secs(secs)).await;
        let engine = engine_transitions(concurrency, Duration::from_secs(secs)).await;
        println!(
            "| {concurrency} | {raw:.0} | {engine:.0} | {:.0}% |",
            100.0 * engine / raw
        );
    }
    println!();
    memory(entities).await;
    println!();
    due_installments(entities).await;
}

fn config() -> EngineConfig {
    EngineConfig {
        passivate_after: Duration::from_secs(3600),
        max_resident: usize::MAX,
        link_lifetime: None,
        dunning: Dunning {
            retry_after_secs: vec![DAY],
            on_exhausted: OnExhausted::Cancel,
        },
        firing_concurrency: 1024,
        max_mailbox: 1 << 20,
    }
}

async fn engine_in(dir: &std::path::Path) -> Engine {
    let sandbox = Arc::new(Sandbox::new());
    let processors = Processors {
        test: sandbox.clone(),
        live: sandbox,
    };
    Engine::start(
        Store::open(dir).unwrap(),
        config(),
        processors,
        Arc::new(TestClock::frozen(START)),
    )
    .await
    .unwrap()
}

/// Run `task(i)` in `n` concurrent tasks until `duration` passes; operations per second.
async fn drive<F, Fut>(n: usize, duration: Duration, task: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let task = Arc::new(task);
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (stop, done, task) = (stop.clone(), done.clone(), task.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    task(i).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn raw_baseline(concurrency: usize, duration: Duration) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let counter = Arc::new(AtomicU64::new(0));
    let value = vec![7u8; 512];
    let s = store.clone();
    let ops = drive(concurrency, duration, move |_| {
        let (store, counter, value) = (s.clone(), counter.clone(), value.clone());
        async move {
            let key = counter.fetch_add(1, Ordering::Relaxed).to_be_bytes();
            let seq = store.put_raw(&key, &value).unwrap();
            store.wait_durable(seq).await;
        }
    })
    .await;
    store.close().unwrap();
    ops
}

/// Each entity is a paid link; each transition a 1-cent refund (machine, payment, snapshot,
/// audit entry, outbox event, one sled transaction, durable before it is answered).
async fn engine_transitions(concurrency: usize, duration: Duration) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_in(dir.path()).await;
    let mut ids = Vec::new();
    for _ in 0..concurrency {
        let l = engine.create_link(ENV, link(1_000_000_000)).await.unwrap();
        engine
            .pay_link(ENV, l.id, PaymentSource::OnFile)
            .await
            .unwrap();
        ids.push(l.id);
    }
    let ids = Arc::new(ids);
    let e = engine.clone();
    let ops = drive(concurrency, duration, move |i| {
        let (engine, id) = (e.clone(), ids[i]);
        async move {
            engine
                .refund_link(ENV, id, Some(cents(1)), None)
                .await
                .unwrap();
        }
    })
    .await;
    engine.shutdown().await.unwrap();
    ops
}

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn trim() {
    // Return freed heap to the OS so RSS shows what is actually held.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

async fn in_parallel<T, F, Fut>(items: Vec<T>, width: usize, f: F)
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::stream::{self, StreamExt};
    stream::iter(items).for_each_concurrent(width, f).await;
}

/// A declined payment is a real transition that leaves each link active and its actor resident.
async fn spawn_all(engine: &Engine, ids: &[premia::domain::ObjectId]) {
    in_parallel(ids.to_vec(), 512, |id| {
        let engine = engine.clone();
        async move {
            engine
                .pay_link(ENV, id, PaymentSource::Card(TEST_CARD_DECLINED.into()))
                .await
                .unwrap();
        }
    })
    .await;
}

async fn memory(entities: usize) {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_in(dir.path()).await;
    let mut ids = Vec::with_capacity(entities);
    for _ in 0..entities {
        ids.push(engine.create_link(ENV, link(10_000)).await.map(|l| l.id));
    }
    let ids: Vec<_> = ids.into_iter().map(Result::unwrap).collect();
    trim();
    let before = rss_mib();
    spawn_all(&engine, &ids).await;
    trim();
    let live = rss_mib();
    let resident = engine.stats().links_resident;
    let passivated = engine.passivate_idle(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(500)).await;
    trim();
    let after = rss_mib();
    // A second cycle: memory that stays flat across cycles is the allocator's reuse, not a leak.
    spawn_all(&engine, &ids).await;
    engine.passivate_idle(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(500)).await;
    trim();
    let second = rss_mib();
    println!("| resident memory | RSS (MiB) |");
    println!("|---|---:|");
    println!("| {entities} links stored, no actor resident | {before:.1} |");
    println!(
        "| {resident} actors live | {live:.1} ({:.2} KiB per live entity) |",
        (live - before) * 1024.0 / resident as f64
    );
    println!("| after passivating {passivated} | {after:.1} |");
    println!("| after a second spawn-and-passivate cycle of all {passivated} | {second:.1} |");
    engine.shutdown().await.unwrap();
}

async fn due_installments(count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_in(dir.path()).await;
    let due = START.plus_seconds(DAY);
    let created_at = Instant::now();
    in_parallel((0..count).collect(), 512, |_| {
        let engine = engine.clone();
        async move {
            let sub = new_subscription(75_000, Some(10), Some(due));
            engine.create_subscription(ENV, sub).await.unwrap();
        }
    })
    .await;
    let create_secs = created_at.elapsed().as_secs_f64();
    let before = engine.stats().transitions;
    let started = Instant::now();
    engine.advance_clock(DAY).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    let fired = engine.stats().transitions - before;
    let paid = engine
        .store()
        .subscriptions(ENV)
        .unwrap()
        .iter()
        .filter(|s| s.machine.data().paid_count == 1)
        .count();
    assert_eq!(paid, count, "every due installment was paid");
    println!("| due installments | value |");
    println!("|---|---:|");
    println!("| subscriptions created (durably, 512 at a time) | {count} in {create_secs:.1} s |");
    println!(
        "| installments due at one instant, all charged and committed | {fired} in {secs:.2} s |"
    );
    println!(
        "| installments processed per second | {:.0} |",
        fired as f64 / secs
    );
    engine.shutdown().await.unwrap();
}
