//! Tenant scope: which carriers and employers a key may touch. Empty lists mean all.

use crate::domain::ObjectId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantScope {
    pub carriers: Vec<ObjectId>,
    pub employers: Vec<ObjectId>,
}

impl TenantScope {
    pub fn allows_carrier(&self, carrier: ObjectId) -> bool {
        self.carriers.is_empty() || self.carriers.contains(&carrier)
    }

    pub fn allows_employer(&self, employer: ObjectId) -> bool {
        self.employers.is_empty() || self.employers.contains(&employer)
    }

    pub fn allows(&self, carrier: ObjectId, employer: ObjectId) -> bool {
        self.allows_carrier(carrier) && self.allows_employer(employer)
    }
}
