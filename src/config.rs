//! The configuration, loaded once: `config.toml` (every default is written there), then any
//! `PREMIA_<SECTION>_<KEY>` environment variable overrides the key of that name, e.g.
//! `PREMIA_ENGINE_PASSIVATE_AFTER_SECS=60`. `PREMIA_DATA_DIR` and `PREMIA_LISTEN` are
//! short forms of `PREMIA_SERVER_DATA_DIR` and `PREMIA_SERVER_LISTEN`.

use crate::actors::EngineConfig;
use serde::Deserialize;
use state_machines::{Dunning, OnExhausted};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub engine: EngineSection,
    pub webhooks: WebhooksSection,
    #[serde(default)]
    pub store: StoreSection,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// sled's page cache, in MiB of on-disk page size (sled's own measure; its memory use is
    /// a few times that).
    pub cache_mib: u64,
}

impl Default for StoreSection {
    fn default() -> StoreSection {
        StoreSection {
            cache_mib: crate::store::DEFAULT_CACHE_BYTES / (1024 * 1024),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    /// Base of the URLs the API hands out (checkout pages); empty: `http://<listen address>`.
    pub public_url: String,
    /// API keys are `<key_prefix>_<env>_cli_…` / `<key_prefix>_<env>_sec_…`.
    pub key_prefix: String,
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Requests per minute per API key, unless the key has its own limit.
    pub rate_limit_per_minute: u32,
    /// Failed authentications per minute per source address before it is blocked.
    pub failed_auth_per_minute: u32,
    /// Requests handled at once before 503.
    pub max_in_flight: usize,
    pub request_timeout_secs: u64,
    pub idempotency_ttl_secs: u64,
    /// How long a rotated-out secret keeps working (`premia keys rotate`); 0: not at all.
    pub key_rotation_overlap_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub passivate_after_secs: u64,
    pub max_resident_actors: usize,
    /// 0: links never expire.
    pub link_lifetime_secs: u64,
    pub dunning_retry_after_secs: Vec<u64>,
    pub on_retries_exhausted: OnExhausted,
    pub firing_concurrency: usize,
    pub max_mailbox: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    pub timeout_secs: f64,
    pub retry_schedule_secs: Vec<f64>,
    pub disable_after_failing_secs: u64,
    pub max_in_flight_per_endpoint: usize,
    pub live_allow_http: bool,
    pub live_allow_private_addresses: bool,
    pub sandbox_allow_http: bool,
    pub sandbox_allow_private_addresses: bool,
    pub rotation_grace_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The defaults, compiled in, so the binary runs with no file at all.
pub const DEFAULT_TOML: &str = include_str!("../config.toml");

impl Config {
    /// `path`'s contents (or the built-in defaults when `None`), then the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|error| ConfigError::Read {
                path: p.display().to_string(),
                error,
            })?,
            None => DEFAULT_TOML.to_string(),
        };
        Config::from_sources(&text, std::env::vars())
    }

    pub fn from_sources(
        toml_text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut doc: toml::Table = toml_text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("PREMIA_") else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let (section, key) = match rest.as_str() {
                "data_dir" | "listen" => ("server", rest.as_str()),
                _ => match rest.split_once('_') {
                    Some(pair) => pair,
                    None => continue,
                },
            };
            let Some(table) = doc.get_mut(section).and_then(|s| s.as_table_mut()) else {
                continue;
            };
            if !table.contains_key(key) {
                return Err(ConfigError::Invalid(format!(
                    "{name} names no configuration key ({section}.{key})"
                )));
            }
            table.insert(key.to_string(), parse_value(&value));
        }
        doc.try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))
    }

    pub fn engine(&self) -> EngineConfig {
        let e = &self.engine;
        EngineConfig {
            passivate_after: Duration::from_secs(e.passivate_after_secs),
            max_resident: e.max_resident_actors.max(1),
            link_lifetime: (e.link_lifetime_secs > 0)
                .then(|| Duration::from_secs(e.link_lifetime_secs)),
            dunning: Dunning {
                retry_after_secs: e.dunning_retry_after_secs.clone(),
                on_exhausted: e.on_retries_exhausted,
            },
            firing_concurrency: e.firing_concurrency.max(1),
            max_mailbox: e.max_mailbox.max(1),
        }
    }

    pub fn webhooks(&self) -> crate::webhooks::WebhookConfig {
        let w = &self.webhooks;
        let secs = |s: f64| Duration::from_secs_f64(s.clamp(0.0, 1e9));
        crate::webhooks::WebhookConfig {
            timeout: secs(w.timeout_secs),
            retry_schedule: w.retry_schedule_secs.iter().map(|s| secs(*s)).collect(),
            disable_after_failing: Duration::from_secs(w.disable_after_failing_secs),
            max_in_flight_per_endpoint: w.max_in_flight_per_endpoint.max(1),
            live: crate::webhooks::UrlPolicy {
                allow_http: w.live_allow_http,
                allow_private_addresses: w.live_allow_private_addresses,
            },
            sandbox: crate::webhooks::UrlPolicy {
                allow_http: w.sandbox_allow_http,
                allow_private_addresses: w.sandbox_allow_private_addresses,
            },
            rotation_grace: Duration::from_secs(w.rotation_grace_secs),
        }
    }
}

/// A variable's text as a TOML value: numbers, booleans and arrays as such, else a string.
fn parse_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_shipped_file_is_the_default() {
        let c = Config::from_sources(DEFAULT_TOML, vars(&[])).unwrap();
        assert_eq!(c.engine.on_retries_exhausted, OnExhausted::Cancel);
        assert!(!c.engine.dunning_retry_after_secs.is_empty());
        // A file written before `[store]` existed gets the same cache as the shipped one.
        assert_eq!(c.store.cache_mib, StoreSection::default().cache_mib);
        let (start, end) = (
            DEFAULT_TOML.find("[store]").unwrap(),
            DEFAULT_TOML.find("[webhooks]").unwrap(),
        );
        let without_store = format!("{}{}", &DEFAULT_TOML[..start], &DEFAULT_TOML[end..]);
        assert!(!without_store.contains("cache_mib"));
        let old = Config::from_sources(&without_store, vars(&[])).unwrap();
        assert_eq!(old.store.cache_mib, c.store.cache_mib);
        let small = Config::from_sources(DEFAULT_TOML, vars(&[("PREMIA_STORE_CACHE_MIB", "32")]));
        assert_eq!(small.unwrap().store.cache_mib, 32);
    }

    #[test]
    fn webhook_retries_span_about_three_days_and_live_is_guarded() {
        let c = Config::from_sources(DEFAULT_TOML, vars(&[]))
            .unwrap()
            .webhooks();
        let total: f64 = c.retry_schedule.iter().map(|d| d.as_secs_f64()).sum();
        assert!(
            (2.5 * 86_400.0..=3.5 * 86_400.0).contains(&total),
            "{total} s"
        );
        assert_eq!(c.retry_schedule[0], Duration::from_secs(5));
        assert!(!c.live.allow_http && !c.live.allow_private_addresses);
        let fast = Config::from_sources(
            DEFAULT_TOML,
            vars(&[("PREMIA_WEBHOOKS_RETRY_SCHEDULE_SECS", "[0.2, 1]")]),
        )
        .unwrap()
        .webhooks();
        assert_eq!(
            fast.retry_schedule,
            vec![Duration::from_millis(200), Duration::from_secs(1)]
        );
    }

    #[test]
    fn environment_variables_override_keys() {
        let c = Config::from_sources(
            DEFAULT_TOML,
            vars(&[
                ("PREMIA_DATA_DIR", "/tmp/x"),
                ("PREMIA_LISTEN", "0.0.0.0:9"),
                ("PREMIA_ENGINE_PASSIVATE_AFTER_SECS", "7"),
                ("PREMIA_ENGINE_DUNNING_RETRY_AFTER_SECS", "[1, 2]"),
                ("PREMIA_ENGINE_ON_RETRIES_EXHAUSTED", "keep_past_due"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.server.listen, "0.0.0.0:9");
        assert_eq!(c.engine.passivate_after_secs, 7);
        assert_eq!(c.engine.dunning_retry_after_secs, vec![1, 2]);
        assert_eq!(c.engine.on_retries_exhausted, OnExhausted::KeepPastDue);
    }

    #[test]
    fn a_misspelt_variable_or_bad_value_is_an_error() {
        assert!(
            Config::from_sources(DEFAULT_TOML, vars(&[("PREMIA_ENGINE_PASIVATE", "1")])).is_err()
        );
        assert!(Config::from_sources(
            DEFAULT_TOML,
            vars(&[("PREMIA_ENGINE_PASSIVATE_AFTER_SECS", "soon")])
        )
        .is_err());
    }
}
