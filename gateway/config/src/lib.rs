//! The gateway's configuration: one TOML file plus `AIRLOCK_*` environment overrides, validated
//! at start with messages that name the bad key.
//!
//! Overrides use `__` between levels: `AIRLOCK_SERVER__LISTEN=127.0.0.1:9000`,
//! `AIRLOCK_SESSIONS__TTL_SECONDS=600`. Values are read as TOML (`true`, `42`, `["a", "b"]`), and
//! as a plain string when they do not parse as TOML.

mod audit;
mod connectors;
mod console;
mod jupyter;
mod mcp;
mod modes;
mod outputs;
mod rate;
mod review;
mod sandbox;
mod sections;
mod sessions;

pub use audit::*;
pub use connectors::{Connector, Vault};
pub use console::{Console, SignIn};
pub use jupyter::{AccessKeys, Jupyter};
pub use mcp::Mcp;
pub use modes::*;
pub use outputs::{NamedDetector, Outputs};
pub use rate::RateLimits;
pub use review::{Review, Webhook};
pub use sandbox::*;
pub use sections::*;
pub use sessions::{Executions, Sessions};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

pub fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl Config {
    /// Loads `path` (or only defaults), applies `AIRLOCK_*` overrides from `env`, validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (mut table, origin) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                let t: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?;
                (t, p.display().to_string())
            }
            None => (toml::Table::new(), "defaults".to_owned()),
        };
        for (var, value) in env {
            let Some(rest) = var.strip_prefix("AIRLOCK_") else {
                continue;
            };
            if !rest.contains("__") {
                continue; // AIRLOCK_CONFIG, AIRLOCK_LOG and friends are not config keys
            }
            let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if keys.iter().any(String::is_empty) {
                return Err(ConfigError::Env {
                    var,
                    message: "empty key segment".into(),
                });
            }
            set_path(&mut table, &keys, parse_env_value(&value)).map_err(|message| {
                ConfigError::Env {
                    var: var.clone(),
                    message,
                }
            })?;
        }
        let de = toml::Value::Table(table);
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            invalid(
                if key == "." { &origin } else { &key },
                e.into_inner().to_string(),
            )
        })?;
        cfg.validate()?;
        Ok(cfg)
    }
}

fn parse_env_value(v: &str) -> toml::Value {
    let wrapped = format!("v = {v}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(v.to_owned())),
        Err(_) => toml::Value::String(v.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("no key")?;
    let mut cur = table;
    for k in parents {
        let entry = cur
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{k}` is not a table"))?;
    }
    cur.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests;
