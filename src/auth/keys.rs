//! The key file and secret verification.

use super::{AuthError, Principal, TenantScope};
use crate::domain::{Environment, ObjectId};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use subtle::{Choice, ConstantTimeEq};

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
    /// Secrets replaced by `rotate` that still work until their overlap ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_secrets: Vec<PreviousSecret>,
}

/// A rotated-out secret, accepted until `valid_until_ms` (epoch milliseconds, exclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub secret_hash: String,
    pub valid_until_ms: i64,
}

impl ApiClient {
    /// The bcrypt hashes a presented secret may match at `now_ms`: the current one first,
    /// then every previous one still inside its overlap.
    fn accepted_hashes(&self, now_ms: i64) -> Vec<String> {
        std::iter::once(self.secret_hash.clone())
            .chain(
                self.previous_secrets
                    .iter()
                    .filter(|p| now_ms < p.valid_until_ms)
                    .map(|p| p.secret_hash.clone()),
            )
            .collect()
    }

    /// When the last rotated-out secret stops working, if one still works at `now_ms`.
    pub fn overlap_ends_ms(&self, now_ms: i64) -> Option<i64> {
        self.previous_secrets
            .iter()
            .map(|p| p.valid_until_ms)
            .filter(|until| now_ms < *until)
            .max()
    }
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

/// A rotated key: the new secret (shown only now) and until when the old one still works.
#[derive(Clone, Debug, Serialize)]
pub struct RotatedKey {
    #[serde(flatten)]
    pub key: CreatedKey,
    /// RFC 3339; `None` when the old secret stopped working at once.
    pub previous_secret_valid_until: Option<String>,
}

/// Changes to a key's record; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct KeyUpdate {
    pub name: Option<String>,
    /// `Some(None)`: back to the server's default.
    pub rate_limit: Option<Option<u32>>,
    /// Replaces the allowed carriers (empty: all).
    pub carriers: Option<Vec<ObjectId>>,
    /// Replaces the allowed employers (empty: all).
    pub employers: Option<Vec<ObjectId>>,
    pub require_signature: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("key file {path} is unreadable: {error}")]
    Corrupt { path: String, error: String },
    #[error("no API key {0}")]
    Unknown(String),
    #[error("API key {0} is revoked; create a new key instead")]
    Revoked(String),
}

#[derive(Default, Serialize, Deserialize)]
struct KeyFile {
    clients: BTreeMap<String, ApiClient>,
}

/// What identifies one version of the key file without reading it: every write replaces the
/// file by a rename, so the inode changes even when two writes share an mtime tick and length.
type Stamp = (SystemTime, u64, u64);

struct Loaded {
    stamp: Option<Stamp>,
    file: KeyFile,
}

/// A secret bcrypt accepted: its SHA-256 and the hash it matched. The digest counts only while
/// that hash is still accepted by the key file as now loaded, so a rotated-out or replaced
/// secret stops working in the cache the moment the file stops accepting it.
struct Verified {
    digest: [u8; 32],
    hash: String,
}

pub struct KeyStore {
    path: PathBuf,
    lock_path: PathBuf,
    prefix: String,
    loaded: RwLock<Loaded>,
    /// client_id → the secrets verified with bcrypt, at most one per accepted hash.
    verified: DashMap<String, Vec<Verified>>,
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

/// The record of a key that is not revoked, for a change.
fn live_record<'a>(file: &'a mut KeyFile, client_id: &str) -> Result<&'a mut ApiClient, KeyError> {
    match file.clients.get_mut(client_id) {
        Some(client) if client.revoked => Err(KeyError::Revoked(client_id.to_string())),
        Some(client) => Ok(client),
        None => Err(KeyError::Unknown(client_id.to_string())),
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn rfc3339(ms: i64) -> String {
    state_machines::Timestamp::from_millis(ms).to_rfc3339()
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

    fn stamp(&self) -> Result<Option<Stamp>, KeyError> {
        match fs::metadata(&self.path) {
            Ok(m) => Ok(Some((
                m.modified().map_err(|e| self.io(e))?,
                m.len(),
                m.ino(),
            ))),
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
            created_at: rfc3339(now_ms()),
            revoked: false,
            previous_secrets: vec![],
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

    /// A new secret for `client_id`. The old one keeps working for `overlap` (zero: it stops
    /// at once), then stops; secrets rotated out earlier stop by then too, if not before.
    pub fn rotate(&self, client_id: &str, overlap: Duration) -> Result<RotatedKey, KeyError> {
        let env = self.record(client_id)?.env;
        let client_secret = format!("{}_{}_sec_{}", self.prefix, env.as_str(), random_token(32));
        // Hashed before taking the file lock: bcrypt is the slow part.
        let secret_hash =
            bcrypt::hash(&client_secret, BCRYPT_COST).expect("bcrypt hashes any input");
        let now = now_ms();
        let valid_until_ms = now.saturating_add(overlap.as_millis().min(i64::MAX as u128) as i64);
        let scope = self.modify(|file| {
            let client = live_record(file, client_id)?;
            let old = std::mem::replace(&mut client.secret_hash, secret_hash);
            // This overlap caps the older secrets' too: rotating with 0 after a leak retires
            // every earlier secret at once.
            client
                .previous_secrets
                .retain(|p| now < p.valid_until_ms && !overlap.is_zero());
            for p in &mut client.previous_secrets {
                p.valid_until_ms = p.valid_until_ms.min(valid_until_ms);
            }
            if !overlap.is_zero() {
                client.previous_secrets.push(PreviousSecret {
                    secret_hash: old,
                    valid_until_ms,
                });
            }
            Ok(client.scope)
        })?;
        Ok(RotatedKey {
            key: CreatedKey {
                client_id: client_id.to_string(),
                client_secret,
                env,
                scope,
            },
            previous_secret_valid_until: (!overlap.is_zero()).then(|| rfc3339(valid_until_ms)),
        })
    }

    /// Change a key's record; the running server applies it on the key's next request.
    pub fn update(&self, client_id: &str, update: KeyUpdate) -> Result<ApiClient, KeyError> {
        self.modify(|file| {
            let client = live_record(file, client_id)?;
            if let Some(name) = update.name {
                client.name = Some(name);
            }
            if let Some(rate_limit) = update.rate_limit {
                client.rate_limit = rate_limit;
            }
            if let Some(carriers) = update.carriers {
                client.allowed_carrier_ids = carriers;
            }
            if let Some(employers) = update.employers {
                client.allowed_employer_ids = employers;
            }
            if let Some(required) = update.require_signature {
                client.require_signature = required;
            }
            Ok(client.clone())
        })
    }

    fn record(&self, client_id: &str) -> Result<ApiClient, KeyError> {
        self.refresh()?;
        self.loaded
            .read()
            .expect("not poisoned")
            .file
            .clients
            .get(client_id)
            .cloned()
            .ok_or_else(|| KeyError::Unknown(client_id.to_string()))
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
        self.authenticate_at(client_id, secret, now_ms()).await
    }

    /// `authenticate` as at `now_ms`, which decides whether a rotated-out secret still works.
    async fn authenticate_at(
        &self,
        client_id: &str,
        secret: &str,
        now_ms: i64,
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
        let accepted = client.accepted_hashes(now_ms);
        // Every entry is looked at, and the digests compared in constant time.
        let cached = || {
            self.verified.get(client_id).is_some_and(|entries| {
                let hit = entries.iter().fold(Choice::from(0), |hit, v| {
                    let current = Choice::from(accepted.contains(&v.hash) as u8);
                    hit | (v.digest.ct_eq(&presented) & current)
                });
                bool::from(hit)
            })
        };
        if !cached() {
            let lock = self
                .verifying
                .entry(client_id.to_string())
                .or_default()
                .clone();
            let _one_at_a_time = lock.lock().await;
            if !cached() {
                let (secret, hashes) = (secret.to_string(), accepted.clone());
                let matched = tokio::task::spawn_blocking(move || {
                    hashes
                        .into_iter()
                        .find(|hash| bcrypt::verify(&secret, hash).unwrap_or(false))
                })
                .await
                .ok()
                .flatten()
                .ok_or(AuthError::Invalid)?;
                let mut entries = self.verified.entry(client_id.to_string()).or_default();
                entries.retain(|v| v.hash != matched && accepted.contains(&v.hash));
                entries.push(Verified {
                    digest: presented,
                    hash: matched,
                });
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

    #[tokio::test]
    async fn a_rotated_key_takes_the_new_secret_and_the_old_one_until_the_overlap_ends() {
        let dir = tempfile::tempdir().unwrap();
        let server = KeyStore::open(dir.path(), "premia").unwrap();
        let cli = KeyStore::open(dir.path(), "premia").unwrap();
        let old = cli.create(new_key(Scope::Payments)).unwrap();
        assert!(server
            .authenticate(&old.client_id, &old.client_secret)
            .await
            .is_ok());

        let rotated = cli.rotate(&old.client_id, Duration::from_secs(60)).unwrap();
        let new = rotated.key;
        assert_eq!(new.client_id, old.client_id);
        assert_ne!(new.client_secret, old.client_secret);
        assert!(new.client_secret.starts_with("premia_test_sec_"));
        assert!(rotated.previous_secret_valid_until.is_some());
        // Both work, and both are cached (twice each: bcrypt, then the cache).
        for _ in 0..2 {
            for secret in [&new.client_secret, &old.client_secret] {
                assert!(server.authenticate(&new.client_id, secret).await.is_ok());
            }
        }
        assert_eq!(server.verified.get(&new.client_id).unwrap().len(), 2);

        let after_overlap = now_ms() + 60_001;
        assert_eq!(
            server
                .authenticate_at(&old.client_id, &old.client_secret, after_overlap)
                .await
                .unwrap_err(),
            AuthError::Invalid,
            "the overlap is over, cached or not"
        );
        assert!(server
            .authenticate_at(&new.client_id, &new.client_secret, after_overlap)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn rotating_without_overlap_refuses_the_cached_old_secret_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let server = KeyStore::open(dir.path(), "premia").unwrap();
        let cli = KeyStore::open(dir.path(), "premia").unwrap();
        let old = cli.create(new_key(Scope::Payments)).unwrap();
        assert!(server
            .authenticate(&old.client_id, &old.client_secret)
            .await
            .is_ok());
        let rotated = cli.rotate(&old.client_id, Duration::ZERO).unwrap();
        assert_eq!(rotated.previous_secret_valid_until, None);
        assert_eq!(
            server
                .authenticate(&old.client_id, &old.client_secret)
                .await
                .unwrap_err(),
            AuthError::Invalid
        );
        assert!(server
            .authenticate(&old.client_id, &rotated.key.client_secret)
            .await
            .is_ok());
        // Rotating again drops the earlier secrets whose overlap has ended.
        let again = cli.rotate(&old.client_id, Duration::from_secs(60)).unwrap();
        let record = cli.record(&old.client_id).unwrap();
        assert_eq!(record.previous_secrets.len(), 1);
        assert!(server
            .authenticate(&old.client_id, &again.key.client_secret)
            .await
            .is_ok());
        assert!(server
            .authenticate(&old.client_id, &rotated.key.client_secret)
            .await
            .is_ok());
        assert!(server
            .authenticate(&old.client_id, &old.client_secret)
            .await
            .is_err());
        // Without overlap, every earlier secret stops, also one still inside its own overlap.
        let last = cli.rotate(&old.client_id, Duration::ZERO).unwrap();
        for retired in [&again.key.client_secret, &rotated.key.client_secret] {
            assert_eq!(
                server
                    .authenticate(&old.client_id, retired)
                    .await
                    .unwrap_err(),
                AuthError::Invalid
            );
        }
        assert!(server
            .authenticate(&old.client_id, &last.key.client_secret)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn an_updated_record_applies_to_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        let server = KeyStore::open(dir.path(), "premia").unwrap();
        let cli = KeyStore::open(dir.path(), "premia").unwrap();
        let key = cli.create(new_key(Scope::Payments)).unwrap();
        let before = server
            .authenticate(&key.client_id, &key.client_secret)
            .await
            .unwrap();
        assert_eq!(before.rate_limit, None);
        let carrier: ObjectId = "680abc456def789012345678".parse().unwrap();
        let updated = cli
            .update(
                &key.client_id,
                KeyUpdate {
                    name: Some("billing".into()),
                    rate_limit: Some(Some(7)),
                    carriers: Some(vec![carrier]),
                    employers: None,
                    require_signature: Some(true),
                },
            )
            .unwrap();
        assert_eq!(updated.name.as_deref(), Some("billing"));
        let after = server
            .authenticate(&key.client_id, &key.client_secret)
            .await
            .unwrap();
        assert_eq!(after.rate_limit, Some(7));
        assert_eq!(after.tenant.carriers, vec![carrier]);
        assert!(after.require_signature);
        let cleared = cli
            .update(
                &key.client_id,
                KeyUpdate {
                    rate_limit: Some(None),
                    carriers: Some(vec![]),
                    ..KeyUpdate::default()
                },
            )
            .unwrap();
        assert_eq!(cleared.rate_limit, None);
        assert!(cleared.allowed_carrier_ids.is_empty());
        assert_eq!(cleared.name.as_deref(), Some("billing"), "untouched");
    }

    #[tokio::test]
    async fn unknown_and_revoked_keys_cannot_be_rotated_or_updated() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::open(dir.path(), "premia").unwrap();
        let key = keys.create(new_key(Scope::Payments)).unwrap();
        keys.revoke(&key.client_id).unwrap();
        assert!(matches!(
            keys.rotate(&key.client_id, Duration::ZERO),
            Err(KeyError::Revoked(_))
        ));
        assert!(matches!(
            keys.update(&key.client_id, KeyUpdate::default()),
            Err(KeyError::Revoked(_))
        ));
        assert!(matches!(
            keys.rotate("premia_test_cli_nope", Duration::ZERO),
            Err(KeyError::Unknown(_))
        ));
    }

    #[test]
    fn a_key_file_written_before_rotation_existed_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("keys.json"),
            r#"{"clients":{"premia_test_cli_a":{"client_id":"premia_test_cli_a","secret_hash":"x",
            "env":"test","scope":"payments","name":null,"allowed_carrier_ids":[],
            "allowed_employer_ids":[],"rate_limit":null,"require_signature":false,
            "created_at":"2026-01-01T00:00:00Z","revoked":false}}}"#,
        )
        .unwrap();
        let keys = KeyStore::open(dir.path(), "premia").unwrap();
        assert!(keys.list().unwrap()[0].previous_secrets.is_empty());
    }
}
