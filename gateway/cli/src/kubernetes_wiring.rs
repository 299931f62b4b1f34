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
    let mut pools: Vec<PoolSettings> = (k.pool_size > 0)
        .then(|| PoolSettings {
            name: "default".into(),
            size: k.pool_size,
            identity: cfg.server.instance_id.clone(),
            lease_name: k.pool_lease.clone(),
            lease_seconds: k.pool_lease_seconds,
            limits: cfg.limits.clone(),
        })
        .into_iter()
        .collect();
    for p in &k.pools {
        let mut limits = cfg.limits.clone();
        if let Some(m) = p.memory_mib {
            limits.memory_mib = m;
        }
        if let Some(c) = p.cpu_millis {
            limits.cpu_millis = c;
        }
        pools.push(PoolSettings {
            name: p.name.clone(),
            size: p.size,
            identity: cfg.server.instance_id.clone(),
            lease_name: format!("{}-{}", k.pool_lease, p.name),
            lease_seconds: k.pool_lease_seconds,
            limits,
        });
    }
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
