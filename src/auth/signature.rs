//! Optional HMAC request signing: `X-Signature` is the lowercase hex HMAC-SHA256, keyed by
//! the client secret, of `${timestamp}.${method}.${path}.${body}`, with `X-Timestamp` in
//! epoch milliseconds no more than 5 minutes away from our clock (replay protection).
//!
//! `path` is the request target as sent: the path *with* its query string
//! (`/api/v1/payment-links?status=active`), so list filters cannot be altered either.

use super::AuthError;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// What to sign; public so clients and tests compute the same thing.
pub fn payload(timestamp: &str, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut p = format!("{timestamp}.{method}.{path}.").into_bytes();
    p.extend_from_slice(body);
    p
}

pub fn sign(secret: &str, payload: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// Check a signature in constant time.
pub fn verify(
    secret: &str,
    signature: &str,
    timestamp: Option<&str>,
    now_ms: i64,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(), AuthError> {
    let timestamp = timestamp.ok_or(AuthError::Signature(
        "X-Timestamp (epoch milliseconds) must accompany X-Signature",
    ))?;
    let at: i64 = timestamp
        .parse()
        .map_err(|_| AuthError::Signature("X-Timestamp must be epoch milliseconds"))?;
    // Saturating: a timestamp near i64's ends must be refused, not overflow.
    if now_ms.saturating_sub(at) > TOLERANCE_MS {
        return Err(AuthError::Signature(
            "X-Timestamp is more than 5 minutes old",
        ));
    }
    if at.saturating_sub(now_ms) > TOLERANCE_MS {
        return Err(AuthError::Signature(
            "X-Timestamp is more than 5 minutes in the future",
        ));
    }
    let presented = hex::decode(signature.trim())
        .map_err(|_| AuthError::Signature("X-Signature must be hex"))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(&payload(timestamp, method, path, body));
    mac.verify_slice(&presented).map_err(|_| {
        AuthError::Signature(
            "X-Signature does not match the request (timestamp, method, path with query, body)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_763_856_000_000;

    fn signed(method: &str, path: &str, body: &[u8]) -> String {
        sign(
            "premia_test_sec_x",
            &payload(&NOW.to_string(), method, path, body),
        )
    }

    #[test]
    fn a_signature_over_the_exact_request_verifies() {
        let sig = signed("POST", "/api/v1/payment-links", b"{}");
        assert_eq!(
            verify(
                "premia_test_sec_x",
                &sig,
                Some(&NOW.to_string()),
                NOW,
                "POST",
                "/api/v1/payment-links",
                b"{}"
            ),
            Ok(())
        );
    }

    #[test]
    fn anything_changed_fails() {
        let sig = signed("POST", "/api/v1/payment-links?status=active", b"{}");
        let ts = NOW.to_string();
        let v = |key: &str, method: &str, path: &str, body: &[u8], now: i64| {
            verify(key, &sig, Some(&ts), now, method, path, body)
        };
        assert!(v(
            "premia_test_sec_x",
            "POST",
            "/api/v1/payment-links?status=active",
            b"{}",
            NOW
        )
        .is_ok());
        assert!(
            v(
                "premia_test_sec_y",
                "POST",
                "/api/v1/payment-links?status=active",
                b"{}",
                NOW
            )
            .is_err(),
            "key"
        );
        assert!(
            v(
                "premia_test_sec_x",
                "GET",
                "/api/v1/payment-links?status=active",
                b"{}",
                NOW
            )
            .is_err(),
            "method"
        );
        assert!(
            v(
                "premia_test_sec_x",
                "POST",
                "/api/v1/payment-links?status=cancelled",
                b"{}",
                NOW
            )
            .is_err(),
            "query"
        );
        assert!(
            v(
                "premia_test_sec_x",
                "POST",
                "/api/v1/payment-links?status=active",
                b"{ }",
                NOW
            )
            .is_err(),
            "body"
        );
        assert!(
            v(
                "premia_test_sec_x",
                "POST",
                "/api/v1/payment-links?status=active",
                b"{}",
                NOW + TOLERANCE_MS + 1
            )
            .is_err(),
            "stale"
        );
        assert!(
            v(
                "premia_test_sec_x",
                "POST",
                "/api/v1/payment-links?status=active",
                b"{}",
                NOW - TOLERANCE_MS - 1
            )
            .is_err(),
            "future"
        );
        assert!(
            verify("premia_test_sec_x", &sig, None, NOW, "POST", "/", b"").is_err(),
            "no timestamp"
        );
        assert!(
            verify("premia_test_sec_x", "zz", Some(&ts), NOW, "POST", "/", b"").is_err(),
            "not hex"
        );
    }
}
