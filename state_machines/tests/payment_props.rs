//! A payment against a small reference model, over random event sequences (valid and not),
//! plus a few examples that read like the spec.

mod support;

use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use state_machines::payment::PaymentData;
use state_machines::{Cents, Payment, PaymentEvent as Event};

fn cents(v: u64) -> Cents {
    Cents::try_from(v).expect("in range")
}

fn captured(amount: u64) -> Payment {
    let mut payment = Payment::new(cents(amount));
    payment.handle(&Event::Approve).unwrap();
    payment.handle(&Event::Capture).unwrap();
    payment
}

#[test]
fn refunding_more_than_was_paid_is_rejected_and_changes_nothing() {
    let mut payment = captured(10_000);
    payment
        .handle(&Event::Refund {
            amount: cents(4_000),
        })
        .unwrap();
    let before = payment.clone();
    assert!(payment
        .handle(&Event::Refund {
            amount: cents(6_001)
        })
        .is_err());
    assert_eq!(payment, before);
}

#[test]
fn a_partial_refund_keeps_the_status_until_everything_went_back() {
    let mut payment = captured(10_000);
    payment.handle(&Event::Settle).unwrap();
    payment
        .handle(&Event::Refund {
            amount: cents(4_000),
        })
        .unwrap();
    assert_eq!(
        (payment.state_name(), payment.data().refunded),
        ("settled", cents(4_000))
    );
    payment
        .handle(&Event::Refund {
            amount: cents(6_000),
        })
        .unwrap();
    assert_eq!(payment.state_name(), "refunded");
}

#[test]
fn nothing_is_refunded_before_the_money_moved() {
    let mut payment = Payment::new(cents(10_000));
    assert!(payment.handle(&Event::Refund { amount: cents(1) }).is_err());
    payment.handle(&Event::Approve).unwrap();
    assert!(payment.handle(&Event::Refund { amount: cents(1) }).is_err());
}

#[test]
fn a_settled_ach_payment_can_still_be_returned() {
    let mut payment = captured(10_000);
    payment.handle(&Event::Settle).unwrap();
    payment
        .handle(&Event::Return { code: "R01".into() })
        .unwrap();
    assert_eq!(
        (payment.state_name(), payment.data().return_code.as_deref()),
        ("returned", Some("R01"))
    );
}

/// The reference model: plain Rust, no statig.
#[derive(Clone, Debug)]
struct Model {
    amount: u64,
    status: &'static str,
    refunded: u64,
    return_code: Option<String>,
    failure_reason: Option<String>,
    /// Whether the last event should have been accepted.
    accepted: bool,
}

impl Model {
    /// Applies `event`; `false` (and `self` untouched) when it must be rejected.
    fn step(&mut self, event: &Event) -> bool {
        let collected = matches!(self.status, "captured" | "settled");
        let next = match (self.status, event) {
            ("pending", Event::Approve) => "approved",
            ("approved", Event::Capture) => "captured",
            ("captured", Event::Settle) => "settled",
            ("pending" | "approved", Event::Fail { reason }) => {
                self.failure_reason = Some(reason.clone());
                "failed"
            }
            (_, Event::Return { code }) if collected => {
                self.return_code = Some(code.clone());
                "returned"
            }
            // A refund moves a positive amount, at most what remains.
            (status, Event::Refund { amount })
                if collected && amount.get() > 0 && amount.get() <= self.amount - self.refunded =>
            {
                self.refunded += amount.get();
                if self.refunded == self.amount {
                    "refunded"
                } else {
                    status
                }
            }
            _ => return false,
        };
        self.status = next;
        true
    }

    fn expected_data(&self) -> PaymentData {
        PaymentData {
            amount: cents(self.amount),
            refunded: cents(self.refunded),
            return_code: self.return_code.clone(),
            failure_reason: self.failure_reason.clone(),
        }
    }
}

struct PaymentModel;

impl ReferenceStateMachine for PaymentModel {
    type State = Model;
    type Transition = Event;

    fn init_state() -> BoxedStrategy<Model> {
        (1..=1_000_000u64)
            .prop_map(|amount| Model {
                amount,
                status: "pending",
                refunded: 0,
                return_code: None,
                failure_reason: None,
                accepted: true,
            })
            .boxed()
    }

    fn transitions(m: &Model) -> BoxedStrategy<Event> {
        let remaining = m.amount - m.refunded;
        let refund = prop_oneof![
            3 => 1..=remaining.max(1),
            1 => Just(remaining),
            1 => Just(remaining + 1),
            1 => Just(0),
            1 => 0..=2 * m.amount,
        ];
        prop_oneof![
            2 => Just(Event::Approve),
            2 => Just(Event::Capture),
            2 => Just(Event::Settle),
            1 => prop_oneof![Just("card_declined"), Just("insufficient_funds")]
                .prop_map(|r| Event::Fail { reason: r.into() }),
            1 => prop_oneof![Just("R01"), Just("R02"), Just("R10")].prop_map(|c| Event::Return { code: c.into() }),
            4 => refund.prop_map(|a| Event::Refund { amount: cents(a) }),
        ]
        .boxed()
    }

    fn apply(m: Model, event: &Event) -> Model {
        let mut next = m.clone();
        if next.step(event) {
            Model {
                accepted: true,
                ..next
            }
        } else {
            // A rejected event leaves the model as it was.
            Model {
                accepted: false,
                ..m
            }
        }
    }
}

impl StateMachineTest for PaymentModel {
    type SystemUnderTest = Payment;
    type Reference = PaymentModel;

    fn init_test(m: &Model) -> Payment {
        Payment::new(cents(m.amount))
    }

    fn apply(mut payment: Payment, m: &Model, event: Event) -> Payment {
        let before = payment.clone();
        let outcome = payment.handle(&event);
        assert_eq!(outcome.is_ok(), m.accepted, "{event:?} on {before:?}");
        if outcome.is_err() {
            assert_eq!(payment, before, "a rejected {event:?} changed the payment");
        }
        if before.state().is_terminal() {
            assert!(
                outcome.is_err(),
                "terminal {} accepted {event:?}",
                before.state_name()
            );
        }
        payment
    }

    fn check_invariants(payment: &Payment, m: &Model) {
        assert_eq!(payment.state_name(), m.status);
        assert_eq!(payment.data(), &m.expected_data());
        payment.check_invariants().unwrap();
        let d = payment.data();
        assert!(d.refunded <= d.amount, "money is conserved");
        support::assert_round_trips(payment);
    }
}

prop_state_machine! {
    #![proptest_config(support::config())]

    #[test]
    fn a_payment_agrees_with_its_model(sequential support::steps() => PaymentModel);
}
