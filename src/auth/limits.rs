//! Rate limits (governor): per API key, default per minute with a per-key override; and per
//! source address for failed authentications, so the secret check cannot be used to burn
//! CPU or to guess secrets.

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

type KeyLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed { limit: u32, remaining: u32 },
    Limited { limit: u32, retry_after_secs: u64 },
}

pub struct RateLimits {
    default_per_minute: NonZeroU32,
    /// client_id → (its quota, its limiter); rebuilt when the quota changes.
    keys: DashMap<String, (NonZeroU32, Arc<KeyLimiter>)>,
    failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses over their failure budget, until when.
    blocked: DashMap<IpAddr, Instant>,
    clock: DefaultClock,
}

fn per_minute(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least 1")
}

fn seconds_ceil(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

impl RateLimits {
    pub fn new(default_per_minute: u32, failed_auth_per_minute: u32) -> RateLimits {
        RateLimits {
            default_per_minute: per_minute(default_per_minute),
            keys: DashMap::new(),
            failures: RateLimiter::keyed(Quota::per_minute(per_minute(failed_auth_per_minute))),
            blocked: DashMap::new(),
            clock: DefaultClock::default(),
        }
    }

    /// Count one request of `client_id` against its limit.
    pub fn check(&self, client_id: &str, override_per_minute: Option<u32>) -> Verdict {
        let quota = override_per_minute
            .map(per_minute)
            .unwrap_or(self.default_per_minute);
        let limiter = {
            let mut entry = self.keys.entry(client_id.to_string()).or_insert_with(|| {
                (
                    quota,
                    Arc::new(RateLimiter::direct(Quota::per_minute(quota)).with_middleware()),
                )
            });
            if entry.0 != quota {
                *entry = (
                    quota,
                    Arc::new(RateLimiter::direct(Quota::per_minute(quota)).with_middleware()),
                );
            }
            entry.1.clone()
        };
        let limit = quota.get();
        match limiter.check() {
            Ok(state) => Verdict::Allowed {
                limit,
                remaining: state.remaining_burst_capacity(),
            },
            Err(not_until) => Verdict::Limited {
                limit,
                retry_after_secs: seconds_ceil(not_until.wait_time_from(self.clock.now())),
            },
        }
    }

    /// Seconds `ip` must wait before trying to authenticate again, if it is blocked.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let until = *self.blocked.get(&ip)?;
        let now = Instant::now();
        if until > now {
            Some(seconds_ceil(until - now))
        } else {
            self.blocked.remove(&ip);
            None
        }
    }

    /// A failed authentication from `ip`. Past the budget the address is blocked: returns
    /// the seconds to wait.
    pub fn record_failure(&self, ip: IpAddr) -> Option<u64> {
        let not_until = self.failures.check_key(&ip).err()?;
        let wait = not_until.wait_time_from(self.clock.now());
        self.blocked.insert(ip, Instant::now() + wait);
        Some(seconds_ceil(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_counts_down_then_is_limited_with_a_retry_after() {
        let limits = RateLimits::new(3, 10);
        assert_eq!(
            limits.check("k", None),
            Verdict::Allowed {
                limit: 3,
                remaining: 2
            }
        );
        assert_eq!(
            limits.check("k", None),
            Verdict::Allowed {
                limit: 3,
                remaining: 1
            }
        );
        assert_eq!(
            limits.check("k", None),
            Verdict::Allowed {
                limit: 3,
                remaining: 0
            }
        );
        // One token comes back every 20 s at 3/minute.
        assert!(matches!(
            limits.check("k", None),
            Verdict::Limited {
                limit: 3,
                retry_after_secs: 19 | 20
            }
        ));
        assert!(
            matches!(limits.check("other", None), Verdict::Allowed { .. }),
            "keys are independent"
        );
    }

    #[test]
    fn a_per_key_override_replaces_the_default() {
        let limits = RateLimits::new(3, 10);
        assert_eq!(
            limits.check("k", Some(500)),
            Verdict::Allowed {
                limit: 500,
                remaining: 499
            }
        );
    }

    #[test]
    fn repeated_failures_block_the_address() {
        let limits = RateLimits::new(100, 2);
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!(limits.record_failure(ip), None);
        assert_eq!(limits.record_failure(ip), None);
        assert_eq!(limits.blocked(ip), None);
        assert!(limits.record_failure(ip).is_some());
        assert!(limits.blocked(ip).is_some_and(|s| (1..=30).contains(&s)));
        assert_eq!(limits.blocked("10.0.0.8".parse().unwrap()), None);
    }
}
