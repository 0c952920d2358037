//! Time for the engine. Live uses the system clock; the sandbox uses a `TestClock` that the
//! test-helper API can move forward, firing due timers in order.

use state_machines::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

fn system_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(system_millis())
    }
}

/// Moves with the system clock plus an offset that only grows, or stands still (`frozen`)
/// and moves only when advanced: deterministic tests and benchmarks.
pub struct TestClock {
    frozen_at: Option<i64>,
    offset_ms: AtomicI64,
}

impl TestClock {
    pub fn following_system() -> TestClock {
        TestClock {
            frozen_at: None,
            offset_ms: AtomicI64::new(0),
        }
    }

    pub fn frozen(at: Timestamp) -> TestClock {
        TestClock {
            frozen_at: Some(at.millis()),
            offset_ms: AtomicI64::new(0),
        }
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    /// Restore the offset persisted before a restart (it only ever grows).
    pub fn restore_offset(&self, offset_ms: i64) {
        self.offset_ms.fetch_max(offset_ms, Ordering::SeqCst);
    }

    /// Move time forward. Firing what fell due is the scheduler's job (`Engine::advance_clock`).
    pub fn advance(&self, secs: u64) -> Timestamp {
        self.offset_ms
            .fetch_add((secs as i64).saturating_mul(1000), Ordering::SeqCst);
        self.now()
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let base = self.frozen_at.unwrap_or_else(system_millis);
        Timestamp::from_millis(base + self.offset_ms.load(Ordering::SeqCst))
    }
}
