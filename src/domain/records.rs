//! What the store keeps: one record per payment link, subscription and payment (each holding
//! its machine), audit entries and outbox events.

use super::{Environment, ObjectId};
use serde::{Deserialize, Serialize};
use state_machines::{Cents, Interval, Payment, PaymentLink, Subscription, Timestamp};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    PaymentLink,
    Subscription,
    Payment,
    WebhookEndpoint,
}

impl EntityKind {
    pub fn tag(self) -> u8 {
        match self {
            EntityKind::PaymentLink => b'L',
            EntityKind::Subscription => b'S',
            EntityKind::Payment => b'P',
            EntityKind::WebhookEndpoint => b'W',
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntityRef {
    pub env: Environment,
    pub kind: EntityKind,
    pub id: ObjectId,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentType {
    DownPayment,
    LatePayment,
    ExtraPayment,
    Installment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallmentPlan {
    pub count: u32,
    pub interval: Interval,
    pub per_installment_cents: Cents,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Card,
    Ach,
}

/// A payment link as created: everything but the machine's evolving state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLink {
    pub carrier_id: ObjectId,
    pub employer_id: ObjectId,
    pub policy_id: ObjectId,
    pub amount: Cents,
    pub payment_type: PaymentType,
    /// The premium/fee split when the link was created with `premium_cents` + `fee_cents`.
    pub premium_cents: Option<Cents>,
    pub fee_cents: Option<Cents>,
    pub customer: Customer,
    pub installment_plan: Option<InstallmentPlan>,
    pub metadata: BTreeMap<String, String>,
    /// `None`: the configured default lifetime.
    pub expires_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub id: ObjectId,
    pub env: Environment,
    pub terms: NewLink,
    pub machine: PaymentLink,
    /// The successful payment, once paid.
    pub payment_id: Option<ObjectId>,
    /// The installment subscription the payment started, if the link has a plan.
    pub subscription_id: Option<ObjectId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Number of transitions applied, starting at 1 for creation.
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSubscription {
    pub carrier_id: ObjectId,
    pub employer_id: ObjectId,
    pub policy_id: ObjectId,
    pub amount: Cents,
    pub interval: Interval,
    /// `None`: bill until cancelled.
    pub count: Option<u32>,
    pub customer: Customer,
    pub metadata: BTreeMap<String, String>,
    /// When installment 1 is due; `None`: now.
    pub first_billing_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub id: ObjectId,
    pub env: Environment,
    pub carrier_id: ObjectId,
    pub employer_id: ObjectId,
    pub policy_id: ObjectId,
    pub customer: Customer,
    pub metadata: BTreeMap<String, String>,
    pub machine: Subscription,
    /// The payment link whose down payment started it.
    pub source_link_id: Option<ObjectId>,
    /// The one timer this subscription is waiting for (next installment or next retry).
    pub pending_timer: Option<Timer>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub id: ObjectId,
    pub env: Environment,
    /// The link or subscription that owns (and alone writes) this payment.
    pub parent: EntityRef,
    pub method: PaymentMethod,
    /// The installment this pays, for subscription payments.
    pub cycle: Option<u32>,
    /// The processor's reference for the charge.
    pub processor_ref: Option<String>,
    pub machine: Payment,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One transition of one entity, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub entity: EntityRef,
    /// The entity's version after this transition.
    pub version: u64,
    pub at: Timestamp,
    pub event: String,
    pub from: Option<String>,
    pub to: String,
    pub detail: Option<String>,
}

/// A webhook event, written in the same transaction as the transition that caused it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub id: ObjectId,
    #[serde(rename = "type")]
    pub kind: String,
    pub env: Environment,
    pub created_at: Timestamp,
    pub entity: EntityRef,
    /// The entity's version after the transition: ties the event to its audit entry.
    pub version: u64,
    /// The resource as it was right after the transition.
    pub data: EventObject,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventObject {
    PaymentLink(Box<LinkRecord>),
    Subscription(Box<SubscriptionRecord>),
    WebhookEndpoint(Box<crate::webhooks::EndpointNotice>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// A payment link reaches its `expires_at`.
    LinkExpiry,
    /// A subscription's installment `cycle` is due.
    InstallmentDue,
    /// Dunning: retry `attempt` of installment `cycle`.
    Retry,
}

/// A durable timer. Firing is idempotent: the entity checks cycle and attempt against its
/// own state and ignores a timer that no longer applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timer {
    pub entity: EntityRef,
    pub due: Timestamp,
    pub kind: TimerKind,
    pub cycle: u32,
    pub attempt: u32,
}

/// The first complete answer to a request that carried an `Idempotency-Key`, replayed
/// byte-for-byte to every retry of the same request for a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotentResponse {
    /// SHA-256 of the method, the request target and the body: a retry must match it.
    pub fingerprint: [u8; 32],
    pub status: u16,
    /// The response body exactly as first sent (JSON).
    pub body: Vec<u8>,
    /// Wall-clock milliseconds (never the sandbox clock): keys expire in real time.
    pub stored_at_ms: i64,
}
