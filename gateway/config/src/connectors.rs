//! `[vault]` and `[[connectors]]`: the credential broker and the warehouses SQL may reach.

use crate::{invalid, ConfigError, ConnectorKind, SslMode, VaultAuthKind};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Vault {
    pub address: String,
    /// `token` (development), `approle`, `jwt` or `kubernetes`.
    pub auth: VaultAuthKind,
    /// The environment variable holding the token (`auth = "token"`).
    pub token_env: String,
    /// Mount of the auth method (`approle`, `jwt`, `kubernetes` by default).
    pub auth_mount: Option<String>,
    /// Vault role to log in as (`jwt`, `kubernetes`).
    pub role: Option<String>,
    pub role_id: Option<String>,
    /// File holding the AppRole secret id.
    pub secret_id_file: Option<PathBuf>,
    /// The gateway's workload identity token (`jwt`; `kubernetes` defaults to the service
    /// account token).
    pub jwt_path: Option<PathBuf>,
    pub timeout_seconds: u64,
    /// Attempts for a call that did not reach Vault.
    pub attempts: u32,
    /// Seconds added to an execution's timeout for its credential's lease.
    pub lease_grace_seconds: u64,
}

impl Default for Vault {
    fn default() -> Self {
        Self {
            address: "http://127.0.0.1:8200".into(),
            auth: VaultAuthKind::Token,
            token_env: "VAULT_TOKEN".into(),
            auth_mount: None,
            role: None,
            role_id: None,
            secret_id_file: None,
            jwt_path: None,
            timeout_seconds: 10,
            attempts: 3,
            lease_grace_seconds: 15,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    pub name: String,
    /// `postgres`, or `mysql` (MySQL and MariaDB; schemas are databases, the default schema
    /// is `database`).
    pub kind: ConnectorKind,
    pub host: String,
    pub port: u16,
    pub database: String,
    #[serde(default = "default_schema")]
    pub default_schema: String,
    /// `disable`, `allow`, `prefer` (default), `require`, `verify-ca`, `verify-full`.
    #[serde(default)]
    pub ssl_mode: SslMode,
    /// Mount of Vault's database secrets engine; the role comes from the policy decision.
    #[serde(default = "default_mount")]
    pub vault_mount: String,
    /// Classification labels a session takes on when it reads through this connector.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Rows a query may fetch for its CSV artifact.
    #[serde(default = "default_max_rows")]
    pub max_rows: u64,
}

fn default_schema() -> String {
    "public".into()
}
fn default_mount() -> String {
    "database".into()
}
fn default_max_rows() -> u64 {
    100_000
}

pub(crate) fn validate(vault: &Option<Vault>, connectors: &[Connector]) -> Result<(), ConfigError> {
    let mut names = std::collections::BTreeSet::new();
    for (i, c) in connectors.iter().enumerate() {
        let key = |k: &str| format!("connectors[{i}].{k}");
        if c.name.is_empty()
            || !c
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(&key("name"), "letters, digits, '-' and '_'"));
        }
        if !names.insert(c.name.clone()) {
            return Err(invalid(
                &key("name"),
                format!("{:?} is defined twice", c.name),
            ));
        }
        if c.max_rows == 0 {
            return Err(invalid(&key("max_rows"), "must be at least 1"));
        }
    }
    if !connectors.is_empty() && vault.is_none() {
        return Err(invalid(
            "vault",
            "connectors get their credentials from Vault: add a [vault] section",
        ));
    }
    if let Some(v) = vault {
        match v.auth {
            VaultAuthKind::Token => {}
            VaultAuthKind::Approle if v.role_id.is_some() && v.secret_id_file.is_some() => {}
            VaultAuthKind::Approle => {
                return Err(invalid(
                    "vault.role_id",
                    "approle needs role_id and secret_id_file",
                ))
            }
            VaultAuthKind::Jwt if v.role.is_some() && v.jwt_path.is_some() => {}
            VaultAuthKind::Jwt => return Err(invalid("vault.role", "jwt needs role and jwt_path")),
            VaultAuthKind::Kubernetes if v.role.is_some() => {}
            VaultAuthKind::Kubernetes => {
                return Err(invalid("vault.role", "kubernetes needs role"))
            }
        }
        if v.attempts == 0 {
            return Err(invalid("vault.attempts", "must be at least 1"));
        }
    }
    Ok(())
}
