//! `KubernetesBackend` (implements `SandboxBackend`) and `PodSandbox` (implements `Sandbox`):
//! one pod per session, claimed from the warm pool or started cold, driven through the same
//! agent client as local sandboxes, over TCP to the pod's IP. A pod starts with a token that
//! only lets the gateway claim it; the claim gives the agent the session's token, which the
//! gateway keeps in a Secret the pod does not mount, so any replica can re-attach to the
//! session. Egress goes from the agent's relay to this replica's egress port, keyed per
//! execution.

use crate::{
    manager::{PodFailure, PodManager},
    pool::{new_token, PoolSettings, WarmPool},
};
use airlock_gateway_agent_client::{AgentAddr, AgentClient, EgressRoute};
use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{
    files::{FileInfo, WorkspacePath},
    ids::SessionId,
    ports::{
        JobOutcome, ReconcileReport, Sandbox, SandboxBackend, SandboxError, SandboxJob, SandboxSpec,
    },
};
use airlock_gateway_egress::EgressHub;
use async_trait::async_trait;
use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

pub struct KubernetesOptions {
    /// Pod scheduled, image pulled, kernel ready.
    pub start_timeout: Duration,
    /// Warm pools, one per limits class (empty: every session starts its pod cold).
    pub pools: Vec<PoolSettings>,
    /// This replica's egress port (None: pods have no egress; code that reaches out fails).
    pub egress: Option<Arc<EgressHub>>,
}

pub struct KubernetesBackend {
    manager: Arc<PodManager>,
    start_timeout: Duration,
    pools: Vec<WarmPool>,
    egress: Option<Arc<EgressHub>>,
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

fn start_err(f: PodFailure) -> SandboxError {
    SandboxError::Start(Cause::msg(f.to_string()))
}

impl KubernetesBackend {
    /// Waits for the pod watch to list the namespace, then joins the pool's election.
    pub async fn start(manager: PodManager, opts: KubernetesOptions) -> Result<Self, String> {
        let manager = Arc::new(manager);
        manager
            .synced(Duration::from_secs(30))
            .await
            .map_err(|e| e.to_string())?;
        let mut pools = vec![];
        for p in opts.pools.into_iter().filter(|p| p.size > 0) {
            pools.push(WarmPool::start(manager.clone(), p).await?);
        }
        Ok(Self {
            manager,
            start_timeout: opts.start_timeout,
            pools,
            egress: opts.egress,
        })
    }

    /// The first warm pool (whose Lease holder coordinates the replicas).
    pub fn pool(&self) -> Option<&WarmPool> {
        self.pools.first()
    }

    pub fn pools(&self) -> &[WarmPool] {
        &self.pools
    }

    fn agent_addr(&self, ip: &str, name: &str) -> Result<AgentAddr, SandboxError> {
        let ip: IpAddr = ip.parse().map_err(|_| {
            SandboxError::Start(Cause::msg(format!("pod {name} reported IP {ip:?}")))
        })?;
        Ok(AgentAddr::Tcp(SocketAddr::new(
            ip,
            self.manager.template().agent_port,
        )))
    }

    /// Gives a ready, unclaimed agent the session's token and records it for other replicas.
    async fn take_over(
        &self,
        name: &str,
        ip: &str,
        session: &SessionId,
        startup_token: String,
    ) -> Result<PodSandbox, SandboxError> {
        let token = new_token();
        let agent = AgentClient::new(self.agent_addr(ip, name)?, startup_token);
        let (claimed, stored) = tokio::join!(
            agent.claim(token.clone()),
            self.manager
                .store_session_token(name, session.as_str(), &token)
        );
        stored?;
        Ok(self.sandbox(session.clone(), name.to_owned(), claimed?))
    }

    fn sandbox(&self, session_id: SessionId, name: String, client: AgentClient) -> PodSandbox {
        PodSandbox {
            session_id,
            name,
            client,
            manager: self.manager.clone(),
            egress: self.egress.clone(),
            destroyed: AtomicBool::new(false),
            warm: false,
        }
    }

    async fn claim_warm(&self, spec: &SandboxSpec) -> Option<PodSandbox> {
        // The pool of the session's limits class, if there is one.
        let pool = self.pools.iter().find(|p| p.limits() == &spec.limits)?;
        let (pod, ip) = pool
            .claim(spec.session_id.as_str(), None, &spec.limits)
            .await?;
        let startup = match self
            .manager
            .token(&PodManager::secret_name(&pod.name))
            .await
        {
            Ok(Some(t)) => t,
            other => {
                tracing::warn!(pod = %pod.name, result = ?other.err(), "a claimed warm pod has no start-up token");
                let _ = self.manager.delete(&pod.name).await;
                return None;
            }
        };
        match self
            .take_over(&pod.name, &ip, &spec.session_id, startup)
            .await
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(pod = %pod.name, error = %e, "a claimed warm pod did not take the session; starting one cold");
                let _ = self.manager.delete(&pod.name).await;
                None
            }
        }
    }

    async fn cold(&self, spec: &SandboxSpec) -> Result<PodSandbox, SandboxError> {
        let name = pod_name(&spec.session_id);
        let startup = new_token();
        self.manager
            .create(
                &name,
                Some(spec.session_id.as_str()),
                None,
                &spec.limits,
                &startup,
            )
            .await?;
        let deadline = tokio::time::Instant::now() + self.start_timeout;
        let result = async {
            let ip = self
                .manager
                .wait_ready(&name, self.start_timeout)
                .await
                .map_err(start_err)?;
            // Ready means the agent listens (its readiness probe); it binds once the kernel
            // runs. Without a probe (some test set-ups) wait for it here.
            let probe = AgentClient::new(self.agent_addr(&ip, &name)?, startup.clone());
            while !probe.ping().await.unwrap_or(false) {
                if tokio::time::Instant::now() >= deadline {
                    return Err(SandboxError::Start(
                        "the sandbox agent did not become ready".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.take_over(&name, &ip, &spec.session_id, startup.clone())
                .await
        }
        .await;
        if result.is_err() {
            let _ = self.manager.delete(&name).await;
        }
        result
    }
}

#[async_trait]
impl SandboxBackend for KubernetesBackend {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    async fn create(&self, spec: SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        if let Some(mut s) = self.claim_warm(&spec).await {
            s.warm = true;
            return Ok(Arc::new(s));
        }
        Ok(Arc::new(self.cold(&spec).await?))
    }

    async fn reap_leftovers(&self, keep: &[SessionId]) -> Result<ReconcileReport, SandboxError> {
        let keep = keep.iter().map(|s| s.to_string()).collect();
        let destroyed = self.manager.delete_orphans(&keep).await?;
        Ok(ReconcileReport { destroyed })
    }

    async fn adopt(&self, session: &SessionId) -> Result<Option<Arc<dyn Sandbox>>, SandboxError> {
        let Some(pod) = self.manager.pod_of_session(session.as_str()) else {
            return Ok(None);
        };
        let Ok(Some(ip)) = pod.status else {
            return Ok(None);
        };
        let Some(token) = self
            .manager
            .token(&PodManager::session_secret_name(&pod.name))
            .await?
        else {
            return Ok(None);
        };
        let client = AgentClient::new(self.agent_addr(&ip, &pod.name)?, token);
        if !client.ping().await.unwrap_or(false) {
            return Ok(None);
        }
        Ok(Some(Arc::new(self.sandbox(
            session.clone(),
            pod.name,
            client,
        ))))
    }

    async fn ready(&self) -> Result<(), SandboxError> {
        self.manager.synced(Duration::from_secs(2)).await
    }

    fn coordinates(&self) -> bool {
        // The pool's Lease holder; without a pool every replica does (ending a session twice
        // is prevented by the grace a live owner gets).
        self.pools.first().is_none_or(WarmPool::is_leader)
    }

    async fn status(&self) -> serde_json::Value {
        let pools: Vec<serde_json::Value> = self
            .pools
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name(),
                    "size": p.size(),
                    "ready": p.ready_count(),
                    "leader": p.is_leader(),
                })
            })
            .collect();
        serde_json::json!({ "pools": pools })
    }
}

pub struct PodSandbox {
    session_id: SessionId,
    name: String,
    client: AgentClient,
    manager: Arc<PodManager>,
    egress: Option<Arc<EgressHub>>,
    destroyed: AtomicBool,
    /// Claimed from a warm pool (not started for its session).
    warm: bool,
}

impl PodSandbox {
    pub fn pod_name(&self) -> &str {
        &self.name
    }
}

#[async_trait]
impl Sandbox for PodSandbox {
    fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    fn prestarted(&self) -> bool {
        self.warm
    }

    async fn run(&self, job: SandboxJob) -> Result<JobOutcome, SandboxError> {
        // The execution's egress ticket: the agent relays its connections to this replica
        // with the ticket's key; the proxy holds them to the execution's grant and records
        // them in its epoch. No hub: no route at all, so such code fails closed.
        let epoch = airlock_gateway_egress::Epoch::new(job.egress.clone(), job.egress_log.clone());
        let ticket = self
            .egress
            .as_ref()
            .map(|hub| hub.open(self.session_id.as_str(), epoch.clone()));
        let route = ticket.as_ref().map(|t| EgressRoute {
            addr: t.addr(),
            key: t.key().to_owned(),
        });
        let result = self
            .client
            .execute(job, route, || {
                !self.destroyed.load(Ordering::SeqCst) && self.manager.failure(&self.name).is_none()
            })
            .await;
        // Whatever happened: the key dies and every connection is cut and recorded.
        drop(ticket);
        epoch.close().await;
        let mut out = result?;
        if let Some(PodFailure::OutOfMemory) = self.manager.failure(&self.name) {
            out.end = airlock_gateway_domain::ports::JobEnd::OutOfMemory;
        }
        Ok(out)
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

    async fn runtime_modules(&self) -> Result<Vec<String>, SandboxError> {
        self.client.inventory().await
    }

    async fn quarantine(&self, remove: &[WorkspacePath]) -> Result<(), SandboxError> {
        self.client.quarantine(remove).await
    }

    async fn alive(&self) -> bool {
        !self.destroyed.load(Ordering::SeqCst) && self.manager.failure(&self.name).is_none()
    }

    async fn failure(&self) -> Option<(String, String)> {
        self.manager
            .failure(&self.name)
            .map(|f| (f.code().to_owned(), f.to_string()))
    }

    async fn destroy(&self) -> Result<(), SandboxError> {
        if self.destroyed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.manager.delete(&self.name).await
    }
}
