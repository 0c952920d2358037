//! What is acknowledged is durable: it survives closing and reopening the store, and timers
//! set before a restart fire after it.

mod support;

use premia::domain::Environment;
use premia::Store;
use support::*;

#[tokio::test]
async fn an_acknowledged_transition_survives_reopening_the_store() {
    let t = TestEngine::start().await;
    let link = t.paid_link(42_000).await;
    let refunded = t
        .engine
        .refund_link(ENV, link.id, Some(cents(2_000)), None)
        .await
        .unwrap();
    let t = t.restart().await;
    assert_eq!(t.reload_link(link.id).await, refunded);
    assert_eq!(t.engine.store().audit_trail(ENV, link.id).unwrap().len(), 3);
}

#[tokio::test]
async fn a_store_reopened_without_a_clean_shutdown_has_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let link;
    {
        let t = TestEngine::open(dir.path(), config()).await;
        link = t.paid_link(5_000).await;
        // No shutdown: the engine and store are dropped as they are.
        std::mem::forget(t.engine.clone());
    }
    // The forgotten engine still holds the sled lock in this process; copy the files the
    // way a crash would leave them and open the copy.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    let store = Store::open(copy.path()).unwrap();
    let stored = store.link(Environment::Test, link.id).unwrap().unwrap();
    assert_eq!(stored.machine.state_name(), "completed");
}

#[tokio::test]
async fn timers_set_before_a_restart_fire_after_it() {
    let t = TestEngine::start().await;
    let sub = t
        .engine
        .create_subscription(
            ENV,
            new_subscription(9_900, Some(2), Some(START.plus_seconds(DAY))),
        )
        .await
        .unwrap();
    let link = t.link(1_000).await;
    t.engine.advance_clock(DAY / 2).await.unwrap();
    let t = t.restart().await;
    // The sandbox clock's advance survived the restart too.
    assert_eq!(t.engine.now(ENV), START.plus_seconds(DAY / 2));
    t.engine.advance_clock(DAY / 2).await.unwrap();
    assert_eq!(
        t.reload_subscription(sub.id)
            .await
            .machine
            .data()
            .paid_count,
        1
    );
    t.engine.advance_clock(30 * DAY).await.unwrap();
    assert_eq!(t.reload_link(link.id).await.machine.state_name(), "expired");
    let sub = t.reload_subscription(sub.id).await;
    assert_eq!(sub.machine.state_name(), "completed");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
