//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): the signed content is
//! `{webhook-id}.{webhook-timestamp}.{body}`, the signature HMAC-SHA256 keyed by the
//! base64-decoded part of the secret after `whsec_`, sent as `v1,<base64>`; several
//! signatures (during a secret rotation) are separated by spaces.
//!
//! Verification accepts a header only if one of its `v1,` entries is a valid signature:
//! an empty header, other versions only, or a signature of the wrong length all fail, and
//! signatures are compared in constant time.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const PREFIX: &str = "whsec_";
/// Bytes of a generated key (the spec allows 24 to 64).
const KEY_LEN: usize = 32;
/// How far a timestamp may be from the verifier's clock (as the spec's libraries).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// An endpoint's signing key. Its `Debug` never shows the key, so it cannot reach a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(redacted)")
    }
}

impl SigningSecret {
    pub fn generate() -> SigningSecret {
        let mut key = vec![0u8; KEY_LEN];
        getrandom::fill(&mut key).expect("the OS random source is available");
        SigningSecret(key)
    }

    /// `whsec_<base64 key>`, as the partner configures it in their verifier.
    pub fn to_whsec(&self) -> String {
        format!("{PREFIX}{}", B64.encode(&self.0))
    }

    pub fn from_whsec(text: &str) -> Result<SigningSecret, VerifyError> {
        let b64 = text.strip_prefix(PREFIX).unwrap_or(text);
        let key = B64.decode(b64).map_err(|_| VerifyError::BadSecret)?;
        if key.is_empty() {
            return Err(VerifyError::BadSecret);
        }
        Ok(SigningSecret(key))
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// `v1,<base64 signature>`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", B64.encode(self.mac(msg_id, timestamp, body)))
    }
}

/// The `webhook-signature` value for a message signed with each of `secrets`.
pub fn signature_header(
    secrets: &[&SigningSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the secret is not whsec_<base64>")]
    BadSecret,
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than five minutes from now")]
    StaleTimestamp,
    #[error("no v1 signature in webhook-signature matches")]
    NoMatch,
}

/// Verify a received message as a partner would. `now` is Unix seconds.
pub fn verify(
    secret: &SigningSecret,
    msg_id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    // `abs_diff`: any two i64 are at most u64::MAX apart, so no overflow whatever the header.
    if now.abs_diff(ts) > TOLERANCE_SECS as u64 {
        return Err(VerifyError::StaleTimestamp);
    }
    let expected = secret.mac(msg_id, ts, body);
    let mut matched = false;
    for entry in signature.split(' ') {
        let Some(b64) = entry.strip_prefix("v1,") else {
            continue;
        };
        let Ok(candidate) = B64.decode(b64) else {
            continue;
        };
        // `ct_eq` on slices of different lengths is false without comparing contents.
        matched |= bool::from(candidate.as_slice().ct_eq(&expected));
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks specification's published example.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_specifications_example_exactly() {
        let secret = SigningSecret::from_whsec(SPEC_SECRET).unwrap();
        assert_eq!(secret.sign(SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG);
        assert_eq!(secret.to_whsec(), SPEC_SECRET);
    }

    #[test]
    fn a_valid_signature_verifies_among_others() {
        let secret = SigningSecret::from_whsec(SPEC_SECRET).unwrap();
        let header = format!("v2,abc v1,AAAA {SPEC_SIG}");
        let ts = SPEC_TS.to_string();
        assert_eq!(
            verify(&secret, SPEC_ID, &ts, &header, SPEC_BODY, SPEC_TS),
            Ok(())
        );
    }

    #[test]
    fn headers_without_a_valid_v1_entry_fail() {
        let secret = SigningSecret::from_whsec(SPEC_SECRET).unwrap();
        let ts = SPEC_TS.to_string();
        let good = SPEC_SIG.strip_prefix("v1,").unwrap();
        let truncated = format!("v1,{}", &good[..20]);
        let padded = format!("v1,{}", B64.encode([0u8; 33]));
        let other_version = format!("v2,{good}");
        let no_comma = format!("v1{good}");
        for header in [
            "",
            " ",
            "v1,",
            "v1",
            other_version.as_str(),
            no_comma.as_str(),
            truncated.as_str(),
            padded.as_str(),
            "v1,not base64!",
        ] {
            assert_eq!(
                verify(&secret, SPEC_ID, &ts, header, SPEC_BODY, SPEC_TS),
                Err(VerifyError::NoMatch),
                "{header:?}"
            );
        }
    }

    #[test]
    fn a_changed_body_id_or_timestamp_fails() {
        let secret = SigningSecret::from_whsec(SPEC_SECRET).unwrap();
        let ts = SPEC_TS.to_string();
        let other_ts = (SPEC_TS + 1).to_string();
        assert!(verify(&secret, SPEC_ID, &ts, SPEC_SIG, b"{}", SPEC_TS).is_err());
        assert!(verify(&secret, "msg_other", &ts, SPEC_SIG, SPEC_BODY, SPEC_TS).is_err());
        assert!(verify(&secret, SPEC_ID, &other_ts, SPEC_SIG, SPEC_BODY, SPEC_TS).is_err());
        assert_eq!(
            verify(&secret, SPEC_ID, &ts, SPEC_SIG, SPEC_BODY, SPEC_TS + 301),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn generated_secrets_round_trip_and_never_print() {
        let secret = SigningSecret::generate();
        let text = secret.to_whsec();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningSecret::from_whsec(&text).unwrap(), secret);
        assert_eq!(format!("{secret:?}"), "SigningSecret(redacted)");
    }
}
