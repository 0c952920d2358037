//! Premia: a payment orchestration engine for insurance premium collection.
//!
//! The map: `domain` (ids, environments, records), `store` (sled, group commit), `actors`
//! (the engine: virtual actors, supervisors, scheduler, clocks), `processor` (who moves the
//! money), `auth` (API keys, tenant scope), `http` (the axum front door), `server` (wiring),
//! `config` (config.toml + PREMIA_* variables), `webhooks` (endpoints, signing, the
//! delivery dispatcher).

pub mod actors;
pub mod auth;
pub mod check;
pub mod config;
pub mod domain;
pub mod http;
pub mod processor;
pub mod server;
pub mod store;
pub mod webhooks;

pub use actors::{Engine, EngineConfig, EngineError, EngineStats, Processors, TestClock};
pub use processor::{PaymentSource, Sandbox};
pub use store::Store;
