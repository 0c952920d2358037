//! The payment-link actor: the single writer of one link and of its payments. It asks the
//! link's machine, carries out the effects (charge, refund, start the installment plan),
//! commits, and replies. Business rejections are replies, never a failing handler.

use super::{Core, EngineError, Receipt, Reply, Tx};
use crate::domain::{
    EntityKind, EntityRef, EventObject, LinkRecord, ObjectId, PaymentRecord, SubscriptionRecord,
    Timer, TimerKind,
};
use crate::processor::{ChargeOutcome, ChargeRequest, PaymentSource, RefundRequest};
use crate::store::Commit;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use state_machines::{
    Cents, LinkEffect, LinkEvent, Payment, PaymentEvent, Subscription, SubscriptionTerms, Timestamp,
};
use std::sync::Arc;

pub enum LinkCommand {
    Pay {
        source: PaymentSource,
    },
    Cancel,
    /// `None`: refund everything that remains.
    Refund {
        amount: Option<Cents>,
        reason: Option<String>,
    },
    Fire(Timer),
}

pub struct LinkMsg(
    pub LinkCommand,
    pub Option<Receipt<LinkRecord>>,
    pub RpcReplyPort<Reply<LinkRecord>>,
);

pub struct LinkActor {
    pub core: Arc<Core>,
}

pub struct LinkState {
    record: LinkRecord,
    /// The link's captured payment: this actor is its only writer, so it is kept here.
    payment: Option<PaymentRecord>,
    /// Seq of the last write this actor made visible: answers wait until it is durable.
    last_seq: u64,
}

/// The id of the subscription a link's installment plan starts: the same after any crash.
pub fn plan_subscription_id(link: ObjectId) -> ObjectId {
    ObjectId::derived(link, "installment-subscription")
}

pub fn expiry_timer(link: &LinkRecord) -> Option<Timer> {
    link.machine.data().expires_at.map(|due| Timer {
        entity: EntityRef {
            env: link.env,
            kind: EntityKind::PaymentLink,
            id: link.id,
        },
        due,
        kind: TimerKind::LinkExpiry,
        cycle: 0,
        attempt: 0,
    })
}

/// Everything creating a link writes.
pub fn create_commit(link: &LinkRecord) -> Commit {
    let mut tx = Tx::new(
        link.env,
        EntityKind::PaymentLink,
        link.id,
        0,
        link.created_at,
    );
    tx.commit.create_link(link);
    if let Some(timer) = expiry_timer(link) {
        tx.commit.set_timer(&timer);
    }
    tx.audit("Create", None, link.machine.state_name(), None);
    tx.event(
        "payment_link.created",
        EventObject::PaymentLink(Box::new(link.clone())),
    );
    tx.commit
}

impl Actor for LinkActor {
    type Msg = LinkMsg;
    type State = LinkState;
    type Arguments = LinkRecord;

    async fn pre_start(
        &self,
        _: ActorRef<LinkMsg>,
        record: LinkRecord,
    ) -> Result<LinkState, ActorProcessingErr> {
        let payment = match record.payment_id {
            Some(id) => Some(
                self.core
                    .store
                    .payment(record.env, id)?
                    .ok_or_else(|| format!("payment {id} of link {} is missing", record.id))?,
            ),
            None => None,
        };
        Ok(LinkState {
            record,
            payment,
            last_seq: self.core.store.last_seq(),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<LinkMsg>,
        LinkMsg(command, receipt, reply): LinkMsg,
        state: &mut LinkState,
    ) -> Result<(), ActorProcessingErr> {
        let answer = match self.decide(command, state).await {
            Ok(Decided {
                record,
                payment,
                mut commit,
            }) => {
                if let Some(receipt) = receipt {
                    receipt.write(&record, &mut commit);
                }
                self.core.committed(&commit);
                state.last_seq = self.core.store.apply(commit);
                state.record = record;
                if payment.is_some() {
                    state.payment = payment;
                }
                Ok(state.record.clone())
            }
            Err(e) => Err(e),
        };
        let _ = reply.send((answer, state.last_seq));
        Ok(())
    }
}

/// What a command decided: the next record, the captured payment if it changed, the commit.
struct Decided {
    record: LinkRecord,
    payment: Option<PaymentRecord>,
    commit: Commit,
}

impl From<(LinkRecord, Commit)> for Decided {
    fn from((record, commit): (LinkRecord, Commit)) -> Decided {
        Decided {
            record,
            payment: None,
            commit,
        }
    }
}

impl LinkActor {
    async fn decide(
        &self,
        command: LinkCommand,
        state: &LinkState,
    ) -> Result<Decided, EngineError> {
        let link = &state.record;
        let now = self.core.clock(link.env).now();
        match command {
            LinkCommand::Pay { source } => self.pay(link, source, now).await,
            LinkCommand::Cancel => {
                let mut next = link.clone();
                let mut tx = Tx::for_link(&next, now);
                let from = next.machine.state_name();
                next.machine.handle(&LinkEvent::Cancel { now })?;
                if let Some(timer) = expiry_timer(link) {
                    tx.commit.clear_timer(&timer);
                }
                tx.audit("Cancel", Some(from), next.machine.state_name(), None);
                Ok(finish(next, tx, from, "payment_link.cancelled").into())
            }
            LinkCommand::Refund { amount, reason } => {
                self.refund(link, state.payment.as_ref(), amount, reason, now)
                    .await
            }
            LinkCommand::Fire(timer) => Ok(expire(link, &timer, now).into()),
        }
    }

    async fn pay(
        &self,
        link: &LinkRecord,
        source: PaymentSource,
        now: Timestamp,
    ) -> Result<Decided, EngineError> {
        let amount = link.terms.amount;
        // Never charge for a link that could not accept the payment.
        link.machine
            .clone()
            .handle(&LinkEvent::PaymentSucceeded { amount, now })?;
        let payer = EntityRef {
            env: link.env,
            kind: EntityKind::PaymentLink,
            id: link.id,
        };
        let attempt = link.machine.data().failed_attempts;
        let outcome = self
            .core
            .processor(link.env)
            .charge(ChargeRequest {
                payer,
                amount,
                source,
                idempotency_key: format!("{}-{attempt}", link.id),
            })
            .await;

        let mut next = link.clone();
        let mut tx = Tx::for_link(&next, now);
        let from = next.machine.state_name();
        let mut payment = PaymentRecord {
            id: ObjectId::new(now.millis()),
            env: link.env,
            parent: payer,
            method: outcome_method(&outcome),
            cycle: None,
            processor_ref: None,
            machine: Payment::new(amount),
            created_at: now,
            updated_at: now,
        };
        let (event, kind) = match outcome {
            ChargeOutcome::Succeeded { reference, .. } => {
                payment.processor_ref = Some(reference);
                for e in [PaymentEvent::Approve, PaymentEvent::Capture] {
                    payment.machine.handle(&e)?;
                }
                (
                    LinkEvent::PaymentSucceeded { amount, now },
                    "payment.completed",
                )
            }
            ChargeOutcome::Declined { reason, .. } => {
                payment.machine.handle(&PaymentEvent::Fail { reason })?;
                (LinkEvent::PaymentFailed { now }, "payment.failed")
            }
        };
        for effect in next.machine.handle(&event)? {
            match effect {
                LinkEffect::Paid { .. } => {
                    next.payment_id = Some(payment.id);
                    if let Some(timer) = expiry_timer(link) {
                        tx.commit.clear_timer(&timer);
                    }
                }
                LinkEffect::StartInstallmentPlan => {
                    next.subscription_id = Some(plan_subscription_id(link.id));
                }
                _ => {}
            }
        }
        tx.commit.put_payment(&payment);
        tx.audit(
            event.name(),
            Some(from),
            next.machine.state_name(),
            Some(payment.id.to_hex()),
        );
        let captured = (next.payment_id == Some(payment.id)).then_some(payment);
        let starts_plan = next.subscription_id.is_some() && link.subscription_id.is_none();
        let (record, mut commit) = finish(next, tx, from, kind);
        // After `finish`, so payment.completed's event id sorts before subscription.created's
        // and partners hear of the payment first.
        if starts_plan {
            let (_, plan) = super::subscription::create_commit(self.plan_subscription(link, now));
            commit.extend(plan);
        }
        Ok(Decided {
            record,
            payment: captured,
            commit,
        })
    }

    fn plan_subscription(&self, link: &LinkRecord, now: Timestamp) -> SubscriptionRecord {
        let plan = link
            .terms
            .installment_plan
            .expect("StartInstallmentPlan only for links with a plan");
        // The down payment covers the first period: installment 1 is due one interval later.
        let terms = SubscriptionTerms {
            amount: plan.per_installment_cents,
            interval: plan.interval,
            count: Some(plan.count),
            anchor: now.plus_months(plan.interval.months()),
            dunning: self.core.config.dunning.clone(),
        };
        let (machine, _) = Subscription::new(terms);
        SubscriptionRecord {
            id: plan_subscription_id(link.id),
            env: link.env,
            carrier_id: link.terms.carrier_id,
            employer_id: link.terms.employer_id,
            policy_id: link.terms.policy_id,
            customer: link.terms.customer.clone(),
            metadata: link.terms.metadata.clone(),
            machine,
            source_link_id: Some(link.id),
            pending_timer: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    async fn refund(
        &self,
        link: &LinkRecord,
        payment: Option<&PaymentRecord>,
        amount: Option<Cents>,
        reason: Option<String>,
        now: Timestamp,
    ) -> Result<Decided, EngineError> {
        let amount = amount.unwrap_or_else(|| link.machine.refundable());
        let event = LinkEvent::Refund { amount, now };
        let mut next = link.clone();
        let from = next.machine.state_name();
        next.machine.handle(&event)?;
        // The link accepted: its captured payment must accept too, before money moves.
        let mut payment = payment
            .cloned()
            .ok_or_else(|| EngineError::Corrupt(format!("paid link {} has no payment", link.id)))?;
        payment.machine.handle(&PaymentEvent::Refund { amount })?;
        payment.updated_at = now;
        let payer = EntityRef {
            env: link.env,
            kind: EntityKind::PaymentLink,
            id: link.id,
        };
        let refund_no = link.version;
        self.core
            .processor(link.env)
            .refund(RefundRequest {
                payer,
                charge_reference: payment.processor_ref.clone(),
                amount,
                idempotency_key: format!("{}-refund-{refund_no}", link.id),
            })
            .await
            .map_err(|e| EngineError::Processor(e.to_string()))?;
        let mut tx = Tx::for_link(&next, now);
        tx.commit.put_payment(&payment);
        let detail = format!(
            "{amount} cents{}",
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        tx.audit(
            "Refund",
            Some(from),
            next.machine.state_name(),
            Some(detail),
        );
        let (record, commit) = finish(next, tx, from, "payment.refunded");
        Ok(Decided {
            record,
            payment: Some(payment),
            commit,
        })
    }
}

/// A fired expiry timer. Stale timers (the link is no longer active) are simply removed.
fn expire(link: &LinkRecord, timer: &Timer, now: Timestamp) -> (LinkRecord, Commit) {
    let mut next = link.clone();
    let mut tx = Tx::for_link(&next, now);
    tx.commit.clear_timer(timer);
    let from = next.machine.state_name();
    if next.machine.handle(&LinkEvent::Expire { now }).is_err() {
        return (link.clone(), tx.commit);
    }
    tx.audit("Expire", Some(from), next.machine.state_name(), None);
    finish(next, tx, from, "payment_link.expired")
}

/// Stamp the new version, write the snapshot and the event.
fn finish(mut next: LinkRecord, mut tx: Tx, from: &str, event: &str) -> (LinkRecord, Commit) {
    next.version = tx.version();
    next.updated_at = tx.now();
    tx.commit.put_link(&next, from);
    tx.event(event, EventObject::PaymentLink(Box::new(next.clone())));
    (next, tx.commit)
}

fn outcome_method(outcome: &ChargeOutcome) -> crate::domain::PaymentMethod {
    match outcome {
        ChargeOutcome::Succeeded { method, .. } | ChargeOutcome::Declined { method, .. } => *method,
    }
}
