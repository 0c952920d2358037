//! Subscriptions through the engine: the spec's down payment → installments flow, dunning,
//! cancellation, and the exactly-once creation of a plan's subscription.

mod support;

use premia::actors::plan_subscription_id;
use premia::PaymentSource;
use support::*;

#[tokio::test]
async fn a_down_payment_with_a_plan_bills_ten_installments_then_completes() {
    let t = TestEngine::start().await;
    let link = t
        .engine
        .create_link(ENV, new_link(250_000, Some((10, 75_000))))
        .await
        .unwrap();
    let paid = t
        .engine
        .pay_link(ENV, link.id, PaymentSource::OnFile)
        .await
        .unwrap();
    let sub_id = paid
        .subscription_id
        .expect("the plan started a subscription");
    assert_eq!(sub_id, plan_subscription_id(link.id));
    let sub = t.reload_subscription(sub_id).await;
    assert_eq!(sub.machine.state_name(), "active");
    assert_eq!(sub.machine.data().terms.amount.get(), 75_000);
    // Paid on Jan 31: installments fall on Feb 28, Mar 31, Apr 30, ... (clamped, never drifting).
    assert_eq!(
        sub.machine.data().next_billing_at.unwrap().to_rfc3339(),
        "2025-02-28T10:00:00.000Z"
    );

    for month in 1..=10 {
        t.engine.advance_clock(31 * DAY).await.unwrap();
        let sub = t.reload_subscription(sub_id).await;
        assert_eq!(sub.machine.data().paid_count, month, "after month {month}");
    }
    let sub = t.reload_subscription(sub_id).await;
    assert_eq!(sub.machine.state_name(), "completed");
    assert_eq!(sub.machine.data().paid_cents(), 750_000);
    assert_eq!(sub.pending_timer, None);
    let installment_payments = t
        .engine
        .store()
        .payments(ENV)
        .unwrap()
        .into_iter()
        .filter(|p| p.parent.id == sub_id)
        .count();
    assert_eq!(installment_payments, 10);
}

#[tokio::test]
async fn a_failed_installment_goes_past_due_and_a_successful_retry_restores_it() {
    let t = TestEngine::start().await;
    let sub = t
        .engine
        .create_subscription(
            ENV,
            new_subscription(10_000, Some(3), Some(START.plus_seconds(DAY))),
        )
        .await
        .unwrap();
    t.sandbox.fail_next(sub.id, 1);
    t.engine.advance_clock(DAY).await.unwrap();
    let s = t.reload_subscription(sub.id).await;
    assert_eq!(s.machine.state_name(), "past_due");
    assert_eq!(s.machine.data().failed_attempts, 1);
    t.engine.advance_clock(DAY).await.unwrap();
    let s = t.reload_subscription(sub.id).await;
    assert_eq!(s.machine.state_name(), "active");
    assert_eq!(s.machine.data().paid_count, 1);
    let kinds: Vec<String> = t
        .engine
        .store()
        .outbox_events(ENV)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "subscription.created",
            "installment.failed",
            "subscription.past_due",
            "installment.paid"
        ]
    );
}

#[tokio::test]
async fn when_every_retry_fails_the_subscription_is_cancelled_for_nonpayment() {
    let t = TestEngine::start().await;
    let sub = t
        .engine
        .create_subscription(
            ENV,
            new_subscription(10_000, None, Some(START.plus_seconds(DAY))),
        )
        .await
        .unwrap();
    t.sandbox.fail_next(sub.id, 3);
    t.engine.advance_clock(DAY).await.unwrap();
    t.engine.advance_clock(DAY).await.unwrap();
    assert_eq!(
        t.reload_subscription(sub.id).await.machine.state_name(),
        "past_due"
    );
    t.engine.advance_clock(3 * DAY).await.unwrap();
    let s = t.reload_subscription(sub.id).await;
    assert_eq!(s.machine.state_name(), "cancelled");
    assert!(s.machine.data().cancelled_for_nonpayment);
    assert!(t.engine.store().timers(ENV).unwrap().is_empty());
}

#[tokio::test]
async fn cancelling_a_subscription_removes_its_pending_timer() {
    let t = TestEngine::start().await;
    let sub = t
        .engine
        .create_subscription(
            ENV,
            new_subscription(10_000, None, Some(START.plus_seconds(DAY))),
        )
        .await
        .unwrap();
    assert_eq!(t.engine.store().timers(ENV).unwrap().len(), 1);
    let cancelled = t.engine.cancel_subscription(ENV, sub.id).await.unwrap();
    assert_eq!(cancelled.machine.state_name(), "cancelled");
    assert!(t.engine.store().timers(ENV).unwrap().is_empty());
    t.engine.advance_clock(40 * DAY).await.unwrap();
    assert_eq!(
        t.reload_subscription(sub.id)
            .await
            .machine
            .data()
            .paid_count,
        0
    );
}

#[tokio::test]
async fn an_open_ended_quarterly_subscription_keeps_billing() {
    let t = TestEngine::start().await;
    let mut new = new_subscription(30_000, None, None);
    new.interval = state_machines::Interval::Quarterly;
    let sub = t.engine.create_subscription(ENV, new).await.unwrap();
    t.engine.fire_due(ENV).await.unwrap();
    t.engine.advance_clock(365 * DAY).await.unwrap();
    let s = t.reload_subscription(sub.id).await;
    // Jan 31 then Apr 30, Jul 31, Oct 31 and Jan 31 of the next year: five installments.
    assert_eq!(s.machine.data().paid_count, 5);
    assert_eq!(s.machine.state_name(), "active");
}

#[tokio::test]
async fn the_plan_subscription_is_created_exactly_once_however_often_the_link_is_paid() {
    let t = TestEngine::start().await;
    let link = t
        .engine
        .create_link(ENV, new_link(250_000, Some((10, 75_000))))
        .await
        .unwrap();
    let attempts = (0..50).map(|_| {
        let engine = t.engine.clone();
        tokio::spawn(async move { engine.pay_link(ENV, link.id, PaymentSource::OnFile).await })
    });
    let results = futures::future::join_all(attempts).await;
    let successes = results
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(successes, 1);
    let t = t.restart().await;
    let err = t
        .engine
        .pay_link(ENV, link.id, PaymentSource::OnFile)
        .await
        .unwrap_err();
    assert!(matches!(err, premia::EngineError::Rejected(_)));
    let subs = t.engine.store().subscriptions(ENV).unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].source_link_id, Some(link.id));
    let created = t
        .engine
        .store()
        .outbox_events(ENV)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "subscription.created")
        .count();
    assert_eq!(created, 1);
}
