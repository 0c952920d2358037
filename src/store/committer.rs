//! Group commit: one thread makes everything written so far durable with one blocking
//! `Db::flush()` plus one `fdatasync` of sled's log, then wakes every writer it covered.
//!
//! Never `flush_async()`: concurrent calls deadlock in sled 0.34.7 (sled #1308, #1241).
//! `flush()` alone uses `sync_file_range`, which leaves data in the drive's cache (sled #1452),
//! hence the `sync_data()` on the log file after it.
//!
//! Sequence numbers: a writer applies its transaction, then takes `seq = ++applied`. The
//! committer reads `applied` *before* flushing, so every seq it publishes as durable belongs to
//! a write that was applied before the flush began.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;
use tokio::sync::watch;

pub struct Committer {
    applied: AtomicU64,
    durable: watch::Sender<u64>,
    stop: AtomicBool,
    thread: Thread,
    handle: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    pub fn start(db: sled::Db, log: File) -> Arc<Committer> {
        let (durable, _) = watch::channel(0u64);
        let (tx, rx) = std::sync::mpsc::channel::<Arc<Committer>>();
        let handle = thread::Builder::new()
            .name("premia-committer".into())
            .spawn(move || {
                let me = rx.recv().expect("the committer is handed itself");
                me.run(&db, &log)
            })
            .expect("spawning the committer thread");
        let committer = Arc::new(Committer {
            applied: AtomicU64::new(0),
            durable,
            stop: AtomicBool::new(false),
            thread: handle.thread().clone(),
            handle: std::sync::Mutex::new(Some(handle)),
        });
        tx.send(committer.clone()).expect("the committer thread is waiting");
        committer
    }

    /// Record that a write has been applied; returns the seq to wait for.
    pub fn applied(&self) -> u64 {
        let seq = self.applied.fetch_add(1, Ordering::SeqCst) + 1;
        self.thread.unpark();
        seq
    }

    /// The seq of the latest applied write (a read barrier waits for it).
    pub fn last_applied(&self) -> u64 {
        self.applied.load(Ordering::SeqCst)
    }

    pub async fn wait_durable(&self, seq: u64) {
        let mut rx = self.durable.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail while we borrow it.
        let _ = rx.wait_for(|durable| *durable >= seq).await;
    }

    pub fn durable_seq(&self) -> u64 {
        *self.durable.borrow()
    }

    fn run(&self, db: &sled::Db, log: &File) {
        let mut durable = 0;
        loop {
            let target = self.applied.load(Ordering::SeqCst);
            if target == durable {
                if self.stop.load(Ordering::SeqCst) {
                    return;
                }
                thread::park_timeout(Duration::from_millis(50));
                continue;
            }
            // A failed flush leaves sled's on-disk state unknown: stop at once rather than
            // acknowledge anything (the lesson of PostgreSQL's fsync failures).
            if let Err(e) = db.flush() {
                tracing::error!(error = %e, "sled flush failed; aborting");
                std::process::abort();
            }
            if let Err(e) = log.sync_data() {
                tracing::error!(error = %e, "fdatasync of the sled log failed; aborting");
                std::process::abort();
            }
            durable = target;
            self.durable.send_replace(durable);
        }
    }

    /// Flush what is pending and stop the thread.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
        if let Some(handle) = self.handle.lock().expect("not poisoned").take() {
            let _ = handle.join();
        }
    }
}
