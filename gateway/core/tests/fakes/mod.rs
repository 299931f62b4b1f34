//! In-memory fakes of the gateway's ports, so the pipeline runs in a test without any service:
//! a store, a policy that answers what the test says, an analyser, and a sandbox backend whose
//! sandboxes play a script (print, wait, end) and honour cancellation.

#![allow(dead_code)]

mod clock;
pub mod hooks;
mod reviews;
mod warehouse;
pub use clock::{ManualClock, SequentialIds};
#[allow(unused_imports)] // not every test binary uses the warehouse
pub use warehouse::{Answer, FakeBroker, FakeWarehouse};

use airlock_gateway_audit::{AuditOptions, AuditRecorder, Redactor};
use airlock_gateway_core::{Connectors, Gateway, GatewayDeps, GatewaySettings, OutputInspection};
use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{
    connectors::{
        ConnectorGrant, PlainStatement, SqlDialect, SqlFacts, SqlRefusal, StatementPlan, TableName,
        TableRules,
    },
    decision::{Decision, DecisionResult, Obligations, Violation},
    files::{FileInfo, WorkspacePath},
    ids::SessionId,
    outputs::{FindingFacts, OutputAction, OutputRuling},
    policy_input::{CodeFacts, PolicyInput},
    ports::{
        AnalysisError, CodeAnalyzer, JobEnd, JobOutcome, PolicyEngine, PolicyError,
        ReconcileReport, Sandbox, SandboxBackend, SandboxError, SandboxJob, SandboxSpec,
    },
    Language, Limits, Principal,
};
use async_trait::async_trait;
use store::lock;

mod store;
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
pub use store::MemStore;

// ---------------------------------------------------------------------------------------------
// Policy and analysis

/// Decides what the test set: allow, deny or review, for executions; allow for the rest.
pub struct ScriptedPolicy {
    pub execution: Mutex<DecisionResult>,
    /// Granted to executions that name a connector.
    pub connector: Mutex<Option<ConnectorGrant>>,
    /// The rulings of every `output.inspect` (as a bundle's table would give them), and
    /// the findings each was asked about.
    pub outputs: Mutex<Vec<OutputRuling>>,
    pub inspected: Mutex<Vec<Vec<FindingFacts>>>,
    /// `output.inspect` fails as an engine that cannot evaluate.
    pub outputs_fail: AtomicBool,
    /// A profile's caps: `max_sessions` (on `session.create`) and `max_running_executions`
    /// (on `execution.run`).
    pub caps: Mutex<(Option<u32>, Option<u32>)>,
}

impl ScriptedPolicy {
    pub fn new() -> Self {
        Self {
            execution: Mutex::new(DecisionResult::Allow),
            connector: Mutex::new(None),
            outputs: Mutex::new(vec![]),
            inspected: Mutex::new(vec![]),
            outputs_fail: AtomicBool::new(false),
            caps: Mutex::new((None, None)),
        }
    }
}

impl PolicyEngine for ScriptedPolicy {
    fn revision(&self) -> String {
        "test-1".into()
    }

    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        if input.action.as_str() == "output.inspect" {
            if self.outputs_fail.load(Ordering::SeqCst) {
                return Err(PolicyError::Evaluation(Cause::msg("scripted failure")));
            }
            return Ok(self.rule_outputs(input));
        }
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
        let mut obligations = Obligations::default();
        let (max_sessions, max_running) = *lock(&self.caps);
        match input.action.as_str() {
            "session.create" => obligations.max_sessions = max_sessions,
            "execution.run" => obligations.max_running_executions = max_running,
            _ => {}
        }
        if input.request.connector.is_some() {
            obligations.connector = lock(&self.connector).clone();
        }
        Ok(Decision {
            decision_id: String::new(),
            result,
            violations,
            policy_revision: self.revision(),
            obligations,
            eval_micros: 1,
        })
    }
}

impl ScriptedPolicy {
    /// Every scripted ruling whose detector was found; a block is also a violation.
    fn rule_outputs(&self, input: &PolicyInput) -> Decision {
        let found = &input.request.findings;
        lock(&self.inspected).push(found.clone());
        let rulings: Vec<OutputRuling> = lock(&self.outputs)
            .iter()
            .filter(|r| found.iter().any(|f| f.detector == r.detector))
            .cloned()
            .collect();
        let stopped = |action: OutputAction, code: &str| -> Vec<Violation> {
            rulings
                .iter()
                .filter(|r| r.action == action)
                .map(|r| Violation {
                    code: code.into(),
                    message: format!("{} may not leave", r.detector),
                    hint: Some("print counts instead".into()),
                })
                .collect()
        };
        let (blocked, held) = (
            stopped(OutputAction::Block, "output_blocked"),
            stopped(OutputAction::Hold, "output_held"),
        );
        let (result, violations) = match (blocked.is_empty(), held.is_empty()) {
            (false, _) => (DecisionResult::Deny, blocked),
            (true, false) => (DecisionResult::Review, held),
            (true, true) => (DecisionResult::Allow, vec![]),
        };
        Decision {
            decision_id: String::new(),
            result,
            violations,
            policy_revision: self.revision(),
            obligations: Obligations {
                outputs: rulings,
                ..Obligations::default()
            },
            eval_micros: 1,
        }
    }
}

pub struct NoAnalysis;

impl CodeAnalyzer for NoAnalysis {
    fn analyze(&self, _language: Language, _code: &str) -> Result<CodeFacts, AnalysisError> {
        Ok(CodeFacts::default())
    }

    /// Accepts any one statement as it is.
    fn analyze_sql(&self, _dialect: SqlDialect, _schema: &str, sql: &str) -> SqlFacts {
        SqlFacts {
            canonical: Some(sql.to_owned()),
            ..SqlFacts::default()
        }
    }

    /// Governs every table the grant names (the rewrite itself is the analyser's, tested
    /// there): refuses a statement starting with UPDATE, else appends the columns it got.
    fn plan_sql(
        &self,
        _dialect: SqlDialect,
        _schema: &str,
        canonical: &str,
        governed: &BTreeMap<String, TableRules>,
    ) -> Result<Box<dyn StatementPlan>, SqlRefusal> {
        if governed.is_empty() {
            return Ok(Box::new(PlainStatement(canonical.to_owned())));
        }
        if canonical.starts_with("UPDATE") {
            return Err(SqlRefusal {
                code: "sql_write_governed".into(),
                message: "the table is governed".into(),
                hint: "read it".into(),
            });
        }
        let tables = governed
            .keys()
            .filter_map(|k| k.split_once('.'))
            .map(|(schema, table)| TableName {
                schema: schema.into(),
                table: table.into(),
            })
            .collect();
        Ok(Box::new(FakePlan(canonical.to_owned(), tables)))
    }
}

/// A statement over governed tables: the canonical text with the columns it was given.
pub struct FakePlan(String, Vec<TableName>);

impl StatementPlan for FakePlan {
    fn governed_tables(&self) -> &[TableName] {
        &self.1
    }

    fn statement(&self, columns: &[Vec<String>]) -> Result<String, SqlRefusal> {
        if columns.iter().any(Vec::is_empty) {
            return Err(SqlRefusal {
                code: "sql_table_not_found".into(),
                message: "no such table".into(),
                hint: "check the name".into(),
            });
        }
        Ok(format!("{} /* over {columns:?} */", self.0))
    }
}

// ---------------------------------------------------------------------------------------------
// Sandboxes

/// One step of what a scripted sandbox does when asked to run code.
#[derive(Clone, Debug)]
pub enum Step {
    Print(&'static str),
    PrintErr(&'static str),
    /// A rich output: this text as `text/plain` and inside `application/json`.
    Display(&'static str),
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
    /// How long a sandbox takes to start (a window for concurrent creates).
    pub start_delay: Mutex<Duration>,
    /// Sandboxes fail to start.
    pub fail_start: AtomicBool,
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
        let delay = *lock(&self.0.start_delay);
        tokio::time::sleep(delay).await;
        if self.0.fail_start.load(Ordering::SeqCst) {
            return Err(SandboxError::Start(Cause::msg(
                "the scripted sandbox does not start",
            )));
        }
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
            return Err(SandboxError::Gone(Cause::msg("the scripted sandbox died")));
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
                Step::Display(t) => {
                    let mut data = BTreeMap::new();
                    data.insert("text/plain".to_owned(), serde_json::json!(t));
                    data.insert(
                        "application/json".to_owned(),
                        serde_json::json!({"v": [t], t: "as a key"}),
                    );
                    if let Some(o) = &job.observer {
                        o.displayed(&airlock_gateway_domain::Output {
                            kind: "display_data".into(),
                            data,
                        });
                    }
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
        Err(SandboxError::Io(Cause::msg("not in the fake")))
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
    pub clock: Arc<ManualClock>,
    /// The webhook receivers: `all` hears every case, `globex` only globex's.
    pub hooks: Arc<hooks::FakeHooks>,
}

pub fn alice() -> Principal {
    Principal {
        issuer: "https://issuer.test".into(),
        subject: "alice".into(),
        email: None,
        groups: vec![],
        tenant: None,
        via: None,
    }
}

pub fn bob() -> Principal {
    Principal {
        subject: "bob".into(),
        ..alice()
    }
}

pub async fn rig_on(store: Arc<MemStore>, instance: &str) -> Rig {
    rig_with(store, instance, Connectors::default()).await
}

/// A rig whose gateway has `connectors`.
pub async fn rig_with(store: Arc<MemStore>, instance: &str, connectors: Connectors) -> Rig {
    let policy = Arc::new(ScriptedPolicy::new());
    let backend = Arc::new(ScriptedBackend::default());
    let clock = Arc::new(ManualClock::new());
    let ids = Arc::new(SequentialIds::default());
    let hooks = Arc::new(hooks::FakeHooks::default());
    let audit = AuditRecorder::open(
        AuditOptions {
            chain_id: "test-chain".into(),
            source: "airlock://test".into(),
            store_code: true,
            redactor: Arc::new(Redactor::new(&[]).unwrap_or_else(|e| panic!("{e}"))),
            signer: None,
            max_backlog: None,
            clock: clock.clone(),
            ids: ids.clone(),
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
            session_caps: airlock_gateway_core::Caps {
                total: 10,
                per_principal: 5,
                per_tenant: 6,
            },
            running_caps: airlock_gateway_core::Caps {
                total: 0,
                per_principal: 8,
                per_tenant: 3,
            },
            auditor_groups: vec![],
            tenant_auditor_groups: vec![],
            stream_retention: Duration::from_secs(60),
            rate_per_principal: airlock_gateway_core::RateLimit {
                per_minute: 60,
                burst: 5,
            },
            rate_per_tenant: airlock_gateway_core::RateLimit {
                per_minute: 60,
                burst: 8,
            },
        },
        GatewayDeps {
            store: store.clone(),
            policy: policy.clone(),
            analyzer: Arc::new(NoAnalysis),
            backend: Arc::new(Backend(backend.clone())),
            audit: Arc::new(audit),
            relay: None,
            connectors,
            clock: clock.clone(),
            ids,
            outputs: OutputInspection::new(&[]).unwrap_or_else(|e| panic!("{e}")),
            webhooks: hooks::FakeHooks::wired(&hooks),
            bundles: None,
        },
    );
    Rig {
        gateway,
        store,
        policy,
        backend,
        clock,
        hooks,
    }
}

pub async fn rig() -> Rig {
    rig_on(Arc::new(MemStore::default()), "test-instance").await
}

pub fn python(code: &str) -> airlock_gateway_domain::ExecutionRequest {
    airlock_gateway_domain::ExecutionRequest {
        language: Language::Python,
        code: code.into(),
        timeout_seconds: None,
        packages: vec![],
        egress: vec![],
        connector: None,
    }
}

/// Waits (on the job's own log, not a clock) until the job reports `status`.
pub async fn until_status(
    job: &airlock_gateway_core::jobs::Job,
    status: airlock_gateway_domain::ExecutionStatus,
) {
    let mut changed = job.log.subscribe();
    while job.log.status() != status {
        if changed.changed().await.is_err() {
            panic!("the job ended before {status:?}");
        }
    }
}

// Review helpers (tests/review.rs, tests/held_outputs.rs)

pub fn reviewer(name: &str) -> Principal {
    Principal {
        subject: name.into(),
        groups: vec!["reviewers".into()],
        ..alice()
    }
}

/// `who` acts on `case`: the case's status after, or the refusal's code.
pub async fn act(
    r: &Rig,
    who: &Principal,
    case: &airlock_gateway_domain::review::CaseId,
    a: airlock_gateway_core::CaseAction,
) -> Result<airlock_gateway_domain::review::CaseStatus, airlock_gateway_domain::ErrorCode> {
    r.gateway
        .act_on_case(who, case, a)
        .await
        .map(|c| c.status)
        .map_err(|e| e.code)
}

pub fn approve() -> airlock_gateway_core::CaseAction {
    airlock_gateway_core::CaseAction::Approve {
        comment: String::new(),
    }
}
