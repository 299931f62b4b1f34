//! The Kubernetes sandbox backend (issue 6): each session's sandbox is a hardened pod in the
//! sandbox namespace, claimed from a warm pool (refilled by the replica holding the pool's
//! Lease) or started cold, watched through a kube-runtime reflector so that readiness, pod
//! failures and re-attachment after a restart read memory, and reached over TCP by the same
//! agent client as local sandboxes.

mod backend;
mod manager;
mod pod;
mod pool;

pub use backend::{pod_name, KubernetesBackend, KubernetesOptions, PodSandbox};
pub use manager::{classify, ManagedPod, PodFailure, PodManager, MANAGED_SELECTOR};
pub use pool::{new_token, PoolSettings, WarmPool};

pub use pod::{
    label_value, sandbox_pod, PodTemplate, DEFAULT_AGENT_PORT, LABEL_POOL, LABEL_SESSION,
    LABEL_STATE, LABEL_TENANT, STATE_CLAIMED, STATE_WARM,
};
