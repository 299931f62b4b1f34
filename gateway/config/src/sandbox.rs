//! `[sandbox]`: the backend (local bubblewrap or Kubernetes) and its settings.

use crate::{invalid, ConfigError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sandbox {
    pub backend: SandboxBackendKind,
    pub local: LocalSandbox,
    pub kubernetes: KubernetesSandbox,
}

/// `[sandbox.kubernetes]`: one pod per session (docs/kubernetes.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesSandbox {
    /// The API server; default: in-cluster service account, else the kubeconfig.
    pub api_url: Option<String>,
    /// Sandbox pods live here and nowhere else.
    pub namespace: String,
    pub image: String,
    /// `gvisor` or `kata` in production.
    pub runtime_class: Option<String>,
    pub agent_port: u16,
    pub user_namespace: bool,
    pub start_timeout_seconds: u64,
    pub labels: std::collections::BTreeMap<String, String>,
    pub node_selector: std::collections::BTreeMap<String, String>,
    /// Warm pods kept ready (0: every session starts its pod cold).
    pub pool_size: usize,
    /// More warm pools, one per limits class (a session claims from the pool whose limits
    /// are its own, e.g. the size a group's policy profile gives).
    pub pools: Vec<KubernetesPool>,
    /// The `coordination.k8s.io` Lease whose holder refills the pool (`<name>-<pool>` for
    /// the pools of `pools`).
    pub pool_lease: String,
    /// Seconds a pool leader's Lease lasts without renewal (>= 2).
    pub pool_lease_seconds: u64,
    /// Where this replica listens for pods' egress (the agents' relays): `0.0.0.0:7071` in a
    /// cluster. None: pods have no egress at all.
    pub egress_listen: Option<String>,
    /// What pods dial to reach that port (this replica's pod IP and the port; the chart sets
    /// it from the downward API). None: the bound address.
    pub egress_advertise: Option<String>,
}

/// `[[sandbox.kubernetes.pools]]` / `[[sandbox.local.pools]]`: warm sandboxes of one limits
/// class.
pub type KubernetesPool = WarmPoolClass;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmPoolClass {
    pub name: String,
    pub size: usize,
    /// Defaults: `[limits]`.
    pub memory_mib: Option<u32>,
    pub cpu_millis: Option<u32>,
}

impl Default for KubernetesSandbox {
    fn default() -> Self {
        Self {
            api_url: None,
            namespace: "airlock-sandboxes".into(),
            image: "airlock-sandbox:latest".into(),
            runtime_class: None,
            agent_port: 7070,
            user_namespace: true,
            start_timeout_seconds: 120,
            labels: Default::default(),
            node_selector: Default::default(),
            pool_size: 0,
            pools: vec![],
            pool_lease: "airlock-sandbox-pool".into(),
            pool_lease_seconds: 15,
            egress_listen: None,
            egress_advertise: None,
        }
    }
}

impl Sandbox {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.local;
        if l.uid_base < 10_000
            || u64::from(l.uid_base) + u64::from(l.uid_count) > u64::from(u32::MAX - 1)
            || l.uid_count == 0
        {
            return Err(invalid(
                "sandbox.local.uid_base",
                "sandbox uids must be a non-empty range starting at 10000 or above",
            ));
        }
        validate_pool_names("sandbox.local.pools", &l.pools)?;
        if self.backend == SandboxBackendKind::Kubernetes {
            let k = &self.kubernetes;
            if !dns_label(&k.namespace) {
                return Err(invalid(
                    "sandbox.kubernetes.namespace",
                    "a DNS label (a-z, 0-9, '-')",
                ));
            }
            validate_pool_names("sandbox.kubernetes.pools", &k.pools)?;
            if k.pool_lease_seconds < 2 || !dns_label(&k.pool_lease) {
                return Err(invalid(
                    "sandbox.kubernetes.pool_lease_seconds",
                    "the pool Lease needs a DNS-label name and at least 2 seconds",
                ));
            }
            if k.image.is_empty() || k.agent_port == 0 || k.start_timeout_seconds == 0 {
                return Err(invalid(
                    "sandbox.kubernetes.image",
                    "image, agent_port and start_timeout_seconds must be set",
                ));
            }
        }
        if l.start_timeout_seconds == 0 {
            return Err(invalid(
                "sandbox.local.start_timeout_seconds",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxBackendKind {
    #[default]
    Local,
    Kubernetes,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalSandbox {
    /// The in-sandbox agent; default: `airlock-agent` beside the `airlock` binary.
    pub agent_path: Option<PathBuf>,
    pub runtime_dir: PathBuf,
    pub bwrap_path: PathBuf,
    pub setpriv_path: PathBuf,
    pub uid_base: u32,
    pub uid_count: u32,
    /// `required` (default) or `best_effort` (development without cgroups).
    pub cgroups: crate::CgroupsMode,
    pub extra_ro_binds: Vec<PathBuf>,
    pub start_timeout_seconds: u64,
    /// Sandboxes kept started ahead for sessions of the gateway's own `[limits]` (0: every
    /// session starts its sandbox cold).
    pub pool_size: usize,
    /// More warm pools, one per limits class (a session takes from the pool whose limits are
    /// its own, e.g. the size a group's policy profile gives).
    pub pools: Vec<WarmPoolClass>,
}

impl Default for LocalSandbox {
    fn default() -> Self {
        Self {
            agent_path: None,
            runtime_dir: PathBuf::from("/opt/airlock/runtime"),
            bwrap_path: PathBuf::from("/usr/bin/bwrap"),
            setpriv_path: PathBuf::from("/usr/bin/setpriv"),
            uid_base: 200_000,
            uid_count: 60_000,
            cgroups: crate::CgroupsMode::Required,
            extra_ro_binds: vec![PathBuf::from("/etc/fonts"), PathBuf::from("/etc/ssl/certs")],
            start_timeout_seconds: 30,
            pool_size: 0,
            pools: vec![],
        }
    }
}

/// One warm pool to run: its name, size and limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolPlan {
    pub name: String,
    pub size: usize,
    pub limits: airlock_gateway_domain::Limits,
}

/// The warm pools of a backend: `default` of `default_size` with the gateway's `[limits]`,
/// then each class with its overrides of them.
pub fn pool_plans(
    limits: &airlock_gateway_domain::Limits,
    default_size: usize,
    classes: &[WarmPoolClass],
) -> Vec<PoolPlan> {
    let default = PoolPlan {
        name: "default".into(),
        size: default_size,
        limits: limits.clone(),
    };
    let classes = classes.iter().map(|c| {
        let mut l = limits.clone();
        l.memory_mib = c.memory_mib.unwrap_or(l.memory_mib);
        l.cpu_millis = c.cpu_millis.unwrap_or(l.cpu_millis);
        PoolPlan {
            name: c.name.clone(),
            size: c.size,
            limits: l,
        }
    });
    std::iter::once(default)
        .chain(classes)
        .filter(|p| p.size > 0)
        .collect()
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn validate_pool_names(key: &str, classes: &[WarmPoolClass]) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::from(["default".to_owned()]);
    for p in classes {
        if !dns_label(&p.name) || !names.insert(p.name.clone()) {
            return Err(invalid(
                key,
                format!(
                    "{:?}: pool names are distinct DNS labels, not \"default\"",
                    p.name
                ),
            ));
        }
    }
    Ok(())
}
