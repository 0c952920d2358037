//! A payment link against a small reference model, over random event sequences (valid and
//! not), plus a few examples that read like the spec.

mod support;

use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use state_machines::payment_link::LinkData;
use state_machines::{Cents, LinkEffect, LinkEvent, PaymentLink, Timestamp};

fn cents(v: u64) -> Cents {
    Cents::try_from(v).expect("in range")
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn paid_link(amount: u64) -> PaymentLink {
    let mut link = PaymentLink::new(cents(amount), None, false);
    link.handle(&LinkEvent::PaymentSucceeded {
        amount: cents(amount),
        now: at(0),
    })
    .unwrap();
    link
}

#[test]
fn refunding_more_than_was_paid_is_rejected_and_changes_nothing() {
    let mut link = paid_link(250_000);
    let before = link.clone();
    let err = link
        .handle(&LinkEvent::Refund {
            amount: cents(300_000),
            now: at(1),
        })
        .unwrap_err();
    assert_eq!(
        err.reason,
        Some("the refund exceeds what remains refundable")
    );
    assert_eq!(link, before);
    assert_eq!(link.state_name(), "completed");
}

#[test]
fn partial_refunds_add_up_to_refunded() {
    let mut link = paid_link(250_000);
    link.handle(&LinkEvent::Refund {
        amount: cents(100_000),
        now: at(1),
    })
    .unwrap();
    assert_eq!(link.state_name(), "partially_refunded");
    assert_eq!(link.refundable(), cents(150_000));
    let effects = link
        .handle(&LinkEvent::Refund {
            amount: cents(150_000),
            now: at(2),
        })
        .unwrap();
    assert_eq!(
        effects,
        vec![LinkEffect::Refunded {
            amount: cents(150_000),
            fully: true
        }]
    );
    assert_eq!(link.state_name(), "refunded");
}

/// Regression: a zero refund used to move `completed` to `partially_refunded` with nothing
/// refunded, a state whose snapshot then failed to restore.
#[test]
fn a_zero_refund_is_rejected() {
    let mut link = paid_link(250_000);
    assert!(link
        .handle(&LinkEvent::Refund {
            amount: Cents::ZERO,
            now: at(1)
        })
        .is_err());
    assert_eq!(link.state_name(), "completed");
    link.check_invariants().unwrap();
}

#[test]
fn a_failed_payment_keeps_the_link_open_for_another_card() {
    let mut link = PaymentLink::new(cents(5_000), None, false);
    link.handle(&LinkEvent::PaymentFailed { now: at(0) })
        .unwrap();
    assert_eq!(
        (link.state_name(), link.data().failed_attempts),
        ("active", 1)
    );
    link.handle(&LinkEvent::PaymentSucceeded {
        amount: cents(5_000),
        now: at(1),
    })
    .unwrap();
    assert_eq!(link.state_name(), "completed");
}

#[test]
fn a_link_expires_only_once_its_time_has_come() {
    let mut link = PaymentLink::new(cents(5_000), Some(at(1_000)), false);
    assert!(link.handle(&LinkEvent::Expire { now: at(999) }).is_err());
    link.handle(&LinkEvent::Expire { now: at(1_000) }).unwrap();
    assert_eq!(link.state_name(), "expired");
}

#[test]
fn paying_a_link_with_a_plan_starts_its_installments() {
    let mut link = PaymentLink::new(cents(5_000), None, true);
    let effects = link
        .handle(&LinkEvent::PaymentSucceeded {
            amount: cents(5_000),
            now: at(0),
        })
        .unwrap();
    assert_eq!(
        effects,
        vec![
            LinkEffect::Paid {
                amount: cents(5_000)
            },
            LinkEffect::StartInstallmentPlan
        ]
    );
}

/// The reference model: plain Rust, no statig.
#[derive(Clone, Debug)]
struct Model {
    amount: u64,
    expires_at: Option<i64>,
    has_installment_plan: bool,
    status: &'static str,
    paid: u64,
    refunded: u64,
    failed_attempts: u32,
    /// What the last event should have produced; `None`: rejected.
    last: Option<Vec<LinkEffect>>,
}

impl Model {
    fn is_terminal(&self) -> bool {
        matches!(self.status, "expired" | "cancelled" | "refunded")
    }

    /// The effects of `event`, changing `self`; `None` (and `self` untouched) when rejected.
    fn step(&mut self, event: &LinkEvent) -> Option<Vec<LinkEffect>> {
        if self.is_terminal() {
            return None;
        }
        let paid = matches!(self.status, "completed" | "partially_refunded");
        match event {
            LinkEvent::PaymentSucceeded { amount, .. } if !paid && amount.get() == self.amount => {
                self.paid = self.amount;
                self.status = "completed";
                let mut effects = vec![LinkEffect::Paid { amount: *amount }];
                if self.has_installment_plan {
                    effects.push(LinkEffect::StartInstallmentPlan);
                }
                Some(effects)
            }
            LinkEvent::PaymentFailed { .. } if !paid => {
                self.failed_attempts += 1;
                Some(vec![LinkEffect::PaymentFailed])
            }
            LinkEvent::Expire { now }
                if !paid && self.expires_at.is_some_and(|at| now.millis() >= at) =>
            {
                self.status = "expired";
                Some(vec![LinkEffect::Expired])
            }
            LinkEvent::Cancel { .. } if !paid => {
                self.status = "cancelled";
                Some(vec![LinkEffect::Cancelled])
            }
            LinkEvent::Refund { amount, .. }
                if paid && amount.get() > 0 && amount.get() <= self.paid - self.refunded =>
            {
                self.refunded += amount.get();
                let fully = self.refunded == self.paid;
                self.status = if fully {
                    "refunded"
                } else {
                    "partially_refunded"
                };
                Some(vec![LinkEffect::Refunded {
                    amount: *amount,
                    fully,
                }])
            }
            _ => None,
        }
    }

    fn expected_data(&self) -> LinkData {
        LinkData {
            amount: cents(self.amount),
            paid: cents(self.paid),
            refunded: cents(self.refunded),
            failed_attempts: self.failed_attempts,
            expires_at: self.expires_at.map(at),
            has_installment_plan: self.has_installment_plan,
        }
    }
}

struct LinkModel;

impl ReferenceStateMachine for LinkModel {
    type State = Model;
    type Transition = LinkEvent;

    fn init_state() -> BoxedStrategy<Model> {
        (
            1..=1_000_000u64,
            proptest::option::of(0..2_000_000i64),
            any::<bool>(),
        )
            .prop_map(|(amount, expires_at, has_installment_plan)| Model {
                amount,
                expires_at,
                has_installment_plan,
                status: "active",
                paid: 0,
                refunded: 0,
                failed_attempts: 0,
                last: Some(vec![]),
            })
            .boxed()
    }

    /// Mostly events that fit the data (the exact amount, what remains), some that do not.
    fn transitions(m: &Model) -> BoxedStrategy<LinkEvent> {
        let remaining = m.paid - m.refunded;
        let amount = prop_oneof![
            3 => Just(m.amount),
            1 => 0..=2 * m.amount,
        ];
        let refund = prop_oneof![
            2 => 1..=remaining.max(1),
            1 => Just(remaining),
            1 => Just(remaining + 1),
            1 => Just(0),
            1 => 0..=2 * m.amount,
        ];
        let expiry = m.expires_at.unwrap_or(1_000_000);
        let now = (expiry - 10..expiry + 10).prop_map(at);
        prop_oneof![
            3 => (amount, now.clone()).prop_map(|(a, now)| LinkEvent::PaymentSucceeded { amount: cents(a), now }),
            2 => now.clone().prop_map(|now| LinkEvent::PaymentFailed { now }),
            1 => now.clone().prop_map(|now| LinkEvent::Expire { now }),
            1 => now.clone().prop_map(|now| LinkEvent::Cancel { now }),
            4 => (refund, now).prop_map(|(a, now)| LinkEvent::Refund { amount: cents(a), now }),
        ]
        .boxed()
    }

    fn apply(m: Model, event: &LinkEvent) -> Model {
        let mut next = m.clone();
        match next.step(event) {
            Some(effects) => Model {
                last: Some(effects),
                ..next
            },
            // A rejected event leaves the model as it was.
            None => Model { last: None, ..m },
        }
    }
}

impl StateMachineTest for LinkModel {
    type SystemUnderTest = PaymentLink;
    type Reference = LinkModel;

    fn init_test(m: &Model) -> PaymentLink {
        PaymentLink::new(
            cents(m.amount),
            m.expires_at.map(at),
            m.has_installment_plan,
        )
    }

    fn apply(mut link: PaymentLink, m: &Model, event: LinkEvent) -> PaymentLink {
        let before = link.clone();
        let outcome = link.handle(&event);
        assert_eq!(
            outcome.as_ref().ok(),
            m.last.as_ref(),
            "{event:?} on {before:?}"
        );
        if outcome.is_err() {
            assert_eq!(link, before, "a rejected {event:?} changed the link");
        }
        if before.state().is_terminal() {
            assert!(
                outcome.is_err(),
                "terminal {} accepted {event:?}",
                before.state_name()
            );
        }
        link
    }

    fn check_invariants(link: &PaymentLink, m: &Model) {
        assert_eq!(link.state_name(), m.status);
        assert_eq!(link.data(), &m.expected_data());
        link.check_invariants().unwrap();
        // Money is conserved: what went back never exceeds what came in.
        let d = link.data();
        assert!(d.refunded <= d.paid && d.paid <= d.amount);
        assert_eq!(link.refundable().get(), d.paid.get() - d.refunded.get());
        support::assert_round_trips(link);
    }
}

prop_state_machine! {
    #![proptest_config(support::config())]

    #[test]
    fn a_link_agrees_with_its_model(sequential support::steps() => LinkModel);
}
