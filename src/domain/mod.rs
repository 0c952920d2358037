//! Domain types shared by the store, the actors and (later) the HTTP layer. A value of these
//! types is valid: parsing happens once, at the edge.

mod environment;
mod ids;
mod records;

pub use environment::Environment;
pub use ids::{IdError, ObjectId};
pub use records::{
    AuditEntry, Customer, EntityKind, EntityRef, EventObject, IdempotentResponse, InstallmentPlan,
    LinkRecord, NewLink, NewSubscription, OutboxEvent, PaymentMethod, PaymentRecord, PaymentType,
    SubscriptionRecord, Timer, TimerKind,
};
