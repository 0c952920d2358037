//! `Environment`: test (sandbox) or live. Every key in the store starts with it, so the two
//! never see each other's data.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Test,
    Live,
}

impl Environment {
    pub const ALL: [Environment; 2] = [Environment::Test, Environment::Live];

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Test => "test",
            Environment::Live => "live",
        }
    }

    /// The first byte of every key of this environment.
    pub fn tag(self) -> u8 {
        match self {
            Environment::Test => b't',
            Environment::Live => b'l',
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "test" => Ok(Environment::Test),
            "live" => Ok(Environment::Live),
            other => Err(format!(
                "environment must be \"test\" or \"live\", got {other:?}"
            )),
        }
    }
}
