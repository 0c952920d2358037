//! Group commit. Writers hand their `Commit` to one committer thread and wait; the thread
//! takes every commit queued so far, applies them all in one sled transaction, makes them
//! durable with one blocking `Db::flush()` plus one `fdatasync` of sled's log, and wakes
//! every writer it covered.
//!
//! Why one thread applies everything: a sled 0.34 transaction takes a process-wide write
//! lock, so transactions never run in parallel anyway, and one transaction per commit costs
//! about 100 µs of fixed overhead (measured here: ~6,000 five-insert transactions/s against
//! ~15,000 groups of five plain inserts/s). Batching shares that overhead, and keeps the
//! async workers from ever blocking on sled's lock.
//!
//! Never sled's asynchronous flush: concurrent calls deadlock in sled 0.34.7 (sled #1308, #1241).
//! `flush()` alone uses `sync_file_range`, which leaves data in the drive's cache (sled #1452),
//! hence the `sync_data()` on the log file after it.
//!
//! Sequence numbers: each commit gets `seq` when queued (under the queue lock, so queue order
//! is seq order); a plain insert takes its seq after it was applied. The committer reads the
//! last seq while draining the queue, so every seq it publishes as durable belongs to a write
//! applied before its flush began.
//!
//! Two barriers. A read waits for `visible`: the writes readers may already see in sled
//! (the batch being applied and flushed, plain inserts), not the commits still queued, which
//! nobody sees yet; so a read waits for at most the flush under way. Loading an entity for a
//! new actor waits for every queued commit (`last_seq`): the entity's own last commit may be
//! among them.

use super::commit::Commit;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;
use tokio::sync::watch;

/// Applies a batch of commits atomically per commit, in order.
pub type ApplyBatch = Box<dyn FnMut(&[Commit]) -> Result<(), String> + Send>;

pub struct Committer {
    queue: Mutex<Vec<Commit>>,
    seq: AtomicU64,
    /// The highest seq whose write readers may see in sled (raised before a batch is applied).
    visible: AtomicU64,
    durable: watch::Sender<u64>,
    stop: AtomicBool,
    thread: Thread,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    pub fn start(db: sled::Db, log: File, apply: ApplyBatch) -> Arc<Committer> {
        let (durable, _) = watch::channel(0u64);
        let (tx, rx) = std::sync::mpsc::channel::<Arc<Committer>>();
        let handle = thread::Builder::new()
            .name("premia-committer".into())
            .spawn(move || {
                let me = rx.recv().expect("the committer is handed itself");
                me.run(&db, &log, apply)
            })
            .expect("spawning the committer thread");
        let committer = Arc::new(Committer {
            queue: Mutex::new(Vec::new()),
            seq: AtomicU64::new(0),
            visible: AtomicU64::new(0),
            durable,
            stop: AtomicBool::new(false),
            thread: handle.thread().clone(),
            handle: Mutex::new(Some(handle)),
        });
        tx.send(committer.clone())
            .expect("the committer thread is waiting");
        committer
    }

    /// Queue a commit; returns the seq to wait for.
    pub fn enqueue(&self, commit: Commit) -> u64 {
        let seq = {
            let mut queue = self.queue.lock().expect("not poisoned");
            queue.push(commit);
            self.seq.fetch_add(1, Ordering::SeqCst) + 1
        };
        self.thread.unpark();
        seq
    }

    /// Record a plain write the caller already applied; returns the seq to wait for.
    pub fn applied(&self) -> u64 {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        self.visible.fetch_max(seq, Ordering::SeqCst);
        self.thread.unpark();
        seq
    }

    /// The seq of the latest write handed over, applied or still queued.
    pub fn last_seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    /// The seq of the latest write readers may see.
    pub fn visible_seq(&self) -> u64 {
        self.visible.load(Ordering::SeqCst)
    }

    pub async fn wait_durable(&self, seq: u64) {
        let mut rx = self.durable.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail while we borrow it.
        let _ = rx.wait_for(|durable| *durable >= seq).await;
    }

    pub fn durable_seq(&self) -> u64 {
        *self.durable.borrow()
    }

    fn run(&self, db: &sled::Db, log: &File, mut apply: ApplyBatch) {
        let mut durable = 0;
        loop {
            let (batch, target) = {
                let mut queue = self.queue.lock().expect("not poisoned");
                (std::mem::take(&mut *queue), self.seq.load(Ordering::SeqCst))
            };
            if target == durable {
                if self.stop.load(Ordering::SeqCst) {
                    return;
                }
                thread::park_timeout(Duration::from_millis(50));
                continue;
            }
            self.visible.fetch_max(target, Ordering::SeqCst);
            // A failed write or flush leaves sled's state unknown: stop at once rather than
            // acknowledge anything (the lesson of PostgreSQL's fsync failures).
            if let Err(e) = apply(&batch) {
                fail_stop("applying a batch of commits", &e);
            }
            if let Err(e) = db.flush() {
                fail_stop("sled flush", &e.to_string());
            }
            if let Err(e) = log.sync_data() {
                fail_stop("fdatasync of the sled log", &e.to_string());
            }
            durable = target;
            self.durable.send_replace(durable);
        }
    }

    /// Make what is queued durable and stop the thread.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
        if let Some(handle) = self.handle.lock().expect("not poisoned").take() {
            let _ = handle.join();
        }
    }
}

fn fail_stop(what: &str, error: &str) -> ! {
    tracing::error!(
        error,
        "{what} failed; aborting before anything else is acknowledged"
    );
    eprintln!("premia: {what} failed: {error}; aborting");
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A committer whose batches wait for the test to let each one through.
    fn gated() -> (
        Arc<Committer>,
        mpsc::Sender<()>,
        mpsc::Receiver<usize>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let log = File::open(dir.path().join("db")).unwrap();
        let (go, gate) = mpsc::channel::<()>();
        let (started, batches) = mpsc::channel::<usize>();
        let committer = Committer::start(
            db,
            log,
            Box::new(move |batch| {
                started.send(batch.len()).unwrap();
                gate.recv().unwrap();
                Ok(())
            }),
        );
        (committer, go, batches, dir)
    }

    #[test]
    fn a_read_waits_for_the_batch_being_applied_not_for_the_queue() {
        let (committer, go, batches, _dir) = gated();
        let first = committer.enqueue(Commit::new());
        assert_eq!(
            batches.recv().unwrap(),
            1,
            "the first batch is being applied"
        );
        let queued = committer.enqueue(Commit::new());
        // Readers may see the first batch (it is being written), not the queued commit.
        assert_eq!(committer.visible_seq(), first);
        assert_eq!(committer.last_seq(), queued);
        assert_eq!(committer.durable_seq(), 0);

        go.send(()).unwrap();
        assert_eq!(batches.recv().unwrap(), 1, "then the queued one");
        assert_eq!(committer.visible_seq(), queued);
        go.send(()).unwrap();
        committer.shutdown();
        assert_eq!(committer.durable_seq(), queued);
    }
}
