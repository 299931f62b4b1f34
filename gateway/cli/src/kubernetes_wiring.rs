//! `[sandbox] backend = "kubernetes"`: sandbox pods from the `[sandbox.kubernetes]` template.
//! Egress from pods is not relayed yet: code that reaches out fails closed (docs/kubernetes.md).

use airlock_gateway_config::Config;
use airlock_gateway_domain::ports::SandboxBackend;
use airlock_gateway_sandbox_kubernetes::{KubernetesBackend, PodManager, PodTemplate};
use std::{sync::Arc, time::Duration};

pub async fn backend(cfg: &Config) -> anyhow::Result<Arc<dyn SandboxBackend>> {
    let k = &cfg.sandbox.kubernetes;
    let template = PodTemplate {
        name: "default".into(),
        namespace: k.namespace.clone(),
        image: k.image.clone(),
        runtime_class: k.runtime_class.clone(),
        labels: k.labels.clone(),
        node_selector: k.node_selector.clone(),
        user_namespace: k.user_namespace,
        agent_port: k.agent_port,
    };
    let manager = PodManager::connect(k.api_url.as_deref(), template.clone())
        .await
        .map_err(|e| anyhow::anyhow!("connecting to the Kubernetes API: {e}"))?;
    Ok(Arc::new(KubernetesBackend::new(
        manager,
        template,
        Duration::from_secs(k.start_timeout_seconds),
    )))
}
