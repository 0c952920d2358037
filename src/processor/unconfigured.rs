//! The processor of an environment with none configured: it declines every charge and
//! refund, so nothing pretends that real money moved.

use super::{
    ChargeOutcome, ChargeRequest, PaymentProcessor, PaymentSource, RefundRefused, RefundRequest,
};
use crate::domain::PaymentMethod;
use futures::future::BoxFuture;

pub struct Unconfigured;

impl PaymentProcessor for Unconfigured {
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'static, ChargeOutcome> {
        let method = if matches!(request.source, PaymentSource::Ach(_)) {
            PaymentMethod::Ach
        } else {
            PaymentMethod::Card
        };
        Box::pin(async move {
            ChargeOutcome::Declined {
                reason: "processor_not_configured".into(),
                method,
            }
        })
    }

    fn refund(&self, _: RefundRequest) -> BoxFuture<'static, Result<String, RefundRefused>> {
        Box::pin(async {
            Err(RefundRefused(
                "no payment processor is configured for this environment".into(),
            ))
        })
    }
}
