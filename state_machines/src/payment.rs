//! A payment: one charge, owned by its parent (link or subscription), whose actor is its only
//! writer.
//!
//! ```text
//! pending ─Approve─▶ approved ─Capture─▶ captured ─Settle─▶ settled
//!    └──Fail──▶ failed ◀──Fail──┘          │  └─Return─▶ returned ◀─Return─┘
//!                         captured/settled ─Refund(all)─▶ refunded (a partial refund keeps the status)
//! ```

use crate::machine::{Decision, Machine, MachineSpec};
use crate::money::Cents;
use serde::{Deserialize, Serialize};
use statig::prelude::*;

pub type Payment = Machine<PaymentData>;
pub type PaymentStatus = State;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentData {
    pub amount: Cents,
    pub refunded: Cents,
    /// ACH return code (R01, R02, ...) once returned.
    pub return_code: Option<String>,
    pub failure_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentEvent {
    Approve,
    Capture,
    Settle,
    Fail { reason: String },
    Return { code: String },
    Refund { amount: Cents },
}

/// Payments decide no effects of their own: their parent's machine does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentEffect {}

impl Payment {
    pub fn new(amount: Cents) -> Self {
        Machine::start(PaymentData {
            amount,
            refunded: Cents::ZERO,
            return_code: None,
            failure_reason: None,
        })
    }
}

type Ctx = Decision<PaymentEffect>;

#[state_machine(
    initial = "State::pending()",
    state(derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)),
    superstate(derive(Debug))
)]
impl PaymentData {
    #[state(superstate = "uncaptured")]
    fn pending(context: &mut Ctx, event: &PaymentEvent) -> Outcome<State> {
        match event {
            PaymentEvent::Approve => {
                context.accept();
                Transition(State::approved())
            }
            _ => Super,
        }
    }

    #[state(superstate = "uncaptured")]
    fn approved(context: &mut Ctx, event: &PaymentEvent) -> Outcome<State> {
        match event {
            PaymentEvent::Capture => {
                context.accept();
                Transition(State::captured())
            }
            _ => Super,
        }
    }

    /// Before the money moved, a payment can only fail.
    #[superstate]
    fn uncaptured(&mut self, context: &mut Ctx, event: &PaymentEvent) -> Outcome<State> {
        match event {
            PaymentEvent::Fail { reason } => {
                self.failure_reason = Some(reason.clone());
                context.accept();
                Transition(State::failed())
            }
            _ => Super,
        }
    }

    #[state(superstate = "collected")]
    fn captured(context: &mut Ctx, event: &PaymentEvent) -> Outcome<State> {
        match event {
            PaymentEvent::Settle => {
                context.accept();
                Transition(State::settled())
            }
            _ => Super,
        }
    }

    #[state(superstate = "collected")]
    fn settled(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// The money moved: it can be refunded, or (ACH) returned by the bank.
    #[superstate]
    fn collected(&mut self, context: &mut Ctx, event: &PaymentEvent) -> Outcome<State> {
        match event {
            PaymentEvent::Refund { amount } if amount.is_zero() => {
                context.refuse("a refund must be a positive amount");
                Handled
            }
            PaymentEvent::Refund { amount } => {
                let remaining = self
                    .amount
                    .checked_sub(self.refunded)
                    .unwrap_or(Cents::ZERO);
                if *amount > remaining {
                    context.refuse("the refund exceeds what remains refundable");
                    return Handled;
                }
                self.refunded = self
                    .refunded
                    .checked_add(*amount)
                    .expect("bounded by amount");
                context.accept();
                if self.refunded == self.amount {
                    Transition(State::refunded())
                } else {
                    Handled
                }
            }
            PaymentEvent::Return { code } => {
                self.return_code = Some(code.clone());
                context.accept();
                Transition(State::returned())
            }
            _ => Super,
        }
    }

    #[state]
    fn failed(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn returned(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn refunded(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Pending { .. } => "pending",
            State::Approved { .. } => "approved",
            State::Captured { .. } => "captured",
            State::Settled { .. } => "settled",
            State::Failed { .. } => "failed",
            State::Returned { .. } => "returned",
            State::Refunded { .. } => "refunded",
        }
    }

    pub const ALL: [&'static str; 7] = [
        "pending", "approved", "captured", "settled", "failed", "returned", "refunded",
    ];

    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            State::Failed { .. } | State::Returned { .. } | State::Refunded { .. }
        )
    }
}

impl PaymentEvent {
    pub fn name(&self) -> &'static str {
        match self {
            PaymentEvent::Approve => "Approve",
            PaymentEvent::Capture => "Capture",
            PaymentEvent::Settle => "Settle",
            PaymentEvent::Fail { .. } => "Fail",
            PaymentEvent::Return { .. } => "Return",
            PaymentEvent::Refund { .. } => "Refund",
        }
    }
}

impl MachineSpec for PaymentData {
    const NAME: &'static str = "payment";
    type Ev = PaymentEvent;
    type Effect = PaymentEffect;

    fn state_name(state: &State) -> &'static str {
        state.as_str()
    }

    fn event_name(event: &PaymentEvent) -> &'static str {
        event.name()
    }

    fn check(&self, state: &State) -> Result<(), String> {
        if self.refunded > self.amount {
            return Err(format!(
                "refunded {} exceeds amount {}",
                self.refunded, self.amount
            ));
        }
        let refunded_ok = match state {
            State::Refunded { .. } => self.refunded == self.amount,
            State::Captured { .. } | State::Settled { .. } => self.refunded < self.amount,
            State::Returned { .. } => self.refunded < self.amount,
            State::Pending { .. } | State::Approved { .. } | State::Failed { .. } => {
                self.refunded.is_zero()
            }
        };
        if !refunded_ok {
            return Err(format!(
                "refunded {} does not fit the status",
                self.refunded
            ));
        }
        if matches!(state, State::Returned { .. }) != self.return_code.is_some() {
            return Err("a return code ⇔ returned".into());
        }
        if matches!(state, State::Failed { .. }) != self.failure_reason.is_some() {
            return Err("a failure reason ⇔ failed".into());
        }
        Ok(())
    }
}
