//! Payment links through the engine: paying, refunding, cancelling, expiring, the
//! installment plan, and what each writes.

mod support;

use premia::domain::EntityKind;
use premia::{EngineError, PaymentSource};
use support::*;

#[tokio::test]
async fn paying_a_link_completes_it_and_records_a_captured_payment() {
    let t = TestEngine::start().await;
    let link = t.paid_link(250_000).await;
    assert_eq!(link.machine.state_name(), "completed");
    let payment = t
        .engine
        .store()
        .payment(ENV, link.payment_id.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(payment.machine.state_name(), "captured");
    assert_eq!(payment.machine.data().amount.get(), 250_000);
    assert_eq!(payment.parent.kind, EntityKind::PaymentLink);
}

#[tokio::test]
async fn a_declined_card_leaves_the_link_active_and_records_a_failed_payment() {
    let t = TestEngine::start().await;
    let link = t.link(10_000).await;
    let after = t
        .engine
        .pay_link(
            ENV,
            link.id,
            PaymentSource::Card(premia::processor::TEST_CARD_DECLINED.into()),
        )
        .await
        .unwrap();
    assert_eq!(after.machine.state_name(), "active");
    assert_eq!(after.machine.data().failed_attempts, 1);
    let events: Vec<String> = t
        .engine
        .store()
        .outbox_events(ENV)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(events, ["payment_link.created", "payment.failed"]);
    let paid = t
        .engine
        .pay_link(
            ENV,
            link.id,
            PaymentSource::Card(premia::processor::TEST_CARD_OK.into()),
        )
        .await
        .unwrap();
    assert_eq!(paid.machine.state_name(), "completed");
}

#[tokio::test]
async fn refunding_more_than_was_paid_is_rejected_and_changes_nothing() {
    let t = TestEngine::start().await;
    let link = t.paid_link(250_000).await;
    let err = t
        .engine
        .refund_link(ENV, link.id, Some(cents(300_000)), None)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Rejected(_)), "{err}");
    assert_eq!(t.reload_link(link.id).await, link);
}

#[tokio::test]
async fn partial_then_full_refunds_walk_through_partially_refunded_to_refunded() {
    let t = TestEngine::start().await;
    let link = t.paid_link(100_000).await;
    let part = t
        .engine
        .refund_link(ENV, link.id, Some(cents(30_000)), Some("overbilled".into()))
        .await
        .unwrap();
    assert_eq!(part.machine.state_name(), "partially_refunded");
    let rest = t
        .engine
        .refund_link(ENV, link.id, None, None)
        .await
        .unwrap();
    assert_eq!(rest.machine.state_name(), "refunded");
    assert_eq!(rest.machine.data().refunded.get(), 100_000);
    let payment = t
        .engine
        .store()
        .payment(ENV, link.payment_id.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(payment.machine.state_name(), "refunded");
    let err = t
        .engine
        .refund_link(ENV, link.id, Some(cents(1)), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refunded"), "{err}");
}

#[tokio::test]
async fn a_cancelled_link_cannot_be_paid_and_nothing_is_charged() {
    let t = TestEngine::start().await;
    let link = t.link(5_000).await;
    t.engine.cancel_link(ENV, link.id).await.unwrap();
    let err = t
        .engine
        .pay_link(ENV, link.id, PaymentSource::OnFile)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "PaymentSucceeded is not allowed for a payment link that is cancelled"
    );
    assert!(t.engine.store().payments(ENV).unwrap().is_empty());
    assert!(
        t.engine.store().timers(ENV).unwrap().is_empty(),
        "the expiry timer went with the link"
    );
}

#[tokio::test]
async fn an_unpaid_link_expires_when_its_timer_fires() {
    let t = TestEngine::start().await;
    let link = t.link(5_000).await;
    t.engine.advance_clock(29 * DAY).await.unwrap();
    assert_eq!(t.reload_link(link.id).await.machine.state_name(), "active");
    t.engine.advance_clock(DAY).await.unwrap();
    assert_eq!(t.reload_link(link.id).await.machine.state_name(), "expired");
    assert!(t.engine.store().timers(ENV).unwrap().is_empty());
}

#[tokio::test]
async fn every_transition_is_audited_in_order_with_its_event() {
    let t = TestEngine::start().await;
    let link = t.paid_link(100_000).await;
    t.engine
        .refund_link(ENV, link.id, Some(cents(1)), None)
        .await
        .unwrap();
    let trail = t.engine.store().audit_trail(ENV, link.id).unwrap();
    let steps: Vec<(u64, &str, &str)> = trail
        .iter()
        .map(|a| (a.version, a.event.as_str(), a.to.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (1, "Create", "active"),
            (2, "PaymentSucceeded", "completed"),
            (3, "Refund", "partially_refunded")
        ]
    );
    let events: Vec<(String, u64)> = t
        .engine
        .store()
        .outbox_events(ENV)
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.version))
        .collect();
    assert_eq!(
        events,
        [
            ("payment_link.created".into(), 1),
            ("payment.completed".into(), 2),
            ("payment.refunded".into(), 3)
        ]
    );
}

#[tokio::test]
async fn an_unknown_link_is_not_found_and_leaves_no_actor_behind() {
    let t = TestEngine::start().await;
    let err = t
        .engine
        .pay_link(ENV, id(), PaymentSource::OnFile)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::NotFound));
    assert_eq!(t.engine.stats().links_resident, 0);
}

#[tokio::test]
async fn the_other_environment_cannot_see_a_link() {
    let t = TestEngine::start().await;
    let link = t.link(5_000).await;
    let live = premia::domain::Environment::Live;
    assert!(t.engine.link(live, link.id).await.unwrap().is_none());
    assert!(matches!(
        t.engine.cancel_link(live, link.id).await,
        Err(EngineError::NotFound)
    ));
}
