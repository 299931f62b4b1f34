//! `LocalBackend` (the `SandboxBackend` port): a session's sandbox from the warm pool of its
//! limits class when one is ready, else started cold.

use crate::{
    cgroup::SandboxCgroup,
    pool::{PoolClass, WarmPool},
    start::{LocalBackendConfig, Starter},
};
use airlock_gateway_domain::{
    ids::SessionId,
    ports::{ReconcileReport, Sandbox, SandboxBackend, SandboxError, SandboxSpec},
    Cause,
};
use async_trait::async_trait;
use std::{path::PathBuf, sync::Arc};
use tokio::sync::watch;

pub struct LocalBackend {
    starter: Arc<Starter>,
    pools: Vec<Arc<WarmPool>>,
    /// Turns true once the leftovers of an earlier process are reaped.
    reaped: watch::Sender<bool>,
}

impl LocalBackend {
    /// The backend, with a warm pool per class of `pools` (of size above zero) that fills once
    /// the gateway has reaped leftovers (`reap_leftovers`). Needs a Tokio runtime.
    pub fn new(cfg: LocalBackendConfig, pools: Vec<PoolClass>) -> Result<Self, SandboxError> {
        let starter = Arc::new(Starter::new(cfg)?);
        let (reaped, go) = watch::channel(false);
        let pools = pools
            .into_iter()
            .filter(|c| c.size > 0)
            .map(|c| WarmPool::start(starter.clone(), c, go.clone()))
            .collect();
        Ok(Self {
            starter,
            pools,
            reaped,
        })
    }

    fn is_warm(&self, dir_name: &str) -> bool {
        dir_name.starts_with("warm-") && *self.reaped.borrow()
    }

    /// Ready warm sandboxes, and the memory each uses now (bytes).
    pub fn idle(&self) -> (usize, Vec<u64>) {
        self.pools.iter().fold((0, vec![]), |(n, mut mem), p| {
            let (k, m) = p.idle();
            mem.extend(m);
            (n + k, mem)
        })
    }
}

#[async_trait]
impl SandboxBackend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn create(&self, spec: SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let warm = self
            .pools
            .iter()
            .find(|p| p.limits() == &spec.limits)
            .and_then(|p| p.claim(spec.tenant.as_deref()));
        if let Some(sb) = warm {
            if let Some(bound) = sb.bind(spec.session_id.clone(), true) {
                tracing::debug!(session = %spec.session_id, "a warm sandbox took the session");
                return Ok(Arc::new(bound));
            }
        }
        let sb = Arc::new(
            self.starter
                .start(spec.session_id.short(), &spec.limits)
                .await?,
        );
        match sb.bind(spec.session_id, false) {
            Some(bound) => Ok(Arc::new(bound)),
            None => Err(SandboxError::Start(Cause::msg(
                "a new sandbox was bound already",
            ))),
        }
    }

    async fn reap_leftovers(&self, _keep: &[SessionId]) -> Result<ReconcileReport, SandboxError> {
        // A bubblewrap sandbox dies with the gateway process: nothing can be kept.
        let mut report = ReconcileReport::default();
        let Ok(rd) = std::fs::read_dir(self.starter.sandboxes_dir()) else {
            let _ = self.reaped.send(true);
            return Ok(report);
        };
        for entry in rd.flatten() {
            // This process's own warm sandboxes are not leftovers (the pools fill after the
            // first reap; a later one must not take them either).
            if self.is_warm(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let dir = entry.path();
            let cgs: Vec<PathBuf> = std::fs::read_to_string(dir.join("cgroups"))
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.is_empty())
                .map(PathBuf::from)
                .collect();
            SandboxCgroup::destroy(&cgs).await;
            let _ = std::fs::remove_dir_all(&dir);
            report
                .destroyed
                .push(entry.file_name().to_string_lossy().into_owned());
        }
        // Leftovers gone: the pools may fill.
        let _ = self.reaped.send(true);
        Ok(report)
    }

    async fn shutdown(&self) {
        for p in &self.pools {
            p.drain().await;
        }
    }

    async fn ready(&self) -> Result<(), SandboxError> {
        std::fs::create_dir_all(self.starter.sandboxes_dir())
            .map_err(|e| SandboxError::Start(Cause::new(e)))
    }
}
