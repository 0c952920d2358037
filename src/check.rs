//! `premia check`: verify every promise the store makes, record by record, on a data dir no
//! server is using. It reads only; it repairs nothing. Used by the operator after an incident
//! and by the crash tests after every SIGKILL.
//!
//! What it checks, per environment:
//! - every record decodes and its machine's invariants hold;
//! - audit trails are contiguous (versions 1..=record version), and every outbox event
//!   belongs to an audited transition;
//! - the secondary indexes hold exactly the entries the records call for;
//! - every timer points at a live entity in a state that expects it, and every timer an
//!   entity expects is there;
//! - a paid link's payment agrees with it; one subscription per paid installment plan, never
//!   two.

use crate::actors::{link_expiry_timer, plan_subscription_id};
use crate::domain::{EntityKind, Environment, LinkRecord, ObjectId, SubscriptionRecord, Timer};
use crate::store::keys;
use crate::store::{Store, StoreError};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What was checked and what was wrong.
#[derive(Debug, Default)]
pub struct Report {
    pub links: usize,
    pub subscriptions: usize,
    pub payments: usize,
    pub events: usize,
    pub timers: usize,
    pub violations: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Check every environment of `store`. An unreadable record is a violation; a failing read
/// of the store itself is an error.
pub fn check(store: &Store) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for env in Environment::ALL {
        check_env(store, env, &mut report)?;
    }
    Ok(report)
}

/// An unreadable record is a violation to report, not a reason to stop checking the rest.
fn readable<T>(
    what: &str,
    read: Result<Vec<T>, StoreError>,
    bad: &mut impl FnMut(String),
) -> Result<Vec<T>, StoreError> {
    match read {
        Err(e @ StoreError::Corrupt { .. }) => {
            bad(format!("{what}: {e}"));
            Ok(Vec::new())
        }
        other => other,
    }
}

fn check_env(store: &Store, env: Environment, r: &mut Report) -> Result<(), StoreError> {
    let mut bad = |what: String| r.violations.push(format!("[{}] {what}", env.as_str()));
    let links: HashMap<ObjectId, LinkRecord> = readable("links", store.links(env), &mut bad)?
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    let subs: HashMap<ObjectId, SubscriptionRecord> =
        readable("subscriptions", store.subscriptions(env), &mut bad)?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
    let payments = readable("payments", store.payments(env), &mut bad)?;

    // Machines.
    for link in links.values() {
        if let Err(v) = link.machine.check_invariants() {
            bad(format!("payment link {}: {v}", link.id));
        }
    }
    for sub in subs.values() {
        if let Err(v) = sub.machine.check_invariants() {
            bad(format!("subscription {}: {v}", sub.id));
        }
    }
    for payment in &payments {
        if let Err(v) = payment.machine.check_invariants() {
            bad(format!("payment {}: {v}", payment.id));
        }
    }

    // Audit trails and events.
    let mut audited = HashSet::new();
    let versions = links
        .values()
        .map(|l| (EntityKind::PaymentLink, l.id, l.version))
        .chain(
            subs.values()
                .map(|s| (EntityKind::Subscription, s.id, s.version)),
        );
    for (kind, id, version) in versions {
        let trail = readable("audit trail", store.audit_trail(env, id), &mut bad)?;
        let found: Vec<u64> = trail.iter().map(|a| a.version).collect();
        if found != (1..=version).collect::<Vec<u64>>() {
            bad(format!(
                "{kind:?} {id}: audit versions {found:?}, expected 1..={version}"
            ));
        }
        audited.extend(trail.iter().map(|a| (a.entity.id, a.version)));
    }
    let events = readable("outbox events", store.outbox_events(env), &mut bad)?;
    for event in &events {
        // An endpoint's own notices (`webhook_endpoint.disabled`) follow no audited
        // transition of a link or subscription.
        if event.entity.kind == EntityKind::WebhookEndpoint {
            continue;
        }
        if !audited.contains(&(event.entity.id, event.version)) {
            bad(format!(
                "event {} ({}) names version {} of {}, which no audited transition produced",
                event.id, event.kind, event.version, event.entity.id
            ));
        }
    }

    // Indexes: exactly what the records call for.
    let mut expected = BTreeSet::new();
    let mut index = |kind: EntityKind, id, carrier: ObjectId, employer: ObjectId, status: &str| {
        expected.extend(keys::index_entries(
            env, kind, id, carrier, employer, status,
        ));
    };
    for l in links.values() {
        let (carrier, employer) = (l.terms.carrier_id, l.terms.employer_id);
        index(
            EntityKind::PaymentLink,
            l.id,
            carrier,
            employer,
            l.machine.state_name(),
        );
    }
    for s in subs.values() {
        index(
            EntityKind::Subscription,
            s.id,
            s.carrier_id,
            s.employer_id,
            s.machine.state_name(),
        );
    }
    let actual: BTreeSet<Vec<u8>> = store.index_keys(env)?.into_iter().collect();
    // Counts: each index prefix's count is the number of its entries (lists' totals).
    let mut expected_counts = std::collections::BTreeMap::<Vec<u8>, u64>::new();
    for key in &expected {
        *expected_counts
            .entry(keys::index_entry_prefix(key).to_vec())
            .or_default() += 1;
    }
    let actual_counts: std::collections::BTreeMap<Vec<u8>, u64> =
        store.index_counts(env)?.into_iter().collect();
    for (prefix, n) in &expected_counts {
        let stored = actual_counts.get(prefix).copied().unwrap_or(0);
        if stored != *n {
            bad(format!(
                "index count of {} is {stored}, its entries call for {n}",
                hex::encode(prefix)
            ));
        }
    }
    for (prefix, n) in &actual_counts {
        if !expected_counts.contains_key(prefix) {
            bad(format!(
                "index count of {} is {n}, and no record calls for it",
                hex::encode(prefix)
            ));
        }
    }
    for missing in expected.difference(&actual) {
        bad(format!("index entry missing: {}", hex::encode(missing)));
    }
    for stray in actual.difference(&expected) {
        bad(format!(
            "index entry without its record: {}",
            hex::encode(stray)
        ));
    }

    // Timers: each one expected by a live entity, each expected one present.
    let timers = readable("timers", store.timers(env), &mut bad)?;
    let mut wanted: HashSet<Timer> = HashSet::new();
    for l in links.values() {
        if l.machine.state_name() == "active" {
            wanted.extend(link_expiry_timer(l));
        }
    }
    for s in subs.values() {
        if matches!(s.machine.state_name(), "active" | "past_due") {
            wanted.extend(s.pending_timer);
        } else if let Some(t) = s.pending_timer {
            bad(format!(
                "subscription {} is {} yet waits for a timer due {}",
                s.id,
                s.machine.state_name(),
                t.due.to_rfc3339()
            ));
        }
    }
    let present: HashSet<Timer> = timers.iter().copied().collect();
    for t in &timers {
        if !wanted.contains(t) {
            bad(format!(
                "timer {:?} of {} due {} is expected by no live entity",
                t.kind,
                t.entity.id,
                t.due.to_rfc3339()
            ));
        }
    }
    for t in wanted.difference(&present) {
        bad(format!(
            "{} expects a {:?} timer due {} that is not stored",
            t.entity.id,
            t.kind,
            t.due.to_rfc3339()
        ));
    }

    // Payments and installment plans.
    let payments_by_id: HashMap<ObjectId, _> = payments.iter().map(|p| (p.id, p)).collect();
    for l in links.values() {
        if let Some(pid) = l.payment_id {
            match payments_by_id.get(&pid) {
                None => bad(format!(
                    "payment link {} names payment {pid}, which is missing",
                    l.id
                )),
                Some(p) if p.machine.data().refunded != l.machine.data().refunded => bad(format!(
                    "payment link {} refunded {} but its payment {pid} refunded {}",
                    l.id,
                    l.machine.data().refunded,
                    p.machine.data().refunded
                )),
                Some(_) => {}
            }
        }
        let paid = l.payment_id.is_some();
        match (
            paid && l.terms.installment_plan.is_some(),
            l.subscription_id,
        ) {
            (true, Some(sid)) if sid == plan_subscription_id(l.id) => {
                if subs.get(&sid).and_then(|s| s.source_link_id) != Some(l.id) {
                    bad(format!(
                        "payment link {}'s plan subscription {sid} is missing",
                        l.id
                    ));
                }
            }
            (false, None) => {}
            (_, other) => bad(format!(
                "payment link {} (paid: {paid}) names subscription {other:?}",
                l.id
            )),
        }
    }
    for s in subs.values() {
        if let Some(link) = s.source_link_id {
            if links.get(&link).and_then(|l| l.subscription_id) != Some(s.id) {
                bad(format!(
                    "subscription {} claims payment link {link}, which does not name it",
                    s.id
                ));
            }
        }
    }

    r.links += links.len();
    r.subscriptions += subs.len();
    r.payments += payments.len();
    r.events += events.len();
    r.timers += timers.len();
    Ok(())
}
