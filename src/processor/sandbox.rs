//! The sandbox processor: a faithful stand-in for Stripe in the test environment. Outcomes
//! follow Stripe's test cards, and tests can make the next charges of one payer fail.

use super::{
    ChargeOutcome, ChargeRequest, PaymentProcessor, PaymentSource, RefundRefused, RefundRequest,
};
use crate::domain::{ObjectId, PaymentMethod};
use futures::future::BoxFuture;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

pub const TEST_CARD_OK: &str = "4242424242424242";
pub const TEST_CARD_DECLINED: &str = "4000000000000002";
/// Stripe's test bank accounts: this one pays...
pub const TEST_ACH_OK: &str = "000123456789";
/// ...and this one fails for insufficient funds.
pub const TEST_ACH_INSUFFICIENT_FUNDS: &str = "000222222227";

#[derive(Default)]
pub struct Sandbox {
    failures: Mutex<HashMap<ObjectId, u32>>,
    panics: Mutex<HashSet<ObjectId>>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::default()
    }

    /// The next `times` charges for `payer` are declined.
    pub fn fail_next(&self, payer: ObjectId, times: u32) {
        self.failures
            .lock()
            .expect("not poisoned")
            .insert(payer, times);
    }

    /// Fault injection for supervision tests: the next charge for `payer` panics inside the
    /// actor, as a processor SDK bug would.
    pub fn panic_next(&self, payer: ObjectId) {
        self.panics.lock().expect("not poisoned").insert(payer);
    }

    fn take_failure(&self, payer: ObjectId) -> bool {
        let mut failures = self.failures.lock().expect("not poisoned");
        match failures.get_mut(&payer) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

impl PaymentProcessor for Sandbox {
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'static, ChargeOutcome> {
        if self
            .panics
            .lock()
            .expect("not poisoned")
            .remove(&request.payer.id)
        {
            panic!("sandbox: injected processor panic for {}", request.payer.id);
        }
        let method = match request.source {
            PaymentSource::Ach(_) => PaymentMethod::Ach,
            _ => PaymentMethod::Card,
        };
        let declined = match &request.source {
            PaymentSource::Card(number) if number != TEST_CARD_OK => {
                Some(if number == TEST_CARD_DECLINED {
                    "card_declined"
                } else {
                    "incorrect_number"
                })
            }
            PaymentSource::Ach(account) if account != TEST_ACH_OK => {
                Some(if account == TEST_ACH_INSUFFICIENT_FUNDS {
                    "insufficient_funds"
                } else {
                    "no_account"
                })
            }
            _ if self.take_failure(request.payer.id) => Some("card_declined"),
            _ => None,
        };
        let outcome = match declined {
            Some(reason) => ChargeOutcome::Declined {
                reason: reason.into(),
                method,
            },
            None => ChargeOutcome::Succeeded {
                reference: format!("ch_sandbox_{}", request.idempotency_key),
                method,
            },
        };
        Box::pin(async move { outcome })
    }

    fn refund(&self, request: RefundRequest) -> BoxFuture<'static, Result<String, RefundRefused>> {
        let reference = format!("re_sandbox_{}", request.idempotency_key);
        Box::pin(async move { Ok(reference) })
    }
}
