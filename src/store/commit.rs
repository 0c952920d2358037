//! `Commit`: everything one transition writes (snapshot, audit entry, outbox events, timers,
//! index updates), applied atomically. It is built before the transaction runs, because sled
//! may run the transaction closure more than once: the closure only writes.

use super::keys;
use crate::domain::{
    AuditEntry, EntityKind, Environment, IdempotentResponse, LinkRecord, ObjectId, OutboxEvent,
    PaymentRecord, SubscriptionRecord, Timer,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TreeId {
    Links,
    Subscriptions,
    Payments,
    Audit,
    Outbox,
    Timers,
    Indexes,
    Idempotency,
    EventQueue,
    WebhookEndpoints,
    Deliveries,
    DeliveryQueue,
}

#[derive(Debug)]
pub(crate) enum Op {
    Put(TreeId, Vec<u8>, Vec<u8>),
    Delete(TreeId, Vec<u8>),
    /// Add to the count under this key in `index_counts` (a u64; removed at 0).
    Count(Vec<u8>, i64),
}

#[derive(Debug, Default)]
pub struct Commit {
    pub(crate) ops: Vec<Op>,
    /// Environments whose timers this commit sets (their scheduler is woken).
    timer_envs: Vec<Environment>,
    /// Whether it writes outbox events (the webhook dispatcher is woken).
    pub(crate) writes_events: bool,
}

/// Records are stored in postcard, a compact binary serde format: a third of JSON's size,
/// which sled's page copies and log writes pay for on every commit. Field and variant order
/// is the schema: add new fields and variants at the end only.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("records serialise")
}

impl Commit {
    pub fn new() -> Commit {
        Commit::default()
    }

    /// Add another commit's writes to this one: they land together or not at all.
    pub fn extend(&mut self, other: Commit) {
        self.ops.extend(other.ops);
        self.timer_envs.extend(other.timer_envs);
        self.writes_events |= other.writes_events;
    }

    pub fn timer_envs(&self) -> &[Environment] {
        &self.timer_envs
    }

    pub fn create_link(&mut self, link: &LinkRecord) {
        self.ops.push(Op::Put(
            TreeId::Links,
            keys::record(link.env, link.id),
            encode(link),
        ));
        let t = &link.terms;
        self.index_new(
            link.env,
            EntityKind::PaymentLink,
            link.id,
            (t.carrier_id, t.employer_id),
            link.machine.state_name(),
        );
    }

    pub fn put_link(&mut self, link: &LinkRecord, old_status: &str) {
        self.ops.push(Op::Put(
            TreeId::Links,
            keys::record(link.env, link.id),
            encode(link),
        ));
        self.index_status(
            link.env,
            EntityKind::PaymentLink,
            link.id,
            (link.terms.carrier_id, link.terms.employer_id),
            old_status,
            link.machine.state_name(),
        );
    }

    pub fn create_subscription(&mut self, sub: &SubscriptionRecord) {
        self.ops.push(Op::Put(
            TreeId::Subscriptions,
            keys::record(sub.env, sub.id),
            encode(sub),
        ));
        self.index_new(
            sub.env,
            EntityKind::Subscription,
            sub.id,
            (sub.carrier_id, sub.employer_id),
            sub.machine.state_name(),
        );
    }

    pub fn put_subscription(&mut self, sub: &SubscriptionRecord, old_status: &str) {
        self.ops.push(Op::Put(
            TreeId::Subscriptions,
            keys::record(sub.env, sub.id),
            encode(sub),
        ));
        self.index_status(
            sub.env,
            EntityKind::Subscription,
            sub.id,
            (sub.carrier_id, sub.employer_id),
            old_status,
            sub.machine.state_name(),
        );
    }

    pub fn put_payment(&mut self, payment: &PaymentRecord) {
        self.ops.push(Op::Put(
            TreeId::Payments,
            keys::record(payment.env, payment.id),
            encode(payment),
        ));
    }

    pub fn audit(&mut self, entry: &AuditEntry) {
        let key = keys::audit(entry.entity.env, entry.entity.id, entry.version);
        self.ops.push(Op::Put(TreeId::Audit, key, encode(entry)));
    }

    /// The event, and its place in the queue the webhook dispatcher fans out from.
    pub fn event(&mut self, event: &OutboxEvent) {
        let key = keys::outbox(event.env, event.id);
        self.ops
            .push(Op::Put(TreeId::EventQueue, key.clone(), Vec::new()));
        self.ops.push(Op::Put(TreeId::Outbox, key, encode(event)));
        self.writes_events = true;
    }

    pub fn set_timer(&mut self, timer: &Timer) {
        self.timer_envs.push(timer.entity.env);
        self.ops
            .push(Op::Put(TreeId::Timers, timer_key(timer), encode(timer)));
    }

    pub fn clear_timer(&mut self, timer: &Timer) {
        self.ops.push(Op::Delete(TreeId::Timers, timer_key(timer)));
    }

    /// The answer to an Idempotency-Key (`key` from [`keys::idempotency`]), in the same
    /// commit as the transition it answers: a crash keeps both or neither.
    pub fn put_response(&mut self, key: &[u8], response: &IdempotentResponse) {
        self.ops
            .push(Op::Put(TreeId::Idempotency, key.to_vec(), encode(response)));
    }

    pub fn delete_response(&mut self, key: &[u8]) {
        self.ops.push(Op::Delete(TreeId::Idempotency, key.to_vec()));
    }

    fn index_new(
        &mut self,
        env: Environment,
        kind: EntityKind,
        id: ObjectId,
        (carrier, employer): (ObjectId, ObjectId),
        status: &str,
    ) {
        for key in keys::index_entries(env, kind, id, carrier, employer, status) {
            self.index_put(key);
        }
    }

    /// An index entry and, in the same commit, its place in the count of its prefix (lists
    /// read their total from the count).
    fn index_put(&mut self, key: Vec<u8>) {
        let counted = keys::index_entry_prefix(&key).to_vec();
        self.ops.push(Op::Put(TreeId::Indexes, key, Vec::new()));
        self.ops.push(Op::Count(counted, 1));
    }

    fn index_delete(&mut self, key: Vec<u8>) {
        let counted = keys::index_entry_prefix(&key).to_vec();
        self.ops.push(Op::Delete(TreeId::Indexes, key));
        self.ops.push(Op::Count(counted, -1));
    }

    fn index_status(
        &mut self,
        env: Environment,
        kind: EntityKind,
        id: ObjectId,
        (carrier, employer): (ObjectId, ObjectId),
        old: &str,
        new: &str,
    ) {
        if old == new {
            return;
        }
        for key in keys::status_entries(env, kind, id, carrier, employer, old) {
            self.index_delete(key);
        }
        for key in keys::status_entries(env, kind, id, carrier, employer, new) {
            self.index_put(key);
        }
    }
}

pub(crate) fn timer_key(t: &Timer) -> Vec<u8> {
    keys::timer(
        t.entity.env,
        t.due,
        t.entity.kind,
        t.entity.id,
        t.cycle,
        t.attempt,
    )
}
