//! Ports: what the pipeline needs from the outside world. Adapters implement them.

use crate::{
    audit::{AuditEvent, ChainHead},
    decision::Decision,
    execution::{Execution, ExecutionError, Language, Output},
    files::{FileInfo, WorkspacePath},
    ids::{ExecutionId, SessionId},
    limits::Limits,
    policy_input::{CodeFacts, PolicyInput},
    session::{Session, SessionStatus},
    Cause,
};
use async_trait::async_trait;
use std::{sync::Arc, time::Duration};

// ---------------------------------------------------------------------------------------------
// Policy

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("no valid policy bundle is loaded")]
    NoBundle,
    #[error("policy evaluation failed: {0}")]
    Evaluation(#[source] Cause),
    #[error("policy returned a malformed decision: {0}")]
    MalformedDecision(String),
    #[error("the bundle does not load: {0}")]
    Load(String),
}

/// Turns a candidate bundle (a `.tar.gz` archive) into an engine that is never activated: for
/// replaying recorded decisions against it.
pub trait BundleCompiler: Send + Sync {
    fn compile(&self, archive: &[u8]) -> Result<Box<dyn PolicyEngine>, PolicyError>;
}

pub trait PolicyEngine: Send + Sync {
    /// The revision of the active bundle.
    fn revision(&self) -> String;
    /// Decides one request. Must fail closed: any error is a denial upstream.
    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError>;
    /// Masks a `policy.decided` event (OPA's `system.log.mask`) before it is recorded.
    fn mask_decision_log(&self, _event: &mut serde_json::Value) {}
    /// Whether a policy is loaded (for readiness).
    fn ready(&self) -> bool {
        true
    }
    /// Where the policy came from and how loading went (for readiness and operators).
    fn status(&self) -> serde_json::Value {
        serde_json::json!({ "revision": self.revision() })
    }
}

// ---------------------------------------------------------------------------------------------
// Code analysis

/// Code the analyser refuses to look into.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// Nesting beyond what the analyser (and the interpreter) supports.
    #[error("{0}")]
    TooComplex(String),
}

pub trait CodeAnalyzer: Send + Sync {
    fn analyze(&self, language: Language, code: &str) -> Result<CodeFacts, AnalysisError>;
    /// SQL for a connector, in the connector's dialect.
    fn analyze_sql(
        &self,
        dialect: crate::connectors::SqlDialect,
        default_schema: &str,
        sql: &str,
    ) -> crate::connectors::SqlFacts;
    /// What a connector runs for `canonical` (a statement [`Self::analyze_sql`] accepted),
    /// under the column masks and row filters of the tables policy governs: a refusal when the
    /// statement writes a governed table or cannot be rewritten safely.
    fn plan_sql(
        &self,
        dialect: crate::connectors::SqlDialect,
        default_schema: &str,
        canonical: &str,
        governed: &std::collections::BTreeMap<String, crate::connectors::TableRules>,
    ) -> Result<Box<dyn crate::connectors::StatementPlan>, crate::connectors::SqlRefusal>;
}

// ---------------------------------------------------------------------------------------------
// Sandboxes

/// What a backend needs to start one session's sandbox.
#[derive(Clone, Debug)]
pub struct SandboxSpec {
    pub session_id: SessionId,
    pub limits: Limits,
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
}

// ---------------------------------------------------------------------------------------------
// State

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] Cause),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A versioned write found another version: someone changed the record first. Nothing of
    /// the commit was applied.
    #[error("changed concurrently: {0}")]
    Conflict(String),
}

/// A state change, applied atomically together with the audit events that record it.
#[derive(Clone, Debug)]
pub enum Change {
    PutSession(Box<Session>),
    /// An execution; one with an empty `audit_id` gets the id of the last event committed
    /// with it.
    PutExecution(Box<Execution>),
    PutFile {
        session_id: SessionId,
        file: FileInfo,
    },
    /// A review case at `case.version`: inserted when `case.version` is 1, else applied only
    /// over version `case.version - 1` (the commit fails with [`StoreError::Conflict`]).
    PutCase(Box<crate::review::ReviewCase>),
    /// A webhook delivery for the outbox (inserted; its id is new).
    PutWebhook(crate::webhooks::WebhookDelivery),
}

/// Applying a state change together with the audit events that record it.
#[async_trait]
pub trait StateCommit: Send + Sync {
    /// Applies `changes` and appends `events` to the audit outbox in one transaction.
    async fn commit(&self, changes: Vec<Change>, events: &[AuditEvent]) -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;
    async fn sessions_by_status(&self, status: SessionStatus) -> Result<Vec<Session>, StoreError>;
    /// An owner's sessions, newest first, before the cursor `before`.
    async fn sessions_of_owner(
        &self,
        owner_key: &str,
        status: Option<SessionStatus>,
        before: Option<&SessionId>,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError>;
}

#[async_trait]
pub trait ExecutionStore: Send + Sync {
    async fn execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError>;
    /// A session's executions, newest first, before the cursor `before`.
    async fn executions_of_session(
        &self,
        session: &SessionId,
        before: Option<&ExecutionId>,
        limit: u32,
    ) -> Result<Vec<Execution>, StoreError>;
    /// Executions not ended (`queued`, `running`) whose session is `instance_id`'s or has
    /// ended: after a restart nobody runs them.
    async fn orphaned_executions(&self, instance_id: &str) -> Result<Vec<Execution>, StoreError>;
}

#[async_trait]
pub trait FileStore: Send + Sync {
    async fn files(&self, session: &SessionId) -> Result<Vec<FileInfo>, StoreError>;
}

/// The audit outbox: the chain's events as committed, for sinks catching up and for readers.
#[async_trait]
pub trait AuditOutbox: Send + Sync {
    async fn audit_head(&self, chain_id: &str) -> Result<Option<ChainHead>, StoreError>;
    /// Outbox events of a chain after `seq`, in order (for sinks catching up).
    async fn audit_events_after(
        &self,
        chain_id: &str,
        seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// Events matching `query` in event-id order (UUIDv7: time order), after `query.after`.
    async fn audit_query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
}

/// The relay from the outbox to an external log (Kafka): its progress and leases.
#[async_trait]
pub trait RelayLeases: Send + Sync {
    /// Registers a chain for relaying (idempotent).
    async fn audit_relay_register(&self, chain_id: &str) -> Result<(), StoreError>;
    /// Chains known to the relay table with their published sequence number.
    async fn audit_relay_chains(&self) -> Result<Vec<RelayChain>, StoreError>;
    /// Takes or renews the relay lease of `chain_id` for `holder` until `until_ms`; returns the
    /// published sequence number when the lease is held, None when another holder has it.
    async fn audit_relay_claim(
        &self,
        chain_id: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<u64>, StoreError>;
    /// Marks the events of `chain_id` up to `seq` as acknowledged by the external log. The
    /// published sequence number never goes backwards.
    async fn audit_mark_published(
        &self,
        chain_id: &str,
        seq: u64,
        now_ms: i64,
    ) -> Result<(), StoreError>;
}

/// Leases of issued database credentials, kept until they are revoked.
#[async_trait]
pub trait CredentialLeases: Send + Sync {
    /// Records a lease before its credential is used.
    async fn lease_opened(&self, lease: &LeaseRecord) -> Result<(), StoreError>;
    /// Marks a lease revoked.
    async fn lease_closed(&self, lease_hash: &str, at_ms: i64) -> Result<(), StoreError>;
    /// Leases not yet revoked (every instance's).
    async fn leases_open(&self) -> Result<Vec<LeaseRecord>, StoreError>;
}

pub use crate::review::ReviewStore;
pub use crate::webhooks::WebhookOutbox;

/// The gateway's state: every entity's port, implemented together by one database adapter.
pub trait Store:
    StateCommit
    + ReviewStore
    + WebhookOutbox
    + SessionStore
    + ExecutionStore
    + FileStore
    + AuditOutbox
    + RelayLeases
    + CredentialLeases
{
}

impl<T> Store for T where
    T: StateCommit
        + ReviewStore
        + WebhookOutbox
        + SessionStore
        + ExecutionStore
        + FileStore
        + AuditOutbox
        + RelayLeases
        + CredentialLeases
{
}

/// An issued credential's lease, kept until it is revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    pub lease_hash: String,
    pub lease_id: String,
    pub instance_id: String,
    pub connector: String,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
}

/// A chain as the relay sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayChain {
    pub chain_id: String,
    pub published_seq: u64,
    pub holder: Option<String>,
    pub lease_until_ms: i64,
}

/// A filter over the audit trail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// The principal's subject (`sub` claim).
    pub actor: Option<String>,
    pub session_id: Option<String>,
    pub event_type: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until_ms: Option<i64>,
    /// Event id to continue after (the cursor of the previous page).
    pub after: Option<String>,
    pub limit: u32,
    /// Only events of this tenant's principals (a tenant-scoped auditor's reads).
    pub tenant: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Audit sinks

#[derive(Debug, thiserror::Error)]
#[error("audit sink failed: {0}")]
pub struct SinkError(#[source] pub Cause);

/// A durable destination for sealed events (beyond the outbox), fed in chain order.
#[async_trait]
pub trait AuditSink: Send + Sync {
    fn name(&self) -> &'static str;
    /// Highest seq of `chain_id` the sink already holds (to catch up after a crash).
    async fn head(&self, chain_id: &str) -> Result<Option<ChainHead>, SinkError>;
    async fn append(&self, events: &[AuditEvent]) -> Result<(), SinkError>;
}

// ---------------------------------------------------------------------------------------------
// Publishing the trail to an external log

#[derive(Debug, thiserror::Error)]
#[error("publishing audit events failed: {0}")]
pub struct PublishError(#[source] pub Cause);

/// An external, append-only log (Kafka) the outbox is relayed to.
#[async_trait]
pub trait AuditPublisher: Send + Sync {
    fn name(&self) -> &'static str;
    /// Publishes `events` (one chain, ascending `seq`) and returns once the log acknowledged
    /// every one of them, in order. On error, any prefix may have been written: the relay
    /// sends again from the first unacknowledged event, and readers drop duplicates by id.
    async fn publish(&self, events: &[AuditEvent]) -> Result<(), PublishError>;
}

/// Signs chain heads for `audit.checkpoint` events (the gateway's audit key).
pub trait CheckpointSigner: Send + Sync {
    /// Key id recorded in each checkpoint.
    fn kid(&self) -> &str;
    /// Base64url (no padding) Ed25519 signature of `message`.
    fn sign(&self, message: &[u8]) -> String;
}

// ---------------------------------------------------------------------------------------------
// SQL from code running in a sandbox

/// Runs governed SQL for code inside a session's sandbox (`airlock.sql(...)` in Python): the
/// same analysis, policy, credential and audit path as a connector execution, for the
/// session's principal, while one of its executions runs.
#[async_trait]
pub trait SandboxSql: Send + Sync {
    async fn query(&self, session_id: &str, connector: &str, sql: &str) -> SandboxSqlAnswer;
}

/// What became of SQL sent from inside a sandbox.
#[derive(Debug)]
pub enum SandboxSqlAnswer {
    /// It became an execution: ran, failed or was denied (see its status).
    Ran(Box<Execution>),
    /// Refused before it became one (no such session, not inside a running execution, ...).
    Refused(crate::GatewayError),
}
