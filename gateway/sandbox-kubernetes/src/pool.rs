//! The warm pool: pods started ahead of demand from a template, each with a start-up token that
//! only lets the gateway claim it, and no session, tenant or identity. A session claims a ready
//! warm pod (any replica may: the claim is an optimistic-concurrency patch, so two replicas
//! never get the same pod), and the pool is refilled. Refilling (creating pods, deleting warm
//! ones that failed) runs only on the replica holding the pool's `coordination.k8s.io` Lease, so
//! several replicas do not each fill the pool.

use crate::manager::{ManagedPod, PodManager};
use airlock_gateway_domain::Limits;
use kube_lease_manager::LeaseManagerBuilder;
use rand::RngCore;
use std::{sync::Arc, time::Duration};

#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// The pool's name (its pods' `airlock.dev/pool` label).
    pub name: String,
    /// Warm pods kept ready for this template (0: no pool, every session starts cold).
    pub size: usize,
    /// This replica's identity in the Lease.
    pub identity: String,
    pub lease_name: String,
    /// How long a leader's Lease lasts without renewal (at least 2 s).
    pub lease_seconds: u64,
    /// What warm pods are sized for. A session claims from the pool whose limits are its
    /// own; with none, it starts cold.
    pub limits: Limits,
}

pub struct WarmPool {
    manager: Arc<PodManager>,
    settings: PoolSettings,
    leader: tokio::sync::watch::Receiver<bool>,
    wake: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        // The refill loop holds the last other receiver: with both gone the lease manager
        // releases the Lease, so another replica takes over at once.
        self.task.abort();
    }
}

/// A random hex token (start-up and session tokens of pods).
pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    #[allow(clippy::disallowed_methods)] // a secret: the OS's random numbers, never a test's
    rand::thread_rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

impl WarmPool {
    /// Joins the election for the pool's Lease and starts the refill loop.
    pub async fn start(manager: Arc<PodManager>, settings: PoolSettings) -> Result<Self, String> {
        let lease_seconds = settings.lease_seconds.max(2);
        let lease = LeaseManagerBuilder::new(manager.client(), settings.lease_name.clone())
            .with_namespace(manager.template().namespace.clone())
            .with_identity(settings.identity.clone())
            .with_duration(lease_seconds)
            .with_grace((lease_seconds / 3).max(1))
            .build()
            .await
            .map_err(|e| format!("the pool's Lease: {e}"))?;
        let (leader, _lease_task) = lease.watch().await;
        let wake = Arc::new(tokio::sync::Notify::new());
        let task = {
            let (manager, settings, mut leader, wake) = (
                manager.clone(),
                settings.clone(),
                leader.clone(),
                wake.clone(),
            );
            tokio::spawn(async move {
                let changed = manager.changed();
                let mut pending = std::collections::HashMap::new();
                loop {
                    let leading = *leader.borrow_and_update();
                    if leading {
                        refill(&manager, &settings, &mut pending).await;
                    }
                    tokio::select! {
                        () = wake.notified() => {}
                        () = changed.notified(), if leading => {}
                        r = leader.changed() => if r.is_err() { break },
                        () = tokio::time::sleep(Duration::from_secs(2)) => {}
                    }
                }
            })
        };
        Ok(Self {
            manager,
            settings,
            leader,
            wake,
            task,
        })
    }

    /// Whether this replica holds the pool's Lease.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    pub fn size(&self) -> usize {
        self.settings.size
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    pub fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    /// Claims a ready warm pod for `session`, or None (empty pool, other limits, or every
    /// candidate taken by another replica first). The refill loop is woken either way.
    pub async fn claim(
        &self,
        session: &str,
        tenant: Option<&str>,
        limits: &Limits,
    ) -> Option<(ManagedPod, String)> {
        if self.settings.size == 0 || *limits != self.settings.limits {
            return None;
        }
        let mut claimed = None;
        for pod in self.manager.warm_in(&self.settings.name) {
            let Ok(Some(ip)) = pod.status.clone() else {
                continue;
            };
            match self.manager.try_claim(&pod, session, tenant).await {
                Ok(true) => {
                    claimed = Some((pod, ip));
                    break;
                }
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a warm pod failed");
                    break;
                }
            }
        }
        self.wake.notify_one();
        claimed
    }

    /// Warm pods ready now.
    pub fn ready_count(&self) -> usize {
        self.manager
            .warm_in(&self.settings.name)
            .iter()
            .filter(|p| matches!(p.status, Ok(Some(_))))
            .count()
    }
}

/// Creates warm pods up to the pool size and deletes warm pods that failed (leader only).
/// `pending`: pods created that the watch has not shown yet (counted, so a wake-up in between
/// does not create them twice).
async fn refill(
    manager: &PodManager,
    settings: &PoolSettings,
    pending: &mut std::collections::HashMap<String, std::time::Instant>,
) {
    let failed = manager.delete_failed_warm(&settings.name).await;
    if failed > 0 {
        tracing::warn!(count = failed, "deleted warm pods that failed");
    }
    pending
        .retain(|name, at| manager.pod(name).is_none() && at.elapsed() < Duration::from_secs(30));
    let healthy = manager
        .warm_in(&settings.name)
        .iter()
        .filter(|p| p.status.is_ok())
        .count()
        + pending.len();
    for _ in healthy..settings.size {
        let name = format!(
            "sbx-pool-{}-{}",
            crate::pod::label_value(&settings.name).to_ascii_lowercase(),
            &new_token()[..10]
        );
        let name: String = name.chars().take(63).collect();
        if let Err(e) = manager
            .create_in_pool(
                &settings.name,
                &name,
                None,
                None,
                &settings.limits,
                &new_token(),
            )
            .await
        {
            tracing::warn!(error = %e, "creating a warm pod failed");
            break;
        }
        pending.insert(name, std::time::Instant::now());
    }
}
