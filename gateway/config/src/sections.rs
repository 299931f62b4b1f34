//! One struct per section, each with `validate()`.

use crate::{invalid, Audit, ConfigError};
use airlock_gateway_domain::Limits;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: Server,
    pub state: State,
    pub audit: Audit,
    pub auth: Auth,
    pub sessions: crate::Sessions,
    /// Caps on running executions.
    pub executions: crate::Executions,
    pub limits: Limits,
    pub sandbox: crate::Sandbox,
    pub policy: Policy,
    pub egress: Egress,
    pub packages: Packages,
    pub telemetry: Telemetry,
    /// Output inspection's named detectors.
    pub outputs: crate::Outputs,
    /// Signed webhooks of review cases.
    pub review: crate::Review,
    pub mcp: crate::Mcp,
    /// The Jupyter kernel gateway API.
    pub jupyter: crate::Jupyter,
    /// Personal access keys for tools that hold one static credential.
    pub access_keys: crate::AccessKeys,
    /// The web console at `/console`.
    pub console: crate::Console,
    pub rate_limits: crate::RateLimits,
    /// The credential broker for connectors.
    pub vault: Option<crate::Vault>,
    /// Warehouses SQL may reach through Vault-issued credentials.
    pub connectors: Vec<crate::Connector>,
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.audit.validate()?;
        self.auth.validate(&self.server)?;
        self.sessions.validate()?;
        validate_limits(&self.limits)?;
        self.sandbox.validate()?;
        self.policy.validate()?;
        self.egress.validate()?;
        self.packages.validate()?;
        self.outputs.validate()?;
        self.review.validate()?;
        self.mcp.validate()?;
        self.jupyter.validate()?;
        self.access_keys.validate()?;
        self.console.validate(&self.auth.issuer_names())?;
        self.rate_limits.validate()?;
        crate::connectors::validate(&self.vault, &self.connectors)?;
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.state.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.state.dir.join("state.db").display()
            )
        })
    }

    pub fn audit_signing_key(&self) -> PathBuf {
        self.audit
            .signing_key
            .clone()
            .unwrap_or_else(|| self.state.dir.join("audit-signing.key"))
    }

    pub fn audit_file(&self) -> PathBuf {
        self.audit
            .file
            .clone()
            .unwrap_or_else(|| self.state.dir.join("audit.jsonl"))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    pub listen: String,
    /// Names this gateway: its audit chain and its cgroups.
    pub instance_id: String,
    pub workers: usize,
    /// Largest JSON body (code is limited separately by `limits.code_bytes`).
    pub max_json_bytes: usize,
    pub shutdown_grace_seconds: u64,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            instance_id: "local".into(),
            workers: 2,
            max_json_bytes: 1 << 20,
            shutdown_grace_seconds: 10,
        }
    }
}

impl Server {
    pub fn addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| {
            invalid(
                "server.listen",
                format!("{:?} is not host:port ({e})", self.listen),
            )
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.addr()?;
        if self.instance_id.is_empty()
            || !self
                .instance_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid(
                "server.instance_id",
                "use letters, digits and '-' only",
            ));
        }
        if self.workers == 0 {
            return Err(invalid("server.workers", "must be at least 1"));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct State {
    /// Sandboxes, the audit file and the development issuer key live here.
    pub dir: PathBuf,
    /// `sqlite://...` (default: `dir/state.db`) or `postgres://...`.
    pub database_url: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(".airlock"),
            database_url: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub issuers: Vec<Issuer>,
    pub dev_issuer: DevIssuer,
}

impl Auth {
    /// The `issuer` of every `[[auth.issuers]]` entry.
    pub fn issuer_names(&self) -> Vec<String> {
        self.issuers.iter().map(|i| i.issuer.clone()).collect()
    }

    fn validate(&self, server: &Server) -> Result<(), ConfigError> {
        if self.issuers.is_empty() && !self.dev_issuer.enabled {
            return Err(invalid("auth.issuers", "no issuer is configured, so every request would be refused; add an [[auth.issuers]] entry (or, on a workstation, enable [auth.dev_issuer])"));
        }
        for (i, iss) in self.issuers.iter().enumerate() {
            iss.validate(&format!("auth.issuers[{i}]"))?;
        }
        if self.dev_issuer.enabled && !server.addr()?.ip().is_loopback() {
            return Err(invalid(
                "auth.dev_issuer.enabled",
                format!(
                    "the development issuer only runs on a loopback listener, not {}",
                    server.listen
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    /// Exactly the `iss` claim; discovery at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub audiences: Vec<String>,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Skip discovery and use this JWKS URL.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    #[serde(default)]
    pub claims: airlock_gateway_domain::principal::ClaimMapping,
    #[serde(default = "default_jwks_ttl")]
    pub jwks_cache_seconds: u64,
    #[serde(default = "default_refetch")]
    pub min_refetch_seconds: u64,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into(), "EdDSA".into()]
}
fn default_leeway() -> u64 {
    30
}
fn default_jwks_ttl() -> u64 {
    600
}
fn default_refetch() -> u64 {
    30
}

const ASYMMETRIC: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

fn secure_url(key: &str, url: &str) -> Result<(), ConfigError> {
    airlock_gateway_domain::urls::https_or_loopback(url)
        .map(|_| ())
        .map_err(|e| invalid(key, e))
}

impl Issuer {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        secure_url(&format!("{key}.issuer"), &self.issuer)?;
        if let Some(u) = &self.jwks_uri {
            secure_url(&format!("{key}.jwks_uri"), u)?;
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(invalid(
                &format!("{key}.audiences"),
                "name at least one audience; tokens for other audiences are refused",
            ));
        }
        if self.algorithms.is_empty() {
            return Err(invalid(
                &format!("{key}.algorithms"),
                "name at least one algorithm",
            ));
        }
        for a in &self.algorithms {
            if !ASYMMETRIC.contains(&a.as_str()) {
                return Err(invalid(
                    &format!("{key}.algorithms"),
                    format!("{a:?} is not allowed; use one of {ASYMMETRIC:?} (never none or HMAC)"),
                ));
            }
        }
        if self.leeway_seconds > 300 {
            return Err(invalid(&format!("{key}.leeway_seconds"), "at most 300"));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevIssuer {
    /// Off unless set: trusts tokens minted by `airlock token mint` (loopback listener only).
    pub enabled: bool,
    pub audience: String,
}

impl Default for DevIssuer {
    fn default() -> Self {
        Self {
            enabled: false,
            audience: "airlock".into(),
        }
    }
}

fn validate_limits(l: &Limits) -> Result<(), ConfigError> {
    if l.timeout_seconds == 0 || l.timeout_seconds > l.max_timeout_seconds {
        return Err(invalid(
            "limits.timeout_seconds",
            format!(
                "must be between 1 and limits.max_timeout_seconds ({})",
                l.max_timeout_seconds
            ),
        ));
    }
    if l.memory_mib < 128 {
        return Err(invalid(
            "limits.memory_mib",
            "at least 128 (the Python kernel needs about 80 MiB)",
        ));
    }
    if l.max_processes < 16 {
        return Err(invalid(
            "limits.max_processes",
            "at least 16 (the kernel runs several threads)",
        ));
    }
    if l.cpu_millis < 100 {
        return Err(invalid(
            "limits.cpu_millis",
            "at least 100 (a tenth of a core)",
        ));
    }
    if l.output_bytes == 0 || l.code_bytes == 0 || l.upload_bytes == 0 || l.workspace_mib == 0 {
        return Err(invalid("limits", "size limits must be greater than 0"));
    }
    if l.code_bytes > airlock_gateway_domain::limits::MAX_CODE_BYTES {
        return Err(invalid(
            "limits.code_bytes",
            format!(
                "at most {} (the code analysers are built for that much)",
                airlock_gateway_domain::limits::MAX_CODE_BYTES
            ),
        ));
    }
    Ok(())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// A bundle directory (OPA layout). At most one of bundle_dir, bundle_file, bundle_url;
    /// none: the bundle embedded in the binary.
    pub bundle_dir: Option<PathBuf>,
    /// A bundle archive (`.tar.gz`, as `opa build` writes it).
    pub bundle_file: Option<PathBuf>,
    /// A bundle server URL serving the `.tar.gz`; polled with ETag / If-None-Match.
    pub bundle_url: Option<String>,
    pub poll_seconds: u64,
    /// Refuse bundles without a valid `.signatures.json`.
    pub require_signature: bool,
    pub signing_keys: Vec<SigningKey>,
    /// Wall-time limit of one evaluation; hitting it denies with `policy_evaluation_timeout`.
    pub eval_time_limit_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            bundle_dir: None,
            bundle_file: None,
            bundle_url: None,
            poll_seconds: 30,
            require_signature: false,
            signing_keys: vec![],
            eval_time_limit_ms: 100,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKey {
    /// Matches the signature's `kid`.
    pub key_id: String,
    /// RS256, ES256, EdDSA, ... (PEM public key) or HS256 (shared secret).
    pub algorithm: String,
    /// The PEM public key or secret inline ...
    #[serde(default)]
    pub key: Option<String>,
    /// ... or in a file.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl Policy {
    fn validate(&self) -> Result<(), ConfigError> {
        let sources = [
            self.bundle_dir.is_some(),
            self.bundle_file.is_some(),
            self.bundle_url.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if sources > 1 {
            return Err(invalid(
                "policy",
                "set at most one of bundle_dir, bundle_file, bundle_url",
            ));
        }
        if let Some(u) = &self.bundle_url {
            secure_url("policy.bundle_url", u)?;
        }
        if self.poll_seconds == 0 {
            return Err(invalid("policy.poll_seconds", "must be greater than 0"));
        }
        if self.eval_time_limit_ms == 0 {
            return Err(invalid(
                "policy.eval_time_limit_ms",
                "must be greater than 0",
            ));
        }
        if self.require_signature && self.signing_keys.is_empty() {
            return Err(invalid(
                "policy.signing_keys",
                "require_signature needs at least one key",
            ));
        }
        for (i, k) in self.signing_keys.iter().enumerate() {
            if k.key.is_some() == k.key_file.is_some() {
                return Err(invalid(
                    &format!("policy.signing_keys[{i}]"),
                    "set exactly one of key and key_file",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Telemetry {
    /// `text` or `json`.
    pub log_format: crate::LogFormat,
    /// `RUST_LOG`-style filter.
    pub log_filter: String,
    /// OTLP/HTTP endpoint for traces (e.g. http://127.0.0.1:4318); off when unset.
    pub otlp_endpoint: Option<String>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            log_format: crate::LogFormat::Text,
            log_filter: "info".into(),
            otlp_endpoint: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Egress {
    /// Fixed addresses for upstream host names (split-horizon DNS, tests), like curl --resolve:
    /// `resolve = { "api.internal" = "10.1.2.3" }`. Others use the system resolver.
    pub resolve: std::collections::BTreeMap<String, String>,
}

impl Egress {
    fn validate(&self) -> Result<(), ConfigError> {
        for (host, ip) in &self.resolve {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(
                    &format!("egress.resolve.{host}"),
                    format!("{ip:?} is not an IP address"),
                ));
            }
        }
        Ok(())
    }

    pub fn resolve_map(&self) -> std::collections::HashMap<String, std::net::IpAddr> {
        self.resolve
            .iter()
            .filter_map(|(h, ip)| Some((h.to_ascii_lowercase(), ip.parse().ok()?)))
            .collect()
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Packages {
    /// Wheels the governed package index may serve (only the `name==version` a decision grants,
    /// with their sha256). None: executions cannot install packages.
    pub wheelhouse: Option<PathBuf>,
    /// A PyPI-compatible simple index (`https://mirror.example/simple`) that approved files
    /// missing from the wheelhouse are fetched from, checked against the policy hash, and cached
    /// in the wheelhouse (which must then be writable).
    pub mirror: Option<String>,
}

impl Packages {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(m) = &self.mirror {
            secure_url("packages.mirror", m)?;
            if self.wheelhouse.is_none() {
                return Err(invalid(
                    "packages.wheelhouse",
                    "a mirror needs a wheelhouse to cache verified files in",
                ));
            }
        }
        Ok(())
    }
}
