//! Every mode of the configuration is an enum: a misspelt value is a start-up error that names
//! its key (through `serde_path_to_error`), never a silent fallback.

use serde::{Deserialize, Serialize};

/// What kind of database a connector reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    Postgres,
    /// MySQL and MariaDB (schemas are databases; the default schema is `database`).
    Mysql,
}

/// TLS to a connector's database, in PostgreSQL's words (`verify-full` checks the host name).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// libpq's spelling.
    pub fn postgres(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// MySQL's spelling (`allow` has no equivalent and means `preferred`).
    pub fn mysql(self) -> &'static str {
        match self {
            Self::Disable => "disabled",
            Self::Allow | Self::Prefer => "preferred",
            Self::Require => "required",
            Self::VerifyCa => "verify_ca",
            Self::VerifyFull => "verify_identity",
        }
    }
}

/// How the gateway logs in to Vault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaultAuthKind {
    /// A token from an environment variable (development).
    #[default]
    Token,
    Approle,
    Jwt,
    Kubernetes,
}

/// Whether a local sandbox may start without cgroup limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupsMode {
    #[default]
    Required,
    /// Development on hosts without cgroup controllers: sandboxes run without memory, pids and
    /// CPU limits.
    BestEffort,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}
