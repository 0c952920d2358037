//! The key file and secret verification.

use super::{AuthError, Principal, TenantScope};
use crate::domain::{Environment, ObjectId};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use subtle::ConstantTimeEq;

/// bcrypt work factor. Secrets are 32 random characters (190 bits), so the hash protects the
/// file against leaks, not a weak password; 10 keeps key creation and first use fast.
const BCRYPT_COST: u32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Payments,
    All,
    Payroll,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Payments => "payments",
            Scope::All => "all",
            Scope::Payroll => "payroll",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "payments" => Some(Scope::Payments),
            "all" => Some(Scope::All),
            "payroll" => Some(Scope::Payroll),
            _ => None,
        }
    }
}

/// A client record (`Payment_api_clients` in the spec).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiClient {
    pub client_id: String,
    pub secret_hash: String,
    pub env: Environment,
    pub scope: Scope,
    pub name: Option<String>,
    pub allowed_carrier_ids: Vec<ObjectId>,
    pub allowed_employer_ids: Vec<ObjectId>,
    /// Requests per minute; `None`: the default.
    pub rate_limit: Option<u32>,
    pub require_signature: bool,
    pub created_at: String,
    pub revoked: bool,
}

#[derive(Clone, Debug)]
pub struct NewKey {
    pub env: Environment,
    pub scope: Scope,
    pub name: Option<String>,
    pub carriers: Vec<ObjectId>,
    pub employers: Vec<ObjectId>,
    pub rate_limit: Option<u32>,
    pub require_signature: bool,
}

/// The only time a secret is shown.
#[derive(Clone, Debug, Serialize)]
pub struct CreatedKey {
    pub client_id: String,
    pub client_secret: String,
    pub env: Environment,
    pub scope: Scope,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("key file {path} is unreadable: {error}")]
    Corrupt { path: String, error: String },
    #[error("no API key {0}")]
    Unknown(String),
}

#[derive(Default, Serialize, Deserialize)]
struct KeyFile {
    clients: BTreeMap<String, ApiClient>,
}

struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    file: KeyFile,
}

pub struct KeyStore {
    path: PathBuf,
    lock_path: PathBuf,
    prefix: String,
    loaded: RwLock<Loaded>,
    /// client_id → SHA-256 of the secret last verified with bcrypt.
    verified: DashMap<String, [u8; 32]>,
    /// One bcrypt at a time per client: a burst of first requests costs one hash, not one
    /// per request.
    verifying: DashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    // 62 does not divide 256: reject the top values so every character is equally likely.
    let mut out = String::with_capacity(len);
    let mut extra = [0u8; 1];
    for mut b in bytes {
        while b >= 248 {
            getrandom::fill(&mut extra).expect("the OS random source is available");
            b = extra[0];
        }
        out.push(ALPHABET[(b % 62) as usize] as char);
    }
    out
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl KeyStore {
    pub fn open(data_dir: &Path, prefix: &str) -> Result<KeyStore, KeyError> {
        let io = |error| KeyError::Io {
            path: data_dir.display().to_string(),
            error,
        };
        fs::create_dir_all(data_dir).map_err(io)?;
        let store = KeyStore {
            path: data_dir.join("keys.json"),
            lock_path: data_dir.join("keys.lock"),
            prefix: prefix.to_string(),
            loaded: RwLock::new(Loaded {
                stamp: None,
                file: KeyFile::default(),
            }),
            verified: DashMap::new(),
            verifying: DashMap::new(),
        };
        store.refresh()?;
        Ok(store)
    }

    fn io(&self, error: std::io::Error) -> KeyError {
        KeyError::Io {
            path: self.path.display().to_string(),
            error,
        }
    }

    fn stamp(&self) -> Result<Option<(SystemTime, u64)>, KeyError> {
        match fs::metadata(&self.path) {
            Ok(m) => Ok(Some((m.modified().map_err(|e| self.io(e))?, m.len()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Reload the file if it changed since we read it (another process manages keys).
    fn refresh(&self) -> Result<(), KeyError> {
        let stamp = self.stamp()?;
        if self.loaded.read().expect("not poisoned").stamp == stamp && stamp.is_some() {
            return Ok(());
        }
        let file = match stamp {
            None => KeyFile::default(),
            Some(_) => {
                let text = fs::read_to_string(&self.path).map_err(|e| self.io(e))?;
                serde_json::from_str(&text).map_err(|e| KeyError::Corrupt {
                    path: self.path.display().to_string(),
                    error: e.to_string(),
                })?
            }
        };
        *self.loaded.write().expect("not poisoned") = Loaded { stamp, file };
        Ok(())
    }

    /// Change the file under an exclusive lock: read the latest, change, write atomically.
    fn modify<T>(
        &self,
        change: impl FnOnce(&mut KeyFile) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        let lock = File::create(&self.lock_path).map_err(|e| self.io(e))?;
        lock.lock().map_err(|e| self.io(e))?;
        // Force a re-read: our stamp may be older than a write in the same second.
        self.loaded.write().expect("not poisoned").stamp = None;
        self.refresh()?;
        let mut file = std::mem::take(&mut self.loaded.write().expect("not poisoned").file);
        let result = change(&mut file);
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&file).expect("key records serialise");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            File::open(self.path.parent().unwrap_or(Path::new(".")))?.sync_all()
        };
        let written = write().map_err(|e| self.io(e));
        *self.loaded.write().expect("not poisoned") = Loaded { stamp: None, file };
        written?;
        self.refresh()?;
        result
    }

    pub fn create(&self, new: NewKey) -> Result<CreatedKey, KeyError> {
        let env = new.env.as_str();
        let client_id = format!("{}_{env}_cli_{}", self.prefix, random_token(24));
        let client_secret = format!("{}_{env}_sec_{}", self.prefix, random_token(32));
        let secret_hash =
            bcrypt::hash(&client_secret, BCRYPT_COST).expect("bcrypt hashes any input");
        let record = ApiClient {
            client_id: client_id.clone(),
            secret_hash,
            env: new.env,
            scope: new.scope,
            name: new.name,
            allowed_carrier_ids: new.carriers,
            allowed_employer_ids: new.employers,
            rate_limit: new.rate_limit,
            require_signature: new.require_signature,
            created_at: state_machines::Timestamp::from_millis(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0),
            )
            .to_rfc3339(),
            revoked: false,
        };
        self.modify(|file| {
            file.clients.insert(client_id.clone(), record);
            Ok(())
        })?;
        Ok(CreatedKey {
            client_id,
            client_secret,
            env: new.env,
            scope: new.scope,
        })
    }

    pub fn list(&self) -> Result<Vec<ApiClient>, KeyError> {
        self.refresh()?;
        Ok(self
            .loaded
            .read()
            .expect("not poisoned")
            .file
            .clients
            .values()
            .cloned()
            .collect())
    }

    pub fn revoke(&self, client_id: &str) -> Result<(), KeyError> {
        self.modify(|file| match file.clients.get_mut(client_id) {
            Some(client) => {
                client.revoked = true;
                Ok(())
            }
            None => Err(KeyError::Unknown(client_id.to_string())),
        })?;
        self.verified.remove(client_id);
        Ok(())
    }

    pub fn is_empty(&self) -> Result<bool, KeyError> {
        Ok(self.list()?.is_empty())
    }

    /// The environment a key string names: `<prefix>_<env>_<kind>_…`.
    fn env_of(&self, key: &str, kind: &str) -> Option<Environment> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix('_')?;
        let (env, rest) = rest.split_once('_')?;
        rest.strip_prefix(kind)?.strip_prefix('_')?;
        env.parse().ok()
    }

    /// Check a client id and secret. bcrypt runs (off the async workers) only the first
    /// time a secret is seen; afterwards its SHA-256 is compared in constant time.
    pub async fn authenticate(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Principal, AuthError> {
        let env = self.env_of(client_id, "cli").ok_or(AuthError::Invalid)?;
        if self.env_of(secret, "sec") != Some(env) {
            return Err(AuthError::Invalid);
        }
        if self.refresh().is_err() {
            return Err(AuthError::Invalid);
        }
        let client = self
            .loaded
            .read()
            .expect("not poisoned")
            .file
            .clients
            .get(client_id)
            .cloned()
            .ok_or(AuthError::Invalid)?;
        let presented = digest(secret);
        let cached = || {
            self.verified
                .get(client_id)
                .is_some_and(|d| bool::from(d.ct_eq(&presented)))
        };
        if !cached() {
            let lock = self
                .verifying
                .entry(client_id.to_string())
                .or_default()
                .clone();
            let _one_at_a_time = lock.lock().await;
            if !cached() {
                let (secret, hash) = (secret.to_string(), client.secret_hash.clone());
                let ok = tokio::task::spawn_blocking(move || {
                    bcrypt::verify(secret, &hash).unwrap_or(false)
                })
                .await
                .unwrap_or(false);
                if !ok {
                    return Err(AuthError::Invalid);
                }
                self.verified.insert(client_id.to_string(), presented);
            }
        }
        self.admit(client, env)
    }

    /// The checks after the secret is known to be right.
    fn admit(&self, client: ApiClient, env: Environment) -> Result<Principal, AuthError> {
        if client.revoked {
            return Err(AuthError::Revoked);
        }
        if client.env != env {
            return Err(AuthError::EnvironmentMismatch);
        }
        if !matches!(client.scope, Scope::Payments | Scope::All) {
            return Err(AuthError::Scope(client.scope.as_str()));
        }
        Ok(Principal {
            client_id: client.client_id,
            env,
            scope: client.scope,
            rate_limit: client.rate_limit,
            require_signature: client.require_signature,
            tenant: TenantScope {
                carriers: client.allowed_carrier_ids,
                employers: client.allowed_employer_ids,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_key(scope: Scope) -> NewKey {
        NewKey {
            env: Environment::Test,
            scope,
            name: None,
            carriers: vec![],
            employers: vec![],
            rate_limit: None,
            require_signature: false,
        }
    }

    #[tokio::test]
    async fn a_created_key_authenticates_and_a_wrong_secret_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::open(dir.path(), "premia").unwrap();
        let key = keys.create(new_key(Scope::Payments)).unwrap();
        assert!(key.client_id.starts_with("premia_test_cli_"));
        assert!(key.client_secret.starts_with("premia_test_sec_"));
        let p = keys
            .authenticate(&key.client_id, &key.client_secret)
            .await
            .unwrap();
        assert_eq!(p.env, Environment::Test);
        // The cached path too.
        assert!(keys
            .authenticate(&key.client_id, &key.client_secret)
            .await
            .is_ok());
        let wrong = format!("premia_test_sec_{}", "x".repeat(32));
        assert_eq!(
            keys.authenticate(&key.client_id, &wrong).await.unwrap_err(),
            AuthError::Invalid
        );
    }

    #[tokio::test]
    async fn another_process_revoking_a_key_takes_effect_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let server = KeyStore::open(dir.path(), "premia").unwrap();
        let cli = KeyStore::open(dir.path(), "premia").unwrap();
        let key = cli.create(new_key(Scope::All)).unwrap();
        assert!(server
            .authenticate(&key.client_id, &key.client_secret)
            .await
            .is_ok());
        cli.revoke(&key.client_id).unwrap();
        assert_eq!(
            server
                .authenticate(&key.client_id, &key.client_secret)
                .await
                .unwrap_err(),
            AuthError::Revoked
        );
    }

    #[tokio::test]
    async fn a_payroll_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::open(dir.path(), "premia").unwrap();
        let key = keys.create(new_key(Scope::Payroll)).unwrap();
        assert_eq!(
            keys.authenticate(&key.client_id, &key.client_secret)
                .await
                .unwrap_err(),
            AuthError::Scope("payroll")
        );
    }
}
