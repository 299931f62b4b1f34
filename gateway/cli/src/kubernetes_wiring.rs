//! `[sandbox] backend = "kubernetes"`: sandbox pods from the `[sandbox.kubernetes]` template,
//! a warm pool when `pool_size` > 0, and this replica's egress port for the pods' relays.

use airlock_gateway_config::Config;
use airlock_gateway_domain::ports::SandboxBackend;
use airlock_gateway_egress::{EgressHub, ProxyConfig};
use airlock_gateway_sandbox_kubernetes::{
    KubernetesBackend, KubernetesOptions, PodManager, PodTemplate, PoolSettings,
};
use std::{sync::Arc, time::Duration};

pub async fn backend(cfg: &Config, egress: ProxyConfig) -> anyhow::Result<Arc<dyn SandboxBackend>> {
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
    let manager = PodManager::connect(k.api_url.as_deref(), template)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to the Kubernetes API: {e}"))?;
    let egress = match &k.egress_listen {
        Some(listen) => Some(
            EgressHub::bind(listen, k.egress_advertise.clone(), egress)
                .await
                .map_err(|e| anyhow::anyhow!("binding the pods' egress port {listen}: {e}"))?,
        ),
        None => None,
    };
    // The default pool (the gateway's own limits) first: its Lease holder coordinates.
    let pools: Vec<PoolSettings> =
        airlock_gateway_config::pool_plans(&cfg.limits, k.pool_size, &k.pools)
            .into_iter()
            .map(|p| PoolSettings {
                lease_name: match p.name.as_str() {
                    "default" => k.pool_lease.clone(),
                    name => format!("{}-{name}", k.pool_lease),
                },
                name: p.name,
                size: p.size,
                identity: cfg.server.instance_id.clone(),
                lease_seconds: k.pool_lease_seconds,
                limits: p.limits,
            })
            .collect();
    let backend = KubernetesBackend::start(
        manager,
        KubernetesOptions {
            start_timeout: Duration::from_secs(k.start_timeout_seconds),
            pools,
            egress,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("starting the Kubernetes backend: {e}"))?;
    Ok(Arc::new(backend))
}
