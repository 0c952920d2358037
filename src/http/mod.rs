//! The HTTP front door (axum): authentication, parsing into domain commands, routing to the
//! engine, the envelope. Handlers never build error JSON: they return `ApiError`.

mod backpressure;
mod envelope;
mod error;
mod extract;
pub mod fuzzing;
mod idempotency;
mod metrics;
mod middleware;
mod routes;
mod validate;
pub(crate) mod views;

pub use backpressure::Backpressure;
pub use error::ApiError;
pub use idempotency::Idempotency;
pub use metrics::handle as metrics_handle;
pub use routes::router;

use crate::actors::Engine;
use crate::auth::KeyStore;
use crate::processor::Sandbox;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub keys: Arc<KeyStore>,
    /// The test environment's processor, steered by the test helpers.
    pub sandbox: Arc<Sandbox>,
    /// Base of the URLs handed out (checkout pages).
    pub public_url: String,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub limits: Arc<crate::auth::limits::RateLimits>,
    pub max_body_bytes: usize,
    pub idempotency: Arc<Idempotency>,
    pub backpressure: Arc<Backpressure>,
    /// Webhook endpoints, events and redelivery (the dispatcher runs in the background).
    pub webhooks: crate::webhooks::Webhooks,
}
