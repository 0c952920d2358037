//! What the property tests share: how hard to try, and the snapshot round-trip.

use proptest::test_runner::Config;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::ops::Range;

fn deep() -> bool {
    std::env::var_os("PREMIA_DEEP").is_some()
}

/// Few cases by default so `cargo test` stays quick in debug builds. proptest's own
/// `PROPTEST_CASES` wins when set; `PREMIA_DEEP` asks for a long run.
pub fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = if deep() { 10_000 } else { 256 };
    }
    config
}

/// How many events one case feeds a machine.
pub fn steps() -> Range<usize> {
    if deep() {
        1..200
    } else {
        1..40
    }
}

/// A snapshot restores exactly: serialise, deserialise (which re-checks invariants), compare.
pub fn assert_round_trips<T: Serialize + DeserializeOwned + PartialEq + Debug>(machine: &T) {
    let json = serde_json::to_string(machine).expect("a machine serialises");
    let restored: T = serde_json::from_str(&json).expect("a snapshot restores");
    assert_eq!(&restored, machine, "snapshot {json}");
}
