//! The delivery loop: a background task that fans queued events out into deliveries, then
//! starts every due delivery its endpoint has a free slot for, then sleeps until the next
//! one is due or something wakes it (new events, a finished attempt, a changed endpoint).
//! Never in a request's path: the API only writes events and endpoint records.

use super::{
    disabled_event, event_public_id, new_delivery, now, signing, ssrf, Attempt, DeliveryRecord,
    DeliveryStatus, EndpointRecord, Inner,
};
use crate::domain::{Environment, ObjectId};
use crate::http::views::EventView;
use crate::store::{Commit, StoreError};
use state_machines::Timestamp;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Events fanned out per commit.
const FAN_OUT_BATCH: usize = 512;
const FAN_OUT_BATCHES_PER_PASS: usize = 4;
/// The longest the loop sleeps without looking (a safety net; wake-ups come earlier).
const MAX_IDLE: Duration = Duration::from_secs(1);
/// Bytes of an endpoint's answer kept for the attempt's record.
const ERROR_TEXT: usize = 200;

pub(super) async fn run(hooks: Weak<Inner>) {
    loop {
        let Some(inner) = hooks.upgrade() else { return };
        let wait = match tick(&inner).await {
            Ok(next_due) => next_due
                .map(|due| Duration::from_millis((due.millis() - now().millis()).max(0) as u64))
                .unwrap_or(MAX_IDLE)
                .min(MAX_IDLE),
            Err(e) => {
                tracing::error!(error = %e, "webhook dispatcher");
                MAX_IDLE
            }
        };
        let store = inner.engine.store();
        tokio::select! {
            _ = store.events_written() => {}
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass; returns when the earliest delivery not yet started is due.
async fn tick(inner: &Arc<Inner>) -> Result<Option<Timestamp>, StoreError> {
    let more_queued = fan_out(inner).await?;
    let mut attempts = inner.attempts.lock().expect("not poisoned");
    while attempts.try_join_next().is_some() {}
    let store = inner.engine.store();
    let now = now();
    // Events left in the fan-out queue: come back at once.
    let mut next_due: Option<Timestamp> = more_queued.then_some(now);
    for env in Environment::ALL {
        for endpoint in store.webhook_endpoints(env)? {
            if endpoint.disabled {
                continue;
            }
            let slots = inner.slots(endpoint.id);
            let limit = inner.config.max_in_flight_per_endpoint * 2;
            for (due, id) in store.queued_deliveries(env, endpoint.id, limit)? {
                if due > now {
                    next_due = Some(next_due.map_or(due, |n| n.min(due)));
                    break;
                }
                if !inner.start(id) {
                    continue; // already in flight
                }
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    inner.finish(id);
                    break; // every slot busy: a finishing attempt wakes the loop
                };
                let inner = inner.clone();
                let endpoint = endpoint.clone();
                let task = async move {
                    if let Err(e) = attempt(&inner, &endpoint, id, due, slot).await {
                        tracing::error!(error = %e, delivery = %id, "webhook delivery");
                    }
                    inner.finish(id);
                    inner.wake.notify_one();
                };
                attempts.spawn(task);
            }
        }
    }
    Ok(next_due)
}

/// Turn queued events into deliveries, one commit per batch, a few batches per pass so
/// deliveries start even while events keep coming. Returns whether events are left.
async fn fan_out(inner: &Inner) -> Result<bool, StoreError> {
    let store = inner.engine.store();
    for _ in 0..FAN_OUT_BATCHES_PER_PASS {
        store.settle().await;
        let queued = store.queued_events(FAN_OUT_BATCH)?;
        if queued.is_empty() {
            return Ok(false);
        }
        let full = queued.len() == FAN_OUT_BATCH;
        let endpoints = [
            store.webhook_endpoints(Environment::Test)?,
            store.webhook_endpoints(Environment::Live)?,
        ];
        let now = now();
        let mut commit = Commit::new();
        for (env, id) in queued {
            commit.event_fanned_out(env, id);
            let Some(event) = store.outbox_event(env, id)? else {
                continue;
            };
            for endpoint in endpoints[env as usize]
                .iter()
                .filter(|e| !e.disabled && e.wants(&event.kind) && e.may_see(&event))
            {
                let delivery = new_delivery(endpoint, &event, now);
                commit.put_delivery(&delivery);
                commit.queue_delivery(&delivery, now);
            }
        }
        store.apply_durable(commit).await;
        if !full {
            return Ok(false);
        }
    }
    Ok(true)
}

/// POST one delivery and record the outcome.
async fn attempt(
    inner: &Inner,
    endpoint: &EndpointRecord,
    id: ObjectId,
    due: Timestamp,
    _slot: OwnedSemaphorePermit,
) -> Result<(), StoreError> {
    let store = inner.engine.store();
    let env = endpoint.env;
    let Some(delivery) = store.delivery(env, endpoint.id, id)? else {
        return Ok(());
    };
    if delivery.status != DeliveryStatus::Pending || delivery.next_attempt_at != Some(due) {
        // A queue entry read just before the attempt that settled or moved it committed:
        // the record (written in the same commit as the queue) is the truth.
        return Ok(());
    }
    let event = store.outbox_event(env, delivery.event_id)?;
    // The endpoint as it is now: its secret may have been rotated since the tick read it.
    let endpoint = store.webhook_endpoint(env, endpoint.id)?;
    let (Some(event), Some(endpoint)) = (event, endpoint) else {
        return Ok(()); // the endpoint was deleted with its deliveries
    };
    let body = serde_json::to_vec(&EventView::new(&event, &inner.public_url)).expect("JSON");
    let msg_id = event_public_id(event.id);
    let started_at = now();
    let timestamp = started_at.millis() / 1000;
    let signature = signing::signature_header(
        &endpoint.signing_secrets(started_at),
        &msg_id,
        timestamp,
        &body,
    );
    // The policy may have tightened since the URL was registered; literal IPs never reach
    // the guarded resolver, so the URL is checked again here.
    if let Err(refused) = ssrf::check_url(&endpoint.url, inner.config.policy(env)) {
        let refusal = Attempt {
            at: started_at,
            status_code: None,
            latency_ms: 0,
            error: Some(refused),
        };
        return record(inner, delivery, due, refusal, false).await;
    }
    let started = Instant::now();
    let sent = inner.clients[env as usize]
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let (succeeded, status_code, error) = match sent {
        Ok(response) => {
            let status = response.status();
            let text = answer_text(response).await;
            match status.is_success() {
                true => (true, Some(status.as_u16()), None),
                false => (
                    false,
                    Some(status.as_u16()),
                    Some(format!("HTTP {status}{text}")),
                ),
            }
        }
        Err(e) => (false, None, Some(describe(&e))),
    };
    let latency = started.elapsed();
    let outcome = if succeeded { "succeeded" } else { "failed" };
    metrics::counter!("premia_webhook_attempts_total", "outcome" => outcome).increment(1);
    metrics::histogram!("premia_webhook_attempt_duration_seconds").record(latency.as_secs_f64());
    let attempt = Attempt {
        at: started_at,
        status_code,
        latency_ms: latency.as_millis() as u64,
        error,
    };
    record(inner, delivery, due, attempt, succeeded).await
}

/// Record an attempt durably: settle the delivery, or queue its next retry.
async fn record(
    inner: &Inner,
    mut delivery: DeliveryRecord,
    due: Timestamp,
    attempt: Attempt,
    succeeded: bool,
) -> Result<(), StoreError> {
    let store = inner.engine.store();
    delivery.attempts.push(attempt);
    let finished = now();
    let mut commit = Commit::new();
    commit.unqueue_delivery(&delivery, due);
    let retries_done = delivery.attempts.len() - 1;
    if succeeded {
        delivery.status = DeliveryStatus::Succeeded;
        delivery.next_attempt_at = None;
    } else if let Some(delay) = inner.config.retry_schedule.get(retries_done) {
        let next = Timestamp::from_millis(finished.millis() + jittered(*delay).as_millis() as i64);
        delivery.next_attempt_at = Some(next);
        commit.queue_delivery(&delivery, next);
    } else {
        delivery.status = DeliveryStatus::Failed;
        delivery.next_attempt_at = None;
    }
    commit.put_delivery(&delivery);
    store.apply_durable(commit).await;
    record_health(inner, &delivery, succeeded, finished).await
}

/// Keep the endpoint's failing streak; disable it when the streak is too long.
async fn record_health(
    inner: &Inner,
    delivery: &DeliveryRecord,
    succeeded: bool,
    now: Timestamp,
) -> Result<(), StoreError> {
    let store = inner.engine.store();
    let (env, id) = (delivery.env, delivery.endpoint_id);
    let current = store.webhook_endpoint(env, id)?;
    let unchanged = match &current {
        None => true,
        Some(e) if succeeded => e.failing_since.is_none(),
        Some(e) => e.failing_since.is_some_and(|since| {
            now.millis() - since.millis() < inner.config.disable_after_failing.as_millis() as i64
        }),
    };
    if unchanged {
        return Ok(()); // the common case: no write
    }
    let _one_writer = inner.endpoint_writes.lock().await;
    store.settle().await;
    let Some(mut endpoint) = store.webhook_endpoint(env, id)? else {
        return Ok(());
    };
    let mut commit = Commit::new();
    if succeeded {
        endpoint.failing_since = None;
    } else {
        let since = *endpoint.failing_since.get_or_insert(now);
        let failing_for = Duration::from_millis((now.millis() - since.millis()).max(0) as u64);
        if failing_for >= inner.config.disable_after_failing && !endpoint.disabled {
            endpoint.disabled = true;
            endpoint.disabled_reason = Some(format!(
                "every delivery failed for {} hours",
                failing_for.as_secs() / 3600
            ));
            tracing::warn!(endpoint = %endpoint.id, "webhook endpoint disabled after failing continuously");
            commit.event(&disabled_event(&endpoint, now));
        }
    }
    endpoint.updated_at = now;
    commit.put_endpoint(&endpoint);
    store.apply_durable(commit).await;
    Ok(())
}

/// A short reason for a failed POST, without the URL (it may carry a partner's token).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirects are not followed"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", truncate(&detail))
    }
}

/// Read (a little of) the answer so the connection can be reused; a failure's text is kept.
async fn answer_text(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if kept.len() < ERROR_TEXT {
            kept.extend_from_slice(&chunk);
        }
        if kept.len() > 64 * 1024 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&kept);
    match text.trim() {
        "" => String::new(),
        t => format!(": {}", truncate(t)),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(ERROR_TEXT).collect()
}

/// `delay` stretched or shortened by up to 10% at random, so retries spread out.
fn jittered(delay: Duration) -> Duration {
    let mut b = [0u8; 4];
    let r = match getrandom::fill(&mut b) {
        Ok(()) => u32::from_be_bytes(b) as f64 / u32::MAX as f64,
        Err(_) => 0.5,
    };
    delay.mul_f64(0.9 + 0.2 * r)
}

impl Inner {
    fn slots(&self, endpoint: ObjectId) -> Arc<Semaphore> {
        self.slots
            .entry(endpoint)
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.max_in_flight_per_endpoint)))
            .clone()
    }

    /// Mark a delivery in flight; false if it already is.
    fn start(&self, delivery: ObjectId) -> bool {
        self.in_flight
            .lock()
            .expect("not poisoned")
            .insert(delivery)
    }

    fn finish(&self, delivery: ObjectId) {
        self.in_flight
            .lock()
            .expect("not poisoned")
            .remove(&delivery);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(100)).as_secs_f64();
            assert!((90.0..=110.0).contains(&d), "{d}");
        }
    }
}
