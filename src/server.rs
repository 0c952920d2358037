//! Wiring: configuration → store, keys, engine, webhook dispatcher, HTTP server. Used by `premia serve` and by
//! the integration tests, so both run exactly the same thing.

use crate::actors::{Engine, EngineError, Processors, TestClock};
use crate::auth::limits::RateLimits;
use crate::auth::{KeyError, KeyStore};
use crate::config::Config;
use crate::http::{router, AppState, Backpressure, Idempotency};
use crate::processor::{Sandbox, Unconfigured};
use crate::store::Store;
use crate::webhooks::Webhooks;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("cannot listen on {addr}: {error}")]
    Listen { addr: String, error: std::io::Error },
    #[error("the HTTP server failed: {0}")]
    Serve(String),
}

pub struct Server {
    base_url: String,
    engine: Engine,
    keys: Arc<KeyStore>,
    webhooks: Webhooks,
    shutdown: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    sweeper: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Open the data dir, start the engine and serve HTTP on `server.listen`.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        let data_dir = &config.server.data_dir;
        let store = Store::open_with_cache(data_dir, config.store.cache_mib * 1024 * 1024)
            .map_err(EngineError::from)?;
        let keys = Arc::new(KeyStore::open(data_dir, &config.server.key_prefix)?);
        let sandbox = Arc::new(Sandbox::new());
        // Live payments need Stripe (on the roadmap); until it is configured every live
        // charge is declined rather than pretending that real money moved.
        let processors = Processors {
            test: sandbox.clone(),
            live: Arc::new(Unconfigured),
        };
        let engine = Engine::start(
            store,
            config.engine(),
            processors,
            Arc::new(TestClock::following_system()),
        )
        .await?;
        let listen = &config.server.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|error| ServerError::Listen {
                addr: listen.clone(),
                error,
            })?;
        let addr = listener.local_addr().map_err(|error| ServerError::Listen {
            addr: listen.clone(),
            error,
        })?;
        let base_url = format!("http://{addr}");
        let public_url = match config.server.public_url.trim_end_matches('/') {
            "" => base_url.clone(),
            url => url.to_string(),
        };
        let webhooks = Webhooks::new(engine.clone(), config.webhooks(), public_url.clone());
        webhooks.start();
        let app = AppState {
            engine: engine.clone(),
            keys: keys.clone(),
            sandbox,
            public_url,
            metrics: crate::http::metrics_handle(),
            limits: Arc::new(RateLimits::new(
                config.server.rate_limit_per_minute,
                config.server.failed_auth_per_minute,
            )),
            max_body_bytes: config.server.max_body_bytes,
            idempotency: Arc::new(Idempotency::new(Duration::from_secs(
                config.server.idempotency_ttl_secs,
            ))),
            backpressure: Arc::new(Backpressure::new(
                config.server.max_in_flight,
                Duration::from_secs(config.server.request_timeout_secs),
            )),
            webhooks: webhooks.clone(),
        };
        let sweeper = spawn_idempotency_sweeper(app.idempotency.clone(), engine.clone());
        let routes = router(app);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            axum::serve(
                listener,
                routes.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Server {
            base_url,
            engine,
            keys,
            webhooks,
            shutdown,
            serving,
            sweeper,
        })
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// Stop accepting, finish in-flight requests, then stop the engine and flush.
    pub async fn stop(self) -> Result<(), ServerError> {
        let _ = self.shutdown.send(());
        match self.serving.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(ServerError::Serve(e.to_string())),
            Err(e) => return Err(ServerError::Serve(e.to_string())),
        }
        self.sweeper.abort();
        // Deliveries cut short are still queued in the store and resume on the next start.
        self.webhooks.stop();
        self.engine.shutdown().await?;
        Ok(())
    }
}

/// Forget Idempotency-Key answers past their TTL, every few minutes.
fn spawn_idempotency_sweeper(
    keys: Arc<Idempotency>,
    engine: Engine,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(300));
        loop {
            every.tick().await;
            if let Err(e) = keys.sweep(engine.store()).await {
                tracing::warn!(error = %e, "sweeping expired idempotency keys");
            }
        }
    })
}
