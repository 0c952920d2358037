//! The virtual actors: one command at a time per entity, passivation, supervision.

mod support;

use premia::{EngineError, PaymentSource};
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_refunds_to_one_link_apply_one_at_a_time_with_no_lost_update() {
    let t = TestEngine::start().await;
    let link = t.paid_link(1_000_000).await;
    let refunds = (0..1000).map(|_| {
        let engine = t.engine.clone();
        tokio::spawn(async move {
            engine
                .refund_link(ENV, link.id, Some(cents(1)), None)
                .await
                .map(|l| l.version)
        })
    });
    let mut versions: Vec<u64> = futures::future::join_all(refunds)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    versions.sort();
    // Each refund saw the one before it: versions 3..=1002, each exactly once.
    assert_eq!(versions, (3..=1002).collect::<Vec<u64>>());
    let after = t.reload_link(link.id).await;
    assert_eq!(after.machine.data().refunded.get(), 1000);
    assert_eq!(
        t.engine.store().audit_trail(ENV, link.id).unwrap().len(),
        1002
    );
    let payment = t
        .engine
        .store()
        .payment(ENV, link.payment_id.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(payment.machine.data().refunded.get(), 1000);
}

#[tokio::test]
async fn a_passivated_entity_comes_back_on_its_next_command_with_its_state() {
    let t = TestEngine::start().await;
    let link = t.paid_link(10_000).await;
    assert_eq!(t.engine.stats().links_resident, 1);
    assert_eq!(t.engine.passivate_idle(Duration::ZERO), 1);
    assert_eq!(t.engine.stats().links_resident, 0);
    let refunded = t
        .engine
        .refund_link(ENV, link.id, Some(cents(2_500)), None)
        .await
        .unwrap();
    assert_eq!(refunded.machine.state_name(), "partially_refunded");
    assert_eq!(refunded.version, link.version + 1);
    assert_eq!(t.engine.stats().links_resident, 1);
}

#[tokio::test]
async fn idle_actors_are_passivated_by_the_engine_itself() {
    let temp = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.passivate_after = Duration::from_millis(200);
    let t = TestEngine::open(temp.path(), cfg).await;
    let link = t.paid_link(10_000).await;
    assert_eq!(t.engine.stats().links_resident, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while t.engine.stats().links_resident > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle actor was never passivated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        t.engine
            .cancel_link(ENV, link.id)
            .await
            .unwrap_err()
            .to_string(),
        "Cancel is not allowed for a payment link that is completed"
    );
}

#[tokio::test]
async fn passivation_racing_with_commands_never_loses_one() {
    let t = TestEngine::start().await;
    let link = t.paid_link(1_000_000).await;
    let engine = t.engine.clone();
    let passivator = tokio::spawn(async move {
        let mut stopped = 0;
        for _ in 0..2000 {
            stopped += engine.passivate_idle(Duration::ZERO);
            tokio::task::yield_now().await;
        }
        stopped
    });
    for _ in 0..300 {
        t.engine
            .refund_link(ENV, link.id, Some(cents(1)), None)
            .await
            .unwrap();
    }
    assert!(passivator.await.unwrap() > 0, "the race was exercised");
    assert_eq!(
        t.reload_link(link.id).await.machine.data().refunded.get(),
        300
    );
}

#[tokio::test]
async fn a_panicking_actor_is_respawned_from_its_snapshot() {
    let t = TestEngine::start().await;
    let link = t.link(10_000).await;
    t.engine
        .pay_link(
            ENV,
            link.id,
            PaymentSource::Card(premia::processor::TEST_CARD_DECLINED.into()),
        )
        .await
        .unwrap();
    t.sandbox.panic_next(link.id);
    let err = t
        .engine
        .pay_link(ENV, link.id, PaymentSource::OnFile)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Unavailable(_)), "{err}");
    // The supervisor saw the failure; the next command gets a fresh actor with the old state.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while t.engine.stats().restarts == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the supervisor never saw the failure"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let paid = t
        .engine
        .pay_link(ENV, link.id, PaymentSource::OnFile)
        .await
        .unwrap();
    assert_eq!(paid.machine.state_name(), "completed");
    assert_eq!(
        paid.machine.data().failed_attempts,
        1,
        "the declined attempt before the panic was kept"
    );
    assert_eq!(paid.version, 3);
}
