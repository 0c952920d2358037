//! kill -9: a child process drives concurrent transitions and prints each acknowledgement
//! (after the engine answered, i.e. after it was durable); the parent SIGKILLs it at a random
//! moment, reopens the store and checks that every acknowledged transition is there and that
//! every invariant holds. Rounds reuse the data dir, so each also recovers from the last crash.
//!
//! `PREMIA_CRASH_ROUNDS` sets the number of rounds (default 3).

mod support;

use premia::domain::{Environment, ObjectId};
use premia::{PaymentSource, Store};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const CHILD_VAR: &str = "PREMIA_CRASH_CHILD_DIR";

fn main() {
    match std::env::var(CHILD_VAR) {
        Ok(dir) => child(dir.into()),
        Err(_) => parent(),
    }
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b) % n
}

/// The workload: many tasks creating, paying, refunding and cancelling links, creating
/// subscriptions, and advancing the sandbox clock, until killed.
fn child(dir: std::path::PathBuf) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let t = TestEngine::open(&dir, config()).await;
        println!("ready");
        let mut tasks = Vec::new();
        for worker in 0..32u64 {
            let engine = t.engine.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let plan = (n % 3 == 0).then_some((3, 1_000));
                    let link = engine
                        .create_link(ENV, new_link(10_000, plan))
                        .await
                        .unwrap();
                    println!("create {}", link.id);
                    if (n + worker) % 5 == 0 {
                        engine.cancel_link(ENV, link.id).await.unwrap();
                        println!("cancel {}", link.id);
                        continue;
                    }
                    engine
                        .pay_link(ENV, link.id, PaymentSource::OnFile)
                        .await
                        .unwrap();
                    println!("pay {}", link.id);
                    for _ in 0..(n % 4) {
                        let l = engine
                            .refund_link(ENV, link.id, Some(cents(700)), None)
                            .await
                            .unwrap();
                        println!(
                            "refund {} {} {}",
                            link.id,
                            l.version,
                            l.machine.data().refunded.get()
                        );
                    }
                    if n % 7 == 0 {
                        let sub = engine
                            .create_subscription(ENV, new_subscription(2_500, Some(2), None))
                            .await
                            .unwrap();
                        println!("sub {}", sub.id);
                    }
                }
            }));
        }
        let engine = t.engine.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let now = engine.advance_clock(DAY).await.unwrap();
                println!("advance {}", now.millis());
            }
        }));
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[derive(Default)]
struct Acks {
    created: HashSet<ObjectId>,
    paid: HashSet<ObjectId>,
    cancelled: HashSet<ObjectId>,
    /// Highest acknowledged (version, refunded) per link.
    refunds: HashMap<ObjectId, (u64, u64)>,
    subscriptions: HashSet<ObjectId>,
    clock: i64,
    count: usize,
}

impl Acks {
    fn record(&mut self, line: &str) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let id = || parts[1].parse::<ObjectId>().unwrap();
        match parts[0] {
            "create" => drop(self.created.insert(id())),
            "pay" => drop(self.paid.insert(id())),
            "cancel" => drop(self.cancelled.insert(id())),
            "refund" => {
                let v = (parts[2].parse().unwrap(), parts[3].parse().unwrap());
                let e = self.refunds.entry(id()).or_default();
                *e = (*e).max(v);
            }
            "sub" => drop(self.subscriptions.insert(id())),
            "advance" => self.clock = self.clock.max(parts[1].parse().unwrap()),
            _ => return,
        }
        self.count += 1;
    }
}

fn parent() {
    let rounds: usize = std::env::var("PREMIA_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let mut acks = Acks::default();
    for round in 1..=rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_VAR, dir.path())
            .env("RUST_LOG", "off")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready", "the child started");
        let kill_after = Duration::from_millis(200 + random_below(1300));
        let reader = std::thread::spawn(move || lines.map(|l| l.unwrap()).collect::<Vec<String>>());
        let started = Instant::now();
        std::thread::sleep(kill_after);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let before = acks.count;
        for line in reader.join().unwrap() {
            acks.record(&line);
        }
        println!(
            "round {round}: killed after {:?}, {} acknowledgements",
            started.elapsed(),
            acks.count - before
        );
        verify(dir.path(), &acks);
    }
    assert!(acks.count > 0, "the child acknowledged nothing");
    println!(
        "crash test: {rounds} rounds, {} acknowledged writes all present",
        acks.count
    );
    println!("{rounds} passed, 0 failed");
}

fn verify(dir: &std::path::Path, acks: &Acks) {
    let env = Environment::Test;
    let store = Store::open(dir).unwrap();
    let links: HashMap<ObjectId, _> = store
        .links(env)
        .unwrap()
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    for id in &acks.created {
        assert!(links.contains_key(id), "acknowledged link {id} is missing");
    }
    for id in &acks.paid {
        let state = links[id].machine.state_name();
        assert!(
            ["completed", "partially_refunded", "refunded"].contains(&state),
            "paid link {id} is {state}"
        );
    }
    for id in &acks.cancelled {
        assert_eq!(
            links[id].machine.state_name(),
            "cancelled",
            "cancelled link {id}"
        );
    }
    for (id, (version, refunded)) in &acks.refunds {
        let link = &links[id];
        assert!(
            link.version >= *version,
            "link {id} lost a refund: version {} < {version}",
            link.version
        );
        assert!(
            link.machine.data().refunded.get() >= *refunded,
            "link {id} lost a refund"
        );
    }
    let subs: HashMap<ObjectId, _> = store
        .subscriptions(env)
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    for id in &acks.subscriptions {
        assert!(
            subs.contains_key(id),
            "acknowledged subscription {id} is missing"
        );
    }
    // Every invariant of every record, trail, event, index and timer: `premia check`.
    let report = premia::check::check(&store).unwrap();
    assert!(
        report.is_clean(),
        "premia check after the crash:\n{}",
        report.violations.join("\n")
    );
    if acks.clock > 0 {
        let offset = i64::from_be_bytes(
            store
                .meta("test_clock_offset_ms")
                .unwrap()
                .unwrap()
                .try_into()
                .unwrap(),
        );
        assert!(
            START.millis() + offset >= acks.clock,
            "the sandbox clock went back"
        );
    }
}
