//! A payment link: a hosted page the insured pays once (a down payment, a late payment, a
//! one-off charge). It may then be refunded in parts until nothing remains.
//!
//! ```text
//! active ──PaymentSucceeded──▶ completed ──Refund(part)──▶ partially_refunded ──Refund(rest)──▶ refunded
//!    │ ▲                           └───────────Refund(all)───────────────────────────────────▶ refunded
//!    │ └─PaymentFailed (stays active: the insured may try another card)
//!    ├──Expire──▶ expired
//!    └──Cancel──▶ cancelled
//! ```

use crate::machine::{Decision, Machine, MachineSpec};
use crate::money::Cents;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use statig::prelude::*;

pub type PaymentLink = Machine<LinkData>;

/// Status as the API names it.
pub type LinkStatus = State;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkData {
    /// What the insured is asked to pay: `total_cents` of the API.
    pub amount: Cents,
    pub paid: Cents,
    pub refunded: Cents,
    pub failed_attempts: u32,
    pub expires_at: Option<Timestamp>,
    /// Paying the link starts an installment subscription.
    pub has_installment_plan: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    PaymentSucceeded { amount: Cents, now: Timestamp },
    PaymentFailed { now: Timestamp },
    Expire { now: Timestamp },
    Cancel { now: Timestamp },
    Refund { amount: Cents, now: Timestamp },
}

/// What the engine must do after an accepted event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEffect {
    Paid {
        amount: Cents,
    },
    /// Create the link's installment subscription (exactly once: only `active` accepts a payment).
    StartInstallmentPlan,
    PaymentFailed,
    Refunded {
        amount: Cents,
        fully: bool,
    },
    Expired,
    Cancelled,
}

impl PaymentLink {
    pub fn new(amount: Cents, expires_at: Option<Timestamp>, has_installment_plan: bool) -> Self {
        Machine::start(LinkData {
            amount,
            paid: Cents::ZERO,
            refunded: Cents::ZERO,
            failed_attempts: 0,
            expires_at,
            has_installment_plan,
        })
    }

    /// What can still be refunded.
    pub fn refundable(&self) -> Cents {
        let d = self.data();
        d.paid.checked_sub(d.refunded).unwrap_or(Cents::ZERO)
    }
}

type Ctx = Decision<LinkEffect>;

#[state_machine(
    initial = "State::active()",
    state(derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)),
    superstate(derive(Debug))
)]
impl LinkData {
    #[state]
    fn active(&mut self, context: &mut Ctx, event: &LinkEvent) -> Outcome<State> {
        match event {
            LinkEvent::PaymentSucceeded { amount, .. } if *amount != self.amount => {
                context.refuse("the amount paid must equal the link's amount");
                Handled
            }
            LinkEvent::PaymentSucceeded { amount, .. } => {
                self.paid = *amount;
                context.emit(LinkEffect::Paid { amount: *amount });
                if self.has_installment_plan {
                    context.emit(LinkEffect::StartInstallmentPlan);
                }
                Transition(State::completed())
            }
            LinkEvent::PaymentFailed { .. } => {
                self.failed_attempts += 1;
                context.emit(LinkEffect::PaymentFailed);
                Handled
            }
            LinkEvent::Expire { now } => match self.expires_at {
                Some(at) if *now >= at => {
                    context.emit(LinkEffect::Expired);
                    Transition(State::expired())
                }
                _ => {
                    context.refuse("the link is not due to expire yet");
                    Handled
                }
            },
            LinkEvent::Cancel { .. } => {
                context.emit(LinkEffect::Cancelled);
                Transition(State::cancelled())
            }
            LinkEvent::Refund { .. } => {
                context.refuse("nothing has been paid yet");
                Handled
            }
        }
    }

    #[state(superstate = "paid")]
    fn completed(&mut self, context: &mut Ctx, event: &LinkEvent) -> Outcome<State> {
        let _ = (context, event);
        Super
    }

    #[state(superstate = "paid")]
    fn partially_refunded(&mut self, context: &mut Ctx, event: &LinkEvent) -> Outcome<State> {
        let _ = (context, event);
        Super
    }

    /// Money was received: refunds are possible until all of it went back.
    #[superstate]
    fn paid(&mut self, context: &mut Ctx, event: &LinkEvent) -> Outcome<State> {
        match event {
            // A zero refund would move a `completed` link to `partially_refunded` with
            // nothing refunded, breaking that state's invariant (and the snapshot's restore).
            LinkEvent::Refund { amount, .. } if amount.is_zero() => {
                context.refuse("a refund must be a positive amount");
                Handled
            }
            LinkEvent::Refund { amount, .. } => {
                let remaining = self.paid.checked_sub(self.refunded).unwrap_or(Cents::ZERO);
                if *amount > remaining {
                    context.refuse("the refund exceeds what remains refundable");
                    return Handled;
                }
                self.refunded = self.refunded.checked_add(*amount).expect("bounded by paid");
                let fully = self.refunded == self.paid;
                context.emit(LinkEffect::Refunded {
                    amount: *amount,
                    fully,
                });
                if fully {
                    Transition(State::refunded())
                } else {
                    Transition(State::partially_refunded())
                }
            }
            _ => Super,
        }
    }

    #[state]
    fn expired(event: &LinkEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn cancelled(event: &LinkEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn refunded(event: &LinkEvent) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Active { .. } => "active",
            State::Completed { .. } => "completed",
            State::Expired { .. } => "expired",
            State::Cancelled { .. } => "cancelled",
            State::PartiallyRefunded { .. } => "partially_refunded",
            State::Refunded { .. } => "refunded",
        }
    }

    pub const ALL: [&'static str; 6] = [
        "active",
        "completed",
        "expired",
        "cancelled",
        "partially_refunded",
        "refunded",
    ];

    /// No event is accepted any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            State::Expired { .. } | State::Cancelled { .. } | State::Refunded { .. }
        )
    }
}

impl LinkEvent {
    pub fn name(&self) -> &'static str {
        match self {
            LinkEvent::PaymentSucceeded { .. } => "PaymentSucceeded",
            LinkEvent::PaymentFailed { .. } => "PaymentFailed",
            LinkEvent::Expire { .. } => "Expire",
            LinkEvent::Cancel { .. } => "Cancel",
            LinkEvent::Refund { .. } => "Refund",
        }
    }
}

impl MachineSpec for LinkData {
    const NAME: &'static str = "payment link";
    type Ev = LinkEvent;
    type Effect = LinkEffect;

    fn state_name(state: &State) -> &'static str {
        state.as_str()
    }

    fn event_name(event: &LinkEvent) -> &'static str {
        event.name()
    }

    fn check(&self, state: &State) -> Result<(), String> {
        let nothing_moved = self.paid.is_zero() && self.refunded.is_zero();
        if self.refunded > self.paid {
            return Err(format!(
                "refunded {} exceeds paid {}",
                self.refunded, self.paid
            ));
        }
        if self.amount.is_zero() {
            return Err("a link's amount is positive".into());
        }
        let ok = match state {
            State::Active { .. } | State::Expired { .. } | State::Cancelled { .. } => nothing_moved,
            State::Completed { .. } => self.paid == self.amount && self.refunded.is_zero(),
            State::PartiallyRefunded { .. } => {
                self.paid == self.amount && !self.refunded.is_zero() && self.refunded < self.paid
            }
            State::Refunded { .. } => !self.paid.is_zero() && self.refunded == self.paid,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "paid {} / refunded {} / amount {}",
                self.paid, self.refunded, self.amount
            ))
        }
    }
}
