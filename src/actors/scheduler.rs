//! The scheduler: fires durable timers. The timers tree is the only truth (keyed by due
//! time), so a restart reloads nothing: the loop just looks at what is due.
//!
//! Firing is ordered per entity (an entity's timers fire one after another, earliest first)
//! and parallel across entities, so 100,000 installments due at the same instant share group
//! commits instead of queueing behind one another.

use super::{Engine, EngineError, Inner};
use crate::domain::{EntityRef, Environment, Timer};
use futures::stream::{self, StreamExt};
use std::collections::{HashMap, HashSet};
use std::sync::Weak;
use std::time::Duration;

/// Timers read from the store per round.
const BATCH: usize = 20_000;
/// Longest sleep between looks at the timers tree (the test clock can jump meanwhile).
const MAX_NAP: Duration = Duration::from_millis(500);

pub(super) async fn fire_due(engine: &Engine, env: Environment) -> Result<usize, EngineError> {
    let _one_firer = engine.0.firing[env as usize].lock().await;
    let core = &engine.0.core;
    let mut attempted: HashSet<Timer> = HashSet::new();
    loop {
        let now = core.clock(env).now();
        let due: Vec<Timer> = core
            .store
            .due_timers(env, now, BATCH)?
            .into_iter()
            .filter(|t| !attempted.contains(t))
            .collect();
        if due.is_empty() {
            return Ok(attempted.len());
        }
        // Group by entity, keeping each entity's timers in due order.
        let mut order: Vec<EntityRef> = Vec::new();
        let mut per_entity: HashMap<EntityRef, Vec<Timer>> = HashMap::new();
        for timer in due {
            attempted.insert(timer);
            per_entity
                .entry(timer.entity)
                .or_insert_with(|| {
                    order.push(timer.entity);
                    Vec::new()
                })
                .push(timer);
        }
        let groups = order
            .into_iter()
            .map(|e| per_entity.remove(&e).expect("grouped above"));
        stream::iter(groups)
            .for_each_concurrent(core.config.firing_concurrency, |timers| async move {
                for timer in timers {
                    if let Err(error) = engine.fire(timer).await {
                        // The timer stays; the next round (or restart) tries it again.
                        tracing::warn!(?timer, %error, "timer did not fire");
                    }
                }
            })
            .await;
    }
}

pub(super) fn spawn_loop(inner: Weak<Inner>, env: Environment) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Some(inner) = inner.upgrade() else { return };
            let engine = Engine(inner);
            let core = engine.0.core.clone();
            let nap = match core.store.next_due(env) {
                Ok(Some(due)) => {
                    let wait = due.millis() - core.clock(env).now().millis();
                    Duration::from_millis(wait.max(0) as u64).min(MAX_NAP)
                }
                Ok(None) => MAX_NAP,
                Err(error) => {
                    tracing::error!(%error, "reading timers failed");
                    MAX_NAP
                }
            };
            if !nap.is_zero() {
                drop(engine);
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    _ = core.timers_changed[env as usize].notified() => {}
                }
                continue;
            }
            if let Err(error) = engine.fire_due(env).await {
                tracing::error!(%error, env = %env, "firing timers failed");
                tokio::time::sleep(MAX_NAP).await;
            }
        }
    })
}

/// Passivates idle actors every half idle period, and actors beyond the resident cap every
/// second.
pub(super) fn spawn_passivator(inner: Weak<Inner>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_idle_sweep = tokio::time::Instant::now();
        loop {
            let Some((period, max_resident)) = inner
                .upgrade()
                .map(|i| (i.core.config.passivate_after, i.core.config.max_resident))
            else {
                return;
            };
            let half = (period / 2).max(Duration::from_millis(100));
            tokio::time::sleep(half.min(Duration::from_secs(1))).await;
            let Some(inner) = inner.upgrade() else { return };
            // Between idle sweeps only the cap is enforced.
            let idle = if last_idle_sweep.elapsed() >= half {
                last_idle_sweep = tokio::time::Instant::now();
                period
            } else {
                Duration::MAX
            };
            let passivated = Engine(inner).passivate(idle, max_resident);
            if passivated > 0 {
                tracing::debug!(passivated, "passivated idle actors");
            }
        }
    })
}
