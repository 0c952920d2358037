//! `premia::auth::signature::verify` with arbitrary header values, timestamps, methods, paths
//! and bodies: it never panics; a signature made by `sign` over the same request verifies
//! anywhere inside the clock tolerance; changing any single byte of the method, the path or
//! the body makes it fail.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use premia::auth::signature::{payload, sign, verify, TOLERANCE_MS};

#[derive(Arbitrary, Debug)]
struct Input {
    secret: String,
    signature_header: String,
    timestamp_header: Option<String>,
    timestamp_ms: i64,
    skew_ms: i64,
    now_ms: i64,
    method: String,
    path: String,
    body: Vec<u8>,
    /// Which field to change (method, path, body), where, and by what (XOR, never 0).
    field: u8,
    at: usize,
    xor: u8,
}

fuzz_target!(|input: Input| {
    let Input {
        secret,
        signature_header,
        timestamp_header,
        timestamp_ms,
        skew_ms,
        now_ms,
        method,
        path,
        body,
        field,
        at,
        xor,
    } = input;

    // Whatever the headers say: an answer, never a panic.
    let _ = verify(
        &secret,
        &signature_header,
        timestamp_header.as_deref(),
        now_ms,
        &method,
        &path,
        &body,
    );

    // A client's own signature verifies on a server whose clock is within the tolerance.
    let ts = timestamp_ms.to_string();
    let now = timestamp_ms.saturating_add(skew_ms % (TOLERANCE_MS + 1));
    let signature = sign(&secret, &payload(&ts, &method, &path, &body));
    assert_eq!(
        verify(&secret, &signature, Some(&ts), now, &method, &path, &body),
        Ok(()),
        "a signature over the same request verifies"
    );

    // Any single changed byte of method, path or body fails.
    let xor = xor.max(1);
    let (mut method, mut path, mut body) = (method.into_bytes(), path.into_bytes(), body);
    let target = match field % 3 {
        0 => &mut method,
        1 => &mut path,
        _ => &mut body,
    };
    if target.is_empty() {
        return;
    }
    let i = at % target.len();
    target[i] ^= xor;
    // Method and path arrive as text: a change that is no longer UTF-8 cannot be sent.
    let (Ok(method), Ok(path)) = (String::from_utf8(method), String::from_utf8(path)) else {
        return;
    };
    assert!(
        verify(&secret, &signature, Some(&ts), now, &method, &path, &body).is_err(),
        "a changed request must not verify"
    );
});
