//! One started sandbox (`LocalSandbox`): its agent, process, cgroup and egress; and the session
//! it serves once bound ([`Bound`], the `Sandbox` port).

use crate::cgroup::SandboxCgroup;
use airlock_gateway_agent_client::AgentClient;
use airlock_gateway_domain::{
    files::{FileInfo, WorkspacePath},
    ids::SessionId,
    ports::{JobEnd, JobOutcome, Sandbox, SandboxError, SandboxJob},
};
use async_trait::async_trait;
use std::{
    path::{Path, PathBuf},
    sync::{atomic::Ordering, Arc, OnceLock},
    time::Duration,
};
use tokio::{process::Child, sync::Mutex};

pub(crate) fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

/// The egress of the running job (its epoch) and connections made between jobs.
#[derive(Default)]
pub(crate) struct EgressState {
    current: std::sync::Mutex<Option<Arc<airlock_gateway_egress::Epoch>>>,
    /// Connections made while no execution runs (refused): recorded with the next execution.
    idle: Arc<airlock_gateway_domain::egress::EgressLog>,
}

impl EgressState {
    fn epoch(&self) -> Arc<airlock_gateway_egress::Epoch> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        current.unwrap_or_else(|| airlock_gateway_egress::Epoch::new(None, self.idle.clone()))
    }

    /// One connection on the sandbox's egress socket: only the sandbox's own uid may use it.
    pub(crate) fn accept(
        &self,
        stream: tokio::net::UnixStream,
        sandbox_uid: u32,
        cfg: &airlock_gateway_egress::ProxyConfig,
    ) {
        let epoch = self.epoch();
        match stream.peer_cred() {
            Ok(c) if c.uid() == sandbox_uid => epoch.serve(stream, cfg.clone()),
            other => {
                tracing::warn!(peer = ?other.map(|c| c.uid()), "egress socket used by another process than the sandbox's; refused");
                epoch.refuse(airlock_gateway_domain::egress::EgressRefusal::PeerRefused);
            }
        }
    }
}

pub struct LocalSandbox {
    /// The session it serves, once one took it (never another after).
    pub(crate) session: Arc<OnceLock<SessionId>>,
    pub(crate) dir: PathBuf,
    pub(crate) client: AgentClient,
    pub(crate) child: Mutex<Option<Child>>,
    pub(crate) cgroup: Option<SandboxCgroup>,
    pub(crate) destroyed: std::sync::atomic::AtomicBool,
    pub(crate) egress: Arc<EgressState>,
    pub(crate) egress_task: tokio::task::JoinHandle<()>,
    /// Its host uid, returned to the pool with the sandbox.
    pub(crate) _uid: Option<crate::uids::HeldUid>,
}

impl LocalSandbox {
    pub async fn run(&self, job: SandboxJob) -> Result<JobOutcome, SandboxError> {
        let oom_before = self.cgroup.as_ref().map_or(0, SandboxCgroup::oom_kills);
        let cpu_before = self.cgroup.as_ref().and_then(SandboxCgroup::cpu_used);
        // Refused connections made since the last execution go on this one's record.
        for r in self.egress.idle.take() {
            job.egress_log.push(r);
        }
        let epoch = airlock_gateway_egress::Epoch::new(job.egress.clone(), job.egress_log.clone());
        *self
            .egress
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(epoch.clone());
        let result = self.client.execute(job, None, || self.alive_now()).await;
        *self
            .egress
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        // Whatever happened (the agent may be gone): every connection is cut and recorded.
        epoch.close().await;
        let mut out = result?;
        let cpu_after = self.cgroup.as_ref().and_then(SandboxCgroup::cpu_used);
        if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
            out.usage.cpu = Some(after.saturating_sub(before));
        }
        let oom_after = self.cgroup.as_ref().map_or(0, SandboxCgroup::oom_kills);
        if oom_after > oom_before && matches!(out.end, JobEnd::KernelDied | JobEnd::Failed) {
            out.end = JobEnd::OutOfMemory;
        }
        Ok(out)
    }

    pub async fn write_file(
        &self,
        path: &WorkspacePath,
        data: Vec<u8>,
    ) -> Result<FileInfo, SandboxError> {
        self.client.write_file(path, data).await
    }

    pub async fn read_file(
        &self,
        path: &WorkspacePath,
        max_bytes: u64,
    ) -> Result<Vec<u8>, SandboxError> {
        self.client.read_file(path, max_bytes).await
    }

    pub async fn list_files(&self) -> Result<Vec<FileInfo>, SandboxError> {
        self.client.list_files().await
    }

    pub async fn runtime_modules(&self) -> Result<Vec<String>, SandboxError> {
        self.client.inventory().await
    }

    pub async fn quarantine(&self, remove: &[WorkspacePath]) -> Result<(), SandboxError> {
        self.client.quarantine(remove).await
    }

    pub async fn alive(&self) -> bool {
        self.alive_now()
    }

    pub async fn destroy(&self) -> Result<(), SandboxError> {
        if self.destroyed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(mut child) = self.child.lock().await.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        self.egress_task.abort();
        if let Some(cg) = &self.cgroup {
            SandboxCgroup::destroy(&cg.dirs).await;
        }
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        Ok(())
    }
}

impl LocalSandbox {
    pub(crate) fn alive_now(&self) -> bool {
        match self.child.try_lock() {
            Ok(mut guard) => match guard.as_mut() {
                Some(c) => matches!(c.try_wait(), Ok(None)),
                None => false,
            },
            Err(_) => true,
        }
    }
}

impl LocalSandbox {
    /// Gives the sandbox to `session` for good: its `Sandbox` port, and the session its
    /// egress SQL speaks for. None when another session took it first (a pool never hands
    /// one out twice; this makes sure).
    pub(crate) fn bind(self: Arc<Self>, session: SessionId, warm: bool) -> Option<Bound> {
        self.session.set(session.clone()).ok()?;
        Some(Bound {
            session_id: session,
            inner: self,
            warm,
        })
    }

    /// Memory its processes use now (the cgroup's count), for the pool's report.
    pub(crate) fn memory_bytes(&self) -> Option<u64> {
        self.cgroup.as_ref().and_then(SandboxCgroup::memory_used)
    }
}

/// A sandbox serving one session.
pub(crate) struct Bound {
    session_id: SessionId,
    inner: Arc<LocalSandbox>,
    warm: bool,
}

#[async_trait]
impl Sandbox for Bound {
    fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    fn prestarted(&self) -> bool {
        self.warm
    }

    async fn run(&self, job: SandboxJob) -> Result<JobOutcome, SandboxError> {
        self.inner.run(job).await
    }

    async fn write_file(
        &self,
        path: &WorkspacePath,
        data: Vec<u8>,
    ) -> Result<FileInfo, SandboxError> {
        self.inner.write_file(path, data).await
    }

    async fn read_file(
        &self,
        path: &WorkspacePath,
        max_bytes: u64,
    ) -> Result<Vec<u8>, SandboxError> {
        self.inner.read_file(path, max_bytes).await
    }

    async fn list_files(&self) -> Result<Vec<FileInfo>, SandboxError> {
        self.inner.list_files().await
    }

    async fn alive(&self) -> bool {
        self.inner.alive().await
    }

    async fn destroy(&self) -> Result<(), SandboxError> {
        self.inner.destroy().await
    }

    async fn runtime_modules(&self) -> Result<Vec<String>, SandboxError> {
        self.inner.runtime_modules().await
    }

    async fn quarantine(&self, remove: &[WorkspacePath]) -> Result<(), SandboxError> {
        self.inner.quarantine(remove).await
    }
}
