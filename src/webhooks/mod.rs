//! Outbound webhooks: partners register endpoints and hear about every event of their
//! environment and tenant scope, signed per Standard Webhooks, at least once.
//!
//! The story of one event:
//! 1. An actor's transition writes the event to the `outbox` tree and its id to the
//!    `event_queue` tree, in the same commit as the transition (`Commit::event`): never a
//!    transition without its event, nor an event without its transition.
//! 2. The [`dispatcher`] (a background task, never in a request's path) takes queued events
//!    in order and, in one commit, creates a delivery record for every endpoint that wants
//!    the event and may see it, puts each in its endpoint's delivery queue, and removes the
//!    event from the fan-out queue. A crash before that commit leaves the event queued; after
//!    it, the deliveries are durable. Nothing is lost and fan-out never runs twice.
//! 3. Each endpoint's due deliveries are POSTed with at most `max_in_flight_per_endpoint`
//!    at once, so a slow or dead endpoint holds only its own slots. Each attempt is recorded
//!    durably (status code, latency, error) and either settles the delivery or re-queues it
//!    after the next delay of the retry schedule. A crash between the POST and that record
//!    repeats the POST after a restart: duplicates are possible but rare, and carry the same
//!    `webhook-id` so partners can drop them.
//! 4. An endpoint whose attempts have all failed for `disable_after_failing` is disabled,
//!    and a `webhook_endpoint.disabled` event (delivered to its owner's other endpoints)
//!    says so.
//!
//! Secrets are kept in the store (they must sign), shown only when created or rotated, and
//! never logged (`SigningSecret`'s `Debug` is redacted).

pub mod dispatcher;
mod endpoints;
pub mod signing;
pub mod ssrf;

pub use endpoints::{
    Attempt, DeliveryRecord, DeliveryStatus, EndpointNotice, EndpointRecord, EVENT_TYPES,
};
pub use signing::SigningSecret;
pub use ssrf::UrlPolicy;

use crate::actors::{Clock, Engine, SystemClock};
use crate::domain::{EntityKind, EntityRef, Environment, EventObject, ObjectId, OutboxEvent};
use crate::http::views::EventView;
use crate::store::{Commit, StoreError};
use dashmap::DashMap;
use state_machines::Timestamp;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// A 2xx within this long is a success.
    pub timeout: Duration,
    /// Delay before each retry; after the last the delivery fails.
    pub retry_schedule: Vec<Duration>,
    pub disable_after_failing: Duration,
    pub max_in_flight_per_endpoint: usize,
    pub live: UrlPolicy,
    pub sandbox: UrlPolicy,
    /// How long a rotated secret keeps signing by default.
    pub rotation_grace: Duration,
}

impl WebhookConfig {
    pub fn policy(&self, env: Environment) -> UrlPolicy {
        match env {
            Environment::Test => self.sandbox,
            Environment::Live => self.live,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The webhook service: endpoint writes, redelivery, and the dispatcher's shared state.
#[derive(Clone)]
pub struct Webhooks(Arc<Inner>);

pub(crate) struct Inner {
    engine: Engine,
    config: WebhookConfig,
    /// Base of the URLs inside rendered links (the checkout page).
    public_url: String,
    /// One client per environment: the live one resolves through the SSRF guard.
    clients: [reqwest::Client; 2],
    /// Endpoint records are read-modified-written by the API and by the dispatcher (health):
    /// one writer at a time, so neither loses the other's change.
    endpoint_writes: tokio::sync::Mutex<()>,
    /// Wakes the dispatcher: new deliveries, a freed slot, a changed endpoint.
    wake: Notify,
    in_flight: Mutex<HashSet<ObjectId>>,
    slots: DashMap<ObjectId, Arc<Semaphore>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Attempts under way (aborted on stop: they are still queued in the store).
    attempts: Mutex<tokio::task::JoinSet<()>>,
}

impl Webhooks {
    pub fn new(engine: Engine, config: WebhookConfig, public_url: String) -> Webhooks {
        let client = |policy: UrlPolicy| {
            let mut builder = reqwest::Client::builder()
                .timeout(config.timeout)
                .connect_timeout(config.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("Premia-Webhooks/", env!("CARGO_PKG_VERSION")))
                .https_only(!policy.allow_http);
            if !policy.allow_private_addresses {
                builder = builder.dns_resolver(Arc::new(ssrf::GuardedResolver));
            }
            builder.build().expect("the webhook HTTP client builds")
        };
        let clients = [client(config.sandbox), client(config.live)];
        Webhooks(Arc::new(Inner {
            engine,
            config,
            public_url,
            clients,
            endpoint_writes: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            in_flight: Mutex::new(HashSet::new()),
            slots: DashMap::new(),
            task: Mutex::new(None),
            attempts: Mutex::new(tokio::task::JoinSet::new()),
        }))
    }

    /// Start the background dispatcher. Pending deliveries left by a previous run (or a
    /// crash) are picked up at once.
    pub fn start(&self) {
        let task = tokio::spawn(dispatcher::run(Arc::downgrade(&self.0)));
        *self.0.task.lock().expect("not poisoned") = Some(task);
    }

    /// Stop the dispatcher. Attempts cut short are retried after the next start.
    pub fn stop(&self) {
        if let Some(task) = self.0.task.lock().expect("not poisoned").take() {
            task.abort();
        }
        self.0.attempts.lock().expect("not poisoned").abort_all();
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.0.config
    }

    /// Refuse a URL the environment's SSRF policy forbids (400 message).
    pub async fn check_url(&self, env: Environment, url: &str) -> Result<String, WebhookError> {
        let policy = self.0.config.policy(env);
        let parsed = ssrf::check_url(url, policy).map_err(WebhookError::Invalid)?;
        ssrf::check_resolved(&parsed, policy)
            .await
            .map_err(WebhookError::Invalid)?;
        Ok(url.to_string())
    }

    pub async fn create_endpoint(&self, endpoint: EndpointRecord) -> EndpointRecord {
        let _one_writer = self.0.endpoint_writes.lock().await;
        let mut commit = Commit::new();
        commit.put_endpoint(&endpoint);
        self.0.engine.store().apply_durable(commit).await;
        endpoint
    }

    /// Change an endpoint (read fresh under the writers' lock) and make the change durable.
    pub async fn update_endpoint(
        &self,
        env: Environment,
        id: ObjectId,
        change: impl FnOnce(&mut EndpointRecord) -> Result<(), WebhookError>,
    ) -> Result<EndpointRecord, WebhookError> {
        let _one_writer = self.0.endpoint_writes.lock().await;
        let store = self.0.engine.store();
        store.settle().await;
        let mut endpoint = store
            .webhook_endpoint(env, id)?
            .ok_or(WebhookError::NotFound)?;
        change(&mut endpoint)?;
        endpoint.updated_at = now();
        let mut commit = Commit::new();
        commit.put_endpoint(&endpoint);
        store.apply_durable(commit).await;
        self.0.wake.notify_one();
        Ok(endpoint)
    }

    /// Delete an endpoint with its deliveries and its queue.
    pub async fn delete_endpoint(
        &self,
        env: Environment,
        id: ObjectId,
    ) -> Result<EndpointRecord, WebhookError> {
        let _one_writer = self.0.endpoint_writes.lock().await;
        let store = self.0.engine.store();
        store.settle().await;
        let endpoint = store
            .webhook_endpoint(env, id)?
            .ok_or(WebhookError::NotFound)?;
        let mut commit = Commit::new();
        commit.delete_endpoint(env, id);
        for delivery in store.deliveries_newest_first(env, id) {
            let delivery = delivery?;
            if let Some(due) = delivery.next_attempt_at {
                commit.unqueue_delivery(&delivery, due);
            }
            commit.delete_delivery(&delivery);
        }
        store.apply_durable(commit).await;
        self.0.slots.remove(&id);
        Ok(endpoint)
    }

    /// New deliveries of `event` to each of `endpoints`, due now.
    pub async fn redeliver(
        &self,
        event: &OutboxEvent,
        endpoints: &[EndpointRecord],
    ) -> Vec<DeliveryRecord> {
        let now = now();
        let mut commit = Commit::new();
        let deliveries: Vec<DeliveryRecord> = endpoints
            .iter()
            .map(|ep| {
                let mut d = new_delivery(ep, event, now);
                d.redelivery = true;
                commit.put_delivery(&d);
                commit.queue_delivery(&d, now);
                d
            })
            .collect();
        self.0.engine.store().apply_durable(commit).await;
        self.0.wake.notify_one();
        deliveries
    }

    /// The event as partners receive it (and as `GET /events/{id}` shows it).
    pub fn payload(&self, event: &OutboxEvent) -> EventView {
        EventView::new(event, &self.0.public_url)
    }
}

/// `evt_<hex>`: the public id of an event (also its `webhook-id`).
pub fn event_public_id(id: ObjectId) -> String {
    format!("evt_{id}")
}

pub(crate) fn new_delivery(
    endpoint: &EndpointRecord,
    event: &OutboxEvent,
    now: Timestamp,
) -> DeliveryRecord {
    DeliveryRecord {
        id: ObjectId::new(now.millis()),
        env: endpoint.env,
        endpoint_id: endpoint.id,
        event_id: event.id,
        event_type: event.kind.clone(),
        status: DeliveryStatus::Pending,
        attempts: Vec::new(),
        next_attempt_at: Some(now),
        created_at: now,
        redelivery: false,
    }
}

/// The event that says an endpoint was disabled (owned by the endpoint, not a tenant entity).
pub(crate) fn disabled_event(endpoint: &EndpointRecord, now: Timestamp) -> OutboxEvent {
    OutboxEvent {
        id: ObjectId::new(now.millis()),
        kind: "webhook_endpoint.disabled".into(),
        env: endpoint.env,
        created_at: now,
        entity: EntityRef {
            env: endpoint.env,
            kind: EntityKind::WebhookEndpoint,
            id: endpoint.id,
        },
        version: 0,
        data: EventObject::WebhookEndpoint(Box::new(EndpointNotice {
            id: endpoint.id,
            client_id: endpoint.client_id.clone(),
            url: endpoint.url.clone(),
            reason: endpoint.disabled_reason.clone().unwrap_or_default(),
            failing_since: endpoint.failing_since,
        })),
    }
}

/// Retries run on real time in both environments (the sandbox clock moves entities, not
/// the partner's server).
pub fn now() -> Timestamp {
    SystemClock.now()
}
