//! Key layout. Every key starts with the environment's tag byte; big-endian numbers keep
//! sled's byte order equal to time order.
//!
//! | tree | key |
//! |---|---|
//! | links, subscriptions, payments | env · id |
//! | audit | env · entity id · version (u64) |
//! | outbox | env · event id |
//! | timers | env · due (u64 ms) · entity kind · entity id · cycle (u32) · attempt (u32) |
//! | indexes | env · kind · field · value · 0 · id (composite values: owner id · status) |
//! | index_counts | env · kind · field · value · 0 (an index entry's key without the id) |
//! | idempotency | env · client id · 0 · Idempotency-Key |
//! | event_queue | env · event id (events not yet fanned out to endpoints) |
//! | webhook_endpoints | env · endpoint id |
//! | deliveries | env · endpoint id · delivery id |
//! | delivery_queue | env · endpoint id · due (u64 ms) · delivery id |

use crate::domain::{EntityKind, Environment, ObjectId};
use state_machines::Timestamp;

pub fn record(env: Environment, id: ObjectId) -> Vec<u8> {
    let mut k = Vec::with_capacity(13);
    k.push(env.tag());
    k.extend_from_slice(id.bytes());
    k
}

pub fn audit(env: Environment, id: ObjectId, version: u64) -> Vec<u8> {
    let mut k = record(env, id);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

pub fn audit_prefix(env: Environment, id: ObjectId) -> Vec<u8> {
    record(env, id)
}

pub fn outbox(env: Environment, event_id: ObjectId) -> Vec<u8> {
    record(env, event_id)
}

/// An Idempotency-Key is scoped to the API client that sent it. Client ids never hold a 0
/// byte, so the separator keeps one client's keys from prefixing another's.
pub fn idempotency(env: Environment, client_id: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + client_id.len() + key.len());
    k.push(env.tag());
    k.extend_from_slice(client_id.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// Timers sort by due time, so "what is due" is a prefix range scan.
pub fn timer(
    env: Environment,
    due: Timestamp,
    kind: EntityKind,
    id: ObjectId,
    cycle: u32,
    attempt: u32,
) -> Vec<u8> {
    let mut k = Vec::with_capacity(31);
    k.push(env.tag());
    k.extend_from_slice(&due_bytes(due));
    k.push(kind.tag());
    k.extend_from_slice(id.bytes());
    k.extend_from_slice(&cycle.to_be_bytes());
    k.extend_from_slice(&attempt.to_be_bytes());
    k
}

/// The first key after every timer of `env` due at or before `due`.
pub fn timers_due_end(env: Environment, due: Timestamp) -> Vec<u8> {
    let mut k = vec![env.tag()];
    let next = (due.millis().max(-1) + 1) as u64;
    k.extend_from_slice(&next.to_be_bytes());
    k
}

pub fn timer_due(key: &[u8]) -> Timestamp {
    let mut b = [0u8; 8];
    b.copy_from_slice(&key[1..9]);
    Timestamp::from_millis(u64::from_be_bytes(b) as i64)
}

fn due_bytes(due: Timestamp) -> [u8; 8] {
    // Times before 1970 never occur; clamp so the cast cannot wrap.
    (due.millis().max(0) as u64).to_be_bytes()
}

/// Secondary index fields (lists never scan every record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexField {
    Carrier,
    Employer,
    Status,
    /// Every record of the kind, newest first: for unfiltered lists.
    All,
    /// Carrier and status together (value: carrier id · status), so a list filtered by
    /// both finds and counts exactly its records without loading any.
    CarrierStatus,
    /// Employer and status together (value: employer id · status).
    EmployerStatus,
}

impl IndexField {
    fn tag(self) -> u8 {
        match self {
            IndexField::Carrier => b'c',
            IndexField::Employer => b'e',
            IndexField::Status => b's',
            IndexField::All => b'*',
            IndexField::CarrierStatus => b'C',
            IndexField::EmployerStatus => b'E',
        }
    }
}

/// The value of a composite index entry: an owner's id, then a status.
pub fn owner_status(owner: ObjectId, status: &str) -> Vec<u8> {
    let mut v = owner.bytes().to_vec();
    v.extend_from_slice(status.as_bytes());
    v
}

/// Every index entry a record with these fields calls for: what commits write and what
/// `premia check` expects.
pub fn index_entries(
    env: Environment,
    kind: EntityKind,
    id: ObjectId,
    carrier: ObjectId,
    employer: ObjectId,
    status: &str,
) -> Vec<Vec<u8>> {
    let mut keys = vec![
        index(env, kind, IndexField::All, &[], id),
        index(env, kind, IndexField::Carrier, carrier.bytes(), id),
        index(env, kind, IndexField::Employer, employer.bytes(), id),
    ];
    keys.extend(status_entries(env, kind, id, carrier, employer, status));
    keys
}

/// The index entries that name a record's status (they move when it changes).
pub fn status_entries(
    env: Environment,
    kind: EntityKind,
    id: ObjectId,
    carrier: ObjectId,
    employer: ObjectId,
    status: &str,
) -> [Vec<u8>; 3] {
    [
        index(env, kind, IndexField::Status, status.as_bytes(), id),
        index(
            env,
            kind,
            IndexField::CarrierStatus,
            &owner_status(carrier, status),
            id,
        ),
        index(
            env,
            kind,
            IndexField::EmployerStatus,
            &owner_status(employer, status),
            id,
        ),
    ]
}

pub fn index_prefix(
    env: Environment,
    kind: EntityKind,
    field: IndexField,
    value: &[u8],
) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + value.len() + 1 + 12);
    k.push(env.tag());
    k.push(kind.tag());
    k.push(field.tag());
    k.extend_from_slice(value);
    // Terminates variable-length values (status names) so "active" never prefixes another.
    k.push(0);
    k
}

pub fn index(
    env: Environment,
    kind: EntityKind,
    field: IndexField,
    value: &[u8],
    id: ObjectId,
) -> Vec<u8> {
    let mut k = index_prefix(env, kind, field, value);
    k.extend_from_slice(id.bytes());
    k
}

/// An index entry's key without its id: the prefix its list scans, and the key of its count.
pub fn index_entry_prefix(key: &[u8]) -> &[u8] {
    &key[..key.len() - 12]
}

pub fn index_id(key: &[u8]) -> ObjectId {
    let mut b = [0u8; 12];
    b.copy_from_slice(&key[key.len() - 12..]);
    ObjectId::from_bytes(b)
}

/// A delivery, under its endpoint so an endpoint's deliveries are one prefix.
pub fn delivery(env: Environment, endpoint: ObjectId, delivery: ObjectId) -> Vec<u8> {
    let mut k = record(env, endpoint);
    k.extend_from_slice(delivery.bytes());
    k
}

/// A pending delivery's place in its endpoint's queue, ordered by due time.
pub fn delivery_queue(
    env: Environment,
    endpoint: ObjectId,
    due: Timestamp,
    delivery: ObjectId,
) -> Vec<u8> {
    let mut k = record(env, endpoint);
    k.extend_from_slice(&due_bytes(due));
    k.extend_from_slice(delivery.bytes());
    k
}

/// The due time and delivery id of a `delivery_queue` key.
pub fn delivery_queue_entry(key: &[u8]) -> (Timestamp, ObjectId) {
    let mut due = [0u8; 8];
    due.copy_from_slice(&key[13..21]);
    let mut id = [0u8; 12];
    id.copy_from_slice(&key[21..33]);
    (
        Timestamp::from_millis(u64::from_be_bytes(due) as i64),
        ObjectId::from_bytes(id),
    )
}
