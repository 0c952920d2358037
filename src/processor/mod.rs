//! Payment processors: who actually moves the money. The engine speaks only this trait; the
//! environment picks the implementation (test → the built-in sandbox; live → Stripe, later).

mod sandbox;
mod unconfigured;

pub use sandbox::{
    Sandbox, TEST_ACH_INSUFFICIENT_FUNDS, TEST_ACH_OK, TEST_CARD_DECLINED, TEST_CARD_OK,
};
pub use unconfigured::Unconfigured;

use crate::domain::{EntityRef, PaymentMethod};
use futures::future::BoxFuture;
use state_machines::Cents;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentSource {
    /// The payer's saved method (installments of a subscription).
    OnFile,
    /// A card number typed on the hosted checkout page (Stripe's test numbers in the sandbox).
    Card(String),
    /// A bank account number (Stripe's test accounts in the sandbox).
    Ach(String),
}

#[derive(Clone, Debug)]
pub struct ChargeRequest {
    /// The link or subscription being paid.
    pub payer: EntityRef,
    pub amount: Cents,
    pub source: PaymentSource,
    /// Stable across retries of the same attempt, so a processor never charges twice for it
    /// (for example after a crash between the charge and our commit).
    pub idempotency_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded {
        reference: String,
        method: PaymentMethod,
    },
    Declined {
        reason: String,
        method: PaymentMethod,
    },
}

#[derive(Clone, Debug)]
pub struct RefundRequest {
    pub payer: EntityRef,
    /// The processor's reference of the charge being refunded.
    pub charge_reference: Option<String>,
    pub amount: Cents,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the processor refused the refund: {0}")]
pub struct RefundRefused(pub String);

pub trait PaymentProcessor: Send + Sync + 'static {
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'static, ChargeOutcome>;
    fn refund(&self, request: RefundRequest) -> BoxFuture<'static, Result<String, RefundRefused>>;
}
