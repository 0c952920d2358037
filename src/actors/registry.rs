//! The registry of resident entity actors: id → live actor, for one kind.
//!
//! Actors are virtual: a command to an entity that has no actor spawns one from its sled
//! snapshot; an actor idle for long enough is passivated. The race between the two is closed
//! by an in-flight count on each slot, changed only under the map's shard lock: a slot is
//! removed only while nobody is using it, so no command is ever queued to an actor that is
//! being stopped, and a stopped actor's id is never handed out again.

use super::EngineError;
use crate::domain::{Environment, ObjectId};
use dashmap::DashMap;
use ractor::rpc::CallResult;
use ractor::{ActorId, ActorRef, Message, RpcReplyPort};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type Key = (Environment, ObjectId);

struct Slot<M: Message> {
    actor: tokio::sync::OnceCell<ActorRef<M>>,
    inflight: AtomicUsize,
    /// Milliseconds since the registry's epoch.
    last_used: AtomicU64,
}

pub struct Registry<M: Message> {
    slots: DashMap<Key, Arc<Slot<M>>>,
    /// Which key an actor serves, for the supervisor.
    keys: DashMap<ActorId, Key>,
    epoch: Instant,
    /// Callers allowed to wait on one entity at once (its mailbox bound).
    max_waiting: usize,
}

/// Counts a caller as in flight on a slot until dropped.
struct InFlight<'a, M: Message> {
    slot: &'a Slot<M>,
    now: u64,
}

impl<M: Message> Drop for InFlight<'_, M> {
    fn drop(&mut self) {
        self.slot.last_used.store(self.now, Ordering::Relaxed);
        self.slot.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<M: Message> Registry<M> {
    pub fn new(max_waiting: usize) -> Registry<M> {
        Registry {
            slots: DashMap::new(),
            keys: DashMap::new(),
            epoch: Instant::now(),
            max_waiting,
        }
    }

    fn elapsed_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Send a command to the entity's actor, spawning it if it is not resident.
    /// `spawn` loads the entity and starts its actor; it runs at most once per residency.
    /// When `max_waiting` callers already wait on the entity, answers `Unavailable` at once:
    /// one hot entity cannot queue unbounded work.
    pub async fn call<R, S, Fut>(
        &self,
        key: Key,
        spawn: S,
        message: impl FnOnce(RpcReplyPort<R>) -> M,
    ) -> Result<R, EngineError>
    where
        R: Send + 'static,
        S: FnOnce() -> Fut,
        Fut: Future<Output = Result<ActorRef<M>, EngineError>>,
    {
        let (slot, waiting) = {
            let entry = self.slots.entry(key).or_insert_with(|| {
                Arc::new(Slot {
                    actor: tokio::sync::OnceCell::new(),
                    inflight: AtomicUsize::new(0),
                    last_used: AtomicU64::new(0),
                })
            });
            let waiting = entry.inflight.fetch_add(1, Ordering::AcqRel);
            (entry.clone(), waiting)
        };
        let _in_flight = InFlight {
            slot: &slot,
            now: self.elapsed_ms(),
        };
        if waiting >= self.max_waiting {
            return Err(EngineError::Unavailable(format!(
                "{waiting} requests are already waiting for this entity; retry shortly"
            )));
        }
        let spawn_and_register = || async {
            let actor = spawn().await?;
            self.keys.insert(actor.get_id(), key);
            Ok(actor)
        };
        let actor = match slot.actor.get_or_try_init(spawn_and_register).await {
            Ok(actor) => actor.clone(),
            Err(e) => {
                // Nothing to keep for an unknown id; leave the slot to others still using it.
                self.slots.remove_if(&key, |_, s| {
                    s.actor.get().is_none() && s.inflight.load(Ordering::Acquire) == 1
                });
                return Err(e);
            }
        };
        match actor.call(message, None).await {
            Ok(CallResult::Success(reply)) => Ok(reply),
            // The actor died (a panic) before answering. Its supervisor forgets it; the next
            // command respawns it from sled. The command may or may not have been applied
            // before the panic (never after its commit: the commit is the last step), so the
            // caller is told to retry rather than told it failed.
            _ => {
                self.forget(actor.get_id());
                Err(EngineError::Unavailable(
                    "the entity's actor restarted; retry the request".into(),
                ))
            }
        }
    }

    /// Forget a dead actor so the next command respawns its entity.
    pub fn forget(&self, actor: ActorId) {
        if let Some((_, key)) = self.keys.remove(&actor) {
            self.slots.remove_if(&key, |_, s| {
                s.actor.get().map(|a| a.get_id()) == Some(actor)
            });
        }
    }

    /// Stop every actor unused for at least `idle`, then, while more than `max_resident`
    /// stay, the least recently used of those nobody is using. Returns how many were
    /// passivated.
    pub fn passivate(&self, idle: Duration, max_resident: usize) -> usize {
        let now = self.elapsed_ms();
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        let unused = |s: &Slot<M>| s.inflight.load(Ordering::Acquire) == 0;
        let idle_for = |s: &Slot<M>| now.saturating_sub(s.last_used.load(Ordering::Relaxed));
        let over_cap = self.slots.len().saturating_sub(max_resident);
        // Under the cap only those past `idle` are candidates, in any order; over it every
        // unused one is, longest idle first, so the cap takes the least recently used.
        let mut candidates: Vec<(u64, Key)> = self
            .slots
            .iter()
            .filter(|e| unused(e.value()) && (over_cap > 0 || idle_for(e.value()) >= idle_ms))
            .map(|e| (idle_for(e.value()), *e.key()))
            .collect();
        if over_cap > 0 {
            candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
        }
        let mut stopped = 0;
        for (i, (was_idle, key)) in candidates.into_iter().enumerate() {
            let needed_for_cap = i < over_cap;
            if !needed_for_cap && was_idle < idle_ms {
                break; // the rest were used more recently still
            }
            // Checked again under the shard lock: a command may have arrived meanwhile.
            let removed = self.slots.remove_if(&key, |_, s| {
                unused(s) && (needed_for_cap || idle_for(s) >= idle_ms)
            });
            if let Some((_, slot)) = removed {
                if let Some(actor) = slot.actor.get() {
                    self.keys.remove(&actor.get_id());
                    actor.stop(Some("passivated".into()));
                    stopped += 1;
                }
            }
        }
        stopped
    }

    pub fn resident(&self) -> usize {
        self.slots.len()
    }

    /// Stop every resident actor and wait until they are gone.
    pub async fn stop_all(&self) {
        let actors: Vec<ActorRef<M>> = self
            .slots
            .iter()
            .filter_map(|e| e.actor.get().cloned())
            .collect();
        self.slots.clear();
        self.keys.clear();
        for actor in actors {
            let _ = actor
                .stop_and_wait(Some("engine shutdown".into()), None)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::{Actor, ActorProcessingErr};
    use tokio::sync::Semaphore;

    /// Answers each message once the gate lets it through.
    struct Held;
    struct Msg(Arc<Semaphore>, RpcReplyPort<()>);

    impl Actor for Held {
        type Msg = Msg;
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<Msg>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }

        async fn handle(
            &self,
            _: ActorRef<Msg>,
            Msg(gate, reply): Msg,
            _: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            gate.acquire().await?.forget();
            let _ = reply.send(());
            Ok(())
        }
    }

    async fn spawn() -> Result<ActorRef<Msg>, EngineError> {
        let (actor, _) = Actor::spawn(None, Held, ())
            .await
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        Ok(actor)
    }

    #[tokio::test]
    async fn an_entity_with_a_full_mailbox_answers_busy_at_once() {
        let registry = Arc::new(Registry::<Msg>::new(2));
        let gate = Arc::new(Semaphore::new(0));
        let key = (Environment::Test, ObjectId::new(0));
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let (registry, gate) = (registry.clone(), gate.clone());
                tokio::spawn(async move { registry.call(key, spawn, |r| Msg(gate, r)).await })
            })
            .collect();
        let queued = || {
            registry
                .slots
                .get(&key)
                .map_or(0, |s| s.inflight.load(Ordering::Acquire))
        };
        while queued() < 2 {
            tokio::task::yield_now().await;
        }
        let third = registry.call(key, spawn, |r| Msg(gate.clone(), r)).await;
        assert!(matches!(third, Err(EngineError::Unavailable(_))));

        gate.add_permits(2);
        for w in waiting {
            assert!(w.await.unwrap().is_ok(), "the two admitted are answered");
        }
        gate.add_permits(1);
        let room_again = registry.call(key, spawn, |r| Msg(gate.clone(), r)).await;
        assert!(room_again.is_ok());
        registry.stop_all().await;
    }

    #[tokio::test]
    async fn beyond_the_cap_the_least_recently_used_are_passivated() {
        let registry = Registry::<Msg>::new(8);
        let open = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
        let key = |i: u8| (Environment::Test, ObjectId::from_bytes([i; 12]));
        for i in 0..5 {
            registry
                .call(key(i), spawn, |r| Msg(open.clone(), r))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Nothing has been idle that long (the passivator's sweeps between idle periods pass
        // `Duration::MAX`); the cap alone decides.
        assert_eq!(registry.passivate(Duration::MAX, 3), 2);
        assert_eq!(registry.resident(), 3);
        let resident = |i| registry.slots.contains_key(&key(i));
        assert!(
            !resident(0) && !resident(1),
            "the two used longest ago went"
        );
        assert!(resident(2) && resident(3) && resident(4));
        assert_eq!(registry.passivate(Duration::from_secs(3600), 3), 0);
        // An entity in use is never passivated, even beyond the cap.
        let gate = Arc::new(Semaphore::new(0));
        let busy = {
            let gate = gate.clone();
            let registry = &registry;
            async move { registry.call(key(2), spawn, |r| Msg(gate, r)).await }
        };
        let (busy, stopped) = tokio::join!(busy, async {
            while registry
                .slots
                .get(&key(2))
                .unwrap()
                .inflight
                .load(Ordering::Acquire)
                == 0
            {
                tokio::task::yield_now().await;
            }
            let stopped = registry.passivate(Duration::ZERO, 0);
            gate.add_permits(1);
            stopped
        });
        assert!(busy.is_ok());
        assert_eq!(stopped, 2);
        assert!(resident(2), "the entity in use stayed");
        registry.stop_all().await;
    }
}
