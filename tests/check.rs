//! `premia check`: a store that kept its promises passes; each kind of broken promise is
//! named; the binary exits 0 or 1 accordingly.

mod support;

use premia::actors::link_expiry_timer;
use premia::check::check;
use premia::domain::{EntityKind, EntityRef, Timer, TimerKind};
use premia::store::Commit;
use premia::PaymentSource;
use std::process::Command;
use support::*;

/// A store with links in several states, a plan subscription and a direct subscription.
async fn busy_engine(dir: &std::path::Path) -> TestEngine {
    let t = TestEngine::open(dir, config()).await;
    let e = &t.engine;
    let plan = e
        .create_link(ENV, new_link(10_000, Some((3, 1_000))))
        .await
        .unwrap();
    e.pay_link(ENV, plan.id, PaymentSource::OnFile)
        .await
        .unwrap();
    e.refund_link(ENV, plan.id, Some(cents(500)), None)
        .await
        .unwrap();
    let cancelled = e.create_link(ENV, new_link(2_000, None)).await.unwrap();
    e.cancel_link(ENV, cancelled.id).await.unwrap();
    e.create_link(ENV, new_link(3_000, None)).await.unwrap();
    e.create_subscription(ENV, new_subscription(2_500, Some(2), None))
        .await
        .unwrap();
    e.advance_clock(40 * DAY).await.unwrap();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_kept_its_promises_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let t = busy_engine(dir.path()).await;
    let report = check(t.engine.store()).unwrap();
    assert!(report.is_clean(), "{:#?}", report.violations);
    assert_eq!(report.links, 3);
    assert_eq!(report.subscriptions, 2);
    assert!(report.events >= 8, "{} events", report.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_timer_and_a_stray_timer_are_both_named() {
    let t = TestEngine::start().await;
    let link = t
        .engine
        .create_link(ENV, new_link(3_000, None))
        .await
        .unwrap();
    let expiry = link_expiry_timer(&link).expect("links expire");
    let stray = Timer {
        entity: EntityRef {
            env: ENV,
            kind: EntityKind::Subscription,
            id: id(),
        },
        due: START,
        kind: TimerKind::InstallmentDue,
        cycle: 1,
        attempt: 0,
    };
    let mut commit = Commit::new();
    commit.clear_timer(&expiry);
    commit.set_timer(&stray);
    t.engine.store().apply_durable(commit).await;

    let report = check(t.engine.store()).unwrap();
    let all = report.violations.join("\n");
    assert_eq!(report.violations.len(), 2, "{all}");
    assert!(
        all.contains(&format!("{} expects a LinkExpiry timer", link.id)),
        "{all}"
    );
    assert!(
        all.contains(&format!("InstallmentDue of {}", stray.entity.id)),
        "{all}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_0_on_a_clean_store_and_1_listing_violations() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let t = busy_engine(&dir).await;
    let link = t
        .engine
        .create_link(ENV, new_link(3_000, None))
        .await
        .unwrap();
    t.engine.shutdown().await.unwrap();
    drop(t);
    let premia = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_premia"));
        c.env("PREMIA_DATA_DIR", &dir).arg("check");
        c
    };
    let out = premia().output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("checked 4 payment links, 2 subscriptions"),
        "{text}"
    );

    // Break one promise behind the engine's back: an active link loses its expiry timer.
    {
        let store = premia::Store::open(&dir).unwrap();
        let mut commit = Commit::new();
        commit.clear_timer(&link_expiry_timer(&link).unwrap());
        store.apply_durable(commit).await;
        store.close().unwrap();
    }
    let out = premia().output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("1 violations"), "{text}");
    assert!(text.contains(&link.id.to_hex()), "{text}");
}
