//! The subscription actor: the single writer of one subscription and of its installment
//! payments. Timers wake it for each installment and each dunning retry; it charges through
//! the processor and commits the outcome in the same commit as the due event.

use super::{Core, EngineError, Receipt, Reply, Tx};
use crate::domain::{
    EntityKind, EntityRef, EventObject, ObjectId, PaymentMethod, PaymentRecord, SubscriptionRecord,
    Timer, TimerKind,
};
use crate::processor::{ChargeOutcome, ChargeRequest, PaymentSource};
use crate::store::Commit;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use state_machines::{Payment, PaymentEvent, SubscriptionEffect, SubscriptionEvent, Timestamp};
use std::sync::Arc;

pub enum SubscriptionCommand {
    Cancel,
    Fire(Timer),
}

pub struct SubscriptionMsg(
    pub SubscriptionCommand,
    pub Option<Receipt<SubscriptionRecord>>,
    pub RpcReplyPort<Reply<SubscriptionRecord>>,
);

pub struct SubscriptionActor {
    pub core: Arc<Core>,
}

pub struct SubscriptionState {
    record: SubscriptionRecord,
    last_seq: u64,
}

fn timer(
    sub: &SubscriptionRecord,
    kind: TimerKind,
    cycle: u32,
    attempt: u32,
    due: Timestamp,
) -> Timer {
    Timer {
        entity: EntityRef {
            env: sub.env,
            kind: EntityKind::Subscription,
            id: sub.id,
        },
        due,
        kind,
        cycle,
        attempt,
    }
}

/// Everything creating a subscription writes: the record, the first installment's timer,
/// the audit entry and `subscription.created`.
pub fn create_commit(mut sub: SubscriptionRecord) -> (SubscriptionRecord, Commit) {
    let data = sub.machine.data();
    let first = data
        .next_billing_at
        .map(|at| timer(&sub, TimerKind::InstallmentDue, data.cycle, 0, at));
    sub.pending_timer = first;
    let mut tx = Tx::new(sub.env, EntityKind::Subscription, sub.id, 0, sub.created_at);
    tx.audit(
        "Create",
        None,
        sub.machine.state_name(),
        sub.source_link_id.map(|l| format!("from payment link {l}")),
    );
    sub.version = tx.version();
    tx.commit.create_subscription(&sub);
    if let Some(t) = &first {
        tx.commit.set_timer(t);
    }
    tx.event(
        "subscription.created",
        EventObject::Subscription(Box::new(sub.clone())),
    );
    (sub, tx.commit)
}

impl Actor for SubscriptionActor {
    type Msg = SubscriptionMsg;
    type State = SubscriptionState;
    type Arguments = SubscriptionRecord;

    async fn pre_start(
        &self,
        _: ActorRef<SubscriptionMsg>,
        record: SubscriptionRecord,
    ) -> Result<SubscriptionState, ActorProcessingErr> {
        Ok(SubscriptionState {
            record,
            last_seq: self.core.store.last_seq(),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<SubscriptionMsg>,
        SubscriptionMsg(command, receipt, reply): SubscriptionMsg,
        state: &mut SubscriptionState,
    ) -> Result<(), ActorProcessingErr> {
        let now = self.core.clock(state.record.env).now();
        let decided = match command {
            SubscriptionCommand::Cancel => cancel(&state.record, now),
            SubscriptionCommand::Fire(timer) => self.fire(&state.record, timer, now).await,
        };
        let answer = match decided {
            Ok((next, mut commit)) => {
                if let Some(receipt) = receipt {
                    receipt.write(&next, &mut commit);
                }
                self.core.committed(&commit);
                state.last_seq = self.core.store.apply(commit);
                state.record = next;
                Ok(state.record.clone())
            }
            Err(e) => Err(e),
        };
        let _ = reply.send((answer, state.last_seq));
        Ok(())
    }
}

fn cancel(
    sub: &SubscriptionRecord,
    now: Timestamp,
) -> Result<(SubscriptionRecord, Commit), EngineError> {
    let mut next = sub.clone();
    let mut tx = Tx::for_subscription(&next, now);
    let from = next.machine.state_name();
    let effects = next.machine.handle(&SubscriptionEvent::Cancel { now })?;
    tx.audit("Cancel", Some(from), next.machine.state_name(), None);
    let events = apply_effects(&mut next, &mut tx, effects);
    Ok(finish(next, tx, from, events))
}

impl SubscriptionActor {
    /// An installment or retry timer fired. A timer that no longer applies (wrong cycle,
    /// cancelled subscription) is removed and nothing else changes: firing is idempotent.
    async fn fire(
        &self,
        sub: &SubscriptionRecord,
        timer: Timer,
        now: Timestamp,
    ) -> Result<(SubscriptionRecord, Commit), EngineError> {
        let mut next = sub.clone();
        let mut tx = Tx::for_subscription(&next, now);
        tx.commit.clear_timer(&timer);
        if next.pending_timer == Some(timer) {
            next.pending_timer = None;
        }
        let due = match timer.kind {
            TimerKind::InstallmentDue => SubscriptionEvent::InstallmentDue {
                cycle: timer.cycle,
                now,
            },
            TimerKind::Retry => SubscriptionEvent::RetryDue {
                cycle: timer.cycle,
                attempt: timer.attempt,
                now,
            },
            TimerKind::LinkExpiry => return Ok((next, tx.commit)),
        };
        let from = next.machine.state_name();
        let Ok(effects) = next.machine.handle(&due) else {
            return Ok((next, tx.commit));
        };
        tx.audit(due.name(), Some(from), next.machine.state_name(), None);
        let Some((cycle, attempt, amount)) = effects.iter().find_map(|e| match e {
            SubscriptionEffect::Charge {
                cycle,
                attempt,
                amount,
            } => Some((*cycle, *attempt, *amount)),
            _ => None,
        }) else {
            return Err(EngineError::Corrupt(format!(
                "subscription {} accepted {} without a charge",
                sub.id,
                due.name()
            )));
        };

        let payer = EntityRef {
            env: sub.env,
            kind: EntityKind::Subscription,
            id: sub.id,
        };
        let outcome = self
            .core
            .processor(sub.env)
            .charge(ChargeRequest {
                payer,
                amount,
                source: PaymentSource::OnFile,
                idempotency_key: format!("{}-{cycle}-{attempt}", sub.id),
            })
            .await;
        let mut payment = PaymentRecord {
            id: ObjectId::new(now.millis()),
            env: sub.env,
            parent: payer,
            method: PaymentMethod::Card,
            cycle: Some(cycle),
            processor_ref: None,
            machine: Payment::new(amount),
            created_at: now,
            updated_at: now,
        };
        let result = match outcome {
            ChargeOutcome::Succeeded { reference, method } => {
                payment.processor_ref = Some(reference);
                payment.method = method;
                for e in [PaymentEvent::Approve, PaymentEvent::Capture] {
                    payment.machine.handle(&e)?;
                }
                SubscriptionEvent::InstallmentPaid { cycle, now }
            }
            ChargeOutcome::Declined { reason, method } => {
                payment.method = method;
                payment.machine.handle(&PaymentEvent::Fail { reason })?;
                SubscriptionEvent::InstallmentFailed { cycle, now }
            }
        };
        tx.commit.put_payment(&payment);
        let charged_state = next.machine.state_name();
        let effects = next.machine.handle(&result)?;
        tx.audit(
            result.name(),
            Some(charged_state),
            next.machine.state_name(),
            Some(payment.id.to_hex()),
        );
        let events = apply_effects(&mut next, &mut tx, effects);
        Ok(finish(next, tx, from, events))
    }
}

/// Timers to set and webhook events to emit for the machine's effects.
fn apply_effects(
    next: &mut SubscriptionRecord,
    tx: &mut Tx,
    effects: Vec<SubscriptionEffect>,
) -> Vec<&'static str> {
    let mut events = Vec::new();
    for effect in effects {
        match effect {
            SubscriptionEffect::ScheduleDue { cycle, at } => schedule(
                next,
                tx,
                timer(next, TimerKind::InstallmentDue, cycle, 0, at),
            ),
            SubscriptionEffect::ScheduleRetry { cycle, attempt, at } => {
                schedule(next, tx, timer(next, TimerKind::Retry, cycle, attempt, at))
            }
            SubscriptionEffect::InstallmentPaid { .. } => events.push("installment.paid"),
            SubscriptionEffect::InstallmentFailed { .. } => events.push("installment.failed"),
            SubscriptionEffect::PastDue => events.push("subscription.past_due"),
            SubscriptionEffect::Completed => events.push("subscription.completed"),
            SubscriptionEffect::Cancelled { .. } => {
                if let Some(pending) = next.pending_timer.take() {
                    tx.commit.clear_timer(&pending);
                }
                events.push("subscription.cancelled");
            }
            SubscriptionEffect::Charge { .. } => {}
        }
    }
    events
}

fn schedule(next: &mut SubscriptionRecord, tx: &mut Tx, t: Timer) {
    if let Some(old) = next.pending_timer.replace(t) {
        tx.commit.clear_timer(&old);
    }
    tx.commit.set_timer(&t);
}

fn finish(
    mut next: SubscriptionRecord,
    mut tx: Tx,
    from: &str,
    events: Vec<&str>,
) -> (SubscriptionRecord, Commit) {
    next.version = tx.version();
    next.updated_at = tx.now();
    tx.commit.put_subscription(&next, from);
    for kind in events {
        tx.event(kind, EventObject::Subscription(Box::new(next.clone())));
    }
    (next, tx.commit)
}
