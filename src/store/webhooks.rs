//! The webhook trees: the queue of events not yet fanned out, endpoints, deliveries and
//! each endpoint's queue of pending deliveries. Reads here; writes only as `Commit` ops
//! through the committer, like every other tree.

use super::commit::{encode, Op, TreeId};
use super::{decode, get, keys, scan, Commit, Store, StoreError};
use crate::domain::{Environment, ObjectId, OutboxEvent};
use crate::webhooks::{DeliveryRecord, EndpointRecord};
use state_machines::Timestamp;

impl Store {
    pub fn outbox_event(
        &self,
        env: Environment,
        id: ObjectId,
    ) -> Result<Option<OutboxEvent>, StoreError> {
        get(&self.trees.outbox, &keys::outbox(env, id))
    }

    /// Events of `env` newest first, created within `[from_secs, to_secs]` (Unix seconds, the
    /// time in their ids) when given.
    pub fn events_newest_first(
        &self,
        env: Environment,
        from_secs: Option<u32>,
        to_secs: Option<u32>,
    ) -> impl Iterator<Item = Result<OutboxEvent, StoreError>> + '_ {
        let bound = |secs: u32| {
            let mut k = vec![env.tag()];
            k.extend_from_slice(&secs.to_be_bytes());
            k
        };
        let start = bound(from_secs.unwrap_or(0));
        let end = match to_secs.and_then(|s| s.checked_add(1)) {
            Some(s) => bound(s),
            None => vec![env.tag() + 1],
        };
        self.trees.outbox.range(start..end).rev().map(|kv| {
            let (k, v) = kv?;
            decode(&k, &v)
        })
    }

    /// Events written but not yet fanned out to endpoints, at most `limit`.
    pub fn queued_events(&self, limit: usize) -> Result<Vec<(Environment, ObjectId)>, StoreError> {
        self.trees
            .event_queue
            .iter()
            .take(limit)
            .map(|kv| {
                let (k, _) = kv?;
                let env = Environment::ALL
                    .into_iter()
                    .find(|e| e.tag() == k[0])
                    .ok_or_else(|| StoreError::Corrupt {
                        key: hex::encode(&k),
                        error: "unknown environment".into(),
                    })?;
                Ok((env, keys::index_id(&k)))
            })
            .collect()
    }

    pub fn webhook_endpoint(
        &self,
        env: Environment,
        id: ObjectId,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        get(&self.trees.webhook_endpoints, &keys::record(env, id))
    }

    /// Every endpoint of `env`, oldest first.
    pub fn webhook_endpoints(&self, env: Environment) -> Result<Vec<EndpointRecord>, StoreError> {
        scan(&self.trees.webhook_endpoints, &[env.tag()])
    }

    pub fn delivery(
        &self,
        env: Environment,
        endpoint: ObjectId,
        id: ObjectId,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        get(&self.trees.deliveries, &keys::delivery(env, endpoint, id))
    }

    /// An endpoint's deliveries, newest first.
    pub fn deliveries_newest_first(
        &self,
        env: Environment,
        endpoint: ObjectId,
    ) -> impl Iterator<Item = Result<DeliveryRecord, StoreError>> + '_ {
        self.trees
            .deliveries
            .scan_prefix(keys::record(env, endpoint))
            .rev()
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
    }

    /// An endpoint's pending deliveries in due order, at most `limit`: (due, delivery id).
    pub fn queued_deliveries(
        &self,
        env: Environment,
        endpoint: ObjectId,
        limit: usize,
    ) -> Result<Vec<(Timestamp, ObjectId)>, StoreError> {
        self.trees
            .delivery_queue
            .scan_prefix(keys::record(env, endpoint))
            .keys()
            .take(limit)
            .map(|k| Ok(keys::delivery_queue_entry(&k?)))
            .collect()
    }

    /// How many deliveries of an endpoint are pending.
    pub fn queued_delivery_count(&self, env: Environment, endpoint: ObjectId) -> usize {
        self.trees
            .delivery_queue
            .scan_prefix(keys::record(env, endpoint))
            .count()
    }
}

impl Commit {
    pub fn put_endpoint(&mut self, endpoint: &EndpointRecord) {
        self.ops.push(Op::Put(
            TreeId::WebhookEndpoints,
            keys::record(endpoint.env, endpoint.id),
            encode(endpoint),
        ));
    }

    pub fn delete_endpoint(&mut self, env: Environment, id: ObjectId) {
        self.ops
            .push(Op::Delete(TreeId::WebhookEndpoints, keys::record(env, id)));
    }

    pub fn put_delivery(&mut self, delivery: &DeliveryRecord) {
        self.ops.push(Op::Put(
            TreeId::Deliveries,
            keys::delivery(delivery.env, delivery.endpoint_id, delivery.id),
            encode(delivery),
        ));
    }

    pub fn delete_delivery(&mut self, delivery: &DeliveryRecord) {
        self.ops.push(Op::Delete(
            TreeId::Deliveries,
            keys::delivery(delivery.env, delivery.endpoint_id, delivery.id),
        ));
    }

    /// Put a pending delivery in its endpoint's queue, due at `due`.
    pub fn queue_delivery(&mut self, delivery: &DeliveryRecord, due: Timestamp) {
        self.ops.push(Op::Put(
            TreeId::DeliveryQueue,
            keys::delivery_queue(delivery.env, delivery.endpoint_id, due, delivery.id),
            Vec::new(),
        ));
    }

    pub fn unqueue_delivery(&mut self, delivery: &DeliveryRecord, due: Timestamp) {
        self.ops.push(Op::Delete(
            TreeId::DeliveryQueue,
            keys::delivery_queue(delivery.env, delivery.endpoint_id, due, delivery.id),
        ));
    }

    /// The event has its deliveries: it leaves the fan-out queue (same commit).
    pub fn event_fanned_out(&mut self, env: Environment, event: ObjectId) {
        self.ops
            .push(Op::Delete(TreeId::EventQueue, keys::outbox(env, event)));
    }
}

impl Store {
    /// Resolves when a commit with outbox events has been handed over since the last call
    /// (one waiter: the webhook dispatcher).
    pub async fn events_written(&self) {
        self.events_written.notified().await
    }
}
