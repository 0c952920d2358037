//! API keys, their verification and tenant scopes.
//!
//! Keys are `<prefix>_<env>_cli_<random>` / `<prefix>_<env>_sec_<random>`. Records live in
//! `<data_dir>/keys.json` with the secret as a bcrypt hash, so key management works whether
//! or not a server holds the sled database; the server notices a changed file on the next
//! request. A verified secret is remembered as a SHA-256 digest so bcrypt runs once per key,
//! not once per request; the digest is bound to the bcrypt hash it matched and counts only
//! while the key file still accepts that hash (revoked, rotated out, overlap over: refused at
//! once). Secrets never reach a log.

mod keys;
pub mod limits;
pub mod signature;
mod tenant;

pub use keys::{
    ApiClient, CreatedKey, KeyError, KeyStore, KeyUpdate, NewKey, PreviousSecret, RotatedKey, Scope,
};
pub use tenant::TenantScope;

use crate::domain::Environment;

/// Who is calling, once authenticated.
#[derive(Clone, Debug)]
pub struct Principal {
    pub client_id: String,
    pub env: Environment,
    pub scope: Scope,
    pub tenant: TenantScope,
    /// Requests per minute; `None`: the server's default.
    pub rate_limit: Option<u32>,
    pub require_signature: bool,
}

/// Why a request is refused with 401. The message tells the caller what to fix without
/// revealing whether a key exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("send your API key in the X-Client-ID and X-Client-Secret headers")]
    Missing,
    #[error("X-Client-ID or X-Client-Secret is not a valid API key")]
    Invalid,
    #[error("this API key has been revoked")]
    Revoked,
    #[error("the key's environment prefix does not match its record")]
    EnvironmentMismatch,
    #[error("{0}")]
    Signature(&'static str),
    #[error("this API key's scope ({0}) cannot use the payments API; use a key with scope \"payments\" or \"all\"")]
    Scope(&'static str),
}
