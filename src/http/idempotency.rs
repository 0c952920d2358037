//! `Idempotency-Key`: a POST, PATCH or DELETE that carries one is safe to retry. The first complete
//! answer is kept for `server.idempotency_ttl_secs` (24 h) and replayed byte-for-byte with
//! `Idempotent-Replayed: true`; the same key with a different method, path or body is 422;
//! while the first request still runs, the same key gets 409 at once. Keys are scoped to the
//! API client (and its environment).
//!
//! Never a second execution, even across a kill -9: where a request changes an entity, its
//! answer is written in the transition's own commit (`actors::Receipt`), so a crash keeps both
//! or neither. Other answers (sandbox helpers, a refused transition) are stored right after,
//! before they are sent. Refusals that happen before anything runs (400, 401, 403, 404, 413,
//! 429, 5xx) are not stored, as at Stripe: fix the request and retry with the same key.

use super::envelope::data_bytes;
use super::error::ApiError;
use super::AppState;
use crate::actors::{wall_clock_ms, Receipt};
use crate::auth::Principal;
use crate::domain::IdempotentResponse;
use crate::store::{keys, Commit, Store};
use axum::body::Body;
use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MAX_KEY_LEN: usize = 255;

/// Keys whose first request is still running (in this process).
pub struct Idempotency {
    running: DashMap<Vec<u8>, ()>,
    ttl_ms: i64,
}

/// Holds a key as running until dropped.
struct Running {
    keys: Arc<Idempotency>,
    key: Vec<u8>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.keys.running.remove(&self.key);
    }
}

impl Idempotency {
    pub fn new(ttl: Duration) -> Idempotency {
        Idempotency {
            running: DashMap::new(),
            ttl_ms: ttl.as_millis() as i64,
        }
    }

    /// `None` when the key is already running.
    fn start(self: &Arc<Self>, key: Vec<u8>) -> Option<Running> {
        match self.running.entry(key.clone()) {
            dashmap::Entry::Occupied(_) => None,
            dashmap::Entry::Vacant(v) => {
                v.insert(());
                Some(Running {
                    keys: self.clone(),
                    key,
                })
            }
        }
    }

    fn live(&self, response: &IdempotentResponse, now_ms: i64) -> bool {
        now_ms - response.stored_at_ms < self.ttl_ms
    }

    /// Delete answers older than the TTL. A key is deleted only while this sweep holds it
    /// as running and after re-reading it, so an answer stored meanwhile is never lost.
    pub async fn sweep(self: &Arc<Self>, store: &Store) -> Result<usize, crate::store::StoreError> {
        let before = wall_clock_ms() - self.ttl_ms;
        let mut held = Vec::new();
        let mut commit = Commit::new();
        for key in store.responses_stored_before(before)? {
            let Some(running) = self.start(key.clone()) else {
                continue;
            };
            if store
                .idempotent_response(&key)?
                .is_some_and(|r| r.stored_at_ms < before)
            {
                commit.delete_response(&key);
                held.push(running);
            }
        }
        if !held.is_empty() {
            store.apply_durable(commit).await;
        }
        Ok(held.len())
    }
}

/// The request's claim on its Idempotency-Key, for handlers whose answer is committed with
/// their transition.
#[derive(Clone)]
pub struct Claim {
    key: Vec<u8>,
    fingerprint: [u8; 32],
    /// Set once the answer went into a commit: nothing is left to store afterwards.
    committed: Arc<AtomicBool>,
}

/// A handler's view of the claim: `None` when the request carried no Idempotency-Key.
pub struct Idempotent(Option<Claim>);

impl FromRequestParts<AppState> for Idempotent {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Infallible> {
        Ok(Idempotent(parts.extensions.get::<Claim>().cloned()))
    }
}

impl Idempotent {
    /// The receipt to commit with the transition: `status` and the envelope of `view`
    /// of the entity as committed (exactly what the handler then sends).
    pub fn receipt<T, V: Serialize>(
        &self,
        status: StatusCode,
        view: impl FnOnce(&T) -> V + Send + 'static,
    ) -> Option<Receipt<T>> {
        let claim = self.0.clone()?;
        let committed = claim.committed.clone();
        Some(Receipt {
            key: claim.key,
            fingerprint: claim.fingerprint,
            status: status.as_u16(),
            render: Box::new(move |record| {
                committed.store(true, Ordering::SeqCst);
                data_bytes(view(record))
            }),
        })
    }
}

pub async fn layer(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::POST | Method::PATCH | Method::DELETE)
        || !req.headers().contains_key("idempotency-key")
    {
        return next.run(req).await;
    }
    match run(app, req, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn parse_key(value: &HeaderValue) -> Result<&str, ApiError> {
    value
        .to_str()
        .ok()
        .filter(|k| {
            (1..=MAX_KEY_LEN).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters (a UUID is a good choice)"
            ))
        })
}

async fn run(app: AppState, req: Request, next: Next) -> Result<Response, ApiError> {
    let who = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("idempotency layer outside authentication".into()))?;
    let key = parse_key(&req.headers()["idempotency-key"])?.to_string();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, app.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(app.max_body_bytes))?;
    let target = parts
        .extensions
        .get::<OriginalUri>()
        .map(|o| &o.0)
        .unwrap_or(&parts.uri);
    let fingerprint = fingerprint(
        parts.method.as_str(),
        target.path_and_query().map_or("/", |p| p.as_str()),
        &body,
    );
    let store_key = keys::idempotency(who.env, &who.client_id, &key);
    let store = app.engine.store();

    let running = app
        .idempotency
        .start(store_key.clone())
        .ok_or(ApiError::IdempotencyInProgress)?;
    let stored = store
        .idempotent_response(&store_key)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .filter(|r| app.idempotency.live(r, wall_clock_ms()));
    if let Some(stored) = stored {
        if stored.fingerprint != fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        // Only ever replay what a crash cannot take back.
        store.read_barrier().await;
        return Ok(replay(stored));
    }

    let claim = Claim {
        key: store_key,
        fingerprint,
        committed: Arc::new(AtomicBool::new(false)),
    };
    let mut req = Request::from_parts(parts, Body::from(body));
    req.extensions_mut().insert(claim.clone());
    // The work runs in its own task and holds the key until its answer is stored, even if the
    // client goes away or the request times out: a retry meanwhile gets 409, never a rerun.
    let work = tokio::spawn(async move {
        let response = next.run(req).await;
        let kept = keep(&app, &claim, response).await;
        drop(running);
        kept
    });
    work.await
        .map_err(|e| ApiError::Internal(format!("idempotent request task: {e}")))?
}

/// SHA-256 over what makes two requests the same request.
fn fingerprint(method: &str, target: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(target.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

/// Store a decided answer the handler did not commit itself, durably, before it is sent.
async fn keep(app: &AppState, claim: &Claim, response: Response) -> Result<Response, ApiError> {
    let status = response.status();
    let decided = status.is_success() || status == StatusCode::CONFLICT;
    if claim.committed.load(Ordering::SeqCst) || !decided {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(format!("reading a response: {e}")))?;
    let mut commit = Commit::new();
    commit.put_response(
        &claim.key,
        &IdempotentResponse {
            fingerprint: claim.fingerprint,
            status: status.as_u16(),
            body: body.to_vec(),
            stored_at_ms: wall_clock_ms(),
        },
    );
    app.engine.store().apply_durable(commit).await;
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn replay(stored: IdempotentResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
