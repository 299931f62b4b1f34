//! `[review]`: where the events of review cases go as signed webhooks (who decides a case is
//! policy's, `data.airlock.review_rules`).

use crate::{invalid, ConfigError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Review {
    pub webhooks: Vec<Webhook>,
}

/// One receiver: `{ name = "compliance-chat", url = "https://...", secret_env = "HOOK_SECRET",
/// tenants = ["acme"] }`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    /// The signing secret (`whsec_` and base64, as Standard Webhooks libraries generate), from
    /// this environment variable...
    #[serde(default)]
    pub secret_env: Option<String>,
    /// ...or from this file.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Only cases of requesters in these tenants (empty: every case).
    #[serde(default)]
    pub tenants: Vec<String>,
}

impl Webhook {
    /// The signing secret, read from where the configuration says.
    pub fn secret(&self) -> Result<String, ConfigError> {
        let key = format!("review.webhooks.{}", self.name);
        let secret = match (&self.secret_env, &self.secret_file) {
            (Some(var), None) => std::env::var(var)
                .map_err(|_| invalid(&key, format!("environment variable {var} is not set")))?,
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| invalid(&key, format!("secret_file {}: {e}", path.display())))?,
            _ => {
                return Err(invalid(
                    &key,
                    "set exactly one of secret_env and secret_file",
                ))
            }
        };
        let secret = secret.trim().to_owned();
        if secret.len() < 16 {
            return Err(invalid(&key, "the secret is shorter than 16 characters"));
        }
        Ok(secret)
    }
}

impl Review {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let key = format!("review.webhooks[{i}]");
            if w.name.is_empty() || !names.insert(w.name.as_str()) {
                return Err(invalid(&key, "every webhook needs a name of its own"));
            }
            let url = url::Url::parse(&w.url).map_err(|e| invalid(&key, format!("url: {e}")))?;
            if !matches!(url.scheme(), "https" | "http") {
                return Err(invalid(&key, "url must be http or https"));
            }
            if w.secret_env.is_some() == w.secret_file.is_some() {
                return Err(invalid(
                    &key,
                    "set exactly one of secret_env and secret_file",
                ));
            }
        }
        Ok(())
    }
}
