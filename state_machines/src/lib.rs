//! Premia's state machines: pure decisions, no I/O.
//!
//! A payment link is paid once and may then be refunded in parts; a subscription bills its
//! installments on a calendar, falls `past_due` when a charge fails and retries on a dunning
//! schedule; a payment is one charge moving from `pending` to `settled` (or `failed`,
//! `returned`, `refunded`). Each machine is a statig state machine over a serde-serialisable
//! data struct. Feeding it an event either accepts it, changing state and data and listing the
//! effects the engine must carry out (charge, schedule a timer, notify), or rejects it with a
//! [`Rejected`] naming the state and the event, changing nothing.
//!
//! Machines never read a clock and never perform effects: time arrives inside events and
//! effects leave through the [`Decision`] context, so a machine restored from a snapshot (whose
//! statig `init()` re-runs entry actions) does nothing twice.

pub mod diagram;
mod machine;
pub mod money;
pub mod payment;
pub mod payment_link;
pub mod subscription;
pub mod time;

pub use machine::{Decision, InvariantViolation, Machine, MachineSpec, Rejected};
pub use money::{AmountError, Cents, MAX_CENTS};
pub use payment::{Payment, PaymentEvent, PaymentStatus};
pub use payment_link::{LinkEffect, LinkEvent, LinkStatus, PaymentLink};
pub use subscription::{
    Dunning, Interval, OnExhausted, Subscription, SubscriptionEffect, SubscriptionEvent,
    SubscriptionStatus, SubscriptionTerms,
};
pub use time::Timestamp;
