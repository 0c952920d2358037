//! Backpressure at the front door: a bound on the API requests handled at once, beyond which
//! the answer is 503 with `Retry-After` at once (never an unbounded queue), and a deadline per
//! request. A request past its deadline gets 503 but its work, once started, goes on; a retry
//! with the same Idempotency-Key learns its outcome without running it twice.

use super::error::ApiError;
use super::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct Backpressure {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Backpressure {
    pub fn new(max_in_flight: usize, timeout: Duration) -> Backpressure {
        Backpressure {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            timeout,
        }
    }
}

pub async fn layer(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let bounds = &app.backpressure;
    let Ok(_permit) = bounds.permits.clone().try_acquire_owned() else {
        metrics::counter!("premia_http_shed_total").increment(1);
        return ApiError::Unavailable(
            "the server is handling as many requests as it can; retry shortly".into(),
        )
        .into_response();
    };
    match tokio::time::timeout(bounds.timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "no answer within {} s; the request may still complete: retry it with the same Idempotency-Key to learn its outcome",
            bounds.timeout.as_secs()
        ))
        .into_response(),
    }
}
