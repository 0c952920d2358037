//! The request parsers, reachable from the fuzz targets (`fuzz/`): the create handlers' own
//! `parse` functions behind one entry point. It parses only; nothing here touches the engine.

use super::routes::{payment_links, subscriptions};
use super::validate::json_object;
use crate::domain::{NewLink, NewSubscription};

/// Which create request a body is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    PaymentLink,
    Subscription,
}

/// The top-level fields a create request may carry (the handler's own list).
pub fn fields(kind: RequestKind) -> &'static [&'static str] {
    match kind {
        RequestKind::PaymentLink => &payment_links::FIELDS,
        RequestKind::Subscription => &subscriptions::FIELDS,
    }
}

/// What a body parsed into: the command the handler would send to the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    PaymentLink(NewLink),
    Subscription(NewSubscription),
}

/// Parse `body` as `POST /api/v1/payment-links` or `POST /api/v1/subscriptions` would. `Err`
/// holds the 400's message.
pub fn parse_request(kind: RequestKind, body: &[u8]) -> Result<Parsed, String> {
    let obj = json_object(body).map_err(|e| e.to_string())?;
    match kind {
        RequestKind::PaymentLink => payment_links::parse(&obj).map(Parsed::PaymentLink),
        RequestKind::Subscription => subscriptions::parse(&obj).map(Parsed::Subscription),
    }
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_body_parses_and_a_bad_one_names_the_problem() {
        let link = br#"{"employer_id":"681abc789abc123456789012","carrier_id":"680abc456def789012345678",
            "policy_id":"682def789abc012345678901","amount_cents":250000,"payment_type":"down_payment"}"#;
        assert!(matches!(
            parse_request(RequestKind::PaymentLink, link),
            Ok(Parsed::PaymentLink(_))
        ));
        let message = parse_request(RequestKind::Subscription, link).unwrap_err();
        assert!(message.contains("customer.email"), "{message}");
        assert!(parse_request(RequestKind::PaymentLink, b"[1]").is_err());
    }
}
