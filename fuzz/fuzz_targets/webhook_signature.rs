//! Standard Webhooks verification (`premia::webhooks::signing`), as a partner runs it on
//! whatever arrives: it never panics; a header Premia signs verifies within the clock
//! tolerance, also beside garbage entries and other versions; a header with no valid `v1,`
//! entry, another secret, or any single changed byte of the id or the body fails.
#![no_main]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use premia::webhooks::signing::{signature_header, verify, SigningSecret, TOLERANCE_SECS};

#[derive(Arbitrary, Debug)]
struct Input {
    key: Vec<u8>,
    other_key: Vec<u8>,
    whsec: String,
    msg_id: String,
    timestamp: i64,
    timestamp_header: String,
    skew: i64,
    now: i64,
    header: String,
    garbage: Vec<String>,
    body: Vec<u8>,
    change_body: bool,
    at: usize,
    xor: u8,
}

fn secret(key: &[u8]) -> Option<SigningSecret> {
    SigningSecret::from_whsec(&format!("whsec_{}", B64.encode(key))).ok()
}

fuzz_target!(|input: Input| {
    // Whatever arrives: an answer, never a panic.
    let _ = SigningSecret::from_whsec(&input.whsec);
    if let Some(s) = secret(&input.key) {
        let _ = verify(&s, &input.msg_id, &input.timestamp_header, &input.header, &input.body, input.now);
    }

    let Some(s) = secret(&input.key) else { return };
    let ts = input.timestamp;
    let now = ts.saturating_add(input.skew % (TOLERANCE_SECS + 1));
    let signed = signature_header(&[&s], &input.msg_id, ts, &input.body);
    let check = |header: &str, id: &str, body: &[u8]| verify(&s, id, &ts.to_string(), header, body, now);
    assert!(check(&signed, &input.msg_id, &input.body).is_ok(), "a fresh signature verifies");

    // Beside other entries (another version, noise), the valid one still counts.
    let noise: Vec<String> = input.garbage.iter().map(|g| g.replace(' ', "")).collect();
    let crowded = format!("{} {signed} v2,{}", noise.join(" "), B64.encode(&input.body));
    assert!(check(crowded.trim(), &input.msg_id, &input.body).is_ok());

    // Without a valid v1 entry, nothing verifies.
    let no_v1 = noise
        .iter()
        .filter(|n| !n.starts_with("v1,"))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(check(&no_v1, &input.msg_id, &input.body).is_err());

    // Another key fails. (HMAC pads short keys with zeros, so keys that differ only in
    // trailing zero bytes are the same key: the fuzzer found that.)
    let padded = |k: &[u8]| k.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    if let Some(other) = secret(&input.other_key) {
        if input.other_key[..padded(&input.other_key)] != input.key[..padded(&input.key)] {
            let forged = signature_header(&[&other], &input.msg_id, ts, &input.body);
            assert!(check(&forged, &input.msg_id, &input.body).is_err());
        }
    }

    // One changed byte of the body or the id fails.
    let xor = input.xor.max(1);
    if input.change_body && !input.body.is_empty() {
        let mut body = input.body.clone();
        let i = input.at % body.len();
        body[i] ^= xor;
        assert!(check(&signed, &input.msg_id, &body).is_err());
    } else if !input.msg_id.is_empty() {
        let mut id = input.msg_id.clone().into_bytes();
        let i = input.at % id.len();
        id[i] ^= xor;
        if let Ok(id) = String::from_utf8(id) {
            assert!(check(&signed, &id, &input.body).is_err());
        }
    }
});
