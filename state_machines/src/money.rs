//! `Cents`: money in integer cents, shared by every machine.
//!
//! A `Cents` is never negative and never above `MAX_CENTS`; arithmetic is checked, so a
//! total can never wrap. Amounts a client sends must also be positive: `Cents::positive`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// $10 billion: far above any premium, far below `u64`/`i64` overflow when summed.
pub const MAX_CENTS: u64 = 1_000_000_000_000;

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "u64", into = "u64")]
pub struct Cents(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be a whole number of cents from 1 to {MAX_CENTS}, got {0}")]
    OutOfRange(i128),
}

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// A client-supplied amount: 1..=MAX_CENTS.
    pub fn positive(v: i128) -> Result<Cents, AmountError> {
        if v >= 1 && v <= MAX_CENTS as i128 {
            Ok(Cents(v as u64))
        } else {
            Err(AmountError::OutOfRange(v))
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `None` when the sum would pass `MAX_CENTS`.
    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0
            .checked_add(other.0)
            .filter(|v| *v <= MAX_CENTS)
            .map(Cents)
    }

    /// `None` when the result would be negative.
    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).map(Cents)
    }

    /// `None` when the product would pass `MAX_CENTS`.
    pub fn checked_mul(self, n: u32) -> Option<Cents> {
        self.0
            .checked_mul(n as u64)
            .filter(|v| *v <= MAX_CENTS)
            .map(Cents)
    }
}

impl TryFrom<u64> for Cents {
    type Error = AmountError;
    fn try_from(v: u64) -> Result<Self, Self::Error> {
        if v <= MAX_CENTS {
            Ok(Cents(v))
        } else {
            Err(AmountError::OutOfRange(v as i128))
        }
    }
}

impl From<Cents> for u64 {
    fn from(c: Cents) -> u64 {
        c.0
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_rejects_zero_negative_and_absurd_amounts() {
        assert!(Cents::positive(0).is_err());
        assert!(Cents::positive(-5).is_err());
        assert!(Cents::positive(MAX_CENTS as i128 + 1).is_err());
        assert_eq!(Cents::positive(150_000).unwrap().get(), 150_000);
    }

    #[test]
    fn arithmetic_never_goes_negative_or_past_the_cap() {
        let a = Cents::positive(10).unwrap();
        let b = Cents::positive(11).unwrap();
        assert_eq!(a.checked_sub(b), None);
        assert_eq!(
            Cents::positive(MAX_CENTS as i128).unwrap().checked_add(a),
            None
        );
        assert_eq!(b.checked_sub(a).unwrap().get(), 1);
    }

    #[test]
    fn deserialising_an_out_of_range_value_fails() {
        assert!(serde_json::from_str::<Cents>("1000000000001").is_err());
        assert_eq!(serde_json::from_str::<Cents>("0").unwrap(), Cents::ZERO);
    }
}
