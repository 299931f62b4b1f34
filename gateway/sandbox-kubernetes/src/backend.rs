//! `KubernetesBackend` (implements `SandboxBackend`) and `PodSandbox` (implements `Sandbox`):
//! one pod per session, created through the pod manager, driven through the same agent client
//! as local sandboxes, over TCP to the pod's IP with the session's token.

use crate::{manager::PodManager, pod::PodTemplate};
use airlock_gateway_agent_client::{AgentAddr, AgentClient};
use airlock_gateway_domain::{
    files::{FileInfo, WorkspacePath},
    ids::SessionId,
    ports::{
        JobOutcome, ReconcileReport, Sandbox, SandboxBackend, SandboxError, SandboxJob, SandboxSpec,
    },
};
use async_trait::async_trait;
use rand::RngCore;
use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

pub struct KubernetesBackend {
    manager: Arc<PodManager>,
    template: PodTemplate,
    /// Pod scheduled, image pulled, kernel ready.
    start_timeout: Duration,
}

impl KubernetesBackend {
    pub fn new(manager: PodManager, template: PodTemplate, start_timeout: Duration) -> Self {
        Self {
            manager: Arc::new(manager),
            template,
            start_timeout,
        }
    }
}

/// A DNS-1123 pod name from the session id (`ses_0a1b...` -> `sbx-ses-0a1b...`).
pub fn pod_name(session: &SessionId) -> String {
    let s: String = session
        .as_str()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("sbx-{s}").chars().take(63).collect()
}

#[async_trait]
impl SandboxBackend for KubernetesBackend {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    async fn create(&self, spec: SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let name = pod_name(&spec.session_id);
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        self.manager
            .create(&name, spec.session_id.as_str(), None, &spec.limits, &token)
            .await?;
        let deadline = tokio::time::Instant::now() + self.start_timeout;
        let ip = match self.manager.wait_ready(&name, self.start_timeout).await {
            Ok(ip) => ip,
            Err(f) => {
                let _ = self.manager.delete(&name).await;
                return Err(SandboxError::Start(f.to_string()));
            }
        };
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| SandboxError::Start(format!("pod {name} reported IP {ip:?}")))?;
        let client = AgentClient::new(
            AgentAddr::Tcp(SocketAddr::new(ip, self.template.agent_port)),
            token,
        );
        // The pod runs; wait for the agent and its kernel.
        loop {
            if client.ping().await.unwrap_or(false) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = self.manager.delete(&name).await;
                return Err(SandboxError::Start(
                    "the sandbox agent did not become ready".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Arc::new(PodSandbox {
            session_id: spec.session_id,
            name,
            client,
            manager: self.manager.clone(),
            destroyed: AtomicBool::new(false),
        }))
    }

    async fn reap_leftovers(&self) -> Result<ReconcileReport, SandboxError> {
        // At start the gateway knows no live session: every managed pod is an orphan.
        let destroyed = self
            .manager
            .delete_orphans(&std::collections::HashSet::new())
            .await?;
        Ok(ReconcileReport { destroyed })
    }

    async fn ready(&self) -> Result<(), SandboxError> {
        self.manager.list().await.map(|_| ())
    }
}

pub struct PodSandbox {
    session_id: SessionId,
    name: String,
    client: AgentClient,
    manager: Arc<PodManager>,
    destroyed: AtomicBool,
}

#[async_trait]
impl Sandbox for PodSandbox {
    fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    async fn run(&self, job: SandboxJob) -> Result<JobOutcome, SandboxError> {
        // Egress and package installs for pods go through a TCP relay that is not built yet:
        // the pod has no route out, so such code fails closed.
        self.client
            .execute(job, || !self.destroyed.load(Ordering::SeqCst))
            .await
    }

    async fn write_file(
        &self,
        path: &WorkspacePath,
        data: Vec<u8>,
    ) -> Result<FileInfo, SandboxError> {
        self.client.write_file(path, data).await
    }

    async fn read_file(
        &self,
        path: &WorkspacePath,
        max_bytes: u64,
    ) -> Result<Vec<u8>, SandboxError> {
        self.client.read_file(path, max_bytes).await
    }

    async fn list_files(&self) -> Result<Vec<FileInfo>, SandboxError> {
        self.client.list_files().await
    }

    async fn alive(&self) -> bool {
        !self.destroyed.load(Ordering::SeqCst) && self.manager.is_running(&self.name).await
    }

    async fn destroy(&self) -> Result<(), SandboxError> {
        if self.destroyed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.manager.delete(&self.name).await
    }
}
