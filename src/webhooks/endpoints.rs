//! What the store keeps for webhooks: endpoints (with their signing secret) and deliveries
//! (one per event and endpoint, with every attempt). Records are postcard: field order is the
//! schema, append only.

use super::signing::SigningSecret;
use crate::auth::TenantScope;
use crate::domain::{Environment, EventObject, ObjectId, OutboxEvent};
use serde::{Deserialize, Serialize};
use state_machines::Timestamp;

/// Every event type an endpoint may ask for (`"*"` asks for all of them).
pub const EVENT_TYPES: [&str; 13] = [
    "payment.completed",
    "payment.failed",
    "payment.refunded",
    "payment_link.created",
    "payment_link.cancelled",
    "payment_link.expired",
    "subscription.created",
    "subscription.past_due",
    "subscription.cancelled",
    "subscription.completed",
    "installment.paid",
    "installment.failed",
    "webhook_endpoint.disabled",
];

/// A partner's endpoint. It belongs to the API client that registered it and sees only
/// events of that client's environment and tenant scope (copied at registration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub id: ObjectId,
    pub env: Environment,
    pub client_id: String,
    pub tenant: TenantScope,
    pub url: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub secret: SigningSecret,
    /// The secret before the last rotation, still signing until the given time.
    pub previous_secret: Option<(SigningSecret, Timestamp)>,
    pub disabled: bool,
    /// Why the endpoint was disabled by Premia (not by its owner).
    pub disabled_reason: Option<String>,
    /// Since when every attempt to this endpoint has failed; `None` after a success.
    pub failing_since: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl EndpointRecord {
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_type)
    }

    /// Whether this endpoint may see `event`: same environment, and the event's entity
    /// inside the registering client's tenant scope (endpoint events: the same client).
    pub fn may_see(&self, event: &OutboxEvent) -> bool {
        if event.env != self.env {
            return false;
        }
        match &event.data {
            EventObject::PaymentLink(l) => {
                self.tenant.allows(l.terms.carrier_id, l.terms.employer_id)
            }
            EventObject::Subscription(s) => self.tenant.allows(s.carrier_id, s.employer_id),
            EventObject::WebhookEndpoint(e) => e.client_id == self.client_id,
        }
    }

    /// Every secret that signs a message sent at `now` (the new one first).
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&SigningSecret> {
        let mut secrets = vec![&self.secret];
        if let Some((old, until)) = &self.previous_secret {
            if now < *until {
                secrets.push(old);
            }
        }
        secrets
    }
}

/// What a `webhook_endpoint.disabled` event carries (never the secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointNotice {
    pub id: ObjectId,
    pub client_id: String,
    pub url: String,
    pub reason: String,
    pub failing_since: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    Succeeded,
    /// Every retry failed, or the endpoint went away.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One POST to the endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: Timestamp,
    /// The endpoint's status code; `None` when no answer came (timeout, refused, DNS).
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// One event on its way to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: ObjectId,
    pub env: Environment,
    pub endpoint_id: ObjectId,
    pub event_id: ObjectId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due (system time); `None` once settled.
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// Made by `POST /events/{id}/redeliver`.
    pub redelivery: bool,
}
