//! Premia: a payment orchestration engine for insurance premium collection.
//!
//! The map: `domain` (ids, environments, records), `store` (sled, group commit), `actors`
//! (the engine: virtual actors, supervisors, scheduler, clocks), `processor` (who moves the
//! money), `config` (config.toml + PREMIA_* variables).

pub mod actors;
pub mod config;
pub mod domain;
pub mod processor;
pub mod store;

pub use actors::{Engine, EngineConfig, EngineError, EngineStats, Processors, TestClock};
pub use processor::{PaymentSource, Sandbox};
pub use store::Store;
