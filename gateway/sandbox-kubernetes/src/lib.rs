//! The Kubernetes sandbox backend (issue 6). This first part is the pod every session runs in:
//! built from a template in config and the session's limits, hardened so that nothing in it
//! depends on the image behaving. The backend that creates, claims, watches and deletes these
//! pods through the API server comes next (docs/notes.md).

mod backend;
mod manager;
mod pod;

pub use backend::{pod_name, KubernetesBackend, PodSandbox};
pub use manager::{classify, ManagedPod, PodFailure, PodManager, MANAGED_SELECTOR};

pub use pod::{
    sandbox_pod, PodTemplate, DEFAULT_AGENT_PORT, LABEL_POOL, LABEL_SESSION, LABEL_TENANT,
};
