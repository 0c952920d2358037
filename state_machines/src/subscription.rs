//! A subscription: an installment plan billed on a calendar.
//!
//! ```text
//!           InstallmentDue ─▶ Charge ─▶ InstallmentPaid (last one) ──▶ completed
//! active ◀──────────────────── InstallmentPaid ◀──────┐
//!    │  InstallmentFailed                            RetryDue ─▶ Charge
//!    └──────────────▶ past_due ──────────────────────────┘
//!                        └── InstallmentFailed, retries exhausted ─▶ cancelled (policy) or stays past_due
//! active / past_due ──Cancel──▶ cancelled
//! ```
//!
//! Installment `n` (1-based) is due at `anchor + (n-1) × interval`; monthly keeps the anchor's
//! day of month, clamped to the month's last day. A fixed `count` completes the subscription
//! when the last installment is paid; without one it bills until cancelled.
//!
//! A charge is requested by `InstallmentDue`/`RetryDue` and its outcome arrives as
//! `InstallmentPaid`/`InstallmentFailed` for the same cycle; the engine feeds both in one
//! commit, so `charging` is never persisted as true.

use crate::machine::{Decision, Machine, MachineSpec};
use crate::money::Cents;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use statig::prelude::*;

pub type Subscription = Machine<SubscriptionData>;
pub type SubscriptionStatus = State;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Monthly,
    Quarterly,
}

impl Interval {
    pub fn months(self) -> u32 {
        match self {
            Interval::Monthly => 1,
            Interval::Quarterly => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Monthly => "monthly",
            Interval::Quarterly => "quarterly",
        }
    }
}

/// What happens when the last retry of an installment fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExhausted {
    /// Cancel the subscription (Stripe's common setting).
    Cancel,
    /// Stay `past_due` with no further retries until someone cancels it.
    KeepPastDue,
}

/// Dunning: how long after each failed attempt the next retry runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dunning {
    pub retry_after_secs: Vec<u64>,
    pub on_exhausted: OnExhausted,
}

/// What the subscription bills, fixed at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionTerms {
    pub amount: Cents,
    pub interval: Interval,
    /// `None`: open-ended, bills until cancelled.
    pub count: Option<u32>,
    /// When installment 1 is due.
    pub anchor: Timestamp,
    pub dunning: Dunning,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionData {
    pub terms: SubscriptionTerms,
    /// The installment being billed (1-based).
    pub cycle: u32,
    pub paid_count: u32,
    /// Failed attempts on the current cycle.
    pub failed_attempts: u32,
    /// When the current cycle is due; `None` once nothing more will be billed.
    pub next_billing_at: Option<Timestamp>,
    /// Due date of the last paid cycle: billing dates strictly increase.
    pub last_billed_at: Option<Timestamp>,
    pub charging: bool,
    pub cancelled_for_nonpayment: bool,
}

impl SubscriptionData {
    /// Money collected so far. Derived, never stored: the total of a long-running subscription
    /// may pass what one amount may be (`MAX_CENTS`), and a stored sum could disagree with the
    /// installments it counts.
    pub fn paid_cents(&self) -> u64 {
        self.terms
            .amount
            .get()
            .saturating_mul(self.paid_count.into())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionEvent {
    InstallmentDue {
        cycle: u32,
        now: Timestamp,
    },
    RetryDue {
        cycle: u32,
        attempt: u32,
        now: Timestamp,
    },
    InstallmentPaid {
        cycle: u32,
        now: Timestamp,
    },
    InstallmentFailed {
        cycle: u32,
        now: Timestamp,
    },
    Cancel {
        now: Timestamp,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionEffect {
    /// Charge `amount` now; the outcome comes back as InstallmentPaid/InstallmentFailed.
    Charge {
        cycle: u32,
        attempt: u32,
        amount: Cents,
    },
    InstallmentPaid {
        cycle: u32,
        amount: Cents,
    },
    InstallmentFailed {
        cycle: u32,
        attempt: u32,
    },
    ScheduleDue {
        cycle: u32,
        at: Timestamp,
    },
    ScheduleRetry {
        cycle: u32,
        attempt: u32,
        at: Timestamp,
    },
    PastDue,
    Completed,
    Cancelled {
        for_nonpayment: bool,
    },
}

impl Subscription {
    /// A new subscription and the timer for its first installment.
    pub fn new(terms: SubscriptionTerms) -> (Self, Vec<SubscriptionEffect>) {
        let anchor = terms.anchor;
        let machine = Machine::start(SubscriptionData {
            terms,
            cycle: 1,
            paid_count: 0,
            failed_attempts: 0,
            next_billing_at: Some(anchor),
            last_billed_at: None,
            charging: false,
            cancelled_for_nonpayment: false,
        });
        (
            machine,
            vec![SubscriptionEffect::ScheduleDue {
                cycle: 1,
                at: anchor,
            }],
        )
    }

    /// Installments still to bill; `None` for open-ended subscriptions.
    pub fn remaining(&self) -> Option<u32> {
        let d = self.data();
        d.terms.count.map(|c| c.saturating_sub(d.paid_count))
    }
}

impl SubscriptionData {
    fn due_date(&self, cycle: u32) -> Timestamp {
        self.terms
            .anchor
            .plus_months(self.terms.interval.months() * (cycle - 1))
    }

    fn charge(&mut self, context: &mut Ctx) {
        self.charging = true;
        context.emit(SubscriptionEffect::Charge {
            cycle: self.cycle,
            attempt: self.failed_attempts,
            amount: self.terms.amount,
        });
    }

    /// The charge for the current cycle succeeded: bill the next one or complete.
    fn record_payment(&mut self, context: &mut Ctx) -> bool {
        self.charging = false;
        self.failed_attempts = 0;
        self.paid_count += 1;
        self.last_billed_at = self.next_billing_at;
        context.emit(SubscriptionEffect::InstallmentPaid {
            cycle: self.cycle,
            amount: self.terms.amount,
        });
        if Some(self.paid_count) == self.terms.count {
            self.next_billing_at = None;
            context.emit(SubscriptionEffect::Completed);
            return true;
        }
        self.cycle += 1;
        let at = self.due_date(self.cycle);
        self.next_billing_at = Some(at);
        context.emit(SubscriptionEffect::ScheduleDue {
            cycle: self.cycle,
            at,
        });
        false
    }

    /// The charge failed. `Some(at)`: retry then. `None`: retries are exhausted.
    fn record_failure(&mut self, now: Timestamp, context: &mut Ctx) -> Option<Timestamp> {
        self.charging = false;
        self.failed_attempts += 1;
        context.emit(SubscriptionEffect::InstallmentFailed {
            cycle: self.cycle,
            attempt: self.failed_attempts,
        });
        let delay = self
            .terms
            .dunning
            .retry_after_secs
            .get(self.failed_attempts as usize - 1)?;
        let at = now.plus_seconds(*delay);
        context.emit(SubscriptionEffect::ScheduleRetry {
            cycle: self.cycle,
            attempt: self.failed_attempts,
            at,
        });
        Some(at)
    }

    fn exhausted(&mut self, was_active: bool, context: &mut Ctx) -> Outcome<State> {
        match self.terms.dunning.on_exhausted {
            OnExhausted::Cancel => {
                self.next_billing_at = None;
                self.cancelled_for_nonpayment = true;
                context.emit(SubscriptionEffect::Cancelled {
                    for_nonpayment: true,
                });
                Transition(State::cancelled())
            }
            OnExhausted::KeepPastDue if was_active => {
                context.emit(SubscriptionEffect::PastDue);
                Transition(State::past_due())
            }
            OnExhausted::KeepPastDue => Handled,
        }
    }
}

type Ctx = Decision<SubscriptionEffect>;

#[state_machine(
    initial = "State::active()",
    state(derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)),
    superstate(derive(Debug))
)]
impl SubscriptionData {
    #[state(superstate = "billing")]
    fn active(&mut self, context: &mut Ctx, event: &SubscriptionEvent) -> Outcome<State> {
        match event {
            SubscriptionEvent::InstallmentDue { cycle, now } => {
                if *cycle != self.cycle || self.charging {
                    context.refuse("the installment is not the one being billed");
                } else if self.next_billing_at.is_none_or(|at| *now < at) {
                    context.refuse("the installment is not due yet");
                } else {
                    self.charge(context);
                }
                Handled
            }
            SubscriptionEvent::InstallmentFailed { cycle, now } if self.owns_charge(*cycle) => {
                match self.record_failure(*now, context) {
                    Some(_) => {
                        context.emit(SubscriptionEffect::PastDue);
                        Transition(State::past_due())
                    }
                    None => self.exhausted(true, context),
                }
            }
            _ => Super,
        }
    }

    #[state(superstate = "billing")]
    fn past_due(&mut self, context: &mut Ctx, event: &SubscriptionEvent) -> Outcome<State> {
        match event {
            SubscriptionEvent::RetryDue { cycle, attempt, .. } => {
                let exhausted =
                    self.failed_attempts as usize > self.terms.dunning.retry_after_secs.len();
                if *cycle != self.cycle
                    || *attempt != self.failed_attempts
                    || self.charging
                    || exhausted
                {
                    context.refuse("the retry is not the one scheduled");
                } else {
                    self.charge(context);
                }
                Handled
            }
            SubscriptionEvent::InstallmentFailed { cycle, now } if self.owns_charge(*cycle) => {
                match self.record_failure(*now, context) {
                    Some(_) => Handled,
                    None => self.exhausted(false, context),
                }
            }
            _ => Super,
        }
    }

    /// Shared by the two live states: a paid charge, and cancellation.
    #[superstate]
    fn billing(&mut self, context: &mut Ctx, event: &SubscriptionEvent) -> Outcome<State> {
        match event {
            SubscriptionEvent::InstallmentPaid { cycle, .. } if self.owns_charge(*cycle) => {
                if self.record_payment(context) {
                    Transition(State::completed())
                } else {
                    Transition(State::active())
                }
            }
            SubscriptionEvent::InstallmentPaid { .. }
            | SubscriptionEvent::InstallmentFailed { .. } => {
                context.refuse("no charge is in flight for that installment");
                Handled
            }
            SubscriptionEvent::Cancel { .. } => {
                self.charging = false;
                self.next_billing_at = None;
                context.emit(SubscriptionEffect::Cancelled {
                    for_nonpayment: false,
                });
                Transition(State::cancelled())
            }
            _ => Super,
        }
    }

    #[state]
    fn cancelled(event: &SubscriptionEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn completed(event: &SubscriptionEvent) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl SubscriptionData {
    fn owns_charge(&self, cycle: u32) -> bool {
        self.charging && cycle == self.cycle
    }
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Active { .. } => "active",
            State::PastDue { .. } => "past_due",
            State::Cancelled { .. } => "cancelled",
            State::Completed { .. } => "completed",
        }
    }

    pub const ALL: [&'static str; 4] = ["active", "past_due", "cancelled", "completed"];

    pub fn is_terminal(&self) -> bool {
        matches!(self, State::Cancelled { .. } | State::Completed { .. })
    }
}

impl SubscriptionEvent {
    pub fn name(&self) -> &'static str {
        match self {
            SubscriptionEvent::InstallmentDue { .. } => "InstallmentDue",
            SubscriptionEvent::RetryDue { .. } => "RetryDue",
            SubscriptionEvent::InstallmentPaid { .. } => "InstallmentPaid",
            SubscriptionEvent::InstallmentFailed { .. } => "InstallmentFailed",
            SubscriptionEvent::Cancel { .. } => "Cancel",
        }
    }
}

impl MachineSpec for SubscriptionData {
    const NAME: &'static str = "subscription";
    type Ev = SubscriptionEvent;
    type Effect = SubscriptionEffect;

    fn state_name(state: &State) -> &'static str {
        state.as_str()
    }

    fn event_name(event: &SubscriptionEvent) -> &'static str {
        event.name()
    }

    fn check(&self, state: &State) -> Result<(), String> {
        let t = &self.terms;
        if let Some(count) = t.count {
            if count == 0 || self.paid_count > count {
                return Err(format!(
                    "paid_count {} outside 0..={count}",
                    self.paid_count
                ));
            }
            let completed = matches!(state, State::Completed { .. });
            if completed != (self.paid_count == count) {
                return Err("completed ⇔ every installment paid".into());
            }
        } else if matches!(state, State::Completed { .. }) {
            return Err("an open-ended subscription never completes".into());
        }
        if self.cycle != self.paid_count + 1 && !matches!(state, State::Completed { .. }) {
            return Err(format!(
                "cycle {} should follow paid_count {}",
                self.cycle, self.paid_count
            ));
        }
        if state.is_terminal() && (self.next_billing_at.is_some() || self.charging) {
            return Err("a terminal subscription bills nothing".into());
        }
        if let (Some(last), Some(next)) = (self.last_billed_at, self.next_billing_at) {
            if next <= last {
                return Err("billing dates must strictly increase".into());
            }
        }
        if matches!(state, State::Active { .. }) && self.failed_attempts != 0 {
            return Err("an active subscription has no failed attempts on its cycle".into());
        }
        if matches!(state, State::PastDue { .. }) && self.failed_attempts == 0 {
            return Err("a past_due subscription has a failed attempt".into());
        }
        if self.cancelled_for_nonpayment && !matches!(state, State::Cancelled { .. }) {
            return Err("only a cancelled subscription is cancelled for nonpayment".into());
        }
        Ok(())
    }
}
