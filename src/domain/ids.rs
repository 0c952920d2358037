//! `ObjectId`: 12 bytes shown as 24 lowercase hex digits, time-ordered like MongoDB's:
//! 4 bytes of seconds since the epoch, 5 random bytes fixed per process, a 3-byte counter.
//! Sorting ids sorts records by creation time, which the indexes rely on for "newest first".

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 12]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a 24-character hex ObjectId, got {0:?}")]
pub struct IdError(pub String);

fn process_bytes() -> &'static [u8; 5] {
    static BYTES: OnceLock<[u8; 5]> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut b = [0u8; 5];
        getrandom::fill(&mut b).expect("the OS random source is available");
        b
    })
}

fn next_counter() -> u32 {
    static COUNTER: OnceLock<AtomicU32> = OnceLock::new();
    let counter = COUNTER.get_or_init(|| {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).expect("the OS random source is available");
        AtomicU32::new(u32::from_be_bytes(b))
    });
    counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff
}

impl ObjectId {
    /// A fresh id stamped with `unix_millis` (second precision, as ObjectIds have).
    pub fn new(unix_millis: i64) -> ObjectId {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&((unix_millis / 1000) as u32).to_be_bytes());
        b[4..9].copy_from_slice(process_bytes());
        b[9..].copy_from_slice(&next_counter().to_be_bytes()[1..]);
        ObjectId(b)
    }

    /// The id a record derived from `source` always gets: the same inputs give the same id
    /// in every process and after every crash (the subscription a paid link starts).
    pub fn derived(source: ObjectId, purpose: &str) -> ObjectId {
        let digest = Sha256::new()
            .chain_update(purpose)
            .chain_update(source.0)
            .finalize();
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&source.0[..4]);
        b[4..].copy_from_slice(&digest[..8]);
        ObjectId(b)
    }

    pub fn from_bytes(b: [u8; 12]) -> ObjectId {
        ObjectId(b)
    }

    pub fn bytes(&self) -> &[u8; 12] {
        &self.0
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for ObjectId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut b = [0u8; 12];
        match hex::decode_to_slice(s, &mut b) {
            Ok(()) => Ok(ObjectId(b)),
            Err(_) => Err(IdError(s.chars().take(40).collect())),
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

/// Hex in JSON, the 12 raw bytes in the store's binary encoding.
impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 12]>::deserialize(d).map(ObjectId)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_by_creation_time() {
        let a = ObjectId::new(1_700_000_000_000);
        let b = ObjectId::new(1_700_000_001_000);
        assert!(a < b);
        assert_eq!(a.to_hex().parse::<ObjectId>().unwrap(), a);
        assert_eq!(a.to_hex().len(), 24);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "681xyz789abc123456789012",
            "abc",
            "681abc789abc1234567890123",
        ] {
            assert!(bad.parse::<ObjectId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_ids_are_deterministic_and_distinct_per_purpose() {
        let link = ObjectId::new(1_700_000_000_000);
        assert_eq!(
            ObjectId::derived(link, "subscription"),
            ObjectId::derived(link, "subscription")
        );
        assert_ne!(
            ObjectId::derived(link, "subscription"),
            ObjectId::derived(link, "payment")
        );
        assert_ne!(ObjectId::derived(link, "subscription"), link);
    }
}
