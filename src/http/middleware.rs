//! The gate in front of `/api/v1`: a blocked address, authentication, the key's rate limit,
//! the request signature; then the rate-limit headers on whatever the handler answers.

use super::error::ApiError;
use super::AppState;
use crate::auth::limits::Verdict;
use crate::auth::{signature, AuthError, Principal};
use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub async fn gate(State(app): State<AppState>, req: Request, next: Next) -> Response {
    match admit(&app, req).await {
        Ok((req, limit, remaining)) => {
            let mut response = next.run(req).await;
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", limit.into());
            headers.insert("x-ratelimit-remaining", remaining.into());
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn admit(app: &AppState, req: Request) -> Result<(Request, u32, u32), ApiError> {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let Some(retry_after_secs) = app.limits.blocked(ip) {
        return Err(ApiError::RateLimited {
            limit: None,
            retry_after_secs,
        });
    }
    let (Some(id), Some(secret)) = (header(&req, "x-client-id"), header(&req, "x-client-secret"))
    else {
        return Err(AuthError::Missing.into());
    };
    let secret = secret.to_string();
    let who = match app.keys.authenticate(id, &secret).await {
        Ok(who) => who,
        Err(e) => {
            return Err(match app.limits.record_failure(ip) {
                Some(retry_after_secs) => ApiError::RateLimited {
                    limit: None,
                    retry_after_secs,
                },
                None => e.into(),
            })
        }
    };
    let (limit, remaining) = match app.limits.check(&who.client_id, who.rate_limit) {
        Verdict::Allowed { limit, remaining } => (limit, remaining),
        Verdict::Limited {
            limit,
            retry_after_secs,
        } => {
            return Err(ApiError::RateLimited {
                limit: Some(limit),
                retry_after_secs,
            })
        }
    };
    let req = check_signature(app, &who, &secret, req).await?;
    let mut req = req;
    req.extensions_mut().insert(who);
    Ok((req, limit, remaining))
}

/// Verify `X-Signature` when the key requires it or the client sent one. The body is read
/// (within the size limit) and put back for the handler.
async fn check_signature(
    app: &AppState,
    who: &Principal,
    secret: &str,
    req: Request,
) -> Result<Request, ApiError> {
    let Some(sig) = header(&req, "x-signature").map(str::to_string) else {
        if who.require_signature {
            return Err(AuthError::Signature(
                "this API key requires signed requests: send X-Signature and X-Timestamp",
            )
            .into());
        }
        return Ok(req);
    };
    let timestamp = header(&req, "x-timestamp").map(str::to_string);
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, app.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(app.max_body_bytes))?;
    // The full request target: inside the nested `/api/v1` router `parts.uri` lacks the prefix.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map(|o| &o.0)
        .unwrap_or(&parts.uri);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    signature::verify(
        secret,
        &sig,
        timestamp.as_deref(),
        now_ms,
        parts.method.as_str(),
        path,
        &bytes,
    )?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
