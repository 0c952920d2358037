//! The store: sled behind an API that names no sled types. One tree per record kind plus
//! audit, outbox, timers and indexes; every key starts with the environment.
//!
//! Writes go through [`Store::apply`] (one transaction) and become durable through the
//! group [`committer`]; callers acknowledge nothing before [`Store::wait_durable`] returns.

mod commit;
mod committer;
pub mod keys;
mod webhooks;

pub use commit::Commit;
use commit::{Op, TreeId};
use committer::Committer;

use crate::domain::{
    AuditEntry, EntityKind, Environment, IdempotentResponse, LinkRecord, ObjectId, OutboxEvent,
    PaymentRecord, SubscriptionRecord, Timer,
};
use keys::IndexField;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use state_machines::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Io(String),
    #[error("stored record {key} is unreadable: {error}")]
    Corrupt { key: String, error: String },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

pub struct Store {
    db: sled::Db,
    /// Read here; written only by the committer thread.
    trees: Trees,
    scratch: sled::Tree,
    meta: sled::Tree,
    committer: Arc<Committer>,
    /// Woken when a commit with outbox events is handed over (the webhook dispatcher waits).
    events_written: tokio::sync::Notify,
}

/// sled's page cache unless configured (`store.cache_mib`).
pub const DEFAULT_CACHE_BYTES: u64 = 32 * 1024 * 1024;

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// `cache_bytes` bounds sled's cache by the on-disk size of the pages it holds.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()?;
        // sled's log; fdatasync'd after every flush (see committer.rs).
        let log_path = dir.join("db");
        let log = std::fs::File::open(&log_path)
            .map_err(|e| StoreError::Io(format!("{}: {e}", log_path.display())))?;
        let trees = Trees {
            links: db.open_tree("links")?,
            subscriptions: db.open_tree("subscriptions")?,
            payments: db.open_tree("payments")?,
            audit: db.open_tree("audit")?,
            outbox: db.open_tree("outbox")?,
            timers: db.open_tree("timers")?,
            indexes: db.open_tree("indexes")?,
            idempotency: db.open_tree("idempotency")?,
            event_queue: db.open_tree("event_queue")?,
            webhook_endpoints: db.open_tree("webhook_endpoints")?,
            deliveries: db.open_tree("deliveries")?,
            delivery_queue: db.open_tree("delivery_queue")?,
            index_counts: db.open_tree("index_counts")?,
        };
        let meta = db.open_tree("meta")?;
        add_composite_indexes(&trees, &meta)?;
        let mut writer = Writer::new(trees.clone())?;
        let committer =
            Committer::start(db.clone(), log, Box::new(move |batch| writer.apply(batch)));
        Ok(Store {
            trees,
            scratch: db.open_tree("scratch")?,
            meta,
            db,
            committer,
            events_written: tokio::sync::Notify::new(),
        })
    }

    /// Hand `commit` to the group committer. It is applied atomically, in seq order, and is
    /// durable once `wait_durable(seq)` returns; readers that must not see it earlier call
    /// `read_barrier` first (the engine always does).
    pub fn apply(&self, commit: Commit) -> u64 {
        let events = commit.writes_events;
        let seq = self.committer.enqueue(commit);
        if events {
            self.events_written.notify_one();
        }
        seq
    }

    /// Returns once every write up to `seq` is on disk.
    pub async fn wait_durable(&self, seq: u64) {
        self.committer.wait_durable(seq).await
    }

    /// Apply and wait until durable.
    pub async fn apply_durable(&self, commit: Commit) {
        let seq = self.apply(commit);
        self.wait_durable(seq).await;
    }

    /// Wait until every write a reader may see in sled is durable: a read after it never
    /// shows a state a crash could still take back. Commits still queued are not waited for
    /// (nobody sees them yet), so a read waits for at most the flush under way.
    pub async fn read_barrier(&self) {
        let seq = self.committer.visible_seq();
        if self.committer.durable_seq() < seq {
            self.wait_durable(seq).await;
        }
    }

    /// Wait until every write handed over so far, queued ones too, is applied and durable:
    /// what an entity is loaded after, since its own last commit may still be queued.
    pub async fn settle(&self) {
        let seq = self.committer.last_seq();
        if self.committer.durable_seq() < seq {
            self.wait_durable(seq).await;
        }
    }

    /// The seq of the latest write handed over.
    pub fn last_seq(&self) -> u64 {
        self.committer.last_seq()
    }

    /// One plain insert into a scratch tree through the same group commit: the baseline the
    /// benchmark compares the engine against.
    pub fn put_raw(&self, key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
        self.scratch.insert(key, value)?;
        Ok(self.committer.applied())
    }

    /// Engine-wide settings that must survive restarts (the sandbox clock's offset).
    pub async fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(key, value)?;
        let seq = self.committer.applied();
        self.wait_durable(seq).await;
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key)?.map(|v| v.to_vec()))
    }

    pub fn link(&self, env: Environment, id: ObjectId) -> Result<Option<LinkRecord>, StoreError> {
        get(&self.trees.links, &keys::record(env, id))
    }

    pub fn subscription(
        &self,
        env: Environment,
        id: ObjectId,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        get(&self.trees.subscriptions, &keys::record(env, id))
    }

    pub fn payment(
        &self,
        env: Environment,
        id: ObjectId,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        get(&self.trees.payments, &keys::record(env, id))
    }

    /// Every transition of one entity, oldest first.
    pub fn audit_trail(
        &self,
        env: Environment,
        id: ObjectId,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        scan(&self.trees.audit, &keys::audit_prefix(env, id))
    }

    pub fn outbox_events(&self, env: Environment) -> Result<Vec<OutboxEvent>, StoreError> {
        scan(&self.trees.outbox, &[env.tag()])
    }

    pub fn links(&self, env: Environment) -> Result<Vec<LinkRecord>, StoreError> {
        scan(&self.trees.links, &[env.tag()])
    }

    pub fn subscriptions(&self, env: Environment) -> Result<Vec<SubscriptionRecord>, StoreError> {
        scan(&self.trees.subscriptions, &[env.tag()])
    }

    pub fn payments(&self, env: Environment) -> Result<Vec<PaymentRecord>, StoreError> {
        scan(&self.trees.payments, &[env.tag()])
    }

    /// Timers of `env` due at or before `now`, earliest first, at most `limit`.
    pub fn due_timers(
        &self,
        env: Environment,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Timer>, StoreError> {
        let start = vec![env.tag()];
        let end = keys::timers_due_end(env, now);
        self.trees
            .timers
            .range(start..end)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Every pending timer of `env`, earliest first.
    pub fn timers(&self, env: Environment) -> Result<Vec<Timer>, StoreError> {
        scan(&self.trees.timers, &[env.tag()])
    }

    /// When the earliest pending timer of `env` is due.
    pub fn next_due(&self, env: Environment) -> Result<Option<Timestamp>, StoreError> {
        match self.trees.timers.scan_prefix([env.tag()]).next() {
            Some(kv) => Ok(Some(keys::timer_due(&kv?.0))),
            None => Ok(None),
        }
    }

    /// Removes a timer whose entity no longer exists, so it does not fire forever.
    pub async fn drop_timer(&self, timer: &Timer) {
        let mut commit = Commit::new();
        commit.clear_timer(timer);
        self.apply_durable(commit).await
    }

    /// The stored answer to an Idempotency-Key. It may not be durable yet: call
    /// `read_barrier` before showing it.
    pub fn idempotent_response(
        &self,
        key: &[u8],
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        get(&self.trees.idempotency, key)
    }

    /// Keys of the Idempotency-Key answers stored before `before_ms` (wall clock).
    pub fn responses_stored_before(&self, before_ms: i64) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut old = Vec::new();
        for kv in self.trees.idempotency.iter() {
            let (k, v) = kv?;
            let response: IdempotentResponse = decode(&k, &v)?;
            if response.stored_at_ms < before_ms {
                old.push(k.to_vec());
            }
        }
        Ok(old)
    }

    /// Every secondary-index key of `env` (for `premia check`).
    pub fn index_keys(&self, env: Environment) -> Result<Vec<Vec<u8>>, StoreError> {
        self.trees
            .indexes
            .scan_prefix([env.tag()])
            .map(|kv| Ok(kv?.0.to_vec()))
            .collect()
    }

    /// Ids in an index, newest first.
    pub fn index_ids(
        &self,
        env: Environment,
        kind: EntityKind,
        field: IndexField,
        value: &[u8],
    ) -> Result<Vec<ObjectId>, StoreError> {
        let prefix = keys::index_prefix(env, kind, field, value);
        self.trees
            .indexes
            .scan_prefix(prefix)
            .rev()
            .map(|kv| Ok(keys::index_id(&kv?.0)))
            .collect()
    }

    /// How many entries an index holds under `value` (its count, kept in the same commits
    /// as the entries).
    pub fn index_count(
        &self,
        env: Environment,
        kind: EntityKind,
        field: IndexField,
        value: &[u8],
    ) -> Result<u64, StoreError> {
        let prefix = keys::index_prefix(env, kind, field, value);
        Ok(self
            .trees
            .index_counts
            .get(prefix)?
            .map_or(0, |v| count(&v)))
    }

    /// Every stored index count of `env`, by prefix (for `premia check`).
    pub fn index_counts(&self, env: Environment) -> Result<Vec<(Vec<u8>, u64)>, StoreError> {
        self.trees
            .index_counts
            .scan_prefix([env.tag()])
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), count(&v)))
            })
            .collect()
    }

    /// At most `limit` ids of an index after the newest `skip`, newest first.
    pub fn index_page(
        &self,
        env: Environment,
        kind: EntityKind,
        field: IndexField,
        value: &[u8],
        skip: u64,
        limit: u64,
    ) -> Result<Vec<ObjectId>, StoreError> {
        let prefix = keys::index_prefix(env, kind, field, value);
        self.trees
            .indexes
            .scan_prefix(prefix)
            .keys()
            .rev()
            .skip(skip as usize)
            .take(limit as usize)
            .map(|k| Ok(keys::index_id(&k?)))
            .collect()
    }

    /// Make everything durable and stop the committer. Called once, at shutdown.
    pub fn close(&self) -> Result<(), StoreError> {
        self.committer.shutdown();
        self.db.flush()?;
        Ok(())
    }
}

/// Which index entries the store holds: absent before the composite (owner · status)
/// indexes and the index counts existed, then `INDEX_LAYOUT_NOW`.
const INDEX_LAYOUT: &str = "index_layout";
const INDEX_LAYOUT_NOW: u32 = 3;

/// A data dir written before the composite indexes and the counts gets them once, at open,
/// before any commit: its records' composite entries, then every count from the entries.
fn add_composite_indexes(trees: &Trees, meta: &sled::Tree) -> Result<(), StoreError> {
    if meta.get(INDEX_LAYOUT)?.as_deref() == Some(&INDEX_LAYOUT_NOW.to_be_bytes()[..]) {
        return Ok(());
    }
    let mut batch = sled::Batch::default();
    for kv in trees.links.iter() {
        let (k, v) = kv?;
        let link: LinkRecord = decode(&k, &v)?;
        for key in keys::status_entries(
            link.env,
            EntityKind::PaymentLink,
            link.id,
            link.terms.carrier_id,
            link.terms.employer_id,
            link.machine.state_name(),
        ) {
            batch.insert(key, &[][..]);
        }
    }
    for kv in trees.subscriptions.iter() {
        let (k, v) = kv?;
        let sub: SubscriptionRecord = decode(&k, &v)?;
        for key in keys::status_entries(
            sub.env,
            EntityKind::Subscription,
            sub.id,
            sub.carrier_id,
            sub.employer_id,
            sub.machine.state_name(),
        ) {
            batch.insert(key, &[][..]);
        }
    }
    trees.indexes.apply_batch(batch)?;
    let mut counts = std::collections::BTreeMap::<Vec<u8>, u64>::new();
    for key in trees.indexes.iter().keys() {
        *counts
            .entry(keys::index_entry_prefix(&key?).to_vec())
            .or_default() += 1;
    }
    trees.index_counts.clear()?;
    let mut batch = sled::Batch::default();
    for (prefix, n) in counts {
        batch.insert(prefix, &n.to_be_bytes()[..]);
    }
    trees.index_counts.apply_batch(batch)?;
    meta.insert(INDEX_LAYOUT, &INDEX_LAYOUT_NOW.to_be_bytes())?;
    trees.indexes.flush()?;
    Ok(())
}

fn count(bytes: &[u8]) -> u64 {
    bytes.try_into().map_or(0, u64::from_be_bytes)
}

/// The trees a commit writes, written only by the committer thread.
#[derive(Clone)]
struct Trees {
    links: sled::Tree,
    subscriptions: sled::Tree,
    payments: sled::Tree,
    audit: sled::Tree,
    outbox: sled::Tree,
    timers: sled::Tree,
    indexes: sled::Tree,
    idempotency: sled::Tree,
    event_queue: sled::Tree,
    webhook_endpoints: sled::Tree,
    deliveries: sled::Tree,
    delivery_queue: sled::Tree,
    index_counts: sled::Tree,
}

/// Commits per sled transaction: bounds the transaction's in-memory overlay.
const COMMITS_PER_TRANSACTION: usize = 4096;

/// The committer thread's side of the store: the trees, and every index count in memory.
/// The counts are read at open and then changed only here, so a batch writes each count it
/// touches as an absolute value without reading it inside the transaction (those reads were
/// a tenth of the committer's time). There are few counts: one per index prefix (carrier,
/// employer, status and their pairs), not one per entry.
struct Writer {
    trees: Trees,
    counts: HashMap<Vec<u8>, u64>,
}

impl Writer {
    fn new(trees: Trees) -> Result<Writer, StoreError> {
        let counts = trees
            .index_counts
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), count(&v)))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Writer { trees, counts })
    }

    fn apply(&mut self, batch: &[Commit]) -> Result<(), String> {
        for chunk in batch.chunks(COMMITS_PER_TRANSACTION) {
            self.apply_chunk(chunk)?;
        }
        Ok(())
    }

    /// One sled transaction. sled may run the closure more than once; it only writes.
    fn apply_chunk(&mut self, commits: &[Commit]) -> Result<(), String> {
        // Index counts are summed over the batch first, then written once each as the value
        // they reach.
        let mut deltas: BTreeMap<&[u8], i64> = BTreeMap::new();
        for op in commits.iter().flat_map(|c| &c.ops) {
            if let Op::Count(key, delta) = op {
                *deltas.entry(key.as_slice()).or_default() += delta;
            }
        }
        let counts: Vec<(&[u8], u64)> = deltas
            .into_iter()
            .filter(|(_, d)| *d != 0)
            .map(|(key, d)| {
                let now = self.counts.get(key).copied().unwrap_or(0);
                (key, now.saturating_add_signed(d))
            })
            .collect();
        let t = &self.trees;
        let trees = (
            &t.links,
            &t.subscriptions,
            &t.payments,
            &t.audit,
            &t.outbox,
            &t.timers,
            &t.indexes,
            &t.idempotency,
            &t.event_queue,
            &t.webhook_endpoints,
            &t.deliveries,
            &t.delivery_queue,
            &t.index_counts,
        );
        trees
            .transaction(
                |(
                    links,
                    subs,
                    payments,
                    audit,
                    outbox,
                    timers,
                    indexes,
                    idempotency,
                    event_queue,
                    endpoints,
                    deliveries,
                    delivery_queue,
                    index_counts,
                )| {
                    let tree = |id: TreeId| match id {
                        TreeId::Links => links,
                        TreeId::Subscriptions => subs,
                        TreeId::Payments => payments,
                        TreeId::Audit => audit,
                        TreeId::Outbox => outbox,
                        TreeId::Timers => timers,
                        TreeId::Indexes => indexes,
                        TreeId::Idempotency => idempotency,
                        TreeId::EventQueue => event_queue,
                        TreeId::WebhookEndpoints => endpoints,
                        TreeId::Deliveries => deliveries,
                        TreeId::DeliveryQueue => delivery_queue,
                    };
                    for op in commits.iter().flat_map(|c| &c.ops) {
                        match op {
                            Op::Put(t, k, v) => {
                                tree(*t).insert(k.as_slice(), v.as_slice())?;
                            }
                            Op::Delete(t, k) => {
                                tree(*t).remove(k.as_slice())?;
                            }
                            Op::Count(..) => {}
                        }
                    }
                    for (key, n) in &counts {
                        match n {
                            0 => index_counts.remove(*key)?,
                            n => index_counts.insert(*key, &n.to_be_bytes())?,
                        };
                    }
                    Ok::<(), ConflictableTransactionError<()>>(())
                },
            )
            .map_err(|e| match e {
                TransactionError::Abort(()) => "aborted".to_string(),
                TransactionError::Storage(e) => e.to_string(),
            })?;
        for (key, n) in counts {
            match n {
                0 => self.counts.remove(key),
                n => self.counts.insert(key.to_vec(), n),
            };
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.committer.shutdown();
    }
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
        key: hex::encode(key),
        error: e.to_string(),
    })
}

fn get<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>, StoreError> {
    match tree.get(key)? {
        Some(bytes) => decode(key, &bytes).map(Some),
        None => Ok(None),
    }
}

fn scan<T: DeserializeOwned>(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<T>, StoreError> {
    tree.scan_prefix(prefix)
        .map(|kv| {
            let (k, v) = kv?;
            decode(&k, &v)
        })
        .collect()
}
