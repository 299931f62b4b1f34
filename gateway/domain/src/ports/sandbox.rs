//! Sandboxes: a backend starts them; one runs a session's jobs and keeps its workspace.

use crate::{
    execution::{ExecutionError, Language, Output},
    files::{FileInfo, WorkspacePath},
    ids::{ExecutionId, SessionId},
    limits::Limits,
    Cause,
};
use async_trait::async_trait;
use std::{sync::Arc, time::Duration};

// ---------------------------------------------------------------------------------------------
// Sandboxes

/// What a backend needs to start one session's sandbox.
#[derive(Clone, Debug)]
pub struct SandboxSpec {
    pub session_id: SessionId,
    pub limits: Limits,
    /// The tenant of the session's principal (warm pools share fairly between tenants).
    pub tenant: Option<String>,
}

/// One execution handed to a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxJob {
    pub execution_id: ExecutionId,
    pub language: Language,
    pub code: String,
    pub timeout: Duration,
    pub output_limit: u32,
    /// Hosts the job may reach through the egress proxy (None: nothing).
    pub egress: Option<crate::egress::EgressGrant>,
    /// Where the backend records every connection the job's code makes; every connection is
    /// closed and recorded before `run` returns, on every way out.
    pub egress_log: std::sync::Arc<crate::egress::EgressLog>,
    /// `name==version` installed from the package index before the code runs.
    pub packages: Vec<String>,
    /// Runtime modules the code may not load (refused at import time inside the sandbox).
    pub denied_imports: Vec<String>,
    /// Told of every piece of output as the sandbox sends it, before `run` returns.
    pub observer: Option<Arc<dyn JobObserver>>,
    /// Cancelled: the sandbox stops the code and `run` returns `JobEnd::Cancelled`.
    pub cancel: tokio_util::sync::CancellationToken,
}

/// Sees a job's output as it is produced (the live stream of an execution). Called from the
/// sandbox's task; must not block.
pub trait JobObserver: Send + Sync + std::fmt::Debug {
    /// Printed text; `stderr` tells the stream.
    fn printed(&self, stderr: bool, text: &str);
    /// A rich output (`display_data`, `execute_result`).
    fn displayed(&self, output: &Output);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobEnd {
    Completed,
    Failed,
    TimedOut,
    OutOfMemory,
    KernelDied,
    QuotaExceeded,
    Cancelled,
}

/// What one run used: CPU as the backend counted it (None where it cannot tell), bytes
/// through the egress proxy, rows read from a warehouse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunUsage {
    pub cpu: Option<Duration>,
    pub egress_bytes: u64,
    pub warehouse_rows: u64,
}

#[derive(Clone, Debug)]
pub struct JobOutcome {
    pub end: JobEnd,
    pub stdout: String,
    pub stderr: String,
    pub output_truncated: bool,
    pub error: Option<ExecutionError>,
    pub outputs: Vec<Output>,
    /// Files created or changed by the job (with hashes).
    pub artifacts: Vec<FileInfo>,
    pub kernel_restarted: bool,
    pub duration: Duration,
    /// Third-party top-level modules the code loaded or tried to load, as the sandbox saw them.
    pub imports: Vec<String>,
    /// What the run used, for metering.
    pub usage: RunUsage,
}

impl JobOutcome {
    /// An outcome with nothing printed, displayed or written yet.
    pub fn new(end: JobEnd, duration: Duration) -> Self {
        Self {
            end,
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: false,
            error: None,
            outputs: vec![],
            artifacts: vec![],
            kernel_restarted: false,
            duration,
            imports: vec![],
            usage: RunUsage::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox could not start: {0}")]
    Start(#[source] Cause),
    #[error("sandbox is gone: {0}")]
    Gone(#[source] Cause),
    #[error("sandbox agent error: {0}")]
    Agent(#[source] Cause),
    #[error("file not found")]
    FileNotFound,
    #[error("workspace quota exceeded: {0}")]
    Quota(String),
    /// The agent is running another request (an execution holds the workspace).
    #[error("the sandbox is busy")]
    Busy,
    /// A file or request over the agent's size limit.
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("I/O error: {0}")]
    Io(#[source] Cause),
}

#[async_trait]
pub trait Sandbox: Send + Sync {
    fn session_id(&self) -> &SessionId;
    async fn run(&self, job: SandboxJob) -> Result<JobOutcome, SandboxError>;
    async fn write_file(
        &self,
        path: &WorkspacePath,
        data: Vec<u8>,
    ) -> Result<FileInfo, SandboxError>;
    async fn read_file(
        &self,
        path: &WorkspacePath,
        max_bytes: u64,
    ) -> Result<Vec<u8>, SandboxError>;
    async fn list_files(&self) -> Result<Vec<FileInfo>, SandboxError>;
    /// Whether the sandbox is still running.
    async fn alive(&self) -> bool;
    /// Why the sandbox stopped, when the backend knows (a pod OOM-killed, evicted, its node
    /// lost), as `(stable code, message)`; None while it runs or when the backend cannot tell.
    async fn failure(&self) -> Option<(String, String)> {
        None
    }
    /// Destroys processes, limits and workspace. Idempotent.
    async fn destroy(&self) -> Result<(), SandboxError>;
    /// The third-party top-level modules the sandbox's runtime can import.
    async fn runtime_modules(&self) -> Result<Vec<String>, SandboxError>;
    /// Whether it was started ahead, in a warm pool, before its session asked for it.
    fn prestarted(&self) -> bool {
        false
    }
    /// Discards what a withheld execution left: restarts the kernel and removes `remove`.
    async fn quarantine(&self, remove: &[WorkspacePath]) -> Result<(), SandboxError>;
}

#[derive(Clone, Debug, Default)]
pub struct ReconcileReport {
    /// Leftover sandboxes of no live session that were destroyed.
    pub destroyed: Vec<String>,
}

#[async_trait]
pub trait SandboxBackend: Send + Sync {
    fn name(&self) -> &'static str;
    async fn create(&self, spec: SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError>;
    /// Called at start: destroys every sandbox, cgroup and workspace this backend left behind,
    /// except those of the sessions in `keep` (re-attached, or live on another replica).
    /// Backends that cannot re-attach destroy everything.
    async fn reap_leftovers(&self, keep: &[SessionId]) -> Result<ReconcileReport, SandboxError>;
    /// Re-attaches to the running sandbox of `session` (after a restart, or on a replica that
    /// did not start it); None when there is none or the backend cannot re-attach.
    async fn adopt(&self, _session: &SessionId) -> Result<Option<Arc<dyn Sandbox>>, SandboxError> {
        Ok(None)
    }
    /// Whether this replica tends sandboxes that outlive their replica (pods): true on the
    /// one replica that coordinates them. Sandboxes that die with their process need none.
    fn coordinates(&self) -> bool {
        false
    }
    /// Backend facts for readiness (pool size, leadership); Null when there are none.
    async fn status(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Whether the backend can start sandboxes (for readiness).
    async fn ready(&self) -> Result<(), SandboxError>;
    /// At gateway shutdown, after every session ended: destroys what the backend keeps of its
    /// own (warm sandboxes no session took).
    async fn shutdown(&self) {}
}
