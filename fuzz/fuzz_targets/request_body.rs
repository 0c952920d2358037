//! Arbitrary bytes through the create-link and create-subscription request parsers (the
//! handlers' own, via `premia::http::fuzzing`): they never panic, an accepted body parses to
//! the same command again (also re-encoded), and a refusal always says what is wrong.
//!
//! Half the inputs are raw bodies; the other half splice the bytes into one field of a valid
//! request, so the fuzzer reaches every field's validation without first finding all the
//! required fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use premia::http::fuzzing::{fields, parse_request, RequestKind};
use serde_json::{json, Value};

fn valid(kind: RequestKind) -> Value {
    let mut body = json!({
        "employer_id": "681abc789abc123456789012",
        "carrier_id": "680abc456def789012345678",
        "policy_id": "682def789abc012345678901",
        "amount_cents": 250000,
        "customer": { "name": "Smith Industries", "email": "billing@smith.example" },
    });
    if kind == RequestKind::PaymentLink {
        body["payment_type"] = json!("down_payment");
    }
    body
}

fn check(kind: RequestKind, body: &[u8]) {
    match parse_request(kind, body) {
        Ok(parsed) => {
            assert_eq!(
                parse_request(kind, body),
                Ok(parsed.clone()),
                "deterministic"
            );
            let value: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
            let again = serde_json::to_vec(&value).unwrap();
            assert_eq!(
                parse_request(kind, &again),
                Ok(parsed),
                "the same request re-encoded parses to the same command"
            );
        }
        Err(message) => assert!(!message.trim().is_empty(), "a refusal names the problem"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    for kind in [RequestKind::PaymentLink, RequestKind::Subscription] {
        if mode % 2 == 0 {
            check(kind, rest);
        } else {
            let mut body = valid(kind);
            let fields = fields(kind);
            let field = fields[(mode / 2) as usize % fields.len()];
            let value = serde_json::from_slice(rest)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(rest).into_owned()));
            body[field] = value;
            check(kind, &serde_json::to_vec(&body).unwrap());
        }
    }
});
