//! What the API returns for each resource (the spec's field names), and the documented
//! request shapes. Views are built from records; nothing here decides anything.

use crate::domain::{
    Customer, EventObject, InstallmentPlan, LinkRecord, OutboxEvent, PaymentType,
    SubscriptionRecord,
};
use crate::webhooks::{DeliveryRecord, EndpointRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct CustomerView {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl From<&Customer> for CustomerView {
    fn from(c: &Customer) -> Self {
        CustomerView {
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InstallmentPlanView {
    pub count: u32,
    /// monthly or quarterly
    pub interval: &'static str,
    pub per_installment_cents: u64,
}

impl From<&InstallmentPlan> for InstallmentPlanView {
    fn from(p: &InstallmentPlan) -> Self {
        InstallmentPlanView {
            count: p.count,
            interval: p.interval.as_str(),
            per_installment_cents: p.per_installment_cents.get(),
        }
    }
}

pub fn payment_type_str(t: PaymentType) -> &'static str {
    match t {
        PaymentType::DownPayment => "down_payment",
        PaymentType::LatePayment => "late_payment",
        PaymentType::ExtraPayment => "extra_payment",
        PaymentType::Installment => "installment",
    }
}

pub fn parse_payment_type(s: &str) -> Option<PaymentType> {
    match s {
        "down_payment" => Some(PaymentType::DownPayment),
        "late_payment" => Some(PaymentType::LatePayment),
        "extra_payment" => Some(PaymentType::ExtraPayment),
        "installment" => Some(PaymentType::Installment),
        _ => None,
    }
}

pub const PAYMENT_TYPES: [&str; 4] = [
    "down_payment",
    "late_payment",
    "extra_payment",
    "installment",
];

/// A payment link as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct LinkView {
    pub _id: String,
    /// active, completed, expired, cancelled, partially_refunded, refunded
    pub status: &'static str,
    pub total_cents: u64,
    pub link_amount_cents: u64,
    pub amount_cents: u64,
    pub paid_cents: u64,
    pub refunded_cents: u64,
    pub premium_cents: Option<u64>,
    pub fee_cents: Option<u64>,
    /// "ONE_TIME" when created with premium_cents + fee_cents, else the payment type.
    pub payment_type: &'static str,
    pub payment_context: Option<&'static str>,
    pub billing_entity_type: &'static str,
    pub employer_id: String,
    pub carrier_id: String,
    pub policy_id: String,
    pub customer: CustomerView,
    pub installment_plan: Option<InstallmentPlanView>,
    pub metadata: BTreeMap<String, String>,
    pub stripe_payment_link_id: String,
    /// The hosted checkout page (the sandbox's for test links).
    pub stripe_url: String,
    /// The same page under a processor-neutral name.
    pub url: String,
    pub subscription_id: Option<String>,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl LinkView {
    pub fn new(link: &LinkRecord, public_url: &str) -> LinkView {
        let t = &link.terms;
        let d = link.machine.data();
        let one_time = t.premium_cents.is_some();
        let kind = payment_type_str(t.payment_type);
        let url = format!("{public_url}/checkout/{}", link.id);
        LinkView {
            _id: link.id.to_hex(),
            status: link.machine.state_name(),
            total_cents: t.amount.get(),
            link_amount_cents: t.amount.get(),
            amount_cents: t.amount.get(),
            paid_cents: d.paid.get(),
            refunded_cents: d.refunded.get(),
            premium_cents: t.premium_cents.map(|c| c.get()),
            fee_cents: t.fee_cents.map(|c| c.get()),
            payment_type: if one_time { "ONE_TIME" } else { kind },
            payment_context: one_time.then_some(kind),
            billing_entity_type: "employer",
            employer_id: t.employer_id.to_hex(),
            carrier_id: t.carrier_id.to_hex(),
            policy_id: t.policy_id.to_hex(),
            customer: (&t.customer).into(),
            installment_plan: t.installment_plan.as_ref().map(Into::into),
            metadata: t.metadata.clone(),
            stripe_payment_link_id: format!("plink_{}_{}", link.env, link.id),
            stripe_url: url.clone(),
            url,
            subscription_id: link.subscription_id.map(|id| id.to_hex()),
            expires_at: t.expires_at.map(|at| at.to_rfc3339()),
            created_at: link.created_at.to_rfc3339(),
            updated_at: link.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InstallmentsView {
    /// null when open-ended
    pub count: Option<u32>,
    pub paid: u32,
    /// null when open-ended
    pub remaining: Option<u32>,
}

/// A subscription as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    pub _id: String,
    /// active, past_due, cancelled, completed
    pub status: &'static str,
    pub amount_cents: u64,
    pub interval: &'static str,
    pub installments: InstallmentsView,
    pub paid_cents: u64,
    pub next_billing_date: Option<String>,
    pub failed_attempts: u32,
    pub employer_id: String,
    pub carrier_id: String,
    pub policy_id: String,
    pub customer: CustomerView,
    pub metadata: BTreeMap<String, String>,
    pub stripe_subscription_id: String,
    pub source_payment_link_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl SubscriptionView {
    pub fn new(sub: &SubscriptionRecord) -> SubscriptionView {
        let d = sub.machine.data();
        SubscriptionView {
            _id: sub.id.to_hex(),
            status: sub.machine.state_name(),
            amount_cents: d.terms.amount.get(),
            interval: d.terms.interval.as_str(),
            installments: InstallmentsView {
                count: d.terms.count,
                paid: d.paid_count,
                remaining: sub.machine.remaining(),
            },
            paid_cents: d.paid_cents(),
            next_billing_date: d.next_billing_at.map(|at| at.to_rfc3339()),
            failed_attempts: d.failed_attempts,
            employer_id: sub.employer_id.to_hex(),
            carrier_id: sub.carrier_id.to_hex(),
            policy_id: sub.policy_id.to_hex(),
            customer: (&sub.customer).into(),
            metadata: sub.metadata.clone(),
            stripe_subscription_id: format!("sub_{}_{}", sub.env, sub.id),
            source_payment_link_id: sub.source_link_id.map(|id| id.to_hex()),
            created_at: sub.created_at.to_rfc3339(),
            updated_at: sub.updated_at.to_rfc3339(),
        }
    }
}

/// Request shapes, for the OpenAPI document (parsing is in the routes, field by field). They
/// state exactly what the parsers accept, so a schema-valid request is never refused and a
/// schema-invalid one never accepted (schemathesis checks both ways in CI).
pub mod requests {
    // Described, never built: the routes parse bodies field by field.
    #![allow(dead_code)]

    use serde::Serialize;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;
    use utoipa::{PartialSchema, ToSchema};

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum PaymentType {
        DownPayment,
        LatePayment,
        ExtraPayment,
        Installment,
    }

    #[derive(Serialize, ToSchema)]
    #[allow(non_camel_case_types)]
    pub enum OneTime {
        ONE_TIME,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Interval {
        Monthly,
        Quarterly,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Outcome {
        Succeeded,
        Failed,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Method {
        Card,
        Ach,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum LinkStatus {
        Active,
        Completed,
        Expired,
        Cancelled,
        PartiallyRefunded,
        Refunded,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum SubscriptionStatus {
        Active,
        PastDue,
        Cancelled,
        Completed,
    }

    /// String values; at most 50 keys of 1 to 40 characters, values up to 500 (Stripe's).
    #[derive(Serialize)]
    pub struct Metadata;

    impl PartialSchema for Metadata {
        fn schema() -> RefOr<Schema> {
            let text = |min, max| {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(min))
                    .max_length(Some(max))
            };
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .max_properties(Some(50))
                .property_names(Some(text(1, 40)))
                .additional_properties(Some(text(0, 500)))
                .into()
        }
    }

    impl ToSchema for Metadata {}

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CustomerInput {
        #[schema(max_length = 500)]
        pub name: Option<String>,
        /// an email address (something@domain.tld)
        #[schema(max_length = 254, pattern = "^[^@]+@[\\s\\S]*\\.")]
        pub email: Option<String>,
        #[schema(max_length = 500)]
        pub phone: Option<String>,
    }

    /// The customer of a subscription: an email is required.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct SubscriptionCustomer {
        #[schema(max_length = 500)]
        pub name: Option<String>,
        #[schema(max_length = 254, pattern = "^[^@]+@[\\s\\S]*\\.")]
        pub email: String,
        #[schema(max_length = 500)]
        pub phone: Option<String>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct InstallmentPlanInput {
        #[schema(minimum = 1, maximum = 120)]
        pub count: u32,
        /// monthly (default) or quarterly
        pub interval: Option<Interval>,
        #[schema(minimum = 1, maximum = 1_000_000_000_000_u64)]
        pub per_installment_cents: u64,
    }

    /// `amount_cents` + one of the four payment types.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AmountLink {
        #[schema(pattern = "^[0-9a-fA-F]{24}$")]
        pub employer_id: String,
        #[schema(pattern = "^[0-9a-fA-F]{24}$")]
        pub carrier_id: String,
        #[schema(pattern = "^[0-9a-fA-F]{24}$")]
        pub policy_id: String,
        #[schema(minimum = 1, maximum = 1_000_000_000_000_u64)]
        pub amount_cents: u64,
        pub payment_type: PaymentType,
        pub customer: Option<CustomerInput>,
        pub installment_plan: Option<InstallmentPlanInput>,
        pub metadata: Option<Metadata>,
    }

    /// `premium_cents` + `fee_cents` with `payment_type: ONE_TIME` and a `payment_context`;
    /// the amount is their sum.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct OneTimeLink {
        #[schema(pattern = "^[0-9a-fA-F]{24}$")]
        pub employer_id: String,
        #[schema(pattern = "^[0-9a-fA-F]{24}$")]
        pub carrier_id: String,
        #[schema(pattern = "^[0-9a-fA-F]{24}$")]
        pub policy_id: String,
        #[schema(minimum = 1, maximum = 500_000_000_000_u64)]
        pub premium_cents: u64,
        #[schema(minimum = 0, maximum = 500_000_000_000_u64)]
        pub fee_cents: u64,
        pub payment_type: OneTime,
        pub payment_context: PaymentType,
        pub customer: Option<CustomerInput>,
        pub installment_plan: Option<InstallmentPlanInput>,
        pub metadata: Option<Metadata>,
    }

    /// Either request shape of the spec.
    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    pub enum CreatePaymentLink {
        Amount(AmountLink),
        OneTime(OneTimeLink),
    }

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Refund {
        /// omit to refund everything that remains
        #[schema(minimum = 1, maximum = 1_000_000_000_000_u64)]
        pub amount_cents: Option<u64>,
        #[schema(max_length = 500)]
        pub reason: Option<String>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CreateSubscription {
        #[schema(pattern = "^[0-9a-fA-F]{24}$")]
        pub employer_id: String,
        #[schema(pattern = "^[0-9a-fA-F]{24}$")]
        pub carrier_id: String,
        #[schema(pattern = "^[0-9a-fA-F]{24}$")]
        pub policy_id: String,
        #[schema(minimum = 1, maximum = 1_000_000_000_000_u64)]
        pub amount_cents: u64,
        /// monthly (default) or quarterly
        pub interval: Option<Interval>,
        /// number of installments; omit to bill until cancelled
        #[schema(minimum = 1, maximum = 1200)]
        pub count: Option<u32>,
        /// RFC 3339; when installment 1 is charged (default, or if in the past: now)
        #[schema(format = DateTime)]
        pub start_date: Option<String>,
        pub customer: SubscriptionCustomer,
        pub metadata: Option<Metadata>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct PayLink {
        /// succeeded (default) or failed
        pub outcome: Option<Outcome>,
        /// card (default) or ach
        pub method: Option<Method>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NextCharge {
        pub outcome: Outcome,
        /// how many of the next charges (default 1)
        #[schema(minimum = 1, maximum = 100)]
        pub times: Option<u32>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AdvanceClock {
        /// up to a year (366 days) at a time
        #[schema(minimum = 1, maximum = 31_622_400)]
        pub seconds: u64,
    }
}

/// A webhook endpoint as the API shows it. `secret` only in the answers to create and
/// rotate-secret.
#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    pub _id: String,
    pub url: String,
    /// Event types, or ["*"] for all.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// enabled or disabled
    pub status: &'static str,
    pub disabled: bool,
    /// Why Premia disabled it (deliveries failing for days); null when enabled or disabled by its owner.
    pub disabled_reason: Option<String>,
    /// test or live
    pub environment: &'static str,
    /// Since when every delivery attempt has failed; null when the last one succeeded.
    pub failing_since: Option<String>,
    /// `whsec_<base64>`: the signing secret (Standard Webhooks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// When the secret replaced by the last rotation stops signing.
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl EndpointView {
    pub fn new(e: &EndpointRecord) -> EndpointView {
        EndpointView {
            _id: e.id.to_hex(),
            url: e.url.clone(),
            events: e.events.clone(),
            description: e.description.clone(),
            status: if e.disabled { "disabled" } else { "enabled" },
            disabled: e.disabled,
            disabled_reason: e.disabled_reason.clone(),
            environment: e.env.as_str(),
            failing_since: e.failing_since.map(|t| t.to_rfc3339()),
            secret: None,
            previous_secret_expires_at: e.previous_secret.as_ref().map(|(_, t)| t.to_rfc3339()),
            created_at: e.created_at.to_rfc3339(),
            updated_at: e.updated_at.to_rfc3339(),
        }
    }

    /// The view with the secret: only for create and rotate-secret.
    pub fn with_secret(e: &EndpointRecord) -> EndpointView {
        EndpointView {
            secret: Some(e.secret.to_whsec()),
            ..EndpointView::new(e)
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    pub at: String,
    /// The endpoint's HTTP status; null when no answer came (timeout, refused).
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// One event on its way to one endpoint, with every attempt.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    pub _id: String,
    pub endpoint_id: String,
    /// evt_…
    pub event_id: String,
    pub event_type: String,
    /// pending, succeeded or failed
    pub status: &'static str,
    pub attempt_count: usize,
    pub attempts: Vec<AttemptView>,
    /// When the next attempt is due; null once settled.
    pub next_attempt_at: Option<String>,
    pub redelivery: bool,
    pub created_at: String,
}

impl DeliveryView {
    pub fn new(d: &DeliveryRecord) -> DeliveryView {
        DeliveryView {
            _id: d.id.to_hex(),
            endpoint_id: d.endpoint_id.to_hex(),
            event_id: crate::webhooks::event_public_id(d.event_id),
            event_type: d.event_type.clone(),
            status: d.status.as_str(),
            attempt_count: d.attempts.len(),
            attempts: d
                .attempts
                .iter()
                .map(|a| AttemptView {
                    at: a.at.to_rfc3339(),
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                })
                .collect(),
            next_attempt_at: d.next_attempt_at.map(|t| t.to_rfc3339()),
            redelivery: d.redelivery,
            created_at: d.created_at.to_rfc3339(),
        }
    }
}

/// An event, exactly as webhook deliveries carry it (and `GET /events/{id}` shows it).
#[derive(Serialize, ToSchema)]
pub struct EventView {
    /// evt_…
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    /// test or live
    pub environment: &'static str,
    /// {"object": the payment link, subscription or endpoint as the API returns it}
    #[schema(value_type = Object)]
    pub data: EventData,
}

#[derive(Serialize)]
pub struct EventData {
    pub object: EventObjectView,
}

/// The resource an event is about, rendered by the same view as its own endpoint.
#[derive(Serialize)]
#[serde(untagged)]
pub enum EventObjectView {
    PaymentLink(Box<LinkView>),
    Subscription(Box<SubscriptionView>),
    WebhookEndpoint(EndpointNoticeView),
}

/// The endpoint a `webhook_endpoint.disabled` event is about.
#[derive(Serialize)]
pub struct EndpointNoticeView {
    pub _id: String,
    pub url: String,
    pub status: &'static str,
    pub disabled_reason: String,
    pub failing_since: Option<String>,
}

impl EventView {
    pub fn new(event: &OutboxEvent, public_url: &str) -> EventView {
        let object = match &event.data {
            EventObject::PaymentLink(link) => {
                EventObjectView::PaymentLink(Box::new(LinkView::new(link, public_url)))
            }
            EventObject::Subscription(sub) => {
                EventObjectView::Subscription(Box::new(SubscriptionView::new(sub)))
            }
            EventObject::WebhookEndpoint(notice) => {
                EventObjectView::WebhookEndpoint(EndpointNoticeView {
                    _id: notice.id.to_hex(),
                    url: notice.url.clone(),
                    status: "disabled",
                    disabled_reason: notice.reason.clone(),
                    failing_since: notice.failing_since.map(|t| t.to_rfc3339()),
                })
            }
        };
        EventView {
            id: crate::webhooks::event_public_id(event.id),
            kind: event.kind.clone(),
            created_at: event.created_at.to_rfc3339(),
            environment: event.env.as_str(),
            data: EventData { object },
        }
    }
}

/// Webhook request shapes, for the OpenAPI document: described exactly as the routes parse
/// them (see `requests`).
pub mod webhook_requests {
    // Described, never built.
    #![allow(dead_code)]

    use serde::Serialize;
    use utoipa::ToSchema;

    /// The events an endpoint can receive.
    #[derive(Serialize, ToSchema)]
    pub enum EventType {
        #[serde(rename = "payment.completed")]
        PaymentCompleted,
        #[serde(rename = "payment.failed")]
        PaymentFailed,
        #[serde(rename = "payment.refunded")]
        PaymentRefunded,
        #[serde(rename = "payment_link.created")]
        PaymentLinkCreated,
        #[serde(rename = "payment_link.cancelled")]
        PaymentLinkCancelled,
        #[serde(rename = "payment_link.expired")]
        PaymentLinkExpired,
        #[serde(rename = "subscription.created")]
        SubscriptionCreated,
        #[serde(rename = "subscription.past_due")]
        SubscriptionPastDue,
        #[serde(rename = "subscription.cancelled")]
        SubscriptionCancelled,
        #[serde(rename = "subscription.completed")]
        SubscriptionCompleted,
        #[serde(rename = "installment.paid")]
        InstallmentPaid,
        #[serde(rename = "installment.failed")]
        InstallmentFailed,
        #[serde(rename = "webhook_endpoint.disabled")]
        WebhookEndpointDisabled,
    }

    /// An event type, or `*` for all of them.
    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    pub enum EventChoice {
        One(EventType),
        All(AllEvents),
    }

    #[derive(Serialize, ToSchema)]
    pub enum AllEvents {
        #[serde(rename = "*")]
        All,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum DeliveryStatus {
        Pending,
        Succeeded,
        Failed,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CreateEndpoint {
        /// https (live); the sandbox may use http and localhost.
        #[schema(
            max_length = 500,
            pattern = r"^https?://(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}|(?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*)(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
        )]
        pub url: String,
        /// Event types, or ["*"].
        #[schema(min_items = 1)]
        pub events: Vec<EventChoice>,
        #[schema(max_length = 500)]
        pub description: Option<String>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct UpdateEndpoint {
        #[schema(
            max_length = 500,
            pattern = r"^https?://(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}|(?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*)(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
        )]
        pub url: Option<String>,
        #[schema(min_items = 1)]
        pub events: Option<Vec<EventChoice>>,
        #[schema(max_length = 500)]
        pub description: Option<String>,
        pub disabled: Option<bool>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct RotateSecret {
        /// How long the old secret keeps signing beside the new one (default
        /// webhooks.rotation_grace_secs).
        #[schema(minimum = 0, maximum = 604_800)]
        pub expire_previous_after_secs: Option<u64>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Redeliver {
        /// One of your endpoints; omitted: every endpoint of yours that subscribes to the event.
        #[schema(pattern = "^[0-9a-fA-F]{24}$")]
        pub endpoint_id: Option<String>,
    }
}
