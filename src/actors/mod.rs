//! The engine: one virtual actor per payment link and per subscription, a supervisor per
//! kind, and a scheduler per environment firing durable timers.
//!
//! [`Engine`] is the only door: it routes each command to the entity's actor (spawning it
//! from sled when it is not resident), waits until the actor's commit is durable, and only
//! then answers. Reads wait for the same durability, so nothing a crash could take back is
//! ever shown.

pub mod clock;
mod link;
mod registry;
mod scheduler;
mod subscription;
mod supervisor;

pub use clock::{Clock, SystemClock, TestClock};
pub use link::{expiry_timer as link_expiry_timer, plan_subscription_id, LinkCommand};
pub use subscription::SubscriptionCommand;

use crate::domain::{
    AuditEntry, EntityKind, EntityRef, Environment, EventObject, IdempotentResponse, LinkRecord,
    NewLink, NewSubscription, ObjectId, OutboxEvent, SubscriptionRecord, Timer,
};
use crate::processor::{PaymentProcessor, PaymentSource};
use crate::store::{Commit, Store, StoreError};
use link::{LinkActor, LinkMsg};
use ractor::{Actor, ActorRef};
use registry::Registry;
use state_machines::{
    Cents, Dunning, PaymentLink, Rejected, Subscription, SubscriptionTerms, Timestamp,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use subscription::{SubscriptionActor, SubscriptionMsg};
use supervisor::Supervisor;
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Rejected(#[from] Rejected),
    #[error("{0}")]
    Invalid(String),
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("payment processor error: {0}")]
    Processor(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("inconsistent data: {0}")]
    Corrupt(String),
}

/// Reads an entity's snapshot from the store.
type Loader<T> = fn(&Store, Environment, ObjectId) -> Result<Option<T>, StoreError>;

const TEST_CLOCK_OFFSET: &str = "test_clock_offset_ms";

/// An actor's answer and the seq the caller must see durable before passing it on.
pub type Reply<T> = (Result<T, EngineError>, u64);

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Resident actors unused this long are passivated.
    pub passivate_after: Duration,
    /// Resident actors of one kind beyond this are passivated, least recently used first,
    /// within a second: the bound on the actors' memory (about 8 KB each, measured).
    pub max_resident: usize,
    /// Lifetime of a payment link; `None`: links do not expire.
    pub link_lifetime: Option<Duration>,
    pub dunning: Dunning,
    /// Timers fired at once when many fall due together.
    pub firing_concurrency: usize,
    /// Commands waiting for one entity's actor before it answers busy (bounded mailboxes).
    pub max_mailbox: usize,
}

/// Which processor moves money in each environment.
pub struct Processors {
    pub test: Arc<dyn PaymentProcessor>,
    pub live: Arc<dyn PaymentProcessor>,
}

/// What every actor shares.
pub struct Core {
    pub(crate) store: Arc<Store>,
    pub(crate) config: EngineConfig,
    processors: Processors,
    test_clock: Arc<TestClock>,
    live_clock: SystemClock,
    timers_changed: [Notify; 2],
    transitions: AtomicU64,
}

impl Core {
    pub(crate) fn clock(&self, env: Environment) -> &dyn Clock {
        match env {
            Environment::Test => self.test_clock.as_ref(),
            Environment::Live => &self.live_clock,
        }
    }

    pub(crate) fn processor(&self, env: Environment) -> &dyn PaymentProcessor {
        match env {
            Environment::Test => self.processors.test.as_ref(),
            Environment::Live => self.processors.live.as_ref(),
        }
    }

    /// Bookkeeping after a commit was applied: count it, wake the scheduler if it set timers.
    pub(crate) fn committed(&self, commit: &Commit) {
        self.transitions.fetch_add(1, Ordering::Relaxed);
        for env in commit.timer_envs() {
            self.timers_changed[*env as usize].notify_one();
        }
    }
}

/// Builds one transition's audit entries and outbox events.
pub(crate) struct Tx {
    pub commit: Commit,
    entity: EntityRef,
    version: u64,
    now: Timestamp,
}

impl Tx {
    pub fn new(
        env: Environment,
        kind: EntityKind,
        id: ObjectId,
        version: u64,
        now: Timestamp,
    ) -> Tx {
        Tx {
            commit: Commit::new(),
            entity: EntityRef { env, kind, id },
            version,
            now,
        }
    }

    pub fn for_link(link: &LinkRecord, now: Timestamp) -> Tx {
        Tx::new(
            link.env,
            EntityKind::PaymentLink,
            link.id,
            link.version,
            now,
        )
    }

    pub fn for_subscription(sub: &SubscriptionRecord, now: Timestamp) -> Tx {
        Tx::new(sub.env, EntityKind::Subscription, sub.id, sub.version, now)
    }

    /// One accepted machine event: the next version and its audit entry.
    pub fn audit(&mut self, event: &str, from: Option<&str>, to: &str, detail: Option<String>) {
        self.version += 1;
        self.commit.audit(&AuditEntry {
            entity: self.entity,
            version: self.version,
            at: self.now,
            event: event.into(),
            from: from.map(Into::into),
            to: to.into(),
            detail,
        });
    }

    pub fn event(&mut self, kind: &str, data: EventObject) {
        self.commit.event(&OutboxEvent {
            id: ObjectId::new(self.now.millis()),
            kind: kind.into(),
            env: self.entity.env,
            created_at: self.now,
            entity: self.entity,
            version: self.version,
            data,
        });
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }
}

/// The answer to an Idempotency-Key, rendered from the entity as its transition left it and
/// written in that transition's own commit: a crash keeps both or neither, so a retry either
/// replays the answer or finds that nothing was done. Never a second execution.
pub struct Receipt<T> {
    /// Where the answer is stored (`store::keys::idempotency`).
    pub key: Vec<u8>,
    pub fingerprint: [u8; 32],
    pub status: u16,
    pub render: Render<T>,
}

/// Renders the response body for the entity as committed.
pub type Render<T> = Box<dyn FnOnce(&T) -> Vec<u8> + Send>;

impl<T> Receipt<T> {
    pub(crate) fn write(self, record: &T, commit: &mut Commit) {
        commit.put_response(
            &self.key,
            &IdempotentResponse {
                fingerprint: self.fingerprint,
                status: self.status,
                body: (self.render)(record),
                stored_at_ms: wall_clock_ms(),
            },
        );
    }
}

/// Milliseconds since the epoch on the system clock.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineStats {
    pub links_resident: usize,
    pub subscriptions_resident: usize,
    /// Entity actors that failed and were forgotten (respawned on their next command).
    pub restarts: u64,
    /// Commits applied by entity actors since start.
    pub transitions: u64,
}

struct Inner {
    core: Arc<Core>,
    links: Arc<Registry<LinkMsg>>,
    subscriptions: Arc<Registry<SubscriptionMsg>>,
    link_supervisor: ActorRef<()>,
    subscription_supervisor: ActorRef<()>,
    restarts: Arc<AtomicU64>,
    firing: [tokio::sync::Mutex<()>; 2],
    /// Advances of the test clock persist their offsets in order.
    advancing: tokio::sync::Mutex<()>,
    background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

#[derive(Clone)]
pub struct Engine(Arc<Inner>);

impl Engine {
    /// Start the engine on an opened store. Timers already in the store are picked up by
    /// the schedulers at once: nothing scheduled before a restart is lost.
    pub async fn start(
        store: Store,
        config: EngineConfig,
        processors: Processors,
        test_clock: Arc<TestClock>,
    ) -> Result<Engine, EngineError> {
        if let Some(bytes) = store.meta(TEST_CLOCK_OFFSET)? {
            let offset = bytes
                .try_into()
                .map(i64::from_be_bytes)
                .map_err(|_| EngineError::Corrupt("test clock offset".into()))?;
            test_clock.restore_offset(offset);
        }
        let core = Arc::new(Core {
            store: Arc::new(store),
            config,
            processors,
            test_clock,
            live_clock: SystemClock,
            timers_changed: [Notify::new(), Notify::new()],
            transitions: AtomicU64::new(0),
        });
        let links = Arc::new(Registry::new(core.config.max_mailbox));
        let subscriptions = Arc::new(Registry::new(core.config.max_mailbox));
        let restarts = Arc::new(AtomicU64::new(0));
        let link_supervisor =
            spawn_supervisor("payment_link", links.clone(), restarts.clone()).await?;
        let subscription_supervisor =
            spawn_supervisor("subscription", subscriptions.clone(), restarts.clone()).await?;
        let engine = Engine(Arc::new(Inner {
            core,
            links,
            subscriptions,
            link_supervisor,
            subscription_supervisor,
            restarts,
            firing: [tokio::sync::Mutex::new(()), tokio::sync::Mutex::new(())],
            advancing: tokio::sync::Mutex::new(()),
            background: std::sync::Mutex::new(Vec::new()),
        }));
        let mut tasks = vec![scheduler::spawn_passivator(Arc::downgrade(&engine.0))];
        for env in Environment::ALL {
            tasks.push(scheduler::spawn_loop(Arc::downgrade(&engine.0), env));
        }
        *engine.0.background.lock().expect("not poisoned") = tasks;
        Ok(engine)
    }

    pub fn store(&self) -> &Store {
        &self.0.core.store
    }

    pub fn now(&self, env: Environment) -> Timestamp {
        self.0.core.clock(env).now()
    }

    pub async fn create_link(
        &self,
        env: Environment,
        new: NewLink,
    ) -> Result<LinkRecord, EngineError> {
        self.create_link_with(env, new, None).await
    }

    /// Create a link; `receipt`, when given, is committed with it.
    pub async fn create_link_with(
        &self,
        env: Environment,
        new: NewLink,
        receipt: Option<Receipt<LinkRecord>>,
    ) -> Result<LinkRecord, EngineError> {
        let core = &self.0.core;
        let now = core.clock(env).now();
        let expires_at = new.expires_at.or_else(|| {
            core.config
                .link_lifetime
                .map(|d| now.plus_seconds(d.as_secs()))
        });
        if expires_at.is_some_and(|at| at <= now) {
            return Err(EngineError::Invalid(
                "expires_at must be in the future".into(),
            ));
        }
        let link = LinkRecord {
            id: ObjectId::new(now.millis()),
            env,
            machine: PaymentLink::new(new.amount, expires_at, new.installment_plan.is_some()),
            terms: NewLink { expires_at, ..new },
            payment_id: None,
            subscription_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut commit = link::create_commit(&link);
        if let Some(receipt) = receipt {
            receipt.write(&link, &mut commit);
        }
        core.committed(&commit);
        core.store.apply_durable(commit).await;
        Ok(link)
    }

    pub async fn pay_link(
        &self,
        env: Environment,
        id: ObjectId,
        source: PaymentSource,
    ) -> Result<LinkRecord, EngineError> {
        self.link_command(env, id, LinkCommand::Pay { source })
            .await
    }

    pub async fn cancel_link(
        &self,
        env: Environment,
        id: ObjectId,
    ) -> Result<LinkRecord, EngineError> {
        self.link_command(env, id, LinkCommand::Cancel).await
    }

    /// `amount: None` refunds everything that remains.
    pub async fn refund_link(
        &self,
        env: Environment,
        id: ObjectId,
        amount: Option<Cents>,
        reason: Option<String>,
    ) -> Result<LinkRecord, EngineError> {
        self.link_command(env, id, LinkCommand::Refund { amount, reason })
            .await
    }

    pub async fn link(
        &self,
        env: Environment,
        id: ObjectId,
    ) -> Result<Option<LinkRecord>, EngineError> {
        self.store().read_barrier().await;
        Ok(self.store().link(env, id)?)
    }

    pub async fn create_subscription(
        &self,
        env: Environment,
        new: NewSubscription,
    ) -> Result<SubscriptionRecord, EngineError> {
        self.create_subscription_with(env, new, None).await
    }

    /// Create a subscription; `receipt`, when given, is committed with it.
    pub async fn create_subscription_with(
        &self,
        env: Environment,
        new: NewSubscription,
        receipt: Option<Receipt<SubscriptionRecord>>,
    ) -> Result<SubscriptionRecord, EngineError> {
        if new.count == Some(0) {
            return Err(EngineError::Invalid(
                "count must be at least 1 (omit it to bill until cancelled)".into(),
            ));
        }
        let core = &self.0.core;
        let now = core.clock(env).now();
        let terms = SubscriptionTerms {
            amount: new.amount,
            interval: new.interval,
            count: new.count,
            // Never in the past: a backdated start must not charge every period it skipped.
            anchor: new.first_billing_at.map_or(now, |at| at.max(now)),
            dunning: core.config.dunning.clone(),
        };
        let (machine, _first_timer) = Subscription::new(terms);
        let record = SubscriptionRecord {
            id: ObjectId::new(now.millis()),
            env,
            carrier_id: new.carrier_id,
            employer_id: new.employer_id,
            policy_id: new.policy_id,
            customer: new.customer,
            metadata: new.metadata,
            machine,
            source_link_id: None,
            pending_timer: None,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let (record, mut commit) = subscription::create_commit(record);
        if let Some(receipt) = receipt {
            receipt.write(&record, &mut commit);
        }
        core.committed(&commit);
        core.store.apply_durable(commit).await;
        Ok(record)
    }

    pub async fn cancel_subscription(
        &self,
        env: Environment,
        id: ObjectId,
    ) -> Result<SubscriptionRecord, EngineError> {
        self.subscription_command(env, id, SubscriptionCommand::Cancel)
            .await
    }

    pub async fn subscription(
        &self,
        env: Environment,
        id: ObjectId,
    ) -> Result<Option<SubscriptionRecord>, EngineError> {
        self.store().read_barrier().await;
        Ok(self.store().subscription(env, id)?)
    }

    /// Sandbox only: move the test clock forward and return once every timer that fell due
    /// has fired and its transition is durable.
    pub async fn advance_clock(&self, secs: u64) -> Result<Timestamp, EngineError> {
        let clock = &self.0.core.test_clock;
        let now = {
            let _in_order = self.0.advancing.lock().await;
            let now = clock.advance(secs);
            // Durable before anything fires: after a restart the sandbox is still in the future.
            self.store()
                .set_meta(TEST_CLOCK_OFFSET, &clock.offset_ms().to_be_bytes())
                .await?;
            now
        };
        self.fire_due(Environment::Test).await?;
        Ok(now)
    }

    /// Fire every timer of `env` due now, earliest first, entities in parallel. Returns how
    /// many fired.
    pub async fn fire_due(&self, env: Environment) -> Result<usize, EngineError> {
        scheduler::fire_due(self, env).await
    }

    pub(crate) async fn fire(&self, timer: Timer) -> Result<(), EngineError> {
        let (env, id) = (timer.entity.env, timer.entity.id);
        let result = match timer.entity.kind {
            EntityKind::PaymentLink => self
                .link_command(env, id, LinkCommand::Fire(timer))
                .await
                .map(drop),
            EntityKind::Subscription => self
                .subscription_command(env, id, SubscriptionCommand::Fire(timer))
                .await
                .map(drop),
            EntityKind::Payment | EntityKind::WebhookEndpoint => Err(EngineError::NotFound),
        };
        match result {
            // The entity is gone: drop its timer so it does not fire forever.
            Err(EngineError::NotFound) => {
                self.store().drop_timer(&timer).await;
                Ok(())
            }
            other => other,
        }
    }

    /// Stop every actor idle for at least `idle`, and the least recently used beyond
    /// `max_resident` of each kind; returns how many.
    pub fn passivate(&self, idle: Duration, max_resident: usize) -> usize {
        self.0.links.passivate(idle, max_resident)
            + self.0.subscriptions.passivate(idle, max_resident)
    }

    /// Stop every actor idle for at least `idle`; returns how many.
    pub fn passivate_idle(&self, idle: Duration) -> usize {
        self.passivate(idle, usize::MAX)
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            links_resident: self.0.links.resident(),
            subscriptions_resident: self.0.subscriptions.resident(),
            restarts: self.0.restarts.load(Ordering::Relaxed),
            transitions: self.0.core.transitions.load(Ordering::Relaxed),
        }
    }

    /// Stop background work and actors, then make everything durable.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        for task in self.0.background.lock().expect("not poisoned").drain(..) {
            task.abort();
        }
        self.0.links.stop_all().await;
        self.0.subscriptions.stop_all().await;
        for supervisor in [&self.0.link_supervisor, &self.0.subscription_supervisor] {
            let _ = supervisor.stop_and_wait(None, None).await;
        }
        self.store().close()?;
        Ok(())
    }

    async fn link_command(
        &self,
        env: Environment,
        id: ObjectId,
        command: LinkCommand,
    ) -> Result<LinkRecord, EngineError> {
        self.command_link(env, id, command, None).await
    }

    /// Send a command to a link; `receipt`, when given, is committed with its transition
    /// (a rejected command commits nothing, the receipt included).
    pub async fn command_link(
        &self,
        env: Environment,
        id: ObjectId,
        command: LinkCommand,
        receipt: Option<Receipt<LinkRecord>>,
    ) -> Result<LinkRecord, EngineError> {
        let actor = LinkActor {
            core: self.0.core.clone(),
        };
        self.route(
            &self.0.links,
            &self.0.link_supervisor,
            (env, id),
            Store::link,
            actor,
            |reply| LinkMsg(command, receipt, reply),
        )
        .await
    }

    async fn subscription_command(
        &self,
        env: Environment,
        id: ObjectId,
        command: SubscriptionCommand,
    ) -> Result<SubscriptionRecord, EngineError> {
        self.command_subscription(env, id, command, None).await
    }

    /// Send a command to a subscription; `receipt` as for [`Engine::command_link`].
    pub async fn command_subscription(
        &self,
        env: Environment,
        id: ObjectId,
        command: SubscriptionCommand,
        receipt: Option<Receipt<SubscriptionRecord>>,
    ) -> Result<SubscriptionRecord, EngineError> {
        let actor = SubscriptionActor {
            core: self.0.core.clone(),
        };
        let (registry, supervisor) = (&self.0.subscriptions, &self.0.subscription_supervisor);
        self.route(
            registry,
            supervisor,
            (env, id),
            Store::subscription,
            actor,
            |reply| SubscriptionMsg(command, receipt, reply),
        )
        .await
    }

    /// Send a command to an entity's actor, spawning it from its latest snapshot when it is
    /// not resident, and return once the answer is durable.
    async fn route<A, R>(
        &self,
        registry: &Registry<A::Msg>,
        supervisor: &ActorRef<()>,
        (env, id): registry::Key,
        load: Loader<A::Arguments>,
        actor: A,
        message: impl FnOnce(ractor::RpcReplyPort<Reply<R>>) -> A::Msg,
    ) -> Result<R, EngineError>
    where
        A: Actor,
        R: Send + 'static,
    {
        let store = self.0.core.store.clone();
        let supervisor = supervisor.get_cell();
        let spawn = || async move {
            // Load only after every queued commit is applied: the snapshot is the latest.
            store.settle().await;
            let record = load(&store, env, id)?.ok_or(EngineError::NotFound)?;
            let (actor, _) = Actor::spawn_linked(None, actor, record, supervisor)
                .await
                .map_err(|e| EngineError::Unavailable(e.to_string()))?;
            Ok(actor)
        };
        let (answer, seq) = registry.call((env, id), spawn, message).await?;
        self.store().wait_durable(seq).await;
        answer
    }
}

async fn spawn_supervisor<M: ractor::Message>(
    kind: &'static str,
    registry: Arc<Registry<M>>,
    restarts: Arc<AtomicU64>,
) -> Result<ActorRef<()>, EngineError> {
    let forget = Arc::new(move |actor| registry.forget(actor));
    let (supervisor, _) = Actor::spawn(
        None,
        Supervisor {
            kind,
            forget,
            restarts,
        },
        (),
    )
    .await
    .map_err(|e| EngineError::Unavailable(e.to_string()))?;
    Ok(supervisor)
}
