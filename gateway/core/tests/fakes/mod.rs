//! In-memory fakes of the gateway's ports, so the pipeline runs in a test without any service:
//! a store, a policy that answers what the test says, an analyser, and a sandbox backend whose
//! sandboxes play a script (print, wait, end) and honour cancellation.

#![allow(dead_code)]

use airlock_gateway_core::{
    redact::Redactor, AuditOptions, AuditRecorder, Connectors, Gateway, GatewayDeps,
    GatewaySettings,
};
use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead},
    connectors::{SqlDialect, SqlFacts},
    decision::{Decision, DecisionResult, Obligations, Violation},
    files::{FileInfo, WorkspacePath},
    ids::{ExecutionId, SessionId},
    policy_input::{CodeFacts, PolicyInput},
    ports::{
        AnalysisError, AuditOutbox, AuditQuery, Change, CodeAnalyzer, CredentialLeases,
        ExecutionStore, FileStore, JobEnd, JobOutcome, LeaseRecord, PolicyEngine, PolicyError,
        ReconcileReport, RelayChain, RelayLeases, Sandbox, SandboxBackend, SandboxError,
        SandboxJob, SandboxSpec, SessionStore, StateCommit, StoreError,
    },
    session::SessionStatus,
    Execution, Language, Limits, Principal, Session,
};
use async_trait::async_trait;
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

// ---------------------------------------------------------------------------------------------
// Store

#[derive(Default)]
pub struct MemStore {
    pub sessions: Mutex<BTreeMap<String, Session>>,
    pub executions: Mutex<BTreeMap<String, Execution>>,
    pub outbox: Mutex<Vec<AuditEvent>>,
    /// Commits left before every commit fails (None: never).
    pub commits_left: Mutex<Option<usize>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemStore {
    pub fn events(&self) -> Vec<AuditEvent> {
        lock(&self.outbox).clone()
    }

    pub fn events_of(&self, ty: &str) -> Vec<AuditEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.event_type == ty)
            .collect()
    }

    pub fn execution(&self, id: &ExecutionId) -> Option<Execution> {
        lock(&self.executions).get(id.as_str()).cloned()
    }
}

#[async_trait]
impl StateCommit for MemStore {
    async fn commit(&self, changes: Vec<Change>, events: &[AuditEvent]) -> Result<(), StoreError> {
        {
            let mut left = lock(&self.commits_left);
            if let Some(n) = left.as_mut() {
                if *n == 0 {
                    return Err(StoreError::Database("the fake store is down".into()));
                }
                *n -= 1;
            }
        }
        for c in changes {
            match c {
                Change::PutSession(s) => {
                    lock(&self.sessions).insert(s.id.to_string(), s);
                }
                Change::PutExecution(e) => {
                    lock(&self.executions).insert(e.id.to_string(), *e);
                }
                Change::PutFile { .. } => {}
            }
        }
        lock(&self.outbox).extend(events.iter().cloned());
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemStore {
    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Ok(lock(&self.sessions).get(id.as_str()).cloned())
    }

    async fn sessions_by_status(&self, status: SessionStatus) -> Result<Vec<Session>, StoreError> {
        Ok(lock(&self.sessions)
            .values()
            .filter(|s| s.status == status)
            .cloned()
            .collect())
    }

    async fn sessions_of_owner(
        &self,
        owner_key: &str,
        status: Option<SessionStatus>,
        before: Option<&SessionId>,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError> {
        Ok(lock(&self.sessions)
            .values()
            .rev()
            .filter(|s| s.owner.owner_key() == owner_key)
            .filter(|s| status.is_none_or(|st| s.status == st))
            .filter(|s| before.is_none_or(|b| s.id.as_str() < b.as_str()))
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl ExecutionStore for MemStore {
    async fn execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        Ok(MemStore::execution(self, id))
    }

    async fn executions_of_session(
        &self,
        session: &SessionId,
        before: Option<&ExecutionId>,
        limit: u32,
    ) -> Result<Vec<Execution>, StoreError> {
        Ok(lock(&self.executions)
            .values()
            .rev()
            .filter(|e| &e.session_id == session)
            .filter(|e| before.is_none_or(|b| e.id.as_str() < b.as_str()))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn orphaned_executions(&self, instance_id: &str) -> Result<Vec<Execution>, StoreError> {
        let sessions = lock(&self.sessions).clone();
        Ok(lock(&self.executions)
            .values()
            .filter(|e| !e.status.is_finished() && e.status.as_str() != "pending_review")
            .filter(|e| {
                sessions.get(e.session_id.as_str()).is_some_and(|s| {
                    s.instance_id == instance_id || s.status != SessionStatus::Active
                })
            })
            .cloned()
            .collect())
    }
}

#[async_trait]
impl FileStore for MemStore {
    async fn files(&self, _session: &SessionId) -> Result<Vec<FileInfo>, StoreError> {
        Ok(vec![])
    }
}

#[async_trait]
impl AuditOutbox for MemStore {
    async fn audit_head(&self, chain_id: &str) -> Result<Option<ChainHead>, StoreError> {
        Ok(lock(&self.outbox)
            .iter()
            .rev()
            .find(|e| e.chainid == chain_id)
            .map(|e| ChainHead {
                seq: e.seq,
                hash: e.hash.clone(),
            }))
    }

    async fn audit_events_after(
        &self,
        chain_id: &str,
        seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(lock(&self.outbox)
            .iter()
            .filter(|e| e.chainid == chain_id && e.seq > seq)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn audit_query(&self, _query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(vec![])
    }
}

#[async_trait]
impl RelayLeases for MemStore {
    async fn audit_relay_register(&self, _chain_id: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn audit_relay_chains(&self) -> Result<Vec<RelayChain>, StoreError> {
        Ok(vec![])
    }

    async fn audit_relay_claim(
        &self,
        _chain_id: &str,
        _holder: &str,
        _now_ms: i64,
        _until_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    async fn audit_mark_published(
        &self,
        _chain_id: &str,
        _seq: u64,
        _now_ms: i64,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl CredentialLeases for MemStore {
    async fn lease_opened(&self, _lease: &LeaseRecord) -> Result<(), StoreError> {
        Ok(())
    }

    async fn lease_closed(&self, _lease_hash: &str, _at_ms: i64) -> Result<(), StoreError> {
        Ok(())
    }

    async fn leases_open(&self) -> Result<Vec<LeaseRecord>, StoreError> {
        Ok(vec![])
    }
}

// ---------------------------------------------------------------------------------------------
// Policy and analysis

/// Decides what the test set: allow, deny or review, for executions; allow for the rest.
pub struct ScriptedPolicy {
    pub execution: Mutex<DecisionResult>,
}

impl ScriptedPolicy {
    pub fn new() -> Self {
        Self {
            execution: Mutex::new(DecisionResult::Allow),
        }
    }
}

impl PolicyEngine for ScriptedPolicy {
    fn revision(&self) -> String {
        "test-1".into()
    }

    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        let result = match input.action.as_str() {
            "execution.run" => *lock(&self.execution),
            _ => DecisionResult::Allow,
        };
        let violations = match result {
            DecisionResult::Deny => vec![Violation {
                code: "test_denied".into(),
                message: "the test policy denies it".into(),
                hint: Some("do not".into()),
            }],
            _ => vec![],
        };
        Ok(Decision {
            decision_id: "d-1".into(),
            result,
            violations,
            policy_revision: self.revision(),
            obligations: Obligations::default(),
            eval_micros: 1,
        })
    }
}

pub struct NoAnalysis;

impl CodeAnalyzer for NoAnalysis {
    fn analyze(&self, _language: Language, _code: &str) -> Result<CodeFacts, AnalysisError> {
        Ok(CodeFacts::default())
    }

    fn analyze_sql(&self, _dialect: SqlDialect, _schema: &str, _sql: &str) -> SqlFacts {
        SqlFacts::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Sandboxes

/// One step of what a scripted sandbox does when asked to run code.
#[derive(Clone, Debug)]
pub enum Step {
    Print(&'static str),
    PrintErr(&'static str),
    Sleep(Duration),
    /// Waits until cancelled (or the job's timeout).
    Block,
    End(JobEnd),
}

/// Runs the code's script: the code text names the script (`ScriptedBackend::scripts`).
#[derive(Default)]
pub struct ScriptedBackend {
    pub scripts: Mutex<BTreeMap<String, Vec<Step>>>,
    pub created: AtomicUsize,
    pub runs: AtomicUsize,
    /// The next sandbox run fails as if the sandbox died.
    pub die_next: AtomicBool,
}

impl ScriptedBackend {
    pub fn script(&self, code: &str, steps: Vec<Step>) {
        lock(&self.scripts).insert(code.to_owned(), steps);
    }
}

pub struct ScriptedSandbox {
    session_id: SessionId,
    backend: Arc<ScriptedBackend>,
    alive: AtomicBool,
}

/// The port over the shared script (the test keeps the `Arc` to script and count).
pub struct Backend(pub Arc<ScriptedBackend>);

#[async_trait]
impl SandboxBackend for Backend {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn create(&self, spec: SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        self.0.created.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(ScriptedSandbox {
            session_id: spec.session_id,
            backend: self.0.clone(),
            alive: AtomicBool::new(true),
        }))
    }

    async fn reap_leftovers(&self, _keep: &[SessionId]) -> Result<ReconcileReport, SandboxError> {
        Ok(ReconcileReport::default())
    }

    async fn ready(&self) -> Result<(), SandboxError> {
        Ok(())
    }
}

fn outcome(end: JobEnd, stdout: String, stderr: String) -> JobOutcome {
    JobOutcome {
        end,
        stdout,
        stderr,
        output_truncated: false,
        error: None,
        outputs: vec![],
        artifacts: vec![],
        kernel_restarted: false,
        duration: Duration::ZERO,
        imports: vec![],
    }
}

#[async_trait]
impl Sandbox for ScriptedSandbox {
    fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    async fn run(&self, job: SandboxJob) -> Result<JobOutcome, SandboxError> {
        self.backend.runs.fetch_add(1, Ordering::SeqCst);
        if self.backend.die_next.swap(false, Ordering::SeqCst) {
            self.alive.store(false, Ordering::SeqCst);
            return Err(SandboxError::Gone("the scripted sandbox died".into()));
        }
        let steps = lock(&self.backend.scripts)
            .get(&job.code)
            .cloned()
            .unwrap_or_else(|| vec![Step::Print("ran\n"), Step::End(JobEnd::Completed)]);
        let (mut out, mut err) = (String::new(), String::new());
        for step in steps {
            match step {
                Step::Print(t) | Step::PrintErr(t) => {
                    let stderr = matches!(step, Step::PrintErr(_));
                    if let Some(o) = &job.observer {
                        o.printed(stderr, t);
                    }
                    if stderr { &mut err } else { &mut out }.push_str(t);
                }
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::Block => {
                    tokio::select! {
                        _ = job.cancel.cancelled() => return Ok(outcome(JobEnd::Cancelled, out, err)),
                        _ = tokio::time::sleep(job.timeout) => return Ok(outcome(JobEnd::TimedOut, out, err)),
                    }
                }
                Step::End(end) => return Ok(outcome(end, out, err)),
            }
        }
        Ok(outcome(JobEnd::Completed, out, err))
    }

    async fn write_file(&self, _p: &WorkspacePath, _d: Vec<u8>) -> Result<FileInfo, SandboxError> {
        Err(SandboxError::Io("not in the fake".into()))
    }

    async fn read_file(&self, _p: &WorkspacePath, _m: u64) -> Result<Vec<u8>, SandboxError> {
        Err(SandboxError::FileNotFound)
    }

    async fn list_files(&self) -> Result<Vec<FileInfo>, SandboxError> {
        Ok(vec![])
    }

    async fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    async fn destroy(&self) -> Result<(), SandboxError> {
        self.alive.store(false, Ordering::SeqCst);
        Ok(())
    }

    async fn runtime_modules(&self) -> Result<Vec<String>, SandboxError> {
        Ok(vec![])
    }

    async fn quarantine(&self, _remove: &[WorkspacePath]) -> Result<(), SandboxError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway on fakes

pub struct Rig {
    pub gateway: Arc<Gateway>,
    pub store: Arc<MemStore>,
    pub policy: Arc<ScriptedPolicy>,
    pub backend: Arc<ScriptedBackend>,
}

pub fn alice() -> Principal {
    Principal {
        issuer: "https://issuer.test".into(),
        subject: "alice".into(),
        email: None,
        groups: vec![],
        tenant: None,
    }
}

pub fn bob() -> Principal {
    Principal {
        subject: "bob".into(),
        ..alice()
    }
}

pub async fn rig_on(store: Arc<MemStore>, instance: &str) -> Rig {
    let policy = Arc::new(ScriptedPolicy::new());
    let backend = Arc::new(ScriptedBackend::default());
    let audit = AuditRecorder::open(
        AuditOptions {
            chain_id: "test-chain".into(),
            source: "airlock://test".into(),
            store_code: true,
            redactor: Arc::new(Redactor::new(&[]).unwrap_or_else(|e| panic!("{e}"))),
            signer: None,
            max_backlog: None,
        },
        store.clone(),
        vec![],
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    let gateway = Gateway::new(
        GatewaySettings {
            instance_id: instance.into(),
            limits: Limits::default(),
            session_ttl: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(3600),
            max_sessions_total: 10,
            max_sessions_per_principal: 5,
            auditor_groups: vec![],
            stream_retention: Duration::from_secs(60),
        },
        GatewayDeps {
            store: store.clone(),
            policy: policy.clone(),
            analyzer: Arc::new(NoAnalysis),
            backend: Arc::new(Backend(backend.clone())),
            audit: Arc::new(audit),
            relay: None,
            connectors: Connectors::default(),
        },
    );
    Rig {
        gateway,
        store,
        policy,
        backend,
    }
}

pub async fn rig() -> Rig {
    rig_on(Arc::new(MemStore::default()), "test-instance").await
}
